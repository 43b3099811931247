// The API client: the only module that speaks HTTP. Built on undici (loaded lazily).
import type { Dispatcher } from 'undici';
import { type Env, isLoopbackHost } from '../config.ts';
import { ApiError, apiFailure, CredentialsRejectedError, IP_BLOCK_HINT, TastyError, tlsHint, UnreachableError, UsageError } from '../errors.ts';
import { cleanServerText, oneLine } from '../output.ts';

export interface RetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  retryAfterCapMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxRetries: 2, baseDelayMs: 200, retryAfterCapMs: 10_000 };
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
export { clampExpiresIn, isBearerToken, MAX_EXPIRES_S, MAX_TOKEN_LENGTH, MIN_EXPIRES_S, MIN_MINT_INTERVAL_MS } from './token-rules.ts';
import { clampExpiresIn, isBearerToken, MIN_MINT_INTERVAL_MS } from './token-rules.ts';

const CONTROL_IN_SECRET = /[\u0000-\u001f\u007f-\u009f]/;


export interface ProxyChoice {
  /** The proxy URL (may carry credentials: never print it; print `display`). */
  url: URL;
  /** The variable it came from. */
  from: string;
  /** scheme://host:port, without credentials. */
  display: string;
}

/** Lower-case first, as undici and curl read them; HTTP_PROXY serves https targets too when no HTTPS_PROXY is set. */
const PROXY_VARS = ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY'] as const;

function noProxyMatches(host: string, port: number, value: string | undefined): boolean {
  for (const raw of (value ?? '').split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(entry);
    if (!m) continue;
    if (m[2] && Number(m[2]) !== port) continue;
    const h = (m[1] ?? '').replace(/^\*?\./, '').replace(/^\[|\]$/g, '');
    if (h && (host === h || host.endsWith(`.${h}`))) return true;
  }
  return false;
}

/**
 * The proxy a request to `target` goes through, or undefined. Plain http:// (allowed only for loopback) and loopback
 * hosts never go through a proxy: a proxy would see the secrets in clear. NO_PROXY is honoured.
 */
export function proxyFor(target: URL, env: Env): ProxyChoice | undefined {
  if (target.protocol !== 'https:') return undefined;
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase().replace(/\.$/, '');
  if (isLoopbackHost(host) || host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^::ffff:127\./.test(host)) return undefined;
  let from: string | undefined;
  let value = '';
  for (const name of PROXY_VARS) {
    const v = env[name]?.trim();
    if (v) {
      from = name;
      value = v;
      break;
    }
  }
  if (!from) return undefined;
  const port = Number(target.port || 443);
  if (noProxyMatches(host, port, env.no_proxy?.trim() ? env.no_proxy : env.NO_PROXY)) return undefined;
  let url: URL;
  try {
    url = new URL(value.includes('://') ? value : `http://${value}`);
  } catch {
    throw new UsageError(`${from} is not a proxy URL`, `e.g. ${from}=http://proxy.example:3128, or unset it`, 'bad_proxy');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${from} must be an http:// or https:// proxy URL, not ${url.protocol}`, `e.g. ${from}=http://proxy.example:3128`, 'bad_proxy');
  }
  return { url, from, display: `${url.protocol}//${url.host}` };
}

