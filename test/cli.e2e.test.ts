// End-to-end: the built binary's program, global options, usage errors and environment selection.
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { ROOT, runTasty, tmpDir, useFixture } from './helpers.ts';
import { expectMode } from './platforms.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
// One emulator for the file; its request log and faults are cleared before each test, so "nothing sent" holds in any order.
const f = useFixture({}, { once: true });
beforeEach(() => {
  f.emu.reset();
});

describe('program', () => {
  it('--version prints the package version', async () => {
    const r = await runTasty(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
    expect(r.stderr).toBe('');
  });

  it('--help lists the commands and global options', async () => {
    const r = await runTasty(['--help']);
    expect(r.code).toBe(0);
    for (const word of ['token', 'login', 'status', 'balances', 'doctor', '--env', '--json', '--no-color', '--verbose', '--timeout']) expect(r.stdout).toContain(word);
  });

  it.each([
    [['bogus'], /unknown command 'bogus'/],
    [['token', '--bogus'], /unknown option '--bogus'/],
    [['--env', 'bogus', 'token'], /Allowed choices are production, sandbox/],
    [['token', '--env', 'staging'], /Allowed choices are production, sandbox/],
    [['--timeout', 'abc', 'token'], /--timeout must be a number of seconds/],
    [['--timeout', '-1', 'token'], /--timeout must be a number of seconds/],
  ])('usage error %j → exit 2, one line plus a hint, no stack', async (args, re) => {
    const r = await f.run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(r.stderr).toMatch(/^hint: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
    expect(f.emu.requests).toHaveLength(0);
  });

  it('TASTY_ENV with a bad value is a usage error naming the valid values', async () => {
    const r = await f.run(['token'], { env: { TASTY_ENV: 'prod' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TASTY_ENV must be one of production, sandbox/);
  });

  it.each([
    ['http://api.example.com', /must use https:\/\//],
    ['ftp://127.0.0.1', /must be an http\(s\) URL/],
    ['not a url', /not a URL/],
    ['https://user:pw@api.example.com', /must not contain credentials/],
  ])('TASTY_API_URL=%s → exit 2', async (url, re) => {
    const r = await f.run(['token'], { env: { TASTY_API_URL: url } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
  });

  it('TASTY_TIMEOUT is validated like --timeout', async () => {
    const r = await f.run(['token'], { env: { TASTY_TIMEOUT: '0' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/TASTY_TIMEOUT must be a number/);
  });
});

describe('config dir', () => {
  it('is created 0700 with files 0600 even under umask 000', async () => {
    const dir = join(tmpDir(), 'nested', 'tasty');
    const r = await runTasty(['token'], {
      env: { ...f.env, TASTY_CONFIG_DIR: dir },
    });
    expect(r.code).toBe(0);
    expectMode(dir, '700');
    expectMode(join(dir, 'state.json'), '600');
  });

  it('an existing directory others can read is tightened to 0700 on the first write', async () => {
    const dir = join(tmpDir(), 'loose');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const r = await runTasty(['token'], { env: { ...f.env, TASTY_CONFIG_DIR: dir } });
    expect(r.code).toBe(0);
    expectMode(dir, '700');
  });
});
