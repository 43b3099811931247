// One error hierarchy. Commands and services throw these; only main() prints them and exits.

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
export function rejectionAdvice(description: string, environment: string): { cause: string; hint: string } {
  const d = description.toLowerCase();
  const other = environment === 'sandbox' ? 'production' : 'sandbox';
  if (d.includes('revoked')) {
    return {
      cause: 'grant_revoked',
      hint: `the grant was deleted or revoked, or the app's client secret was regenerated: create a new Personal OAuth Grant at ${GRANTS_URL}, then run \`tasty login --env ${environment}\``,
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

export class CredentialsRejectedError extends TastyError {
  readonly description: string;
  constructor(environment: string, description: string, opts: { held?: boolean; since?: string } = {}) {
    const advice = rejectionAdvice(description, environment);
    const held = opts.held
      ? ` (held since ${opts.since ?? 'earlier'}; not sent again, to avoid an IP block)`
      : '';
    super(`tastytrade rejected the ${environment} credentials: "${description}"${held}`, ExitCode.rejected, {
      hint: advice.hint,
      cause: advice.cause,
    });
    this.description = description;
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
