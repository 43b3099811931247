// Credentials that never cross: with several credential sets at once (variables beside the keychain or the file,
// two keychain services, two APIs), every token and every rejection belongs to exactly the credentials and API it
// came from. Each test reproduces a finding of the security review against the built binary and the emulator.
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Emulator, makeRefreshToken } from './emulator/emulator.ts';
import { KEYRING_REQUIRED, KEYRING_SESSION, leaks, type RunOptions, runTasty, tmpDir, useFixture } from './helpers.ts';

const f = useFixture({ environment: 'sandbox' });
const keychain = KEYRING_SESSION || KEYRING_REQUIRED;
const noVars = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
const extraEmus: Emulator[] = [];
afterEach(async () => {
  for (const e of extraEmus.splice(0)) await e.stop();
});

/** Variables for a credential set. */
const vars = (g: { clientSecret: string; refreshToken: string }) => ({ TASTY_CLIENT_SECRET: g.clientSecret, TASTY_REFRESH_TOKEN: g.refreshToken });

/** Run with the fixture's environment, scanning the output for every grant's secrets (not just the primary's). */
async function run(args: string[], o: RunOptions = {}, grants: Array<{ clientSecret: string; refreshToken: string }> = []) {
  const r = await runTasty(args, { ...o, env: { ...f.env, ...o.env } });
  const secrets = [f.emu.clientSecret, f.emu.refreshToken, ...grants.flatMap((g) => [g.clientSecret, g.refreshToken])];
  const found = leaks(r, args, secrets, [...f.emu.issuedTokens(), ...extraEmus.flatMap((e) => e.issuedTokens())]);
  if (found.length) throw new Error(`tasty ${args.join(' ')} leaked: ${found.join(', ')}`);
  return r;
}

const login = (g: { clientSecret: string; refreshToken: string }, o: { insecure?: boolean; env?: Record<string, string | undefined> } = {}) =>
  run(['login', '--stdin', ...(o.insecure ? ['--insecure-storage'] : [])], { input: `${g.clientSecret}\n${g.refreshToken}\n`, env: { ...noVars, ...o.env } }, [g]);

function state(dir = f.dir) {
  return JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
    version: number;
    key: string;
    tokens: Array<{ env: string; api: string; fp: string; accessToken: string; mintedAt: string; expiresAt: string }>;
    rejections: Array<{ env: string; api: string; fp: string; description: string }>;
    keychain: Array<{ env: string; service: string; fp: string }>;
  };
}

const idOf = (key: string, g: { clientSecret: string; refreshToken: string }) =>
  createHmac('sha256', key).update(`${g.refreshToken}\n${g.clientSecret}`).digest('hex').slice(0, 32);

describe.each(keychain ? (['file', 'keychain'] as const) : (['file'] as const))('a revoked grant in variables beside valid stored credentials (%s)', (store) => {
  it('the revoked grant is sent once in 8 alternating runs; the stored one mints once and keeps working', async () => {
    const stored = f.emu.addGrant('stored');
    expect((await login(stored, { insecure: store === 'file' })).code).toBe(0);
    f.emu.revokeGrant(); // the primary grant, which the variables hold
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await run(['token'], i % 2 === 0 ? {} : { env: noVars }, [stored]);
      codes.push(r.code ?? -1);
    }
    expect(codes).toEqual([4, 0, 4, 0, 4, 0, 4, 0]);
    expect(f.emu.tokenRequestsFor(f.emu.refreshToken)).toEqual({ sent: 1, refused: 1 });
    expect(f.emu.tokenRequestsFor(stored.refreshToken)).toEqual({ sent: 1, refused: 0 }); // the login's mint, then cached
    // A held rejection of the variables' grant is not "cleared" by the stored credentials' success, nor by their login.
    expect((await login(stored, { insecure: store === 'file' })).code).toBe(0);
    expect((await run(['token'])).code).toBe(4);
    expect(f.emu.tokenRequestsFor(f.emu.refreshToken).sent).toBe(1);
  });
});

