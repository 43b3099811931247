// Unit tests of the auth engine: resolution order, trimming, fingerprints, expiry arithmetic, state recovery, guard.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api/client.ts';
import { cleanSecret, fromEnv, fromFile, writeToFile } from '../src/auth/credentials.ts';
import { AuthEngine } from '../src/auth/engine.ts';
import { decodeRefreshToken, mask } from '../src/auth/jwt.ts';
import { emptyState, identity, readState, reuseMarginMs, STATE_FILE } from '../src/auth/state.ts';
import { CredentialsRejectedError, NotLoggedInError, type TastyError } from '../src/errors.ts';
import { makeRefreshToken } from './emulator/emulator.ts';
import { MemoryStore, tmpDir, useEmulator } from './helpers.ts';
import { expectMode } from './platforms.ts';


const emu = useEmulator({ environment: 'sandbox' });
let dir: string;
let clock: number;
let store: MemoryStore;
let warnings: string[];
let keychainLoads: number;

function engine(env: Record<string, string> = {}): AuthEngine {
  const client = new ApiClient({ baseUrl: emu.url, environment: 'sandbox', timeoutMs: 2000, userAgent: 'tasty-cli/test', env: {}, retry: { maxRetries: 2, baseDelayMs: 1, retryAfterCapMs: 5 } });
  return new AuthEngine({
    dir,
    env,
    now: () => clock,
    client: async () => client,
    api: () => emu.url,
    keychain: async () => {
      keychainLoads++;
      return store;
    },
    warn: (m) => warnings.push(m),
    timeoutMs: 2000,
  });
}

const envCreds = () => ({ TASTY_CLIENT_SECRET: emu.clientSecret, TASTY_REFRESH_TOKEN: emu.refreshToken });

