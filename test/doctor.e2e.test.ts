// tasty doctor against the emulator: one scenario per cause, each asserting the failing check, the cause, the exit code,
// and that the output holds no secret and no full account number.
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { makeRefreshToken } from './emulator/emulator.ts';
import { type RunResult, useFixture } from './helpers.ts';

const f = useFixture();

interface Doc {
  environment: string;
  ok: boolean;
  checks: Array<{ id: string; status: string; summary: string; fix: string | null; cause: string | null }>;
}

function check(doc: Doc, id: string) {
  const c = doc.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no check ${id}`);
  return c;
}

function assertClean(r: RunResult) {
  const text = r.stdout + r.stderr;
  expect(text).not.toContain(f.emu.refreshToken);
  expect(text).not.toContain(f.emu.clientSecret);
  for (const t of f.emu.issuedTokens()) expect(text).not.toContain(t);
  for (const a of f.emu.accounts) expect(text).not.toContain(a['account-number']);
}

async function doctor(args: string[] = [], env: Record<string, string | undefined> = {}): Promise<{ r: RunResult; doc: Doc }> {
  const r = await f.run(['doctor', '--json', ...args], { env });
  assertClean(r);
  return { r, doc: JSON.parse(r.stdout) as Doc };
}

describe('tasty doctor', () => {
  it('healthy: every check ok or warn, exit 0, accounts masked', async () => {
    const { r, doc } = await doctor();
    expect(r.code).toBe(0);
    expect(doc.ok).toBe(true);
    expect(doc.checks.map((c) => c.id)).toEqual(['environment', 'api-version', 'store', 'credentials', 'rejection', 'dns', 'connection', 'http', 'grant', 'api']);
    expect(check(doc, 'api-version').summary).toMatch(/^no Accept-Version header/); // the sandbox gets none by default
    expect(check(doc, 'environment').status).toBe('warn'); // TASTY_API_URL override
    expect(check(doc, 'grant').status).toBe('ok');
    expect(check(doc, 'api').summary).toBe('2 open accounts: ****1234, ****6789');
    expect(f.emu.tokenRequests).toBe(1);
    const human = await f.run(['doctor']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^tasty \S+ · Node \S+ · .+ · keychain: .+\ntasty doctor \[sandbox\]/);
    expect(human.stdout).toMatch(/✓ Token grant +minted an access token valid for 15:00/);
    expect(human.stdout).toMatch(/Verdict: working, with 1 warning/);
    assertClean(human);
  });

  it('--show-accounts shows full numbers', async () => {
    const r = await f.run(['doctor', '--json', '--show-accounts']);
    expect(JSON.parse(r.stdout).checks.at(-1).summary).toContain('5WX01234');
  });

  it('no credentials → credentials fail, grant skipped, exit 1', async () => {
    const { r, doc } = await doctor([], { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined });
    expect(r.code).toBe(1);
    expect(check(doc, 'credentials')).toMatchObject({ status: 'fail', cause: 'not_logged_in' });
    expect(check(doc, 'grant').status).toBe('skip');
    expect(f.emu.tokenRequests).toBe(0);
  });

  it('whitespace-damaged token → credentials fail naming whitespace, no request', async () => {
    const t = f.emu.refreshToken;
    const { r, doc } = await doctor([], { TASTY_REFRESH_TOKEN: `${t.slice(0, 30)}\n ${t.slice(30)}` });
    expect(r.code).toBe(1);
    expect(check(doc, 'credentials')).toMatchObject({ status: 'fail', cause: 'whitespace' });
    expect(f.emu.tokenRequests).toBe(0);
  });

  it('surrounding quotes are a warning, not a failure', async () => {
    const { r, doc } = await doctor([], { TASTY_REFRESH_TOKEN: `"${f.emu.refreshToken}"` });
    expect(r.code).toBe(0);
    expect(check(doc, 'credentials')).toMatchObject({ status: 'warn', cause: 'whitespace' });
  });

  it('non-JWT token → credentials fail "not a JWT"', async () => {
    const { r, doc } = await doctor([], { TASTY_REFRESH_TOKEN: 'just-some-string' });
    expect(r.code).toBe(1);
    expect(check(doc, 'credentials')).toMatchObject({ status: 'fail', cause: 'not_jwt' });
  });

  it('missing read scope → credentials fail', async () => {
    const rt = makeRefreshToken({ scope: 'trade' });
    const { doc } = await doctor([], { TASTY_REFRESH_TOKEN: rt });
    expect(check(doc, 'credentials')).toMatchObject({ status: 'fail', cause: 'missing_scope' });
  });

  it.each([
    ['revoked', 'grant_revoked', /new Personal OAuth Grant at https:\/\/my\.tastytrade\.com/],
    ['invalid-jwt', 'invalid_jwt', /belongs to production, not sandbox/],
    ['secret-mismatch', 'client_secret_mismatch', /another OAuth app or was regenerated/],
    ['transient-invalid-request', 'transient_invalid_request', /transient sandbox failure: retry/],
    ['html-401', 'html_401', /proxy is rewriting headers/],
  ] as const)('%s → grant fail with cause %s and the cure', async (kind, cause, fix) => {
    f.emu.inject('token', { kind }, Number.POSITIVE_INFINITY);
    const { r, doc } = await doctor();
    expect(r.code).toBe(1);
    expect(check(doc, 'grant')).toMatchObject({ status: 'fail', cause });
    expect(check(doc, 'grant').fix).toMatch(fix);
    expect(check(doc, 'api').status).toBe('skip');
  });

  it('held rejection → no request sent; --force sends exactly one', async () => {
    f.emu.revokeGrant();
    expect((await f.run(['token'])).code).toBe(4);
    const sent = f.emu.tokenRequests;
    const { r, doc } = await doctor();
    expect(r.code).toBe(1);
    expect(check(doc, 'rejection')).toMatchObject({ status: 'fail', cause: 'grant_revoked' });
    expect(check(doc, 'grant').status).toBe('skip');
    expect(f.emu.tokenRequests).toBe(sent);
    const forced = await doctor(['--force']);
    expect(forced.r.code).toBe(1);
    expect(check(forced.doc, 'grant')).toMatchObject({ status: 'fail', cause: 'grant_revoked' });
    expect(f.emu.tokenRequests).toBe(sent + 1);
  });

  it('DNS failure (.invalid) → dns fail, later checks skipped', async () => {
    const { r, doc } = await doctor([], { TASTY_API_URL: 'https://api.tasty.invalid' });
    expect(r.code).toBe(1);
    expect(check(doc, 'dns')).toMatchObject({ status: 'fail', cause: 'dns' });
    for (const id of ['connection', 'http', 'grant', 'api']) expect(check(doc, id).status).toBe('skip');
  });

  it('a port that accepts and never answers → likely IP block, within the timeout', async () => {
    const server: Server = createServer(() => {
      /* accept and say nothing */
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const t0 = Date.now();
      const { r, doc } = await doctor(['--timeout', '2'], { TASTY_API_URL: `https://127.0.0.1:${port}` });
      expect(Date.now() - t0).toBeLessThan(6_000);
      expect(r.code).toBe(1);
      expect(check(doc, 'connection')).toMatchObject({ status: 'fail', cause: 'ip_block' });
      expect(check(doc, 'connection').summary).toMatch(/likely IP block: DNS works but the TLS handshake timed out after 2 s/);
      expect(check(doc, 'connection').fix).toMatch(/8 hours.*api\.support@tastytrade\.com/);
    } finally {
      server.close();
    }
  });

  it('a closed port → connection refused', async () => {
    const { r, doc } = await doctor([], { TASTY_API_URL: 'http://127.0.0.1:9' });
    expect(r.code).toBe(1);
    expect(check(doc, 'connection')).toMatchObject({ status: 'fail', cause: 'refused' });
  });

  it('clock skew past 2 minutes is a warning', async () => {
    f.emu.clockOffsetMs = 5 * 60_000;
    const { doc } = await doctor();
    expect(check(doc, 'http')).toMatchObject({ status: 'warn', cause: 'clock_skew' });
  });

  it('--all gives one section per environment; usage errors exit 2', async () => {
    const r = await f.run(['doctor', '--all', '--json']);
    const doc = JSON.parse(r.stdout);
    expect(doc.environments.map((e: Doc) => e.environment)).toEqual(['production', 'sandbox']);
    expect((await f.run(['doctor', '--bogus'])).code).toBe(2);
  });
});
