// The state file: cached access tokens and held rejections per environment. Never a refresh token or secret.
import { join } from 'node:path';
import { type Environment, ENVIRONMENTS, isEnvironment, readFileIfExists, writeFileAtomic } from '../config.ts';

export const STATE_FILE = 'state.json';
export const STATE_VERSION = 1;

export type SourceKind = 'env' | 'keychain' | 'file';

export interface CachedToken {
  accessToken: string;
  tokenType: string;
  /** Absolute expiry by the local clock: time of receipt + expires_in. */
  expiresAt: string;
  mintedAt: string;
  /** Fingerprint of the credentials (refresh token + client secret) it was minted from. */
  fingerprint: string;
  source: SourceKind;
}

export interface HeldRejection {
  fingerprint: string;
  at: string;
  code: string;
  description: string;
}

export interface EnvState {
  token?: CachedToken;
  rejection?: HeldRejection;
}

export interface State {
  version: number;
  environments: Partial<Record<Environment, EnvState>>;
}

export function emptyState(): State {
  return { version: STATE_VERSION, environments: {} };
}

export function statePath(dir: string): string {
  return join(dir, STATE_FILE);
}

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

function parseToken(v: unknown): CachedToken | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!isStr(o.accessToken) || !isStr(o.expiresAt) || !isStr(o.mintedAt) || !isStr(o.fingerprint)) return undefined;
  if (Number.isNaN(Date.parse(o.expiresAt)) || Number.isNaN(Date.parse(o.mintedAt))) return undefined;
  const source = o.source === 'env' || o.source === 'keychain' || o.source === 'file' ? o.source : undefined;
  if (!source) return undefined;
  return {
    accessToken: o.accessToken,
    tokenType: isStr(o.tokenType) ? o.tokenType : 'Bearer',
    expiresAt: o.expiresAt,
    mintedAt: o.mintedAt,
    fingerprint: o.fingerprint,
    source,
  };
}

function parseRejection(v: unknown): HeldRejection | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!isStr(o.fingerprint) || !isStr(o.at) || typeof o.description !== 'string') return undefined;
  return { fingerprint: o.fingerprint, at: o.at, code: isStr(o.code) ? o.code : 'invalid_grant', description: o.description.slice(0, 300) };
}

/** Read the state. A missing file is empty; a damaged one is empty with a problem to warn about once. */
export function readState(dir: string): { state: State; problem?: string } {
  const path = statePath(dir);
  let text: string | undefined;
  try {
    text = readFileIfExists(path);
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
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { state: emptyState(), problem: `${path} is damaged (not an object)` };
  const o = raw as Record<string, unknown>;
  if (o.version !== STATE_VERSION) return { state: emptyState(), problem: `${path} has an unknown version (${JSON.stringify(o.version)?.slice(0, 20)})` };
  const state = emptyState();
  const envs = o.environments;
  if (typeof envs === 'object' && envs !== null) {
    for (const [k, v] of Object.entries(envs as Record<string, unknown>)) {
      if (!isEnvironment(k) || typeof v !== 'object' || v === null) continue;
      const e = v as Record<string, unknown>;
      const es: EnvState = {};
      const token = parseToken(e.token);
      const rejection = parseRejection(e.rejection);
      if (token) es.token = token;
      if (rejection) es.rejection = rejection;
      state.environments[k] = es;
    }
  }
  return { state };
}

export function writeState(dir: string, state: State): void {
  const clean: State = { version: STATE_VERSION, environments: {} };
  for (const e of ENVIRONMENTS) {
    const es = state.environments[e];
    if (es && (es.token || es.rejection)) clean.environments[e] = es;
  }
  writeFileAtomic(statePath(dir), `${JSON.stringify(clean, null, 2)}\n`);
}

/** Seconds of margin: a token with this much or less left is not reused (60 s, less for very short lifetimes). */
export function reuseMarginMs(t: CachedToken): number {
  const lifetime = Date.parse(t.expiresAt) - Date.parse(t.mintedAt);
  return Math.min(60_000, Math.max(0, lifetime / 4));
}

export function remainingMs(t: CachedToken, now: number): number {
  return Date.parse(t.expiresAt) - now;
}
