// GET /api-quote-tokens: the DXLink quote token, its URL and level. The body is hostile until checked: the token and the
// URL must be printable and bounded, the expiry is tastytrade's when it says one (else 24 h, as documented), and never
// longer than 24 h by the local clock. Never /quote-streamer-tokens (reserved for tastytrade's own apps).
import { DXLINK_URL_RE as URL_RE, QUOTE_TOKEN_RE as TOKEN_RE } from '../auth/state.ts';
import { ApiError } from '../errors.ts';

export const QUOTE_TOKEN_PATH = '/api-quote-tokens';
/** "API quote tokens expire after 24 hours". */
export const QUOTE_TOKEN_LIFETIME_MS = 24 * 3600_000;
/** The code tastytrade answers for a customer without market-data access. */
export const NO_MARKET_DATA_CODE = 'quote_streamer.customer_not_found_error';

export interface QuoteTokenResponse {
  token: string;
  dxlinkUrl: string;
  level: string;
  /** Life of the token from receipt, in ms. */
  lifetimeMs: number;
}

function bad(what: string): ApiError {
  return new ApiError(`GET ${QUOTE_TOKEN_PATH}: the answer has ${what}`, 200, 'bad_quote_token', 'try again; if it persists, run `tasty doctor`', 'bad_response');
}

/** Check a 2xx body of GET /api-quote-tokens; `now` is the local time of receipt. */
export function parseQuoteToken(json: unknown, now: number): QuoteTokenResponse {
  const root = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  const d = typeof root.data === 'object' && root.data !== null ? (root.data as Record<string, unknown>) : undefined;
  if (!d) throw bad('no data');
  const token = d.token;
  if (typeof token !== 'string' || !TOKEN_RE.test(token)) throw bad('no usable token');
  const url = d['dxlink-url'] ?? d['websocket-url'];
  if (typeof url !== 'string' || !URL_RE.test(url)) throw bad('no usable dxlink-url');
  const level = typeof d.level === 'string' && /^[\w.-]{1,40}$/.test(d.level) ? d.level : 'unknown';
  return { token, dxlinkUrl: url, level, lifetimeMs: lifetime(d['issued-at'], d['expires-at'], now) };
}

/**
 * The token's life from now. With both issued-at and expires-at, their difference (immune to clock skew); with
 * expires-at only, the time left to it by our clock; else 24 h. Always within (0, 24 h].
 */
function lifetime(issued: unknown, expires: unknown, now: number): number {
  const t = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : Number.NaN);
  const i = t(issued);
  const e = t(expires);
  let ms = QUOTE_TOKEN_LIFETIME_MS;
  if (Number.isFinite(e) && Number.isFinite(i) && e > i) ms = e - i;
  else if (Number.isFinite(e) && e > now) ms = e - now;
  return Math.min(ms, QUOTE_TOKEN_LIFETIME_MS);
}

/** The cause and cure of `quote_streamer.customer_not_found_error` (exit 6). */
export function noMarketDataError(environment: string, status: number): ApiError {
  return new ApiError(
    `tastytrade has no market-data access on record for this ${environment} login (${NO_MARKET_DATA_CODE})`,
    status,
    NO_MARKET_DATA_CODE,
    'quote tokens are issued only to customers with market-data access: open an account (or finish its application) and accept the market-data agreements in the tastytrade app or at my.tastytrade.com, then run `tasty quote-token` again; api.support@tastytrade.com can tell what is missing',
    'no_market_data',
  );
}
