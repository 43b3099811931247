// The --json document shapes the README's "Scripting" section promises, one test per shape: every documented field
// is present with its type (fields may be added, never renamed or removed). Also: the README's error-code table is
// exactly the registry, and every cause the code can raise is a registered code.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/error-codes.ts';
import { KEYRING_SESSION, ROOT, useFixture } from './helpers.ts';

const f = useFixture({}, { withCreds: false });
const noEnv = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
const creds = () => ({ TASTY_CLIENT_SECRET: f.emu.clientSecret, TASTY_REFRESH_TOKEN: f.emu.refreshToken });

type Spec = Record<string, 'string' | 'number' | 'boolean' | 'object' | 'array' | 'string|null' | 'object|null' | 'number|null'>;

function typeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Every documented field is present with one of its documented types. */
function conforms(doc: unknown, spec: Spec, where = 'document'): void {
  expect(typeOf(doc), where).toBe('object');
  const o = doc as Record<string, unknown>;
  for (const [k, t] of Object.entries(spec)) {
    expect(Object.hasOwn(o, k), `${where}.${k} present`).toBe(true);
    expect(t.split('|'), `${where}.${k}: ${typeOf(o[k])}`).toContain(typeOf(o[k]));
  }
}

async function json(args: string[], o: { env?: Record<string, string | undefined>; input?: string } = {}, code = 0): Promise<unknown> {
  const r = await f.run([...args, '--json'], { env: { ...creds(), ...o.env }, input: o.input });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
  return JSON.parse(r.stdout);
}

const BALANCE: Spec = { accountNumber: 'string', environment: 'string', currency: 'string', netLiquidatingValue: 'number', cashBalance: 'number', updatedAt: 'string' };
const ERROR: Spec = { code: 'string', message: 'string', hint: 'string|null', exitCode: 'number' };

