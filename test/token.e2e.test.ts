// End-to-end through `tasty token`: reuse, expiry, single flight across processes, stale locks, the guard.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYRING_SESSION, spawnTasty, useFixture } from './helpers.ts';

const f = useFixture();

describe('tasty token', () => {
  it('prints the token and a newline, nothing else; N sequential runs → 1 mint', async () => {
    const tokens = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await f.run(['token']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^at_[A-Za-z0-9_-]+\n$/);
      expect(r.stderr).toBe('');
      tokens.add(r.stdout);
    }
    expect(tokens.size).toBe(1);
    expect(f.emu.mints).toBe(1);
  });

  it('--json gives accessToken, tokenType, expiresAt, environment', async () => {
    const r = await f.run(['token', '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(doc).sort()).toEqual(['accessToken', 'environment', 'expiresAt', 'tokenType']);
    expect(doc.environment).toBe('sandbox');
    expect(doc.tokenType).toBe('Bearer');
    const left = Date.parse(String(doc.expiresAt)) - Date.now();
    expect(left).toBeGreaterThan(890_000);
    expect(left).toBeLessThanOrEqual(900_000);
  });

  it('a short expires_in → re-mint after expiry', async () => {
    f.emu.expiresIn = 1;
    const a = await f.run(['token']);
    await new Promise((r) => setTimeout(r, 1_100));
    const b = await f.run(['token']);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.stdout).not.toBe(b.stdout);
    expect(f.emu.mints).toBe(2);
  });

  it('no credentials → exit 3 with the ways to provide them (7 exactly when there is no keychain to look in)', async () => {
    const r = await f.run(['token'], { env: { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined } });
    // With the private keyring (CI): an empty keychain, exit 3. Without it there is no Secret Service: exit 7.
    expect(r.code).toBe(KEYRING_SESSION ? 3 : 7);
    const nobus = await f.run(['token'], { env: { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' } });
    expect(nobus.code).toBe(7);
    expect(r.stderr).toMatch(/TASTY_CLIENT_SECRET|--insecure-storage/);
    expect(f.emu.tokenRequests).toBe(0);
  });

  it('16 concurrent cold starts → exactly 1 mint, all succeed with the same token', async () => {
    f.emu.inject('token', { kind: 'slow', ms: 300 });
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: 16 }, () => f.run(['token'])));
    const ms = performance.now() - t0;
    expect(results.map((r) => r.code)).toEqual(Array(16).fill(0));
    expect(new Set(results.map((r) => r.stdout)).size).toBe(1);
    expect(f.emu.mints).toBe(1);
    expect(f.emu.tokenRequests).toBe(1);
    console.log(`16 concurrent cold starts: ${f.emu.mints} mint, ${Math.round(ms)} ms`);
  });

  it('a lock left by a killed process is recovered within seconds', async () => {
    // A real holder: a tasty process stuck in a mint (the token endpoint hangs), SIGKILLed mid-mint.
    f.emu.inject('token', { kind: 'hang' });
    const child = spawnTasty(['token'], f.env, 'ignore');
    const lock = join(f.dir, 'state.lock');
    for (let i = 0; i < 200 && f.emu.tokenRequests === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(f.emu.tokenRequests).toBe(1); // the holder is inside its mint
    expect(existsSync(lock)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(lock)).toBe(true); // the dead holder left it behind
    const r = await f.run(['token']);
    expect(r.code).toBe(0);
    expect(r.ms).toBeLessThan(5_000);
    expect(f.emu.mints).toBe(1);
  });

  it('a lock with an unparseable body (killed mid-write) is recovered too', async () => {
    writeFileSync(join(f.dir, 'state.lock'), '{"pid":');
    await new Promise((r) => setTimeout(r, 1_100));
    const r = await f.run(['token']);
    expect(r.code).toBe(0);
  });

  it('revoked grant → exit 4 with the cure, then no further token requests', async () => {
    f.emu.revokeGrant();
    const first = await f.run(['token']);
    expect(first.code).toBe(4);
    expect(first.stderr).toContain('"Grant revoked"');
    expect(first.stderr).toMatch(/new Personal OAuth Grant/);
    expect(first.stdout).toBe('');
    for (let i = 0; i < 3; i++) {
      const r = await f.run(['token']);
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/not sent again/);
    }
    expect(f.emu.tokenRequests).toBe(1);
    const state = readFileSync(join(f.dir, 'state.json'), 'utf8');
    expect(state).toContain('Grant revoked');
    expect(state).not.toContain(f.emu.refreshToken);
    expect(state).not.toContain(f.emu.clientSecret);
  });

  it('a corrupt state file gives one warning line and is rewritten', async () => {
    writeFileSync(join(f.dir, 'state.json'), '{"version":1,"environ');
    const r = await f.run(['token']);
    expect(r.code).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/state\.json is damaged/);
    expect(JSON.parse(readFileSync(join(f.dir, 'state.json'), 'utf8')).version).toBe(2);
    const again = await f.run(['token']);
    expect(again.stderr).toBe('');
  });

  it('--verbose logs the mint without any secret', async () => {
    const r = await f.run(['token', '--verbose']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/POST \/oauth\/token → 200/);
    expect(r.stderr).not.toContain(f.emu.refreshToken);
    expect(r.stderr).not.toContain(f.emu.clientSecret);
    expect(r.stderr).not.toContain(r.stdout.trim());
  });

  it('unreachable API → exit 5 naming the cause', async () => {
    const r = await f.run(['token'], { env: { TASTY_API_URL: 'http://127.0.0.1:9' } });
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/refused/);
  });

  it('a hanging token endpoint → exit 5 within --timeout, mentioning the IP block', async () => {
    f.emu.inject('token', { kind: 'hang' });
    const r = await f.run(['token', '--timeout', '1']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/did not answer within 1 s/);
    expect(r.stderr).toMatch(/8 hours/);
    expect(r.ms).toBeLessThan(5_000);
  });
});
