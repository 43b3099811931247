// The stable `error.code` strings of the --json error document. Scripts branch on these: a code is added but never
// renamed or removed within a major version. The README lists the same table (a test keeps the two equal).
import { ExitCode, TastyError } from './errors.ts';

export const ERROR_CODES = {
  internal: [ExitCode.internal, 'a bug in tasty'],
  credentials_changed: [ExitCode.internal, 'the stored credentials changed while tasty read them (another login at the same moment): try again'],
  usage: [ExitCode.usage, 'bad option, argument, environment variable or input; or input needed without a terminal'],
  credentials_file_damaged: [ExitCode.usage, 'the plaintext credentials file is not what tasty writes'],
  credentials_file_foreign: [ExitCode.usage, 'the plaintext credentials file (or its directory) belongs to another user'],
  credentials_file_exposed: [ExitCode.usage, 'the plaintext credentials file is readable by others'],
  config_dir_unwritable: [ExitCode.usage, 'the config directory cannot hold the state (full, read-only, not a directory)'],
  grant_of_other_environment: [ExitCode.usage, 'the refresh token\'s grant belongs to the other environment: not sent'],
  not_logged_in: [ExitCode.notLoggedIn, 'no credentials for the selected environment'],
  grant_revoked: [ExitCode.rejected, 'tastytrade said "Grant revoked" (also while that rejection is held)'],
  invalid_jwt: [ExitCode.rejected, 'the refresh token is mangled or belongs to the other environment'],
  client_secret_mismatch: [ExitCode.rejected, 'the client secret does not belong to the grant'],
  invalid_grant: [ExitCode.rejected, 'any other rejection of the credentials'],
  invalid_credentials: [ExitCode.rejected, "the token endpoint's `invalid_credentials` (most often credentials of the other environment)"],
  unconfirmed_user: [ExitCode.rejected, 'the user has not confirmed their email (required within 3 days, sandbox too)'],
  timeout: [ExitCode.unreachable, 'no answer in time (a possible 8-hour IP block)'],
  dns: [ExitCode.unreachable, 'the API host name does not resolve'],
  refused: [ExitCode.unreachable, 'connection refused'],
  reset: [ExitCode.unreachable, 'connection reset'],
  tls: [ExitCode.unreachable, 'TLS failure (interception, bad certificate)'],
  network: [ExitCode.unreachable, 'any other network failure'],
  proxy: [ExitCode.unreachable, 'the proxy (HTTPS_PROXY / HTTP_PROXY) refused, failed or could not be reached'],
  lock_busy: [ExitCode.unreachable, 'another tasty process was sending these credentials and has not finished; not sent again'],
  unauthorized: [ExitCode.api, '401 even with a freshly minted token'],
  html_401: [ExitCode.api, '401 with an HTML page (User-Agent stripped by a proxy)'],
  forbidden: [ExitCode.api, '403: not permitted'],
  not_found: [ExitCode.api, '404: unknown path or account'],
  rate_limited: [ExitCode.api, '429 after retries'],
  server_error: [ExitCode.api, '5xx after retries'],
  bad_response: [ExitCode.api, 'a response that is not the JSON expected'],
  bad_token: [ExitCode.api, 'an access token that is not a valid Bearer value (RFC 6750): never sent or printed'],
  bad_token_response: [ExitCode.api, 'a token response without a usable access token'],
  response_too_large: [ExitCode.api, 'a response over 8 MiB, refused'],
  transient_invalid_request: [ExitCode.api, 'the token endpoint\'s transient "invalid_request" (sandbox)'],
  bad_request: [ExitCode.api, '400 `validation_error`: the request is malformed (reasons quoted)'],
  unprocessable: [ExitCode.api, '422 `preflight_check_failure` and the like: refused for the reasons quoted'],
  unsupported_api_version: [ExitCode.api, '406: tastytrade no longer serves the `Accept-Version` sent'],
  api_error: [ExitCode.api, 'any other 4xx'],
  keychain_unavailable: [ExitCode.keychain, 'the keychain cannot be used'],
  declined: [ExitCode.declined, 'the user answered "no" to a confirmation: nothing was sent'],
  cancelled: [ExitCode.cancelled, 'Ctrl-C (at a prompt or during a request)'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The code of an exit code when an error carries no documented cause of its own. */
const FALLBACK: Record<number, ErrorCode> = {
  [ExitCode.internal]: 'internal',
  [ExitCode.usage]: 'usage',
  [ExitCode.notLoggedIn]: 'not_logged_in',
  [ExitCode.rejected]: 'invalid_grant',
  [ExitCode.unreachable]: 'network',
  [ExitCode.api]: 'api_error',
  [ExitCode.keychain]: 'keychain_unavailable',
  [ExitCode.declined]: 'declined',
  [ExitCode.cancelled]: 'cancelled',
};

export function isErrorCode(s: string): s is ErrorCode {
  return Object.hasOwn(ERROR_CODES, s);
}

/** The documented code for an error and its exit code: its own cause when documented, else the exit code's. */
export function errorCode(e: unknown, exitCode: number): ErrorCode {
  if (e instanceof TastyError && isErrorCode(e.cause_) && ERROR_CODES[e.cause_][0] === exitCode) return e.cause_;
  return FALLBACK[exitCode] ?? 'internal';
}
