// The auth engine: one function gives a valid access token, minted only when needed, shared safely
// between processes (single flight under a lock), never resending credentials tastytrade rejected.
import { join } from 'node:path';
import type { ApiClient, ApiResponse, TokenResponse } from '../api/client.ts';
import type { Env, Environment } from '../config.ts';
import { CredentialsRejectedError, NotLoggedInError, type TastyError } from '../errors.ts';
import { type Credentials, credentialFingerprint, fromEnv, fromFile } from './credentials.ts';
import type { SecretStore } from './keychain.ts';
import { acquireLock } from './lock.ts';
import { type CachedToken, readState, remainingMs, reuseMarginMs, type State, writeState } from './state.ts';

export interface AuthDeps {
  dir: string;
  env: Env;
  now: () => number;
  client: (environment: Environment) => Promise<ApiClient>;
  /** The keychain; built lazily so the hot path never loads the native module. */
  keychain: () => Promise<SecretStore>;
  warn: (msg: string) => void;
  /** Human notes (suppressed with --json). */
  notice?: (msg: string) => void;
  debug?: (msg: string) => void;
  /** Called with each secret the engine handles, so outputs can redact them. */
  secret?: (s: string) => void;
  /** Network timeout, used to size the lock's stale timeout. */
  timeoutMs: number;
}

export interface TokenResult {
  token: CachedToken;
  /** True when this call minted it. */
  minted: boolean;
  credentials?: Credentials;
}

export const LOCK_FILE = 'state.lock';

export class AuthEngine {
  private readonly d: AuthDeps;
  private warned = false;
  private noticed = false;
  private mintCooldownMs = 0;
  private lastMintFailure: { at: number; error: unknown } | undefined;
  private keychainP: Promise<SecretStore> | undefined;

  constructor(deps: AuthDeps) {
    this.d = deps;
  }

  /** After a failed mint, do not try again for this long (long-running commands: at most one per minute). */
  setMintCooldown(ms: number): void {
    this.mintCooldownMs = ms;
  }

  keychain(): Promise<SecretStore> {
    this.keychainP ??= this.d.keychain();
    return this.keychainP;
  }

  /** Read the state, warning once per process when it had to be discarded. */
  state(): State {
    const { state, problem } = readState(this.d.dir);
    if (problem && !this.warned) {
      this.warned = true;
      this.d.warn(`warning: ${problem}; ignoring it (it is rewritten on the next token mint)`);
    }
    return state;
  }

  /** Credentials that can be had without the keychain: environment variables, then the credentials file. */
  cheapCredentials(environment: Environment): Credentials | undefined {
    const e = fromEnv(this.d.env);
    if (e.credentials) return e.credentials;
    const f = fromFile(this.d.dir, environment);
    if (f && !this.noticed) {
      // Plaintext storage was the user's choice at login; every human output that relies on it says so once.
      this.noticed = true;
      this.d.notice?.(`note: the ${environment} secrets are stored in plaintext in ${f.where} (tasty login --insecure-storage)`);
    }
    return f;
  }

  /** Resolve credentials: environment variables > credentials file > keychain. Undefined when none. */
  async credentials(environment: Environment): Promise<Credentials | undefined> {
    const cheap = this.cheapCredentials(environment);
    if (cheap) return this.register(cheap);
    const kc = await this.keychain();
    const s = await kc.get(environment);
    if (!s) return undefined;
    const { cleanSecret } = await import('./credentials.ts');
    const clientSecret = cleanSecret(s.clientSecret);
    const refreshToken = cleanSecret(s.refreshToken);
    if (!clientSecret || !refreshToken) return undefined;
    return this.register({ clientSecret, refreshToken, source: 'keychain', where: kc.name });
  }

  private register(c: Credentials): Credentials {
    this.d.secret?.(c.clientSecret);
    this.d.secret?.(c.refreshToken);
    return c;
  }

  private usable(t: CachedToken | undefined, minValidityMs: number | undefined): t is CachedToken {
    if (!t) return false;
    return remainingMs(t, this.d.now()) > (minValidityMs ?? reuseMarginMs(t));
  }

