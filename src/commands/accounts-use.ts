// tasty accounts use <number>: save the default account of the selected environment (checked against the list).
import { listAccounts, validateAccountNumber } from '../api/accounts.ts';
import { writeUserConfig } from '../config.ts';
import type { Context } from '../context.ts';
import { ApiError } from '../errors.ts';

export default async function accountsUse(ctx: Context, _opts: unknown, args: string[]): Promise<number> {
  const number = validateAccountNumber(args[0] ?? '');
  const { environment } = ctx.environment();
  const list = await listAccounts(await ctx.auth(), environment);
  const found = list.find((a) => a.number === number && !a.closed);
  if (!found) {
    const open = list.filter((a) => !a.closed).map((a) => a.number);
    throw new ApiError(`${number} is not an open ${environment} account of yours`, 404, 'not_found', `your accounts: ${open.join(', ') || 'none'}`, 'not_found');
  }
  const cfg = ctx.config();
  writeUserConfig(ctx.dir, { ...cfg, defaultAccounts: { ...cfg.defaultAccounts, [environment]: number } });
  if (ctx.json) ctx.out.document({ environment, defaultAccount: number });
  else ctx.out.info(`${ctx.out.ec.green('✓')} Default ${environment} account is now ${number}.`);
  return 0;
}
