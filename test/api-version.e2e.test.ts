// Accept-Version: pinned in production, explicit only in the sandbox, overridable, validated, and a 406 that names its cure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PINNED_API_VERSION, parseApiVersion, resolveApiVersion } from '../src/config.ts';
import { UsageError } from '../src/errors.ts';
import { useFixture, twoLines } from './helpers.ts';

describe('resolving the version', () => {
  it('production: flag, then TASTY_API_VERSION, then the pinned version; sandbox: only an explicit one', () => {
    expect(resolveApiVersion('production', undefined, {})).toEqual({ version: PINNED_API_VERSION, source: 'pinned' });
    expect(resolveApiVersion('sandbox', undefined, {})).toEqual({ version: undefined, source: 'none' });
    expect(resolveApiVersion('sandbox', undefined, { TASTY_API_VERSION: '20250813' })).toEqual({ version: '20250813', source: 'TASTY_API_VERSION' });
    expect(resolveApiVersion('production', '20260101', { TASTY_API_VERSION: '20250813' })).toEqual({ version: '20260101', source: '--api-version' });
    expect(resolveApiVersion('production', undefined, { TASTY_API_VERSION: '' })).toEqual({ version: PINNED_API_VERSION, source: 'pinned' });
  });

  it('any string is either a real YYYYMMDD date or a usage error (fuzzed)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{8}$/), fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10).replace(/-/g, ''))), (v) => {
        try {
          const out = parseApiVersion(v, 'TASTY_API_VERSION');
          const d = new Date(`${out.slice(0, 4)}-${out.slice(4, 6)}-${out.slice(6, 8)}T00:00:00Z`);
          return /^\d{8}$/.test(out) && d.toISOString().slice(0, 10).replace(/-/g, '') === out && out >= '20000101';
        } catch (e) {
          return e instanceof UsageError && e.exitCode === 2;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('production', () => {
  const f = useFixture({ environment: 'production' });

  it('every data request carries the pinned version; the token request does not', async () => {
    expect(PINNED_API_VERSION).toMatch(/^\d{8}$/);
    for (const args of [['accounts'], ['balances', '--json'], ['api', '/customers/me']]) {
      const r = await f.run(args);
      expect(r.code, r.stderr).toBe(0);
    }
    const data = f.emu.requests.filter((q) => q.path !== '/oauth/token');
    expect(data.length).toBeGreaterThanOrEqual(5);
    for (const q of data) expect(q.acceptVersion, q.path).toBe(PINNED_API_VERSION);
    expect(f.emu.requests.filter((q) => q.path === '/oauth/token').map((q) => q.acceptVersion)).toEqual([undefined]);
  });

  it('with the pinned version /balances answers per-currency items, and balances still reads them', async () => {
    const r = await f.run(['api', '/accounts/5WX01234/balances']);
    expect(Array.isArray(JSON.parse(r.stdout).data.items)).toBe(true);
    const b = await f.run(['balances', '--account', '5WX01234', '--json']);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toMatchObject({ accountNumber: '5WX01234', currency: 'USD', pendingCash: -125.5 });
  });

  it('TASTY_API_VERSION and --api-version override it (the flag wins)', async () => {
    await f.run(['api', '/customers/me'], { env: { TASTY_API_VERSION: '20250813' } });
    expect(f.emu.requests.at(-1)?.acceptVersion).toBe('20250813');
    await f.run(['api', '/customers/me', '--api-version', '20260101'], { env: { TASTY_API_VERSION: '20250813' } });
    expect(f.emu.requests.at(-1)?.acceptVersion).toBe('20260101');
  });

  it.each([['2025-11-01'], ['20251301'], ['20250230'], ['v1'], ['2025110'], ['19991231'], [' ']])('malformed %j → exit 2, two lines, no request', async (v) => {
    for (const o of [{ args: ['balances'], env: { TASTY_API_VERSION: v } }, { args: ['balances', '--api-version', v], env: {} }]) {
      f.emu.reset();
      const r = await f.run(o.args, { env: o.env });
      expect(r.code).toBe(2);
      const [line, hint] = twoLines(r.stderr);
      expect(line).toMatch(/(TASTY_API_VERSION|--api-version) must be an API version date YYYYMMDD/);
      expect(hint).toContain(PINNED_API_VERSION);
      expect(f.emu.requests).toHaveLength(0);
    }
  });

  it('a 406 for TASTY_API_VERSION names the variable and the fix', async () => {
    const r = await f.run(['balances'], { env: { TASTY_API_VERSION: '20230101' } });
    expect(r.code).toBe(6);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toContain('406 tastytrade refused API version 20230101 (Accept-Version, from TASTY_API_VERSION)');
    expect(hint).toMatch(/TASTY_API_VERSION=20230101 is not a version tastytrade serves: set TASTY_API_VERSION to a supported YYYYMMDD, or unset it/);
  });

  it('a 406 for --api-version names the flag; for the pinned version it says to set TASTY_API_VERSION', async () => {
    const flag = await f.run(['api', '/customers/me', '--api-version', '20991231']);
    expect(flag.code).toBe(6);
    expect(twoLines(flag.stderr)[1]).toMatch(/--api-version 20991231 is not a version tastytrade serves/);
    f.emu.versions = { oldest: '20260601' }; // tastytrade retired the pinned version
    const pinned = await f.run(['accounts']);
    expect(pinned.code).toBe(6);
    const [line, hint] = twoLines(pinned.stderr);
    expect(line).toContain(`refused API version ${PINNED_API_VERSION} (Accept-Version, from the pinned default)`);
    expect(hint).toMatch(/set TASTY_API_VERSION=<a supported YYYYMMDD> \(or --api-version\)/);
  });

  it('doctor shows the version in effect and where it comes from', async () => {
    const check = async (env: Record<string, string>) => {
      const r = await f.run(['doctor', '--json'], { env });
      return (JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; summary: string }> }).checks.find((c) => c.id === 'api-version');
    };
    expect(await check({})).toMatchObject({ status: 'ok', summary: `Accept-Version ${PINNED_API_VERSION} (the version tasty is tested with)` });
    expect(await check({ TASTY_API_VERSION: '20250813' })).toMatchObject({ status: 'ok', summary: 'Accept-Version 20250813 (from TASTY_API_VERSION)' });
    const human = await f.run(['doctor']);
    expect(human.stdout).toMatch(new RegExp(`✓ API version +Accept-Version ${PINNED_API_VERSION}`));
  });
});

describe('sandbox', () => {
  // As peers report it, the sandbox refuses any Accept-Version.
  const f = useFixture({ environment: 'sandbox', versions: { refuseAll: true } });

  it('sends no Accept-Version unless one is set', async () => {
    expect((await f.run(['balances', '--json'])).code).toBe(0);
    expect(f.emu.requests.every((q) => q.acceptVersion === undefined)).toBe(true);
  });

  it('an explicit version is sent; the sandbox refuses it and the hint says to unset TASTY_API_VERSION', async () => {
    const r = await f.run(['accounts'], { env: { TASTY_API_VERSION: '20251101' } });
    expect(f.emu.requests.at(-1)?.acceptVersion).toBe('20251101');
    expect(r.code).toBe(6);
    const [line, hint] = twoLines(r.stderr);
    expect(line).toContain('406 tastytrade refused API version 20251101');
    expect(hint).toMatch(/sent to the sandbox, which refuses Accept-Version: unset TASTY_API_VERSION/);
    const d = await f.run(['doctor', '--json'], { env: { TASTY_API_VERSION: '20251101' } });
    const c = (JSON.parse(d.stdout) as { checks: Array<{ id: string; status: string; fix: string }> }).checks.find((x) => x.id === 'api-version');
    expect(c).toMatchObject({ status: 'warn', fix: 'unset TASTY_API_VERSION for the sandbox' });
  });
});
