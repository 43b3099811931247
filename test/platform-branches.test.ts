// macOS and Windows branches (issue 19) that this Linux machine cannot run natively, driven with the platform
// injected: keychain error classification and timeouts, the exit after a keychain timeout, keychain reads inside the
// state lock, doctor's per-OS advice, Git Bash path rewriting, mintty, ASCII symbols.
import { chmodSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api/client.ts';
import { AuthEngine } from '../src/auth/engine.ts';
import {
  KEYCHAIN_DIALOG_NOTE,
  KEYCHAIN_DIALOG_TIMEOUT_MS,
  KEYCHAIN_TIMEOUT_MS,
  KeychainStateError,
  keychainFailure,
  keychainStates,
  keychainTimeoutMs,
  type StoredSecrets,
  withTimeout,
} from '../src/auth/keychain.ts';
import { run } from '../src/cli.ts';
import { validatePath } from '../src/commands/api.ts';
import { minttyHint } from '../src/context.ts';
import { clockFix, keychainProblemOf, profileIssue } from '../src/doctor.ts';
import { ExitCode, exitsAtOnce, KeychainError, tlsHint, type TastyError } from '../src/errors.ts';
import { Output, unicodeSupported } from '../src/output.ts';
import { MemoryStore, tmpDir, useEmulator } from './helpers.ts';

const native = (message: string) => Object.assign(new Error(message), { code: 'GenericFailure' });

describe('keychain failures named per OS', () => {
  it('macOS: "User interaction is not allowed" (cron, SSH) is named, with security unlock-keychain and the cron cure', () => {
    const e = keychainFailure('macOS Keychain', 'read the credentials', native('Platform secure storage failure: User interaction is not allowed.'), 'darwin');
    expect(e).toBeInstanceOf(KeychainStateError);
    expect(e.message).toMatch(/User interaction is not allowed/);
    expect(e.message).toMatch(/cron, SSH/);
    expect(e.hint).toMatch(/security unlock-keychain/);
    expect(e.hint).toMatch(/TASTY_CLIENT_SECRET/);
    expect(e.hint).not.toMatch(/gnome-keyring/);
    expect(e.exitCode).toBe(ExitCode.keychain);
  });

  it('Windows: ERROR_NO_SUCH_LOGON_SESSION (SSH, services) is named, with its cure', () => {
    for (const text of [
      "Couldn't access platform secure storage: A specified logon session does not exist. It may already have been terminated. (os error 1312)",
      'Platform secure storage failure: Windows error 0x00000520',
    ]) {
      const e = keychainFailure('Windows Credential Manager', 'store the credentials', native(text), 'win32') as KeychainStateError;
      expect(e.state).toBe('none');
      expect(e.message).toMatch(/ERROR_NO_SUCH_LOGON_SESSION/);
      expect(e.message).toMatch(/SSH/);
      expect(e.hint).toMatch(/Run only when user is logged on/);
    }
  });

  it('a timeout: gnome-keyring-daemon advice on Linux only; on macOS a keychain dialog may be open', () => {
    const linux = keychainStates.hung('Secret Service keyring', 3000, 'read the credentials', 'linux');
    const mac = keychainStates.hung('macOS Keychain', 3000, 'read the credentials', 'darwin');
    const win = keychainStates.hung('Windows Credential Manager', 3000, 'read the credentials', 'win32');
    expect(linux.hint).toMatch(/gnome-keyring-daemon --replace/);
    expect(mac.hint).not.toMatch(/gnome-keyring/);
    expect(win.hint).not.toMatch(/gnome-keyring/);
    expect(mac.message).toMatch(/a keychain dialog may be open/);
    expect(mac.hint).toMatch(/Always Allow/);
    // A timed-out native call from any OS's library also gets the OS's advice.
    expect(keychainFailure('macOS Keychain', 'read the credentials', native('timed out'), 'darwin').hint).not.toMatch(/gnome-keyring/);
  });

  it('a locked keychain elsewhere than Linux is never told to run gnome-keyring', () => {
    const e = keychainFailure('macOS Keychain', 'read the credentials', native('The keychain is locked'), 'darwin');
    expect(e.hint).not.toMatch(/gnome-keyring/);
  });

  it('doctor recognises a Credential Manager failure as a keychain problem (not "reachable")', () => {
    const e = keychainFailure('Windows Credential Manager', 'read the credentials', native('Platform secure storage failure: Element not found'), 'win32');
    expect(keychainProblemOf(['something else', e.message])).toBe(e.message);
    expect(keychainProblemOf(['TASTY_REFRESH_TOKEN is set but TASTY_CLIENT_SECRET is not'])).toBeUndefined();
  });
});

describe('keychain timeout on macOS with a person at the terminal', () => {
  it('is long enough to answer a dialog on macOS at a terminal, short otherwise', () => {
    expect(keychainTimeoutMs('darwin', true)).toBe(KEYCHAIN_DIALOG_TIMEOUT_MS);
    expect(KEYCHAIN_DIALOG_TIMEOUT_MS).toBeGreaterThanOrEqual(30_000);
    expect(keychainTimeoutMs('darwin', false)).toBe(KEYCHAIN_TIMEOUT_MS);
    expect(keychainTimeoutMs('linux', true)).toBe(KEYCHAIN_TIMEOUT_MS);
    expect(keychainTimeoutMs('win32', true)).toBe(KEYCHAIN_TIMEOUT_MS);
  });

  it('a slow call says once that a keychain dialog may be open; a fast one says nothing', async () => {
    const said: string[] = [];
    const slowNote = { afterMs: 20, say: (m: string) => said.push(m) };
    const slow = new Promise<string>((r) => setTimeout(() => r('ok'), 80));
    expect(await withTimeout(slow, { ms: 2000, name: 'macOS Keychain', op: 'read', platform: 'darwin', slowNote })).toBe('ok');
    expect(said).toEqual([KEYCHAIN_DIALOG_NOTE]);
    said.length = 0;
    expect(await withTimeout(Promise.resolve('ok'), { ms: 2000, name: 'macOS Keychain', op: 'read', platform: 'darwin', slowNote })).toBe('ok');
    await new Promise((r) => setTimeout(r, 50));
    expect(said).toEqual([]);
  });

  it('a call that never answers (a dialog nobody answers) is a hung KeychainError within the timeout', async () => {
    const t0 = Date.now();
    const e = (await withTimeout(new Promise(() => {}), { ms: 100, name: 'macOS Keychain', op: 'read the credentials', platform: 'darwin' }).catch((x: unknown) => x)) as KeychainStateError;
    expect(e).toBeInstanceOf(KeychainStateError);
    expect(e.state).toBe('hung');
    expect(e.message).toMatch(/within 0.1 s.*dialog may be open/);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});

/** A keychain whose read never returns in time: it throws the timeout a real KeychainStore throws. */
class HungStore extends MemoryStore {
  override async get(): Promise<StoredSecrets | undefined> {
    this.reads++;
    throw keychainStates.hung('macOS Keychain', 3000, 'read the credentials', 'darwin');
  }
}

const noTty = () => Object.assign(Readable.from([]), { isTTY: false });

function sink(isTTY = false) {
  const chunks: string[] = [];
  return { chunks, isTTY, write: (s: string) => chunks.push(s), text: () => chunks.join('') };
}

describe('the process ends at once after a keychain timeout', () => {
  let dir: string;
  beforeEach(() => {
    dir = tmpDir();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('run() asks to exit with 7 after a hung keychain (the native call may still be waiting), and not after other errors', async () => {
    const exits: number[] = [];
    const err = sink();
    const io = { env: { TASTY_CONFIG_DIR: dir }, stdout: sink(), stderr: err, stdin: noTty(), keychain: async () => new HungStore(), exit: (c: number) => exits.push(c), platform: 'darwin' as const };
    const code = await run(['node', 'tasty', 'token'], io);
    expect(code).toBe(ExitCode.keychain);
    expect(exits).toEqual([ExitCode.keychain]);
    expect(err.text()).toMatch(/dialog may be open/);
    // Not logged in (an empty keychain) ends the ordinary way.
    const exits2: number[] = [];
    const code2 = await run(['node', 'tasty', 'token'], { ...io, keychain: async () => new MemoryStore(), exit: (c: number) => exits2.push(c) });
    expect(code2).toBe(ExitCode.notLoggedIn);
    expect(exits2).toEqual([]);
  });

  it('exitsAtOnce: only a hung keychain', () => {
    expect(exitsAtOnce(keychainStates.hung('x', 1, 'read', 'darwin'))).toBe(true);
    expect(exitsAtOnce(keychainStates.none('no bus'))).toBe(false);
    expect(exitsAtOnce(new KeychainError('x', 'y'))).toBe(false);
    expect(exitsAtOnce(new Error('hung'))).toBe(false);
  });
});

describe('keychain reads inside the state lock: N processes that miss the cache read it once', () => {
  const emu = useEmulator({ environment: 'sandbox' });
  let dir: string;
  let clock: number;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A keychain that takes a while to answer, as a macOS dialog does, and counts its reads. */
  class SlowStore extends MemoryStore {
    override async get(e: 'production' | 'sandbox') {
      await new Promise((r) => setTimeout(r, 60));
      return super.get(e);
    }
  }

  const engine = (store: MemoryStore) => {
    const client = new ApiClient({ baseUrl: emu.url, environment: 'sandbox', timeoutMs: 2000, userAgent: 'tasty-cli/test', env: {}, retry: { maxRetries: 0, baseDelayMs: 1, retryAfterCapMs: 5 } });
    return new AuthEngine({ dir, env: {}, now: () => clock, client: async () => client, api: () => emu.url, keychain: async () => store, warn: () => {}, timeoutMs: 2000 });
  };

  it('five engines (five processes) whose cached token expired: one keychain read, one mint', async () => {
    dir = tmpDir();
    clock = Date.now();
    const store = new SlowStore();
    store.data.set('sandbox', { clientSecret: emu.clientSecret, refreshToken: emu.refreshToken });
    await engine(store).getToken('sandbox'); // login's first mint binds the keychain's identity
    expect(store.reads).toBe(1);
    clock += 900_000; // the token expired
    store.reads = 0;
    const mintsBefore = emu.mints;
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => engine(store).getToken('sandbox')));
    expect(new Set(results.map((r) => r.token.accessToken)).size).toBe(1);
    expect(emu.mints - mintsBefore).toBe(1);
    expect(store.reads).toBe(1);
  });

  it('a keychain changed behind tasty\'s back still gets its own token (never the old credentials\' one)', async () => {
    dir = tmpDir();
    clock = Date.now();
    const store = new SlowStore();
    store.data.set('sandbox', { clientSecret: emu.clientSecret, refreshToken: emu.refreshToken });
    const first = await engine(store).getToken('sandbox');
    clock += 900_000;
    const other = emu.addGrant('second');
    store.data.set('sandbox', { clientSecret: other.clientSecret, refreshToken: other.refreshToken });
    const second = await engine(store).getToken('sandbox');
    expect(second.minted).toBe(true);
    expect(emu.tokenRequestsFor(other.refreshToken).sent).toBe(1);
    expect(second.token.fp).not.toBe(first.token.fp);
  });
});

describe('doctor advice per OS', () => {
  it('clock skew: timedatectl only on Linux', () => {
    expect(clockFix('linux')).toMatch(/timedatectl/);
    expect(clockFix('darwin')).not.toMatch(/timedatectl/);
    expect(clockFix('darwin')).toMatch(/Date & Time|sntp/);
    expect(clockFix('win32')).not.toMatch(/timedatectl/);
    expect(clockFix('win32')).toMatch(/w32tm \/resync/);
  });

  it('TLS interception: NODE_USE_SYSTEM_CA=1 on macOS and Windows, NODE_EXTRA_CA_CERTS everywhere', () => {
    expect(tlsHint('darwin')).toMatch(/NODE_USE_SYSTEM_CA=1/);
    expect(tlsHint('win32')).toMatch(/NODE_USE_SYSTEM_CA=1/);
    expect(tlsHint('linux')).not.toMatch(/NODE_USE_SYSTEM_CA/);
    for (const p of ['linux', 'darwin', 'win32'] as const) expect(tlsHint(p)).toMatch(/NODE_EXTRA_CA_CERTS/);
  });

  it('Windows: TASTY_CONFIG_DIR outside the user profile is warned about (privacy comes from the profile ACL)', () => {
    const env = { USERPROFILE: 'C:\\Users\\ann', TASTY_CONFIG_DIR: 'D:\\shared\\tasty' };
    expect(profileIssue('D:\\shared\\tasty', env, 'win32')).toMatch(/outside your user profile/);
    expect(profileIssue('C:\\Users\\ann\\tasty', { ...env, TASTY_CONFIG_DIR: 'C:\\Users\\ann\\tasty' }, 'win32')).toBeUndefined();
    expect(profileIssue('c:/users/ann/AppData/tasty', { ...env, TASTY_CONFIG_DIR: 'c:/users/ann/AppData/tasty' }, 'win32')).toBeUndefined();
    expect(profileIssue('C:\\Users\\anna\\tasty', { ...env, TASTY_CONFIG_DIR: 'C:\\Users\\anna\\tasty' }, 'win32')).toMatch(/outside/);
    // Not set (the default %APPDATA%\tasty), or not Windows: nothing to say.
    expect(profileIssue('D:\\x', { USERPROFILE: 'C:\\Users\\ann' }, 'win32')).toBeUndefined();
    expect(profileIssue('/srv/tasty', { TASTY_CONFIG_DIR: '/srv/tasty', USERPROFILE: '/home/ann' }, 'linux')).toBeUndefined();
  });
});

describe('Windows terminals', () => {
  it('Git Bash rewrote `tasty api /customers/me` into a C:/ path: explained, with MSYS_NO_PATHCONV=1 or no leading slash', () => {
    let e: TastyError | undefined;
    try {
      validatePath('C:/Program Files/Git/customers/me');
    } catch (x) {
      e = x as TastyError;
    }
    expect(e?.message).toMatch(/Git Bash \(MSYS\)/);
    expect(e?.message).toMatch(/you likely typed \/customers\/me/);
    expect(e?.hint).toMatch(/MSYS_NO_PATHCONV=1/);
    expect(e?.hint).toMatch(/tasty api customers\/me/);
    expect(e?.exitCode).toBe(ExitCode.usage);
    // Real URLs are still refused as such, and ordinary paths pass.
    expect(() => validatePath('https://evil.example/x')).toThrow(/absolute URLs are refused/);
    expect(validatePath('customers/me')).toBe('/customers/me');
  });

  it('mintty (Git Bash) is not a console: said in the error that needed a terminal, with winpty', async () => {
    expect(minttyHint({ TERM_PROGRAM: 'mintty' }, 'win32')).toMatch(/winpty/);
    expect(minttyHint({ MSYSTEM: 'MINGW64' }, 'win32')).toMatch(/winpty/);
    expect(minttyHint({ TERM_PROGRAM: 'mintty' }, 'linux')).toBeUndefined();
    expect(minttyHint({}, 'win32')).toBeUndefined();
    const dir = tmpDir();
    try {
      const err = sink();
      const code = await run(['node', 'tasty', 'login', '--env', 'sandbox'], { env: { TASTY_CONFIG_DIR: dir, MSYSTEM: 'MINGW64', TERM_PROGRAM: 'mintty' }, stdout: sink(), stderr: err, stdin: noTty(), keychain: async () => new MemoryStore(), platform: 'win32' });
      expect(code).toBe(ExitCode.usage);
      expect(err.text().match(/winpty/g)).toHaveLength(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('✓ ✗ ⚠ become ASCII on a legacy Windows console; Windows Terminal and other OSes keep them; piped data is untouched', () => {
    expect(unicodeSupported({}, 'win32')).toBe(false);
    expect(unicodeSupported({ WT_SESSION: 'x' }, 'win32')).toBe(true);
    expect(unicodeSupported({ TERM_PROGRAM: 'vscode' }, 'win32')).toBe(true);
    expect(unicodeSupported({}, 'darwin')).toBe(true);
    expect(unicodeSupported({}, 'linux')).toBe(true);
    const mk = (platform: NodeJS.Platform, env: Record<string, string> = {}) => {
      const stdout = sink(false);
      const stderr = sink(true);
      const out = new Output({ json: false, color: false, verbose: false, env, stdout, stderr, platform });
      out.info('✓ Logged in ✗ no ⚠ stale');
      out.data('✓ data');
      return { err: stderr.text(), data: stdout.text() };
    };
    expect(mk('win32').err).toBe('+ Logged in x no ! stale\n');
    expect(mk('win32').data).toBe('✓ data\n');
    expect(mk('win32', { WT_SESSION: '1' }).err).toBe('✓ Logged in ✗ no ⚠ stale\n');
    expect(mk('linux').err).toBe('✓ Logged in ✗ no ⚠ stale\n');
  });
});

describe('doctor on Windows (the platform injected, the emulator on loopback)', () => {
  const emu = useEmulator({ environment: 'sandbox' });

  /** A keychain that fails as Credential Manager can, with the text @napi-rs/keyring gives. */
  class FailingStore extends MemoryStore {
    override async get(): Promise<StoredSecrets | undefined> {
      throw keychainFailure('Windows Credential Manager', 'read the credentials', native('Platform secure storage failure: Windows error 0x000006BA'), 'win32');
    }
  }

  async function doctor(env: Record<string, string>, keychain: () => Promise<MemoryStore>, platform: NodeJS.Platform = 'win32') {
    const out = sink();
    const code = await run(['node', 'tasty', 'doctor', '--json', '--env', 'sandbox'], { env: { TASTY_API_URL: emu.url, ...env }, stdout: out, stderr: sink(), stdin: noTty(), keychain, platform });
    const doc = JSON.parse(out.text()) as { checks: Array<{ id: string; status: string; cause?: string; fix?: string }> };
    return { code, store: doc.checks.find((c) => c.id === 'store') };
  }

  it('a failing Credential Manager is a failed store check, never "reachable" (nor hidden behind a permissions warning)', async () => {
    const dir = tmpDir();
    try {
      const { store } = await doctor({ TASTY_CONFIG_DIR: dir }, async () => new FailingStore());
      expect(store).toMatchObject({ status: 'fail', cause: 'keychain_unavailable' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('macOS: a keychain that cannot be used is a failure even when the directory is also loose (the warning hid it)', async () => {
    const dir = tmpDir();
    try {
      chmodSync(dir, 0o755);
      const failing = new (class extends MemoryStore {
        override async get(): Promise<StoredSecrets | undefined> {
          throw keychainFailure('macOS Keychain', 'read the credentials', native('User interaction is not allowed.'), 'darwin');
        }
      })();
      const { store } = await doctor({ TASTY_CONFIG_DIR: dir }, async () => failing, 'darwin');
      expect(store).toMatchObject({ status: 'fail', cause: 'keychain_unavailable' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('TASTY_CONFIG_DIR outside the user profile is a warning; no chmod advice on Windows', async () => {
    const dir = tmpDir();
    try {
      const { store } = await doctor({ TASTY_CONFIG_DIR: dir, USERPROFILE: 'C:\\Users\\ann' }, async () => new MemoryStore());
      expect(store).toMatchObject({ status: 'warn', cause: 'outside_profile' });
      expect(store?.fix).not.toMatch(/chmod/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
