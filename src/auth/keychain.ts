// The OS keychain through @napi-rs/keyring, loaded only when a credential must be read or written.
// Every call has a timeout; on Linux the store is pinned to the Secret Service (never the kernel keyring,
// which forgets everything at reboot).
import type { Env, Environment } from '../config.ts';
import { KeychainError } from '../errors.ts';

export const KEYCHAIN_SERVICE = 'tasty';
export const KEYCHAIN_TIMEOUT_MS = 3_000;
/**
 * macOS with a person at the terminal: after a Node upgrade the Keychain asks "node wants to use your confidential
 * information" and waits for a click, so the wait is long enough to answer it.
 */
export const KEYCHAIN_DIALOG_TIMEOUT_MS = 60_000;
/** After this long without an answer on macOS at a terminal, say that a dialog may be open. */
export const KEYCHAIN_DIALOG_NOTE_MS = 1_500;

/** How long a keychain call may take: long on macOS when a human can answer a dialog, short elsewhere. */
export function keychainTimeoutMs(platform: NodeJS.Platform, interactive: boolean): number {
  return platform === 'darwin' && interactive ? KEYCHAIN_DIALOG_TIMEOUT_MS : KEYCHAIN_TIMEOUT_MS;
}

export const KEYCHAIN_DIALOG_NOTE =
  'note: a macOS keychain dialog may be open ("node wants to use your confidential information", asked after a Node upgrade): answer it; "Always Allow" stops it asking again';

export interface StoredSecrets {
  clientSecret: string;
  refreshToken: string;
}

/** Where secrets are kept. The keychain implements it; tests may inject another. */
export interface SecretStore {
  readonly name: string;
  /** Throws a KeychainError naming the state (none, locked, hung) when secrets could not be stored. */
  probe?(): Promise<void>;
  get(environment: Environment): Promise<StoredSecrets | undefined>;
  set(environment: Environment, secrets: StoredSecrets): Promise<void>;
  delete(environment: Environment): Promise<boolean>;
}

export function keychainName(platform: NodeJS.Platform = process.platform): string {
  if (platform === 'darwin') return 'macOS Keychain';
  if (platform === 'win32') return 'Windows Credential Manager';
  return 'Secret Service keyring';
}

export const NO_KEYCHAIN_HINT =
  'use `tasty login --insecure-storage` to keep the secrets in a 0600 file instead, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN';

/** Creates (or unlocks) gnome-keyring's login keyring over SSH, with the password typed once. */
export const UNLOCK_COMMAND =
  "read -rsp 'Keyring password: ' PW && printf '%s' \"$PW\" | gnome-keyring-daemon --replace --unlock --components=secrets >/dev/null; unset PW";

/** The four states of a keychain, found before anything is asked or sent. */
export type KeychainState = 'usable' | 'none' | 'locked' | 'hung';

export class KeychainStateError extends KeychainError {
  readonly state: Exclude<KeychainState, 'usable'>;
  constructor(state: Exclude<KeychainState, 'usable'>, message: string, hint: string, error?: unknown) {
    super(message, hint, error);
    this.name = 'KeychainError'; // the same error to everything that prints or matches it, with the state named
    this.state = state;
  }
}

/** How to unlock: the gnome-keyring command on Linux, the system's own prompt elsewhere. */
function unlockHint(platform: NodeJS.Platform = process.platform): string {
  return platform === 'linux'
    ? `unlock it from the desktop (Passwords and Keys), or over SSH: \`${UNLOCK_COMMAND}\`; or ${NO_KEYCHAIN_HINT}`
    : `unlock it and try again, or ${NO_KEYCHAIN_HINT}`;
}

