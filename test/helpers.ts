// Shared test helpers: spawn the built CLI with an isolated config dir against the emulator.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import type { SecretStore, StoredSecrets } from '../src/auth/keychain.ts';
import type { Environment } from '../src/config.ts';
import type { Io } from '../src/context.ts';
import type { Choice, Prompter } from '../src/prompt.ts';
import { Emulator, type EmulatorOptions } from './emulator/emulator.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BIN = join(ROOT, 'bin', 'tasty.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Every captured output, for the end-of-suite secret scan. */
export const captured: string[] = [];

/** True inside scripts/with-keyring.sh (a private D-Bus session with a throw-away gnome-keyring). */
export const KEYRING_SESSION = process.env.TASTY_IN_KEYRING_SESSION === '1';
/**
 * CI must run the keychain tests, never skip them. The Secret Service (gnome-keyring) ones exist on Linux only: on
 * macOS and Windows runners test/os-keychain.test.ts drives the system's own keychain instead.
 */
export const KEYRING_REQUIRED = process.platform === 'linux' && (process.env.CI === 'true' || process.env.TASTY_TEST_KEYCHAIN === 'required');

/** Every temp dir made by tmpDir(), removed after the file's tests (each test file evaluates this module anew). */
const tmpDirs = new Set<string>();
/** Every child spawned through spawnTracked() that has not exited yet: killed after each test, passed or failed. */
const live = new Set<ChildProcess>();

export function tmpDir(prefix = 'tasty-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.add(d);
  return d;
}

/** spawn(), with the child killed (SIGKILL) in teardown if the test ends, by an assertion or a timeout, before it does. */
export function spawnTracked(command: string, args: string[], o: SpawnOptions): PipedChild {
  // Typed as piped: the callers that ask for 'ignore' never touch those streams.
  const child = spawn(command, args, o) as PipedChild;
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

export type PipedChild = ChildProcess & { stdin: Writable; stdout: Readable; stderr: Readable };

/** The built CLI as a background child (watch loops, signals), tracked like every other. */
export function spawnTasty(args: string[], env: Record<string, string | undefined>, stdio: SpawnOptions['stdio'] = ['ignore', 'pipe', 'pipe']): PipedChild {
  return spawnTracked(process.execPath, [BIN, ...args], { env: baseEnv(env), stdio });
}

afterEach(() => {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
});

afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  tmpDirs.clear();
});

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string;
  timeoutMs?: number;
  cwd?: string;
}

/** The environment a spawned tasty sees: nothing of the parent's TASTY_* or proxies. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
  };
  // Only the private keyring session of scripts/with-keyring.sh: tests never touch a developer's own keyring.
  if (KEYRING_SESSION && process.env.DBUS_SESSION_BUS_ADDRESS) env.DBUS_SESSION_BUS_ADDRESS = process.env.DBUS_SESSION_BUS_ADDRESS;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runTasty(args: string[], o: RunOptions = {}): Promise<RunResult> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawnTracked(process.execPath, [BIN, ...args], {
      env: baseEnv(o.env),
      cwd: o.cwd ?? ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      captured.push(stdout, stderr);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start });
    });
    const stdin = child.stdin;
    stdin.on('error', () => {});
    if (o.input !== undefined) stdin.end(o.input);
    else stdin.end();
  });
}

/** Leak scan of every output of a fixture's runs: secrets never appear, access tokens only on `tasty token`'s stdout. */
export const scan = { outputs: 0, hits: 0 };

