// The fast path (src/fast.ts, dist/fast.cjs) against the full CLI: every scenario runs twice, once as users run tasty
// and once with TASTY_NO_FAST_PATH=1 (the documented escape hatch, read only in bin/tasty.js), and stdout, stderr and
// the exit code must be identical. Which path answered is observed from outside: a preload (-r) records at exit whether
// the ES module loader ran (the full CLI is ESM; the fast path is CommonJS and never loads it).
import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, baseEnv, captured, KEYRING_REQUIRED, KEYRING_SESSION, leaks, tmpDir, useFixture } from './helpers.ts';

const f = useFixture({ environment: 'sandbox', expiresIn: 900 });
const probeDir = tmpDir('tasty-fast-probe-');
const probe = join(probeDir, 'probe.cjs');
writeFileSync(
  probe,
  `process.on('exit', () => { require('node:fs').writeFileSync(process.env.PROBE_OUT, process.moduleLoadList.some((m) => m.includes('esm/module_job')) ? 'full' : 'fast'); });\n`,
);
let n = 0;

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
  path: 'fast' | 'full';
}

function tasty(args: string[], env: Record<string, string | undefined>, input?: string): Promise<Out> {
  const out = join(probeDir, `out-${n++}`);
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-r', probe, BIN, ...args], { env: baseEnv({ ...env, PROBE_OUT: out }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    c.on('error', reject);
    c.stdin.on('error', () => {});
    c.stdin.end(input);
    c.on('close', (code) => {
      captured.push(stdout, stderr);
      resolve({ code, stdout, stderr, path: readFileSync(out, 'utf8') as 'fast' | 'full' });
    });
  });
}

/**
 * Run a scenario both ways (the fast one first: a fallback that mints leaves the same cached token for the second) and
 * expect the same answer. Returns the user-facing run.
 */
async function both(args: string[], extra: Record<string, string | undefined> = {}, expectPath?: 'fast' | 'full', before?: () => void): Promise<Out> {
  const env = { ...f.env, ...extra };
  before?.();
  const a = await tasty(args, env);
  before?.();
  const b = await tasty(args, { ...env, TASTY_NO_FAST_PATH: '1' });
  expect(b.path, 'the escape hatch forces the full path').toBe('full');
  // What may differ between two runs: the countdown of the cached token's life (status)…
  const same = (o: Out) => ({ code: o.code, stdout: countdown(o.stdout), stderr: countdown(o.stderr) });
  expect(same(a), `tasty ${args.join(' ')}`).toEqual(same(b));
  if (expectPath) expect(a.path, `tasty ${args.join(' ')} answered by`).toBe(expectPath);
  const found = leaks({ ...a, signal: null, ms: 0, stdout: args[0] === 'exec' ? '' : a.stdout }, args, [f.emu.clientSecret, f.emu.refreshToken], f.emu.issuedTokens(), f.emu.quoteTokens);
  expect(found).toEqual([]);
  return a;
}

// …and the age of a time shown to humans ("held since 21:12:35 UTC, 1 s ago"): the two runs are a second apart.
const countdown = (s: string) =>
  s
    .replace(/valid for \d+:\d\d/g, 'valid for M:SS')
    .replace(/"validForSeconds": \d+/g, '"validForSeconds": N')
    .replace(/\b\d+ (s|min|h) ago\b/g, 'N ago');

const statePath = () => join(f.dir, 'state.json');
type StateFile = { tokens: Array<{ accessToken: string; expiresAt: string; mintedAt: string; api: string }> };
const readStateFile = () => JSON.parse(readFileSync(statePath(), 'utf8')) as StateFile;
const editState = (fn: (s: StateFile) => void) => {
  const s = readStateFile();
  fn(s);
  writeFileSync(statePath(), JSON.stringify(s));
};
const mints = () => f.emu.issuedTokens().length;