/** The message and way out for each state that is not usable. */
export const keychainStates = {
  none: (detail: string) =>
    new KeychainStateError('none', `no Secret Service is running: ${detail}`, `headless Linux needs gnome-keyring or KWallet in a D-Bus session; or ${NO_KEYCHAIN_HINT}`),
  noDefault: (detail: string) =>
    new KeychainStateError(
      'locked',
      `the Secret Service has no default keyring to store into (${detail})`,
      `create and unlock one: \`${UNLOCK_COMMAND}\`; or ${NO_KEYCHAIN_HINT}`,
    ),
  locked: (collection: string) =>
    new KeychainStateError(
      'locked',
      `the Secret Service's default keyring "${collection.replace(/^.*\//, '')}" is locked (no unlock prompt can be shown here)`,
      unlockHint('linux'),
    ),
  hung: (name: string, ms: number | undefined, op: string, platform: NodeJS.Platform = process.platform) =>
    new KeychainStateError(
      'hung',
      platform === 'darwin'
        ? `the ${name} did not answer${ms ? ` within ${ms / 1000} s` : ''} (${op}): a keychain dialog may be open (or the keychain is locked)`
        : `the ${name} did not answer${ms ? ` within ${ms / 1000} s` : ''} (${op}): it is hung or waiting for an unlock prompt`,
      platform === 'linux'
        ? `unlock it, or restart it (\`gnome-keyring-daemon --replace\`), and retry; or ${NO_KEYCHAIN_HINT}`
        : platform === 'darwin'
          ? `look for a dialog asking to use your confidential information and answer it ("Always Allow"), then retry at a terminal; or ${NO_KEYCHAIN_HINT}`
          : `retry; if it keeps happening, ${NO_KEYCHAIN_HINT}`,
    ),
  /** macOS: errSecInteractionNotAllowed (-25308), the Keychain needs a dialog and none can be shown (cron, SSH, launchd). */
  noInteraction: (name: string, op: string, e?: unknown) =>
    new KeychainStateError(
      'locked',
      `the ${name} cannot ${op}: "User interaction is not allowed" (it needs a dialog or an unlocked login keychain, and none can be shown here: cron, SSH, launchd)`,
      `over SSH, unlock it first: \`security unlock-keychain ~/Library/Keychains/login.keychain-db\`; for cron or launchd, set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN or use \`tasty login --insecure-storage\`; at the desktop, run tasty once and answer the dialog with "Always Allow"`,
      e,
    ),
  /** Windows: ERROR_NO_SUCH_LOGON_SESSION (1312): no Credential Manager without an interactive logon (SSH, services). */
  noLogonSession: (name: string, op: string, e?: unknown) =>
    new KeychainStateError(
      'none',
      `the ${name} cannot ${op}: ERROR_NO_SUCH_LOGON_SESSION (this session has no credential store: SSH with key authentication, a service, or a scheduled task that does not store the password)`,
      `run tasty from a desktop login, or a scheduled task set to "Run only when user is logged on"; or ${NO_KEYCHAIN_HINT}`,
      e,
    ),
};

function describe(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    if (cur instanceof Error && cur.message && !parts.includes(cur.message)) parts.push(cur.message);
    cur = (cur as { cause?: unknown }).cause;
  }
  return parts.join(': ').replace(/\s+/g, ' ').slice(0, 240);
}

/**
 * A failed keychain call, named by state. Order matters: the Secret Service's own errors all mention
 * "Secret Service", so the locked and no-collection ones are recognised before "none is running".
 */
export function keychainFailure(name: string, op: string, e: unknown, platform: NodeJS.Platform = process.platform): KeychainError {
  const text = describe(e);
  if (/did not receive a reply|timed? ?out/i.test(text)) return keychainStates.hung(name, undefined, op, platform);
  if (platform === 'darwin' && /user interaction is not allowed|interaction ?not ?allowed|-25308/i.test(text)) return keychainStates.noInteraction(name, op, e);
  if (platform === 'win32' && /logon session|no.?such.?logon|\b1312\b|0x0*520\b/i.test(text)) return keychainStates.noLogonSession(name, op, e);
  if (/prompt was dismissed|is locked|locked collection|unlock/i.test(text)) {
    return new KeychainStateError('locked', `the ${name} is locked, so the keychain cannot ${op}: ${text}`, unlockHint(platform), e);
  }
  if (platform === 'linux' && /no result found|no such object|no default collection/i.test(text)) {
    const hint = `create and unlock one: \`${UNLOCK_COMMAND}\`; or ${NO_KEYCHAIN_HINT}`;
    return new KeychainStateError('locked', `the ${name} has no default keyring, so the keychain cannot ${op}: ${text}`, hint, e);
  }
  if (platform === 'linux' && /dbus|secret.?service|org\.freedesktop|no such (interface|name)|autolaunch|platform failure/i.test(text)) {
    return new KeychainStateError(
      'none',
      `no Secret Service is running, so the keychain cannot ${op} (headless Linux needs gnome-keyring or KWallet)`,
      NO_KEYCHAIN_HINT,
      e,
    );
  }
  if (/locked|denied|cancel/i.test(text)) {
    return new KeychainError(`the ${name} is locked or refused to ${op}: ${text}`, `unlock it and try again, or ${NO_KEYCHAIN_HINT}`, e);
  }
  return new KeychainError(`the ${name} failed to ${op}: ${text}`, NO_KEYCHAIN_HINT, e);
}

/** The part of @napi-rs/keyring tasty uses. */
export type KeyringModule = Pick<typeof import('@napi-rs/keyring'), 'AsyncEntry'>;

export interface TimeoutOptions {
  ms: number;
  name: string;
  op: string;
  platform: NodeJS.Platform;
  /** Said once when the call is slow (macOS at a terminal: a dialog may be open). */
  slowNote?: { afterMs: number; say: (msg: string) => void };
}

/**
 * A keychain call bounded in time. The native call itself cannot be cancelled: after a timeout it may still be
 * waiting (a macOS dialog), which is why the CLI exits explicitly after a hung keychain (exitsAtOnce in errors.ts).
 */
