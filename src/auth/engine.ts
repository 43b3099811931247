// The auth engine: one function gives a valid access token, minted only when needed, shared safely
// between processes (single flight under a lock), never resending credentials tastytrade rejected.
// Every token and rejection is keyed by (environment, API base URL, identity of the credentials): several
// credential sets (variables, the keychain, a second keychain service) never share a token or a rejection.
import { join } from 'node:path';
import type { ApiClient, ApiResponse, TokenResponse } from '../api/client.ts';
import type { Env, Environment } from '../config.ts';
import { ApiError, CredentialsRejectedError, ExitCode, NotLoggedInError, StateDirError, stateDirError, TastyError, UsageError, WrongEnvironmentError } from '../errors.ts';
import { MIN_MINT_INTERVAL_MS } from '../api/token-rules.ts';
import { cleanServerText } from '../text.ts';
import { type Credentials, fromEnv, fromFile, writeToFile } from './credentials.ts';
import { decodeRefreshToken } from './jwt.ts';
import type { SecretStore } from './keychain.ts';
import { acquireLock } from './lock.ts';
import {
  type CachedQuoteToken,
  type CachedToken,
  clearRejection,
  dropWhere,
  findBinding,
  findQuoteToken,
  findRejection,
  findToken,
  grantElsewhere,
  identity,
  lifetimeMs,
  putBinding,
  putGrant,
  putQuoteToken,
  putRejection,
  putToken,
  readState,
  remainingMs,
  reuseMarginMs,
  type Slot,
  type State,
  writeState,
} from './state.ts';

/** How the engine reads and writes the state file; injectable so unit tests can fail a write. */
export interface StateIo {
  read(dir: string): { state: State; problem?: string };
  write(dir: string, state: State, now: number): void;
}

const fileStateIo: StateIo = { read: readState, write: writeState };

export interface AuthDeps {
  dir: string;
  env: Env;
  now: () => number;
  client: (environment: Environment) => Promise<ApiClient>;
  /** The API base URL of an environment (part of every token's and rejection's key). */
  api: (environment: Environment) => string;
  /** The keychain; built lazily so the hot path never loads the native module. */
  keychain: () => Promise<SecretStore>;
  /** The keychain service name the keychain uses (part of the keychain binding's key). */
  keychainService?: () => string;
  warn: (msg: string) => void;
  /** Human notes (suppressed with --json). */
  notice?: (msg: string) => void;
  debug?: (msg: string) => void;
  /** Called with each secret the engine handles, so outputs can redact them. */
  secret?: (s: string) => void;
  /** Network timeout, used to size how long a mint may hold the lock. */
  timeoutMs: number;
  stateIo?: StateIo;
  /**
   * Cached tokens only (the fast path, src/fast.ts): anything that would need the keychain, the lock or the network
   * throws CacheMiss instead, before any side effect, and the caller falls back to the full CLI.
   */
  cacheOnly?: boolean;
}

/** Thrown in cacheOnly mode where the engine would leave the hot path. */
export class CacheMiss extends Error {
  constructor(what: string) {
    super(`not on the hot path: ${what}`);
    this.name = 'CacheMiss';
  }
}

export interface TokenResult {
  token: CachedToken;
  /** True when this call minted it. */
  minted: boolean;
  credentials?: Credentials;
}

export const LOCK_FILE = 'state.lock';

/** The longest a keychain read may take (a macOS dialog a person answers; KEYCHAIN_DIALOG_TIMEOUT_MS). */
const KEYCHAIN_READ_ALLOWANCE_MS = 60_000;

/** The life tastytrade gives an access token (expires_in), assumed until a mint says otherwise. */
export const DEFAULT_TOKEN_LIFETIME_MS = 900_000;

/** A cached quote token is reused while it has more than this left (a streamer starting on it keeps an hour). */
export const QUOTE_REUSE_MARGIN_MS = 3600_000;

/** The refresh token's grant id (its `grant_id` claim), if it decodes. */
export function grantIdOf(refreshToken: string): string | undefined {
  const d = decodeRefreshToken(refreshToken);
  return d.ok ? d.facts.grantId : undefined;
}

