// What each OS can be asked to prove, with the reason printed once when a check is adapted or skipped.
import { existsSync, statSync } from 'node:fs';
import { expect } from 'vitest';

/** POSIX file modes exist (not Windows, where libuv reports 0o666 for any writable file and privacy is the profile's ACL). */
export const POSIX_MODES = process.platform !== 'win32';

let saidModes = false;

/** The file or directory has exactly this mode (e.g. '600'); on Windows only that it exists, with the reason printed once. */
export function expectMode(path: string, mode: string): void {
  if (POSIX_MODES) {
    expect((statSync(path).mode & 0o777).toString(8)).toBe(mode);
    return;
  }
  if (!saidModes) {
    saidModes = true;
    console.log('file-mode assertions (0600/0700) adapted on Windows: no POSIX modes there; only existence is checked');
  }
  expect(existsSync(path)).toBe(true);
}
