// tasty balances: the figures a trader looks at, for one account, the default one, or every open account.
import { type Account, getBalances, listAccounts, mapLimit, validateAccountNumber } from '../api/accounts.ts';
import type { AuthEngine } from '../auth/engine.ts';
import type { Environment } from '../config.ts';
import type { Context } from '../context.ts';
import { ApiError, accountAccessError, CredentialsRejectedError, NotLoggedInError, TastyError, UsageError } from '../errors.ts';
import { effectPairs, effectSign, humanTime, money, pad, safe, shapeBalances, signedDecimal, table, visibleLength } from '../render.ts';

interface BalancesOptions {
  account?: string;
  all?: boolean;
  watch?: string | boolean;
}

export const CONCURRENCY = 4;
const FIELDS: Array<[string, string]> = [
  ['net-liquidating-value', 'Net liquidating value'],
  ['cash-balance', 'Cash balance'],
  ['equity-buying-power', 'Equity buying power'],
  ['derivative-buying-power', 'Derivative buying power'],
  ['day-trading-buying-power', 'Day-trading buying power'],
  ['maintenance-requirement', 'Maintenance requirement'],
  ['maintenance-excess', 'Maintenance excess'],
  ['pending-cash', 'Pending cash'],
  ['cash-available-to-withdraw', 'Cash available to withdraw'],
];

export function parseWatch(v: string | boolean | undefined): number | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return 15;
  const t = v.trim();
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isInteger(n) || n < 5 || n > 86_400) {
    throw new UsageError(`--watch takes a whole number of seconds, at least 5: not ${JSON.stringify(v.slice(0, 20))}`, 'e.g. --watch 30');
  }
  return n;
}

/**
 * Which accounts, and whether the --json document is one object. The shape follows the flags alone: one object
 * with --account, else an array (a saved default account gives an array of one; --all ignores the default).
 * `list` is the account list when it had to be fetched (it gives the nicknames).
 */
async function which(ctx: Context, auth: AuthEngine, environment: Environment, account: string | undefined, all: boolean): Promise<{ numbers: string[]; single: boolean; list?: Account[] }> {
  if (account) return { numbers: [account], single: true };
  const def = all ? undefined : ctx.config().defaultAccounts?.[environment];
  if (def) return { numbers: [def], single: false };
  const list = await ctx.out.progress(`Fetching the account list (${environment})…`, () => listAccounts(auth, environment));
  return { numbers: list.filter((a) => !a.closed).map((a) => a.number), single: false, list };
}

/** Nicknames by account number, for people: from the list when it was fetched, else one request (failure: none). */
async function nicknames(auth: AuthEngine, environment: Environment, list: Account[] | undefined): Promise<Map<string, string>> {
  let accounts = list;
  if (!accounts) {
    try {
      accounts = await listAccounts(auth, environment);
    } catch {
      accounts = [];
    }
  }
  return new Map(accounts.filter((a) => a.nickname).map((a) => [a.number, safe(a.nickname)]));
}

async function fetchAll(auth: AuthEngine, environment: Environment, numbers: string[]): Promise<Array<Record<string, unknown>>> {
  try {
    return await mapLimit(numbers, CONCURRENCY, (n) => getBalances(auth, environment, n));
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403)) {
      // Name the accounts the user does have.
      let have: Account[] = [];
      try {
        have = await listAccounts(auth, environment);
      } catch {
        /* keep the original error */
      }
      const open = have.filter((a) => !a.closed).map((a) => a.number);
      const account = /^GET \/accounts\/([^/]+)\//.exec(e.message)?.[1] ?? numbers.join(', ');
      throw accountAccessError(e, decodeURIComponent(account), environment, open);
    }
    throw e;
  }
}