export class AuthEngine {
  private readonly d: AuthDeps;
  private readonly io: StateIo;
  private warned = false;
  private noticed = false;
  private mintCooldownMs = 0;
  private lastMintFailure: { at: number; error: unknown; fp: string } | undefined;
  private keychainP: Promise<SecretStore> | undefined;

  constructor(deps: AuthDeps) {
    this.d = deps;
    this.io = deps.stateIo ?? fileStateIo;
  }

  /** No human notes (exec: once the child runs, its output is all there is). */
  silenceNotices(): void {
    this.noticed = true;
  }

  /** After a failed mint, do not try again for this long (long-running commands: at most one per minute). */
  setMintCooldown(ms: number): void {
    this.mintCooldownMs = ms;
  }

  keychain(): Promise<SecretStore> {
    this.keychainP ??= this.d.keychain();
    return this.keychainP;
  }

  private service(): string {
    return this.d.keychainService?.() ?? 'tasty';
  }

  api(environment: Environment): string {
    return this.d.api(environment);
  }

  /** Read the state, warning once per process when it had to be discarded. */
  state(): State {
    const { state, problem } = this.io.read(this.d.dir);
    if (problem && !this.warned) {
      this.warned = true;
      this.d.warn(`warning: ${problem}; ignoring it (it is rewritten on the next token mint)`);
    }
    return state;
  }

  /** The key of everything these credentials own at this environment's API, under this state's key. */
  slot(state: State, environment: Environment, creds: Credentials): Slot {
    return { env: environment, api: this.d.api(environment), fp: identity(state, creds) };
  }

  /** Credentials that can be had without the keychain: environment variables, then the credentials file. */
  cheapCredentials(environment: Environment): Credentials | undefined {
    const e = fromEnv(this.d.env, environment);
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
    if (this.d.cacheOnly) throw new CacheMiss('keychain');
    const kc = await this.keychain();
    const s = await kc.get(environment);
    if (!s) return undefined;
    const { cleanSecret } = await import('./credentials.ts');
    const clientSecret = cleanSecret(s.clientSecret);
    const refreshToken = cleanSecret(s.refreshToken);
    if (!clientSecret || !refreshToken) return undefined;
    return this.register({ clientSecret, refreshToken, source: 'keychain', where: kc.name });
  }

  /** Make the secrets known to the redactor (every output redacts them from then on). */
  register(c: Credentials): Credentials {
    this.d.secret?.(c.clientSecret);
    this.d.secret?.(c.refreshToken);
    return c;
  }

  private usable(t: CachedToken | undefined, minValidityMs: number | undefined): t is CachedToken {
    if (!t) return false;
    return remainingMs(t, this.d.now()) > (minValidityMs ?? reuseMarginMs(t));
  }

  /**
   * The identity of the current credentials without the keychain: computed from variables or the file, or, for
   * keychain credentials (not read on the hot path), the binding login and every keychain read record.
   */
  private hotIdentity(state: State, environment: Environment, cheap: Credentials | undefined): string | undefined {
    if (cheap) return identity(state, cheap);
    return findBinding(state, environment, this.service())?.fp;
  }

  /** The cached token of the current credentials at this environment's API, valid or not (status, keepAlive). */
  currentToken(environment: Environment, state = this.state()): CachedToken | undefined {
    const fp = this.hotIdentity(state, environment, this.cheapCredentials(environment));
    return fp ? findToken(state, { env: environment, api: this.d.api(environment), fp }) : undefined;
  }

  /**
   * A valid access token. `minValidityMs` asks for at least that much life left (background refresh);
   * `replacing` names a token the server refused (401), which must not be handed out again.
   */
  async getToken(environment: Environment, o: { minValidityMs?: number; replacing?: string } = {}): Promise<TokenResult> {
    const cheap = this.cheapCredentials(environment);
    const api = this.d.api(environment);
    // Hot path: a valid cached token of these credentials at this API costs one file read: no keychain, no lock.
    const state = this.state();
    const hotFp = this.hotIdentity(state, environment, cheap);
    const hot = hotFp ? findToken(state, { env: environment, api, fp: hotFp }) : undefined;
    if (this.usable(hot, o.minValidityMs) && hot.accessToken !== o.replacing) {
      this.d.secret?.(hot.accessToken);
      return { token: hot, minted: false };
    }
    // The fast path (cacheOnly) stops here, before the keychain, the lock or the network: the full CLI takes over.
    if (this.d.cacheOnly) throw new CacheMiss('no usable cached token');
    if (!cheap) return this.keychainToken(environment, hotFp, o);
    const creds = this.register(cheap);
    return this.tokenFor(environment, creds, state, o);
  }

