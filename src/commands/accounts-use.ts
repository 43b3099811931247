// tasty accounts use <number> | --unset: save (checked against the list) or clear the default account of the environment.
import { listAccounts, validateAccountNumber } from '../api/accounts.ts';
import { writeUserConfig } from '../config.ts';
import type { Context } from '../context.ts';
import { ApiError, UsageError } from '../errors.ts';

export default async function accountsUse(ctx: Context, opts: { unset?: boolean }, args: string[]): Promise<number> {
  const { environment } = ctx.environment();
  if (opts.unset) {
    if (args[0] !== undefined) throw new UsageError('give an account number or --unset, not both', 'tasty accounts use --unset clears the default account');
    const cfg = ctx.config();
    const previous = cfg.defaultAccounts?.[environment] ?? null;
    if (previous !== null) {
      const rest = { ...cfg.defaultAccounts };
      delete rest[environment];
      writeUserConfig(ctx.dir, { ...cfg, defaultAccounts: rest });
    }
    if (ctx.json) ctx.out.document({ environment, defaultAccount: null, previous });
    else if (previous) ctx.out.info(`${ctx.out.ec.green('✓')} No default ${environment} account any more (was ${previous}).`);
    else ctx.out.info(`No default ${environment} account was saved; nothing changed.`);
    return 0;
  }
  if (args[0] === undefined) throw new UsageError('give an account number, or --unset to clear the default', 'e.g. tasty accounts use 5WX01234; see your accounts with `tasty accounts`');
  const number = validateAccountNumber(args[0]);
  const auth = await ctx.auth();
  const list = await ctx.out.progress(`Fetching the account list (${environment})…`, () => listAccounts(auth, environment));
  const found = list.find((a) => a.number === number && !a.closed);
  if (!found) {
    const open = list.filter((a) => !a.closed).map((a) => a.number);
    throw new ApiError(`${number} is not an open ${environment} account of yours`, 404, 'not_found', `your accounts: ${open.join(', ') || 'none'}`, 'not_found');
  }
  const cfg = ctx.config();
  const previous = cfg.defaultAccounts?.[environment] ?? null;
  writeUserConfig(ctx.dir, { ...cfg, defaultAccounts: { ...cfg.defaultAccounts, [environment]: number } });
  if (ctx.json) ctx.out.document({ environment, defaultAccount: number, previous });
  else ctx.out.info(`${ctx.out.ec.green('✓')} Default ${environment} account is now ${number}.`);
  return 0;
}
