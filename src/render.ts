// Rendering helpers for human output: aligned tables, money, relative times; and the JSON shaping of API data.
import { sanitize } from './output.ts';

const ANSI_RE = /\u001b\[[0-9;]*m/g;

export function visibleLength(s: string): number {
  return s.replace(ANSI_RE, '').length;
}

export function pad(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  const fill = ' '.repeat(Math.max(0, width - visibleLength(s)));
  return align === 'left' ? s + fill : fill + s;
}

/** An aligned table; cells are sanitized by the caller's choice of content. */
export function table(header: string[], rows: string[][], align: Array<'left' | 'right'> = []): string {
  const widths = header.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => pad(c, widths[i] ?? 0, align[i] ?? 'left'))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const formatters = new Map<string, Intl.NumberFormat>();

/** An amount as money; a decimal string is formatted exactly (no float rounding), whatever its size. */
export function money(amount: number | string, currency: string): string {
  const cur = /^[A-Z]{3}$/.test(currency) ? currency : 'USD';
  let f = formatters.get(cur);
  if (!f) {
    f = new Intl.NumberFormat('en-US', { style: 'currency', currency: cur });
    formatters.set(cur, f);
  }
  const text = f.format(amount as Parameters<Intl.NumberFormat['format']>[0]);
  // Intl formats decimal strings exactly up to a huge magnitude and says ∞ beyond it: then the exact figure, as given.
  return /∞|NaN/.test(text) ? `${cur} ${String(amount)}` : text;
}

const EXACT_RE = /^(-?)(\d+)(\.\d+)?$/;

/**
 * A decimal string with its sign set (-1: negative, 1: positive, undefined: as given), leading zeros dropped:
 * a valid JSON number literal, exact to the last digit.
 */
export function signedDecimal(decimal: string, sign?: 1 | -1): string | undefined {
  const m = EXACT_RE.exec(decimal.trim());
  if (!m) return undefined;
  const neg = sign === -1 ? true : sign === 1 ? false : m[1] === '-';
  return `${neg ? '-' : ''}${(m[2] ?? '0').replace(/^0+(?=\d)/, '')}${m[3] ?? ''}`;
}

type RawJson = (text: string) => unknown;
const rawJSON = (JSON as unknown as { rawJSON?: RawJson }).rawJSON;

/** A decimal string as an exact JSON number (JSON allows any precision; JSON.stringify writes it verbatim). */
export function exactNumber(decimal: string, sign?: 1 | -1): unknown {
  const lit = signedDecimal(decimal, sign);
  if (lit === undefined) return decimal;
  return rawJSON ? rawJSON(lit) : Number(lit);
}

export { humanTime, relativeTime } from './time.ts';

export function camelCase(key: string): string {
  return key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const DECIMAL_RE = /^-?\d+(\.\d+)?$/;
/** Fields that look numeric but are identifiers. */
const NOT_AMOUNTS = new Set(['account-number', 'snapshot-date', 'updated-at', 'currency']);
const EFFECT_SUFFIX = '-effect';

/**
 * Which amount each "*-effect" field signs. Real payloads pair both ways: `pending-cash` ↔ `pending-cash-effect`,
 * and `intraday-equities-cash-amount` ↔ `intraday-equities-cash-effect` (the effect drops the `-amount`).
 * Only keys ending exactly in `-effect` are effects: `*-effective-date` fields are dates.
 */
export function effectPairs(data: Record<string, unknown>): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const key of Object.keys(data)) {
    if (!key.endsWith(EFFECT_SUFFIX)) continue;
    const stem = key.slice(0, -EFFECT_SUFFIX.length);
    if (!stem) continue;
    const amount = stem in data ? stem : `${stem}-amount` in data ? `${stem}-amount` : undefined;
    if (amount !== undefined && !amount.endsWith(EFFECT_SUFFIX)) pairs.set(amount, key);
  }
  return pairs;
}

/** The sign an amount's own effect gives it (Debit -1, Credit 1), if it has one: see effectPairs. */
export function effectSign(data: Record<string, unknown>, key: string, pairs = effectPairs(data)): 1 | -1 | undefined {
  const effectKey = pairs.get(key);
  const effect = effectKey === undefined ? undefined : data[effectKey];
  return effect === 'Debit' ? -1 : effect === 'Credit' ? 1 : undefined;
}

/**
 * tastytrade's balances for scripts: keys in camelCase, decimal strings as numbers, each "*-effect"
 * applied as the sign of the amount it belongs to (Debit negative). Unknown fields are kept.
 */
export function shapeBalances(data: Record<string, unknown>): Record<string, unknown> {
  const pairs = effectPairs(data);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    let value: unknown = v;
    const sign = effectSign(data, k, pairs);
    // Exact: "12345678901234567.89" stays 12345678901234567.89, "1" + 400 zeros stays that number (not null).
    if (typeof v === 'string' && !NOT_AMOUNTS.has(k) && DECIMAL_RE.test(v)) value = exactNumber(v, sign);
    else if (typeof v === 'number' && Number.isFinite(v) && sign !== undefined) value = sign * Math.abs(v);
    out[camelCase(k)] = value;
  }
  return out;
}

/** Keys camelCased, values kept (accounts). */
export function camelKeys(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[camelCase(k)] = v;
  return out;
}

/** A server string made safe for the terminal. */
export function safe(v: unknown): string {
  return typeof v === 'string' ? sanitize(v).replace(/\s+/g, ' ').trim() : v === undefined || v === null ? '' : String(v);
}