  /**
   * Keychain credentials: read INSIDE the state lock, so any number of processes that miss the cache at once read
   * the keychain once between them (one macOS "node wants to use your confidential information" dialog, not N).
   * A waiter that gets the lock after another minted finds the token by the keychain binding, as the hot path does.
   * The lock names the identity the keychain was last bound to (the credentials about to be sent, unless the
   * keychain changed behind tasty's back), and is held longer by the time a keychain dialog may take.
   */
  private async keychainToken(environment: Environment, boundFp: string | undefined, o: { minValidityMs?: number; replacing?: string }): Promise<TokenResult> {
    const api = this.d.api(environment);
    let creds: Credentials | undefined;
    const r = await this.withStateLock(
      async (st): Promise<TokenResult | undefined> => {
        const fp = this.hotIdentity(st, environment, undefined);
        const done = fp ? findToken(st, { env: environment, api, fp }) : undefined;
        if (this.usable(done, o.minValidityMs) && done.accessToken !== o.replacing) {
          this.d.secret?.(done.accessToken);
          return { token: done, minted: false };
        }
        creds = await this.credentials(environment);
        if (!creds) throw new NotLoggedInError(environment);
        const slot = this.slot(st, environment, creds);
        this.throwIfHeld(st, slot, creds);
        // Cooling down after a failed mint, or these credentials are not the bound ones: settled outside the lock.
        if (this.coolingDown(slot.fp) || slot.fp !== boundFp) return undefined;
        return this.mintOrReuse(st, environment, creds, o);
      },
      boundFp,
      this.holdMs() + KEYCHAIN_READ_ALLOWANCE_MS,
    );
    if (r) return r;
    if (!creds) throw new NotLoggedInError(environment);
    return this.tokenFor(environment, creds, this.state(), o);
  }

  private coolingDown(fp: string): boolean {
    const failed = this.lastMintFailure;
    return !!failed && failed.fp === fp && this.d.now() - failed.at < this.mintCooldownMs;
  }

  /** A token of these (already read) credentials: the cooldown rule, then a mint under the lock unless one was made. */
  private async tokenFor(environment: Environment, creds: Credentials, state: State, o: { minValidityMs?: number; replacing?: string }): Promise<TokenResult> {
    const slot = this.slot(state, environment, creds);
    this.throwIfHeld(state, slot, creds);
    const failed = this.lastMintFailure;
    if (failed && this.coolingDown(slot.fp)) {
      // Cooling down after a failed mint: use what is left of the cached token, else fail without a request.
      const left = findToken(this.state(), slot);
      if (left && remainingMs(left, this.d.now()) > 0 && left.accessToken !== o.replacing) return { token: left, minted: false };
      throw failed.error;
    }
    return this.withStateLock((st) => this.mintOrReuse(st, environment, creds, o), slot.fp);
  }

  /** With the lock held: a token someone minted while we waited, else a mint. */
  private async mintOrReuse(st: State, environment: Environment, creds: Credentials, o: { minValidityMs?: number; replacing?: string }): Promise<TokenResult> {
    const s = this.slot(st, environment, creds);
    const rebound = this.bind(st, environment, creds, s.fp);
    // Someone may have minted while we waited for the lock.
    const fresh = findToken(st, s);
    if (this.usable(fresh, o.minValidityMs) && fresh.accessToken !== o.replacing) {
      if (rebound) this.save(st);
      this.d.secret?.(fresh.accessToken);
      return { token: fresh, minted: false, credentials: creds };
    }
    this.throwIfHeld(st, s, creds);
    const token = await this.mintLocked(environment, creds, st, s);
    return { token, minted: true, credentials: creds };
  }

