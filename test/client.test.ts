// The API client against the loopback emulator: headers, retries, and every fault's error mapping.
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, parseErrorBody, parseRetryAfter, proxyFor, UnauthorizedError } from '../src/api/client.ts';
import { ApiError, CredentialsRejectedError, TastyError, UnreachableError } from '../src/errors.ts';
import { useEmulator } from './helpers.ts';
import { Emulator } from './emulator/emulator.ts';

const emu = useEmulator({ environment: 'sandbox' });
const logs: string[] = [];
const sleeps: number[] = [];

function client(o: Partial<ConstructorParameters<typeof ApiClient>[0]> = {}): ApiClient {
  return new ApiClient({
    baseUrl: emu.url,
    environment: 'sandbox',
    timeoutMs: 2_000,
    userAgent: 'tasty-cli/0.1.0',
    env: {},
    log: (l) => logs.push(l),
    retry: { maxRetries: 2, baseDelayMs: 5, retryAfterCapMs: 50 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...o,
  });
}

async function mintOk(c: ApiClient): Promise<string> {
  return (await c.mint(emu.refreshToken, emu.clientSecret)).accessToken;
}

async function failure(p: Promise<unknown>): Promise<TastyError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TastyError) return e;
    throw e;
  }
  throw new Error('expected a failure');
}

beforeEach(() => {
  logs.length = 0;
  sleeps.length = 0;
});

