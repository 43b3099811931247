// The real OS keychain: under CI (scripts/with-keyring.sh) a gnome-keyring Secret Service in a private D-Bus session.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { KeychainStore } from '../src/auth/keychain.ts';
import { KEYRING_REQUIRED, KEYRING_SESSION } from './helpers.ts';

const required = KEYRING_REQUIRED;
const available = KEYRING_SESSION;
if (!available && !required) {
  console.log('keychain tests skipped: no D-Bus session (run them with `bash scripts/with-keyring.sh npm test`)');
}
const service = `tasty-test-${randomBytes(4).toString('hex')}`;

// secret-tool prints the secret on stdout and the attributes on stderr: capture both.
function secretTool(...args: string[]): string {
  const r = spawnSync('secret-tool', args, { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

describe.runIf(available || required)('real keychain (Secret Service)', () => {
  const store = new KeychainStore({ service });
  afterAll(async () => {
    await store.delete('sandbox').catch(() => {});
    await store.delete('production').catch(() => {});
  });

  it('stores, reads back and deletes an entry per environment', async () => {
    const secrets = { clientSecret: `cs-${randomBytes(8).toString('hex')}`, refreshToken: `a.${randomBytes(8).toString('hex')}.c` };
    expect(await store.get('sandbox')).toBeUndefined();
    await store.set('sandbox', secrets);
    expect(await store.get('sandbox')).toEqual(secrets);
    expect(await store.get('production')).toBeUndefined(); // environments are apart
    const found = secretTool('search', '--all', 'service', service);
    expect(found).toContain(`service = ${service}`);
    expect(found).toMatch(/username = sandbox|account = sandbox|user = sandbox/);
    const stored = spawnSync('secret-tool', ['lookup', 'service', service, 'username', 'sandbox'], { encoding: 'utf8' }).stdout;
    expect(JSON.parse(stored)).toMatchObject(secrets);
    expect(await store.delete('sandbox')).toBe(true);
    expect(await store.get('sandbox')).toBeUndefined();
    expect(await store.delete('sandbox')).toBe(false);
  });

  it('overwrites in place (one entry per environment)', async () => {
    await store.set('production', { clientSecret: 'one', refreshToken: 'x.y.z' });
    await store.set('production', { clientSecret: 'two', refreshToken: 'x.y.z' });
    expect((await store.get('production'))?.clientSecret).toBe('two');
    const found = secretTool('search', '--all', 'service', service);
    expect(found.match(/^\[\//gm)?.length).toBe(1);
  });
});

describe('no Secret Service', () => {
  it('a missing D-Bus session is a clear KeychainError (exit 7) offering both ways out, not a hang', () => {
    // A fresh process: the native module keeps its D-Bus connection for the life of a process.
    const script = `import { KeychainStore } from './src/auth/keychain.ts';
      const t0 = performance.now();
      const e = await new KeychainStore({ service: 'tasty-none' }).get('sandbox').catch((x) => x);
      console.log(JSON.stringify({ name: e?.name, exitCode: e?.exitCode, message: e?.message, hint: e?.hint, ms: performance.now() - t0 }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/tasty-no-bus' },
      cwd: new URL('..', import.meta.url).pathname,
      timeout: 10_000,
    });
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect(out.name).toBe('KeychainError');
    expect(out.exitCode).toBe(7);
    expect(out.message).toMatch(/no Secret Service is running/);
    expect(out.hint).toMatch(/--insecure-storage/);
    expect(out.hint).toMatch(/TASTY_CLIENT_SECRET/);
    expect(out.ms).toBeLessThan(3_500);
  });
});

const canRunDaemons = ['dbus-daemon', 'gnome-keyring-daemon'].every((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0);

describe.runIf(canRunDaemons || required)('a Secret Service that hangs', () => {
  it('is a clear KeychainError (exit 7) within the timeout, naming a hung or locked keyring', () => {
    // A private bus and keyring daemon, frozen with SIGSTOP: calls to it are accepted and never answered.
    const script = `set -e
D=$(mktemp -d)
out=$(dbus-daemon --session --print-address=1 --print-pid=1 --fork --address=unix:path=$D/bus)
export DBUS_SESSION_BUS_ADDRESS=$(echo "$out" | sed -n 1p); dpid=$(echo "$out" | sed -n 2p)
export XDG_DATA_HOME=$D/data XDG_RUNTIME_DIR=$D/run; mkdir -p $XDG_DATA_HOME $XDG_RUNTIME_DIR; chmod 700 $XDG_RUNTIME_DIR
printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null
kpid=""
for i in $(seq 50); do
  for p in $(pgrep gnome-keyring-d); do grep -qa "$D/bus" /proc/$p/environ 2>/dev/null && kpid=$p; done
  [ -n "$kpid" ] && break; sleep 0.1
done
kill -STOP $kpid
node --input-type=module -e "import { KeychainStore } from './src/auth/keychain.ts';
  const t0 = performance.now();
  const e = await new KeychainStore({ service: 'tasty-hang' }).get('sandbox').catch((x) => x);
  console.log(JSON.stringify({ name: e?.name, exitCode: e?.exitCode, message: e?.message, ms: performance.now() - t0 }));" || true
kill -CONT $kpid; kill $kpid $dpid 2>/dev/null || true; rm -rf $D`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname, timeout: 30_000, env: { PATH: process.env.PATH, HOME: process.env.HOME } });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}';
    const out = JSON.parse(line) as Record<string, unknown>;
    expect(out.name).toBe('KeychainError');
    expect(out.exitCode).toBe(7);
    expect(out.message).toMatch(/did not answer/);
    expect(out.ms).toBeLessThan(3_500); // the library's D-Bus timeout or ours (3 s), never a hang
  });
});
