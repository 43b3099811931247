// Environments, the config directory, and atomic 0600 file writes.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './errors.ts';

import { BASE_URLS, ENVIRONMENTS, type Environment, PINNED_API_VERSION } from './environments.ts';

export { BASE_URLS, ENVIRONMENTS, type Environment, PINNED_API_VERSION };

export function isEnvironment(v: unknown): v is Environment {
  return typeof v === 'string' && (ENVIRONMENTS as readonly string[]).includes(v);
}

export function parseEnvironment(v: string, from: string): Environment {
  const t = v.trim().toLowerCase();
  if (isEnvironment(t)) return t;
  throw new UsageError(
    `${from} must be one of ${ENVIRONMENTS.join(', ')}, not ${JSON.stringify(v.slice(0, 40))}`,
    'use --env production or --env sandbox',
  );
}

/** The process environment variables this tool reads. Injected everywhere, never read ad hoc. */
export type Env = Record<string, string | undefined>;

export function configDir(env: Env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  const override = env.TASTY_CONFIG_DIR;
  if (override !== undefined && override !== '') return override;
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'tasty');
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), 'tasty');
  const xdg = env.XDG_CONFIG_HOME;
  return join(xdg?.startsWith('/') ? xdg : join(home, '.config'), 'tasty');
}

export function ensureDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is filtered by the umask; the directory holds secrets, so make it exact.
  try {
    const st = fs.lstatSync(dir);
    if (st.isDirectory() && (st.mode & 0o077) !== 0 && process.platform !== 'win32') fs.chmodSync(dir, 0o700);
  } catch {
    /* reported by the write that follows */
  }
}

/**
 * Write a file atomically with mode 0600: a temp file beside it, fsync, rename over the target.
 * A symlink at the target is replaced, never written through.
 */
export function writeFileAtomic(path: string, data: string): void {
  const dir = join(path, '..');
  ensureDir(dir);
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  try {
    try {
      fs.fchmodSync(fd, 0o600);
      const buf = Buffer.from(data);
      // writeSync may write less than asked (a filling disk): loop, and fail rather than leave a short file.
      for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    renameWithRetry(tmp, path);
  } catch (e) {
    // Never leave a temp file behind (a full disk would otherwise collect empty ones).
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  sweepTempFiles(path);
}

export interface RenameOps {
  platform: NodeJS.Platform;
  rename: (from: string, to: string) => void;
  sleep: (ms: number) => void;
}

const sleepSync = (ms: number) => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** Backoff of a rename refused on Windows (about 1.1 s in all). */
export const WIN_RENAME_DELAYS_MS = [5, 10, 20, 40, 80, 160, 320, 500];

/** Windows' answers for a file another process holds open (or that is being deleted while open). */
export const WIN_BUSY_CODES = ['EPERM', 'EACCES', 'EBUSY'];

export interface BusyOps {
  platform: NodeJS.Platform;
  sleep: (ms: number) => void;
}

const realBusyOps: BusyOps = { platform: process.platform, sleep: sleepSync };

/**
 * Run a file operation; on Windows retry it while another process holds the file (EPERM/EACCES/EBUSY) with a bounded
 * backoff (about a second), elsewhere once. Readers and writers of state.json hold it for microseconds.
 */
export function retryWhileBusy<T>(fn: () => T, o: BusyOps = realBusyOps): T {
  const delays = o.platform === 'win32' ? WIN_RENAME_DELAYS_MS : [];
  for (let i = 0; ; i++) {
    try {
      return fn();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      const delay = delays[i];
      if (delay === undefined || !WIN_BUSY_CODES.includes(code)) throw e;
      o.sleep(delay);
    }
  }
}

/**
 * Rename over an existing file. On Windows, MoveFileExW(REPLACE_EXISTING) refuses a target that another process has
 * open (EPERM/EACCES/EBUSY): readers of state.json hold it for microseconds, so retry with a bounded backoff there.
 */
export function renameWithRetry(from: string, to: string, o: RenameOps = { platform: process.platform, rename: fs.renameSync, sleep: sleepSync }): void {
  retryWhileBusy(() => o.rename(from, to), o);
}

/** Remove temp files a killed writer left beside `path` (its pid is gone). Writes only: never on the hot path. */
function sweepTempFiles(path: string): void {
  const dir = join(path, '..');
  const base = path.slice(dir.length + 1);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^(.+)\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name);
    if (!m || m[1] !== base) continue;
    const pid = Number(m[2]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) fs.rmSync(join(dir, name), { force: true });
  }
}