describe('fast path = full path (tasty token)', () => {
  it('hot token, --json, --min-ttl, --env, -q, --no-color: answered by the fast path, byte for byte the full answer', async () => {
    const first = await both(['token']); // a cold cache: the fast path falls back and the full path mints
    expect(first.path).toBe('full');
    expect(mints()).toBe(1);
    const hot = await both(['token'], {}, 'fast');
    expect(hot.stdout).toBe(first.stdout);
    await both(['token', '--json'], {}, 'fast');
    await both(['--json', 'token'], {}, 'fast');
    await both(['token', '--min-ttl', '300'], {}, 'fast');
    await both(['token', '--min-ttl=0'], {}, 'fast');
    await both(['token', '--env', 'sandbox', '-q', '--no-color'], {}, 'fast');
    await both(['--env=sandbox', 'token'], {}, 'fast');
    expect(mints()).toBe(1);
  });

  it('what the fast path does not answer reaches the full path with the same result (errors included)', async () => {
    await both(['token']);
    const cases: Array<[string[], Record<string, string | undefined>]> = [
      [['token', '--verbose'], {}],
      [['token', '--min-ttl', '99999'], {}], // longer than a token lives: usage error
      [['token', '--min-ttl', 'soon'], {}],
      [['token', '--min-ttl', '300', '--min-ttl', '400'], {}], // repeated: commander's rules
      [['token', '--env', 'Sandbox'], {}],
      [['token', '--bogus'], {}],
      [['token', 'extra'], {}],
      [['token', '--timeout', '5'], {}],
      [['token'], { TASTY_ENV: 'staging' }],
      [['token'], { TASTY_TIMEOUT: 'abc' }],
      [['token'], { TASTY_KEYCHAIN_SERVICE: 'bad name!' }],
      [['token'], { TASTY_API_URL: 'ftp://example.invalid' }],
      [['token', '--help'], {}],
      [['--version', 'token'], {}],
    ];
    for (const [args, env] of cases) {
      const r = await both(args, env, 'full');
      expect(r.stdout + r.stderr, args.join(' ')).not.toBe('');
    }
    expect(mints()).toBe(1);
  });

  it('a token within the reuse margin, expired, or from a clock stepped back is not served: both mint', async () => {
    const t0 = (await both(['token'])).stdout;
    const now = Date.now();
    const at = (t: StateFile['tokens'][number], minted: number, expires: number) => {
      t.mintedAt = new Date(minted).toISOString();
      t.expiresAt = new Date(expires).toISOString();
    };
    const cases: Array<[string, (t: StateFile['tokens'][number]) => void]> = [
      ['30 s left of 900', (t) => at(t, now - 870_000, now + 30_000)],
      ['expired', (t) => at(t, now - 1_000_000, now - 100_000)],
      ['minted in the future (clock stepped back)', (t) => at(t, now + 600_000, now + 1_500_000)],
    ];
    let prev = t0;
    for (const [name, edit] of cases) {
      editState((s) => {
        for (const t of s.tokens) edit(t);
      });
      const before = mints();
      const r = await both(['token'], {}, 'full');
      expect(r.stdout, name).not.toBe(prev);
      expect(mints(), name).toBe(before + 1);
      prev = r.stdout;
      await both(['token'], {}, 'fast');
    }
  });

  it('--min-ttl more than the cached token has left: the fast path steps aside, the full path mints early', async () => {
    await both(['token']);
    // 500 s left of 900.
    editState((s) => {
      for (const t of s.tokens) {
        t.mintedAt = new Date(Date.now() - 400_000).toISOString();
        t.expiresAt = new Date(Date.now() + 500_000).toISOString();
      }
    });
    await both(['token', '--min-ttl', '400'], {}, 'fast');
    const before = mints();
    await both(['token', '--min-ttl', '600'], {}, 'full');
    expect(mints()).toBe(before + 1);
  });

  it('a cached value that is not an RFC 6750 Bearer token is never printed by either path', async () => {
    await both(['token']);
    editState((s) => {
      for (const t of s.tokens) t.accessToken = `${t.accessToken}\r\nX-Evil: 1`;
    });
    const r = await both(['token'], {}, 'full');
    expect(r.stdout).not.toContain('X-Evil');
  });

  it('tokens are keyed by API and credentials: another API URL or other credentials miss on both paths', async () => {
    await both(['token']);
    editState((s) => {
      for (const t of s.tokens) t.api = 'http://127.0.0.1:1';
    });
    await both(['token'], {}, 'full');
    await both(['token'], {}, 'fast');
    // Per-environment variables outrank the generic pair: they are other credentials (the emulator accepts only its own).
    // Once rejected, the rejection is held: both paths then say so without a request.
    await tasty(['token'], { ...f.env, TASTY_SANDBOX_CLIENT_SECRET: 'cs_other', TASTY_SANDBOX_REFRESH_TOKEN: f.emu.refreshToken });
    const r = await both(['token'], { TASTY_SANDBOX_CLIENT_SECRET: 'cs_other', TASTY_SANDBOX_REFRESH_TOKEN: f.emu.refreshToken }, 'full');
    expect(r.code).not.toBe(0);
    await both(['token'], { TASTY_SANDBOX_CLIENT_SECRET: f.emu.clientSecret, TASTY_SANDBOX_REFRESH_TOKEN: f.emu.refreshToken, TASTY_CLIENT_SECRET: 'x', TASTY_REFRESH_TOKEN: 'y' }, 'fast');
  });

  it('a damaged state or config file: the fast path steps aside and the full path warns', async () => {
    await both(['token']);
    writeFileSync(join(f.dir, 'config.json'), '{not json');
    const r = await both(['token'], {}, 'full');
    expect(r.stderr).toMatch(/config\.json is not valid JSON/);
    writeFileSync(join(f.dir, 'config.json'), '{}');
    await both(['token'], {}, 'fast');
    // Each run mints afresh over the damaged file: the same warning and exit, each its own token.
    for (const hatch of [undefined, '1']) {
      writeFileSync(statePath(), '{"version":2,');
      const s = await tasty(['token'], { ...f.env, TASTY_NO_FAST_PATH: hatch });
      expect(s.path).toBe('full');
      expect(s.code).toBe(0);
      expect(s.stderr).toMatch(/^warning: .*state\.json is damaged \(not JSON\); ignoring it/);
    }
  });

  it('plaintext-file credentials: hot from the file; a file others can read is refused by both', async () => {
    const noVars = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
    const login = await tasty(['login', '--stdin', '--insecure-storage'], { ...f.env, ...noVars }, `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`);
    expect(login.code).toBe(0);
    await both(['token'], noVars);
    await both(['token'], noVars, 'fast');
    await both(['exec', '--', process.execPath, '-e', 'process.stdout.write(process.env.TASTY_REFRESH_TOKEN === process.env.TT_REFRESH ? "same" : "differ")'], noVars, 'fast');
    chmodSync(join(f.dir, 'credentials.json'), 0o644);
    const r = await both(['token'], noVars, 'full');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/readable by others/);
  });

  it.runIf(KEYRING_SESSION || KEYRING_REQUIRED)('keychain credentials: the binding names them on the hot path; no binding, no fast answer', async () => {
    const noVars = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
    const login = await tasty(['login', '--stdin'], { ...f.env, ...noVars }, `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`);
    expect(login.code).toBe(0);
    await both(['token'], noVars);
    await both(['token'], noVars, 'fast');
    // exec passes the secrets: they are in the keychain, which only the full path reads.
    await both(['exec', '--', process.execPath, '-e', '0'], noVars, 'full');
    await both(['exec', '--token-only', '--', process.execPath, '-e', 'process.stdout.write(String(process.env.TASTY_ACCESS_TOKEN).length > 0 ? "ok" : "none")'], noVars, 'fast');
    editState((s) => Object.assign(s, { keychain: [] }));
    await both(['token'], noVars, 'full');
  });
});