beforeEach(() => {
  emu.expiresIn = 900;
  dir = tmpDir();
  clock = Date.now();
  store = new MemoryStore();
  warnings = [];
  keychainLoads = 0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('credential sources', () => {
  it('trims whitespace and surrounding quotes', () => {
    expect(cleanSecret('  abc \n')).toBe('abc');
    expect(cleanSecret('"abc"')).toBe('abc');
    expect(cleanSecret(" 'a.b.c' ")).toBe('a.b.c');
    expect(cleanSecret('"\'x\'"')).toBe('x');
    expect(cleanSecret('a"b')).toBe('a"b');
  });

  it('TASTY_* beats TASTYTRADE_*, and a lone variable is reported as incomplete', () => {
    const both = fromEnv({ TASTY_CLIENT_SECRET: 's1', TASTY_REFRESH_TOKEN: 'r1', TASTYTRADE_CLIENT_SECRET: 's2', TASTYTRADE_REFRESH_TOKEN: 'r2' });
    expect(both.credentials?.clientSecret).toBe('s1');
    expect(both.credentials?.where).toContain('TASTY_CLIENT_SECRET');
    const alt = fromEnv({ TASTYTRADE_CLIENT_SECRET: ' "s2" ', TASTYTRADE_REFRESH_TOKEN: 'r2\n' });
    expect(alt.credentials).toMatchObject({ clientSecret: 's2', refreshToken: 'r2', source: 'env' });
    const lone = fromEnv({ TASTY_REFRESH_TOKEN: 'r' });
    expect(lone.credentials).toBeUndefined();
    expect(lone.incomplete).toMatch(/TASTY_REFRESH_TOKEN is set but TASTY_CLIENT_SECRET is not/);
  });

  it('env vars > credentials file > keychain, and each result names its source', async () => {
    store.data.set('sandbox', { clientSecret: 'kc-secret', refreshToken: 'kc.refresh.token' });
    expect((await engine().credentials('sandbox'))?.source).toBe('keychain');
    writeToFile(dir, 'sandbox', { clientSecret: 'file-secret', refreshToken: 'f.r.t' }, new Date());
    const f = await engine().credentials('sandbox');
    expect(f).toMatchObject({ source: 'file', clientSecret: 'file-secret' });
    expect(f?.where).toBe(join(dir, 'credentials.json'));
    expectMode(join(dir, 'credentials.json'), '600');
    const e = await engine(envCreds()).credentials('sandbox');
    expect(e?.source).toBe('env');
    expect(fromFile(dir, 'production')).toBeUndefined();
  });

  it('no credentials anywhere → exit 3 naming login and the variables', async () => {
    const err = await engine().getToken('sandbox').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NotLoggedInError);
    expect((err as TastyError).exitCode).toBe(3);
    expect((err as TastyError).hint).toMatch(/tasty login --env sandbox.*TASTY_CLIENT_SECRET/);
  });
});

describe('jwt and fingerprints', () => {
  it('decodes a refresh token without verifying it', () => {
    const t = makeRefreshToken({ grantId: 'G123', clientId: 'client-1', scope: 'read trade openid', iat: 1_700_000_000 });
    const d = decodeRefreshToken(t);
    expect(d.ok && d.facts).toMatchObject({ grantId: 'G123', clientId: 'client-1', scopes: ['read', 'trade', 'openid'], issuedAt: '2023-11-14T22:13:20.000Z', type: 'rt+jwt' });
    expect(decodeRefreshToken('abc').ok).toBe(false);
    expect(decodeRefreshToken(`${t.slice(0, 20)} ${t.slice(20)}`)).toMatchObject({ ok: false, problem: expect.stringMatching(/whitespace/) });
    expect(decodeRefreshToken('aaa.bbb.ccc')).toMatchObject({ ok: false, problem: expect.stringMatching(/do not decode/) });
  });

  it('identities are keyed hashes: stable under one key, different per secret and per key', () => {
    const c = { clientSecret: 's', refreshToken: 'r' };
    const k = emptyState();
    expect(identity(k, c)).toHaveLength(32);
    expect(identity(k, c)).toBe(identity(k, { ...c }));
    expect(identity(k, c)).not.toBe(identity(k, { ...c, clientSecret: 's2' }));
    // Keyed: the same secrets have another identity under another state's key (nothing to look up across files).
    expect(identity(emptyState(), c)).not.toBe(identity(k, c));
    expect(mask('5WX01234abcd')).toBe('5WX0…abcd');
  });
});

describe('token cache', () => {
  it('mints once, then reuses while more than 60 s are left (fake clock)', async () => {
    const a = await engine(envCreds()).getToken('sandbox');
    expect(a.minted).toBe(true);
    expect(Date.parse(a.token.expiresAt) - clock).toBe(900_000);
    clock += 839_000; // 61 s left
    const b = await engine(envCreds()).getToken('sandbox');
    expect(b.minted).toBe(false);
    expect(b.token.accessToken).toBe(a.token.accessToken);
    clock += 1_000; // exactly 60 s left: not reused
    const c = await engine(envCreds()).getToken('sandbox');
    expect(c.minted).toBe(true);
    expect(emu.mints).toBe(2);
  });

  it('the margin shrinks for very short lifetimes (a quarter of the life)', () => {
    const t = { accessToken: 'a', tokenType: 'Bearer', mintedAt: new Date(0).toISOString(), expiresAt: new Date(8_000).toISOString(), };
    expect(reuseMarginMs(t)).toBe(2_000);
    expect(reuseMarginMs({ ...t, expiresAt: new Date(900_000).toISOString() })).toBe(60_000);
  });

  it('the state file holds no refresh token or secret, is 0600, and the hot path skips the keychain', async () => {
    store.data.set('sandbox', { clientSecret: emu.clientSecret, refreshToken: emu.refreshToken });
    await engine().getToken('sandbox');
    expect(keychainLoads).toBe(1);
    const text = readFileSync(join(dir, STATE_FILE), 'utf8');
    expect(text).not.toContain(emu.refreshToken);
    expect(text).not.toContain(emu.clientSecret);
    expectMode(join(dir, STATE_FILE), '600');
    const again = await engine().getToken('sandbox');
    expect(again.minted).toBe(false);
    expect(keychainLoads).toBe(1); // hot path: the keychain was not even loaded
  });

  it('a token minted from other credentials is never reused', async () => {
    await engine(envCreds()).getToken('sandbox');
    const other = { TASTY_CLIENT_SECRET: emu.clientSecret, TASTY_REFRESH_TOKEN: makeRefreshToken() };
    const err = await engine(other).getToken('sandbox').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(CredentialsRejectedError); // a fresh mint was attempted, and the emulator refused it
    expect(emu.tokenRequests).toBe(2);
  });

  for (const [name, content] of [
    ['garbage', '\u0000\u0001garbage{'],
    ['truncated', '{"version":1,"environments":{"sandbox":{"token":{"accessTo'],
    ['unknown version', '{"version":99,"environments":{}}'],
    ['wrong types', '{"version":1,"environments":{"sandbox":{"token":{"accessToken":5,"expiresAt":[]}}}}'],
  ] as const) {
    it(`a ${name} state file is treated as empty with one warning, then rewritten`, async () => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, STATE_FILE), content);
      const r = await engine(envCreds()).getToken('sandbox');
      expect(r.minted).toBe(true);
      if (name !== 'wrong types') {
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/ignoring it/);
      }
      expect(readState(dir).problem).toBeUndefined();
      expect(readState(dir).state.tokens[0]?.accessToken).toBe(r.token.accessToken);
    });
  }
});