export interface ClientOptions {
  baseUrl: string;
  environment: string;
  timeoutMs: number;
  userAgent: string;
  env: Env;
  log?: (line: string) => void;
  retry?: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Accept-Version sent on authenticated (data) requests, and the setting it came from (for a 406's cure). */
  apiVersion?: string;
  apiVersionSource?: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
  durationMs: number;
  retries: number;
}

export interface TokenResponse {
  accessToken: string;
  tokenType: string;
  expiresIn: number;
  refreshToken?: string;
}

/** 401 on an API call: the access token is expired or revoked. The auth engine re-mints once. */
export class UnauthorizedError extends ApiError {
  constructor(message: string, hint?: string, cause = 'unauthorized') {
    super(message, 401, 'unauthorized', hint, cause);
  }
}

const HTML_401_HINT =
  'tastytrade answered with an HTML page, which it does when a request lacks a valid User-Agent: a proxy may be rewriting headers (check HTTPS_PROXY)';

interface ErrorBody {
  code?: string;
  message?: string;
}

/** Parse both error dialects: {"error":{"code","message"}} and {"error_code"|"error","error_description"}. */
export function parseErrorBody(json: unknown): ErrorBody {
  if (typeof json !== 'object' || json === null) return {};
  const o = json as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  if (typeof o.error === 'object' && o.error !== null) {
    const e = o.error as Record<string, unknown>;
    let message = str(e.message);
    if (Array.isArray(e.errors)) {
      // Nested errors come as {code, message} (preflight checks) or {domain, reason} (validation_error).
      const subs = e.errors
        .map((x) => {
          if (typeof x !== 'object' || x === null) return undefined;
          const o = x as Record<string, unknown>;
          const m = str(o.message);
          if (m) return m;
          const domain = str(o.domain);
          const reason = str(o.reason);
          return reason ? (domain ? `${domain} ${reason}` : reason) : undefined;
        })
        .filter((x): x is string => !!x);
      if (subs.length) message = [message, ...subs].filter(Boolean).join('; ');
    }
    return { code: str(e.code), message };
  }
  const code = str(o.error_code) ?? str(o.error);
  const message = str(o.error_description) ?? str(o.message);
  return { code, message };
}

function looksHtml(text: string, contentType: string): boolean {
  return contentType.includes('html') || /^\s*<(!doctype|html|head|body)/i.test(text);
}

function header(h: Record<string, string | string[] | undefined>, name: string): string {
  const v = h[name];
  return Array.isArray(v) ? (v[0] ?? '') : (v ?? '');
}

export function parseRetryAfter(value: string, now: number): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

const RESET_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE', 'UND_ERR_CLOSED']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const TLS_CODE_RE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/;

function errCode(e: unknown): string {
  let cur: unknown = e;
  for (let i = 0; i < 4 && cur; i++) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && c !== 'UND_ERR' && c !== 'GenericFailure') return c;
    cur = (cur as { cause?: unknown }).cause;
  }
  return '';
}

/** Map a transport failure to exit 5 with a named cause. Through a proxy, failures to reach it name the proxy. */
export function networkError(e: unknown, host: string, timeoutMs: number, proxy?: ProxyChoice): UnreachableError {
  const code = errCode(e);
  if (proxy) {
    const p = `the proxy ${proxy.display} (${proxy.from})`;
    const fix = `check ${proxy.from}, or add ${host.replace(/:\d+$/, '')} to NO_PROXY to go direct`;
    const msg = e instanceof Error ? e.message : '';
    const tunnel = /Proxy response \((\d+)\)/.exec(msg);
    if (tunnel) return new UnreachableError(`${p} refused the tunnel to ${host} (HTTP ${tunnel[1]})`, 'proxy', fix, e);
    if (code === 'ECONNREFUSED') return new UnreachableError(`connection to ${p} refused`, 'proxy', fix, e);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
      return new UnreachableError(`cannot resolve ${p} (DNS: ${code})`, 'proxy', fix, e);
    }
    if (code === 'UND_ERR_CONNECT_TIMEOUT') return new UnreachableError(`${p} did not accept a connection within ${timeoutMs / 1000} s`, 'proxy', fix, e);
    if (code === 'UND_ERR_PRX_CONN' || code === 'UND_ERR_PRX_TLS') return new UnreachableError(`${p} closed the connection while opening the tunnel to ${host}`, 'proxy', fix, e);
  }
  if (TIMEOUT_CODES.has(code)) {
    return new UnreachableError(`${host} did not answer within ${timeoutMs / 1000} s`, 'timeout', IP_BLOCK_HINT, e);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NODATA' || code === 'EAI_NONAME') {
    return new UnreachableError(`cannot resolve ${host} (DNS: ${code})`, 'dns', 'check your network connection and DNS settings', e);
  }
  if (code === 'ECONNREFUSED') {
    return new UnreachableError(`connection to ${host} refused`, 'refused', 'a firewall or proxy may be in the way, or the API URL is wrong (TASTY_API_URL)', e);
  }
  if (RESET_CODES.has(code)) {
    return new UnreachableError(`connection to ${host} was reset`, 'reset', 'a proxy or firewall may be cutting the connection; try again', e);
  }
  if (TLS_CODE_RE.test(code)) {
    return new UnreachableError(`TLS failure talking to ${host} (${code})`, 'tls', tlsHint(), e);
  }
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') {
    return new UnreachableError(`network unreachable for ${host} (${code})`, 'network', 'check your network connection', e);
  }
  const msg = e instanceof Error ? e.message : String(e);
  const via = proxy ? ` through the proxy ${proxy.display} (${proxy.from})` : '';
  return new UnreachableError(`cannot reach ${host}${via}: ${oneLine(msg).slice(0, 200)}${code ? ` (${code})` : ''}`, 'network', 'check your network connection', e);
}