describe('several rejected grants', () => {
  it('two revoked grants alternating: each sent once in 8 runs', async () => {
    const other = f.emu.addGrant('other');
    f.emu.revokeGrant();
    f.emu.revokeGrant(other.refreshToken);
    for (let i = 0; i < 8; i++) {
      const r = await run(['token'], { env: i % 2 ? vars(other) : {} }, [other]);
      expect(r.code).toBe(4);
    }
    expect(f.emu.tokenRequestsFor(f.emu.refreshToken)).toEqual({ sent: 1, refused: 1 });
    expect(f.emu.tokenRequestsFor(other.refreshToken)).toEqual({ sent: 1, refused: 1 });
    expect(state().rejections).toHaveLength(2);
  });

  it('login does not resend rejected credentials while another rejection is held', async () => {
    f.emu.revokeGrant();
    expect((await run(['token'])).code).toBe(4); // the variables' rejection is held
    const bad = { clientSecret: f.emu.clientSecret, refreshToken: makeRefreshToken() }; // Invalid JWT at this API
    for (let i = 0; i < 5; i++) expect((await login(bad, { insecure: true })).code).toBe(4);
    expect(f.emu.tokenRequestsFor(bad.refreshToken)).toEqual({ sent: 1, refused: 1 });
  });
});

describe.runIf(keychain)('two logins through TASTY_KEYCHAIN_SERVICE', () => {
  it('each service gets its own token, its own accounts, and status tells them apart', async () => {
    const s1 = `${f.env.TASTY_KEYCHAIN_SERVICE}-one`;
    const s2 = `${f.env.TASTY_KEYCHAIN_SERVICE}-two`;
    const one = f.emu.addGrant('one', [{ 'account-number': '5AA11111', nickname: 'One', 'account-type-name': 'Individual', 'margin-or-cash': 'Margin', 'is-closed': false, 'authority-level': 'owner' }]);
    const two = f.emu.addGrant('two', [{ 'account-number': '5BB22222', nickname: 'Two', 'account-type-name': 'Individual', 'margin-or-cash': 'Cash', 'is-closed': false, 'authority-level': 'owner' }]);
    try {
      expect((await login(one, { env: { TASTY_KEYCHAIN_SERVICE: s1 } })).code).toBe(0);
      expect((await login(two, { env: { TASTY_KEYCHAIN_SERVICE: s2 } })).code).toBe(0);
      const t1 = await run(['token'], { env: { ...noVars, TASTY_KEYCHAIN_SERVICE: s1 } }, [one, two]);
      const t2 = await run(['token'], { env: { ...noVars, TASTY_KEYCHAIN_SERVICE: s2 } }, [one, two]);
      expect(t1.code).toBe(0);
      expect(t2.code).toBe(0);
      expect(t1.stdout.trim()).not.toBe(t2.stdout.trim());
      const a1 = await run(['accounts', '--json'], { env: { ...noVars, TASTY_KEYCHAIN_SERVICE: s1 } }, [one, two]);
      const a2 = await run(['accounts', '--json'], { env: { ...noVars, TASTY_KEYCHAIN_SERVICE: s2 } }, [one, two]);
      expect(JSON.parse(a1.stdout).map((a: { accountNumber: string }) => a.accountNumber)).toEqual(['5AA11111']);
      expect(JSON.parse(a2.stdout).map((a: { accountNumber: string }) => a.accountNumber)).toEqual(['5BB22222']);
      // Every API call carried the token of the login it was made under.
      const calls = f.emu.requests.filter((r) => r.path === '/customers/me/accounts');
      expect(calls.map((c) => c.grant)).toEqual([one.refreshToken, two.refreshToken, one.refreshToken, two.refreshToken]);
      const st = await run(['status', '--json'], { env: { ...noVars, TASTY_KEYCHAIN_SERVICE: s2 } }, [one, two]);
      expect(JSON.parse(st.stdout).environments[0].accessToken.state).toBe('valid');
      expect(f.emu.mints).toBe(2); // one per login; everything after came from the cache
    } finally {
      for (const s of [s1, s2]) spawnSync('secret-tool', ['clear', 'service', s, 'username', 'sandbox']);
    }
  });
});

