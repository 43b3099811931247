// Unit tests: the environment `tasty exec` builds for a child, and the quote-token part of the state file
// (parsed defensively, bounded, expired entries dropped); the quote-token answer's parser.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseQuoteToken, QUOTE_TOKEN_LIFETIME_MS } from '../src/api/quote-token.ts';
import { childEnv, SECRET_VARS } from '../src/auth/peers.ts';
import { type CachedQuoteToken, type CachedToken, collect, emptyState, MAX_QUOTE_TOKENS, readState, STATE_FILE, writeState } from '../src/auth/state.ts';
import { makeRefreshToken } from './emulator/emulator.ts';
import { tmpDir } from './helpers.ts';

const token: CachedToken = {
  env: 'production',
  api: 'https://api.tastyworks.com',
  fp: 'a'.repeat(32),
  accessToken: 'at_token',
  tokenType: 'Bearer',
  expiresAt: '2026-01-01T00:15:00.000Z',
  mintedAt: '2026-01-01T00:00:00.000Z',
  source: 'keychain',
};
const rt = makeRefreshToken({ clientId: 'client-1234' });
const creds = { clientSecret: 'cs_secret', refreshToken: rt, source: 'keychain' as const, where: 'test' };
const prod = { baseUrl: 'https://api.tastyworks.com', overridden: false };

describe('childEnv', () => {
  it('adds the token, expiry (epoch seconds), environment and the secrets under every peer name', () => {
    const e = childEnv({ PATH: '/bin', KEEP: 'me' }, { environment: 'production', api: prod, token, credentials: creds });
    expect(e).toMatchObject({
      PATH: '/bin',
      KEEP: 'me',
      TASTY_ACCESS_TOKEN: 'at_token',
      TASTY_ACCESS_TOKEN_EXPIRES_AT: String(Date.parse('2026-01-01T00:15:00Z') / 1000),
      TASTY_ENV: 'production',
      TASTYTRADE_ENV: 'production',
      TASTY_CLIENT_SECRET: 'cs_secret',
      TASTY_REFRESH_TOKEN: rt,
      TASTYTRADE_CLIENT_SECRET: 'cs_secret',
      TASTYTRADE_REFRESH_TOKEN: rt,
      TASTYTRADE_CLIENT_ID: 'client-1234',
      TT_SECRET: 'cs_secret',
      TT_REFRESH: rt,
    });
  });

  it('an inherited TASTYTRADE_API_URL is removed (the credentials go to their own API); an override is passed on', () => {
    const parent = { TASTYTRADE_API_URL: 'https://elsewhere.example' };
    expect(childEnv(parent, { environment: 'production', api: prod, token, credentials: creds }).TASTYTRADE_API_URL).toBeUndefined();
    const o = childEnv(parent, { environment: 'sandbox', api: { baseUrl: 'http://127.0.0.1:1234', overridden: true }, token, credentials: creds });
    expect(o.TASTYTRADE_API_URL).toBe('http://127.0.0.1:1234');
  });

  it('--token-only: every secret variable is removed, including inherited ones', () => {
    const parent = Object.fromEntries([...SECRET_VARS, 'TASTYTRADE_CLIENT_ID'].map((k) => [k, 'inherited']));
    const e = childEnv(parent, { environment: 'sandbox', api: prod, token });
    for (const k of [...SECRET_VARS, 'TASTYTRADE_CLIENT_ID']) expect(e[k]).toBeUndefined();
    expect(e.TASTY_ACCESS_TOKEN).toBe('at_token');
    expect(Object.values(e)).not.toContain('inherited');
  });

  it('a refresh token that names no usable client id sets none (and removes an inherited one)', () => {
    const e = childEnv({ TASTYTRADE_CLIENT_ID: 'old' }, { environment: 'sandbox', api: prod, token, credentials: { ...creds, refreshToken: 'not-a-jwt' } });
    expect(e.TASTYTRADE_CLIENT_ID).toBeUndefined();
  });
});

