// Text made safe to print or store: the one sanitiser and the one redactor. No dependencies (no chalk): the fast
// path (src/fast.ts) and the auth engine load it without the output layer; src/output.ts re-exports it.

// C0 controls except tab/newline, DEL, C1 controls (ESC included: it starts every terminal escape sequence).
const CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// The same, but an ESC that starts a colour sequence (SGR: ESC [ digits ; m) is kept: tasty's own colours on a TTY.
const CONTROL_KEEP_SGR_RE = /\u001b(?!\[[0-9;]*m)|[\u0000-\u0008\u000b-\u001a\u001c-\u001f\u007f-\u009f]/g;
// Unicode bidi overrides and zero-width tricks that can disguise text.
const BIDI_RE = /[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2028\u2029]/g;

/**
 * The one sanitiser: strips control and escape characters (OSC 52 clipboard writes, screen clears, title changes,
 * 8-bit CSI), carriage returns and bidi overrides from text that came from the server, a token or a file. Every
 * byte an Output writes goes through it; `keepSgr` keeps well-formed colour sequences (tasty's own, on a TTY).
 */
export function sanitize(s: string, o: { keepSgr?: boolean } = {}): string {
  return s.replace(o.keepSgr ? CONTROL_KEEP_SGR_RE : CONTROL_RE, '').replace(BIDI_RE, '');
}

/** One-line form: sanitized and with newlines folded. */
export function oneLine(s: string): string {
  return sanitize(s).replace(/\s*\n\s*/g, ' ');
}

/**
 * JSON text safe for a terminal: JSON.stringify escapes C0 controls but leaves DEL, the C1 controls (U+0080–U+009F,
 * which include the 8-bit CSI) and bidi overrides raw. Escape them too; the result is the same JSON value.
 */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export const REDACTED = '[redacted]';

/**
 * The one redactor: every known secret (any length) becomes [redacted], longest first so one that contains another
 * goes whole. With `shapes` (logs and messages, not data), Bearer values and JWT-shaped strings are redacted even when
 * nobody registered them; data keeps them (`tasty api /api-quote-tokens` exists to print a token).
 */
export function redactText(s: string, secrets: Iterable<string>, o: { shapes?: boolean } = { shapes: true }): string {
  let out = s;
  const list = [...secrets].filter((x) => x.length > 0).sort((a, b) => b.length - a.length);
  for (const secret of list) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
  if (o.shapes) {
    out = out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, `$1${REDACTED}`);
    out = out.replace(/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]');
  }
  return out;
}

/**
 * Server- or token-derived text made fit to store or print: sanitised, folded to one line, every given secret
 * redacted, capped. The auth engine calls this before it stores a rejection description (state.json).
 */
export function cleanServerText(text: string, secrets: Iterable<string> = [], max = 300): string {
  const clean = redactText(oneLine(text), secrets).trim();
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

/** Redact every string (and key) of a JSON value; raw JSON number literals are kept as they are. */
export function redactValue(v: unknown, redact: (s: string) => string, keep: Set<string>): unknown {
  if (typeof v === 'string') return keep.has(v) ? v : redact(v);
  if (typeof v !== 'object' || v === null) return v;
  if ((JSON as unknown as { isRawJSON?: (x: unknown) => boolean }).isRawJSON?.(v)) return v;
  if (Array.isArray(v)) return v.map((x) => redactValue(x, redact, keep));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[redact(k)] = redactValue(x, redact, keep);
  return out;
}
