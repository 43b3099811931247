// tasty token: print a valid access token (for scripts), minting only when needed.
import { isBearerToken } from '../api/token-rules.ts';
import { parseSeconds } from '../config.ts';
import type { Context } from '../context.ts';
import type { Environment } from '../config.ts';
import type { CachedToken } from '../auth/state.ts';
import { ApiError } from '../errors.ts';

/** The --json document of `tasty token` (the fast path, src/fast.ts, prints the same one). */
export function tokenDocument(t: CachedToken, environment: Environment) {
  return { accessToken: t.accessToken, tokenType: t.tokenType, expiresAt: t.expiresAt, environment };
}

export default async function token(ctx: Context, opts: { minTtl?: string }): Promise<number> {
  const { environment } = ctx.environment();
  const minTtlS = opts.minTtl === undefined ? undefined : parseSeconds(opts.minTtl, '--min-ttl');
  const auth = await ctx.auth();
  const { token: t } = await auth.session(environment, { minTtlS });
  // Printed for `curl -H "Authorization: Bearer $(tasty token)"`: a value with a line break would inject a header.
  if (!isBearerToken(t.accessToken)) {
    throw new ApiError('the cached access token contains characters a Bearer token cannot have (RFC 6750): not printed', 200, 'bad_token', `delete ${ctx.dir}/state.json and run again; if it persists, run \`tasty doctor\``, 'bad_token');
  }
  if (ctx.json) {
    ctx.out.document(tokenDocument(t, environment), { reveal: [t.accessToken] });
  } else {
    ctx.out.reveal(t.accessToken);
  }
  return 0;
}
