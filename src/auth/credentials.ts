// Credential sources, in order: environment variables, the plaintext file (only if chosen at login), the keychain.
// An environment's stored secrets live in exactly one store: login removes them from the other one.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type Env, type Environment, ENVIRONMENTS, readFileIfExists, writeFileAtomic } from '../config.ts';
import { TastyError } from '../errors.ts';
import { fingerprint } from './jwt.ts';
import type { StoredSecrets } from './keychain.ts';
import type { SourceKind } from './state.ts';

export const CREDENTIALS_FILE = 'credentials.json';

export interface Credentials extends StoredSecrets {
  source: SourceKind;
  /** Human description: variable names, keychain backend, or file path. */
  where: string;
}

/** Trim whitespace and one layer of surrounding quotes: the usual copy-paste damage. */
export function cleanSecret(v: string): string {
  let s = v.trim();
  for (let i = 0; i < 2; i++) {
    const m = /^(["'`])([\s\S]*)\1$/.exec(s);
    if (!m) break;
    s = (m[2] ?? '').trim();
  }
  return s;
}

export function credentialFingerprint(c: StoredSecrets): string {
  return fingerprint(`${c.refreshToken}\n${c.clientSecret}`);
}

export const ENV_PAIRS = [
  ['TASTY_CLIENT_SECRET', 'TASTY_REFRESH_TOKEN'],
  ['TASTYTRADE_CLIENT_SECRET', 'TASTYTRADE_REFRESH_TOKEN'],
] as const;

export interface EnvLookup {
  credentials?: Credentials;
  /** A variable set without its partner, worth a warning. */
  incomplete?: string;
}

export function fromEnv(env: Env): EnvLookup {
  let incomplete: string | undefined;
  for (const [s, r] of ENV_PAIRS) {
    const secret = env[s] !== undefined ? cleanSecret(env[s] ?? '') : '';
    const refresh = env[r] !== undefined ? cleanSecret(env[r] ?? '') : '';
    if (secret && refresh) return { credentials: { clientSecret: secret, refreshToken: refresh, source: 'env', where: `environment variables ${s} + ${r}` } };
    if (secret || refresh) incomplete ??= secret ? `${s} is set but ${r} is not` : `${r} is set but ${s} is not`;
  }
  return incomplete ? { incomplete } : {};
}

// ---- the plaintext credentials file (--insecure-storage) ----

export function credentialsPath(dir: string): string {
  return join(dir, CREDENTIALS_FILE);
}

type FileShape = { version: 1; environments: Partial<Record<Environment, StoredSecrets & { storedAt?: string }>> };

function readFileStore(dir: string): FileShape {
  const path = credentialsPath(dir);
  const text = readFileIfExists(path);
  if (text === undefined) return { version: 1, environments: {} };
  try {
    const o = JSON.parse(text) as FileShape;
    if (typeof o !== 'object' || o === null || typeof o.environments !== 'object' || o.environments === null) throw new Error('shape');
    return o;
  } catch {
    throw new TastyError(`${path} is damaged (not the JSON tasty writes)`, 2, {
      hint: `fix or delete it, then run \`tasty login --insecure-storage\` again`,
      cause: 'credentials_file_damaged',
    });
  }
}

export function fromFile(dir: string, environment: Environment): Credentials | undefined {
  const e = readFileStore(dir).environments[environment];
  if (!e || typeof e.clientSecret !== 'string' || typeof e.refreshToken !== 'string') return undefined;
  const clientSecret = cleanSecret(e.clientSecret);
  const refreshToken = cleanSecret(e.refreshToken);
  if (!clientSecret || !refreshToken) return undefined;
  return { clientSecret, refreshToken, source: 'file', where: credentialsPath(dir) };
}

export function writeToFile(dir: string, environment: Environment, s: StoredSecrets, now: Date): void {
  const cur = readFileStoreLenient(dir);
  cur.environments[environment] = { clientSecret: s.clientSecret, refreshToken: s.refreshToken, storedAt: now.toISOString() };
  writeFileAtomic(credentialsPath(dir), `${JSON.stringify(cur, null, 2)}\n`);
}

/** Remove an environment from the file; deletes the file when nothing is left. True when something was removed. */
export function removeFromFile(dir: string, environment: Environment): boolean {
  const path = credentialsPath(dir);
  if (readFileIfExists(path) === undefined) return false;
  const cur = readFileStoreLenient(dir);
  const had = cur.environments[environment] !== undefined;
  delete cur.environments[environment];
  if (ENVIRONMENTS.every((e) => cur.environments[e] === undefined)) fs.rmSync(path, { force: true });
  else if (had) writeFileAtomic(path, `${JSON.stringify(cur, null, 2)}\n`);
  return had;
}

function readFileStoreLenient(dir: string): FileShape {
  try {
    return readFileStore(dir);
  } catch {
    return { version: 1, environments: {} };
  }
}