/**
 * Read a small file as text; undefined when it does not exist. Symlinks are not followed, and the open never blocks
 * (a FIFO put where a file should be would otherwise hang the reader until someone writes to it): anything that is
 * not a regular file reads as unreadable garbage ('').
 */
export function readFileIfExists(path: string, maxBytes = 1 << 20): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') return ''; // a symlink: treated as unreadable garbage by callers
    throw e;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return '';
    const len = Math.min(st.size, maxBytes + 1);
    const buf = Buffer.alloc(len);
    const n = fs.readSync(fd, buf, 0, len, 0);
    if (n > maxBytes) return '';
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

// ---- config.json: user preferences (default environment, default account per environment) ----

export interface UserConfig {
  defaultEnvironment?: Environment;
  defaultAccounts?: Partial<Record<Environment, string>>;
}

export const CONFIG_FILE = 'config.json';

export function readUserConfig(dir: string, warn?: (msg: string) => void): UserConfig {
  const path = join(dir, CONFIG_FILE);
  let text: string | undefined;
  try {
    text = readFileIfExists(path);
  } catch {
    text = '';
  }
  if (text === undefined) return {};
  try {
    const raw = JSON.parse(text) as unknown;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not an object');
    const o = raw as Record<string, unknown>;
    const out: UserConfig = {};
    if (isEnvironment(o.defaultEnvironment)) out.defaultEnvironment = o.defaultEnvironment;
    if (typeof o.defaultAccounts === 'object' && o.defaultAccounts !== null) {
      const accts: Partial<Record<Environment, string>> = {};
      for (const e of ENVIRONMENTS) {
        const v = (o.defaultAccounts as Record<string, unknown>)[e];
        if (typeof v === 'string' && ACCOUNT_RE.test(v)) accts[e] = v;
      }
      out.defaultAccounts = accts;
    }
    return out;
  } catch {
    warn?.(`warning: ${path} is not valid JSON; ignoring it (it is rewritten by \`tasty env use\`)`);
    return {};
  }
}

export function writeUserConfig(dir: string, cfg: UserConfig): void {
  writeFileAtomic(join(dir, CONFIG_FILE), `${JSON.stringify(cfg, null, 2)}\n`);
}

export const ACCOUNT_RE = /^[A-Za-z0-9]{5,12}$/;

// ---- environment selection and base URL ----

export type EnvSource = 'flag' | 'TASTY_ENV' | 'saved default' | 'built-in default';

export interface EnvChoice {
  environment: Environment;
  source: EnvSource;
}

export function selectEnvironment(flag: string | undefined, env: Env, cfg: UserConfig): EnvChoice {
  if (flag !== undefined) return { environment: parseEnvironment(flag, '--env'), source: 'flag' };
  const fromEnv = env.TASTY_ENV;
  if (fromEnv !== undefined && fromEnv !== '') return { environment: parseEnvironment(fromEnv, 'TASTY_ENV'), source: 'TASTY_ENV' };
  if (cfg.defaultEnvironment) return { environment: cfg.defaultEnvironment, source: 'saved default' };
  return { environment: 'production', source: 'built-in default' };
}

/**
 * The environment class of a URL's host (an API base URL, a token's issuer): compared as classes, never as hosts —
 * refresh tokens are issued by api.tastytrade.com while the production API is api.tastyworks.com.
 */
