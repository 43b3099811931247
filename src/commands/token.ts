// tasty token: print a valid access token (for scripts), minting only when needed.
import type { Context } from '../context.ts';

export default async function token(ctx: Context): Promise<number> {
  const { environment } = ctx.environment();
  const auth = await ctx.auth();
  const { token: t } = await auth.getToken(environment);
  if (ctx.json) {
    ctx.out.document({ accessToken: t.accessToken, tokenType: t.tokenType, expiresAt: t.expiresAt, environment });
  } else {
    ctx.out.data(t.accessToken);
  }
  return 0;
}