describe('tokens belong to the API they were minted at', () => {
  it('after TASTY_API_URL changes, the other server gets its own mint, never the first one\'s token', async () => {
    expect((await run(['token'])).code).toBe(0);
    const other = await new Emulator({ environment: 'sandbox' }).start();
    extraEmus.push(other);
    other.clientSecret = f.emu.clientSecret;
    other.refreshToken = f.emu.refreshToken;
    const r = await run(['accounts', '--json'], { env: { TASTY_API_URL: other.url } });
    expect(r.code).toBe(0);
    expect(other.mints).toBe(1);
    expect(other.requests.filter((q) => q.status === 401)).toHaveLength(0);
    // And back: the first server's token is still cached for it.
    expect((await run(['token'])).code).toBe(0);
    expect(f.emu.mints).toBe(1);
    expect(state().tokens.map((t) => t.api).sort()).toEqual([f.emu.url, other.url].sort());
  });
});

describe('two valid sets at once', () => {
  it('6 + 6 concurrent runs of two credential sets, 5 rounds: 2 mints', async () => {
    const b = f.emu.addGrant('b');
    for (let round = 0; round < 5; round++) {
      const rs = await Promise.all(Array.from({ length: 12 }, (_, i) => run(['token'], i % 2 ? { env: vars(b) } : {}, [b])));
      expect(rs.map((r) => r.code)).toEqual(Array(12).fill(0));
    }
    expect(f.emu.mints).toBe(2);
  });
});

describe('per-environment variables', () => {
  it('TASTY_SANDBOX_* and TASTY_PRODUCTION_* each go to their own environment; they outrank the generic pair', async () => {
    const prod = f.emu.addGrant('production');
    const env = {
      ...noVars,
      TASTY_ENV: undefined,
      TASTY_SANDBOX_CLIENT_SECRET: f.emu.clientSecret,
      TASTY_SANDBOX_REFRESH_TOKEN: f.emu.refreshToken,
      TASTY_PRODUCTION_CLIENT_SECRET: prod.clientSecret,
      TASTY_PRODUCTION_REFRESH_TOKEN: prod.refreshToken,
    };
    expect((await run(['token', '--env', 'sandbox'], { env }, [prod])).code).toBe(0);
    expect((await run(['token', '--env', 'production'], { env }, [prod])).code).toBe(0);
    expect(f.emu.tokenRequestsFor(f.emu.refreshToken).sent).toBe(1);
    expect(f.emu.tokenRequestsFor(prod.refreshToken).sent).toBe(1);
    // With a generic pair set too, the per-environment pair still wins.
    const withGeneric = { ...env, TASTY_CLIENT_SECRET: 'cs_generic', TASTY_REFRESH_TOKEN: makeRefreshToken() };
    expect((await run(['token', '--env', 'production'], { env: withGeneric }, [prod])).code).toBe(0);
    const st = await run(['status', '--env', 'production', '--json'], { env: withGeneric }, [prod]);
    expect(JSON.parse(st.stdout).environments[0].source.where).toMatch(/TASTY_PRODUCTION_CLIENT_SECRET/);
    expect(f.emu.tokenRequests).toBe(2);
  });
});

describe('the clock', () => {
  it('a token "minted" in the future (the clock was stepped back) counts as expired', async () => {
    const first = (await run(['token'])).stdout.trim();
    const st = state();
    const t = st.tokens[0];
    if (!t) throw new Error('no token cached');
    t.mintedAt = new Date(Date.now() + 3_600_000).toISOString();
    t.expiresAt = new Date(Date.now() + 3_600_000 + 900_000).toISOString();
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    const status = await run(['status', '--json']);
    expect(JSON.parse(status.stdout).environments[0].accessToken.validForSeconds).toBe(0);
    const second = (await run(['token'])).stdout.trim();
    expect(second).not.toBe(first);
    expect(f.emu.mints).toBe(2);
  });
});