  /**
   * `--min-ttl`: the life (ms) a token must have left, or undefined for the usual reuse margin. More than tastytrade
   * issues (the lifetime of the last mint of these credentials, else 900 s) is a usage error, before any request.
   */
  minValidity(environment: Environment, seconds: number): number | undefined {
    const cur = this.currentToken(environment);
    const known = cur ? lifetimeMs(cur) : 0;
    const life = known > 0 ? known : DEFAULT_TOKEN_LIFETIME_MS;
    if (seconds * 1000 > life) {
      throw new UsageError(
        `--min-ttl ${seconds} is longer than the ${Math.round(life / 1000)} s tastytrade gives an access token${known > 0 ? ' (its last one)' : ''}`,
        `ask for at most ${Math.round(life / 1000)} seconds; a longer-running program needs its own refresh (tasty exec passes the refresh token unless --token-only)`,
      );
    }
    const margin = known > 0 && cur ? reuseMarginMs(cur) : 60_000;
    return seconds * 1000 > margin ? seconds * 1000 : undefined;
  }

  /**
   * A token with at least `minTtlS` seconds left (and, with `credentials`, the credentials it belongs to). If tastytrade
   * now issues shorter tokens than asked for, that is said (exit 2) rather than a token handed out that dies early.
   */
  async session(environment: Environment, o: { minTtlS?: number; credentials?: boolean } = {}): Promise<{ token: CachedToken; credentials?: Credentials }> {
    const minValidityMs = o.minTtlS === undefined ? undefined : this.minValidity(environment, o.minTtlS);
    const r = o.credentials ? await this.tokenWithCredentials(environment, { minValidityMs }) : await this.getToken(environment, { minValidityMs });
    // (A second of slack: a token minted just now for --min-ttl equal to its whole life has spent a few ms of it.)
    if (o.minTtlS !== undefined && remainingMs(r.token, this.d.now()) + 1000 < o.minTtlS * 1000) {
      throw new UsageError(
        `--min-ttl ${o.minTtlS} cannot be met: tastytrade now gives access tokens ${Math.round(lifetimeMs(r.token) / 1000)} s of life`,
        `ask for at most ${Math.floor(lifetimeMs(r.token) / 1000)} seconds`,
      );
    }
    return r;
  }

  /**
   * A valid token AND the credentials it was minted from (exec hands both to a child). The credentials are read first
   * (keychain included) and the token must belong to exactly them: a keychain changed behind tasty's back (a stale
   * binding) gets its own token, never the old credentials' one. A held rejection fails before anything else.
   */
  async tokenWithCredentials(environment: Environment, o: { minValidityMs?: number } = {}): Promise<{ token: CachedToken; credentials: Credentials }> {
    const creds = await this.credentials(environment);
    if (!creds) throw new NotLoggedInError(environment);
    const state = this.state();
    const slot = this.slot(state, environment, creds);
    this.throwIfHeld(state, slot, creds);
    // (Identities are compared under the key of the state as it is now: a first mint creates the file and its key.)
    const mine = (t: CachedToken) => t.fp === slot.fp || t.fp === identity(this.state(), creds);
    let r = await this.getToken(environment, o);
    if (!mine(r.token)) r = await this.getToken(environment, { ...o, replacing: r.token.accessToken });
    if (!mine(r.token)) throw new TastyError(`the credentials changed while tasty read them (${creds.where}); try again`, ExitCode.internal, { cause: 'credentials_changed' });
    return { token: r.token, credentials: creds };
  }

