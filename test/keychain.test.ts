// The real OS keychain: under CI (scripts/with-keyring.sh) a gnome-keyring Secret Service in a private D-Bus session.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { KeychainStore, type KeyringModule } from '../src/auth/keychain.ts';
import { BIN, KEYRING_REQUIRED, KEYRING_SESSION, tmpDir, useEmulator } from './helpers.ts';

const required = KEYRING_REQUIRED;
const available = KEYRING_SESSION;
const linux = process.platform === 'linux';
if (!linux) {
  console.log(`Secret Service (gnome-keyring) tests skipped on ${process.platform}: they exist on Linux only; test/os-keychain.test.ts drives this system's keychain`);
} else if (!available && !required) {
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
  // Each test starts from no entries (in any order), and none are left behind.
  afterEach(async () => {
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

describe("KeychainStore's own timeout", () => {
  // A frozen daemon is answered by D-Bus's ~2 s reply timeout inside the native module (see "a Secret Service that
  // hangs"); our timer is for a call that is accepted and never completed, e.g. an unlock prompt nobody answers.
  // The module is injected: its calls never settle.
  it('a call that never completes ends at our timeout (exit 7, hung, the duration named) and is aborted', async () => {
    const signals: AbortSignal[] = [];
    const never = (signal: AbortSignal) => {
      signals.push(signal);
      return new Promise<never>(() => {});
    };
    const load = async () =>
      ({
        AsyncEntry: class {
          getPassword = never;
          setPassword = (_v: string, signal: AbortSignal) => never(signal);
        },
      }) as unknown as KeyringModule;
    const store = new KeychainStore({ service: 'tasty-never', timeoutMs: 300, load });
    const get = await store.get('sandbox').catch((x: unknown) => x);
    expect(get).toMatchObject({ name: 'KeychainError', state: 'hung', exitCode: 7, message: expect.stringMatching(/did not answer within 0\.3 s \(read the credentials\)/) });
    const set = await store.set('sandbox', { clientSecret: 'cs', refreshToken: 'a.b.c' }).catch((x: unknown) => x);
    expect(set).toMatchObject({ state: 'hung', message: expect.stringMatching(/did not answer within 0\.3 s \(store the credentials\)/) });
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
  }, 5_000);
});

// Linux only: elsewhere the same call would read the real login keychain (macOS) or Credential Manager (Windows).
describe.runIf(linux)('no Secret Service', () => {
  it('a missing D-Bus session is a clear KeychainError (exit 7) offering both ways out, not a hang', () => {
    // A fresh process: the native module keeps its D-Bus connection for the life of a process.
    const script = `import { KeychainStore } from './src/auth/keychain.ts';
      const t0 = performance.now();
      const e = await new KeychainStore({ service: 'tasty-none' }).get('sandbox').catch((x) => x);
      console.log(JSON.stringify({ name: e?.name, exitCode: e?.exitCode, message: e?.message, hint: e?.hint, ms: performance.now() - t0 }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, HOME: process.env.HOME, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/tasty-no-bus' },
      cwd: fileURLToPath(new URL('..', import.meta.url)),
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

const canRunDaemons = ['dbus-daemon', 'dbus-send', 'gnome-keyring-daemon'].every((b) => spawnSync('sh', ['-c', `command -v ${b}`]).status === 0);
const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run argv against a real gnome-keyring in `state` on a private bus (test/keyring-state.sh), without blocking the loop. */
function inKeyring(state: string, argv: string[], o: { env?: Record<string, string>; input?: string; seed?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['test/keyring-state.sh', state, ...argv], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', LANG: 'C.UTF-8', ...(o.seed ? { KEYRING_STATE_SEED: o.seed } : {}), ...o.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(o.input ?? '');
  });
}

/** Any failed expectation in `check` is reported with everything the fixture and the command printed. */
function withOutput(r: Ran, check: () => void): void {
  try {
    check();
  } catch (e) {
    (e as Error).message += `\n--- fixture exit ${r.status}\n--- stdout:\n${r.stdout}\n--- stderr:\n${r.stderr}`;
    throw e;
  }
}

/** Run an ES module script (src/ imported directly) in `state`; check the last JSON line it printed. */
async function inKeyringState(state: string, script: string, check: (out: Record<string, unknown>) => void, seed?: string): Promise<void> {
  const r = await inKeyring(state, [process.execPath, '--input-type=module', '-e', script], { seed });
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}';
  withOutput(r, () => check(JSON.parse(line) as Record<string, unknown>));
}

const probeScript = (extra = '') => `import { KeychainStore } from './src/auth/keychain.ts';
  const store = new KeychainStore({ service: 'tasty-state-' + process.pid });
  const t0 = performance.now();
  const e = await store.probe().then(() => null, (x) => x);
  const ms = performance.now() - t0;
  ${extra}
  console.log(JSON.stringify({ probe: e && { name: e.name, state: e.state, exitCode: e.exitCode, message: e.message, hint: e.hint }, ms, ...(typeof more === 'undefined' ? {} : more) }));`;

describe.runIf(canRunDaemons || required)('keychain states, found before anything is asked or sent (real gnome-keyring, private bus)', () => {
  it('usable: the probe passes and a store/read/delete round-trip works', async () => {
    const extra = `const s = { clientSecret: 'cs', refreshToken: 'a.b.c' };
      await store.set('sandbox', s); const back = await store.get('sandbox'); const del = await store.delete('sandbox');
      const more = { back, del };`;
    await inKeyringState('usable', probeScript(extra), (out) => {
      expect(out.probe).toBeNull();
      expect(out.back).toEqual({ clientSecret: 'cs', refreshToken: 'a.b.c' });
      expect(out.del).toBe(true);
    });
  });

  it('locked (login keyring exists, daemon restarted as over SSH): named as locked with the unlock command, also when a write fails', async () => {
    // The native module reads a locked keyring as "no entry"; only the probe sees the lock before a write.
    const extra = `const w = await store.set('sandbox', { clientSecret: 'cs', refreshToken: 'a.b.c' }).then(() => null, (x) => ({ state: x.state, message: x.message, hint: x.hint }));
      const more = { write: w };`;
    await inKeyringState('locked', probeScript(extra), (out) => {
      expect(out.probe).toMatchObject({ name: 'KeychainError', state: 'locked', exitCode: 7 });
      const p = out.probe as { message: string; hint: string };
      expect(p.message).toMatch(/default keyring "login" is locked/);
      expect(p.hint).toMatch(/gnome-keyring-daemon --replace --unlock/);
      expect(p.hint).toMatch(/--insecure-storage/);
      expect(p.hint).toMatch(/TASTY_CLIENT_SECRET/);
      // The write itself fails too, and is named as locked, not as "no Secret Service is running".
      const w = out.write as { state: string; message: string };
      expect(w.state).toBe('locked');
      expect(w.message).toMatch(/is locked/);
      expect(w.message).not.toMatch(/no Secret Service is running/);
    });
  });

  it('locked with tasty\'s entry in it (logged in at the desktop, now over SSH): reading is named as locked, not as missing or as no Secret Service', async () => {
    const seed = `${JSON.stringify(process.execPath)} --input-type=module -e "import { KeychainStore } from './src/auth/keychain.ts';
      await new KeychainStore({ service: 'tasty-seeded' }).set('sandbox', { clientSecret: 'cs', refreshToken: 'a.b.c' });"`;
    const script = `import { KeychainStore } from './src/auth/keychain.ts';
      const e = await new KeychainStore({ service: 'tasty-seeded' }).get('sandbox').then((v) => ({ value: v }), (x) => ({ name: x.name, state: x.state, exitCode: x.exitCode, message: x.message, hint: x.hint }));
      console.log(JSON.stringify(e));`;
    await inKeyringState(
      'locked',
      script,
      (out) => {
        expect(out.value).toBeUndefined();
        expect(out).toMatchObject({ name: 'KeychainError', state: 'locked', exitCode: 7 });
        expect(out.message).toMatch(/is locked, so the keychain cannot read the credentials/);
        expect(out.hint).toMatch(/gnome-keyring-daemon --replace --unlock/);
      },
      seed,
    );
  });

  it('absent (a daemon with no keyring): no default keyring, with the command that creates one', async () => {
    const extra = `const w = await store.set('sandbox', { clientSecret: 'cs', refreshToken: 'a.b.c' }).then(() => null, (x) => ({ state: x.state, message: x.message }));
      const more = { write: w };`;
    await inKeyringState('absent', probeScript(extra), (out) => {
      expect(out.probe).toMatchObject({ state: 'locked', exitCode: 7 });
      const p = out.probe as { message: string; hint: string };
      expect(p.message).toMatch(/no default keyring/);
      expect(p.hint).toMatch(/gnome-keyring-daemon --replace --unlock/);
      const w = out.write as { state: string; message: string };
      expect(w.message).toMatch(/no default keyring/);
      expect(w.message).not.toMatch(/no Secret Service is running/);
    });
  });

  it('no bus: named as no Secret Service', async () => {
    await inKeyringState('nobus', probeScript(), (out) => {
      expect(out.probe).toMatchObject({ state: 'none', exitCode: 7 });
      // Named from the refused connection, not from a timeout.
      expect((out.probe as { message: string }).message).toMatch(/no Secret Service is running: no D-Bus session bus/);
    });
  });
});

describe.runIf(canRunDaemons || required)('a Secret Service that hangs', () => {
  it('is a clear KeychainError (exit 7) within the timeout, naming a hung or locked keyring', async () => {
    // The fixture freezes (SIGSTOP) the gnome-keyring that owns org.freedesktop.secrets on a bus that cannot
    // auto-start another: calls are accepted and never answered.
    const script = `import { KeychainStore } from './src/auth/keychain.ts';
      const store = new KeychainStore({ service: 'tasty-hang' });
      let t0 = performance.now();
      const e = await store.get('sandbox').catch((x) => x);
      const ms = performance.now() - t0;
      t0 = performance.now();
      const p = await store.probe().catch((x) => x);
      console.log(JSON.stringify({ name: e?.name, exitCode: e?.exitCode, message: e?.message, ms, probe: { state: p?.state, message: p?.message }, probeMs: performance.now() - t0 }));
      process.exit(0);`;
    await inKeyringState('hung', script, (out) => {
      expect(out.name).toBe('KeychainError');
      expect(out.exitCode).toBe(7);
      expect(out.message).toMatch(/did not answer/);
      // Bounded by the library's D-Bus timeout or ours (3 s): the daemon is frozen for good, so without a timeout
      // this would never return. The slack is for a loaded CI machine (the full suite runs files in parallel);
      // the 3 s itself is in the message below.
      expect(out.ms).toBeLessThan(8_000);
      expect(out.probe).toMatchObject({ state: 'hung' });
      expect((out.probe as { message: string }).message).toMatch(/did not answer within 3 s/);
      expect(out.probeMs).toBeLessThan(8_000);
    });
  });
});

describe.runIf(canRunDaemons || required)('login with a keyring that cannot store (real gnome-keyring, private bus)', () => {
  const emu = useEmulator({ environment: 'sandbox' });
  const loginIn = (state: string) =>
    inKeyring(state, [process.execPath, BIN, 'login', '--stdin'], {
      input: `${emu.clientSecret}\n${emu.refreshToken}\n`,
      env: { TASTY_CONFIG_DIR: tmpDir(), TASTY_API_URL: emu.url, TASTY_ENV: 'sandbox', TASTY_KEYCHAIN_SERVICE: `tasty-test-${randomBytes(4).toString('hex')}` },
    });

  for (const [state, said] of [
    ['locked', /default keyring "login" is locked/],
    ['absent', /no default keyring/],
    ['nobus', /no Secret Service is running/],
  ] as const) {
    it(`${state}: exit 7 with its own message and way out, and nothing sent`, async () => {
      const r = await loginIn(state);
      withOutput(r, () => {
        expect(r.status).toBe(7);
        expect(r.stderr).toMatch(said);
        expect(r.stderr).toMatch(/--insecure-storage/);
        expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
        expect(emu.requests).toHaveLength(0);
      });
    });
  }

  it('usable: the same login stores the secrets', async () => {
    const r = await loginIn('usable');
    withOutput(r, () => {
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/Secrets stored in the Secret Service keyring/);
      expect(emu.mints).toBe(1);
    });
  });
});
