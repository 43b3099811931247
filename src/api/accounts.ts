// Accounts and balances: the typed reads on top of the engine's authenticated calls.
import type { AuthEngine } from '../auth/engine.ts';
import { ACCOUNT_RE, type Environment } from '../config.ts';
import { ApiError, UsageError } from '../errors.ts';

export interface Account {
  number: string;
  nickname: string;
  type: string;
  marginOrCash: string;
  authority: string;
  closed: boolean;
  raw: Record<string, unknown>;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

function badShape(path: string, what: string): ApiError {
  return new ApiError(`${path}: unexpected response (${what})`, 200, 'bad_response', 'tastytrade changed the response or a proxy altered it; run `tasty doctor`', 'bad_response');
}

export async function listAccounts(auth: AuthEngine, environment: Environment): Promise<Account[]> {
  const path = '/customers/me/accounts';
  const r = await auth.call(environment, 'GET', path);
  const items = (r.json as { data?: { items?: unknown } } | undefined)?.data?.items;
  if (!Array.isArray(items)) throw badShape(path, 'no data.items list');
  const out: Account[] = [];
  for (const it of items) {
    if (typeof it !== 'object' || it === null) continue;
    const a = (it as { account?: unknown }).account;
    if (typeof a !== 'object' || a === null) continue;
    const acct = a as Record<string, unknown>;
    const number = str(acct['account-number']);
    if (!number) continue;
    out.push({
      number,
      nickname: str(acct.nickname),
      type: str(acct['account-type-name']),
      marginOrCash: str(acct['margin-or-cash']),
      authority: str((it as Record<string, unknown>)['authority-level']),
      closed: acct['is-closed'] === true,
      raw: { ...acct, 'authority-level': (it as Record<string, unknown>)['authority-level'] },
    });
  }
  return out;
}

export function validateAccountNumber(n: string): string {
  const t = n.trim();
  if (!ACCOUNT_RE.test(t)) {
    throw new UsageError(`not an account number: ${JSON.stringify(n.slice(0, 40))} (5 to 12 letters and digits)`, 'see your accounts with `tasty accounts`');
  }
  return t.toUpperCase();
}

export async function getBalances(auth: AuthEngine, environment: Environment, account: string): Promise<Record<string, unknown>> {
  const path = `/accounts/${encodeURIComponent(account)}/balances`;
  const r = await auth.call(environment, 'GET', path);
  let data = (r.json as { data?: unknown } | undefined)?.data;
  // With a newer Accept-Version tastytrade answers one item per currency: take them all as one object each.
  if (typeof data === 'object' && data !== null && Array.isArray((data as { items?: unknown }).items)) {
    const items = (data as { items: unknown[] }).items;
    data = items.find((i) => typeof i === 'object' && i !== null && (i as Record<string, unknown>).currency === 'USD') ?? items[0];
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw badShape(path, 'no data object');
  return data as Record<string, unknown>;
}

/** Run tasks with at most `limit` in flight, keeping order. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