export function environmentClass(url: string | undefined): Environment | undefined {
  let host: string;
  try {
    host = new URL(url ?? '').hostname.toLowerCase();
  } catch {
    return undefined;
  }
  if (!/(^|\.)(tastyworks|tastytrade)\.com$/.test(host)) return undefined;
  return /(^|\.)(cert|sandbox)\./.test(host) ? 'sandbox' : 'production';
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

/** Validate TASTY_API_URL: https anywhere, plain http only on loopback. Returns the origin (+ path prefix). */
export function parseApiUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value.trim());
  } catch {
    throw new UsageError(`TASTY_API_URL is not a URL: ${JSON.stringify(value.slice(0, 80))}`, 'e.g. TASTY_API_URL=https://api.cert.tastyworks.com');
  }
  if (u.username || u.password) throw new UsageError('TASTY_API_URL must not contain credentials', 'remove the user:password@ part');
  if (u.search || u.hash) throw new UsageError('TASTY_API_URL must not contain a query or fragment', 'give just the scheme, host and port');
  if (u.protocol === 'http:') {
    if (!isLoopbackHost(u.hostname)) {
      throw new UsageError(
        `TASTY_API_URL must use https:// (plain http:// is allowed only for loopback hosts): ${u.origin}`,
        'use an https:// URL',
      );
    }
  } else if (u.protocol !== 'https:') {
    throw new UsageError(`TASTY_API_URL must be an http(s) URL, not ${u.protocol}`, 'use an https:// URL');
  }
  return (u.origin + u.pathname).replace(/\/+$/, '');
}

export function resolveBaseUrl(environment: Environment, env: Env): { baseUrl: string; overridden: boolean } {
  const o = env.TASTY_API_URL;
  if (o !== undefined && o !== '') return { baseUrl: parseApiUrl(o), overridden: true };
  return { baseUrl: BASE_URLS[environment], overridden: false };
}

export const DEFAULT_TIMEOUT_S = 15;

/** `--min-ttl <seconds>`: a whole number of seconds, 0 to 86400. */
export function parseSeconds(value: string, from: string): number {
  const t = value.trim();
  const n = /^\d{1,6}$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isInteger(n) || n > 86_400) {
    throw new UsageError(`${from} must be a whole number of seconds, not ${JSON.stringify(value.slice(0, 40))}`, `e.g. ${from} 300`);
  }
  return n;
}

export function parseTimeout(value: string, from: string): number {
  const t = value.trim();
  const n = /^\d+(\.\d+)?$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0 || n > 600) {
    throw new UsageError(`${from} must be a number of seconds above 0 and at most 600, not ${JSON.stringify(value.slice(0, 40))}`, 'e.g. --timeout 30');
  }
  return n;
}

/*
 * PINNED_API_VERSION (environments.ts) is sent as `Accept-Version` on production data requests. Without the header
 * tastytrade serves its OLDEST version, and old versions are removed after 9 months of deprecation. 20251101 is the
 * version tastyware/tastytrade pins (and runs its live test suite against); from it on `/balances` answers one item
 * per currency, which `getBalances` handles.
 */

export type ApiVersionSource = '--api-version' | 'TASTY_API_VERSION' | 'pinned' | 'none';

export interface ApiVersionChoice {
  /** The Accept-Version to send, or undefined to send none. */
  version: string | undefined;
  source: ApiVersionSource;
}

/** A YYYYMMDD that is a real calendar date. */
export function parseApiVersion(value: string, from: string): string {
  const t = value.trim();
  const m = /^(\d{4})(\d{2})(\d{2})$/.exec(t);
  const ok = m !== null && (() => {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const date = new Date(Date.UTC(y, mo - 1, d));
    return y >= 2000 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 && date.getUTCDate() === d;
  })();
  if (!ok) {
    throw new UsageError(`${from} must be an API version date YYYYMMDD, not ${JSON.stringify(value.slice(0, 40))}`, `e.g. ${from === '--api-version' ? '--api-version ' : `${from}=`}${PINNED_API_VERSION} (the version tasty is tested with)`);
  }
  return t;
}

/**
 * The Accept-Version for an environment: --api-version, then TASTY_API_VERSION, then the pinned version in
 * production. The sandbox gets the header only when it was set explicitly (peers found it refused there).
 */
export function resolveApiVersion(environment: Environment, flag: string | undefined, env: Env): ApiVersionChoice {
  if (flag !== undefined) return { version: parseApiVersion(flag, '--api-version'), source: '--api-version' };
  const e = env.TASTY_API_VERSION;
  if (e !== undefined && e !== '') return { version: parseApiVersion(e, 'TASTY_API_VERSION'), source: 'TASTY_API_VERSION' };
  return environment === 'production' ? { version: PINNED_API_VERSION, source: 'pinned' } : { version: undefined, source: 'none' };
}