describe('--json document shapes (README "Scripting")', () => {
  it('token', async () => {
    conforms(await json(['token']), { accessToken: 'string', tokenType: 'string', expiresAt: 'string', environment: 'string' });
  });

  it('login', async () => {
    const d = await json(['login', '--stdin', '--insecure-storage'], { env: noEnv, input: `${f.emu.clientSecret}\n${f.emu.refreshToken}\n` });
    conforms(d, { environment: 'string', user: 'string|null', accounts: 'number', storage: 'object', grantId: 'string|null', scopes: 'array' });
    conforms((d as { storage: unknown }).storage, { kind: 'string', where: 'string' }, 'storage');
  });

  it('logout (an array of environments, with or without --all)', async () => {
    for (const args of [['logout'], ['logout', '--all']]) {
      // A report: the document also when the keychain cannot be reached (exit 7, outside a keyring session).
      const d = (await json(args, { env: noEnv }, KEYRING_SESSION ? 0 : 7)) as { environments: unknown[] };
      conforms(d, { environments: 'array', complete: 'boolean', environmentVariablesSet: 'boolean' });
      for (const e of d.environments) conforms(e, { environment: 'string', removed: 'array' }, 'environments[]');
    }
  });

  it('status (an array of environments, with or without --all)', async () => {
    for (const args of [['status'], ['status', '--all']]) {
      const d = (await json(args)) as { environments: unknown[] };
      conforms(d, { selected: 'string', selectedFrom: 'string', defaultEnvironment: 'string|null', environments: 'array' });
      expect(d.environments.length).toBe(args.length === 1 ? 1 : 2);
      for (const e of d.environments) {
        conforms(e, { environment: 'string', loggedIn: 'boolean', source: 'object|null', refreshToken: 'object|null', accessToken: 'object', rejection: 'object|null', problems: 'array', isDefault: 'boolean' }, 'environments[]');
      }
    }
  });

  it('env and env use', async () => {
    conforms(await json(['env']), { environment: 'string', source: 'string', baseUrl: 'string', baseUrlOverridden: 'boolean', savedDefault: 'string|null' });
    conforms(await json(['env', 'use', 'sandbox']), { defaultEnvironment: 'string' });
  });

  it('accounts: an array', async () => {
    const d = (await json(['accounts'])) as unknown[];
    expect(typeOf(d)).toBe('array');
    for (const a of d) conforms(a, { accountNumber: 'string', environment: 'string', isDefault: 'boolean' }, 'accounts[]');
  });

  it('accounts use and accounts use --unset', async () => {
    const spec: Spec = { environment: 'string', defaultAccount: 'string|null', previous: 'string|null' };
    conforms(await json(['accounts', 'use', '5WX01234']), spec);
    const u = await json(['accounts', 'use', '--unset']);
    conforms(u, spec);
    expect(u).toMatchObject({ defaultAccount: null, previous: '5WX01234' });
  });

  it('balances --account: one object', async () => {
    conforms(await json(['balances', '--account', '5WX01234']), BALANCE);
  });

  it('balances and balances --all: an array, whatever is saved', async () => {
    await f.run(['accounts', 'use', '5WY56789'], { env: creds() });
    for (const args of [['balances'], ['balances', '--all']]) {
      const d = (await json(args)) as unknown[];
      expect(typeOf(d), args.join(' ')).toBe('array');
      expect(d.length).toBe(args.length === 1 ? 1 : 2);
      for (const b of d) conforms(b, BALANCE, 'balances[]');
    }
  });

  it('api: tastytrade\'s body as it came', async () => {
    const d = await json(['api', 'customers/me']);
    expect((d as { data: Record<string, unknown> }).data['first-name']).toBe('Ada');
  });

  it('doctor: one environment, and {ok, environments} with --all', async () => {
    const CHECK: Spec = { id: 'string', status: 'string', summary: 'string', detail: 'string|null', fix: 'string|null', cause: 'string|null' };
    const one = (await json(['doctor'])) as { checks: unknown[] };
    conforms(one, { environment: 'string', ok: 'boolean', checks: 'array' });
    for (const c of one.checks) conforms(c, CHECK, 'checks[]');
    const r = await f.run(['doctor', '--all', '--json'], { env: creds() });
    const all = JSON.parse(r.stdout) as { environments: unknown[] };
    conforms(all, { ok: 'boolean', environments: 'array' });
    for (const e of all.environments) conforms(e, { environment: 'string', ok: 'boolean', checks: 'array' }, 'environments[]');
  });

  it('any failure: {"error":{"code","message","hint","exitCode"}}, and code is a documented one', async () => {
    const d = (await json(['balances', '--account', '5WX99999'], {}, 6)) as { error: Record<string, unknown> };
    expect(Object.keys(d)).toEqual(['error']);
    conforms(d.error, ERROR, 'error');
    expect(Object.keys(ERROR_CODES)).toContain(d.error.code);
  });

  it('tasty api failure: the error document adds status and response', async () => {
    const d = (await json(['api', 'no/such/thing'], {}, 6)) as { error: Record<string, unknown> };
    conforms(d.error, { ...ERROR, status: 'number', response: 'object' }, 'error');
  });
});

describe('error codes', () => {
  it('the README lists exactly the registered codes with their exit codes', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('**Error codes**'));
    const rows = [...section.matchAll(/^\| `([a-z_0-9]+)` \| (\d+) \|/gm)].map((m) => [m[1], Number(m[2])]);
    expect(rows).toEqual(Object.entries(ERROR_CODES).map(([k, [exit]]) => [k, exit]));
  });

  it('every cause the code can raise is a registered code (so no error reaches a script under an undocumented name)', () => {
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(d, e.name));
        else if (e.name.endsWith('.ts')) files.push(join(d, e.name));
      }
    };
    walk(join(ROOT, 'src'));
    const found = new Set<string>();
    for (const file of files) {
      // doctor.ts names the causes of its checks (ip_block, clock_skew, …): those are not error codes.
      if (file.endsWith(`${join('src', 'doctor.ts')}`)) continue;
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bcause_?\s*[:=]\s*'([a-z_0-9]+)'/g)) found.add(m[1] as string);
      for (const m of text.matchAll(/new UnreachableError\([^;]*?,\s*'([a-z_0-9]+)'/g)) found.add(m[1] as string);
      for (const m of text.matchAll(/new (?:Api|Unauthorized)Error\([^;]*?'([a-z_0-9]+)',?\s*\)\s*;/g)) found.add(m[1] as string);
    }
    found.delete('error'); // TastyError's default: reported under its exit code's code
    expect(found.size).toBeGreaterThan(15);
    expect([...found].filter((c) => !Object.hasOwn(ERROR_CODES, c))).toEqual([]);
  });
});