describe('atomic writes', () => {
  it('a temp file left by a killed writer is swept on the next write; a live writer\'s is kept', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid ?? 999_999;
    mkdirSync(dir, { recursive: true });
    const orphan = join(dir, `${STATE_FILE}.${dead}.0badf00d.tmp`);
    const live = join(dir, `${STATE_FILE}.${process.pid}.0badf00d.tmp`);
    writeFileSync(orphan, 'half a write');
    writeFileSync(live, 'being written');
    await engine(envCreds()).getToken('sandbox');
    expect(existsSync(orphan)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });
});

describe('rejection guard', () => {
  it('a rejected grant is remembered and never resent until the credentials change', async () => {
    emu.revokeGrant();
    const e1 = await engine(envCreds()).getToken('sandbox').catch((x: unknown) => x);
    expect(e1).toBeInstanceOf(CredentialsRejectedError);
    expect(emu.tokenRequests).toBe(1);
    const held = readState(dir).state.rejections[0];
    expect(held).toMatchObject({ description: 'Grant revoked', code: 'grant_revoked' });
    for (let i = 0; i < 5; i++) {
      const e = (await engine(envCreds()).getToken('sandbox').catch((x: unknown) => x)) as TastyError;
      expect(e.exitCode).toBe(4);
      expect(e.message).toMatch(/"Grant revoked".*not sent again/);
    }
    expect(emu.tokenRequests).toBe(1);
    // New credentials (a new grant): the guard does not apply to them, and their success does not clear the
    // rejection of the old ones (which a stale variable or cron job may still hold).
    const revoked = envCreds();
    emu.refreshToken = makeRefreshToken();
    const ok = await engine(envCreds()).getToken('sandbox');
    expect(ok.minted).toBe(true);
    expect(readState(dir).state.rejections).toHaveLength(1);
    const back = (await engine(revoked).getToken('sandbox').catch((x: unknown) => x)) as TastyError;
    expect(back.exitCode).toBe(4);
    expect(emu.tokenRequests).toBe(2);
  });

  it('transient failures do not arm the guard', async () => {
    emu.inject('token', { kind: 'status', status: 503 }, Number.POSITIVE_INFINITY);
    await expect(engine(envCreds()).getToken('sandbox')).rejects.toMatchObject({ exitCode: 6 });
    emu.clearFaults();
    emu.inject('token', { kind: 'transient-invalid-request' }, Number.POSITIVE_INFINITY);
    await expect(engine(envCreds()).getToken('sandbox')).rejects.toMatchObject({ cause_: 'transient_invalid_request' });
    emu.clearFaults();
    emu.inject('token', { kind: 'hang' });
    const hung = engine(envCreds());
    await expect(hung.getToken('sandbox')).rejects.toMatchObject({ exitCode: 5 });
    expect(readState(dir).state.rejections).toHaveLength(0);
    expect((await engine(envCreds()).getToken('sandbox')).minted).toBe(true);
  });

  it('no fault ever changes stored credentials', async () => {
    store.data.set('sandbox', { clientSecret: emu.clientSecret, refreshToken: emu.refreshToken });
    const before = JSON.stringify([...store.data]);
    emu.revokeGrant();
    await engine().getToken('sandbox').catch(() => {});
    await engine().getToken('sandbox').catch(() => {});
    expect(JSON.stringify([...store.data])).toBe(before);
  });
});

