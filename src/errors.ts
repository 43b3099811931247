// One error hierarchy. Commands and services throw these; only main() prints them and exits.
import { PINNED_API_VERSION } from './environments.ts';
import { humanTime } from './time.ts';

export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  notLoggedIn: 3,
  rejected: 4,
  unreachable: 5,
  api: 6,
  keychain: 7,
  declined: 8,
  cancelled: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export const IP_BLOCK_HINT =
  'tastytrade blocks an IP for about 8 hours after repeated failed logins, and blocked requests time out: ' +
  'stop anything that keeps retrying, wait it out, or write to api.support@tastytrade.com. Run `tasty doctor` to tell.';

export const GRANTS_URL = 'https://my.tastytrade.com/app.html#/manage/api-access/oauth-applications';

export class TastyError extends Error {
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  /** A stable machine-readable cause, e.g. "grant_revoked", "timeout". */
  readonly cause_: string;
  constructor(message: string, exitCode: ExitCodeValue, opts: { hint?: string; cause?: string; error?: unknown } = {}) {
    super(message, opts.error === undefined ? undefined : { cause: opts.error });
    this.name = new.target.name;
    this.exitCode = exitCode;
    this.hint = opts.hint;
    this.cause_ = opts.cause ?? 'error';
  }
}

export class UsageError extends TastyError {
  constructor(message: string, hint?: string, cause = 'usage') {
    super(message, ExitCode.usage, { hint, cause });
  }
}

export class NotLoggedInError extends TastyError {
  constructor(environment: string) {
    super(`not logged in to ${environment}: no credentials found`, ExitCode.notLoggedIn, {
      cause: 'not_logged_in',
      hint:
        `run \`tasty login --env ${environment}\`, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN ` +
        '(or TASTYTRADE_CLIENT_SECRET and TASTYTRADE_REFRESH_TOKEN)',
    });
  }
}

/** The kinds of credential rejection tastytrade gives, with the cure for each. */
export function rejectionAdvice(description: string, environment: string, code?: string): { cause: string; hint: string } {
  const d = description.toLowerCase();
  const other = environment === 'sandbox' ? 'production' : 'sandbox';
  if (code === 'unconfirmed_user') {
    return {
      cause: 'unconfirmed_user',
      hint: `every tastytrade user, sandbox included, must confirm their email within 3 days of signing up: request a confirmation email (POST /confirmation with {"email": "<your email>"}), click its link, then try again (${FAQ_URL})`,
    };
  }
  if (code === 'invalid_credentials') {
    return {
      cause: 'invalid_credentials',
      hint: `the credentials are not valid for ${environment}; most often they belong to ${other} (separate users, apps and grants): run \`tasty login --env ${environment}\` with ${environment} credentials (${FAQ_URL})`,
    };
  }
  if (d.includes('revoked')) {
    return {
      cause: 'grant_revoked',
      // A grant of the other environment can be answered "Grant revoked" too: never send someone to delete a working one.
      hint: `the grant was deleted or revoked, or the app's client secret was regenerated; or it is a ${other} grant sent to ${environment} (check with \`tasty doctor --env ${other}\` before deleting anything): create a new Personal OAuth Grant at ${GRANTS_URL}, then run \`tasty login --env ${environment}\``,
    };
  }
  if (d.includes('jwt')) {
    return {
      cause: 'invalid_jwt',
      hint: `the refresh token is mangled (whitespace, quotes, truncation) or belongs to ${other}, not ${environment}: copy it again and run \`tasty login --env ${environment}\``,
    };
  }
  if (d.includes('secret')) {
    return {
      cause: 'client_secret_mismatch',
      hint: `the client secret belongs to another OAuth app or was regenerated: copy the secret of the app that issued this grant and run \`tasty login --env ${environment}\``,
    };
  }
  return {
    cause: 'invalid_grant',
    hint: `create a new grant at ${GRANTS_URL}, then run \`tasty login --env ${environment}\``,
  };
}