  /**
   * The cached token, if it is valid and belongs to the current credentials. For keychain credentials
   * (not read on the hot path) the token counts as theirs when it was minted from the keychain: login and
   * logout are the only writers of both.
   */
  private cachedFor(state: State, environment: Environment, cheap: Credentials | undefined, minValidityMs?: number): CachedToken | undefined {
    const t = state.environments[environment]?.token;
    if (!this.usable(t, minValidityMs)) return undefined;
    if (cheap) return t.fingerprint === credentialFingerprint(cheap) ? t : undefined;
    return t.source === 'keychain' ? t : undefined;
  }

  /**
   * A valid access token. `minValidityMs` asks for at least that much life left (background refresh);
   * `replacing` names a token the server refused (401), which must not be handed out again.
   */
  async getToken(environment: Environment, o: { minValidityMs?: number; replacing?: string } = {}): Promise<TokenResult> {
    const cheap = this.cheapCredentials(environment);
    // Hot path: a valid cached token costs one file read: no keychain, no lock, no network.
    const hot = this.cachedFor(this.state(), environment, cheap, o.minValidityMs);
    if (hot && hot.accessToken !== o.replacing) {
      this.d.secret?.(hot.accessToken);
      return { token: hot, minted: false };
    }
    const creds = cheap ? this.register(cheap) : await this.credentials(environment);
    if (!creds) throw new NotLoggedInError(environment);
    const fp = credentialFingerprint(creds);
    this.throwIfHeld(this.state(), environment, fp);
    const failed = this.lastMintFailure;
    if (failed && this.d.now() - failed.at < this.mintCooldownMs) {
      // Cooling down after a failed mint: use what is left of the cached token, else fail without a request.
      const left = this.state().environments[environment]?.token;
      if (left && left.fingerprint === fp && remainingMs(left, this.d.now()) > 0 && left.accessToken !== o.replacing) return { token: left, minted: false };
      throw failed.error;
    }

    return this.withStateLock(async (state) => {
      // Someone may have minted while we waited for the lock.
      const fresh = state.environments[environment]?.token;
      if (this.usable(fresh, o.minValidityMs) && fresh.fingerprint === fp && fresh.accessToken !== o.replacing) {
        this.d.secret?.(fresh.accessToken);
        return { token: fresh, minted: false, credentials: creds };
      }
      this.throwIfHeld(state, environment, fp);
      const token = await this.mintLocked(environment, creds, state);
      return { token, minted: true, credentials: creds };
    });
  }

  /** One live mint whatever the cache holds (doctor). `force` sends even while a rejection is held. */
  async mintFresh(environment: Environment, creds: Credentials, force = false): Promise<CachedToken> {
    if (!force) this.throwIfHeld(this.state(), environment, credentialFingerprint(creds));
    return this.withStateLock((state) => this.mintLocked(environment, creds, state));
  }

  private lockOptions() {
    // A live holder can legitimately take a mint with retries; a dead one is detected at once by pid.
    const staleMs = this.d.timeoutMs * 3 + 5_000;
    return { staleMs, waitMs: staleMs + 2_000 };
  }

  private throwIfHeld(state: State, environment: Environment, fp: string): void {
    const r = state.environments[environment]?.rejection;
    if (r && r.fingerprint === fp) throw new CredentialsRejectedError(environment, r.description, { held: true, since: r.at });
  }

  /** Mint with the lock held, then record the token (or the rejection) in the state file. */
  private async mintLocked(environment: Environment, creds: Credentials, state: State): Promise<CachedToken> {
    const client = await this.d.client(environment);
    const fp = credentialFingerprint(creds);
    let res: TokenResponse;
    try {
      this.d.debug?.(`minting a ${environment} access token (credentials from ${creds.where})`);
      // Long-running commands (a mint cooldown is set) send one request per attempt: no retries.
      res = await client.mint(creds.refreshToken, creds.clientSecret, { retry: this.mintCooldownMs === 0 });
    } catch (e) {
      this.lastMintFailure = { at: this.d.now(), error: e };
      if (e instanceof CredentialsRejectedError) {
        this.holdRejection(state, environment, fp, e);
        delete state.environments[environment]?.token;
        this.save(state);
      }
      throw e;
    }
    this.lastMintFailure = undefined;
    return this.record(state, environment, creds, res);
  }