  /**
   * The DXLink quote token of the current credentials at this environment's API: cached in the state file (hot path:
   * one file read), else fetched once under the state lock, so any number of concurrent processes cause one request.
   */
  async getQuoteToken(environment: Environment): Promise<{ quote: CachedQuoteToken; fetched: boolean }> {
    const api = this.d.api(environment);
    const usable = (q: CachedQuoteToken | undefined): q is CachedQuoteToken =>
      !!q && remainingMs({ expiresAt: q.expiresAt, mintedAt: q.issuedAt }, this.d.now()) > Math.min(QUOTE_REUSE_MARGIN_MS, (Date.parse(q.expiresAt) - Date.parse(q.issuedAt)) / 4);
    const state = this.state();
    const hotFp = this.hotIdentity(state, environment, this.cheapCredentials(environment));
    const hotSlot = hotFp ? { env: environment, api, fp: hotFp } : undefined;
    const hot = hotSlot && !findRejection(state, hotSlot) ? findQuoteToken(state, hotSlot) : undefined;
    if (usable(hot)) {
      this.d.secret?.(hot.token);
      return { quote: hot, fetched: false };
    }
    // An access token first (its own single flight), then the quote token under the lock.
    const first = await this.getToken(environment);
    const fp = first.token.fp;
    return this.withStateLock(async (st) => {
      let slot = { env: environment, api, fp };
      const fresh = findQuoteToken(st, slot);
      if (usable(fresh)) {
        this.d.secret?.(fresh.token);
        return { quote: fresh, fetched: false };
      }
      const client = await this.d.client(environment);
      const { parseQuoteToken, QUOTE_TOKEN_PATH, NO_MARKET_DATA_CODE, noMarketDataError } = await import('../api/quote-token.ts');
      const { UnauthorizedError } = await import('../api/client.ts');
      const fetchWith = async (accessToken: string) => {
        try {
          return await client.call('GET', QUOTE_TOKEN_PATH, accessToken);
        } catch (e) {
          if (e instanceof ApiError && e.code === NO_MARKET_DATA_CODE) throw noMarketDataError(environment, e.status);
          throw e;
        }
      };
      let res: import('../api/client.ts').ApiResponse;
      try {
        res = await fetchWith(first.token.accessToken);
      } catch (e) {
        if (!(e instanceof UnauthorizedError) || e.cause_ === 'html_401') throw e;
        // The access token was revoked server-side: drop it, mint once (we hold the lock), retry once.
        this.d.debug?.('401 with the cached token: minting a new one and retrying once');
        const creds = await this.credentials(environment);
        if (!creds) throw new NotLoggedInError(environment);
        const s = this.slot(st, environment, creds);
        this.throwIfHeld(st, s, creds);
        dropWhere(st, 'tokens', (t) => t.accessToken === first.token.accessToken);
        const token = await this.mintLocked(environment, creds, st, s);
        slot = s;
        res = await fetchWith(token.accessToken);
      }
      const now = this.d.now();
      const q = parseQuoteToken(res.json, now);
      this.d.secret?.(q.token);
      const quote: CachedQuoteToken = {
        ...slot,
        token: q.token,
        dxlinkUrl: q.dxlinkUrl,
        level: q.level,
        issuedAt: new Date(now).toISOString(),
        expiresAt: new Date(now + q.lifetimeMs).toISOString(),
      };
      putQuoteToken(st, quote);
      this.save(st);
      return { quote, fetched: true };
    }, fp, this.holdMs() * 2);
  }

  /** One live mint whatever the cache holds (doctor). `force` sends even while a rejection is held. */
  async mintFresh(environment: Environment, creds: Credentials, force = false): Promise<CachedToken> {
    const state = this.state();
    const slot = this.slot(state, environment, creds);
    if (!force) this.throwIfHeld(state, slot, creds);
    return this.withStateLock((st) => {
      const s = this.slot(st, environment, creds);
      this.bind(st, environment, creds, s.fp);
      return this.mintLocked(environment, creds, st, s);
    }, slot.fp);
  }

  /** Remember which credentials the keychain holds (the hot path's way to know them without reading it). */
  private bind(state: State, environment: Environment, creds: Credentials, fp: string): boolean {
    if (creds.source !== 'keychain') return false;
    const service = this.service();
    if (findBinding(state, environment, service)?.fp === fp) return false;
    putBinding(state, { env: environment, service, fp, at: new Date(this.d.now()).toISOString() });
    return true;
  }

  /** How long a mint may hold the lock: the request with its retries and backoff, with room to spare. */
  private holdMs(): number {
    return this.d.timeoutMs * 3 + 5_000;
  }

  private throwIfHeld(state: State, slot: Slot, creds: Credentials): void {
    const r = findRejection(state, slot, creds);
    if (r) throw this.sourced(new CredentialsRejectedError(slot.env, r.description, { held: true, since: r.at, code: r.code }), creds);
  }

  /** A rejection of credentials from environment variables says so: they outrank stored ones, a login is no cure. */
  private sourced(e: CredentialsRejectedError, creds: Credentials): CredentialsRejectedError {
    return creds.source === 'env' ? e.fromVariables(creds.where.replace(/^environment variables /, '')) : e;
  }

