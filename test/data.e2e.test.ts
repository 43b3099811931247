// accounts, balances (with --watch) and api, end to end against the emulator.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type EmuAccount, makeRefreshToken, manyAccounts } from './emulator/emulator.ts';
import { spawnTasty, useFixture } from './helpers.ts';

const f = useFixture();

describe('accounts', () => {
  it('lists open accounts with number, nickname, type, margin/cash, authority; --all adds closed ones', async () => {
    const r = await f.run(['accounts']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[sandbox\] 2 accounts \(open\)/);
    expect(r.stdout).toMatch(/5WX01234\s+Individual\s+Individual\s+Margin\s+owner/);
    expect(r.stdout).not.toContain('5WZ00042');
    const all = await f.run(['accounts', '--all', '--json']);
    const doc = JSON.parse(all.stdout) as Array<Record<string, unknown>>;
    expect(doc.map((a) => a.accountNumber)).toEqual(['5WX01234', '5WY56789', '5WZ00042']);
    expect(doc[2]).toMatchObject({ isClosed: true, authorityLevel: 'trade-only', environment: 'sandbox', marginOrCash: 'Margin' });
  });

  it('accounts use saves a default checked against the list', async () => {
    expect((await f.run(['accounts', 'use', '5WY56789'])).code).toBe(0);
    const r = await f.run(['balances', '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject([{ accountNumber: '5WY56789' }]); // an array of one: the shape follows the flags, not the saved default
    const bad = await f.run(['accounts', 'use', 'ZZZ99999']);
    expect(bad.code).toBe(6);
    expect(bad.stderr).toMatch(/your accounts: 5WX01234, 5WY56789/);
    f.emu.reset();
    const inval = await f.run(['accounts', 'use', '../../x']);
    expect(inval.code).toBe(2);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('control and escape sequences in nicknames never reach the terminal', async () => {
    f.emu.accounts[0] = { ...(f.emu.accounts[0] as EmuAccount), nickname: 'Evil\u001b[2J\u001b]0;pwned\u0007\u009b31m name' };
    const r = await f.run(['accounts']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Evil[2J]0;pwned31m name');
    expect(r.stdout).not.toMatch(/[\u001b\u0007\u009b]/);
  });
});

describe('balances', () => {
  it('--account --json: one object, camelCase, numbers, Debit negative, unknown fields kept', async () => {
    f.emu.balances['5WX01234'] = { 'some-new-field': '12.5', 'mystery-flag': true, 'pending-cash': '300.25', 'pending-cash-effect': 'Credit', 'buying-power-adjustment': '40', 'buying-power-adjustment-effect': 'Debit' };
    const r = await f.run(['balances', '--account', '5WX01234', '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(d).toMatchObject({ accountNumber: '5WX01234', environment: 'sandbox', currency: 'USD', someNewField: 12.5, mysteryFlag: true, pendingCash: 300.25, buyingPowerAdjustment: -40, snapshotDate: expect.any(String) });
    expect(typeof d.netLiquidatingValue).toBe('number');
    expect(typeof d.updatedAt).toBe('string');
    expect(Object.keys(d).every((k) => !k.includes('-'))).toBe(true);
  });

  it('a Credit effect makes the amount positive whatever its raw sign, in JSON and in the table alike', async () => {
    f.emu.balances['5WX01234'] = { ...f.emu.balances['5WX01234'], 'pending-cash': '-300.25', 'pending-cash-effect': 'Credit' };
    const j = await f.run(['balances', '--account', '5WX01234', '--json']);
    expect(j.code).toBe(0);
    expect((JSON.parse(j.stdout) as Record<string, unknown>).pendingCash).toBe(300.25);
    const h = await f.run(['balances', '--account', '5WX01234']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Pending cash +\$300\.25\n/);
  });

  it('without --account: an array of every open account; human output shows signed, formatted money', async () => {
    const r = await f.run(['balances', '--json']);
    const arr = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(arr.map((a) => a.accountNumber)).toEqual(['5WX01234', '5WY56789']);
    expect(arr[0]?.pendingCash).toBe(-125.5);
    const all = await f.run(['balances']);
    expect(all.stdout).toMatch(/^5WX01234 .*\$[\d,]+\.\d\d/m); // several accounts: one table (test/human.e2e.test.ts)
    const h = await f.run(['balances', '--account', '5WX01234']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/\[sandbox\] 5WX01234 .*updated \d\d:\d\d:\d\d UTC, \d+ s ago/);
    expect(h.stdout).toMatch(/Net liquidating value +\$[\d,]+\.\d\d/);
    expect(h.stdout).toMatch(/Pending cash +-\$125\.50/);
    expect(h.stdout).toMatch(/Cash available to withdraw +\$/);
  });

  it('negative values are red where colour is allowed, and colour is off on a pipe or with NO_COLOR', async () => {
    const c = await f.run(['balances', '--account', '5WX01234'], { env: { FORCE_COLOR: '1' } });
    expect(c.stdout).toContain('\u001b[31m-$125.50');
    const plain = await f.run(['balances', '--account', '5WX01234'], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
    expect(plain.stdout).not.toContain('\u001b[');
  });

  it.each([['../etc'], ['5WX'], ['5WX01234/../x'], ['a'.repeat(13)], ['%2e%2e']])('invalid --account %s → exit 2 and no request', async (acct) => {
    const r = await f.run(['balances', '--account', acct]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not an account number/);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('unknown account (404) and not permitted (403) → exit 6 naming the accounts the user has', async () => {
    const r = await f.run(['balances', '--account', 'ZZZ99999']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/unknown account/);
    expect(r.stderr).toMatch(/your sandbox accounts: 5WX01234, 5WY56789/);
    f.emu.forbidden.add('5WY56789');
    const p = await f.run(['balances', '--account', '5WY56789']);
    expect(p.code).toBe(6);
    expect(p.stderr).toMatch(/not permitted/);
  });

  it('fetches many accounts concurrently, at most 4 in flight', async () => {
    f.emu.accounts = manyAccounts(10);
    f.emu.inject('/accounts/', { kind: 'slow', ms: 150 }, 10);
    const r = await f.run(['balances', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(10);
    expect(f.emu.maxInFlight).toBeGreaterThan(1);
    expect(f.emu.maxInFlight).toBeLessThanOrEqual(4);
  });

  it.each([['0'], ['4'], ['abc'], ['1.5']])('--watch %s → exit 2', async (v) => {
    const r = await f.run(['balances', '--watch', v]);
    expect(r.code).toBe(2);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('the rejected-token guard applies to data commands too', async () => {
    f.emu.revokeGrant();
    expect((await f.run(['balances'])).code).toBe(4);
    expect((await f.run(['accounts'])).code).toBe(4);
    expect(f.emu.tokenRequests).toBe(1);
  });
});

/** Start a watch; returns helpers to read its output and stop it. */
function watch(args: string[], env: Record<string, string | undefined> = {}) {
  const child = spawnTasty(['balances', ...args], { ...f.env, ...env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return {
    out: () => stdout,
    err: () => stderr,
    async until(pred: () => boolean, ms: number) {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
      return pred();
    },
    async interrupt() {
      child.kill('SIGINT');
      return exited;
    },
    exited,
  };
}

describe('balances --watch', () => {
  it('runs across several token lifetimes with background re-mints, no failed request, and Ctrl-C exits 0', async () => {
    f.emu.expiresIn = 4;
    const w = watch(['--account', '5WX01234', '--watch', '5', '--json']);
    // Three documents and three mints (4-s tokens renewed ahead of expiry), waited for rather than slept for.
    expect(await w.until(() => w.out().split('\n').length > 3 && f.emu.mints >= 3, 25_000)).toBe(true);
    const code = await w.interrupt();
    expect(code).toBe(0);
    const lines = w.out().trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ accountNumber: '5WX01234' }); // one document per line
    expect(f.emu.mints).toBeGreaterThanOrEqual(3); // over 10 s of 4-s tokens
    expect(f.emu.requests.filter((r) => r.status >= 400)).toEqual([]);
    expect(f.emu.count('/accounts/5WX01234/balances')).toBe(lines.length);
  });

  it('an outage keeps the last figures marked stale, then recovers', async () => {
    const w = watch(['--account', '5WX01234', '--watch', '5']);
    expect(await w.until(() => w.out().includes('Net liquidating value'), 15_000)).toBe(true); // polled: slack for a loaded machine
    f.emu.inject('/accounts/', { kind: 'status', status: 503 }, Number.POSITIVE_INFINITY);
    expect(await w.until(() => w.out().includes('⚠ stale: last fetch'), 8_000)).toBe(true);
    f.emu.clearFaults();
    const before = w.out().length;
    expect(await w.until(() => w.out().slice(before).includes('Net liquidating value'), 8_000)).toBe(true);
    expect(w.out().slice(before)).not.toContain('stale');
    expect(await w.interrupt()).toBe(0);
  });

  it('a rejected grant stops the watch with exit 4', async () => {
    const w = watch(['--account', '5WX01234', '--watch', '5']);
    expect(await w.until(() => w.out().includes('Net liquidating value'), 15_000)).toBe(true); // polled: slack for a loaded machine
    f.emu.revokeGrant();
    f.emu.revokeAccessTokens();
    const code = await Promise.race([w.exited, new Promise((r) => setTimeout(() => r('timeout'), 9_000))]);
    expect(code).toBe(4);
    expect(w.err()).toContain('"Grant revoked"');
  });
});

describe('api', () => {
  it('GET a relative path: raw JSON on a pipe', async () => {
    const r = await f.run(['api', '/customers/me']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).data['first-name']).toBe('Ada');
    expect(f.emu.requests.at(-1)?.authorization).toMatch(/^Bearer at_/);
  });

  it.each([['https://evil.example/customers/me'], ['//evil.example/x'], ['http:/x'], ['\\\\evil\\x']])('refuses %s with exit 2 and sends nothing', async (p) => {
    const r = await f.run(['api', p]);
    expect(r.code).toBe(2);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('a non-GET without --yes and without a TTY is refused; with --yes it is sent', async () => {
    const body = JSON.stringify({ 'order-type': 'Limit', price: '1.00' });
    const no = await f.run(['api', '/accounts/5WX01234/orders/dry-run', '-X', 'POST', '-d', body]);
    expect(no.code).toBe(2);
    expect(no.stderr).toMatch(/--yes/);
    expect(f.emu.requests).toHaveLength(0);
    const file = join(f.dir, 'order.json');
    writeFileSync(file, body);
    const yes = await f.run(['api', '/accounts/5WX01234/orders/dry-run', '-X', 'POST', '-d', `@${file}`, '--yes']);
    expect(yes.code).toBe(0);
    expect(JSON.parse(yes.stdout).data.order).toEqual(JSON.parse(body));
  });

  it('bad -d and bad -X are usage errors', async () => {
    expect((await f.run(['api', '/x', '-X', 'POST', '-d', '{nope', '--yes'])).code).toBe(2);
    expect((await f.run(['api', '/x', '-X', 'FETCH'])).code).toBe(2);
    expect((await f.run(['api', '/x', '-d', '{}'])).code).toBe(2);
    expect(f.emu.requests).toHaveLength(0);
  });

  it('401 with a cached token → one re-mint and success', async () => {
    expect((await f.run(['token'])).code).toBe(0);
    f.emu.revokeAccessTokens();
    const r = await f.run(['api', '/customers/me']);
    expect(r.code).toBe(0);
    expect(f.emu.mints).toBe(2);
    expect(f.emu.count('/customers/me')).toBe(2);
  });

  it('API errors keep their exit codes (404 → 6)', async () => {
    const r = await f.run(['api', '/no/such/thing']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/404 No route/);
  });

  it('a new grant after a rejection works without logout', async () => {
    f.emu.revokeGrant();
    expect((await f.run(['api', '/customers/me'])).code).toBe(4);
    f.emu.refreshToken = makeRefreshToken();
    expect((await f.run(['api', '/customers/me'], { env: { TASTY_REFRESH_TOKEN: f.emu.refreshToken } })).code).toBe(0);
  });
});
