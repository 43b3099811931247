// A hostile server, through the built binary: a token endpoint that echoes the request (secrets included), bodies
// trickled a byte at a time, access tokens that carry header injections, absurd lifetimes, escape sequences in
// account numbers and JWT claims, amounts beyond double precision. Each test prints its figures for the README.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeRefreshToken } from './emulator/emulator.ts';
import { baseEnv, BIN, useFixture } from './helpers.ts';

// A 7-character client secret: shorter than the old redactor's 8-character floor.
const f = useFixture({ clientSecret: 'cs_x7Qz' });
const figures = (line: string) => console.log(`[reliability] hostile server: ${line}`);
const ESC = '\u001b]52;c;ZXZpbA==\u0007\u001b[2J\u009b6n\u001b]0;pwned\u0007';
const RAW_ESCAPES = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

function stateText(): string {
  const p = join(f.dir, 'state.json');
  return existsSync(p) ? readFileSync(p, 'utf8') : '';
}

describe('a token endpoint that echoes the request (secrets included)', () => {
  it('400 echo: the held rejection is stored and printed redacted, by token, status, status --json and doctor', async () => {
    f.emu.inject('token', { kind: 'echo', status: 400 });
    const t = await f.run(['token']); // fixture.run throws if a secret reaches any output
    expect(t.code).toBe(4);
    expect(t.stderr).toContain('Grant revoked for');
    expect(t.stderr).toContain('[redacted]');
    const state = stateText();
    expect(state).toContain('Grant revoked for');
    for (const s of [f.emu.clientSecret, f.emu.refreshToken]) expect(state).not.toContain(s);
    const outputs = [t];
    for (const args of [['status'], ['status', '--json'], ['doctor'], ['doctor', '--json'], ['token', '--verbose']]) outputs.push(await f.run(args));
    expect(JSON.parse(outputs[2]?.stdout ?? '').environments[0].rejection.description).toMatch(/^Grant revoked for grant_type=refresh_token&refresh_token=\[redacted/);
    expect(f.emu.tokenRequests).toBe(1); // held: never resent
    figures(`echoed secrets (a 7-character client secret and the refresh token): ${outputs.length} outputs and state.json → 0 copies`);
  });

  it('422 echo: the "Token grant" line of doctor and the error of token carry no secret', async () => {
    f.emu.inject('token', { kind: 'echo', status: 422 }, Number.POSITIVE_INFINITY);
    const t = await f.run(['token']);
    expect(t.code).toBe(6);
    expect(t.stderr).toContain('Unprocessable request');
    const d = await f.run(['doctor', '--json']);
    const grant = JSON.parse(d.stdout).checks.find((c: { id: string }) => c.id === 'grant');
    expect(grant.status).toBe('fail');
    expect(grant.summary).toContain('[redacted]');
    expect(stateText()).not.toContain(f.emu.clientSecret);
  });
});

describe('deadlines', () => {
  it('a body trickled one byte every 400 ms cannot outlive --timeout: token and API calls end in about the timeout', async () => {
    f.emu.inject('token', { kind: 'trickle', intervalMs: 400 }, Number.POSITIVE_INFINITY);
    const t = await f.run(['token', '--timeout', '2'], { timeoutMs: 30_000 });
    expect(t.code).toBe(5);
    expect(t.stderr).toMatch(/did not answer within 2 s/);
    // The whole body would take 85 s; the deadline ends it at 2 s (+ start-up, which a loaded machine stretches).
    expect(t.ms).toBeLessThan(15_000);
    f.emu.clearFaults();
    expect((await f.run(['token'])).code).toBe(0);
    f.emu.inject('api', { kind: 'trickle', intervalMs: 400 }, Number.POSITIVE_INFINITY);
    const b = await f.run(['balances', '--account', '5WX01234', '--timeout', '2'], { timeoutMs: 40_000 });
    expect(b.code).toBe(5);
    expect(b.ms).toBeLessThan(20_000); // a GET is retried on resets only; the deadline holds per attempt
    figures(`a body trickled at 2.5 bytes/s: --timeout 2 → exit 5 after ${(t.ms / 1000).toFixed(1)} s (token) and ${(b.ms / 1000).toFixed(1)} s (balances)`);
  }, 90_000);
});

describe('access tokens and lifetimes', () => {
  it('an access token with a header injection is refused (exit 6), never cached or printed', async () => {
    f.emu.inject('token', { kind: 'token', accessToken: 'at_good\r\nX-Injected: yes' });
    const t = await f.run(['token']);
    expect(t.code).toBe(6);
    expect(t.stdout).toBe('');
    expect(t.stderr).toMatch(/RFC 6750/);
    expect(t.stderr).not.toMatch(/cannot reach|check your network/);
    expect(stateText()).not.toContain('X-Injected');
    for (const bad of ['at ok', 'at_"quoted"', 'at_ünïcode', 'x'.repeat(9000)]) {
      f.emu.inject('token', { kind: 'token', accessToken: bad });
      expect((await f.run(['token'])).code).toBe(6);
    }
    expect((await f.run(['token'])).stdout).toMatch(/^at_[A-Za-z0-9_-]+\n$/);
  });

  it('expires_in 0.001, 9e12 and 1e9 are clamped: no internal error, cached from 1 s to 24 h', async () => {
    const lifetimes: number[] = [];
    for (const expiresIn of [0.001, 9e12, 1e9, '1e9']) {
      rmSync(join(f.dir, 'state.json'), { force: true });
      f.emu.inject('token', { kind: 'token', expiresIn });
      const t = await f.run(['token', '--json']);
      expect(t.stderr).not.toMatch(/internal error/);
      expect(t.code).toBe(0);
      const cached = JSON.parse(stateText()).tokens[0] as { expiresAt: string; mintedAt: string };
      expect(cached.expiresAt).toBe(JSON.parse(t.stdout).expiresAt);
      const life = (Date.parse(cached.expiresAt) - Date.parse(cached.mintedAt)) / 1000;
      lifetimes.push(life);
      // The next run must not re-mint a token that was just cached (except the 1-s one, which may have expired).
      const mints = f.emu.mints;
      expect((await f.run(['token'])).code).toBe(0);
      if (expiresIn !== 0.001) expect(f.emu.mints).toBe(mints);
    }
    expect(lifetimes).toEqual([1, 86_400, 86_400, 86_400]);
    figures(`expires_in 0.001 / 9e12 / 1e9 / "1e9" → cached for ${lifetimes.join(' / ')} s`);
  });

  it('control characters in a secret are refused before anything is sent (exit 2)', async () => {
    for (const env of [{ TASTY_CLIENT_SECRET: `${f.emu.clientSecret}\u0007x` }, { TASTY_REFRESH_TOKEN: `${f.emu.refreshToken}\u001b[2J` }]) {
      const r = await f.run(['token'], { env });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/control characters: not sent/);
    }
    expect(f.emu.tokenRequests).toBe(0);
  });
});