  /** One grant, one environment: a grant seen working in the other environment is not sent to this one. */
  throwIfOtherEnvironment(state: State, environment: Environment, creds: Credentials): void {
    const grantId = grantIdOf(creds.refreshToken);
    const g = grantId ? grantElsewhere(state, grantId, environment, this.d.api(environment)) : undefined;
    if (g && grantId) throw new WrongEnvironmentError(grantId, g.env, environment, 'works');
  }

  /** The rejection held for these credentials at this environment's API, if any. */
  heldRejection(state: State, environment: Environment, creds: Credentials) {
    return findRejection(state, this.slot(state, environment, creds), creds);
  }

  /**
   * Mint with the lock held, then record the token (or the rejection) in the state file. The state is written
   * BEFORE the request: if a rejection could not be recorded, the credentials are not sent at all.
   */
  private async mintLocked(environment: Environment, creds: Credentials, state: State, slot: Slot): Promise<CachedToken> {
    this.throwIfOtherEnvironment(state, environment, creds);
    this.saveStrict(state);
    const client = await this.d.client(environment);
    let res: TokenResponse;
    try {
      this.d.debug?.(`minting a ${environment} access token (credentials from ${creds.where})`);
      // Long-running commands (a mint cooldown is set) send one request per attempt: no retries.
      res = await client.mint(creds.refreshToken, creds.clientSecret, { retry: this.mintCooldownMs === 0 });
    } catch (e) {
      this.lastMintFailure = { at: this.d.now(), error: e, fp: slot.fp };
      if (e instanceof CredentialsRejectedError) {
        this.holdRejection(state, slot, e, creds);
        const theirs = (t: Slot) => t.env === slot.env && t.api === slot.api && t.fp === slot.fp;
        dropWhere(state, 'tokens', theirs);
        dropWhere(state, 'quoteTokens', theirs); // the grant was revoked: nothing obtained with it is handed out any more
        this.save(state);
        throw this.sourced(e, creds);
      }
      throw e;
    }
    this.lastMintFailure = undefined;
    const kept = await this.adoptRefreshToken(environment, creds, res);
    return this.record(state, environment, kept, res);
  }

  /**
   * tastytrade's refresh tokens do not rotate today, but a response that carries a new one is kept: in the store the
   * credentials came from (variables cannot be updated: the user is told).
   */
  private async adoptRefreshToken(environment: Environment, creds: Credentials, res: TokenResponse): Promise<Credentials> {
    const next = res.refreshToken;
    if (!next || next === creds.refreshToken) return creds;
    this.d.secret?.(next);
    const updated: Credentials = { ...creds, refreshToken: next };
    try {
      if (creds.source === 'keychain') await (await this.keychain()).set(environment, { clientSecret: creds.clientSecret, refreshToken: next });
      else if (creds.source === 'file') writeToFile(this.d.dir, environment, { clientSecret: creds.clientSecret, refreshToken: next }, new Date(this.d.now()));
      else {
        this.d.warn(`note: tastytrade issued a new refresh token, which cannot be saved into ${creds.where}; run \`tasty login --env ${environment}\` to store credentials tasty can keep current`);
        return creds;
      }
      this.d.debug?.(`tastytrade issued a new refresh token; stored it in ${creds.where}`);
      return updated;
    } catch (e) {
      this.d.warn(`warning: tastytrade issued a new refresh token that could not be stored (${(e as Error).message}); the old one is kept`);
      return creds;
    }
  }

  /** Remember a rejection of exactly these credentials at this API: they are not sent there again until they change. */
  holdRejection(state: State, slot: Slot, e: CredentialsRejectedError, creds: Credentials): void {
    putRejection(state, {
      ...slot,
      at: new Date(this.d.now()).toISOString(),
      code: e.cause_,
      // Server text is hostile: a server that echoes the request must not get a secret into the state file.
      description: cleanServerText(e.description, [creds.clientSecret, creds.refreshToken]),
    });
  }

