// A loopback emulator of the TastyTrade REST API, built from ../shared/tastytrade-api.md and checked against the real
// payloads in test/fixtures/real (which it can also serve verbatim: serve()).
// A real node:http server on 127.0.0.1:0 with per-test fault injection and request counting.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type Fault =
  | { kind: 'revoked' }
  | { kind: 'invalid-jwt' }
  | { kind: 'secret-mismatch' }
  | { kind: 'rfc-invalid-grant'; description?: string }
  | { kind: 'transient-invalid-request' }
  | { kind: 'unauthorized' } // 401 JSON: access token revoked server-side
  | { kind: 'status'; status: number; retryAfter?: string; code?: string; message?: string }
  | { kind: 'slow'; ms: number }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'html-401' }
  | { kind: 'html'; status: number }
  | { kind: 'truncated' }
  | { kind: 'huge'; bytes: number }
  | { kind: 'body'; status: number; body: string; contentType?: string }
  /** Echo the request body (secrets included) in an error: the RFC dialect's invalid_grant (400), or a 422. */
  | { kind: 'echo'; status: 400 | 422 }
  /** A 200 whose body arrives one byte every `intervalMs` (each gap shorter than any per-chunk timeout). */
  | { kind: 'trickle'; intervalMs: number; bytes?: number }
  /** A successful token answer with these fields (a hostile access_token or expires_in). */
  | { kind: 'token'; accessToken?: string; expiresIn?: unknown };

/** Where a fault applies: the token endpoint, every API (non-token) call, or paths starting with a prefix. */
export type FaultTarget = 'token' | 'api' | 'any' | `/${string}`;

interface ArmedFault {
  target: FaultTarget;
  fault: Fault;
  remaining: number;
}

export interface EmuAccount {
  'account-number': string;
  nickname: string;
  'account-type-name': string;
  'margin-or-cash': string;
  'is-closed': boolean;
  'authority-level': string;
  [k: string]: unknown;
}

export interface RequestRecord {
  method: string;
  path: string;
  status: number;
  authorization: string | undefined;
  userAgent: string | undefined;
  /** Every request header as received (lower-case names). */
  headers: IncomingHttpHeaders;
  /** The query string, "?…" or "". */
  search: string;
  body?: string;
  /** The Accept-Version header, if any. */
  acceptVersion: string | undefined;
  at: number;
  /** Token requests: the refresh token sent. API calls: the grant whose access token was used. */
  grant?: string;
}

/** A further valid credential set (another grant, another user), beside the primary one. */
export interface Grant {
  refreshToken: string;
  clientSecret: string;
  label: string;
  accounts?: EmuAccount[];
}

/** A canned answer for one method and path (real captured payloads from test/fixtures/real). */
export interface CannedResponse {
  status: number;
  body: unknown;
}

/**
 * How the emulator treats Accept-Version. tastytrade answers 406 to a version it no longer (or does not yet)
 * support; a peer found the sandbox refusing the header altogether.
 */
export interface VersionPolicy {
  /** Refuse any Accept-Version with 406 (the sandbox, as peers report it). */
  refuseAll?: boolean;
  /** Oldest version still served (YYYYMMDD); older ones answer 406. */
  oldest?: string;
  /** Newest version that exists; newer ones answer 406. */
  newest?: string;
}

export interface EmulatorOptions {
  environment?: 'production' | 'sandbox';
  clientSecret?: string;
  expiresIn?: number;
  accounts?: EmuAccount[];
  customer?: Record<string, unknown>;
  /** Extra fields per account number merged into its balances. */
  balances?: Record<string, Record<string, unknown>>;
  /** Shift of the emulator's clock (and Date header) against the real one, in ms. */
  clockOffsetMs?: number;
  /** Accounts with authority the caller lacks: 403 on their balances. */
  forbidden?: string[];
  /** Accept-Version handling; default: 20240101 to 20261201 are served (the sandbox's refusal is opt-in: refuseAll). */
  versions?: VersionPolicy;
  /** The customer has no market-data access: /api-quote-tokens answers quote_streamer.customer_not_found_error. */
  noMarketData?: boolean;
}