export function leaks(r: RunResult, args: string[], secrets: string[], accessTokens: string[], quoteTokens: string[] = []): string[] {
  const found: string[] = [];
  const tokenStdoutAllowed = args.includes('token');
  // The quote token is a credential too: only `tasty quote-token`'s stdout may carry it.
  for (const [name, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    if (name === 'stdout' && args.includes('quote-token')) continue;
    for (const q of quoteTokens) if (text.includes(q)) found.push(`a quote token in ${name}`);
  }
  for (const [name, text] of [['stdout', r.stdout], ['stderr', r.stderr]] as const) {
    scan.outputs++;
    secrets.forEach((s, i) => {
      if (s && text.includes(s)) found.push(`secret #${i} in ${name}`);
    });
    if (!(name === 'stdout' && tokenStdoutAllowed)) {
      for (const t of accessTokens) if (text.includes(t)) found.push(`an access token in ${name}`);
    }
  }
  scan.hits += found.length;
  const log = process.env.TASTY_SCAN_LOG;
  if (log) appendFileSync(log, `${2} ${found.length}\n`);
  return found;
}

export interface Fixture {
  emu: Emulator;
  dir: string;
  /** Environment for a logged-in-by-env-vars run against the emulator. */
  env: Record<string, string>;
  run: (args: string[], o?: RunOptions) => Promise<RunResult>;
  cleanup: () => Promise<void>;
}

/**
 * The usual lifecycle: a fresh fixture before each test (or once for the file with `once`), cleaned up after.
 * Returns one stable object, refilled for every test, so files can hold it in a const.
 */
export function useFixture(o: EmulatorOptions = {}, opts: { withCreds?: boolean; once?: boolean } = {}): Fixture {
  const f = {} as Fixture;
  const [before, after] = opts.once ? [beforeAll, afterAll] : [beforeEach, afterEach];
  before(async () => {
    Object.assign(f, await fixture(o, opts.withCreds !== false));
  });
  after(async () => {
    await f.cleanup();
  });
  return f;
}

/** An in-process emulator for the file: started before all tests, reset (faults, counts, revoked grants) before each. */
export function useEmulator(o: EmulatorOptions = {}): Emulator {
  const emu = new Emulator(o);
  beforeAll(async () => {
    await emu.start();
  });
  afterAll(async () => {
    await emu.stop();
  });
  beforeEach(() => {
    emu.reset();
    emu.revokedGrants.clear();
  });
  return emu;
}

export async function fixture(o: EmulatorOptions = {}, withCreds = true): Promise<Fixture> {
  const emu = await new Emulator(o).start();
  const dir = tmpDir();
  const env: Record<string, string> = {
    TASTY_CONFIG_DIR: dir,
    // Each fixture its own keychain entries: test files run in parallel against one keyring.
    TASTY_KEYCHAIN_SERVICE: `tasty-test-${randomBytes(5).toString('hex')}`,
    TASTY_API_URL: emu.url,
    TASTY_ENV: emu.environment,
  };
  if (withCreds) {
    env.TASTY_CLIENT_SECRET = emu.clientSecret;
    env.TASTY_REFRESH_TOKEN = emu.refreshToken;
  }
  return {
    emu,
    dir,
    env,
    run: async (args, ro = {}) => {
      const r = await runTasty(args, { ...ro, env: { ...env, ...ro.env } });
      const found = leaks(r, args, [emu.clientSecret, emu.refreshToken], emu.issuedTokens(), emu.quoteTokens);
      if (found.length) throw new Error(`tasty ${args.join(' ')} leaked: ${found.join(', ')}`);
      return r;
    },
    cleanup: async () => {
      await emu.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An in-memory keychain for in-process tests (the real one is tested in keychain and login tests). */
export class MemoryStore implements SecretStore {
  readonly name: string;
  readonly data = new Map<Environment, StoredSecrets>();
  reads = 0;
  constructor(name = 'test keychain') {
    this.name = name;
  }
  async get(e: Environment) {
    this.reads++;
    return this.data.get(e);
  }
  async set(e: Environment, s: StoredSecrets) {
    this.data.set(e, s);
  }
  async delete(e: Environment) {
    return this.data.delete(e);
  }
}

/** Poll until `ok()` holds (instead of a fixed sleep); throws after `ms`. */
export async function waitFor(ok: () => boolean, ms = 10_000, every = 50): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`waitFor: not true within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** An in-process run of the CLI (src/cli.ts `run`) with injected streams, prompts and keychain. */
export interface Harness {
  out: { text: string };
  err: { text: string };
  /** Every prompt shown, in order: its message, and for a select the choice the cursor started on. */
  asked: Array<{ message: string; initial?: unknown }>;
  /** TASTY_CONFIG_DIR (a fresh temp dir unless the env names one). */
  dir: string;
  store: SecretStore | undefined;
  io: Io;
  run: (args: string[]) => Promise<number>;
}

/**
 * The one in-process harness. `tty` (default true) marks stdout/stderr as terminals; `prompter` answers the prompts
 * it implements (a select or secret it lacks fails the test, an unanswered confirm is "no"); `store` is the keychain
 * (default a fresh MemoryStore; null: none injected, the real one).
 */
export function inProcess(
  o: { env?: Record<string, string | undefined>; tty?: boolean; prompter?: Partial<Prompter>; store?: SecretStore | null; onInterrupt?: Io['onInterrupt']; stdin?: Io['stdin'] } = {},
): Harness {
  const out = { text: '' };
  const err = { text: '' };
  const asked: Harness['asked'] = [];
  const p = o.prompter ?? {};
  const prompter: Prompter = {
    async select<T>(message: string, choices: Choice<T>[], initial?: T) {
      asked.push({ message, initial });
      if (!p.select) throw new Error(`not asked: ${message}`);
      return p.select(message, choices, initial);
    },
    async secret(message, so) {
      asked.push({ message });
      if (!p.secret) throw new Error(`not asked: ${message}`);
      return p.secret(message, so);
    },
    async confirm(message) {
      asked.push({ message });
      return p.confirm ? p.confirm(message) : false;
    },
  };
  const dir = o.env?.TASTY_CONFIG_DIR ?? tmpDir();
  const tty = o.tty !== false;
  const store = o.store === null ? undefined : (o.store ?? new MemoryStore());
  const io: Io = {
    env: { TASTY_CONFIG_DIR: dir, ...o.env },
    stdin: o.stdin ?? Object.assign(new PassThrough(), { isTTY: tty }),
    stdout: {
      write: (s: string) => {
        out.text += s;
        return true;
      },
      isTTY: tty,
    },
    stderr: {
      write: (s: string) => {
        err.text += s;
        return true;
      },
      isTTY: tty,
    },
    ...(store ? { keychain: async () => store } : {}),
    prompter,
    onInterrupt: o.onInterrupt,
  };
  return {
    out,
    err,
    asked,
    dir,
    store,
    io,
    run: async (args) => {
      const { run } = await import('../src/cli.ts');
      return run(['node', 'tasty', ...args], io);
    },
  };
}

/** The two lines every error prints (`tasty: …` then `hint: …`), asserted, then returned. */
export function twoLines(stderr: string): [string, string] {
  const lines = stderr.trimEnd().split('\n');
  expect(lines, stderr).toHaveLength(2);
  expect(lines[0]).toMatch(/^tasty: \S/);
  expect(lines[1]).toMatch(/^hint: \S/);
  return [lines[0] as string, lines[1] as string];
}