/** An amount field as an exact signed decimal string (the sign from its effect: Debit negative); undefined when absent. */
function amount(d: Record<string, unknown>, key: string, pairs = effectPairs(d)): string | undefined {
  const raw = d[key];
  if (raw === undefined || raw === null || raw === '') return undefined;
  // The sign comes from the effect this amount owns (<stem>-effect of <stem> or <stem>-amount): Debit negative.
  const sign = effectSign(d, key, pairs);
  // Decimal strings are formatted exactly, whatever their size; numbers as they are.
  return typeof raw === 'string' ? signedDecimal(raw, sign) : typeof raw === 'number' && Number.isFinite(raw) ? String(sign === undefined ? raw : sign * Math.abs(raw)) : undefined;
}

/** The exact sum of decimal strings (no float rounding). */
export function sumDecimals(xs: string[]): string {
  const scale = Math.max(0, ...xs.map((x) => (x.split('.')[1] ?? '').length));
  const toInt = (x: string) => {
    const [i = '0', f = ''] = x.replace('-', '').split('.');
    const v = BigInt(i + f.padEnd(scale, '0'));
    return x.startsWith('-') ? -v : v;
  };
  const total = xs.reduce((a, x) => a + toInt(x), 0n);
  const neg = total < 0n;
  const digits = (neg ? -total : total).toString().padStart(scale + 1, '0');
  const text = scale ? `${digits.slice(0, -scale)}.${digits.slice(-scale)}` : digits;
  return `${neg ? '-' : ''}${text}`;
}

const currencyOf = (d: Record<string, unknown>) => (typeof d.currency === 'string' ? d.currency : 'USD');

/** When the server says the figures are from: `updated 18:04:57 UTC, 42 s ago`, or the snapshot day of old payloads. */
function serverTime(ctx: Context, d: Record<string, unknown>): string {
  const updated = Date.parse(String(d['updated-at'] ?? ''));
  // Old payloads (2018) have no updated-at: say which day the figures are from instead.
  const snapshot = typeof d['snapshot-date'] === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(d['snapshot-date']) ? d['snapshot-date'] : undefined;
  return !Number.isNaN(updated) ? `updated ${humanTime(updated, ctx.now(), { ago: true })}` : snapshot ? `as of ${snapshot} (no update time)` : 'time unknown';
}

/** One account: every figure, a line each. `clock` false in --watch, whose status line is its one clock. */
function renderOne(ctx: Context, environment: Environment, d: Record<string, unknown>, nick: string | undefined, clock: boolean): string {
  const c = ctx.out.c;
  const currency = currencyOf(d);
  const lines = [`${ctx.out.envTag(environment)} ${c.bold(safe(d['account-number']))}${nick ? ` ${nick}` : ''}${clock ? `  ${c.dim(serverTime(ctx, d))}` : ''}`];
  const pairs = effectPairs(d);
  for (const [key, label] of FIELDS) {
    const exact = amount(d, key, pairs);
    if (exact === undefined) continue;
    const text = money(exact, currency);
    const negative = exact.startsWith('-') && /[1-9]/.test(exact);
    lines.push(`  ${pad(label, 28)}${pad(negative ? c.red(text) : text, 18, 'right')}`);
  }
  return lines.join('\n');
}

/** The columns of the several-accounts table: the figures a trader compares across accounts. */
const COLUMNS: Array<[string, string]> = [
  ['net-liquidating-value', 'Net liq'],
  ['cash-balance', 'Cash'],
  ['equity-buying-power', 'Equity BP'],
  ['derivative-buying-power', 'Option BP'],
];

