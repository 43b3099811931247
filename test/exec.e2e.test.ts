// End to end through `tasty exec` and `tasty token --min-ttl`, with keychain-stored credentials (real gnome-keyring in
// CI; the 0600 file when no Secret Service is at hand), against the emulator.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseEnv, BIN, KEYRING_REQUIRED, KEYRING_SESSION, leaks, ROOT, type RunOptions, runTasty, tmpDir, useFixture } from './helpers.ts';

const f = useFixture({ environment: 'sandbox' });
const store = KEYRING_SESSION || KEYRING_REQUIRED ? 'keychain' : 'file';
if (store === 'file') console.log('[exec] no Secret Service: credentials in the 0600 file (run with scripts/with-keyring.sh for the keychain)');
const noVars = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
const peer = (name: string) => join(ROOT, 'test', 'peers', name);
const node = process.execPath;

async function login(): Promise<void> {
  const r = await f.run(['login', '--stdin', ...(store === 'file' ? ['--insecure-storage'] : [])], { input: `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`, env: noVars });
  expect(r.code).toBe(0);
}

/** tasty exec with stored credentials only. Its own stderr must carry no secret; the child's stdout may (it prints them). */
async function exec(args: string[], o: RunOptions = {}) {
  const r = await runTasty(['exec', ...args], { ...o, env: { ...f.env, ...noVars, ...o.env } });
  const found = leaks({ ...r, stdout: '' }, ['exec'], [f.emu.clientSecret, f.emu.refreshToken], f.emu.issuedTokens(), f.emu.quoteTokens);
  if (found.length) throw new Error(`tasty exec leaked: ${found.join(', ')}`);
  return r;
}

function state() {
  return JSON.parse(readFileSync(join(f.dir, 'state.json'), 'utf8')) as { tokens: Array<{ accessToken: string; expiresAt: string; mintedAt: string }> };
}