function badToken(fromServer = false): ApiError {
  return new ApiError(
    fromServer
      ? 'tastytrade answered the token request with an access token that contains characters a Bearer token cannot have (RFC 6750): refused'
      : 'the cached access token contains characters a Bearer token cannot have (RFC 6750): not sent',
    200,
    'bad_token',
    'something between you and tastytrade altered the answer; run `tasty doctor`',
    'bad_token',
  );
}

function isRetryableNetwork(e: unknown): boolean {
  return RESET_CODES.has(errCode(e));
}

export class ApiClient {
  readonly baseUrl: string;
  readonly host: string;
  /** The proxy requests go through, if one applies (HTTPS_PROXY & co., NO_PROXY; never for loopback or http://). */
  readonly proxy: ProxyChoice | undefined;
  private readonly o: ClientOptions;
  private readonly retry: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private dispatcherP: Promise<Dispatcher> | undefined;
  private http: typeof import('./http.ts') | undefined;
  private lastMintAt = Number.NEGATIVE_INFINITY;

  constructor(o: ClientOptions) {
    this.o = o;
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.host = new URL(this.baseUrl).host;
    this.proxy = proxyFor(new URL(this.baseUrl), o.env);
    this.retry = o.retry ?? DEFAULT_RETRY;
    this.sleep = o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.random = o.random ?? Math.random;
  }

  private dispatcher(): Promise<Dispatcher> {
    this.dispatcherP ??= (async () => {
      // undici parses HTTP with llhttp compiled to WebAssembly. After a couple of responses V8 starts tiering
      // that code up to TurboFan on a background thread, and a process that is done waits ~60 ms at exit for
      // the compile to finish. A CLI process never profits from the optimised code: keep it on the baseline tier.
      const http = await import('./http.ts');
      // (Set after the import: a flag change before it would make V8 reject the compile cache of the chunk.)
      (await import('node:v8')).setFlagsFromString('--wasm-tiering-budget=2000000000');
      this.http = http;
      const t = this.o.timeoutMs;
      const common = {
        connect: { timeout: t },
        headersTimeout: t,
        bodyTimeout: t,
        keepAliveTimeout: 4_000,
      };
      if (this.proxy) {
        // A CONNECT tunnel: the proxy sees the host name, never the request (TLS end to end with the API).
        const ProxyAgent = await http.proxyAgentClass();
        this.o.log?.(`through the proxy ${this.proxy.display} (${this.proxy.from})`);
        return new ProxyAgent({ ...common, uri: this.proxy.url.href, connectTimeout: t, proxyTunnel: true });
      }
      return new http.Agent(common);
    })();
    return this.dispatcherP;
  }

  async close(): Promise<void> {
    if (!this.dispatcherP) return;
    const d = await this.dispatcherP;
    await d.close().catch(() => {});
  }