describe('quote tokens in the state file', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const q = (i: number, now: number, lifeMs = 3600_000): CachedQuoteToken => ({
    env: 'sandbox',
    api: 'https://api.cert.tastyworks.com',
    fp: i.toString(16).padStart(32, '0'),
    token: `dxq_token_${i}`,
    dxlinkUrl: 'wss://tasty-openapi-ws.dxfeed.com/realtime',
    level: 'demo',
    issuedAt: new Date(now - i * 1000).toISOString(),
    expiresAt: new Date(now - i * 1000 + lifeMs).toISOString(),
  });

  it('bounded: expired ones go, then the oldest beyond the cap', () => {
    const now = Date.now();
    const s = emptyState();
    s.quoteTokens = [...Array.from({ length: MAX_QUOTE_TOKENS + 5 }, (_, i) => q(i, now)), q(99, now, 1000)];
    const c = collect(s, now);
    expect(c.quoteTokens).toHaveLength(MAX_QUOTE_TOKENS);
    expect(c.quoteTokens.map((x) => x.token)).toEqual(Array.from({ length: MAX_QUOTE_TOKENS }, (_, i) => `dxq_token_${i}`));
  });

  it('read defensively: wrong types, control characters, a non-ws URL, a bad slot are dropped; good ones kept', () => {
    dir = tmpDir();
    mkdirSync(dir, { recursive: true });
    const now = Date.now();
    const s = emptyState();
    writeState(dir, s, now);
    const raw = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
    const good = q(1, now);
    raw.quoteTokens = [good, { ...good, token: 'x\u001b[2Jyyyyyy' }, { ...good, dxlinkUrl: 'https://x' }, { ...good, env: 'moon' }, { ...good, fp: 'zz' }, { ...good, issuedAt: 'soon' }, 'garbage', null, { ...good, level: '<b>' }];
    writeFileSync(join(dir, STATE_FILE), JSON.stringify(raw));
    const { state, problem } = readState(dir);
    expect(problem).toBeUndefined();
    expect(state.quoteTokens).toEqual([good, { ...good, level: 'unknown' }]);
  });

  it('a version-2 file written before quote tokens existed reads as none', () => {
    dir = tmpDir();
    const s = emptyState();
    writeFileSync(join(dir, STATE_FILE), JSON.stringify({ version: 2, key: s.key, tokens: [], rejections: [], keychain: [] }));
    expect(readState(dir).state.quoteTokens).toEqual([]);
  });
});

describe('parseQuoteToken', () => {
  const now = Date.parse('2026-06-01T12:00:00Z');
  const data = { token: 'dxq_abcdefgh', 'dxlink-url': 'wss://tasty-openapi-ws.dxfeed.com/realtime', level: 'api' };
  it('24 h without expires-at; the server’s life with issued-at + expires-at (clock skew does not matter); never more than 24 h', () => {
    expect(parseQuoteToken({ data }, now).lifetimeMs).toBe(QUOTE_TOKEN_LIFETIME_MS);
    const skewed = { ...data, 'issued-at': '2020-01-01T00:00:00Z', 'expires-at': '2020-01-01T06:00:00Z' };
    expect(parseQuoteToken({ data: skewed }, now).lifetimeMs).toBe(6 * 3600_000);
    expect(parseQuoteToken({ data: { ...data, 'expires-at': '2026-06-01T13:00:00Z' } }, now).lifetimeMs).toBe(3600_000);
    expect(parseQuoteToken({ data: { ...data, 'expires-at': '2027-06-01T13:00:00Z' } }, now).lifetimeMs).toBe(QUOTE_TOKEN_LIFETIME_MS);
  });
  it('refuses what it cannot hand on safely', () => {
    for (const bad of [{}, { data: null }, { data: { ...data, token: 'short' } }, { data: { ...data, token: 'has space inside' } }, { data: { ...data, 'dxlink-url': 'file:///etc/passwd' } }, { data: { ...data, token: 42 } }]) {
      expect(() => parseQuoteToken(bad, now)).toThrow(/GET \/api-quote-tokens: the answer has/);
    }
  });
});