  /** Remember a rejection of the credentials with this fingerprint: they are not sent again until they change. */
  holdRejection(state: State, environment: Environment, fingerprint: string, e: CredentialsRejectedError): void {
    const es = (state.environments[environment] ??= {});
    es.rejection = { fingerprint, at: new Date(this.d.now()).toISOString(), code: e.cause_, description: e.description };
  }

  /** Store a freshly minted token (and clear any rejection of these credentials). */
  record(state: State, environment: Environment, creds: Credentials, res: TokenResponse): CachedToken {
    const now = this.d.now();
    const token: CachedToken = {
      accessToken: res.accessToken,
      tokenType: res.tokenType,
      expiresAt: new Date(now + res.expiresIn * 1000).toISOString(),
      mintedAt: new Date(now).toISOString(),
      fingerprint: credentialFingerprint(creds),
      source: creds.source,
    };
    this.d.secret?.(token.accessToken);
    const es = (state.environments[environment] ??= {});
    es.token = token;
    delete es.rejection;
    this.save(state);
    return token;
  }

  private save(state: State): void {
    try {
      writeState(this.d.dir, state);
    } catch (e) {
      this.d.warn(`warning: could not write the token cache in ${this.d.dir} (${(e as NodeJS.ErrnoException).code ?? e}); tokens will be minted each run`);
    }
  }

  /** Run under the state lock with a fresh read of the state: every mint and every read-modify-write of it. */
  async withStateLock<T>(fn: (state: State) => Promise<T> | T): Promise<T> {
    const release = await acquireLock(join(this.d.dir, LOCK_FILE), this.lockOptions());
    try {
      return await fn(this.state());
    } finally {
      release();
    }
  }

  saveState(state: State): void {
    writeState(this.d.dir, state);
  }

  /**
   * Call the API with a token. A 401 (expired or revoked server-side) drops that token, mints once,
   * and retries the call once.
   */
  async call(environment: Environment, method: string, path: string, body?: string): Promise<ApiResponse> {
    const client = await this.d.client(environment);
    const first = await this.getToken(environment);
    try {
      return await client.call(method, path, first.token.accessToken, body);
    } catch (e) {
      const { UnauthorizedError } = await import('../api/client.ts');
      if (!(e instanceof UnauthorizedError) || e.cause_ === 'html_401') throw e;
      this.d.debug?.('401 with the cached token: minting a new one and retrying once');
      const second = await this.getToken(environment, { replacing: first.token.accessToken });
      return client.call(method, path, second.token.accessToken, body);
    }
  }

  /**
   * Keep a token alive for a long-running command: re-mint in the background well before expiry
   * (a third of its life, at most 5 minutes ahead). A failed mint waits at least a minute before the next
   * try, so a failing token endpoint never sees more than one request per minute. A rejection is fatal.
   */
  keepAlive(environment: Environment, onFatal: (e: TastyError) => void, o: { minRetryMs?: number } = {}): () => void {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const minRetry = o.minRetryMs ?? 60_000;
    const ahead = (t: CachedToken) => Math.min(300_000, (Date.parse(t.expiresAt) - Date.parse(t.mintedAt)) / 3);
    const schedule = (ms: number) => {
      if (stopped) return;
      timer = setTimeout(tick, Math.max(250, ms));
      timer.unref?.();
    };
    const tick = async () => {
      try {
        const cur = this.state().environments[environment]?.token;
        const want = cur ? ahead(cur) : undefined;
        const r = await this.getToken(environment, { minValidityMs: want });
        schedule(remainingMs(r.token, this.d.now()) - ahead(r.token));
      } catch (e) {
        if (e instanceof CredentialsRejectedError || e instanceof NotLoggedInError) {
          stopped = true;
          onFatal(e);
          return;
        }
        this.d.debug?.(`background token refresh failed (${(e as Error).message}); next try in ${minRetry / 1000} s`);
        schedule(minRetry);
      }
    };
    const cur = this.state().environments[environment]?.token;
    schedule(cur ? remainingMs(cur, this.d.now()) - ahead(cur) : 0);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  /** Forget the cached token and rejection of an environment (logout, login). */
  static clearEnvironment(state: State, environment: Environment): boolean {
    const had = state.environments[environment] !== undefined;
    delete state.environments[environment];
    return had;
  }
}