  /** Resolve a relative API path against the base URL. Absolute and scheme-relative paths are refused. */
  url(path: string): URL {
    if (!path.startsWith('/') || path.startsWith('//') || path.includes('\\')) {
      throw new UsageError(`refusing to request ${JSON.stringify(path.slice(0, 60))}: not a relative API path`, 'give a path such as /customers/me');
    }
    const base = new URL(`${this.baseUrl}/`);
    const u = new URL(this.baseUrl + path);
    if (u.origin !== base.origin) throw new UsageError('refusing to send credentials to another origin', 'give a path such as /customers/me');
    // Reserved for tastytrade's own apps: API users calling it "will be flagged and put on delayed quotes".
    if (/^\/quote-streamer-tokens(?:[/?#]|$)/i.test(u.pathname.slice(base.pathname.length - 1))) {
      throw new UsageError('refusing to call /quote-streamer-tokens: tastytrade reserves it for its own apps and flags API users who call it', 'use `tasty quote-token` (GET /api-quote-tokens), the endpoint for API users');
    }
    return u;
  }

  private async once(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    const dispatcher = await this.dispatcher();
    const http = this.http;
    if (!http) throw new Error('undici not loaded');
    // One deadline for the whole attempt (connect, headers and every byte of the body): undici's own timeouts are
    // per phase and per gap between chunks, so a body trickled a byte at a time would never time out.
    const ac = new AbortController();
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      ac.abort();
    }, this.o.timeoutMs);
    try {
      return await this.attempt(http, dispatcher, method, url, headers, body, ac.signal);
    } catch (e) {
      if (expired) throw Object.assign(new Error(`no complete answer within ${this.o.timeoutMs / 1000} s`), { code: 'ETIMEDOUT', cause: e });
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private async attempt(
    http: typeof import('./http.ts'),
    dispatcher: Dispatcher,
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
    const res = await http.request.call(dispatcher, { origin: url.origin, path: url.pathname + url.search, method: method as Dispatcher.HttpMethod, headers, body, signal });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        throw new ApiError(
          `${method} ${url.pathname}: response larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB, refused`,
          res.statusCode,
          'response_too_large',
          undefined,
          'response_too_large',
        );
      }
      chunks.push(chunk as Buffer);
    }
    return { status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
  }

  private backoff(attempt: number, retryAfterMs: number | undefined): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, this.retry.retryAfterCapMs);
    const base = this.retry.baseDelayMs * 2 ** attempt;
    return Math.round(base + this.random() * base);
  }

  /**
   * Send a request; retries idempotent requests (and token mints) on 5xx, 429 and connection resets.
   * `retryable` decides from a response whether it is worth another try.
   */
  private async send(
    method: string,
    path: string,
    opts: { token?: string; body?: string; headers?: Record<string, string>; retry: boolean; retryable?: (status: number, text: string) => boolean },
  ): Promise<ApiResponse> {
    const url = this.url(path);
    const headers: Record<string, string> = {
      'user-agent': this.o.userAgent,
      accept: 'application/json',
    };
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    // Extra headers (tasty api -H) may override the defaults above, never the credentials or the connection.
    for (const [k, v] of Object.entries(opts.headers ?? {})) {
      const name = k.toLowerCase();
      if (/^(authorization|proxy-authorization|host|connection|keep-alive|proxy-connection|te|trailer|transfer-encoding|upgrade|content-length|expect)$/.test(name) || /[\r\n]/.test(name + v)) {
        throw new UsageError(`refusing to send the header ${JSON.stringify(k.slice(0, 40))}`, 'give only request headers such as Accept-Version');
      }
      headers[name] = v;
    }
    if (opts.token !== undefined) {
      if (!isBearerToken(opts.token)) throw badToken();
      headers.authorization = `Bearer ${opts.token}`;
      if (this.o.apiVersion) headers['accept-version'] = this.o.apiVersion;
    }
    const start = performance.now();
    const retryable = opts.retryable ?? ((s: number) => s >= 500 || s === 429);
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      try {
        const r = await this.once(method, url, headers, opts.body);
        const ms = Math.round(performance.now() - t0);
        this.o.log?.(`${method} ${url.pathname} → ${r.status} (${ms} ms${attempt ? `, retry ${attempt}` : ''})`);
        if (opts.retry && attempt < this.retry.maxRetries && retryable(r.status, r.text)) {
          const wait = this.backoff(attempt, r.status === 429 || r.status === 503 ? parseRetryAfter(header(r.headers, 'retry-after'), Date.now()) : undefined);
          this.o.log?.(`  retrying after ${r.status} in ${wait} ms`);
          await this.sleep(wait);
          continue;
        }
        let json: unknown;
        const ct = header(r.headers, 'content-type');
        if (r.text.length > 0 && !looksHtml(r.text, ct)) {
          try {
            json = JSON.parse(r.text);
          } catch {
            json = undefined;
          }
        }
        return { ...r, json, durationMs: Math.round(performance.now() - start), retries: attempt };
      } catch (e) {
        if (e instanceof TastyError) throw e;
        // Only transport failures carry a code; anything else is a bug and goes to the internal-error path.
        if (!errCode(e)) throw e;
        const ms = Math.round(performance.now() - t0);
        this.o.log?.(`${method} ${url.pathname} → ${errCode(e) || 'error'} (${ms} ms${attempt ? `, retry ${attempt}` : ''})`);
        if (opts.retry && attempt < this.retry.maxRetries && isRetryableNetwork(e)) {
          const wait = this.backoff(attempt, undefined);
          this.o.log?.(`  retrying after ${errCode(e)} in ${wait} ms`);
          await this.sleep(wait);
          continue;
        }
        throw networkError(e, this.host, this.o.timeoutMs, this.proxy);
      }
    }
  }

  /** Mint an access token from a refresh token. Never carries an Authorization header. */
  async mint(refreshToken: string, clientSecret: string, o: { retry?: boolean } = {}): Promise<TokenResponse> {
    // Control characters in a secret are copy-paste damage or an attack on whatever logs the request: never sent.
    if (CONTROL_IN_SECRET.test(clientSecret)) {
      throw new UsageError('the client secret contains control characters: not sent', 'copy it again (TASTY_CLIENT_SECRET, or `tasty login`)', 'bad_secret');
    }
    if (CONTROL_IN_SECRET.test(refreshToken)) {
      throw new UsageError('the refresh token contains control characters: not sent', 'copy it again (TASTY_REFRESH_TOKEN, or `tasty login`)', 'bad_secret');
    }
    // Server text is hostile: a token endpoint that echoes the request must not put the secrets in an error message
    // (printed) or in a held rejection (stored).
    const secrets = [refreshToken, clientSecret];
    const spacing = this.lastMintAt + MIN_MINT_INTERVAL_MS - performance.now();
    if (spacing > 0) {
      this.o.log?.(`waiting ${Math.ceil(spacing)} ms: at most one token mint per second`);
      await this.sleep(spacing);
    }
    const body = JSON.stringify({ grant_type: 'refresh_token', refresh_token: refreshToken, client_secret: clientSecret });
    const r = await this.send('POST', '/oauth/token', {
      body,
      retry: o.retry !== false,
      // Never retry a 4xx (a rejected grant resent is how IPs get blocked), except the sandbox's
      // documented transient "User is not a TastyTrade customer", which is not a failed login.
      retryable: (s, text) => s >= 500 || s === 429 || (s === 400 && this.o.environment === 'sandbox' && isTransientSandboxRefusal(text)),
    });
    if (r.status === 200) {
      const o = (r.json ?? {}) as Record<string, unknown>;
      const accessToken = o.access_token;
      const raw = typeof o.expires_in === 'string' ? Number(o.expires_in) : o.expires_in;
      if (typeof accessToken !== 'string' || accessToken.length === 0 || typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0) {
        throw new ApiError('tastytrade answered the token request without a usable access token', 200, 'bad_token_response', 'try again; if it persists, run `tasty doctor`', 'bad_token_response');
      }
      // Cached, printed by `tasty token` and pasted into shell commands: only RFC 6750 characters, or nothing.
      if (!isBearerToken(accessToken)) throw badToken(true);
      const expiresIn = clampExpiresIn(raw);
      this.lastMintAt = performance.now();
      if (expiresIn !== raw) this.o.log?.(`expires_in ${raw} is out of range: using ${expiresIn} s`);
      return {
        accessToken,
        tokenType: typeof o.token_type === 'string' && /^[A-Za-z]{1,20}$/.test(o.token_type) ? o.token_type : 'Bearer',
        expiresIn,
        ...(typeof o.refresh_token === 'string' && o.refresh_token ? { refreshToken: o.refresh_token } : {}),
      };
    }
    const ct = header(r.headers, 'content-type');
    if (r.json === undefined && looksHtml(r.text, ct)) {
      throw new ApiError(`token request answered ${r.status} with an HTML page`, r.status, 'html_response', HTML_401_HINT, 'html_401');
    }
    const err = parseErrorBody(r.json);
    if (err.code === 'invalid_grant' || err.code === 'invalid_client' || err.code === 'invalid_credentials' || err.code === 'unconfirmed_user') {
      throw new CredentialsRejectedError(this.o.environment, cleanServerText(err.message ?? err.code, secrets, 200), { code: err.code });
    }
    if (err.code === 'invalid_request') {
      throw new ApiError(
        `tastytrade refused the token request: "${cleanServerText(err.message ?? 'invalid_request', secrets, 200)}" (invalid_request)`,
        r.status,
        err.code,
        this.o.environment === 'sandbox' && isTransientSandboxRefusal(r.text)
          ? 'the sandbox fails this way now and then; it was retried already, try again in a minute'
          : 'try again in a minute; if it persists, run `tasty doctor`',
        'transient_invalid_request',
      );
    }
    throw this.httpError('POST', '/oauth/token', r, secrets);
  }

  private httpError(method: string, path: string, r: ApiResponse, secrets: string[]): ApiError {
    const ct = header(r.headers, 'content-type');
    if (r.status === 401 && r.json === undefined && looksHtml(r.text, ct)) {
      return new UnauthorizedError(`${method} ${path}: 401 with an HTML page`, HTML_401_HINT, 'html_401');
    }
    const err = parseErrorBody(r.json);
    const f = apiFailure({
      method,
      path,
      status: r.status,
      code: err.code ? cleanServerText(err.code, secrets, 60) : undefined,
      message: err.message ? cleanServerText(err.message, secrets, 300) : undefined,
      environment: this.o.environment,
      baseUrl: this.baseUrl,
      apiVersion: this.o.apiVersion,
      apiVersionSource: this.o.apiVersionSource,
      body: r.json === undefined && r.text.length > 0 ? (looksHtml(r.text, ct) ? 'html' : 'not-json') : undefined,
    });
    // The auth engine re-mints once on a 401 and retries: keep the type it looks for.
    return r.status === 401 ? new UnauthorizedError(f.message, f.hint, f.cause_) : f;
  }

  /** An authenticated API call. 2xx returns; anything else throws the mapped error. */
  async call(method: string, path: string, token: string, body?: string, headers?: Record<string, string>): Promise<ApiResponse> {
    const m = method.toUpperCase();
    const r = await this.send(m, path, { token, body, headers, retry: m === 'GET' || m === 'HEAD' });
    if (r.status >= 200 && r.status < 300) {
      if (r.text.length > 0 && r.json === undefined) {
        throw new ApiError(`${m} ${path}: ${r.status} with a body that is not JSON (truncated or HTML)`, r.status, undefined, 'try again; if it persists, run `tasty doctor`', 'bad_response');
      }
      return r;
    }
    const err = this.httpError(m, path, r, [token]);
    err.response = { text: r.text, json: r.json };
    throw err;
  }

  /** An unauthenticated probe (doctor): any status is returned, never thrown. */
  async probe(path: string): Promise<ApiResponse> {
    return this.send('GET', path, { retry: false });
  }
}

/** The sandbox's documented transient refusal: `invalid_request` "User is not a TastyTrade customer". */
export function isTransientSandboxRefusal(text: string): boolean {
  return /"invalid_request"/.test(text) && /not a tasty ?trade customer/i.test(text);
}
