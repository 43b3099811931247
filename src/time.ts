// The one time format for people (no imports: errors.ts and the renderers use it). JSON carries ISO 8601 UTC.

export function relativeTime(then: number, now: number): string {
  const s = Math.round((now - then) / 1000);
  if (!Number.isFinite(s)) return 'unknown';
  const abs = Math.abs(s);
  const unit = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : abs < 86_400 ? `${Math.round(abs / 3600)} h` : `${Math.round(abs / 86_400)} d`;
  return s >= 0 ? `${unit} ago` : `in ${unit}`;
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** The local time zone's short name at that instant (UTC, CET, EST, GMT+2). */
function zoneName(d: Date): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? 'local';
  } catch {
    return 'local';
  }
}

/**
 * The one time format people read: local time with its zone, `2026-11-29 18:08:07 UTC`; the date is left out when
 * it is the same local day as `now` (`18:08:07 UTC`). With `ago`, the age follows: `18:08:07 UTC, 42 s ago`.
 * JSON carries ISO 8601 UTC instead (`toISOString`).
 */
export function humanTime(at: number | string, now: number, o: { ago?: boolean } = {}): string {
  const t = typeof at === 'string' ? Date.parse(at) : at;
  if (!Number.isFinite(t)) return 'an unknown time';
  const d = new Date(t);
  const n = new Date(now);
  const sameDay = d.getFullYear() === n.getFullYear() && d.getMonth() === n.getMonth() && d.getDate() === n.getDate();
  const date = sameDay ? '' : `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} `;
  const text = `${date}${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${zoneName(d)}`;
  return o.ago ? `${text}, ${relativeTime(t, now)}` : text;
}