describe('fast path = full path (exec, env, status, --version)', () => {
  const printEnv = [process.execPath, '-e', 'const e = process.env; process.stdout.write(JSON.stringify(Object.keys(e).filter((k) => /^(TASTY|TT|TASTYTRADE)_/.test(k) && k !== "TASTY_NO_FAST_PATH").sort().map((k) => [k, e[k]])))'];

  it('exec -- with a cached token: the same child environment; exit codes and signals passed on', async () => {
    await both(['token']);
    const r = await both(['exec', '--', ...printEnv], {}, 'fast');
    expect(JSON.parse(r.stdout).length).toBeGreaterThan(5);
    await both(['exec', '--token-only', '--min-ttl', '120', '--', ...printEnv], {}, 'fast');
    const code = await both(['exec', '--', process.execPath, '-e', 'process.exit(7)'], {}, 'fast');
    expect(code.code).toBe(7);
    const sig = await both(['exec', '--', process.execPath, '-e', 'process.kill(process.pid, "SIGTERM")'], {}, 'fast');
    expect(sig.code).toBe(143);
    const missing = await both(['exec', '--', 'no-such-command-tasty-test'], {}, 'full');
    expect(missing.code).toBe(2);
    await both(['exec', 'true'], {}, 'full'); // no --: commander's business
    await both(['exec', '--'], {}, 'full');
  });

  it('env and status with variable credentials; --json; --all; errors', async () => {
    await both(['token']);
    await both(['env'], {}, 'fast');
    await both(['env', '--json'], {}, 'fast');
    await both(['env', '--env', 'production'], {}, 'fast');
    await both(['env'], { TASTY_ENV: undefined }, 'fast');
    await both(['status'], {}, 'fast');
    await both(['status', '--json'], {}, 'fast');
    await both(['status', '--all'], {}, 'fast');
    // An incomplete pair: no variable credentials, so the keychain would be read: the full path's (exit 3 or 7).
    const incomplete = await both(['status'], { TASTY_CLIENT_SECRET: undefined }, 'full');
    expect(incomplete.stdout).toMatch(/TASTY_REFRESH_TOKEN is set but TASTY_CLIENT_SECRET is not/);
    await both(['env', 'use', 'sandbox'], {}, 'full');
    await both(['env'], { TASTY_ENV: undefined }, 'fast'); // the saved default
    await both(['env'], { TASTY_ENV: 'nope' }, 'full');
    await both(['status', '--verbose'], {}, 'full');
    const colour = await both(['status', '--all'], { FORCE_COLOR: '1' }, 'full'); // colour: the real chalk's
    expect(colour.stdout).toContain('\u001b[');
    await both(['--version'], {}, 'fast');
    await both(['-V'], {}, 'fast');
  });

  it('a reader that went away: token ends quietly on both paths', async () => {
    await both(['token']);
    for (const hatch of [undefined, '1']) {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const c = spawn(process.execPath, [BIN, 'token'], { env: baseEnv({ ...f.env, TASTY_NO_FAST_PATH: hatch }), stdio: ['ignore', 'pipe', 'pipe'] });
        c.stdout.destroy();
        let stderr = '';
        c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        c.on('close', (code) => resolve({ code, stderr }));
      });
      expect(r.stderr, `hatch ${hatch}`).toBe('');
      expect(r.code, `hatch ${hatch}`).toBe(0);
    }
  });
});
