// tasty balances: the figures a trader looks at, for one account, the default one, or every open account.
import { type Account, getBalances, listAccounts, mapLimit, validateAccountNumber } from '../api/accounts.ts';
import type { AuthEngine } from '../auth/engine.ts';
import type { Environment } from '../config.ts';
import type { Context } from '../context.ts';
import { ApiError, accountAccessError, CredentialsRejectedError, NotLoggedInError, TastyError, UsageError } from '../errors.ts';
import { effectPairs, localTime, money, pad, relativeTime, safe, shapeBalances, signedDecimal } from '../render.ts';

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
 */
async function which(ctx: Context, auth: AuthEngine, environment: Environment, account: string | undefined, all: boolean): Promise<{ numbers: string[]; single: boolean }> {
  if (account) return { numbers: [account], single: true };
  const def = all ? undefined : ctx.config().defaultAccounts?.[environment];
  if (def) return { numbers: [def], single: false };
  const open = (await listAccounts(auth, environment)).filter((a) => !a.closed).map((a) => a.number);
  return { numbers: open, single: false };
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

function render(ctx: Context, environment: Environment, data: Array<Record<string, unknown>>, stale?: { since: number; error: string }): string {
  const c = ctx.out.c;
  const now = ctx.now();
  const blocks: string[] = [];
  for (const d of data) {
    const currency = typeof d.currency === 'string' ? d.currency : 'USD';
    const updated = Date.parse(String(d['updated-at'] ?? ''));
    // Old payloads (2018) have no updated-at: say which day the figures are from instead.
    const snapshot = typeof d['snapshot-date'] === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(d['snapshot-date']) ? d['snapshot-date'] : undefined;
    const when = !Number.isNaN(updated) ? `updated ${relativeTime(updated, now)} (${localTime(updated)})` : snapshot ? `as of ${snapshot} (no update time)` : 'time unknown';
    const lines = [`${ctx.out.envTag(environment)} ${c.bold(safe(d['account-number']))}  ${c.dim(when)}`];
    const pairs = effectPairs(d);
    for (const [key, label] of FIELDS) {
      const raw = d[key];
      if (raw === undefined || raw === null || raw === '') continue;
      // The sign comes from the effect this amount owns (<stem>-effect of <stem> or <stem>-amount): Debit negative.
      const effectKey = pairs.get(key);
      const effect = effectKey === undefined ? undefined : d[effectKey];
      const sign = effect === 'Debit' ? -1 : effect === 'Credit' ? 1 : undefined;
      // Decimal strings are formatted exactly, whatever their size; numbers as they are.
      const exact = typeof raw === 'string' ? signedDecimal(raw, sign) : typeof raw === 'number' && Number.isFinite(raw) ? String(sign === undefined ? raw : sign * Math.abs(raw)) : undefined;
      if (exact === undefined) continue;
      const text = money(exact, currency);
      const negative = exact.startsWith('-') && /[1-9]/.test(exact);
      lines.push(`  ${pad(label, 28)}${pad(negative ? c.red(text) : text, 18, 'right')}`);
    }
    blocks.push(lines.join('\n'));
  }
  if (stale) blocks.push(c.yellow(`⚠ stale: last update at ${localTime(stale.since)}; ${stale.error}`));
  return blocks.join('\n\n');
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
  const { numbers, single } = await which(ctx, auth, environment, account, opts.all === true);

  if (watch === undefined) {
    const data = await fetchAll(auth, environment, numbers);
    if (ctx.json) ctx.out.document(single ? shape(environment, data[0] ?? {}) : data.map((d) => shape(environment, d)));
    else ctx.out.data(data.length ? render(ctx, environment, data) : `${ctx.out.envTag(environment)} no open accounts`);
    return 0;
  }
  return watchLoop(ctx, auth, environment, numbers, single, watch);
}

async function watchLoop(ctx: Context, auth: AuthEngine, environment: Environment, numbers: string[], single: boolean, seconds: number): Promise<number> {
  const out = ctx.out;
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
  const draw = (text: string) => {
    if (tty) {
      out.redraw(text, drawn);
      drawn = text.split('\n').length;
    } else out.data(text);
  };
  try {
    while (!stopped) {
      try {
        const data = await fetchAll(auth, environment, numbers);
        last = data;
        lastAt = ctx.now();
        if (ctx.json) out.jsonLine(single ? shape(environment, data[0] ?? {}) : data.map((d) => shape(environment, d)));
        else draw(render(ctx, environment, data));
      } catch (e) {
        if (e instanceof CredentialsRejectedError || e instanceof NotLoggedInError || e instanceof UsageError || (e instanceof ApiError && (e.status === 403 || e.status === 404))) throw e;
        if (!(e instanceof TastyError)) throw e;
        const msg = e.message;
        if (ctx.json) out.warn(`stale: ${msg}`);
        else if (last) draw(render(ctx, environment, last, { since: lastAt, error: msg }));
        else out.warn(`⚠ ${msg}; retrying in ${seconds} s`);
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