export function withTimeout<T>(p: Promise<T>, o: TimeoutOptions, ac: AbortController = new AbortController()): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let noteTimer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(keychainStates.hung(o.name, o.ms, o.op, o.platform));
    }, o.ms);
    timer.unref?.();
  });
  if (o.slowNote && o.slowNote.afterMs < o.ms) {
    const say = o.slowNote.say;
    noteTimer = setTimeout(() => say(KEYCHAIN_DIALOG_NOTE), o.slowNote.afterMs);
    noteTimer.unref?.();
  }
  return Promise.race([p, t]).finally(() => {
    clearTimeout(timer);
    clearTimeout(noteTimer);
  });
}

export class KeychainStore implements SecretStore {
  readonly name: string;
  private readonly timeoutMs: number;
  private readonly service: string;
  private readonly env: Env;
  private readonly platform: NodeJS.Platform;
  private readonly note: ((msg: string) => void) | undefined;
  private noted = false;
  private readonly load: () => Promise<KeyringModule>;

  /**
   * `interactive`: a person is at the terminal (macOS: a longer timeout, for a dialog). `note` says, once, that a
   * dialog may be open when a macOS call is slow. `load` supplies the native module (@napi-rs/keyring by default):
   * against a frozen daemon its constructor blocks the event loop until D-Bus's own ~2 s reply timeout; our timer is
   * for calls that are accepted and never completed (an unlock prompt nobody answers), which only an injected module
   * can stage in a test.
   */
  constructor(
    o: { timeoutMs?: number; service?: string; env?: Env; platform?: NodeJS.Platform; interactive?: boolean; note?: (msg: string) => void; load?: () => Promise<KeyringModule> } = {},
  ) {
    this.load = o.load ?? (() => import('@napi-rs/keyring'));
    this.platform = o.platform ?? process.platform;
    this.name = keychainName(this.platform);
    this.timeoutMs = o.timeoutMs ?? keychainTimeoutMs(this.platform, o.interactive === true);
    this.service = o.service ?? KEYCHAIN_SERVICE;
    this.env = o.env ?? process.env;
    this.note = this.platform === 'darwin' && o.interactive === true ? o.note : undefined;
  }

  /**
   * Can secrets be stored right now? On Linux a read-only look at the Secret Service over D-Bus (the native
   * module reports a locked or missing keyring only when asked to write); elsewhere a read of the entry.
   */
  async probe(): Promise<void> {
    if (this.platform === 'linux') {
      const { probeSecretService } = await import('./secret-service.ts');
      const s = await probeSecretService(this.env, this.timeoutMs);
      if (s.state === 'none') throw keychainStates.none(s.detail);
      if (s.state === 'no-default') throw keychainStates.noDefault(s.detail);
      if (s.state === 'locked') throw keychainStates.locked(s.collection);
      if (s.state === 'hung') throw keychainStates.hung(this.name, this.timeoutMs, 'looking for its default keyring', 'linux');
    }
    await this.run('production', 'read the credentials', (e, signal) => e.getPassword(signal));
  }

  private async run<T>(environment: Environment, op: string, fn: (entry: import('@napi-rs/keyring').AsyncEntry, signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    const work = (async () => {
      let mod: KeyringModule;
      try {
        mod = await this.load();
      } catch (e) {
        throw new KeychainError(`the keychain module could not be loaded: ${describe(e)}`, NO_KEYCHAIN_HINT, e);
      }
      try {
        const entry = new mod.AsyncEntry(this.service, environment, { linux: { store: 'secret-service' } });
        return await fn(entry, ac.signal);
      } catch (e) {
        if (e instanceof KeychainError) throw e;
        throw keychainFailure(this.name, op, e, this.platform);
      }
    })();
    const note = this.note;
    const slowNote =
      note && !this.noted
        ? {
            afterMs: KEYCHAIN_DIALOG_NOTE_MS,
            say: (m: string) => {
              if (this.noted) return;
              this.noted = true;
              note(m);
            },
          }
        : undefined;
    return withTimeout(work, { ms: this.timeoutMs, name: this.name, op, platform: this.platform, slowNote }, ac);
  }

  async get(environment: Environment): Promise<StoredSecrets | undefined> {
    const raw = await this.run(environment, 'read the credentials', (e, signal) => e.getPassword(signal));
    if (raw === null || raw === undefined || raw === '') return undefined;
    try {
      const o = JSON.parse(raw) as Record<string, unknown>;
      if (typeof o.clientSecret === 'string' && typeof o.refreshToken === 'string') {
        return { clientSecret: o.clientSecret, refreshToken: o.refreshToken };
      }
    } catch {
      /* fall through */
    }
    throw new KeychainError(
      `the ${this.name} entry "${this.service}/${environment}" is not in the format tasty writes`,
      `run \`tasty logout --env ${environment}\` and \`tasty login --env ${environment}\` again`,
    );
  }

  async set(environment: Environment, s: StoredSecrets): Promise<void> {
    const value = JSON.stringify({ clientSecret: s.clientSecret, refreshToken: s.refreshToken, version: 1 });
    await this.run(environment, 'store the credentials', (e, signal) => e.setPassword(value, signal));
  }

  async delete(environment: Environment): Promise<boolean> {
    return this.run(environment, 'delete the credentials', (e, signal) => e.deleteCredential(signal));
  }
}

