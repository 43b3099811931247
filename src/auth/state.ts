// The state file: cached access tokens, held rejections and keychain bindings, each keyed by what it belongs to:
// the environment, the API base URL and the identity of the credentials (a keyed hash of the secrets).
// Never a refresh token or a client secret.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type BusyOps, type Environment, isEnvironment, readFileIfExists, retryWhileBusy, writeFileAtomic } from '../config.ts';
import { isBearerToken, MAX_EXPIRES_S } from '../api/token-rules.ts';
import type { StoredSecrets } from './keychain.ts';

export const STATE_FILE = 'state.json';
export const STATE_VERSION = 2;

export type SourceKind = 'env' | 'keychain' | 'file';

/** What an entry belongs to. `api` is the base URL; `*` (migrated version-1 rejections only) matches any. */
export interface Slot {
  env: Environment;
  api: string;
  /** Identity of the credentials: HMAC-SHA256 of refresh token + client secret under the state's key. */
  fp: string;
}

export interface CachedToken extends Slot {
  accessToken: string;
  tokenType: string;
  /** Absolute expiry by the local clock: time of receipt + expires_in. */
  expiresAt: string;
  mintedAt: string;
  source: SourceKind;
}

export interface HeldRejection extends Slot {
  at: string;
  code: string;
  description: string;
  /** Version-1 fingerprint (unkeyed), for rejections migrated from a version-1 file. */
  legacyFp?: string;
}

/**
 * A DXLink quote token (GET /api-quote-tokens) of these credentials at this API. A credential: it lives here like the
 * access tokens, under the same lock, and is dropped by logout with them.
 */
export interface CachedQuoteToken extends Slot {
  token: string;
  dxlinkUrl: string;
  level: string;
  /** Time of receipt, by the local clock. */
  issuedAt: string;
  /** Absolute expiry by the local clock (the server's expires-at, else 24 h after receipt). */
  expiresAt: string;
}

/** The identity of the credentials a keychain service holds for an environment, written at login and on each keychain read. */
export interface KeychainBinding {
  env: Environment;
  service: string;
  fp: string;
  at: string;
}

/** A grant (the refresh token's grant_id claim) seen minting in an environment at an API. */
export interface GrantRecord {
  grantId: string;
  env: Environment;
  api: string;
  at: string;
}

export interface State {
  version: number;
  /** Random key of the keyed hash (base64url, 32 bytes). Created with the file. */
  key: string;
  tokens: CachedToken[];
  rejections: HeldRejection[];
  keychain: KeychainBinding[];
  grants: GrantRecord[];
  quoteTokens: CachedQuoteToken[];
}

/** Bounds: the file never grows without limit (oldest entries go first; expired tokens always). */
export const MAX_TOKENS = 32;
export const MAX_REJECTIONS = 64;
export const MAX_BINDINGS = 32;
export const MAX_GRANTS = 64;
export const MAX_QUOTE_TOKENS = 16;