export interface RejectionOptions {
  held?: boolean;
  since?: string;
  code?: string;
  /** The environment variables the rejected credentials came from: they outrank stored ones, so a login is no cure. */
  variables?: string;
}

export class CredentialsRejectedError extends TastyError {
  readonly description: string;
  readonly environment: string;
  readonly opts: RejectionOptions;
  constructor(environment: string, description: string, opts: RejectionOptions = {}) {
    const advice = rejectionAdvice(description, environment, opts.code);
    const held = opts.held
      ? ` (held since ${opts.since ? humanTime(opts.since, Date.now(), { ago: true }) : 'earlier'}; not sent again, to avoid an IP block)`
      : '';
    const from = opts.variables ? ` from ${opts.variables}` : '';
    super(`tastytrade rejected the ${environment} credentials${from}: "${description}"${held}`, ExitCode.rejected, {
      hint: opts.variables
        ? `those variables outrank stored credentials, so a new \`tasty login\` does not replace them: correct or unset them. The cause: ${advice.hint.replace(/[,:;]? (then )?run `tasty login[^`]*`.*$/, '')}`
        : advice.hint,
      cause: advice.cause,
    });
    this.description = description;
    this.environment = environment;
    this.opts = opts;
  }

  /** The same rejection, saying which environment variables hold the rejected credentials. */
  fromVariables(variables: string): CredentialsRejectedError {
    return new CredentialsRejectedError(this.environment, this.description, { ...this.opts, variables });
  }
}

export class UnreachableError extends TastyError {
  constructor(message: string, cause: string, hint?: string, error?: unknown) {
    super(message, ExitCode.unreachable, { hint, cause, error });
  }
}

export class ApiError extends TastyError {
  readonly status: number;
  readonly code: string | undefined;
  /** The error response as received (`tasty api` shows it); set by the client on HTTP errors. */
  response?: { text: string; json: unknown };
  constructor(message: string, status: number, code: string | undefined, hint?: string, cause = 'api_error') {
    super(message, ExitCode.api, { hint, cause });
    this.status = status;
    this.code = code;
  }
}

export class CancelledError extends TastyError {
  constructor() {
    super('cancelled', ExitCode.cancelled, { cause: 'cancelled' });
  }
}

/** The user answered "no" to a confirmation: nothing was sent. Not a Ctrl-C. */
export class DeclinedError extends TastyError {
  constructor(what: string) {
    super(`declined: ${what} was not sent`, ExitCode.declined, { cause: 'declined' });
  }
}

/** A keychain (Secret Service, macOS Keychain, Windows Credential Manager) that cannot be used. */
export class KeychainError extends TastyError {
  constructor(message: string, hint: string, error?: unknown) {
    super(message, ExitCode.keychain, { hint, cause: 'keychain_unavailable', error });
  }
}

/**
 * The cure for a TLS certificate failure (something intercepts TLS). On macOS and Windows the interception CA is
 * usually in the system store already, which recent Node releases read with NODE_USE_SYSTEM_CA=1: the easy fix there.
 */
export function tlsHint(platform: NodeJS.Platform = process.platform): string {
  const base = 'something is intercepting TLS (a corporate proxy or antivirus)';
  return platform === 'darwin' || platform === 'win32'
    ? `${base}; if that is expected, set NODE_USE_SYSTEM_CA=1 to trust the CAs your system trusts (recent Node 22 releases and later), or NODE_EXTRA_CA_CERTS to its CA certificate`
    : `${base}; set NODE_EXTRA_CA_CERTS to its CA certificate if that is expected`;
}

/**
 * A keychain call that timed out (state "hung"): the native call cannot be cancelled and may still be waiting (a
 * macOS dialog), which would keep the process alive after the error. The CLI exits at once after it.
 */
export function exitsAtOnce(e: unknown): boolean {
  return e instanceof KeychainError && (e as { state?: unknown }).state === 'hung';
}

/** The config directory cannot hold the state (full disk, read-only, not a directory): nothing is sent. */
export class StateDirError extends TastyError {
  constructor(message: string, error?: unknown) {
    super(message, ExitCode.usage, {
      cause: 'config_dir_unwritable',
      error,
      hint: 'free some space or make it writable, or point TASTY_CONFIG_DIR at a writable directory; tasty records every token and rejection there before it sends credentials',
    });
  }
}

export function stateDirError(dir: string, e: unknown): StateDirError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const why: Record<string, string> = {
    ENOSPC: 'the disk is full',
    EDQUOT: 'the disk quota is exceeded',
    EROFS: 'it is on a read-only file system',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
    ENOTDIR: 'a path component is not a directory',
    EISDIR: 'a file there is a directory',
  };
  return new StateDirError(`cannot write to the config directory ${dir}: ${(code && why[code]) ?? code ?? String(e)}`, e);
}

/** A grant seen working in (or stored for) the other environment: sending it here is a guaranteed failed login. */
export class WrongEnvironmentError extends TastyError {
  constructor(grantId: string, belongsTo: string, selected: string, how: 'works' | 'stored') {
    const upper = belongsTo.toUpperCase();
    super(
      how === 'stored'
        ? `this refresh token's grant ${grantId} is already stored for ${belongsTo}; sandbox and production grants are not interchangeable, so it was not sent to ${selected}`
        : `this refresh token's grant ${grantId} works in ${belongsTo}, not ${selected}; it was not sent (a failed login counts toward tastytrade's IP block)`,
      ExitCode.usage,
      {
        cause: 'grant_of_other_environment',
        hint:
          how === 'stored'
            ? `use it with --env ${belongsTo}, or create a ${selected} grant (${selected} has its own OAuth app) and log in with that`
            : `select ${belongsTo} (--env ${belongsTo}), or give ${selected} its own credentials: TASTY_${selected.toUpperCase()}_CLIENT_SECRET and TASTY_${selected.toUpperCase()}_REFRESH_TOKEN (and TASTY_${upper}_* for ${belongsTo})`,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Every message in one voice: the catalogue below builds the `tasty:` line and the `hint:` line of every API error,
// and describeError() gives every thrown value (ours, commander's, a prompt's, a bug) exactly those two lines.
// ---------------------------------------------------------------------------------------------------------------

export const FAQ_URL = 'https://developer.tastytrade.com/docs/faq/';
export const ERRORS_URL = 'https://developer.tastytrade.com/reference/errors';

/** What the client knows about a failed API call. Strings are already sanitised to one line. */
export interface HttpFailure {
  method: string;
  path: string;
  status: number;
  /** tastytrade's error code (`error.code`, `error_code` or `error`), if any. */
  code?: string;
  /** tastytrade's message, with nested `errors[]` joined. */
  message?: string;
  environment: string;
  /** The environment's base URL (for cures that name an endpoint). */
  baseUrl?: string;
  /** The Accept-Version sent, if any, and where it came from. */
  apiVersion?: string;
  apiVersionSource?: string;
  /** The body was HTML, or not JSON at all. */
  body?: 'html' | 'not-json';
}

function otherEnvironment(environment: string): string {
  return environment === 'sandbox' ? 'production' : 'sandbox';
}

/** The cure for a 406: which setting chose the refused Accept-Version, and what to do about it. */
function versionHint(f: HttpFailure, pinned: string): string {
  const v = f.apiVersion;
  if (v === undefined) return 'tastytrade refused the format of the request; run the command again with --verbose and report it';
  if (f.apiVersionSource === 'TASTY_API_VERSION') {
    return f.environment === 'sandbox'
      ? `TASTY_API_VERSION=${v} is sent to the sandbox, which refuses Accept-Version: unset TASTY_API_VERSION (the sandbox gets no version by default)`
      : `TASTY_API_VERSION=${v} is not a version tastytrade serves: set TASTY_API_VERSION to a supported YYYYMMDD, or unset it to use the tested ${pinned}`;
  }
  if (f.apiVersionSource === '--api-version') {
    return f.environment === 'sandbox'
      ? `the sandbox refuses Accept-Version: drop --api-version ${v}`
      : `--api-version ${v} is not a version tastytrade serves: give a supported YYYYMMDD, or drop it to use the tested ${pinned}`;
  }
  return `tastytrade no longer serves the pinned ${v}: set TASTY_API_VERSION=<a supported YYYYMMDD> (or --api-version) and update tasty`;
}

/** The one place that turns a failed API call into a `tasty:` line, a `hint:` line and an exit code. */
export function apiFailure(f: HttpFailure, pinnedVersion = PINNED_API_VERSION): ApiError {
  const where = `${f.method} ${f.path}`;
  const env = f.environment;
  if (f.body) {
    const kind = f.body === 'html' ? 'an HTML page' : 'a body that is not JSON';
    if (f.status >= 500) return new ApiError(`${where}: ${f.status} with ${kind}`, f.status, undefined, 'tastytrade is having trouble (retried already); try again shortly', 'server_error');
    return new ApiError(
      `${where}: ${f.status} with ${kind}`,
      f.status,
      undefined,
      'something between you and tastytrade (a proxy, captive portal or firewall) answered instead of the API: check HTTPS_PROXY and TASTY_API_URL, then run `tasty doctor`',
      'bad_response',
    );
  }
  const code = f.code;
  const said = f.message ? f.message : `HTTP ${f.status}`;
  const line = `${where}: ${f.status} ${said}${code ? ` (${code})` : ''}`;
  const doc = (anchor: string | number) => `${ERRORS_URL}#${anchor}`;
  let hint: string;
  let cause: string;
  if (f.status === 406) {
    cause = 'unsupported_api_version';
    const line406 = f.apiVersion ? `${where}: 406 tastytrade refused API version ${f.apiVersion} (Accept-Version, from ${f.apiVersionSource === 'pinned' ? 'the pinned default' : f.apiVersionSource})` : line;
    return new ApiError(line406, 406, code, versionHint(f, pinnedVersion), cause);
  }
  if (code === 'invalid_credentials') {
    cause = 'invalid_credentials';
    hint = `tastytrade did not accept these credentials for ${env}; most often they belong to ${otherEnvironment(env)} (each environment has its own users, apps and grants): run \`tasty login --env ${env}\` with ${env} credentials (${FAQ_URL})`;
  } else if (code === 'unconfirmed_user') {
    cause = 'unconfirmed_user';
    hint = `every tastytrade user, sandbox included, must confirm their email within 3 days of signing up: POST ${f.baseUrl ?? 'the API'}/confirmation with {"email": "<your email>"}, click the link in the email, then try again (${FAQ_URL})`;
  } else if (code === 'not_permitted' || f.status === 403) {
    cause = 'forbidden';
    hint = `the grant's scopes or your authority on the account (read-only, trade-only, or not your account) do not allow ${where}: check the grant's scopes at ${GRANTS_URL} and your accounts with \`tasty accounts\` (${doc(403)})`;
  } else if (code === 'record_not_found' || f.status === 404) {
    cause = 'not_found';
    hint = `${env} has no such resource: check the path and any account number or id in it; \`tasty accounts\` lists your ${env} accounts (${doc(404)})`;
  } else if (f.status === 401) {
    cause = 'unauthorized';
    hint = `tastytrade refused a freshly minted access token too: the grant may lack the scope for this call, or a proxy rewrites the Authorization header; run \`tasty doctor\` (${doc(401)})`;
  } else if (f.status === 429) {
    cause = 'rate_limited';
    hint = 'rate limited by tastytrade (retried already): slow down and try again in a minute';
  } else if (f.status >= 500) {
    cause = 'server_error';
    hint = 'tastytrade is having trouble (retried already); try again shortly';
  } else if (f.status === 422 || code === 'preflight_check_failure') {
    cause = 'unprocessable';
    hint = `tastytrade checked the request and refused it for the reasons quoted; fix those (buying power, order rules, fields) and send it again (${doc(422)})`;
  } else if (f.status === 400 || code === 'validation_error') {
    cause = 'bad_request';
    hint = `tastytrade found the request malformed (the reasons are quoted): check the path, query and JSON body; keys are dasherized, e.g. account-number (${doc(400)})`;
  } else {
    cause = 'api_error';
    hint = `tastytrade refused the request; run it again with --verbose to see the exchange (${doc(f.status)})`;
  }
  return new ApiError(line, f.status, code, hint, cause);
}

/** A 403 or 404 on an account's data, naming the accounts the user does have (no code or reason said twice). */
export function accountAccessError(e: ApiError, account: string, environment: string, open: string[]): ApiError {
  const said = e.message.replace(/^\S+ \S+: /, '');
  const what = e.status === 404 ? `unknown account ${account} in ${environment}` : `not permitted to read account ${account} in ${environment}`;
  const yours = `your ${environment} accounts: ${open.join(', ') || 'none'}`;
  const hint = e.status === 404 ? `${yours} (\`tasty accounts use <number>\` saves a default)` : `${yours}; an account with read-only authority or another user's account answers this way`;
  return new ApiError(`${what}: ${said}`, e.status, e.code, hint, e.cause_);
}

const DEFAULT_HINTS: Record<number, string> = {
  [ExitCode.internal]: 'this is a bug in tasty: please report it with the output of the same command run with --verbose',
  [ExitCode.usage]: 'run `tasty --help` for usage',
  [ExitCode.notLoggedIn]: 'run `tasty login`, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN',
  [ExitCode.rejected]: `create a new grant at ${GRANTS_URL}, then run \`tasty login\``,
  [ExitCode.unreachable]: 'check your network connection, then run `tasty doctor`',
  [ExitCode.api]: `run the command again with --verbose to see the exchange (${ERRORS_URL})`,
  [ExitCode.keychain]: 'use TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN, or `tasty login --insecure-storage`',
  [ExitCode.declined]: 'nothing was sent; run the command again and answer yes, or pass --yes',
  [ExitCode.cancelled]: 'nothing more was done; run the command again when ready',
};

export interface ErrorReport {
  message: string;
  hint: string;
  exitCode: number;
  cause: string;
}

const fold = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/** Any thrown value as one `tasty:` line, one `hint:` line and a documented exit code. */
export function describeError(e: unknown): ErrorReport {
  if (e instanceof TastyError) {
    return { message: fold(e.message), hint: fold(e.hint ?? DEFAULT_HINTS[e.exitCode] ?? DEFAULT_HINTS[ExitCode.internal] ?? ''), exitCode: e.exitCode, cause: e.cause_ };
  }
  const code = (e as { code?: unknown } | null)?.code;
  if (e instanceof Error && typeof code === 'string' && code.startsWith('commander.')) {
    // One line: commander's "(Did you mean …?)" on a line of its own is folded into it; the hint names the --help
    // of the command the error happened in.
    const where = (e as { helpFor?: unknown }).helpFor;
    const message = fold(e.message.replace(/^error: /, '').replace(/\s*\n\(Did you mean (.*)\?\)\s*$/, '; did you mean $1?'));
    return { message, hint: `run \`tasty${typeof where === 'string' && where ? ` ${where}` : ''} --help\` for usage`, exitCode: ExitCode.usage, cause: 'usage' };
  }
  const name = (e as { name?: string } | null)?.name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError') {
    return { message: 'cancelled', hint: DEFAULT_HINTS[ExitCode.cancelled] ?? '', exitCode: ExitCode.cancelled, cause: 'cancelled' };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { message: `internal error: ${fold(msg.split('\n')[0] ?? '')}`, hint: DEFAULT_HINTS[ExitCode.internal] ?? '', exitCode: ExitCode.internal, cause: 'internal' };
}
