// tasty token: print a valid access token (for scripts), minting only when needed.
import { parseSeconds } from '../config.ts';
import type { Context } from '../context.ts';

export default async function token(ctx: Context, opts: { minTtl?: string }): Promise<number> {
  const { environment } = ctx.environment();
  const minTtlS = opts.minTtl === undefined ? undefined : parseSeconds(opts.minTtl, '--min-ttl');
  const auth = await ctx.auth();
  const { token: t } = await auth.session(environment, { minTtlS });
  if (ctx.json) {
    ctx.out.document({ accessToken: t.accessToken, tokenType: t.tokenType, expiresAt: t.expiresAt, environment });
  } else {
    ctx.out.data(t.accessToken);
  }
  return 0;
}