export function emptyState(): State {
  return { version: STATE_VERSION, key: randomBytes(32).toString('base64url'), tokens: [], rejections: [], keychain: [], grants: [], quoteTokens: [] };
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

/** The identity of a set of credentials under this state's key. */
export function identity(state: Pick<State, 'key'>, c: StoredSecrets): string {
  return createHmac('sha256', state.key).update(`${c.refreshToken}\n${c.clientSecret}`).digest('hex').slice(0, 32);
}

/** The version-1 fingerprint (sha256, unkeyed), only to match rejections migrated from a version-1 file. */
export function legacyIdentity(c: StoredSecrets): string {
  return createHash('sha256').update(`tasty:${c.refreshToken}\n${c.clientSecret}`).digest('hex').slice(0, 16);
}

const sameSlot = (a: Slot, b: Slot) => a.env === b.env && a.api === b.api && a.fp === b.fp;

export function findToken(state: State, slot: Slot): CachedToken | undefined {
  return state.tokens.find((t) => sameSlot(t, slot));
}

/** The rejection held for exactly these credentials at exactly this API (or a migrated one that applies). */
export function findRejection(state: State, slot: Slot, creds?: StoredSecrets): HeldRejection | undefined {
  return state.rejections.find((r) => {
    if (r.env !== slot.env || (r.api !== slot.api && r.api !== '*')) return false;
    if (r.fp === slot.fp) return true;
    return r.legacyFp !== undefined && creds !== undefined && r.legacyFp === legacyIdentity(creds);
  });
}

export function findBinding(state: State, env: Environment, service: string): KeychainBinding | undefined {
  return state.keychain.find((b) => b.env === env && b.service === service);
}

export function putToken(state: State, t: CachedToken): void {
  state.tokens = [t, ...state.tokens.filter((x) => !sameSlot(x, t))];
}

type Lists = Pick<State, 'tokens' | 'rejections' | 'keychain' | 'quoteTokens'>;

/** Remove the entries of one list that match; how many went. */
export function dropWhere<K extends keyof Lists>(state: State, list: K, match: (x: Lists[K][number]) => boolean): number {
  const before = state[list].length;
  state[list] = state[list].filter((x) => !match(x)) as State[K];
  return before - state[list].length;
}

export function findQuoteToken(state: State, slot: Slot): CachedQuoteToken | undefined {
  return state.quoteTokens.find((t) => sameSlot(t, slot));
}

export function putQuoteToken(state: State, t: CachedQuoteToken): void {
  state.quoteTokens = [t, ...state.quoteTokens.filter((x) => !sameSlot(x, t))];
}


export function putRejection(state: State, r: HeldRejection): void {
  state.rejections = [r, ...state.rejections.filter((x) => !(sameSlot(x, r) || (x.api === '*' && x.env === r.env && x.fp === r.fp)))];
}

/** Clear the rejections of these credentials at this API (a successful mint proves they work again). */
export function clearRejection(state: State, slot: Slot, creds?: StoredSecrets): number {
  const before = state.rejections.length;
  const legacy = creds ? legacyIdentity(creds) : undefined;
  state.rejections = state.rejections.filter(
    (r) => !(r.env === slot.env && (r.api === slot.api || r.api === '*') && (r.fp === slot.fp || (legacy !== undefined && r.legacyFp === legacy))),
  );
  return before - state.rejections.length;
}

export function putBinding(state: State, b: KeychainBinding): void {
  state.keychain = [b, ...state.keychain.filter((x) => !(x.env === b.env && x.service === b.service))];
}


export function putGrant(state: State, g: GrantRecord): void {
  state.grants = [g, ...state.grants.filter((x) => !(x.grantId === g.grantId && x.env === g.env && x.api === g.api))];
}

/** A record of this grant working in the OTHER environment at another API (the same server for both proves nothing). */
export function grantElsewhere(state: State, grantId: string, env: Environment, api: string): GrantRecord | undefined {
  return state.grants.find((g) => g.grantId === grantId && g.env !== env && g.api !== api);
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isDate = (v: unknown): v is string => isStr(v) && !Number.isNaN(Date.parse(v));
const isFp = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{16,64}$/.test(v);

function parseSlot(o: Record<string, unknown>): Slot | undefined {
  if (!isEnvironment(o.env) || !isStr(o.api) || o.api.length > 300 || !isFp(o.fp)) return undefined;
  return { env: o.env, api: o.api, fp: o.fp };
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function parseToken(v: unknown): CachedToken | undefined {
  const o = obj(v);
  const slot = o && parseSlot(o);
  if (!o || !slot) return undefined;
  if (!isBearerToken(o.accessToken) || !isDate(o.expiresAt) || !isDate(o.mintedAt)) return undefined;
  // A lifetime tastytrade never gives (or a date beyond it) is not trusted from disk.
  if (Date.parse(o.expiresAt) - Date.parse(o.mintedAt) > MAX_EXPIRES_S * 1000) return undefined;
  const source = o.source === 'env' || o.source === 'keychain' || o.source === 'file' ? o.source : undefined;
  if (!source) return undefined;
  return { ...slot, accessToken: o.accessToken, tokenType: isStr(o.tokenType) ? o.tokenType : 'Bearer', expiresAt: o.expiresAt, mintedAt: o.mintedAt, source };
}

/** A quote token as the server may hand it back: bounded, printable, no whitespace. */
export const QUOTE_TOKEN_RE = /^[\x21-\x7e]{8,4096}$/;
/** The DXLink URL: a ws(s) URL, printable, bounded. */
export const DXLINK_URL_RE = /^wss?:\/\/[\x21-\x7e]{1,290}$/;

function parseQuoteToken(v: unknown): CachedQuoteToken | undefined {
  const o = obj(v);
  const slot = o && parseSlot(o);
  if (!o || !slot) return undefined;
  if (typeof o.token !== 'string' || !QUOTE_TOKEN_RE.test(o.token) || typeof o.dxlinkUrl !== 'string' || !DXLINK_URL_RE.test(o.dxlinkUrl)) return undefined;
  if (!isDate(o.issuedAt) || !isDate(o.expiresAt)) return undefined;
  const level = typeof o.level === 'string' && /^[\w.-]{1,40}$/.test(o.level) ? o.level : 'unknown';
  return { ...slot, token: o.token, dxlinkUrl: o.dxlinkUrl, level, issuedAt: o.issuedAt, expiresAt: o.expiresAt };
}

function parseRejection(v: unknown): HeldRejection | undefined {
  const o = obj(v);
  const slot = o && parseSlot(o);
  if (!o || !slot || !isDate(o.at) || typeof o.description !== 'string') return undefined;
  const r: HeldRejection = { ...slot, at: o.at, code: isStr(o.code) ? o.code.slice(0, 60) : 'invalid_grant', description: o.description.slice(0, 300) };
  if (isFp(o.legacyFp)) r.legacyFp = o.legacyFp;
  return r;
}

function parseBinding(v: unknown): KeychainBinding | undefined {
  const o = obj(v);
  if (!o || !isEnvironment(o.env) || !isStr(o.service) || !isFp(o.fp) || !isDate(o.at)) return undefined;
  return { env: o.env, service: o.service, fp: o.fp, at: o.at };
}

function parseGrant(v: unknown): GrantRecord | undefined {
  const o = obj(v);
  if (!o || !isStr(o.grantId) || o.grantId.length > 100 || !isEnvironment(o.env) || !isStr(o.api) || o.api.length > 300 || !isDate(o.at)) return undefined;
  return { grantId: o.grantId, env: o.env, api: o.api, at: o.at };
}

function list<T>(v: unknown, parse: (x: unknown) => T | undefined): T[] {
  return Array.isArray(v) ? v.map(parse).filter((x): x is T => x !== undefined) : [];
}

/**
 * Version 1 kept one token and one rejection per environment under an unkeyed fingerprint and no API.
 * Its tokens are dropped (a mint costs one request); its rejections are kept, matched by the old fingerprint at any
 * API of their environment, so a rejected grant is not resent because of an upgrade.
 */
function migrateV1(o: Record<string, unknown>): State {
  const state = emptyState();
  const envs = obj(o.environments) ?? {};
  for (const [env, v] of Object.entries(envs)) {
    const r = obj(obj(v)?.rejection);
    if (!isEnvironment(env) || !r || !isFp(r.fingerprint) || !isDate(r.at) || typeof r.description !== 'string') continue;
    state.rejections.push({
      env,
      api: '*',
      fp: r.fingerprint,
      legacyFp: r.fingerprint,
      at: r.at,
      code: isStr(r.code) ? r.code.slice(0, 60) : 'invalid_grant',
      description: r.description.slice(0, 300),
    });
  }
  return state;
}

/** Read the state. A missing file is empty; a damaged one is empty with a problem to warn about once. */
/** How readState reads: the platform and sleep of the Windows retry, and the file read; injected by unit tests. */
export interface StateReadOps extends BusyOps {
  read: (path: string) => string | undefined;
}

export function readState(dir: string, ops?: StateReadOps): { state: State; problem?: string; migrated?: boolean } {
  const path = statePath(dir);
  let text: string | undefined;
  try {
    // Windows: a file being replaced by another process's write can refuse a read for an instant; an unreadable
    // state is treated as empty and rewritten after a mint, which would drop held rejections, so retry first.
    text = ops ? retryWhileBusy(() => ops.read(path), ops) : retryWhileBusy(() => readFileIfExists(path));
  } catch (e) {
    return { state: emptyState(), problem: `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (text === undefined) return { state: emptyState() };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { state: emptyState(), problem: `${path} is damaged (not JSON)` };
  }
  const o = obj(raw);
  if (!o) return { state: emptyState(), problem: `${path} is damaged (not an object)` };
  if (o.version === 1) return { state: migrateV1(o), migrated: true };
  if (o.version !== STATE_VERSION) return { state: emptyState(), problem: `${path} has an unknown version (${JSON.stringify(o.version)?.slice(0, 20)})` };
  if (typeof o.key !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(o.key)) return { state: emptyState(), problem: `${path} is damaged (no key)` };
  return {
    state: {
      version: STATE_VERSION,
      key: o.key,
      tokens: list(o.tokens, parseToken),
      rejections: list(o.rejections, parseRejection),
      keychain: list(o.keychain, parseBinding),
      grants: list(o.grants, parseGrant),
      quoteTokens: list(o.quoteTokens, parseQuoteToken),
    },
  };
}

/** Bounded garbage collection: expired tokens go; beyond the caps, the oldest entries go. */
export function collect(state: State, now: number): State {
  const tokens = state.tokens.filter((t) => Date.parse(t.expiresAt) > now).sort((a, b) => Date.parse(b.mintedAt) - Date.parse(a.mintedAt));
  const rejections = [...state.rejections].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  const keychain = [...state.keychain].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  const grants = [...state.grants].sort((a, b) => Date.parse(b.at) - Date.parse(a.at));
  const quoteTokens = state.quoteTokens.filter((t) => Date.parse(t.expiresAt) > now).sort((a, b) => Date.parse(b.issuedAt) - Date.parse(a.issuedAt));
  return {
    version: STATE_VERSION,
    key: state.key,
    tokens: tokens.slice(0, MAX_TOKENS),
    rejections: rejections.slice(0, MAX_REJECTIONS),
    keychain: keychain.slice(0, MAX_BINDINGS),
    grants: grants.slice(0, MAX_GRANTS),
    quoteTokens: quoteTokens.slice(0, MAX_QUOTE_TOKENS),
  };
}

export function writeState(dir: string, state: State, now = Date.now()): void {
  writeFileAtomic(statePath(dir), `${JSON.stringify(collect(state, now), null, 2)}\n`);
}

/** The life tastytrade gave the token (expires_in), as recorded. */
export function lifetimeMs(t: Pick<CachedToken, 'expiresAt' | 'mintedAt'>): number {
  return Date.parse(t.expiresAt) - Date.parse(t.mintedAt);
}

/** Seconds of margin: a token with this much or less left is not reused (60 s, less for very short lifetimes). */
export function reuseMarginMs(t: Pick<CachedToken, 'expiresAt' | 'mintedAt'>): number {
  return Math.min(60_000, Math.max(0, lifetimeMs(t) / 4));
}

/** Tolerance for a clock read a little before the mint was recorded (another process, a slewing clock). */
export const CLOCK_TOLERANCE_MS = 1_000;

/**
 * Life left, by the local clock. A token whose mint lies in the future, or that would live longer than tastytrade
 * gave it, comes from a clock that was stepped back: it counts as expired (0).
 */
export function remainingMs(t: Pick<CachedToken, 'expiresAt' | 'mintedAt'>, now: number): number {
  const minted = Date.parse(t.mintedAt);
  if (now < minted - CLOCK_TOLERANCE_MS) return 0;
  return Math.max(0, Math.min(Date.parse(t.expiresAt) - now, lifetimeMs(t)));
}
