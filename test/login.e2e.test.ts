// login / logout / status / env end to end: the real keychain in CI (gnome-keyring), the file store everywhere.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Prompter } from '../src/prompt.ts';
import { makeRefreshToken } from './emulator/emulator.ts';
import { inProcess, KEYRING_REQUIRED, KEYRING_SESSION, MemoryStore, useFixture } from './helpers.ts';
import { expectMode } from './platforms.ts';

const keychainAvailable = KEYRING_SESSION;
const keychainRequired = KEYRING_REQUIRED;

const f = useFixture({}, { withCreds: false });
/** Runs without env-var credentials, so stored ones are used. */
const noEnvCreds = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
const input = () => `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`;

afterEach(async () => {
  await f.run(['logout', '--all']); // never leave entries in the test keyring (runs before the fixture's cleanup)
});

function secretToolLookup(environment: string): string | undefined {
  const r = spawnSync('secret-tool', ['lookup', 'service', f.env.TASTY_KEYCHAIN_SERVICE ?? 'tasty', 'username', environment], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : undefined;
}

describe('login --stdin --insecure-storage (file store)', () => {
  it('validates, stores 0600, and status/token/logout round-trip', async () => {
    const r = await f.run(['login', '--stdin', '--insecure-storage'], { input: input() });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/✓ Logged in to sandbox as Ada Lovelace \(2 accounts\)\. Secrets stored in plaintext in .*credentials\.json \(mode 0600\)\./);
    expect(r.stderr).toMatch(/Refresh token: grant G[0-9a-f]+, client .{4}….{4}, scopes read trade, issued \d{4}-\d\d-\d\d/);
    const file = join(f.dir, 'credentials.json');
    expectMode(file, '600');
    expect(f.emu.mints).toBe(1);

    const st = await f.run(['status', '--json']);
    expect(st.code).toBe(0);
    const doc = JSON.parse(st.stdout);
    expect(doc.environments[0]).toMatchObject({ environment: 'sandbox', loggedIn: true, insecureStorage: true, source: { kind: 'file' }, accessToken: { state: 'valid' }, rejection: null });
    expect(doc.environments[0].refreshToken.scopes).toEqual(['read', 'trade']);

    const tok = await f.run(['token']);
    expect(tok.code).toBe(0);
    expect(f.emu.mints).toBe(1); // login cached the fresh token

    const out = await f.run(['logout']);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/Logged out of sandbox/);
    expect(existsSync(file)).toBe(false);
    const again = await f.run(['logout']);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/Nothing to remove for sandbox/);
    const st2 = await f.run(['status']);
    expect(st2.code).toBe(3);
    expect(st2.stdout).toMatch(/Not logged in/);
  });

  it('a rejected login stores nothing, keeps the earlier credentials byte-identical, exits 4', async () => {
    await f.run(['login', '--stdin', '--insecure-storage'], { input: input() });
    const file = join(f.dir, 'credentials.json');
    const before = readFileSync(file);
    const other = makeRefreshToken();
    const r = await f.run(['login', '--stdin', '--insecure-storage'], { input: `${f.emu.clientSecret}\n${other}\n` });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('"Invalid JWT"');
    expect(r.stderr).toMatch(/belongs to production, not sandbox/);
    expect(readFileSync(file).equals(before)).toBe(true);
    // The stored credentials still work, without a new mint.
    expect((await f.run(['token'])).code).toBe(0);
    // The same rejected credentials are not sent a second time.
    const requests = f.emu.tokenRequests;
    const again = await f.run(['login', '--stdin', '--insecure-storage'], { input: `${f.emu.clientSecret}\n${other}\n` });
    expect(again.code).toBe(4);
    expect(f.emu.tokenRequests).toBe(requests);
  });

  it('unreachable API → exit 5 and nothing stored', async () => {
    const r = await f.run(['login', '--stdin', '--insecure-storage'], { input: input(), env: { TASTY_API_URL: 'http://127.0.0.1:9' } });
    expect(r.code).toBe(5);
    expect(existsSync(join(f.dir, 'credentials.json'))).toBe(false);
  });

  it.each([
    ['one line only', 'secret-only\n', /needs two lines/],
    ['a refresh token that is not a JWT', 'sec\nnot-a-jwt\n', /is not a JWT/],
    ['a secret with inner whitespace', 'sec ret\na.b.c\n', /contains whitespace/],
  ])('shape errors (%s) → exit 2 before any request', async (_n, text, re) => {
    const r = await f.run(['login', '--stdin', '--insecure-storage'], { input: text });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('quotes and whitespace from copy-paste are cleaned before use', async () => {
    const r = await f.run(['login', '--stdin', '--insecure-storage'], { input: `  "${f.emu.clientSecret}"  \n'${f.emu.refreshToken}'\r\n` });
    expect(r.code).toBe(0);
  });

  it('without a TTY and without --stdin → exit 2 naming --stdin and the variables', async () => {
    const r = await f.run(['login']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--stdin/);
    expect(r.stderr).toMatch(/TASTY_CLIENT_SECRET/);
  });

  it('says when TASTY_* variables take precedence', async () => {
    const r = await f.run(['login', '--stdin', '--insecure-storage'], { input: input(), env: { TASTY_CLIENT_SECRET: 'x', TASTY_REFRESH_TOKEN: 'y' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/take precedence/);
  });

  it('logout never touches the other environment', async () => {
    await f.run(['login', '--stdin', '--insecure-storage'], { input: input() });
    const r = await f.run(['logout', '--env', 'production']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Nothing to remove for production/);
    expect((await f.run(['status'])).code).toBe(0);
  });

  it('status exits 4 while a rejection is held, and login clears it', async () => {
    await f.run(['login', '--stdin', '--insecure-storage'], { input: input() });
    f.emu.revokeGrant();
    f.emu.revokeAccessTokens();
    f.emu.expiresIn = 1;
    // Force a mint: drop the cached token by letting the emulator revoke it and asking for a fresh one.
    const st0 = JSON.parse(readFileSync(join(f.dir, 'state.json'), 'utf8'));
    st0.tokens[0].expiresAt = new Date(Date.now() - 1000).toISOString();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st0));
    expect((await f.run(['token'])).code).toBe(4);
    const st = await f.run(['status', '--json']);
    expect(st.code).toBe(4);
    expect(JSON.parse(st.stdout).environments[0].rejection).toMatchObject({ description: 'Grant revoked', held: true });
    const human = await f.run(['status']);
    expect(human.stdout).toMatch(/Rejected by tastytrade at .* "Grant revoked"/);
    // A new grant, a new login: the guard is cleared.
    f.emu.refreshToken = makeRefreshToken();
    const l = await f.run(['login', '--stdin', '--insecure-storage'], { input: input() });
    expect(l.code).toBe(0);
    expect((await f.run(['status'])).code).toBe(0);
  });
});

