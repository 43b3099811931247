// Platform branches that this Linux machine cannot run natively, driven with the platform injected.
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { acquireLock, WIN_LOCK_BUSY_MS } from '../src/auth/lock.ts';
import { emptyState, readState, type State, writeState } from '../src/auth/state.ts';
import { readFileIfExists, renameWithRetry, retryWhileBusy, WIN_RENAME_DELAYS_MS } from '../src/config.ts';
import { StateDirError } from '../src/errors.ts';
import { modeIssue } from '../src/doctor.ts';
import { tmpDir } from './helpers.ts';

const busy = (code: string) => Object.assign(new Error(`${code}: operation not permitted, rename`), { code });

describe('atomic writes while another process has the file open (Windows)', () => {
  it('win32: EPERM from MoveFileExW is retried with a bounded backoff, then succeeds', () => {
    let calls = 0;
    const slept: number[] = [];
    renameWithRetry('a', 'b', {
      platform: 'win32',
      rename: () => {
        if (++calls < 3) throw busy('EPERM');
      },
      sleep: (ms) => slept.push(ms),
    });
    expect(calls).toBe(3);
    expect(slept).toEqual([5, 10]);
  });

  it('win32: a target that stays open fails after the whole backoff (about a second), not forever', () => {
    const slept: number[] = [];
    expect(() =>
      renameWithRetry('a', 'b', {
        platform: 'win32',
        rename: () => {
          throw busy('EBUSY');
        },
        sleep: (ms) => slept.push(ms),
      }),
    ).toThrow(/EBUSY/);
    expect(slept).toEqual(WIN_RENAME_DELAYS_MS);
    expect(slept.reduce((a, b) => a + b, 0)).toBeLessThan(1_500);
  });

  it('other errors, and every error elsewhere, are not retried', () => {
    for (const [platform, code] of [['win32', 'ENOENT'], ['linux', 'EPERM'], ['darwin', 'EACCES']] as const) {
      let calls = 0;
      expect(() =>
        renameWithRetry('a', 'b', {
          platform,
          rename: () => {
            calls++;
            throw busy(code);
          },
          sleep: () => {},
        }),
      ).toThrow(code);
      expect(calls).toBe(1);
    }
  });
});

describe('permission advice', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('POSIX: the chmod to run, quoted (macOS paths have spaces); Windows: none (libuv reports 0o666 for any writable file)', () => {
    root = tmpDir();
    const dir = join(root, 'Application Support', 'tasty');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'state.json');
    writeFileSync(file, '{}', { mode: 0o644 });
    expect(modeIssue(file, 0o600, 'linux')).toBe(`chmod 600 '${file}'`);
    expect(modeIssue(file, 0o600, 'darwin')).toBe(`chmod 600 '${file}'`);
    expect(modeIssue(file, 0o600, 'win32')).toBeUndefined();
  });
});

describe('the lock file on Windows: a lock being deleted while another process reads it', () => {
  let root: string;
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** fs.openSync that refuses the first `n` opens with EPERM, as Windows does for a delete-pending file. */
  const refusing = (n: number) => {
    let left = n;
    return (path: string, flags: number, mode?: number) => {
      if (left-- > 0) throw busy('EPERM');
      return openSync(path, flags, mode);
    };
  };

  it('win32: EPERM on creating or reading state.lock is waited out, then the lock is taken', async () => {
    root = tmpDir();
    const release = await acquireLock(join(root, 'state.lock'), { holdMs: 1000, platform: 'win32', open: refusing(3), pollMs: 1 });
    expect(existsSync(join(root, 'state.lock'))).toBe(true);
    release();
    expect(existsSync(join(root, 'state.lock'))).toBe(false);
  });

  it('win32: a refusal that lasts (a real permission problem) is reported, bounded in time', async () => {
    root = tmpDir();
    const t0 = Date.now();
    const e = await acquireLock(join(root, 'state.lock'), { holdMs: 1000, platform: 'win32', open: refusing(1e9), pollMs: 5 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StateDirError);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(WIN_LOCK_BUSY_MS - 50);
    expect(Date.now() - t0).toBeLessThan(WIN_LOCK_BUSY_MS + 3000);
  });

  it('elsewhere EPERM on the lock is a config-directory error at once', async () => {
    root = tmpDir();
    const e = await acquireLock(join(root, 'state.lock'), { holdMs: 1000, platform: 'linux', open: refusing(1), pollMs: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(StateDirError);
  });
});

describe('reading state.json on Windows while another process replaces it', () => {
  it('win32: a read refused for an instant is retried, so held rejections are not read as an empty state and overwritten', () => {
    let calls = 0;
    const slept: number[] = [];
    const v = retryWhileBusy(
      () => {
        if (++calls < 3) throw busy('EBUSY');
        return 'text';
      },
      { platform: 'win32', sleep: (ms) => slept.push(ms) },
    );
    expect(v).toBe('text');
    expect(slept).toEqual([5, 10]);
    expect(() =>
      retryWhileBusy(
        () => {
          throw busy('EBUSY');
        },
        { platform: 'linux', sleep: () => {} },
      ),
    ).toThrow('EBUSY');
  });

  it('readState retries on win32 (the platform injected): the rejection on record survives a refused first read', () => {
    const root = tmpDir();
    try {
      const rejection = { env: 'sandbox', api: 'https://api.example', fp: 'a'.repeat(64), at: new Date().toISOString(), code: 'grant_revoked', description: 'Grant revoked' };
      writeState(root, { ...emptyState(), rejections: [rejection] } as State, Date.now());
      // The first read is refused as Windows refuses a file another process is replacing.
      const refusedOnce = () => {
        let n = 0;
        return (path: string) => {
          if (n++ === 0) throw busy('EPERM');
          return readFileIfExists(path);
        };
      };
      // Linux: not retried, reported as a problem (unchanged).
      expect(readState(root, { platform: 'linux', sleep: () => {}, read: refusedOnce() }).problem).toMatch(/EPERM/);
      // Windows: retried after a short sleep; the rejection is read, not lost.
      const slept: number[] = [];
      const r = readState(root, { platform: 'win32', sleep: (ms) => slept.push(ms), read: refusedOnce() });
      expect(r.problem).toBeUndefined();
      expect(r.state.rejections).toHaveLength(1);
      expect(slept).toEqual([5]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