describe('token responses with a new refresh token', () => {
  it('the new refresh token is stored (file store) and the next mint uses it', async () => {
    expect((await login({ clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken }, { insecure: true })).code).toBe(0);
    f.emu.rotateRefreshTokens = true;
    const st = state();
    for (const t of st.tokens) t.expiresAt = new Date(Date.now() - 1_000).toISOString();
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    expect((await run(['token'], { env: noVars })).code).toBe(0);
    const rotated = f.emu.refreshToken;
    const file = JSON.parse(readFileSync(join(f.dir, 'credentials.json'), 'utf8'));
    expect(file.environments.sandbox.refreshToken).toBe(rotated);
    const st2 = state();
    for (const t of st2.tokens) t.expiresAt = new Date(Date.now() - 1_000).toISOString();
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st2));
    const r = await run(['token'], { env: noVars }, [{ clientSecret: f.emu.clientSecret, refreshToken: rotated }]);
    expect(r.code).toBe(0);
    expect(f.emu.tokenRequestsFor(rotated)).toEqual({ sent: 1, refused: 0 });
  });
});

describe('the plaintext file is used only when it is private', () => {
  it('a credentials.json readable by others is refused before any request, with the chmod to run', async () => {
    expect((await login({ clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken }, { insecure: true })).code).toBe(0);
    chmodSync(join(f.dir, 'credentials.json'), 0o644);
    rmSync(join(f.dir, 'state.json'));
    f.emu.reset();
    const r = await run(['token'], { env: noVars });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/readable by others \(mode 0644\)/);
    expect(r.stderr).toMatch(/hint: run `chmod 600 '.*credentials\.json'`/);
    expect(f.emu.tokenRequests).toBe(0);
  });

  it.runIf(process.getuid?.() === 0)('a credentials.json (or config dir) owned by another user is refused before any request', async () => {
    expect((await login({ clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken }, { insecure: true })).code).toBe(0);
    rmSync(join(f.dir, 'state.json'));
    f.emu.reset();
    chownSync(join(f.dir, 'credentials.json'), 65534, 65534);
    const r = await run(['token'], { env: noVars });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/credentials\.json is owned by another user \(uid 65534\)/);
    chownSync(join(f.dir, 'credentials.json'), 0, 0);
    chownSync(f.dir, 65534, 65534);
    const d = await run(['token'], { env: noVars });
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/owned by another user \(uid 65534\)/);
    expect(f.emu.tokenRequests).toBe(0);
    chownSync(f.dir, 0, 0);
  });

  it('logout removes the plaintext temp file a killed login left behind', async () => {
    mkdirSync(f.dir, { recursive: true });
    const tmp = join(f.dir, 'credentials.json.4242.0badf00d.tmp');
    writeFileSync(tmp, JSON.stringify({ clientSecret: f.emu.clientSecret }), { mode: 0o600 });
    const r = await run(['logout'], { env: noVars });
    expect(existsSync(tmp)).toBe(false);
    expect(r.stderr).toMatch(/Logged out of sandbox|removed/);
  });
});

describe('invalid_request', () => {
  it('is retried only in the sandbox, and only for "User is not a TastyTrade customer"', async () => {
    const prod = await new Emulator({ environment: 'production' }).start();
    extraEmus.push(prod);
    const env = { TASTY_API_URL: prod.url, TASTY_ENV: 'production', ...vars(prod) };
    prod.inject('token', { kind: 'transient-invalid-request' }, Number.POSITIVE_INFINITY);
    for (let i = 0; i < 5; i++) expect((await runTasty(['token'], { env: { ...f.env, ...env } })).code).toBe(6);
    expect(prod.tokenRequests).toBe(5);
    f.emu.inject('token', { kind: 'status', status: 400, code: 'invalid_request', message: 'Malformed request' }, Number.POSITIVE_INFINITY);
    expect((await run(['token'])).code).toBe(6);
    expect(f.emu.tokenRequests).toBe(1);
    f.emu.clearFaults();
    f.emu.inject('token', { kind: 'transient-invalid-request' }, 2);
    expect((await run(['token'])).code).toBe(0);
    expect(f.emu.tokenRequests).toBe(4); // 1 + (2 refused + 1 success) in the sandbox
  });
});