describe('requests', () => {
  it('sends User-Agent and Accept everywhere, Authorization only on API calls', async () => {
    const c = client();
    const token = await mintOk(c);
    await c.call('GET', '/customers/me', token);
    const [mint, me] = emu.requests;
    expect(mint?.path).toBe('/oauth/token');
    expect(mint?.userAgent).toBe('tasty-cli/0.1.0');
    expect(mint?.authorization).toBeUndefined();
    expect(me?.authorization).toBe(`Bearer ${token}`);
    expect(me?.userAgent).toBe('tasty-cli/0.1.0');
    await c.close();
  });

  it('a missing User-Agent gets the HTML 401 that tastytrade gives, named as such', async () => {
    const c = client({ userAgent: '' });
    const e = await failure(c.mint(emu.refreshToken, emu.clientSecret));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.exitCode).toBe(6);
    expect(e.cause_).toBe('html_401');
    expect(e.hint).toMatch(/User-Agent/);
    await c.close();
  });

  it('refuses absolute and scheme-relative paths', () => {
    const c = client();
    for (const p of ['https://evil.example/x', '//evil.example/x', 'customers/me', '/\\evil.example']) {
      expect(() => c.url(p)).toThrow(TastyError);
    }
    expect(c.url('/customers/me').href).toBe(`${emu.url}/customers/me`);
  });

  it('parses both error dialects', () => {
    expect(parseErrorBody({ error: { code: 'not_permitted', message: 'User not permitted access' } })).toEqual({ code: 'not_permitted', message: 'User not permitted access' });
    expect(parseErrorBody({ error_code: 'invalid_grant', error_description: 'Grant revoked' })).toEqual({ code: 'invalid_grant', message: 'Grant revoked' });
    expect(parseErrorBody({ error: 'invalid_grant', error_description: 'Invalid JWT' })).toEqual({ code: 'invalid_grant', message: 'Invalid JWT' });
    expect(parseErrorBody({ error: { code: 'validation_error', message: 'bad', errors: [{ code: 'x', message: 'price missing' }] } }).message).toBe('bad; price missing');
    expect(parseErrorBody('nope')).toEqual({});
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(parseRetryAfter('3', 0)).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 5_000)).toBe(5_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('token endpoint faults', () => {
  const grantCases = [
    ['revoked', 'Grant revoked', 'grant_revoked'],
    ['invalid-jwt', 'Invalid JWT', 'invalid_jwt'],
    ['secret-mismatch', 'Client secret mismatch', 'client_secret_mismatch'],
  ] as const;
  for (const [kind, words, cause] of grantCases) {
    it(`${kind} → exit 4 quoting "${words}", sent once (never retried)`, async () => {
      emu.inject('token', { kind }, Number.POSITIVE_INFINITY);
      const c = client();
      const e = await failure(c.mint(emu.refreshToken, emu.clientSecret));
      expect(e).toBeInstanceOf(CredentialsRejectedError);
      expect(e.exitCode).toBe(4);
      expect(e.message).toContain(`"${words}"`);
      expect(e.cause_).toBe(cause);
      expect(emu.tokenRequests).toBe(1);
      await c.close();
    });
  }

  it('the RFC dialect {"error":"invalid_grant"} is a rejection too', async () => {
    emu.inject('token', { kind: 'rfc-invalid-grant', description: 'Grant revoked' });
    const e = await failure(client().mint(emu.refreshToken, emu.clientSecret));
    expect(e.exitCode).toBe(4);
    expect(e.hint).toMatch(/new Personal OAuth Grant/);
  });

  it('real rejections come from the emulator itself, not only from injected faults', async () => {
    const c = client();
    expect((await failure(c.mint('not-a-jwt', emu.clientSecret))).cause_).toBe('invalid_jwt');
    expect((await failure(c.mint(emu.refreshToken, 'wrong'))).cause_).toBe('client_secret_mismatch');
    emu.revokeGrant();
    expect((await failure(c.mint(emu.refreshToken, emu.clientSecret))).cause_).toBe('grant_revoked');
    expect(emu.tokenRequests).toBe(3);
  });

  it('the sandbox transient invalid_request is retried and recovers', async () => {
    emu.inject('token', { kind: 'transient-invalid-request' }, 1);
    const token = await mintOk(client());
    expect(token).toMatch(/^at_/);
    expect(emu.tokenRequests).toBe(2);
  });

  it('a persistent invalid_request is exit 6 after 2 retries, not a rejection', async () => {
    emu.inject('token', { kind: 'transient-invalid-request' }, Number.POSITIVE_INFINITY);
    const e = await failure(client().mint(emu.refreshToken, emu.clientSecret));
    expect(e.exitCode).toBe(6);
    expect(e.cause_).toBe('transient_invalid_request');
    expect(e.message).toContain('User is not a TastyTrade customer');
    expect(emu.tokenRequests).toBe(3);
  });

  it('5xx on the token endpoint is retried', async () => {
    emu.inject('token', { kind: 'status', status: 503 }, 2);
    expect(await mintOk(client())).toMatch(/^at_/);
    expect(emu.tokenRequests).toBe(3);
  });
});

describe('API faults', () => {
  let token: string;
  beforeEach(async () => {
    token = await mintOk(client());
    emu.reset();
  });

  it('403 → exit 6 with the code, not retried', async () => {
    emu.inject('api', { kind: 'status', status: 403 });
    const e = await failure(client().call('GET', '/customers/me/accounts', token));
    expect(e).toBeInstanceOf(ApiError);
    expect(e.exitCode).toBe(6);
    expect(e.message).toContain('403 User not permitted access (not_permitted)');
    expect(emu.requests.length).toBe(1);
  });

  it('404 → exit 6 naming tastytrade\'s message', async () => {
    const e = await failure(client().call('GET', '/accounts/NOPE1/balances', token));
    expect(e.exitCode).toBe(6);
    expect(e.message).toContain('404 Account NOPE1 not found (record_not_found)');
  });

  for (const status of [500, 502, 503]) {
    it(`${status} once → retried and recovered`, async () => {
      emu.inject('api', { kind: 'status', status }, 1);
      const r = await client().call('GET', '/customers/me', token);
      expect(r.status).toBe(200);
      expect(r.retries).toBe(1);
      expect(emu.count('/customers/me')).toBe(2);
    });
    it(`${status} persistent → exit 6 after exactly 2 retries`, async () => {
      emu.inject('api', { kind: 'status', status }, Number.POSITIVE_INFINITY);
      const e = await failure(client().call('GET', '/customers/me', token));
      expect(e.exitCode).toBe(6);
      expect(e.cause_).toBe('server_error');
      expect(emu.count('/customers/me')).toBe(3);
    });
  }

  it('429 honours Retry-After up to the cap', async () => {
    emu.inject('api', { kind: 'status', status: 429, retryAfter: '1' }, 1);
    const r = await client().call('GET', '/customers/me', token);
    expect(r.status).toBe(200);
    expect(sleeps).toEqual([50]); // 1 s capped at the test policy's 50 ms
  });

  it('429 persistent → exit 6, rate limited', async () => {
    emu.inject('api', { kind: 'status', status: 429 }, Number.POSITIVE_INFINITY);
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e.cause_).toBe('rate_limited');
    expect(emu.count('/customers/me')).toBe(3);
  });

  it('POST is never retried', async () => {
    emu.inject('api', { kind: 'status', status: 503 }, 1);
    const e = await failure(client().call('POST', '/accounts/5WX01234/orders/dry-run', token, '{}'));
    expect(e.exitCode).toBe(6);
    expect(emu.requests.length).toBe(1);
  });

  it('connection reset → retried; persistent reset → exit 5 "reset"', async () => {
    emu.inject('api', { kind: 'reset' }, 1);
    expect((await client().call('GET', '/customers/me', token)).status).toBe(200);
    emu.reset();
    emu.inject('api', { kind: 'reset' }, Number.POSITIVE_INFINITY);
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e).toBeInstanceOf(UnreachableError);
    expect(e.exitCode).toBe(5);
    expect(e.cause_).toBe('reset');
    expect(emu.requests.length).toBe(3);
  });

  it('a hang → exit 5 timeout within the timeout, naming the 8-hour IP block', async () => {
    emu.inject('api', { kind: 'hang' });
    const t0 = performance.now();
    const e = await failure(client({ timeoutMs: 500 }).call('GET', '/customers/me', token));
    const ms = performance.now() - t0;
    expect(e.exitCode).toBe(5);
    expect(e.cause_).toBe('timeout');
    expect(e.hint).toMatch(/8 hours/);
    expect(e.hint).toMatch(/api\.support@tastytrade\.com/);
    expect(ms).toBeLessThan(3_000);
  });

  it('a slow answer within the timeout succeeds; beyond it times out', async () => {
    emu.inject('api', { kind: 'slow', ms: 200 });
    expect((await client({ timeoutMs: 1_000 }).call('GET', '/customers/me', token)).status).toBe(200);
    // undici's timers are coarse (about half a second), so "beyond" is well beyond.
    emu.inject('api', { kind: 'slow', ms: 2_500 });
    const e = await failure(client({ timeoutMs: 300 }).call('GET', '/customers/me', token));
    expect(e.cause_).toBe('timeout');
  });

  it('401 JSON → UnauthorizedError (the engine re-mints)', async () => {
    emu.inject('api', { kind: 'unauthorized' });
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e).toBeInstanceOf(UnauthorizedError);
    expect(e.cause_).toBe('unauthorized');
  });

  it('server-side revocation of the access token → 401', async () => {
    emu.revokeAccessTokens();
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e).toBeInstanceOf(UnauthorizedError);
  });

  it('HTML 401 → a clear error naming the User-Agent, not a JSON crash', async () => {
    emu.inject('api', { kind: 'html-401' });
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e.cause_).toBe('html_401');
    expect(e.message).toContain('HTML');
  });

  it('truncated JSON → exit 6 "not JSON (truncated or HTML)"', async () => {
    emu.inject('api', { kind: 'truncated' });
    const e = await failure(client().call('GET', '/customers/me/accounts', token));
    expect(e.exitCode).toBe(6);
    expect(e.message).toMatch(/not JSON/);
  });

  it('an HTML 502 from a proxy is retried, then a clear error', async () => {
    emu.inject('api', { kind: 'html', status: 502 }, Number.POSITIVE_INFINITY);
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e.message).toContain('502 with an HTML page');
    expect(emu.requests.length).toBe(3);
  });

  it('a body over the size cap is refused', async () => {
    emu.inject('api', { kind: 'huge', bytes: 10 * 1024 * 1024 });
    const e = await failure(client().call('GET', '/customers/me', token));
    expect(e.cause_).toBe('response_too_large');
  });
});