/** Several accounts: one table, a row each and a total row, at most `width` columns (80 by default). */
function renderTable(ctx: Context, environment: Environment, data: Array<Record<string, unknown>>, nicks: Map<string, string>, clock: boolean, width = 80): string {
  const c = ctx.out.c;
  const currencies = new Set(data.map(currencyOf));
  const sameCurrency = currencies.size === 1;
  const currency = [...currencies][0] ?? 'USD';
  const cell = (exact: string | undefined, cur: string) => {
    if (exact === undefined) return '';
    const text = money(exact, cur);
    return exact.startsWith('-') && /[1-9]/.test(exact) ? c.red(text) : text;
  };
  const build = (columns: Array<[string, string]>, nickWidth: number) => {
    const header = ['Account', ...(nickWidth ? ['Nickname'] : []), ...columns.map(([, l]) => l)];
    const rows = data.map((d) => {
      const n = safe(d['account-number']);
      const nick = nicks.get(n) ?? '';
      return [n, ...(nickWidth ? [nick.length > nickWidth ? `${nick.slice(0, nickWidth - 1)}…` : nick] : []), ...columns.map(([k]) => cell(amount(d, k), currencyOf(d)))];
    });
    const totals = columns.map(([k]) => {
      const xs = data.map((d) => amount(d, k)).filter((x): x is string => x !== undefined);
      return sameCurrency && xs.length ? cell(sumDecimals(xs), currency) : '';
    });
    rows.push([c.bold('Total'), ...(nickWidth ? [''] : []), ...totals.map((t) => c.bold(t))]);
    return table(header, rows, ['left', ...(nickWidth ? (['left'] as const) : []), ...columns.map(() => 'right' as const)]);
  };
  // The widest layout that fits: fewer columns, then no nicknames, before anything wraps.
  let text = '';
  for (const [cols, nick] of [[4, 12], [3, 12], [3, 0], [2, 0], [1, 0]] as const) {
    text = build(COLUMNS.slice(0, cols), nicks.size ? nick : 0);
    if (Math.max(...text.split('\n').map(visibleLength)) <= width) break;
  }
  const oldest = data.reduce<Record<string, unknown> | undefined>((o, d) => {
    const t = Date.parse(String(d['updated-at'] ?? ''));
    return o === undefined || t < Date.parse(String(o['updated-at'] ?? '')) ? d : o;
  }, undefined);
  const head = `${ctx.out.envTag(environment)} ${data.length} accounts${clock && oldest ? `  ${c.dim(serverTime(ctx, oldest))}` : ''}${sameCurrency ? '' : c.dim('  (several currencies: no totals)')}`;
  return `${head}\n${text}`;
}

function render(ctx: Context, environment: Environment, data: Array<Record<string, unknown>>, nicks: Map<string, string>, clock = true): string {
  if (!data.length) return `${ctx.out.envTag(environment)} no open accounts`;
  if (data.length === 1) return renderOne(ctx, environment, data[0] as Record<string, unknown>, nicks.get(safe(data[0]?.['account-number'])), clock);
  return renderTable(ctx, environment, data, nicks, clock);
}

function shape(environment: Environment, d: Record<string, unknown>): Record<string, unknown> {
  return { accountNumber: d['account-number'], environment, ...shapeBalances(d) };
}

export default async function balances(ctx: Context, opts: BalancesOptions): Promise<number> {
  // Validate everything before any request.
  if (opts.all && opts.account !== undefined) throw new UsageError('--account and --all cannot be combined', 'give one account with --account, or every open account with --all');
  const account = opts.account !== undefined ? validateAccountNumber(opts.account) : undefined;
  const watch = parseWatch(opts.watch);
  // With --watch --json stdout is a stream of one-line documents, from the start: an early error is a line too.
  if (watch !== undefined && ctx.json) ctx.out.streaming = true;
  const { environment } = ctx.environment();
  const auth = await ctx.auth();
  // On a terminal, a slow first token is its own wait, named as such (a cached token returns at once).
  if (ctx.out.showsProgress) await ctx.out.progress(`Minting an access token (${environment})…`, () => auth.session(environment));
  const { numbers, single, list } = await which(ctx, auth, environment, account, opts.all === true);
  const nicks = ctx.json ? new Map<string, string>() : await nicknames(auth, environment, list);
  const fetching = `Fetching the balances of ${numbers.length === 1 ? numbers[0] : `${numbers.length} accounts`} (${environment})…`;

  if (watch === undefined) {
    const data = await ctx.out.progress(fetching, () => fetchAll(auth, environment, numbers));
    if (ctx.json) ctx.out.document(single ? shape(environment, data[0] ?? {}) : data.map((d) => shape(environment, d)));
    else ctx.out.data(render(ctx, environment, data, nicks));
    return 0;
  }
  return watchLoop(ctx, auth, environment, numbers, single, watch, nicks, fetching);
}

