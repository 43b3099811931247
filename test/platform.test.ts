// Platform branches that this Linux machine cannot run natively, driven with the platform injected.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { renameWithRetry, WIN_RENAME_DELAYS_MS } from '../src/config.ts';
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
