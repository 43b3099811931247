// tasty accounts: the accounts of the selected environment.
import { listAccounts } from '../api/accounts.ts';
import type { Context } from '../context.ts';
import { camelKeys, safe, table } from '../render.ts';

export default async function accounts(ctx: Context, opts: { all?: boolean }): Promise<number> {
  const { environment } = ctx.environment();
  const auth = await ctx.auth();
  const list = (await ctx.out.progress(`Fetching the accounts (${environment})…`, () => listAccounts(auth, environment))).filter((a) => opts.all || !a.closed);
  const def = ctx.config().defaultAccounts?.[environment];
  if (ctx.json) {
    ctx.out.document(list.map((a) => ({ accountNumber: a.number, environment, isDefault: a.number === def, ...camelKeys(a.raw) })));
    return 0;
  }
  const c = ctx.out.c;
  const rows = list.map((a) => [
    `${a.number === def ? '*' : ' '} ${safe(a.number)}`,
    safe(a.nickname),
    safe(a.type),
    safe(a.marginOrCash),
    safe(a.authority),
    a.closed ? c.dim('closed') : '',
  ]);
  ctx.out.data(`${ctx.out.envTag(environment)} ${list.length} account${list.length === 1 ? '' : 's'}${opts.all ? '' : ' (open)'}`);
  if (list.length) ctx.out.data(table(['  Number', 'Nickname', 'Type', 'Margin/Cash', 'Authority', ''], rows));
  if (def) ctx.out.info(c.dim(`* default account (tasty accounts use <number>)`));
  return 0;
}