/** Fit a line to the terminal (a wrapped line would throw the in-place redraw off by a row). */
function fitLine(line: string, cols: number | undefined): string {
  if (!cols || visibleLength(line) <= cols) return line;
  // Colour codes are not counted; cut the plain text (colour is dropped from a line too long to show).
  const plain = line.replace(/\u001b\[[0-9;]*m/g, '');
  return `${plain.slice(0, Math.max(1, cols - 1))}…`;
}

async function watchLoop(ctx: Context, auth: AuthEngine, environment: Environment, numbers: string[], single: boolean, seconds: number, nicks: Map<string, string>, fetching: string): Promise<number> {
  const out = ctx.out;
  const c = out.c;
  const tty = out.stdout.isTTY === true && !ctx.json;
  let fatal: TastyError | undefined;
  let wake: (() => void) | undefined;
  let stopped = false;
  const stop = () => {
    stopped = true;
    wake?.();
  };
  const release = ctx.io.onInterrupt?.(stop);
  // A failing token endpoint sees at most one mint a minute; the token is renewed ahead of expiry.
  auth.setMintCooldown(60_000);
  const stopKeepAlive = auth.keepAlive(environment, (e) => {
    fatal = e;
    stop();
  });
  let last: Array<Record<string, unknown>> | undefined;
  let lastAt = 0;
  let drawn = 0;
  // One clock: the status line's (when tasty last fetched the figures); the body shows no other time.
  const status = (error?: string) => {
    const now = ctx.now();
    const every = `every ${seconds} s`;
    const quit = 'Ctrl-C to quit';
    if (!error) return c.dim(`${every} · last fetch ${humanTime(lastAt, now)} · ${quit}`);
    // The error on a line of its own: a long one is cut at the terminal's edge, never the way to quit.
    if (!last) return `${c.yellow(`⚠ no figures yet · retrying ${every} · ${quit}`)}\n${c.dim(error)}`;
    return `${c.yellow(`⚠ stale: last fetch ${humanTime(lastAt, now, { ago: true })} · retrying ${every} · ${quit}`)}\n${c.dim(error)}`;
  };
  const draw = (body: string, error?: string) => {
    const text = `${body ? `${body}\n\n` : ''}${status(error)}`;
    if (tty) {
      const cols = (out.stdout as { columns?: number }).columns;
      const lines = text.split('\n').map((l) => fitLine(l, cols));
      out.redraw(lines.join('\n'), drawn);
      drawn = lines.length;
    } else out.data(text);
  };
  try {
    while (!stopped) {
      try {
        const data = await (last ? fetchAll(auth, environment, numbers) : out.progress(fetching, () => fetchAll(auth, environment, numbers)));
        last = data;
        lastAt = ctx.now();
        if (ctx.json) out.jsonLine(single ? shape(environment, data[0] ?? {}) : data.map((d) => shape(environment, d)));
        else draw(render(ctx, environment, data, nicks, false));
      } catch (e) {
        if (e instanceof CredentialsRejectedError || e instanceof NotLoggedInError || e instanceof UsageError || (e instanceof ApiError && (e.status === 403 || e.status === 404))) throw e;
        if (!(e instanceof TastyError)) throw e;
        const msg = e.message;
        if (ctx.json) out.warn(`stale: ${msg}`);
        else draw(last ? render(ctx, environment, last, nicks, false) : '', msg);
      }
      if (fatal) throw fatal;
      if (stopped) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, seconds * 1000);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      });
    }
    if (fatal) throw fatal;
    return 0;
  } finally {
    stopKeepAlive();
    release?.();
  }
}
