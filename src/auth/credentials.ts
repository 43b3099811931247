// Credential sources, in order: environment variables, the plaintext file (only if chosen at login), the keychain.
// An environment's stored secrets live in exactly one store: login removes them from the other one.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { type Env, type Environment, ENVIRONMENTS, readFileIfExists, writeFileAtomic } from '../config.ts';
import { TastyError } from '../errors.ts';
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

/** Variables that hold credentials for every environment (the names tastytrade's own tools use too). */
export const ENV_PAIRS = [
  ['TASTY_CLIENT_SECRET', 'TASTY_REFRESH_TOKEN'],
  ['TASTYTRADE_CLIENT_SECRET', 'TASTYTRADE_REFRESH_TOKEN'],
] as const;

/** Variables that hold one environment's credentials; they outrank the generic pairs for that environment. */
export function envPairFor(environment: Environment): readonly [string, string] {
  const e = environment.toUpperCase();
  return [`TASTY_${e}_CLIENT_SECRET`, `TASTY_${e}_REFRESH_TOKEN`];
}

export interface EnvLookup {
  credentials?: Credentials;
  /** A variable set without its partner, worth a warning. */
  incomplete?: string;
}

/**
 * Credentials from environment variables: `TASTY_<ENVIRONMENT>_CLIENT_SECRET` + `…_REFRESH_TOKEN` for that
 * environment, then the generic pairs. Without an environment, the generic pairs only.
 */
export function fromEnv(env: Env, environment?: Environment): EnvLookup {
  let incomplete: string | undefined;
  const pairs = environment ? [envPairFor(environment), ...ENV_PAIRS] : ENV_PAIRS;
  for (const [s, r] of pairs) {
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

/**
 * Plaintext secrets are used only from a private file in a private directory of this user: a credentials file
 * that others can read, or one in a directory owned by someone else, is refused (never used silently).
 */
export function checkPrivate(dir: string, path: string, platform: NodeJS.Platform = process.platform, uid = process.getuid?.()): void {
  if (platform === 'win32' || uid === undefined) return;
  const quoted = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
  let st: fs.Stats;
  let dst: fs.Stats;
  try {
    st = fs.lstatSync(path);
    dst = fs.statSync(dir);
  } catch {
    return; // gone meanwhile: the read reports it
  }
  if (dst.uid !== uid || st.uid !== uid) {
    throw new TastyError(`${path} is owned by another user (uid ${st.uid === uid ? dst.uid : st.uid}); tasty does not use secrets it does not own`, 2, {
      hint: `point TASTY_CONFIG_DIR at a directory of your own, or run \`tasty login --insecure-storage\` again as this user`,
      cause: 'credentials_file_foreign',
    });
  }
  if ((st.mode & 0o077) !== 0) {
    throw new TastyError(`${path} is readable by others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}); tasty does not use secrets others can read`, 2, {
      hint: `run \`chmod 600 ${quoted(path)}\` (and consider the grant exposed: create a new one), or \`tasty logout\``,
      cause: 'credentials_file_exposed',
    });
  }
}

function readFileStore(dir: string, check = true): FileShape {
  const path = credentialsPath(dir);
  const text = readFileIfExists(path);
  if (text === undefined) return { version: 1, environments: {} };
  if (check) checkPrivate(dir, path);
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
  // A login killed between writing its temp file and the rename leaves plaintext secrets beside the file.
  let swept = false;
  for (const name of safeReaddir(dir)) {
    if (/^credentials\.json\.\d+\.[0-9a-f]{8}\.tmp$/.test(name)) {
      fs.rmSync(join(dir, name), { force: true });
      swept = true;
    }
  }
  if (readFileIfExists(path) === undefined) return swept;
  const cur = readFileStoreLenient(dir);
  const had = cur.environments[environment] !== undefined;
  delete cur.environments[environment];
  if (ENVIRONMENTS.every((e) => cur.environments[e] === undefined)) fs.rmSync(path, { force: true });
  else if (had) writeFileAtomic(path, `${JSON.stringify(cur, null, 2)}\n`);
  return had || swept;
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function readFileStoreLenient(dir: string): FileShape {
  try {
    return readFileStore(dir, false);
  } catch {
    return { version: 1, environments: {} };
  }
}