describe(`tasty exec (${store})`, () => {
  it('gives the child the token, the environment and the secrets under every peer name; prints nothing of its own', async () => {
    await login();
    const r = await exec(['--', node, peer('print-env.mjs')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const v = JSON.parse(r.stdout) as Record<string, string>;
    expect(f.emu.grantOf(v.TASTY_ACCESS_TOKEN ?? '')).toBe(f.emu.refreshToken); // a token the emulator issued, to these credentials
    const left = Number(v.TASTY_ACCESS_TOKEN_EXPIRES_AT) - Date.now() / 1000;
    expect(left).toBeGreaterThan(880);
    expect(left).toBeLessThanOrEqual(900);
    expect(v.TASTY_ENV).toBe('sandbox');
    expect(v.TASTYTRADE_ENV).toBe('sandbox');
    expect(v.TASTYTRADE_API_URL).toBe(f.emu.url); // TASTY_API_URL overrides the API: the MCP server goes there too
    for (const k of ['TASTY_CLIENT_SECRET', 'TASTYTRADE_CLIENT_SECRET', 'TT_SECRET']) expect(v[k]).toBe(f.emu.clientSecret);
    for (const k of ['TASTY_REFRESH_TOKEN', 'TASTYTRADE_REFRESH_TOKEN', 'TT_REFRESH']) expect(v[k]).toBe(f.emu.refreshToken);
    const aud = JSON.parse(Buffer.from(f.emu.refreshToken.split('.')[1] ?? '', 'base64url').toString()).aud;
    expect(v.TASTYTRADE_CLIENT_ID).toBe(aud);
  });

  it('--token-only: the token, and no secret under any name, even ones the parent shell exported', async () => {
    await login();
    const inherited = { TT_SECRET: 'parent-secret-value', TASTYTRADE_REFRESH_TOKEN: 'parent-refresh-value', TASTY_SANDBOX_CLIENT_SECRET: 'x', TT_REFRESH_TOKEN: 'y', TASTYTRADE_CLIENT_ID: 'z' };
    const r = await exec(['--token-only', '--', node, peer('print-env.mjs')], { env: inherited });
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as Record<string, string>;
    expect(Object.keys(v).sort()).toEqual(['TASTYTRADE_API_URL', 'TASTYTRADE_ENV', 'TASTY_ACCESS_TOKEN', 'TASTY_ACCESS_TOKEN_EXPIRES_AT', 'TASTY_API_URL', 'TASTY_CONFIG_DIR', 'TASTY_ENV', 'TASTY_KEYCHAIN_SERVICE']);
    expect(r.stdout).not.toContain(f.emu.clientSecret);
    expect(r.stdout).not.toContain(f.emu.refreshToken);
  });

  it('a script that uses only TASTY_ACCESS_TOKEN: 8 runs within the token life → 1 mint (the login), no secret in reach', async () => {
    await login();
    for (let i = 0; i < 8; i++) {
      const r = await exec(['--token-only', '--', node, peer('token-only.mjs')]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ status: 200, accounts: ['5WX01234', '5WY56789', '5WZ00042'], secrets: [] });
    }
    expect(f.emu.mints).toBe(1);
    expect(f.emu.tokenRequests).toBe(1);
    console.log(`[exec] login + 8 × tasty exec --token-only (a script on TASTY_ACCESS_TOKEN): ${f.emu.mints} mint`);
  });

  it('the exit code is the child’s; a signal death is 128+N', async () => {
    await login();
    for (const want of [0, 1, 7, 255]) expect((await exec(['--', node, peer('print-env.mjs')], { env: { EXIT_WITH: String(want) } })).code).toBe(want);
    expect((await exec(['--', node, '-e', "process.kill(process.pid, 'SIGKILL')"])).code).toBe(137);
    expect((await exec(['--', 'sh', '-c', 'kill -TERM $$'])).code).toBe(143);
  });

  it('stdin, stdout and stderr are the child’s', async () => {
    await login();
    const r = await exec(['--', node, '-e', "process.stdin.pipe(process.stdout); process.stderr.write('to stderr\\n')"], { input: 'line one\nline two\n' });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('line one\nline two\n');
    expect(r.stderr).toBe('to stderr\n');
  });

  it('the arguments reach the program exactly as given: no shell, tasty’s own options after -- are the program’s', async () => {
    await login();
    const args = ['--json', '--verbose', '--', '$HOME', 'a b', '*', "it's", ''];
    const r = await exec(['--', node, '-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', '--', ...args]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(args);
  });

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    it(`${sig} to tasty reaches the child, and tasty exits with the child's code`, async () => {
      await login();
      const child = spawn(node, [BIN, 'exec', '--', node, peer('signals.mjs')], { env: baseEnv({ ...f.env, ...noVars }), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      for (let i = 0; i < 400 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 25));
      expect(out).toBe('ready\n');
      child.kill(sig);
      const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
      const n = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }[sig];
      expect(out).toBe(`ready\n${sig}\n`);
      expect(code).toBe(40 + n);
      expect(err).toBe('');
    });
  }

  it('no command → exit 2; a command that does not exist → exit 2; neither mints', async () => {
    await login();
    f.emu.reset();
    const none = await exec([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no command to run/);
    const none2 = await exec(['--']);
    expect(none2.code).toBe(2);
    const missing = await exec(['--', 'tasty-no-such-command-xyz']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/command not found: "tasty-no-such-command-xyz"/);
    expect(f.emu.tokenRequests).toBe(0);
  });

  it('a held rejection or a missing login fails before the child starts', async () => {
    const marker = join(tmpDir('tasty-exec-marker-'), 'ran');
    const child = ['--', node, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`];
    // With the keychain: an empty one, exit 3. With the file store there is no keychain to look in at all: exit 7.
    const notLoggedIn = await exec(child, { env: store === 'file' ? { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' } : {} });
    expect(notLoggedIn.code).toBe(store === 'keychain' ? 3 : 7);
    expect(existsSync(marker)).toBe(false);
    await login();
    f.emu.revokeGrant();
    f.emu.revokeAccessTokens();
    // The cached token is still valid by the clock: expire it so the next exec must mint and is refused.
    const st = state();
    for (const t of st.tokens) t.expiresAt = new Date(Date.now() - 1000).toISOString();
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    const first = await exec(child);
    expect(first.code).toBe(4);
    expect(first.stderr).toMatch(/Grant revoked/);
    const second = await exec(['--token-only', ...child]);
    expect(second.code).toBe(4);
    expect(second.stderr).toMatch(/not sent again/);
    expect(existsSync(marker)).toBe(false);
    expect(f.emu.tokenRequestsFor(f.emu.refreshToken)).toEqual({ sent: 2, refused: 1 }); // the login's, then one refusal
  });

  it.skipIf(store !== 'keychain')('keychain credentials changed behind tasty’s back: the child gets a token of the new ones, never the old one', async () => {
    await login();
    const first = JSON.parse((await exec(['--', node, peer('print-env.mjs')])).stdout) as Record<string, string>;
    const other = f.emu.addGrant('replaced');
    const put = spawnSync('secret-tool', ['store', '--label', 'test', 'service', f.env.TASTY_KEYCHAIN_SERVICE ?? '', 'username', 'sandbox'], {
      input: JSON.stringify({ clientSecret: other.clientSecret, refreshToken: other.refreshToken }),
    });
    expect(put.status).toBe(0);
    const r = await runTasty(['exec', '--', node, peer('print-env.mjs')], { env: { ...f.env, ...noVars } });
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as Record<string, string>;
    expect(v.TASTY_REFRESH_TOKEN).toBe(other.refreshToken);
    expect(f.emu.grantOf(v.TASTY_ACCESS_TOKEN ?? '')).toBe(other.refreshToken);
    expect(v.TASTY_ACCESS_TOKEN).not.toBe(first.TASTY_ACCESS_TOKEN);
  });
});

describe('--min-ttl', () => {
  it('a cached token with less life left than asked is replaced early; one with enough is reused', async () => {
    await login();
    const a = (await f.run(['token'], { env: noVars })).stdout;
    // 300 s left of a 900-s token.
    const st = state();
    for (const t of st.tokens) {
      t.mintedAt = new Date(Date.now() - 600_000).toISOString();
      t.expiresAt = new Date(Date.now() + 300_000).toISOString();
    }
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    const reused = await f.run(['token', '--min-ttl', '200'], { env: noVars });
    expect(reused.stdout).toBe(a);
    const early = await f.run(['token', '--min-ttl', '600'], { env: noVars });
    expect(early.code).toBe(0);
    expect(early.stdout).not.toBe(a);
    expect(f.emu.mints).toBe(2);
    // Exactly the life tastytrade gives: allowed (a fresh token each time).
    const whole = await f.run(['token', '--min-ttl', '900'], { env: noVars });
    expect(whole.code).toBe(0);
    expect(f.emu.mints).toBe(3);
    const viaExec = await exec(['--min-ttl', '600', '--', node, peer('print-env.mjs')]);
    expect(JSON.parse(viaExec.stdout).TASTY_ACCESS_TOKEN).toBe(whole.stdout.trim());
    expect(f.emu.mints).toBe(3);
  });

  it('more than the lifetime tastytrade issues (known from the last mint) → exit 2 without a request', async () => {
    f.emu.expiresIn = 300;
    await login();
    f.emu.reset();
    for (const args of [['token', '--min-ttl', '301'], ['exec', '--min-ttl', '301', '--', 'true']]) {
      const r = await f.run(args, { env: noVars });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/longer than the 300 s tastytrade gives an access token/);
    }
    // With nothing cached, 900 s (tastytrade's documented life) is the limit.
    const fresh = await runTasty(['token', '--min-ttl', '901'], { env: { ...f.env, TASTY_CONFIG_DIR: tmpDir() } });
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toMatch(/longer than the 900 s/);
    expect(f.emu.requests).toHaveLength(0);
    for (const bad of ['-1', '1.5', 'abc', '86401', '']) expect((await f.run(['token', '--min-ttl', bad], { env: noVars })).code).toBe(2);
  });

  it('tastytrade issuing shorter tokens than asked for → exit 2, no token printed', async () => {
    await login();
    const st = state();
    for (const t of st.tokens) {
      t.mintedAt = new Date(Date.now() - 901_000).toISOString();
      t.expiresAt = new Date(Date.now() - 1000).toISOString();
    }
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    f.emu.expiresIn = 300;
    const r = await f.run(['token', '--min-ttl', '600'], { env: noVars });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/cannot be met: tastytrade now gives access tokens 300 s of life/);
  });
});