  /** Store a freshly minted token of these credentials at this API, and clear their rejection (theirs only). */
  record(state: State, environment: Environment, creds: Credentials, res: TokenResponse): CachedToken {
    const now = this.d.now();
    const slot = this.slot(state, environment, creds);
    const token: CachedToken = {
      ...slot,
      accessToken: res.accessToken,
      tokenType: res.tokenType,
      expiresAt: new Date(now + res.expiresIn * 1000).toISOString(),
      mintedAt: new Date(now).toISOString(),
      source: creds.source,
    };
    this.d.secret?.(token.accessToken);
    putToken(state, token);
    clearRejection(state, slot, creds);
    const grantId = grantIdOf(creds.refreshToken);
    if (grantId) putGrant(state, { grantId, env: environment, api: slot.api, at: token.mintedAt });
    this.bind(state, environment, creds, slot.fp);
    this.save(state);
    return token;
  }

  private save(state: State): void {
    try {
      this.io.write(this.d.dir, state, this.d.now());
    } catch (e) {
      this.d.warn(`warning: could not write the token cache in ${this.d.dir} (${(e as NodeJS.ErrnoException).code ?? e}); tokens will be minted each run`);
    }
  }

  /** Write the state or fail with a clear error (before credentials are sent). */
  private saveStrict(state: State): void {
    try {
      this.io.write(this.d.dir, state, this.d.now());
    } catch (e) {
      throw e instanceof StateDirError ? e : stateDirError(this.d.dir, e);
    }
  }

  /**
   * Run under the state lock with a fresh read of the state: every mint and every read-modify-write of it.
   * `fp` names the credentials this holder will send, so a waiter never sends credentials whose outcome is pending.
   */
  async withStateLock<T>(fn: (state: State) => Promise<T> | T, fp?: string, holdMs = this.holdMs()): Promise<T> {
    const release = await acquireLock(join(this.d.dir, LOCK_FILE), { holdMs, fp, now: this.d.now });
    try {
      return await fn(this.state());
    } finally {
      release();
    }
  }

  saveState(state: State): void {
    this.saveStrict(state);
  }

  /**
   * Call the API with a token. A 401 (expired or revoked server-side) drops that token, mints once,
   * and retries the call once.
   */
  async call(environment: Environment, method: string, path: string, body?: string, headers?: Record<string, string>): Promise<ApiResponse> {
    const client = await this.d.client(environment);
    const first = await this.getToken(environment);
    try {
      return await client.call(method, path, first.token.accessToken, body, headers);
    } catch (e) {
      const { UnauthorizedError } = await import('../api/client.ts');
      if (!(e instanceof UnauthorizedError) || e.cause_ === 'html_401') throw e;
      this.d.debug?.('401 with the cached token: minting a new one and retrying once');
      const second = await this.getToken(environment, { replacing: first.token.accessToken });
      return client.call(method, path, second.token.accessToken, body, headers);
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
      // A floor on renewal intervals: a tiny expires_in cannot turn the refresh into a storm.
      timer = setTimeout(tick, Math.max(MIN_MINT_INTERVAL_MS, ms));
      timer.unref?.();
    };
    const tick = async () => {
      try {
        const cur = this.currentToken(environment);
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
    const cur = this.currentToken(environment);
    schedule(cur ? remainingMs(cur, this.d.now()) - ahead(cur) : 0);
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    };
  }

  /**
   * Forget what the given credentials own in an environment (logout): their tokens and rejections at every API,
   * and the keychain binding. Other credentials' entries are untouched. Returns what was removed.
   */
  forget(state: State, environment: Environment, fps: readonly string[], dropBindingToo: boolean): { tokens: number; rejections: number; quoteTokens: number } {
    const mine = (x: { env: Environment; fp: string }) => x.env === environment && fps.includes(x.fp);
    const tokens = dropWhere(state, 'tokens', mine);
    const quoteTokens = dropWhere(state, 'quoteTokens', mine);
    const rejections = dropWhere(state, 'rejections', mine);
    if (dropBindingToo) dropWhere(state, 'keychain', (b) => b.env === environment && b.service === this.service());
    return { tokens, rejections, quoteTokens };
  }

  /** The identity of the credentials the keychain service was last seen holding for an environment. */
  boundIdentity(state: State, environment: Environment): string | undefined {
    return findBinding(state, environment, this.service())?.fp;
  }
}