describe('the lock', () => {
  const lockPath = () => join(f.dir, 'state.lock');
  const writeLock = (o: Record<string, unknown>) => {
    mkdirSync(f.dir, { recursive: true });
    writeFileSync(lockPath(), JSON.stringify({ id: 'x', host: hostname(), ...o }), { mode: 0o600 });
  };
  const sleeper = () => spawn('sleep', ['60'], { stdio: 'ignore' });

  it('a stuck holder sending the same credentials: the waiter refuses at its deadline and sends nothing', async () => {
    await run(['token']); // the state (and its key) exists
    const key = state().key;
    rmSync(join(f.dir, 'state.json'));
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify({ version: 2, key, tokens: [], rejections: [], keychain: [] }));
    f.emu.reset();
    const p = sleeper();
    try {
      writeLock({ pid: p.pid, at: Date.now(), deadline: Date.now() + 1_000, fp: idOf(key, f.emu) });
      const r = await run(['token']);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(new RegExp(`another tasty process \\(pid ${p.pid}\\) was sending these credentials`));
      expect(r.stderr).toMatch(/hint: .*kill/);
      expect(f.emu.tokenRequests).toBe(0);
      // Other credentials are not held back by it: past its deadline the lock is broken for them.
      const b = f.emu.addGrant('b');
      expect((await run(['token'], { env: vars(b) }, [b])).code).toBe(0);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it("staleness is the holder's deadline: a waiter with --timeout 1 does not break a healthy holder", async () => {
    const p = sleeper();
    try {
      // Old code judged staleness by the waiter's own timeout (1 s → 8 s) from the holder's start 10 s ago.
      writeLock({ pid: p.pid, at: Date.now() - 10_000, deadline: Date.now() + 2_500, fp: 'f'.repeat(32) });
      const t0 = Date.now();
      const r = await run(['token', '--timeout', '1']);
      expect(r.code).toBe(0);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2_000);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it.runIf(process.platform === 'linux')('a reused pid (another process, another start time) is stale at once', async () => {
    const p = sleeper();
    try {
      writeLock({ pid: p.pid, at: Date.now(), deadline: Date.now() + 60_000, start: 1 });
      const r = await run(['token'], { timeoutMs: 20_000 });
      expect(r.code).toBe(0);
      expect(r.ms).toBeLessThan(10_000);
    } finally {
      p.kill('SIGKILL');
    }
  });

  it('a foreign host with a time in the future is garbage', async () => {
    writeLock({ pid: 1, host: 'elsewhere.example', at: Date.now() + 3_600_000, deadline: Date.now() + 3_660_000 });
    const r = await run(['token'], { timeoutMs: 20_000 });
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(10_000);
  });
});

describe('version-1 state files', () => {
  it('migrate: the held rejection keeps protecting the same credentials', async () => {
    const { createHash } = await import('node:crypto');
    const legacy = createHash('sha256').update(`tasty:${f.emu.refreshToken}\n${f.emu.clientSecret}`).digest('hex').slice(0, 16);
    mkdirSync(f.dir, { recursive: true });
    writeFileSync(
      join(f.dir, 'state.json'),
      JSON.stringify({ version: 1, environments: { sandbox: { rejection: { fingerprint: legacy, at: new Date().toISOString(), code: 'grant_revoked', description: 'Grant revoked' } } } }),
    );
    const r = await run(['token']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/"Grant revoked".*not sent again/);
    expect(f.emu.tokenRequests).toBe(0);
  });
});

// Not a loopback-only server: a tmpfs the test mounts (root only), filled to the last byte.
const canMount = (() => {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return false;
  const d = tmpDir('tasty-mount-probe-');
  const ok = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d]).status === 0;
  if (ok) spawnSync('umount', [d]);
  rmSync(d, { recursive: true, force: true });
  return ok;
})();
if (!canMount) console.log('[credentials] disk-full tests skipped: mounting a tmpfs needs root on Linux');

describe.runIf(canMount)('a full disk', () => {
  it('nothing is sent when the rejection could not be recorded; no temp files are left; the hot path still works', async () => {
    const mnt = tmpDir('tasty-full-');
    expect(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status).toBe(0);
    try {
      const dir = join(mnt, 'tasty');
      const env = { TASTY_CONFIG_DIR: dir };
      // A cached token first, then fill the disk.
      expect((await run(['token'], { env })).code).toBe(0);
      const filler = join(mnt, 'filler');
      spawnSync('sh', ['-c', `cat /dev/zero > '${filler}' 2>/dev/null; true`]);
      f.emu.reset();
      expect((await run(['token'], { env })).code).toBe(0); // hot path: reads only
      // Credentials that need a mint (a revoked grant): refused before any request, five times.
      const revoked = f.emu.addGrant('revoked');
      f.emu.revokeGrant(revoked.refreshToken);
      for (let i = 0; i < 5; i++) {
        const r = await run(['token'], { env: { ...env, ...vars(revoked) } }, [revoked]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/cannot write to the config directory .*: the disk is full/);
        expect(r.stderr).toMatch(/hint: .*TASTY_CONFIG_DIR/);
      }
      expect(f.emu.tokenRequests).toBe(0);
      expect(readdirSync(dir).filter((n) => n.endsWith('.tmp') || n === 'state.lock')).toEqual([]);
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});

describe('one grant, one environment', () => {
  it('login refuses, before any request, a refresh token whose grant is stored for the other environment', async () => {
    const g = { clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken };
    expect((await login(g, { insecure: true, env: { TASTY_ENV: 'production' } })).code).toBe(0);
    f.emu.reset();
    const r = await login(g, { insecure: true, env: { TASTY_ENV: 'sandbox' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/grant G[0-9a-f]+ is already stored for production/);
    expect(r.stderr).toMatch(/hint: use it with --env production/);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('a grant seen working in production is not sent to the sandbox (generic variables), with the per-environment names as the way out', async () => {
    const prod = await new Emulator({ environment: 'production' }).start();
    extraEmus.push(prod);
    prod.clientSecret = f.emu.clientSecret;
    prod.refreshToken = f.emu.refreshToken;
    expect((await run(['token'], { env: { TASTY_ENV: 'production', TASTY_API_URL: prod.url } })).code).toBe(0);
    const r = await run(['token'], { env: { TASTY_ENV: 'sandbox' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/works in production, not sandbox; it was not sent/);
    expect(r.stderr).toMatch(/TASTY_SANDBOX_CLIENT_SECRET/);
    expect(f.emu.tokenRequests).toBe(0);
  });
});

describe('small honesty fixes', () => {
  it('a "Grant revoked" hint names the other environment as a possible cause before sending anyone to delete a grant', async () => {
    f.emu.revokeGrant();
    const r = await run(['token']);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/hint: .*or it is a production grant sent to sandbox \(check with `tasty doctor --env production` before deleting anything\)/);
  });

  it('status with an unreachable keychain: exit 7 and "cannot tell", not "not logged in"', async () => {
    const r = await run(['status'], { env: { ...noVars, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' } });
    expect(r.code).toBe(7);
    expect(r.stdout).toMatch(/Cannot tell whether you are logged in: the keychain could not be read/);
    expect(r.stdout).not.toMatch(/Not logged in/);
  });

  it('tasty api refuses /quote-streamer-tokens (reserved for tastytrade\'s own apps) before any request', async () => {
    for (const path of ['/quote-streamer-tokens', 'quote-streamer-tokens', '/Quote-Streamer-Tokens?x=1']) {
      const r = await run(['api', path]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/refusing to call \/quote-streamer-tokens/);
    }
    expect(f.emu.requests.filter((q) => q.path.toLowerCase().startsWith('/quote-streamer'))).toHaveLength(0);
  });
});

describe('doctor and the refresh token\'s claims', () => {
  it('environment classes, never hosts: api.tastytrade.com (issuer) and api.tastyworks.com (API) are both production', async () => {
    const { environmentClass } = await import('../src/config.ts');
    expect(environmentClass('https://api.tastytrade.com')).toBe('production');
    expect(environmentClass('https://api.tastyworks.com')).toBe('production');
    expect(environmentClass('https://api.cert.tastyworks.com')).toBe('sandbox');
    expect(environmentClass('https://api.sandbox.tastytrade.com')).toBe('sandbox');
    expect(environmentClass('http://127.0.0.1:8080')).toBeUndefined();
    expect(environmentClass('https://tastytrade.com.evil.example')).toBeUndefined();
    expect(environmentClass('not a url')).toBeUndefined();
  });

  it('shows issuer, audience and grant; warns only when a sandbox-issued token is used in production', async () => {
    const sandboxIssued = makeRefreshToken({ iss: 'https://api.cert.tastyworks.com', grantId: 'Gsbx1' });
    const prod = await new Emulator({ environment: 'production' }).start();
    extraEmus.push(prod);
    prod.refreshToken = sandboxIssued;
    const env = { TASTY_ENV: 'production', TASTY_API_URL: prod.url, TASTY_CLIENT_SECRET: prod.clientSecret, TASTY_REFRESH_TOKEN: sandboxIssued };
    const r = await run(['doctor', '--json'], { env }, [{ clientSecret: prod.clientSecret, refreshToken: sandboxIssued }]);
    const creds = JSON.parse(r.stdout).checks.find((c: { id: string }) => c.id === 'credentials');
    expect(creds).toMatchObject({ status: 'warn', cause: 'grant_of_other_environment' });
    expect(creds.summary).toMatch(/^issuer https:\/\/api\.cert\.tastyworks\.com, audience .{4}….{4}, grant Gsbx1, scopes read trade/);
    // The usual case: a production-issued token (issuer api.tastytrade.com) in the sandbox is not called a mismatch.
    const ok = await run(['doctor', '--json']);
    expect(JSON.parse(ok.stdout).checks.find((c: { id: string }) => c.id === 'credentials')).toMatchObject({ status: 'ok' });
  });
});

describe('what a new user ran into', () => {
  const noBus = { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' };

  it('rejected credentials from variables: the error and status name the variables and say a login is no cure', async () => {
    const stored = f.emu.addGrant('stored');
    expect((await login(stored, { insecure: true })).code).toBe(0);
    const r = await run(['balances'], { env: { TASTY_CLIENT_SECRET: 'cs_wrongwrongwrong' } }, [stored]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/rejected the sandbox credentials from TASTY_CLIENT_SECRET \+ TASTY_REFRESH_TOKEN: "Client secret mismatch"/);
    expect(r.stderr).toMatch(/hint: those variables outrank stored credentials, so a new `tasty login` does not replace them: correct or unset them/);
    const st = await run(['status'], { env: { TASTY_CLIENT_SECRET: 'cs_wrongwrongwrong' } }, [stored]);
    expect(st.stdout).toMatch(/Not resent while TASTY_CLIENT_SECRET \+ TASTY_REFRESH_TOKEN hold them: correct or unset those variables/);
    // Unset: the stored login works at once.
    expect((await run(['balances'], { env: noVars }, [stored])).code).toBe(0);
  });

  it('logout on a machine without a keychain: a note and exit 0 unless tasty ever kept credentials there', async () => {
    const first = await run(['logout'], { env: { ...noVars, ...noBus } });
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(/note: the keychain could not be checked/);
    expect(first.stderr).not.toMatch(/✓/);
    // Evidence that the keychain holds this environment's credentials (a binding tasty wrote): then it is exit 7.
    await run(['token']);
    const st = state();
    st.keychain = [{ env: 'sandbox', service: f.env.TASTY_KEYCHAIN_SERVICE as string, fp: 'a'.repeat(32), at: new Date().toISOString() } as never];
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    const second = await run(['logout'], { env: { ...noVars, ...noBus } });
    expect(second.code).toBe(7);
    expect(second.stderr).toMatch(/were NOT removed/);
  });

  it('TASTY_KEYCHAIN_SERVICE with --insecure-storage says it does not apply', async () => {
    const r = await login({ clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken }, { insecure: true, env: { TASTY_KEYCHAIN_SERVICE: 'tasty-second' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/note: TASTY_KEYCHAIN_SERVICE names a keychain entry and does not apply to --insecure-storage/);
  });
});

describe('files that are not files', () => {
  it('a FIFO at state.json does not hang even the hot path: it is read as damaged, replaced, and the token printed', async () => {
    mkdirSync(f.dir, { recursive: true });
    expect(spawnSync('mkfifo', [join(f.dir, 'state.json')]).status).toBe(0);
    const r = await run(['token'], { timeoutMs: 20_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/state\.json is damaged/);
    expect(r.ms).toBeLessThan(15_000);
  });
});
