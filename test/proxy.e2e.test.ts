// Proxies with real parts: the built CLI → a CONNECT proxy on loopback → a TLS server with a throw-away CA
// (NODE_EXTRA_CA_CERTS) → the emulator. The API's host name exists only in the proxy's table, as behind a corporate
// proxy that resolves names itself; the secrets must cross the proxy only as TLS ciphertext.
import { rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectProxy, makePki, TlsFront } from './proxy.ts';
import { type Fixture, fixture, tmpDir } from './helpers.ts';

const HOST = 'api.tasty-proxy.test';
let f: Fixture;
let pkiDir: string;
let caFile: string;
let front: TlsFront;
let proxy: ConnectProxy;
let apiUrl: string;

beforeAll(async () => {
  f = await fixture();
  pkiDir = tmpDir('tasty-pki-');
  const pki = makePki(pkiDir, [HOST]);
  caFile = pki.caFile;
  front = await new TlsFront(pki, f.emu.port).start();
  proxy = await new ConnectProxy({ [`${HOST}:${front.port}`]: front.port }).start();
  apiUrl = `https://${HOST}:${front.port}`;
});
afterAll(async () => {
  await proxy.stop();
  await front.stop();
  await f.cleanup();
  rmSync(pkiDir, { recursive: true, force: true });
});
beforeEach(() => {
  proxy.connects.length = 0;
  proxy.forwards.length = 0;
  proxy.auth.length = 0;
  proxy.clientBytes = Buffer.alloc(0);
  proxy.refuseWith = undefined;
  rmSync(`${f.dir}/state.json`, { force: true });
  f.emu.reset();
});

function env(extra: Record<string, string | undefined>) {
  return { TASTY_API_URL: apiUrl, NODE_EXTRA_CA_CERTS: caFile, ...extra };
}

describe('through a CONNECT proxy to a TLS server', () => {
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY']) {
    it(`${name}: balances and token work through the tunnel; the proxy sees the host name and ciphertext only`, async () => {
      const r = await f.run(['balances', '--account', '5WX01234', '--json'], { env: env({ [name]: proxy.url }) });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ accountNumber: '5WX01234' });
      expect(proxy.connects.length).toBeGreaterThanOrEqual(1);
      expect(new Set(proxy.connects)).toEqual(new Set([`${HOST}:${front.port}`]));
      expect(proxy.forwards).toEqual([]);
      expect(f.emu.count('/oauth/token', 'POST')).toBe(1);
      expect(f.emu.count('/accounts/5WX01234/balances')).toBe(1);
      // End-to-end TLS: the proxy carried the mint and the API call, but never saw a secret or a header in clear.
      const seen = proxy.clientBytes.toString('latin1');
      expect(proxy.clientBytes.length).toBeGreaterThan(500);
      for (const s of [f.emu.clientSecret, f.emu.refreshToken, 'Bearer', 'oauth/token', ...f.emu.issuedTokens()]) expect(seen).not.toContain(s);
    });
  }

  it('doctor goes through the proxy: it probes the proxy, not the API host, and mints through the tunnel', async () => {
    const r = await f.run(['doctor', '--json'], { env: env({ HTTPS_PROXY: proxy.url }) });
    const d = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; summary: string }> };
    const by = (id: string) => d.checks.find((c) => c.id === id);
    expect(by('dns')?.summary).toContain(`the proxy ${proxy.url} (HTTPS_PROXY)`);
    expect(by('connection')).toMatchObject({ status: 'ok' });
    expect(by('connection')?.summary).toContain('accepts connections');
    expect(by('grant')).toMatchObject({ status: 'ok' });
    expect(by('api')).toMatchObject({ status: 'ok' });
    expect(d.ok).toBe(true);
    expect(r.code).toBe(0);
    expect(proxy.connects.length).toBeGreaterThanOrEqual(1);
  });

  it('a proxy that refuses connections is named as the proxy, exit 5', async () => {
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    const r = await f.run(['token'], { env: env({ HTTPS_PROXY: `http://127.0.0.1:${port}` }) });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`connection to the proxy http://127.0.0.1:${port} (HTTPS_PROXY) refused`);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it('a proxy that refuses the tunnel (403) is named as the proxy, exit 5', async () => {
    proxy.refuseWith = 403;
    const r = await f.run(['token'], { env: env({ HTTPS_PROXY: proxy.url }) });
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`the proxy ${proxy.url} (HTTPS_PROXY) refused the tunnel to ${HOST}:${front.port} (HTTP 403)`);
  });

  it('an http:// loopback API is never sent through the proxy (the secrets would cross it in clear)', async () => {
    const r = await f.run(['balances', '--account', '5WX01234', '--json'], { env: { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url } });
    expect(r.code).toBe(0);
    expect(proxy.connects).toEqual([]);
    expect(proxy.forwards).toEqual([]);
  });

  it('without the CA the TLS server is refused (the tunnel does not weaken certificate checks)', async () => {
    const r = await f.run(['token'], { env: { TASTY_API_URL: apiUrl, HTTPS_PROXY: proxy.url } });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/TLS failure/);
    expect(f.emu.tokenRequests).toBe(0);
  });

  it('an unusable proxy setting: commands exit 2 naming the variable; doctor reports it as a failed check', async () => {
    const t = await f.run(['token'], { env: env({ HTTPS_PROXY: 'socks5://127.0.0.1:1080' }) });
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('HTTPS_PROXY must be an http:// or https:// proxy URL');
    const r = await f.run(['doctor', '--json'], { env: env({ HTTPS_PROXY: 'socks5://127.0.0.1:1080' }) });
    const d = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: string; status: string }> };
    expect(d.checks.find((c) => c.id === 'proxy')).toMatchObject({ status: 'fail' });
    expect(d.checks.find((c) => c.id === 'grant')).toMatchObject({ status: 'skip' });
    expect(r.code).toBe(1);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('a proxy password (user:password@) is redacted like any secret, and proxy authentication is sent', async () => {
    const r = await f.run(['balances', '--account', '5WX01234', '--verbose'], { env: env({ HTTPS_PROXY: `http://ada:pr0xy%2Fpw@127.0.0.1:${proxy.port}` }) });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`through the proxy ${proxy.url} (HTTPS_PROXY)`);
    expect(r.stderr + r.stdout).not.toMatch(/pr0xy/);
    expect(proxy.auth).toContain(`Basic ${Buffer.from('ada:pr0xy/pw').toString('base64')}`);
  });

    it('doctor flags NODE_TLS_REJECT_UNAUTHORIZED=0 as a failure with its cure', async () => {
    const r = await f.run(['doctor', '--json'], { env: env({ HTTPS_PROXY: proxy.url, NODE_TLS_REJECT_UNAUTHORIZED: '0' }) });
    const d = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ id: string; status: string; fix: string }> };
    expect(d.checks.find((c) => c.id === 'tls_verification')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/unset NODE_TLS_REJECT_UNAUTHORIZED/) });
    expect(d.ok).toBe(false);
    expect(r.code).toBe(1);
  });
});