describe('env', () => {
  it('shows the choice and its source; env use saves the default', async () => {
    const base = { TASTY_ENV: undefined };
    let r = await f.run(['env'], { env: base });
    expect(r.stdout.trim()).toBe('production (from built-in default)');
    r = await f.run(['env', 'use', 'sandbox'], { env: base });
    expect(r.code).toBe(0);
    r = await f.run(['env', '--json'], { env: base });
    expect(JSON.parse(r.stdout)).toMatchObject({ environment: 'sandbox', source: 'saved default', savedDefault: 'sandbox' });
    r = await f.run(['env'], { env: { TASTY_ENV: 'production' } });
    expect(r.stdout.trim()).toBe('production (from TASTY_ENV)');
    r = await f.run(['env', '--env', 'sandbox'], { env: { TASTY_ENV: 'production' } });
    expect(r.stdout.trim()).toBe('sandbox (from --env)');
    r = await f.run(['env', 'use', 'staging'], { env: base });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/production, sandbox/);
  });
});

describe.runIf(keychainAvailable || keychainRequired)('moving between the keychain and the file', () => {
  it('a keychain login removes the plaintext copy (which would outrank it); a file login removes the keychain entry', async () => {
    const file = join(f.dir, 'credentials.json');
    expect((await f.run(['login', '--stdin', '--insecure-storage'], { input: input(), env: noEnvCreds })).code).toBe(0);
    expect(existsSync(file)).toBe(true);
    expect((await f.run(['login', '--stdin'], { input: input(), env: noEnvCreds })).code).toBe(0);
    expect(existsSync(file)).toBe(false);
    expect(secretToolLookup('sandbox')).toBeDefined();
    const st = await f.run(['status', '--json'], { env: noEnvCreds });
    expect(JSON.parse(st.stdout).environments[0].source.kind).toBe('keychain');
    expect((await f.run(['login', '--stdin', '--insecure-storage'], { input: input(), env: noEnvCreds })).code).toBe(0);
    expect(secretToolLookup('sandbox')).toBeUndefined();
    expect(existsSync(file)).toBe(true);
    await f.run(['logout'], { env: noEnvCreds });
  });
});

