// tasty quote-token: print the DXLink quote token (GET /api-quote-tokens), cached per environment and credentials.
import type { Context } from '../context.ts';

export default async function quoteToken(ctx: Context): Promise<number> {
  const { environment } = ctx.environment();
  const auth = await ctx.auth();
  const { quote: q } = await ctx.out.progress(`Fetching a quote token (${environment})…`, () => auth.getQuoteToken(environment));
  // The one value this command exists to print: revealed (the redactor knows it, so it appears nowhere else).
  if (ctx.json) ctx.out.document({ token: q.token, dxlinkUrl: q.dxlinkUrl, level: q.level, expiresAt: q.expiresAt, environment }, { reveal: [q.token] });
  else ctx.out.reveal(q.token);
  return 0;
}
