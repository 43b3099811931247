// The real world as ground truth: every command on every payload that third parties captured from tastytrade
// (test/fixtures/real, provenance in its manifest), served by the emulator.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EmuAccount } from './emulator/emulator.ts';
import { ROOT, useFixture, twoLines } from './helpers.ts';

interface Entry {
  file: string;
  kind: 'balances' | 'accounts' | 'customer' | 'customer-account' | 'error' | 'oauth-error';
  endpoint: string;
  status: number;
  year: number;
  envelope?: 'data' | 'full';
  account?: string;
  source: { repo?: string; path?: string; commit?: string; url?: string };
  redactions: string[];
  expect?: Record<string, unknown>;
}

const DIR = join(ROOT, 'test', 'fixtures', 'real');
const manifest = JSON.parse(readFileSync(join(DIR, 'manifest.json'), 'utf8')) as { fixtures: Entry[] };
const all = manifest.fixtures;
const text = (e: Entry) => readFileSync(join(DIR, e.file), 'utf8');
const body = (e: Entry) => JSON.parse(text(e)) as Record<string, unknown>;
const of = (kind: Entry['kind']) => all.filter((e) => e.kind === kind).map((e) => [e.file, e] as const);
const camel = (k: string) => k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** The balances object a fixture holds, and the full response body the API sends for it. */
function balancesOf(e: Entry): { data: Record<string, unknown>; response: Record<string, unknown> } {
  const b = body(e);
  if (e.envelope === 'data') return { data: b, response: { data: b, context: `/accounts/${e.account}/balances` } };
  return { data: b.data as Record<string, unknown>, response: b };
}

/** Two lines exactly: `tasty: …` then `hint: …`. */
describe('the corpus', () => {
  it('holds 15+ payloads from 5+ sources, each naming its source (repo, path, commit; or URL)', () => {
    expect(all.length).toBeGreaterThanOrEqual(15);
    const sources = new Set(all.map((e) => e.source.repo ?? e.source.url));
    expect(sources.size).toBeGreaterThanOrEqual(5);
    for (const e of all) {
      expect(existsSync(join(DIR, e.file)), e.file).toBe(true);
      const s = e.source;
      expect(s.url !== undefined || (typeof s.repo === 'string' && typeof s.path === 'string' && /^[0-9a-f]{40}$/.test(s.commit ?? '')), e.file).toBe(true);
      expect(Array.isArray(e.redactions), e.file).toBe(true);
      expect(() => body(e), e.file).not.toThrow();
    }
    for (const kind of ['balances', 'accounts', 'customer', 'error', 'oauth-error'] as const) expect(of(kind).length, kind).toBeGreaterThan(0);
    // Balances from several years and account kinds (margin, IRA cash, a 2018 v1 payload).
    expect(new Set(of('balances').map(([, e]) => e.year))).toEqual(new Set([2018, 2023, 2026]));
  });

  it('carries no personal data the manifest says was redacted', () => {
    const originals = all.flatMap((e) => e.redactions.map((r) => /^(?:[\w-]+ )?(\S+) -> /.exec(r)?.[1]).filter((x): x is string => !!x && /\d/.test(x)));
    expect(originals.length).toBeGreaterThan(3);
    for (const e of all) {
      const t = text(e);
      for (const o of originals) expect(t.includes(o), `${o} in ${e.file}`).toBe(false);
      for (const m of t.matchAll(/[\w.+-]+@[\w-]+\.[\w.]+/g)) expect(m[0], e.file).toMatch(/@example\.com$/);
    }
  });
});