describe('redirects and proxies', () => {
  it('a redirect is never followed (the token must not travel to another origin)', async () => {
    const c = client();
    const token = await mintOk(c);
    emu.reset();
    emu.inject('api', { kind: 'body', status: 302, body: '', contentType: 'text/plain' });
    const e = await failure(c.call('GET', '/customers/me', token));
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(302);
    expect(emu.requests).toHaveLength(1);
  });

  it('plain http:// (loopback) never goes through a proxy: a forward proxy would log the secrets in clear', async () => {
    const seen: string[] = [];
    const proxy = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      const target = new URL(req.url ?? '/');
      const up = httpRequest({ host: target.hostname, port: target.port, path: target.pathname, method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    try {
      for (const env of [{ HTTP_PROXY: proxyUrl }, { http_proxy: proxyUrl }, { HTTPS_PROXY: proxyUrl, HTTP_PROXY: proxyUrl }]) {
        const c = client({ env });
        expect(c.proxy).toBeUndefined();
        const token = await mintOk(c);
        await c.call('GET', '/customers/me', token);
        await c.close();
      }
      expect(seen).toEqual([]);
      expect(emu.count('/oauth/token')).toBe(3);
    } finally {
      proxy.close();
    }
  });

  it('proxyFor: loopback and http:// never proxied; HTTPS_PROXY, https_proxy, HTTP_PROXY fallback; NO_PROXY', () => {
    const p = (url: string, env: Record<string, string>) => proxyFor(new URL(url), env)?.display;
    const proxy = 'http://10.1.2.3:3128';
    for (const url of ['https://127.0.0.1:8443', 'https://localhost', 'https://[::1]:8443', 'https://api.localhost', 'http://127.0.0.1:9']) {
      expect(p(url, { HTTPS_PROXY: proxy, HTTP_PROXY: proxy })).toBeUndefined();
    }
    expect(p('https://api.tastyworks.com', { HTTPS_PROXY: proxy })).toBe(proxy);
    expect(p('https://api.tastyworks.com', { https_proxy: proxy })).toBe(proxy);
    expect(p('https://api.tastyworks.com', { HTTP_PROXY: proxy })).toBe(proxy);
    expect(p('https://api.tastyworks.com', { HTTPS_PROXY: 'proxy.corp:8080' })).toBe('http://proxy.corp:8080');
    expect(proxyFor(new URL('https://api.tastyworks.com'), { HTTPS_PROXY: 'http://u:pw@proxy.corp:8080' })?.display).toBe('http://proxy.corp:8080');
    for (const no of ['tastyworks.com', '.tastyworks.com', '*.tastyworks.com', 'api.tastyworks.com:443', '*', 'other, api.tastyworks.com']) {
      expect(p('https://api.tastyworks.com', { HTTPS_PROXY: proxy, NO_PROXY: no })).toBeUndefined();
    }
    expect(p('https://api.tastyworks.com', { HTTPS_PROXY: proxy, NO_PROXY: 'api.tastyworks.com:8443' })).toBe(proxy);
    expect(p('https://api.tastyworks.com', { HTTPS_PROXY: proxy, NO_PROXY: 'tastyworks.co' })).toBe(proxy);
    expect(() => proxyFor(new URL('https://api.tastyworks.com'), { HTTPS_PROXY: 'socks5://proxy:1080' })).toThrow(/http:\/\/ or https:\/\//);
  });
});

describe('token answers', () => {
  it('one client mints at most once a second (a floor on renewal intervals, whatever expires_in says)', async () => {
    const c = client();
    emu.expiresIn = 0.001;
    try {
      const a = await c.mint(emu.refreshToken, emu.clientSecret);
      expect(a.expiresIn).toBe(1); // clamped up from 0.001
      await c.mint(emu.refreshToken, emu.clientSecret);
      expect(sleeps).toHaveLength(1);
      expect(sleeps[0]).toBeGreaterThan(900);
      expect(sleeps[0]).toBeLessThanOrEqual(1000);
    } finally {
      emu.expiresIn = 900;
    }
  });

  it('an access token outside RFC 6750 b64token is refused; a cached one is never sent', async () => {
    emu.inject('token', { kind: 'token', accessToken: 'at_good\r\nX-Injected: yes' });
    const e = await failure(client().mint(emu.refreshToken, emu.clientSecret));
    expect(e.exitCode).toBe(6);
    expect(e.cause_).toBe('bad_token');
    const before = emu.requests.length;
    const e2 = await failure(client().call('GET', '/customers/me', 'at_x\r\nX-Injected: yes'));
    expect(e2.cause_).toBe('bad_token');
    expect(emu.requests.length).toBe(before);
  });
});

describe('transport failures', () => {
  it('a closed port → exit 5 "refused"', async () => {
    const spare = await new Emulator().start();
    const url = spare.url;
    await spare.stop();
    const e = await failure(client({ baseUrl: url }).mint('x.y.z', 's'));
    expect(e.exitCode).toBe(5);
    expect(e.cause_).toBe('refused');
  });

  it('an unresolvable host → exit 5 "dns"', async () => {
    const e = await failure(client({ baseUrl: 'https://api.tasty.invalid' }).mint('x.y.z', 's'));
    expect(e.exitCode).toBe(5);
    expect(e.cause_).toBe('dns');
  });

  it('--verbose logs method, path, status and retries but never a token', async () => {
    const c = client();
    emu.inject('api', { kind: 'status', status: 500 }, 1);
    const token = await mintOk(c);
    await c.call('GET', '/customers/me', token);
    const text = logs.join('\n');
    expect(text).toMatch(/POST \/oauth\/token → 200/);
    expect(text).toMatch(/GET \/customers\/me → 500/);
    expect(text).toMatch(/retry 1/);
    expect(text).not.toContain(token);
    expect(text).not.toContain(emu.refreshToken);
    expect(text).not.toContain(emu.clientSecret);
  });
});