describe.runIf(keychainAvailable || keychainRequired)('login with the real keychain', () => {
  it('stores the secrets in the Secret Service (read back with secret-tool), token and logout round-trip', async () => {
    const r = await f.run(['login', '--stdin'], { input: input(), env: noEnvCreds });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Secrets stored in the Secret Service keyring\./);
    const stored = secretToolLookup('sandbox');
    expect(stored && JSON.parse(stored)).toMatchObject({ clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken });
    expect(existsSync(join(f.dir, 'credentials.json'))).toBe(false);
    const st = await f.run(['status', '--json']);
    expect(JSON.parse(st.stdout).environments[0].source).toEqual({ kind: 'keychain', where: 'Secret Service keyring' });
    expect((await f.run(['token'])).code).toBe(0);
    expect(f.emu.mints).toBe(1);
    const out = await f.run(['logout']);
    expect(out.stderr).toMatch(/secrets in the Secret Service keyring/);
    expect(secretToolLookup('sandbox')).toBeUndefined();
  });

  it('a rejected login leaves the keychain entry byte-identical', async () => {
    await f.run(['login', '--stdin'], { input: input() });
    const before = secretToolLookup('sandbox');
    const r = await f.run(['login', '--stdin'], { input: `wrong-secret\n${f.emu.refreshToken}\n` });
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('"Client secret mismatch"');
    expect(secretToolLookup('sandbox')).toBe(before);
  });
});

describe('no usable keychain', () => {
  it('login fails with exit 7 offering --insecure-storage and the variables, before any request', async () => {
    const r = await f.run(['login', '--stdin'], { input: input(), env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/bus' } });
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/no Secret Service is running/);
    expect(r.stderr).toMatch(/--insecure-storage/);
    expect(r.stderr).toMatch(/TASTY_CLIENT_SECRET/);
    expect(f.emu.requests).toHaveLength(0);
  });
});


describe('interactive login (prompt layer injected, TTY streams)', () => {
  it('asks for the environment and both secrets (masked), then stores them', async () => {
    const asked: string[] = [];
    const prompter: Prompter = {
      async select<T>(message: string, choices: { value: T; description?: string }[]) {
        asked.push(message);
        expect(choices.map((c) => c.value)).toEqual(['production', 'sandbox']);
        expect(choices[0]?.description).toMatch(/separate OAuth apps/);
        return 'sandbox' as T;
      },
      async secret(message) {
        asked.push(message);
        return message.startsWith('Client secret') ? f.emu.clientSecret : ` ${f.emu.refreshToken} `;
      },
      async confirm() {
        return false;
      },
    };
    const store = new MemoryStore();
    // CI: no spinner on the fake TTY.
    const t = inProcess({ env: { TASTY_CONFIG_DIR: f.dir, TASTY_API_URL: f.emu.url, CI: 'true' }, store, prompter });
    const code = await t.run(['login']);
    const err = t.err.text;
    const outText = t.out.text;
    expect(code).toBe(0);
    expect(asked).toEqual(['Which environment?', 'Client secret (sandbox OAuth app):', 'Refresh token (sandbox grant):']);
    expect(store.data.get('sandbox')).toEqual({ clientSecret: f.emu.clientSecret, refreshToken: f.emu.refreshToken });
    expect(err).toMatch(/Logged in to sandbox as Ada Lovelace/);
    expect(err + outText).not.toContain(f.emu.clientSecret);
    expect(err + outText).not.toContain(f.emu.refreshToken);
  });
});