function b64url(s: string | Buffer): string {
  return Buffer.from(s).toString('base64url');
}

/** A refresh token shaped like tastytrade's: an EdDSA rt+jwt with grant id, client id, scopes, no exp. */
export function makeRefreshToken(opts: { grantId?: string; clientId?: string; scope?: string; iat?: number; sub?: string; iss?: string } = {}): string {
  const header = { alg: 'EdDSA', typ: 'rt+jwt', kid: randomBytes(8).toString('hex'), jku: 'https://api.tastytrade.com/oauth/jwks' };
  const claims = {
    iss: opts.iss ?? 'https://api.tastytrade.com',
    sub: opts.sub ?? `U${randomBytes(6).toString('hex')}`,
    aud: opts.clientId ?? randomBytes(16).toString('hex').replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-'),
    grant_id: opts.grantId ?? `G${randomBytes(6).toString('hex')}`,
    scope: opts.scope ?? 'read trade',
    iat: opts.iat ?? Math.floor(Date.now() / 1000) - 86_400,
  };
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${b64url(randomBytes(64))}`;
}

export function defaultAccounts(): EmuAccount[] {
  return [
    { 'account-number': '5WX01234', nickname: 'Individual', 'account-type-name': 'Individual', 'margin-or-cash': 'Margin', 'is-closed': false, 'authority-level': 'owner', 'is-futures-approved': true, 'day-trader-status': false, 'opened-at': '2021-03-26T18:31:41.070+00:00' },
    { 'account-number': '5WY56789', nickname: 'Roth IRA', 'account-type-name': 'Roth IRA', 'margin-or-cash': 'Cash', 'is-closed': false, 'authority-level': 'owner', 'is-futures-approved': false, 'day-trader-status': false, 'opened-at': '2022-01-04T14:02:11.512+00:00' },
    { 'account-number': '5WZ00042', nickname: 'Old joint', 'account-type-name': 'Joint', 'margin-or-cash': 'Margin', 'is-closed': true, 'authority-level': 'trade-only', 'is-futures-approved': false, 'day-trader-status': false, 'opened-at': '2019-07-15T09:00:00.000+00:00' },
  ];
}

/** `n` open individual margin accounts 5XA00000, 5XA00001, … (bench and concurrency tests). */
export function manyAccounts(n: number): EmuAccount[] {
  return Array.from({ length: n }, (_, i) => ({
    'account-number': `5XA${String(i).padStart(5, '0')}`,
    nickname: `Account ${i}`,
    'account-type-name': 'Individual',
    'margin-or-cash': 'Margin',
    'is-closed': false,
    'authority-level': 'owner',
  }));
}

function seedFrom(s: string): number {
  return createHash('sha256').update(s).digest().readUInt32BE(0);
}

export function balancesFor(accountNumber: string, now: number): Record<string, unknown> {
  const seed = seedFrom(accountNumber);
  const nlv = 10_000 + (seed % 90_000) + (seed % 1000) / 1000;
  const cash = nlv * 0.37;
  const f = (n: number) => n.toFixed(3).replace(/\.?0+$/, '') || '0';
  return {
    'account-number': accountNumber,
    currency: 'USD',
    'cash-balance': f(cash),
    'long-equity-value': f(nlv * 0.5),
    'short-equity-value': '0.0',
    'long-derivative-value': f(nlv * 0.13),
    'short-derivative-value': '0.0',
    'long-futures-value': '0.0',
    'short-futures-value': '0.0',
    'net-liquidating-value': f(nlv),
    'equity-buying-power': f(nlv * 1.6),
    'derivative-buying-power': f(nlv * 0.8),
    'day-trading-buying-power': '0.0',
    'available-trading-funds': '0.0',
    'cash-available-to-withdraw': f(cash * 0.9),
    'maintenance-requirement': f(nlv * 0.2),
    'maintenance-excess': f(nlv * 0.8),
    'maintenance-call-value': '0.0',
    'margin-equity': f(nlv),
    'reg-t-margin-requirement': f(nlv * 0.25),
    'reg-t-call-value': '0.0',
    'day-trading-call-value': '0.0',
    'day-equity-call-value': '0.0',
    'pending-cash': '125.5',
    'pending-cash-effect': 'Debit',
    // As on a real 2026 margin account (test/fixtures/real): the effect of a `<stem>-amount` drops the `-amount`,
    // and `*-effective-date` is a date beside it, not an effect.
    'intraday-equities-cash-amount': '42.25',
    'intraday-equities-cash-effect': 'Debit',
    'intraday-equities-cash-effective-date': new Date(now).toISOString().slice(0, 10),
    'buying-power-adjustment': '0.0',
    'buying-power-adjustment-effect': 'None',
    'pending-margin-interest': '0.0',
    'total-settle-balance': f(cash),
    'cash-settle-balance': f(cash),
    'snapshot-date': new Date(now).toISOString().slice(0, 10),
    'updated-at': new Date(now - 42_000).toISOString(),
  };
}

const HTML_401 =
  '<html>\r\n<head><title>401 Authorization Required</title></head>\r\n<body>\r\n<center><h1>401 Authorization Required</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n';

export class Emulator {
  readonly environment: 'production' | 'sandbox';
  clientSecret: string;
  refreshToken: string;
  expiresIn: number;
  accounts: EmuAccount[];
  customer: Record<string, unknown>;
  balances: Record<string, Record<string, unknown>>;
  forbidden: Set<string>;
  clockOffsetMs: number;
  versions: VersionPolicy;
  /** Canned answers by "METHOD /path", served after the token check (real payloads). */
  readonly canned = new Map<string, CannedResponse>();
  noMarketData: boolean;
  /** Fields of the next /api-quote-tokens answers (issued-at / expires-at, or a hostile body's pieces). */
  quoteFields: Record<string, unknown> = {};
  /** Quote tokens issued so far, for leak scans. */
  readonly quoteTokens: string[] = [];
  /** Successful mints. */
  mints = 0;
  /** Every POST /oauth/token, answered or not. */
  tokenRequests = 0;
  readonly requests: RequestRecord[] = [];
  /** Requests being handled right now, and the most seen at once (concurrency bounds). */
  inFlight = 0;
  maxInFlight = 0;
  /** Refresh tokens whose grant was revoked (permanent, like the real one). */
  readonly revokedGrants = new Set<string>();
  private faults: ArmedFault[] = [];
  private readonly tokens = new Map<string, { expiresAt: number; revoked: boolean; grant: string }>();
  /** Answer each mint of the primary grant with a new refresh token (and retire the old one), like a rotating server. */
  rotateRefreshTokens = false;
  /** Further valid grants by refresh token (the primary one is `refreshToken` + `clientSecret`). */
  readonly grants = new Map<string, Grant>();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(o: EmulatorOptions = {}) {
    this.environment = o.environment ?? 'sandbox';
    this.clientSecret = o.clientSecret ?? `cs_${randomBytes(20).toString('hex')}`;
    this.refreshToken = makeRefreshToken();
    this.expiresIn = o.expiresIn ?? 900;
    this.accounts = o.accounts ?? defaultAccounts();
    this.customer = o.customer ?? { id: 'me', 'first-name': 'Ada', 'last-name': 'Lovelace', email: 'ada@example.com', username: 'ada' };
    this.balances = o.balances ?? {};
    this.forbidden = new Set(o.forbidden ?? []);
    this.clockOffsetMs = o.clockOffsetMs ?? 0;
    // One emulator often stands in for both environments in a test: refusing every Accept-Version (what peers report
    // of the real sandbox) is opt-in, `versions: { refuseAll: true }`.
    this.versions = o.versions ?? { oldest: '20240101', newest: '20261201' };
    this.noMarketData = o.noMarketData ?? false;
  }

  /** Serve a canned answer for `METHOD /path` (after the usual User-Agent and token checks). */
  serve(method: string, path: string, status: number, body: unknown): this {
    this.canned.set(`${method} ${path}`, { status, body });
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Listen on 127.0.0.1 (port 0: any free one). */
  async start(port = 0): Promise<this> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Arm a fault for the next `times` matching requests (Infinity: until cleared). */
  inject(target: FaultTarget, fault: Fault, times = 1): this {
    this.faults.push({ target, fault, remaining: times });
    return this;
  }

  clearFaults(): this {
    this.faults = [];
    return this;
  }

  /** Add another valid grant (another user, or another app of the same user); its accounts default to one of its own. */
  addGrant(label: string, accounts?: EmuAccount[]): Grant {
    const g: Grant = { refreshToken: makeRefreshToken(), clientSecret: `cs_${randomBytes(20).toString('hex')}`, label, accounts };
    this.grants.set(g.refreshToken, g);
    return g;
  }

  /** The refresh token an access token issued here was minted from (undefined: not issued here). */
  grantOf(accessToken: string): string | undefined {
    return this.tokens.get(accessToken)?.grant;
  }

  /** Token requests that sent this refresh token, and how many of them were refused. */
  tokenRequestsFor(refreshToken: string): { sent: number; refused: number } {
    const rs = this.requests.filter((r) => r.path === '/oauth/token' && r.grant === refreshToken);
    return { sent: rs.length, refused: rs.filter((r) => r.status >= 400).length };
  }

  revokeGrant(token = this.refreshToken): this {
    this.revokedGrants.add(token);
    return this;
  }

  /** Revoke every access token issued so far (server-side revocation: API calls answer 401). */
  revokeAccessTokens(): this {
    for (const t of this.tokens.values()) t.revoked = true;
    return this;
  }

  /** Every access token issued so far, for scanning outputs for leaks. */
  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  count(pathPrefix: string, method?: string): number {
    return this.requests.filter((r) => r.path.startsWith(pathPrefix) && (!method || r.method === method)).length;
  }

  reset(): this {
    this.mints = 0;
    this.tokenRequests = 0;
    this.requests.length = 0;
    this.faults = [];
    this.maxInFlight = 0;
    this.canned.clear();
    return this;
  }

  private takeFault(path: string): Fault | undefined {
    const isToken = path === '/oauth/token';
    for (const f of this.faults) {
      if (f.remaining <= 0) continue;
      const t = f.target;
      const hit = t === 'any' || (t === 'token' && isToken) || (t === 'api' && !isToken) || (t.startsWith('/') && path.startsWith(t));
      if (hit) {
        f.remaining--;
        return f.fault;
      }
    }
    return undefined;
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 1 << 20) break;
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private send(res: ServerResponse, rec: RequestRecord, status: number, body: unknown, extra: Record<string, string> = {}): void {
    rec.status = status;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, {
      'content-type': typeof body === 'string' && !extra['content-type'] ? 'text/html' : 'application/json',
      date: new Date(this.now()).toUTCString(),
      ...extra,
    });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const rec: RequestRecord = {
      method,
      path,
      status: 0,
      authorization: req.headers.authorization,
      userAgent: req.headers['user-agent'],
      headers: req.headers,
      search: url.search,
      acceptVersion: typeof req.headers['accept-version'] === 'string' ? req.headers['accept-version'] : undefined,
      at: Date.now(),
    };
    this.requests.push(rec);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.once('close', () => this.inFlight--);
    const body = await this.readBody(req);
    rec.body = body;
    const isToken = path === '/oauth/token';
    if (isToken && method === 'POST') {
      this.tokenRequests++;
      try {
        const rt = (JSON.parse(body) as { refresh_token?: unknown }).refresh_token;
        if (typeof rt === 'string') rec.grant = rt;
      } catch {
        /* not JSON: answered below */
      }
    }

    const fault = this.takeFault(path);
    if (fault) {
      const handled = await this.applyFault(fault, req, res, rec, body);
      if (handled) return;
    }

    // Every request needs a User-Agent (product/version); nginx answers 401 HTML to a missing or malformed one.
    // (The official JS SDK sends a bare product name, which tastytrade accepts.)
    const ua = req.headers['user-agent'];
    if (!ua || !/^[\w.-]+(\/[\w.+-]+)?(\s|$)/.test(ua)) return this.send(res, rec, 401, HTML_401);

    if (isToken) {
      if (method !== 'POST') return this.send(res, rec, 405, { error: { code: 'method_not_allowed', message: 'Method not allowed' } });
      return this.token(req, body, res, rec);
    }
    // API calls: Bearer token required and valid by the emulator's clock.
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer (\S+)$/.exec(auth);
    const tok = m?.[1] ? this.tokens.get(m[1]) : undefined;
    if (!tok || tok.revoked || tok.expiresAt <= this.now()) {
      return this.send(res, rec, 401, { error: { code: 'unauthorized', message: 'This login session has expired or is invalid' } });
    }
    rec.grant = tok.grant;
    const version = rec.acceptVersion;
    if (version !== undefined) {
      const v = this.versions;
      if (v.refuseAll || !/^\d{8}$/.test(version) || (v.oldest && version < v.oldest) || (v.newest && version > v.newest)) {
        // The body of tastytrade's 406 is unconfirmed: the client must branch on the status alone.
        return this.send(res, rec, 406, { error: { code: 'not_acceptable', message: `Unsupported API version ${version.slice(0, 20)}` } });
      }
    }
    const canned = this.canned.get(`${method} ${path}`);
    if (canned) return this.send(res, rec, canned.status, canned.body, typeof canned.body === 'string' ? { 'content-type': 'application/json' } : {});
    return this.api(method, path, body, res, rec, version);
  }

  /** Returns true when the fault answered the request. */
  private async applyFault(fault: Fault, req: IncomingMessage, res: ServerResponse, rec: RequestRecord, body = ''): Promise<boolean> {
    const grantErr = (d: string, code = 'invalid_grant') => this.send(res, rec, 400, { error_code: code, error_description: d });
    switch (fault.kind) {
      case 'revoked':
        grantErr('Grant revoked');
        return true;
      case 'invalid-jwt':
        grantErr('Invalid JWT');
        return true;
      case 'secret-mismatch':
        grantErr('Client secret mismatch');
        return true;
      case 'rfc-invalid-grant':
        this.send(res, rec, 400, { error: 'invalid_grant', error_description: fault.description ?? 'Grant revoked' });
        return true;
      case 'transient-invalid-request':
        grantErr('User is not a TastyTrade customer', 'invalid_request');
        return true;
      case 'unauthorized':
        this.send(res, rec, 401, { error: { code: 'unauthorized', message: 'This login session has expired or is invalid' } });
        return true;
      case 'status': {
        const extra: Record<string, string> = {};
        if (fault.retryAfter !== undefined) extra['retry-after'] = fault.retryAfter;
        const code = fault.code ?? ({ 403: 'not_permitted', 404: 'record_not_found', 429: 'too_many_requests' } as Record<number, string>)[fault.status] ?? 'internal_error';
        const message = fault.message ?? ({ 403: 'User not permitted access', 404: 'Record not found', 429: 'Too many requests' } as Record<number, string>)[fault.status] ?? 'Internal server error';
        this.send(res, rec, fault.status, { error: { code, message } }, extra);
        return true;
      }
      case 'slow':
        await new Promise((r) => setTimeout(r, fault.ms));
        return false;
      case 'hang':
        rec.status = -1;
        // Accept, read, and never answer. The socket is destroyed when the emulator stops.
        return true;
      case 'reset':
        rec.status = -2;
        req.socket.resetAndDestroy();
        return true;
      case 'html-401':
        this.send(res, rec, 401, HTML_401);
        return true;
      case 'html':
        this.send(res, rec, fault.status, `<!DOCTYPE html><html><body><h1>${fault.status}</h1></body></html>`);
        return true;
      case 'truncated':
        rec.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data":{"items":[{"account":{"account-number":"5WX0');
        return true;
      case 'huge': {
        rec.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = 'x'.repeat(64 * 1024);
        res.write('{"data":{"pad":"');
        let sent = 0;
        while (sent < fault.bytes) {
          if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
          sent += chunk.length;
          if (res.destroyed) return true;
        }
        res.end('"}}');
        return true;
      }
      case 'body':
        this.send(res, rec, fault.status, fault.body, { 'content-type': fault.contentType ?? 'application/json' });
        return true;
      case 'echo': {
        const form = new URLSearchParams(Object.entries((() => {
          try {
            return JSON.parse(body) as Record<string, string>;
          } catch {
            return {};
          }
        })())).toString();
        if (fault.status === 400) this.send(res, rec, 400, { error: 'invalid_grant', error_description: `Grant revoked for ${form}` });
        else this.send(res, rec, 422, { error: { code: 'validation_error', message: `Unprocessable request: ${body}` } });
        return true;
      }
      case 'trickle': {
        rec.status = 200;
        res.writeHead(200, { 'content-type': 'application/json' });
        const text = `{"pad":"${'x'.repeat(fault.bytes ?? 200)}"}`;
        for (const ch of text) {
          if (res.destroyed) return true;
          res.write(ch);
          await new Promise((r) => setTimeout(r, fault.intervalMs));
        }
        res.end();
        return true;
      }
      case 'token': {
        const accessToken = fault.accessToken ?? `at_${randomBytes(24).toString('base64url')}`;
        const expiresIn = fault.expiresIn ?? this.expiresIn;
        const secs = typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? Math.min(expiresIn, 1e9) : this.expiresIn;
        this.tokens.set(accessToken, { expiresAt: this.now() + secs * 1000, revoked: false, grant: rec.grant ?? this.refreshToken });
        this.mints++;
        this.send(res, rec, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn });
        return true;
      }
    }
  }

  private token(req: IncomingMessage, body: string, res: ServerResponse, rec: RequestRecord): void {
    if (req.headers.authorization) {
      // A stale Bearer header on the token request makes tastytrade fail the grant.
      return this.send(res, rec, 400, { error_code: 'invalid_request', error_description: 'Authorization header not allowed' });
    }
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return this.send(res, rec, 400, { error_code: 'invalid_request', error_description: 'Malformed request body' });
    }
    if (o.grant_type !== 'refresh_token') return this.send(res, rec, 400, { error_code: 'unsupported_grant_type', error_description: 'Unsupported grant type' });
    const rt = typeof o.refresh_token === 'string' ? o.refresh_token : '';
    const grantErr = (d: string) => this.send(res, rec, 400, { error_code: 'invalid_grant', error_description: d });
    const extra = this.grants.get(rt);
    if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(rt) || (rt !== this.refreshToken && !extra)) return grantErr('Invalid JWT');
    if (this.revokedGrants.has(rt)) return grantErr('Grant revoked');
    if (o.client_secret !== (extra ? extra.clientSecret : this.clientSecret)) return grantErr('Client secret mismatch');
    const accessToken = `at_${randomBytes(24).toString('base64url')}`;
    this.tokens.set(accessToken, { expiresAt: this.now() + this.expiresIn * 1000, revoked: false, grant: rt });
    this.mints++;
    if (this.rotateRefreshTokens && !extra) {
      this.refreshToken = makeRefreshToken();
      return this.send(res, rec, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: this.expiresIn, refresh_token: this.refreshToken });
    }
    this.send(res, rec, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: this.expiresIn });
  }

  private api(method: string, path: string, body: string, res: ServerResponse, rec: RequestRecord, version?: string): void {
    const ctx = { context: path };
    if (method === 'GET' && path === '/customers/me') return this.send(res, rec, 200, { data: this.customer, ...ctx });
    if (method === 'GET' && path === '/customers/me/accounts') {
      const own = rec.grant ? this.grants.get(rec.grant)?.accounts : undefined;
      const items = (own ?? this.accounts).map(({ 'authority-level': authority, ...account }) => ({ account, 'authority-level': authority }));
      return this.send(res, rec, 200, { data: { items }, ...ctx });
    }
    const bal = /^\/accounts\/([^/]+)\/balances(?:\/([A-Z]{3}))?$/.exec(path);
    if (method === 'GET' && bal) {
      const n = decodeURIComponent(bal[1] ?? '');
      const acct = this.accounts.find((a) => a['account-number'] === n);
      if (this.forbidden.has(n)) return this.send(res, rec, 403, { error: { code: 'not_permitted', message: 'User not permitted access' } });
      if (!acct) return this.send(res, rec, 404, { error: { code: 'record_not_found', message: `Account ${n} not found` } });
      const data = { ...balancesFor(n, this.now()), ...(this.balances[n] ?? {}) };
      // From API version 20251101 on, /balances answers one item per currency (release notes; tastyware uses /balances/USD).
      if (version !== undefined && version >= '20251101' && !bal[2]) return this.send(res, rec, 200, { data: { items: [data] }, ...ctx });
      return this.send(res, rec, 200, { data, ...ctx });
    }
    // DXLink quote tokens (../shared/tastytrade-api.md, "Streaming credentials"). The HTTP status of the no-market-data
    // refusal is not documented there; only its code is, and tasty keys on the code.
    if (method === 'GET' && path === '/api-quote-tokens') {
      if (this.noMarketData) return this.send(res, rec, 404, { error: { code: 'quote_streamer.customer_not_found_error', message: 'Customer not found' } });
      const token = `dxq_${randomBytes(30).toString('base64url')}`;
      this.quoteTokens.push(token);
      const level = this.environment === 'sandbox' ? 'demo' : 'api';
      return this.send(res, rec, 200, { data: { token, 'dxlink-url': 'wss://tasty-openapi-ws.dxfeed.com/realtime', level, ...this.quoteFields }, ...ctx });
    }
    // Reserved for tastytrade's own apps; API users on it are flagged. Served so a test can prove tasty never calls it.
    if (method === 'GET' && path === '/quote-streamer-tokens') {
      return this.send(res, rec, 200, { data: { token: `qst_${randomBytes(30).toString('base64url')}`, 'streamer-url': 'tasty-live-web.dxfeed.com:7301', 'websocket-url': 'wss://tasty-live-ws.dxfeed.com/realtime', level: 'Real-Time' }, ...ctx });
    }
    const dry = /^\/accounts\/([^/]+)\/orders\/dry-run$/.exec(path);
    if (method === 'POST' && dry) {
      let order: unknown;
      try {
        order = JSON.parse(body);
      } catch {
        return this.send(res, rec, 400, { error: { code: 'validation_error', message: 'Request body is not JSON' } });
      }
      return this.send(res, rec, 201, { data: { order, 'buying-power-effect': { 'change-in-buying-power': '10.0', 'change-in-buying-power-effect': 'Debit' } }, ...ctx });
    }
    return this.send(res, rec, 404, { error: { code: 'not_found', message: `No route for ${method} ${path}` } });
  }
}
