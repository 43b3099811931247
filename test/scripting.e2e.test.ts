// The scripting contract (README "Scripting"): one JSON document on every exit with --json, shapes that follow the
// flags alone, `tasty api` in the manner of `gh api`, and -q/--quiet.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli.ts';
import type { Prompter } from '../src/prompt.ts';
import { inProcess, ROOT, spawnTasty, tmpDir, useFixture } from './helpers.ts';

const f = useFixture();

/** stdout must be exactly one JSON document (JSON.parse of the whole text fails on two). */
function oneDocument(stdout: string): Record<string, unknown> {
  expect(stdout.trim()).not.toBe('');
  return JSON.parse(stdout) as Record<string, unknown>;
}

function errorOf(stdout: string): { code: string; message: string; hint: string | null; exitCode: number; [k: string]: unknown } {
  const doc = oneDocument(stdout);
  expect(Object.keys(doc)).toEqual(['error']);
  const e = doc.error as { code: string; message: string; hint: string | null; exitCode: number };
  expect(typeof e.code).toBe('string');
  expect(typeof e.message).toBe('string');
  expect(e.hint === null || typeof e.hint === 'string').toBe(true);
  return e;
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** In-process run with TTY streams and an injected prompt layer. */
function terminal(prompter: Partial<Prompter>, env: Record<string, string> = {}) {
  return inProcess({ env: { ...f.env, TASTY_CONFIG_DIR: tmpDir(), ...env }, prompter });
}

describe('--json: exactly one JSON document on stdout on every exit', () => {
  it('0: the command document', async () => {
    const r = await f.run(['token', '--json']);
    expect(r.code).toBe(0);
    expect(oneDocument(r.stdout)).toMatchObject({ tokenType: 'Bearer', environment: 'sandbox' });
  });

  it('1: an internal error is {"error":{"code":"internal",…}}', async () => {
    // A prompt layer that breaks: nothing tasty knows as an error, so it is reported as a bug.
    const t = terminal({ confirm: async () => Promise.reject(new TypeError('boom')) });
    const code = await run(['node', 'tasty', 'api', 'accounts/5WX01234/orders/dry-run', '-d', '{}', '--json'], t.io);
    expect(code).toBe(1);
    const e = errorOf(t.out.text);
    expect(e).toMatchObject({ code: 'internal', exitCode: 1 });
    expect(e.message).toContain('boom');
    expect(t.err.text).toMatch(/^tasty: .*boom/m);
  });

  it.each([
    [['balances', '--account', '../etc', '--json'], 'usage'],
    [['balances', '--bogus', '--json'], 'usage'],
    [['nosuchcommand', '--json'], 'usage'],
  ])('2: %j is a usage error document, nothing sent', async (args, code) => {
    const r = await f.run(args);
    expect(r.code).toBe(2);
    const e = errorOf(r.stdout);
    expect(e).toMatchObject({ code, exitCode: 2 });
    expect(e.hint).toMatch(/./);
    expect(r.stderr).toMatch(/^tasty: /m); // the human line is still on stderr
    expect(f.emu.requests).toHaveLength(0);
  });

  // Every command, each with input it must refuse: exit 2, one usage error document on stdout, the human line on
  // stderr, and not one request. The table is checked against the commands src/cli.ts registers.
  const REFUSED: Array<[command: string, args: string[]]> = [
    ['token', ['token', '--min-ttl', 'soon']],
    ['exec', ['exec']],
    ['quote-token', ['quote-token', '--env', 'staging']],
    ['login', ['login', '--stdin', '--env', 'staging']],
    ['logout', ['logout', '--env', 'staging']],
    ['status', ['status', '--env', 'staging']],
    ['env', ['env', '--bogus']],
    ['env use', ['env', 'use', 'staging']],
    ['accounts', ['accounts', '--bogus']],
    ['accounts use', ['accounts', 'use', '../etc']],
    ['balances', ['balances', '--watch', '2']],
    ['api', ['api', 'customers/me', '-X', 'FETCH']],
    ['doctor', ['doctor', '--env', 'staging']],
    ['completion', ['completion', 'tcsh']],
  ];

  it('the refusal table names every command src/cli.ts registers', () => {
    const src = readFileSync(join(ROOT, 'src', 'cli.ts'), 'utf8');
    const names: string[] = [];
    let parent = '';
    for (const m of src.matchAll(/^( +)\.command\('([a-z-]+)'\)/gm)) {
      // A nested command (env use, accounts use) is registered on its parent's variable, deeper in the chain.
      const name = m[2] as string;
      if (name === 'use') names.push(`${parent} use`);
      else {
        parent = name;
        names.push(name);
      }
    }
    expect(names.length).toBeGreaterThan(10);
    expect(REFUSED.map(([c]) => c).sort()).toEqual(names.sort());
  });

  it.each(REFUSED)('2: %s refuses bad input with --json: a usage error document, nothing sent', async (_command, args) => {
    const r = await f.run([...args, '--json'], { input: '' });
    expect(r.code, r.stderr).toBe(2);
    const e = errorOf(r.stdout);
    expect(e.exitCode).toBe(2);
    expect(e.hint).toMatch(/./);
    expect(r.stderr).toMatch(/^tasty: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('3: not logged in (an empty keychain)', async () => {
    const t = terminal({});
    const { TASTY_CLIENT_SECRET: _s, TASTY_REFRESH_TOKEN: _t, ...env } = t.io.env;
    const code = await run(['node', 'tasty', 'balances', '--json'], { ...t.io, env });
    expect(code).toBe(3);
    expect(errorOf(t.out.text)).toMatchObject({ code: 'not_logged_in', exitCode: 3 });
    expect(t.err.text).toMatch(/tasty: not logged in to sandbox/);
  });

  it('4: credentials rejected (grant revoked)', async () => {
    f.emu.revokeGrant();
    const r = await f.run(['balances', '--json']);
    expect(r.code).toBe(4);
    const e = errorOf(r.stdout);
    expect(e).toMatchObject({ code: 'grant_revoked', exitCode: 4 });
    expect(e.message).toContain('Grant revoked');
    expect(e.hint).toContain('tasty login');
    expect(r.stderr).toMatch(/tasty: tastytrade rejected/);
  });

  it('5: unreachable (connection refused)', async () => {
    const r = await f.run(['token', '--json'], { env: { TASTY_API_URL: `http://127.0.0.1:${await closedPort()}` } });
    expect(r.code).toBe(5);
    expect(errorOf(r.stdout)).toMatchObject({ code: 'refused', exitCode: 5 });
  });

  it('6: API error (the README example: an unknown --account)', async () => {
    const r = await f.run(['balances', '--account', '5WX99999', '--json']);
    expect(r.code).toBe(6);
    const e = errorOf(r.stdout);
    expect(e).toMatchObject({ code: 'not_found', exitCode: 6 });
    expect(e.hint).toMatch(/5WX01234, 5WY56789/);
    expect(r.stderr).toMatch(/tasty: .*unknown account/);
  });

  it('7: keychain unavailable', async () => {
    const r = await f.run(['login', '--stdin', '--json'], {
      input: `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`,
      env: { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' },
    });
    expect(r.code).toBe(7);
    expect(errorOf(r.stdout)).toMatchObject({ code: 'keychain_unavailable', exitCode: 7 });
  });

  it('8: declined at the confirmation (not a Ctrl-C), nothing sent', async () => {
    const t = terminal({ confirm: async () => false });
    const code = await run(['node', 'tasty', 'api', 'accounts/5WX01234/orders/dry-run', '-d', '{"price":"1.00"}', '--json'], t.io);
    expect(code).toBe(8);
    expect(errorOf(t.out.text)).toMatchObject({ code: 'declined', exitCode: 8 });
    expect(f.emu.count('/accounts/')).toBe(0);
  });

  it('130: Ctrl-C at a prompt', async () => {
    const abort = Object.assign(new Error('User force closed the prompt with SIGINT'), { name: 'ExitPromptError' });
    const t = terminal({ confirm: async () => Promise.reject(abort) });
    const code = await run(['node', 'tasty', 'api', 'accounts/5WX01234/orders/dry-run', '-d', '{}', '--json'], t.io);
    expect(code).toBe(130);
    expect(errorOf(t.out.text)).toMatchObject({ code: 'cancelled', exitCode: 130 });
  });

  it('130: Ctrl-C during a request (a real SIGINT to the process)', async () => {
    f.emu.inject('api', { kind: 'hang' });
    const child = spawnTasty(['api', 'customers/me', '--json'], f.env);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const deadline = Date.now() + 10_000;
    while (f.emu.count('/customers/me') === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code).toBe(130);
    expect(errorOf(stdout)).toMatchObject({ code: 'cancelled', exitCode: 130 });
    expect(stderr).toMatch(/tasty: cancelled/);
  });

  it('status and doctor keep their report as the document whatever the exit code', async () => {
    f.emu.revokeGrant();
    await f.run(['token']);
    const s = await f.run(['status', '--json']);
    expect(s.code).toBe(4);
    expect(oneDocument(s.stdout)).toHaveProperty('environments');
  });

  it('balances --watch --json: one document per line, and a fatal error ends the stream with an error line', async () => {
    f.emu.revokeGrant();
    const r = await f.run(['balances', '--watch', '5', '--json']);
    expect(r.code).toBe(4);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ error: { code: 'grant_revoked', exitCode: 4 } });
  });
});

describe('shapes follow the flags alone', () => {
  it('balances --json is an array unless --account; a saved default gives an array of one; --all every open account; accounts use --unset clears it', async () => {
    const before = await f.run(['balances', '--json']);
    expect((JSON.parse(before.stdout) as unknown[]).length).toBe(2);

    const use = await f.run(['accounts', 'use', '5WY56789', '--json']);
    expect(oneDocument(use.stdout)).toEqual({ environment: 'sandbox', defaultAccount: '5WY56789', previous: null });

    const def = JSON.parse((await f.run(['balances', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(Array.isArray(def)).toBe(true);
    expect(def.map((d) => d.accountNumber)).toEqual(['5WY56789']);

    const one = JSON.parse((await f.run(['balances', '--account', '5WX01234', '--json'])).stdout) as Record<string, unknown>;
    expect(Array.isArray(one)).toBe(false);
    expect(one.accountNumber).toBe('5WX01234');

    const all = JSON.parse((await f.run(['balances', '--all', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(all.map((d) => d.accountNumber)).toEqual(['5WX01234', '5WY56789']);
    const human = await f.run(['balances', '--all']);
    expect(human.stdout).toContain('5WX01234');
    expect(human.stdout).toContain('5WY56789');

    expect((await f.run(['balances', '--all', '--account', '5WX01234'])).code).toBe(2);

    const unset = await f.run(['accounts', 'use', '--unset', '--json']);
    expect(oneDocument(unset.stdout)).toEqual({ environment: 'sandbox', defaultAccount: null, previous: '5WY56789' });
    expect(JSON.parse(readFileSync(join(f.dir, 'config.json'), 'utf8')).defaultAccounts).toEqual({});
    const after = JSON.parse((await f.run(['balances', '--json'])).stdout) as unknown[];
    expect(after).toHaveLength(2);
    const again = await f.run(['accounts', 'use', '--unset']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/nothing changed/);
    expect((await f.run(['accounts', 'use'])).code).toBe(2);
    expect((await f.run(['accounts', 'use', '5WX01234', '--unset'])).code).toBe(2);
  });

  it('balances --watch --json lines have the same shape as one run (an array without --account)', async () => {
    await f.run(['accounts', 'use', '5WX01234']);
    const child = spawnTasty(['balances', '--watch', '5', '--json'], f.env);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const deadline = Date.now() + 10_000;
    while (!out.includes('\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    await new Promise((r) => child.on('close', r));
    const first = JSON.parse(out.split('\n')[0] as string) as Array<Record<string, unknown>>;
    expect(Array.isArray(first)).toBe(true);
    expect(first.map((d) => d.accountNumber)).toEqual(['5WX01234']);
  });
});

describe('tasty api, like gh api', () => {
  it('a path without the leading slash is relative to the API root', async () => {
    const r = await f.run(['api', 'customers/me']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).data['first-name']).toBe('Ada');
    expect(f.emu.requests.at(-1)?.path).toBe('/customers/me');
  });

  it.each([
    ['evil.example/x', '/evil.example/x', ''],
    ['customers/me?x=1', '/customers/me', '?x=1'],
  ])('%s stays on the API host (%s%s)', async (p, path, search) => {
    await f.run(['api', p]);
    expect(f.emu.requests).toHaveLength(2); // the token mint, then the call
    expect(f.emu.requests.at(-1)).toMatchObject({ path, search });
  });

  it('-d without -X means POST: still refused without --yes off a terminal, sent with --yes', async () => {
    const no = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', '{"price":"1.00"}']);
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/POST \/accounts\/5WX01234\/orders\/dry-run .*refusing without confirmation/);
    expect(f.emu.requests).toHaveLength(0);
    const yes = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', '{"price":"1.00"}', '--yes']);
    expect(yes.code).toBe(0);
    expect(f.emu.count('/accounts/5WX01234/orders/dry-run', 'POST')).toBe(1);
    expect((await f.run(['api', 'customers/me', '-X', 'GET', '-d', '{}'])).code).toBe(2);
  });

  it('-d @- reads the body from standard input (and needs --yes: nobody is left to ask)', async () => {
    const body = '{"order-type":"Limit","price":"2.50"}';
    const r = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', '@-', '--yes'], { input: body });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).data.order).toEqual(JSON.parse(body));
    expect(f.emu.requests.at(-1)?.body).toBe(body);
    const noYes = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', '@-'], { input: body });
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/standard input/);
    const empty = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', '@-', '--yes'], { input: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/standard input \(-d @-\) was empty/);
    expect(f.emu.count('/accounts/', 'POST')).toBe(1);
  });

  it('-d @file errors name the file plainly, never a raw errno', async () => {
    const missing = join(f.dir, 'missing.json');
    const r = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', `@${missing}`, '--yes']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`tasty: cannot read ${missing}: no such file`);
    expect(r.stderr).not.toMatch(/ENOENT/);
    const bad = join(f.dir, 'bad.json');
    writeFileSync(bad, '{"price": 1.00,}');
    const b = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', `@${bad}`, '--yes']);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(`tasty: ${bad} is not valid JSON`);
    const dir = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', `@${f.dir}`, '--yes']);
    expect(dir.stderr).toContain(`cannot read ${f.dir}: it is a directory`);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('-H sends extra headers and may override Accept', async () => {
    const r = await f.run(['api', 'customers/me', '-H', 'Accept-Version: 20260601', '-H', 'X-Trace:  abc ']);
    expect(r.code).toBe(0);
    const h = f.emu.requests.at(-1)?.headers ?? {};
    expect(h['accept-version']).toBe('20260601');
    expect(h['x-trace']).toBe('abc');
    expect(h.authorization).toMatch(/^Bearer at_/);
  });

  it.each([
    ['Authorization: Bearer stolen'],
    ['authorization:x'],
    ['Proxy-Authorization: Basic eA=='],
    ['Host: evil.example'],
    ['Connection: close'],
    ['Transfer-Encoding: chunked'],
    ['Upgrade: websocket'],
    ['Content-Length: 5'],
    ['X-Evil: a\r\nAuthorization: Bearer x'],
    ['X-Evil\n: a'],
    ['no colon'],
    [': empty name'],
  ])('-H %j is refused with exit 2 and nothing is sent', async (h) => {
    const r = await f.run(['api', 'customers/me', '-H', h]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tasty: -H/m);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('an error response: its body on stdout, one line + hint on stderr, exit 6', async () => {
    const r = await f.run(['api', 'no/such/thing']);
    expect(r.code).toBe(6);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: 'not_found', message: 'No route for GET /no/such/thing' } });
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^tasty: GET \/no\/such\/thing: 404 No route/);
    expect(lines[1]).toMatch(/^hint: /);
  });

  it('an error response with --json: one error document carrying the HTTP status and tastytrade\'s body', async () => {
    f.emu.inject('/accounts', { kind: 'status', status: 422, code: 'invalid_order', message: 'Price is required' });
    const r = await f.run(['api', 'accounts/5WX01234/orders/dry-run', '-d', '{}', '--yes', '--json']);
    expect(r.code).toBe(6);
    const e = errorOf(r.stdout);
    expect(e).toMatchObject({ code: 'unprocessable', exitCode: 6, status: 422, response: { error: { code: 'invalid_order', message: 'Price is required' } } });
  });

  it('an empty success body is the document null with --json, and nothing on a pipe', async () => {
    f.emu.inject('/customers', { kind: 'body', status: 204, body: '' });
    const j = await f.run(['api', 'customers/me', '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout)).toBeNull();
    f.emu.inject('/customers', { kind: 'body', status: 204, body: '' });
    const p = await f.run(['api', 'customers/me']);
    expect(p.code).toBe(0);
    expect(p.stdout).toBe('');
  });

  it('an error body that echoes a token is redacted, on stdout and in the error document', async () => {
    const echo = JSON.stringify({ error: { code: 'bad', message: 'token eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl is not allowed' } });
    f.emu.inject('/customers', { kind: 'body', status: 400, body: echo });
    const r = await f.run(['api', 'customers/me']);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('[redacted-jwt]');
    expect(r.stdout).not.toContain('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0');
    f.emu.inject('/customers', { kind: 'body', status: 400, body: echo });
    const j = await f.run(['api', 'customers/me', '--json']);
    expect(errorOf(j.stdout).response).toEqual({ error: { code: 'bad', message: 'token [redacted-jwt] is not allowed' } });
  });

  it('an error response on a terminal is pretty JSON', async () => {
    const t = terminal({});
    const code = await run(['node', 'tasty', 'api', 'no/such/thing'], t.io);
    expect(code).toBe(6);
    expect(t.out.text).toBe(`${JSON.stringify({ error: { code: 'not_found', message: 'No route for GET /no/such/thing' } }, null, 2)}\n`);
  });

  it('the confirmation on a terminal shows method, path, environment (production in red) and the start of the body', async () => {
    const body = JSON.stringify({ 'order-type': 'Limit', legs: 'x'.repeat(400) });
    const t = terminal({ confirm: async () => false }, { TASTY_ENV: 'production' });
    const code = await run(['node', 'tasty', 'api', 'accounts/5WX01234/orders', '-d', body], t.io);
    expect(code).toBe(8);
    const plain = t.err.text.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^POST \/accounts\/5WX01234\/orders → production$/m);
    expect(plain).toContain('body: {"order-type":"Limit","legs":"xxxx');
    expect(plain).toMatch(/… \(\d+ bytes\)/);
    expect(t.err.text).toMatch(/\u001b\[31m(\u001b\[1m)?production/);
    expect(t.asked.map((a) => a.message)).toEqual(['Send POST /accounts/5WX01234/orders to production?']);
    expect(plain).toMatch(/declined: POST \/accounts\/5WX01234\/orders was not sent/);
  });
});

describe('-q/--quiet and the plaintext-storage note', () => {
  const g = useFixture({}, { withCreds: false });
  const noCreds = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };

  it('the note appears on human commands only: not on token, not with --json or --quiet', async () => {
    const login = await g.run(['login', '--stdin', '--insecure-storage'], { input: `${g.emu.clientSecret}\n${g.emu.refreshToken}\n`, env: noCreds });
    expect(login.code).toBe(0);
    const human = await g.run(['balances'], { env: noCreds });
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/note: the sandbox secrets are stored in plaintext/);
    for (const args of [['token'], ['token', '--json'], ['balances', '--json'], ['balances', '-q'], ['balances', '--quiet'], ['api', 'customers/me', '-q']]) {
      const r = await g.run(args, { env: noCreds });
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stderr, args.join(' ')).toBe('');
    }
  });

  it('--quiet silences success lines and notes; errors still print', async () => {
    const env = { ...g.env, TASTY_CLIENT_SECRET: g.emu.clientSecret, TASTY_REFRESH_TOKEN: g.emu.refreshToken };
    const loud = await g.run(['api', 'customers/me'], { env });
    expect(loud.stderr).toMatch(/GET \/customers\/me → 200/);
    const use = await g.run(['env', 'use', 'sandbox', '-q'], { env });
    expect(use.code).toBe(0);
    expect(use.stderr).toBe(''); // neither the ✓ line nor the TASTY_ENV note
    const bad = await g.run(['balances', '--account', '../x', '-q'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^tasty: not an account number/);
    expect(bad.stderr).toMatch(/^hint: /m);
  });
});