describe('balances on real payloads', () => {
  const f = useFixture({ environment: 'production' });

  function serve(e: Entry): Record<string, unknown> {
    const { data, response } = balancesOf(e);
    const n = e.account as string;
    f.emu.accounts = [{ 'account-number': n, nickname: 'Real', 'account-type-name': 'Individual', 'margin-or-cash': 'Margin', 'is-closed': false, 'authority-level': 'owner' }];
    f.emu.serve('GET', `/accounts/${n}/balances`, 200, response);
    return data;
  }

  it.each(of('balances'))('%s: --json amounts exact, each sign from its own effect, no field dropped', async (_, e) => {
    const raw = serve(e);
    const r = await f.run(['balances', '--account', e.account as string, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const d = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(d.accountNumber).toBe(e.account);
    for (const [k, v] of Object.entries(raw)) {
      expect(camel(k) in d, `${k} dropped`).toBe(true);
      if (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) && k !== 'account-number') {
        expect(typeof d[camel(k)], k).toBe('number');
        expect(Math.abs(d[camel(k)] as number), k).toBe(Math.abs(Number(v)));
      } else {
        expect(d[camel(k)], k).toEqual(v); // strings (effects, dates, currency) and flags untouched
      }
    }
    // An effect belongs to <stem> or to <stem>-amount; *-effective-date fields are dates, never effects.
    for (const [k, effect] of Object.entries(raw)) {
      if (!k.endsWith('-effect')) continue;
      const stem = k.slice(0, -'-effect'.length);
      const amount = stem in raw ? stem : `${stem}-amount`;
      expect(amount in raw, `${k} pairs with nothing`).toBe(true);
      const n = d[camel(amount)] as number;
      if (effect === 'Debit' && n !== 0) expect(n, `${amount} is a debit`).toBeLessThan(0);
      if (effect === 'Credit') expect(n, `${amount} is a credit`).toBeGreaterThanOrEqual(0);
    }
    for (const k of Object.keys(raw).filter((k) => k.endsWith('-effective-date'))) expect(d[camel(k)]).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(d).toMatchObject(e.expect ?? {});
    // Production data requests carry the pinned API version.
    expect(f.emu.requests.find((q) => q.path.endsWith('/balances'))?.acceptVersion).toBe('20251101');
  });

  it.each(of('balances'))('%s: human output is sane (figures, signs, time line) even on old schemas', async (_, e) => {
    const raw = serve(e);
    const r = await f.run(['balances', '--account', e.account as string]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/NaN|undefined|null|Invalid|\$-/);
    const nlv = Number(raw['net-liquidating-value']).toLocaleString('en-US', { style: 'currency', currency: 'USD' });
    expect(r.stdout).toMatch(new RegExp(`Net liquidating value +${nlv.replace(/[$.]/g, '\\$&')}`));
    if (raw['updated-at'] === undefined) expect(r.stdout).toContain(`as of ${raw['snapshot-date']}`);
    else expect(r.stdout).toMatch(/updated .* ago|updated in /);
    for (const label of ['Cash balance', 'Equity buying power', 'Derivative buying power', 'Pending cash']) expect(r.stdout).toContain(label);
  });

  it.each(of('balances'))('%s: balances over every open account and the api passthrough agree with the payload', async (_, e) => {
    const { response } = balancesOf(e);
    serve(e);
    const arr = JSON.parse((await f.run(['balances', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(arr.map((a) => a.accountNumber)).toEqual([e.account]);
    const one = JSON.parse((await f.run(['balances', '--account', e.account as string, '--json'])).stdout) as Record<string, unknown>;
    expect(arr[0]).toEqual(one);
    const api = await f.run(['api', `/accounts/${e.account}/balances`]);
    expect(api.code).toBe(0);
    expect(JSON.parse(api.stdout)).toEqual(response);
  });
});

describe('accounts on real payloads', () => {
  const f = useFixture({ environment: 'production' });

  it.each(of('accounts'))('%s: accounts (human, --json, --all), balances of each, doctor', async (_, e) => {
    const list = body(e);
    const items = (list.data as { items: Array<{ account: Record<string, unknown>; 'authority-level': string }> }).items;
    f.emu.serve('GET', '/customers/me/accounts', 200, list);
    f.emu.accounts = items.map((it) => ({ ...(it.account as EmuAccount), 'authority-level': it['authority-level'] }));
    const numbers = (e.expect?.numbers ?? []) as string[];

    const human = await f.run(['accounts']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain(`${e.expect?.open} account`);
    for (const n of numbers) expect(human.stdout).toContain(n);
    expect(human.stdout).not.toMatch(/undefined|null|NaN/);

    const doc = JSON.parse((await f.run(['accounts', '--all', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(doc.map((a) => a.accountNumber)).toEqual(numbers);
    items.forEach((it, i) => {
      for (const [k, v] of Object.entries(it.account)) expect(doc[i]?.[camel(k)], k).toEqual(v); // no field dropped
      expect(doc[i]?.authorityLevel).toBe(it['authority-level']);
    });

    const bal = JSON.parse((await f.run(['balances', '--json'])).stdout) as Array<Record<string, unknown>>;
    expect(bal.map((b) => b.accountNumber)).toEqual(numbers); // 2018 lists have no is-closed: open

    const dr = await f.run(['doctor', '--json']);
    const api = (JSON.parse(dr.stdout) as { checks: Array<{ id: string; summary: string }> }).checks.find((c) => c.id === 'api');
    expect(api?.summary).toMatch(new RegExp(`^${numbers.length} open account`));
  });
});

describe('customers on real payloads', () => {
  const f = useFixture({ environment: 'production' });

  it.each([...of('customer'), ...of('customer-account')])('%s: tasty api returns it whole', async (_, e) => {
    const b = body(e);
    const path = e.kind === 'customer' ? '/customers/me' : `/customers/me/accounts/${(b.data as Record<string, unknown>)['account-number']}`;
    f.emu.serve('GET', path, 200, b);
    const r = await f.run(['api', path]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(b);
    expect(f.emu.requests.at(-1)?.acceptVersion).toBe('20251101');
  });
});

describe('real error bodies: one tasty: line, one hint: line', () => {
  const f = useFixture({ environment: 'production' });

  it.each(of('error'))('%s via tasty api', async (_, e) => {
    const b = body(e);
    f.emu.serve('GET', '/customers/me', e.status, b);
    const r = await f.run(['api', '/customers/me']);
    expect(r.code).toBe(6);
    const [line, hint] = twoLines(r.stderr);
    const err = b.error as { code: string; message: string; errors?: Array<Record<string, string>> };
    expect(line).toContain(`GET /customers/me: ${e.status} ${err.message}`);
    expect(line).toContain(`(${err.code})`);
    expect(line.split(err.code).length).toBe(2); // the code once, never twice
    for (const sub of err.errors ?? []) expect(line).toContain(sub.message ?? `${sub.domain} ${sub.reason}`);
    const cures: Record<string, RegExp> = {
      unauthorized: /freshly minted access token/,
      invalid_credentials: /belong to sandbox.*tasty login --env production.*developer\.tastytrade\.com\/docs\/faq/,
      invalid_session: /freshly minted access token/,
      validation_error: /malformed.*dasherized/,
      preflight_check_failure: /refused it for the reasons quoted/,
      cannot_reconfirm_order: /refused it for the reasons quoted/,
      not_permitted: /scopes.*authority/,
    };
    expect(hint).toMatch(cures[err.code] as RegExp);
    if (e.status === 401) expect(f.emu.mints).toBe(2); // re-minted once, then refused again
  });

  it('403 on balances names the account once, without "(not_permitted) (not permitted)"', async () => {
    const e = all.find((x) => x.file === 'errors/403-not-permitted.json') as Entry;
    f.emu.serve('GET', '/accounts/5WY56789/balances', 403, body(e));
    const r = await f.run(['balances', '--account', '5WY56789']);
    expect(r.code).toBe(6);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toBe('tasty: not permitted to read account 5WY56789 in production: 403 User not permitted access (not_permitted)');
    expect(hint).toMatch(/^hint: your production accounts: 5WX01234, 5WY56789/);
  });

  it.each(of('oauth-error'))('%s on the token endpoint → exit 4 with the cure', async (_, e) => {
    f.emu.inject('token', { kind: 'body', status: e.status, body: text(e) });
    const r = await f.run(['token']);
    expect(r.code).toBe(4);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toContain(`"${e.expect?.description}"`);
    expect(hint).toMatch(/mangled .* or belongs to sandbox/);
    expect(f.emu.tokenRequests).toBe(1);
  });
});
