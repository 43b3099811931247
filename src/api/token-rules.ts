// What an access token and its lifetime may be: shared by the client (what it accepts) and the state file (what it
// trusts from disk). Tiny on purpose: the hot path loads it.

/**
 * `expires_in` is clamped to this range (seconds): no token cached for decades, no date overflow (≥ 9e12 s), no
 * sub-second lifetimes. tastytrade's are 900 s; the floor is low enough for the test suite's time-compressed tokens.
 */
export const MIN_EXPIRES_S = 1;
export const MAX_EXPIRES_S = 86_400;
/** A floor on renewal intervals: one client mints at most once per this many ms (a tiny expires_in cannot storm). */
export const MIN_MINT_INTERVAL_MS = 1_000;
/** The longest access token accepted (tastytrade's are about 1 KB). */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Nothing else can be a Bearer value. */
export function isBearerToken(t: unknown): t is string {
  return typeof t === 'string' && t.length > 0 && t.length <= MAX_TOKEN_LENGTH && /^[A-Za-z0-9\-._~+/]+=*$/.test(t);
}

/** Clamp a token lifetime (seconds) to [MIN_EXPIRES_S, MAX_EXPIRES_S]. */
export function clampExpiresIn(seconds: number): number {
  return Math.min(MAX_EXPIRES_S, Math.max(MIN_EXPIRES_S, seconds));
}