describe('API calls through the engine', () => {
  it('401 with a cached token → drop it, mint once, retry once', async () => {
    const eng = engine(envCreds());
    await eng.getToken('sandbox');
    emu.revokeAccessTokens();
    emu.reset();
    const r = await eng.call('sandbox', 'GET', '/customers/me');
    expect(r.status).toBe(200);
    expect(emu.mints).toBe(1);
    expect(emu.count('/customers/me')).toBe(2);
  });

  it('an HTML 401 (nginx: a bad User-Agent, not an expired token) is not answered with a re-mint', async () => {
    const eng = engine(envCreds());
    await eng.getToken('sandbox');
    emu.reset();
    emu.inject('/customers/me', { kind: 'html-401' });
    await expect(eng.call('sandbox', 'GET', '/customers/me')).rejects.toMatchObject({ status: 401, cause_: 'html_401' });
    expect(emu.tokenRequests).toBe(0);
    expect(emu.count('/customers/me')).toBe(1);
  });

  it('a second 401 after the re-mint is an error, not a loop', async () => {
    const eng = engine(envCreds());
    emu.inject('/customers/me', { kind: 'unauthorized' }, 5);
    await expect(eng.call('sandbox', 'GET', '/customers/me')).rejects.toMatchObject({ status: 401 });
    expect(emu.count('/customers/me')).toBe(2);
    expect(emu.mints).toBe(2);
  });

  it('keepAlive re-mints ahead of expiry, and a failing endpoint gets at most one mint per cooldown', async () => {
    emu.expiresIn = 3;
    const eng = new AuthEngine({
      dir,
      env: envCreds(),
      now: Date.now,
      client: async () => new ApiClient({ baseUrl: emu.url, environment: 'sandbox', timeoutMs: 2000, userAgent: 'tasty-cli/test', env: {}, retry: { maxRetries: 0, baseDelayMs: 1, retryAfterCapMs: 5 } }),
      api: () => emu.url,
      keychain: async () => store,
      warn: () => {},
      timeoutMs: 2000,
    });
    await eng.getToken('sandbox');
    const stop = eng.keepAlive('sandbox', () => {}, { minRetryMs: 1_000 });
    await new Promise((r) => setTimeout(r, 4_500));
    const mintsHealthy = emu.mints;
    expect(mintsHealthy).toBeGreaterThanOrEqual(3); // 1 + about one per 2 s
    const st = readState(dir).state.tokens[0];
    expect(Date.parse(st?.expiresAt ?? '') - Date.now()).toBeGreaterThan(0); // never lapsed
    eng.setMintCooldown(1_000);
    emu.inject('token', { kind: 'status', status: 500 }, Number.POSITIVE_INFINITY);
    const before = emu.tokenRequests;
    await new Promise((r) => setTimeout(r, 3_000));
    stop();
    expect(emu.tokenRequests - before).toBeLessThanOrEqual(4); // ≤ one per second of cooldown (+1 edge)
  });
});
