// The environment `tasty exec` gives a child: the access token under tasty's names, and (unless --token-only) the
// secrets under the names the peers read. Sources (checked 2026-11):
// - tastytrade's MCP server (github.com/tastytrade/tastytrade-mcp, README "Credentials" and "Choosing an environment",
//   src/credential-target.ts): TASTYTRADE_CLIENT_ID, TASTYTRADE_CLIENT_SECRET, TASTYTRADE_REFRESH_TOKEN (all three
//   required), TASTYTRADE_ENV (production | sandbox; unset = production), TASTYTRADE_API_URL (wins over TASTYTRADE_ENV).
// - tastyware's Python SDK (github.com/tastyware/tastytrade, tastytrade/session.py `Session.__init__`): TT_SECRET and
//   TT_REFRESH; the sandbox is the `is_test` argument, no variable.
import type { Env, Environment } from '../config.ts';
import { ENVIRONMENTS } from '../environments.ts';
import type { Credentials } from './credentials.ts';
import { decodeRefreshToken } from './jwt.ts';
import type { CachedToken } from './state.ts';

/** Secret pairs set for the child (client secret, refresh token), by whom they are read. */
export const SECRET_PAIRS: ReadonlyArray<readonly [string, string, string]> = [
  ['TASTY_CLIENT_SECRET', 'TASTY_REFRESH_TOKEN', 'tasty itself, and scripts'],
  ['TASTYTRADE_CLIENT_SECRET', 'TASTYTRADE_REFRESH_TOKEN', "tastytrade's MCP server"],
  ['TT_SECRET', 'TT_REFRESH', "tastyware's Python SDK"],
];

/** Every variable that can carry a secret: removed from a --token-only child's environment, whoever set it. */
export const SECRET_VARS: readonly string[] = [
  ...SECRET_PAIRS.map(([s]) => s),
  ...SECRET_PAIRS.map(([, r]) => r),
  ...ENVIRONMENTS.flatMap((e) => [`TASTY_${e.toUpperCase()}_CLIENT_SECRET`, `TASTY_${e.toUpperCase()}_REFRESH_TOKEN`]),
  // tastytrade's official Python SDK's names, in case a parent shell exports them.
  'TT_CLIENT_SECRET',
  'TT_REFRESH_TOKEN',
];

export interface ChildEnvInput {
  environment: Environment;
  /** The API base URL the token belongs to, and whether TASTY_API_URL chose it. */
  api: { baseUrl: string; overridden: boolean };
  token: CachedToken;
  /** Undefined with --token-only. */
  credentials?: Credentials;
}

/** The child's environment: the parent's, plus the token (and secrets), minus anything pointing elsewhere. */
export function childEnv(parent: Env, i: ChildEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(parent)) if (v !== undefined) env[k] = v;
  env.TASTY_ACCESS_TOKEN = i.token.accessToken;
  env.TASTY_ACCESS_TOKEN_EXPIRES_AT = String(Math.floor(Date.parse(i.token.expiresAt) / 1000));
  env.TASTY_ENV = i.environment;
  env.TASTYTRADE_ENV = i.environment;
  // The MCP server's URL wins over its environment switch: point it at the API the credentials belong to, or at none.
  if (i.api.overridden) env.TASTYTRADE_API_URL = i.api.baseUrl;
  else delete env.TASTYTRADE_API_URL;
  if (!i.credentials) {
    for (const k of SECRET_VARS) delete env[k];
    delete env.TASTYTRADE_CLIENT_ID;
    return env;
  }
  const c = i.credentials;
  for (const [s, r] of SECRET_PAIRS) {
    env[s] = c.clientSecret;
    env[r] = c.refreshToken;
  }
  // The MCP server also requires the OAuth client id: the refresh token names it (its `aud` claim; not a secret).
  const d = decodeRefreshToken(c.refreshToken);
  if (d.ok && d.facts.clientId && /^[\w.-]{1,100}$/.test(d.facts.clientId)) env.TASTYTRADE_CLIENT_ID = d.facts.clientId;
  else delete env.TASTYTRADE_CLIENT_ID;
  return env;
}