describe('escape sequences in account numbers and JWT claims', () => {
  it('account numbers: accounts, doctor (masked and not), accounts use and balances hints print no raw escape', async () => {
    const bad = `5WX${ESC}9876`;
    f.emu.accounts[0] = { ...(f.emu.accounts[0] as (typeof f.emu.accounts)[0]), 'account-number': bad };
    const outputs: string[] = [];
    for (const args of [['accounts'], ['accounts', '--all'], ['doctor'], ['doctor', '--show-accounts'], ['accounts', 'use', '5WX99999'], ['balances', '--account', 'ZZZ99999'], ['accounts', '--json'], ['doctor', '--json']]) {
      const r = await f.run(args);
      outputs.push(r.stdout, r.stderr);
    }
    const all = outputs.join('\n');
    expect(all).not.toMatch(RAW_ESCAPES);
    expect(all).toContain('5WX]52;c;ZXZpbA==[2J6n]0;pwned9876'); // the text is kept, only the controls go
    expect(all).toContain('****9876');
    figures(`an account number carrying OSC 52, a screen clear, 8-bit CSI and a title change: 8 commands → 0 raw escape bytes`);
  });

  it('JWT claims (grant id, scopes): status, doctor and login print no raw escape', async () => {
    const rt = makeRefreshToken({ grantId: `G${ESC}\u001b[8m1`, scope: `read trade${ESC}` });
    f.emu.refreshToken = rt;
    const env = { TASTY_REFRESH_TOKEN: rt };
    const outputs: string[] = [];
    for (const args of [['status'], ['status', '--json'], ['doctor'], ['token']]) {
      const r = await f.run(args, { env });
      outputs.push(r.stdout, r.stderr);
    }
    const login = await f.run(['login', '--stdin', '--insecure-storage'], { env: { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined }, input: `${f.emu.clientSecret}\n${rt}\n` });
    expect(login.code).toBe(0);
    outputs.push(login.stdout, login.stderr);
    const all = outputs.join('\n');
    expect(all).not.toMatch(RAW_ESCAPES);
    expect(all).toContain('G]52;c;ZXZpbA==[2J6n]0;pwned[8m1');
    // With colour forced on, only tasty's own colour sequences survive: not the conceal (SGR 8) hidden in the claim.
    const coloured: string[] = [];
    for (const args of [['status'], ['doctor']]) {
      const r = await f.run(args, { env: { ...env, FORCE_COLOR: '1' } });
      coloured.push(r.stdout, r.stderr);
    }
    expect(coloured.join('')).toMatch(/\u001b\[3\dm/);
    expect(coloured.join('')).not.toContain('\u001b[8m');
  });
});

describe('amounts', () => {
  it('decimal strings beyond double precision print exactly, in JSON and in the table', async () => {
    const huge = `1${'0'.repeat(400)}`;
    f.emu.balances['5WX01234'] = { 'net-liquidating-value': '12345678901234567.89', 'cash-balance': huge, 'pending-cash': '0007.50', 'pending-cash-effect': 'Debit' };
    const j = await f.run(['balances', '--account', '5WX01234', '--json']);
    expect(j.code).toBe(0);
    expect(j.stdout).toContain('"netLiquidatingValue": 12345678901234567.89');
    expect(j.stdout).toContain(`"cashBalance": ${huge}`);
    expect(j.stdout).toContain('"pendingCash": -7.50');
    const t = await f.run(['balances', '--account', '5WX01234']);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('$12,345,678,901,234,567.89');
    expect(t.stdout).toMatch(/Cash balance\s+USD 10{400}/);
    expect(t.stdout).toContain('-$7.50');
  });
});

describe('pipes', () => {
  it('balances --watch --json | head -c 10: ends quietly (no stack trace) when the reader goes away', async () => {
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const sh = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" balances --account 5WX01234 --watch 5 --json 2>"$ERRFILE" | head -c 10; cat "$ERRFILE"`], {
        env: baseEnv({ ...f.env, ERRFILE: join(f.dir, 'stderr.txt') }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      sh.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const timer = setTimeout(() => sh.kill('SIGKILL'), 20_000);
      sh.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out: out.slice(0, 10), err: out.slice(10) });
      });
    });
    expect(r.out).toBe('{"accountN');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
  }, 30_000);
});
