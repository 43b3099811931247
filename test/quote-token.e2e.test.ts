// End to end through `tasty quote-token`: the DXLink quote token cached per environment, API and credentials in the state
// file, one request for any number of concurrent processes, a credential (redacted, cleared by logout), and never
// /quote-streamer-tokens (reserved for tastytrade's own apps: the emulator serves it so these tests can prove it unused).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { KEYRING_REQUIRED, KEYRING_SESSION, useFixture } from './helpers.ts';

const f = useFixture({ environment: 'sandbox' });
const store = KEYRING_SESSION || KEYRING_REQUIRED ? 'keychain' : 'file';
const noVars = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
const quoteRequests = () => f.emu.count('/api-quote-tokens', 'GET');

afterEach(() => {
  expect(f.emu.count('/quote-streamer-tokens')).toBe(0);
});

function state() {
  return JSON.parse(readFileSync(join(f.dir, 'state.json'), 'utf8')) as {
    quoteTokens: Array<{ env: string; api: string; fp: string; token: string; issuedAt: string; expiresAt: string; level: string; dxlinkUrl: string }>;
  };
}

describe('tasty quote-token', () => {
  it('prints the token alone; --json the documented fields; then the cached one, without a request', async () => {
    const r = await f.run(['quote-token']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^dxq_[A-Za-z0-9_-]+\n$/);
    expect(f.emu.quoteTokens).toEqual([r.stdout.trim()]);
    const j = await f.run(['quote-token', '--json']);
    const doc = JSON.parse(j.stdout) as Record<string, string>;
    expect(Object.keys(doc).sort()).toEqual(['dxlinkUrl', 'environment', 'expiresAt', 'level', 'token']);
    expect(doc).toMatchObject({ token: r.stdout.trim(), dxlinkUrl: 'wss://tasty-openapi-ws.dxfeed.com/realtime', level: 'demo', environment: 'sandbox' });
    const left = Date.parse(doc.expiresAt ?? '') - Date.now();
    expect(left).toBeGreaterThan(24 * 3600_000 - 60_000); // no expires-at from the server: 24 h
    expect(left).toBeLessThanOrEqual(24 * 3600_000);
    for (let i = 0; i < 3; i++) expect((await f.run(['quote-token'])).stdout).toBe(r.stdout);
    expect(quoteRequests()).toBe(1);
    expect(f.emu.mints).toBe(1);
    expect(state().quoteTokens).toHaveLength(1);
  });

  it('16 concurrent cold starts → 1 quote-token request and 1 mint, the same token for all', async () => {
    f.emu.inject('/api-quote-tokens', { kind: 'slow', ms: 300 });
    const rs = await Promise.all(Array.from({ length: 16 }, () => f.run(['quote-token'])));
    expect(rs.map((r) => r.code)).toEqual(Array(16).fill(0));
    expect(new Set(rs.map((r) => r.stdout)).size).toBe(1);
    expect(quoteRequests()).toBe(1);
    expect(f.emu.mints).toBe(1);
    console.log(`[quote-token] 16 concurrent cold starts: ${quoteRequests()} /api-quote-tokens request, ${f.emu.mints} mint`);
  });

  it('the server’s issued-at/expires-at give the life; fetched again shortly before expiry', async () => {
    const t0 = Date.now();
    f.emu.quoteFields = { 'issued-at': new Date(t0).toISOString(), 'expires-at': new Date(t0 + 2_000).toISOString() };
    const a = await f.run(['quote-token', '--json']);
    const life = Date.parse(JSON.parse(a.stdout).expiresAt) - Date.now();
    expect(life).toBeLessThanOrEqual(2_000);
    expect(life).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 2_100));
    const b = await f.run(['quote-token', '--json']);
    expect(JSON.parse(b.stdout).token).not.toBe(JSON.parse(a.stdout).token);
    expect(quoteRequests()).toBe(2);
    expect(f.emu.mints).toBe(1); // the access token was still good
  });

  it('each set of credentials has its own quote token; one never serves another', async () => {
    const other = f.emu.addGrant('other');
    const mine = (await f.run(['quote-token'])).stdout;
    const theirs = (await f.run(['quote-token'], { env: { TASTY_CLIENT_SECRET: other.clientSecret, TASTY_REFRESH_TOKEN: other.refreshToken } })).stdout;
    expect(theirs).not.toBe(mine);
    expect(quoteRequests()).toBe(2);
    const rec = f.emu.requests.filter((r) => r.path === '/api-quote-tokens').map((r) => r.grant);
    expect(rec).toEqual([f.emu.refreshToken, other.refreshToken]); // each fetched with its own credentials' token
    expect(new Set(state().quoteTokens.map((q) => q.fp)).size).toBe(2);
    expect((await f.run(['quote-token'])).stdout).toBe(mine);
    expect(quoteRequests()).toBe(2);
  });

  it('an access token revoked server-side: one re-mint, one retry', async () => {
    await f.run(['token']);
    f.emu.revokeAccessTokens();
    const r = await f.run(['quote-token']);
    expect(r.code).toBe(0);
    expect(f.emu.mints).toBe(2);
    expect(f.emu.requests.filter((x) => x.path === '/api-quote-tokens').map((x) => x.status)).toEqual([401, 200]);
  });

  it('a grant found revoked: its cached quote token is no longer handed out (exit 4, as for the access token)', async () => {
    const q = await f.run(['quote-token']);
    expect(q.code).toBe(0);
    f.emu.revokeGrant();
    f.emu.revokeAccessTokens();
    const st = JSON.parse(readFileSync(join(f.dir, 'state.json'), 'utf8')) as { tokens: Array<{ expiresAt: string }> };
    for (const t of st.tokens) t.expiresAt = new Date(Date.now() - 1000).toISOString();
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    expect((await f.run(['token'])).code).toBe(4); // the mint is refused: the rejection is held
    const r = await f.run(['quote-token']);
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(state().quoteTokens).toEqual([]);
    expect(f.emu.tokenRequestsFor(f.emu.refreshToken)).toEqual({ sent: 2, refused: 1 });
  });

  it('no market-data access → exit 6 with the cause and the cure; nothing cached', async () => {
    f.emu.noMarketData = true;
    const r = await f.run(['quote-token']);
    expect(r.code).toBe(6);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/no market-data access.*quote_streamer\.customer_not_found_error/);
    expect(r.stderr).toMatch(/hint: .*market-data agreements/);
    expect(r.stderr.trim().split('\n')).toHaveLength(2);
    expect(state().quoteTokens).toEqual([]);
    const again = await f.run(['quote-token', '--json']);
    expect(again.code).toBe(6);
    expect(quoteRequests()).toBe(2); // not cached: access may be granted meanwhile
  });

  it('a hostile answer (control characters, a non-ws URL, no token) is refused, never printed or stored', async () => {
    for (const data of [
      { token: 'abc\u001b]52;c;ZXZpbA==\u0007defgh', 'dxlink-url': 'wss://x.example/realtime', level: 'api' },
      { token: 'goodtoken-123456', 'dxlink-url': 'javascript:alert(1)', level: 'api' },
      { 'dxlink-url': 'wss://x.example/realtime' },
    ]) {
      f.emu.inject('/api-quote-tokens', { kind: 'body', status: 200, body: JSON.stringify({ data }) });
      const r = await f.run(['quote-token']);
      expect(r.code).toBe(6);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/\u001b|goodtoken|javascript/);
    }
    expect(state().quoteTokens).toEqual([]);
  });

  it('--verbose logs the request, never the token; a damaged cache entry is ignored and replaced', async () => {
    const r = await f.run(['quote-token', '--verbose']);
    expect(r.stderr).toMatch(/GET \/api-quote-tokens → 200/);
    expect(r.stderr).not.toContain(r.stdout.trim());
    const st = state() as unknown as { quoteTokens: unknown[] };
    st.quoteTokens = [{ ...(st.quoteTokens[0] as object), token: 'x\u0007y' }, { garbage: true }, 42];
    writeFileSync(join(f.dir, 'state.json'), JSON.stringify(st));
    const again = await f.run(['quote-token']);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toBe(r.stdout);
    expect(state().quoteTokens).toHaveLength(1);
  });

  it(`logout clears the quote token of the stored credentials (${store}); others' stay`, async () => {
    const other = f.emu.addGrant('other');
    const login = await f.run(['login', '--stdin', ...(store === 'file' ? ['--insecure-storage'] : [])], { input: `${other.clientSecret}\n${other.refreshToken}\n`, env: noVars });
    expect(login.code).toBe(0);
    const stored = (await f.run(['quote-token'], { env: noVars })).stdout;
    const vars = (await f.run(['quote-token'])).stdout; // the primary grant, from the variables
    expect(stored).not.toBe(vars);
    expect(state().quoteTokens).toHaveLength(2);
    const out = await f.run(['logout'], { env: noVars });
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/1 cached quote token/);
    const left = state().quoteTokens;
    expect(left).toHaveLength(1);
    expect(left[0]?.token).toBe(vars.trim());
  });
});
