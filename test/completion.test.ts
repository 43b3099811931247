// Shell completion generated from the commander tree, and the help pages: examples everywhere, usage errors that
// name the right --help in one line, `tasty help <unknown>` an error, environment names in any case.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseEnv, BIN, runTasty, tmpDir } from './helpers.ts';

/** A `tasty` on PATH (what the generated scripts call at completion time) and a config dir with saved accounts. */
function shellSetup(): { env: Record<string, string>; dir: string } {
  const dir = tmpDir();
  mkdirSync(join(dir, 'bin'));
  writeFileSync(join(dir, 'bin', 'tasty'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(dir, 'bin', 'tasty'), 0o755);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ defaultAccounts: { sandbox: '5WX01234', production: '5YZ98765' } }));
  return { dir, env: baseEnv({ TASTY_CONFIG_DIR: dir, PATH: `${join(dir, 'bin')}:${process.env.PATH}` }) };
}

/** What bash offers for the words typed so far (the last one is being completed). */
function bashComplete(env: Record<string, string>, words: string[]): string[] {
  const script = `source <(tasty completion bash) && COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}) && COMP_CWORD=${words.length - 1} && _tasty && printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = spawnSync('bash', ['-c', script], { env, encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('tasty completion', () => {
  const { env } = shellSetup();

  it('bash: commands, subcommands, options, --env values and the saved account numbers from config.json', () => {
    const top = bashComplete(env, ['tasty', '']);
    expect(top.slice(0, 3)).toEqual(['login', 'token', 'exec']);
    for (const c of ['balances', 'doctor', 'accounts', 'completion', '--env', '--json']) expect(top).toContain(c);
    expect(bashComplete(env, ['tasty', 'acc'])).toEqual(['accounts']);
    expect(bashComplete(env, ['tasty', 'accounts', ''])).toContain('use');
    const use = bashComplete(env, ['tasty', 'accounts', 'use', '--']);
    expect(use).toContain('--unset');
    expect(use).not.toContain('--all');
    expect(bashComplete(env, ['tasty', '--env', ''])).toEqual(['production', 'sandbox']);
    expect(bashComplete(env, ['tasty', 'balances', '--account', '']).sort()).toEqual(['5WX01234', '5YZ98765']);
    expect(bashComplete(env, ['tasty', '--env', 'sandbox', 'balances', '--w'])).toEqual(['--watch']);
    expect(bashComplete(env, ['tasty', 'completion', ''])).toEqual(expect.arrayContaining(['bash', 'zsh', 'fish']));
  });

  it('never drifts: every command and option of `--help` is in each script', async () => {
    const help = await runTasty(['--help']);
    const commands = [...help.stdout.split('Commands:')[1]?.matchAll(/^ {2}([a-z-]+)/gm) ?? []].map((m) => m[1] as string).filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThan(10);
    const balances = await runTasty(['balances', '--help']);
    const options = [...balances.stdout.matchAll(/--[a-z-]+/g)].map((m) => m[0]);
    for (const shell of ['bash', 'zsh', 'fish']) {
      const r = await runTasty(['completion', shell]);
      expect(r.code).toBe(0);
      for (const c of [...commands, ...options]) expect(r.stdout, `${shell}: ${c}`).toContain(c);
    }
  });

  it('zsh and fish scripts read account numbers at completion time, not from the script', async () => {
    for (const shell of ['zsh', 'fish']) {
      const r = await runTasty(['completion', shell], { env: { TASTY_CONFIG_DIR: shellSetup().dir } });
      expect(r.stdout).toContain(`tasty completion ${shell} --accounts`);
      expect(r.stdout).not.toContain('5WX01234');
    }
    const r = await runTasty(['completion', 'zsh', '--accounts'], { env: { TASTY_CONFIG_DIR: shellSetup().dir } });
    expect(r.stdout.split('\n').filter(Boolean).sort()).toEqual(['5WX01234', '5YZ98765']);
  });

  it('an unknown shell is a usage error naming the completion help', async () => {
    const r = await runTasty(['completion', 'ksh']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(2);
    expect(r.stderr).toContain('hint: run `tasty completion --help` for usage');
  });
});

describe('help pages and usage errors', () => {
  it('login is first in the command list', async () => {
    const r = await runTasty(['--help']);
    expect(r.stdout.split('Commands:')[1]?.trim().startsWith('login')).toBe(true);
  });

  it('every command has examples in its help', async () => {
    for (const cmd of [[], ['login'], ['token'], ['exec'], ['quote-token'], ['logout'], ['status'], ['env'], ['env', 'use'], ['accounts'], ['accounts', 'use'], ['balances'], ['api'], ['doctor'], ['completion']]) {
      const r = await runTasty([...cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout, cmd.join(' ')).toMatch(new RegExp(`Examples:\\n {2}\\$ .*tasty ${cmd.join(' ')}`));
    }
  });

  it('accounts use --help lists the global options, not `accounts --all`', async () => {
    const r = await runTasty(['accounts', 'use', '--help']);
    expect(r.stdout).toContain('--unset');
    expect(r.stdout).toContain('--env');
    expect(r.stdout).not.toContain('--all');
  });

  it('tasty help nope: exit 2, one line and a hint', async () => {
    const r = await runTasty(['help', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trimEnd().split('\n')).toEqual(["tasty: unknown help topic 'nope'", 'hint: run `tasty --help` for usage']);
    const sub = await runTasty(['help', 'accounts', 'nope']);
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain('hint: run `tasty accounts --help` for usage');
    expect((await runTasty(['help', 'balances'])).code).toBe(0);
  });

  it('an unknown option names the command\'s --help, with the suggestion on the same line', async () => {
    const r = await runTasty(['balances', '--acount', 'X']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual(["tasty: unknown option '--acount'; did you mean --account?", 'hint: run `tasty balances --help` for usage']);
  });

  it('an unknown command: one line with the suggestion, the program\'s --help', async () => {
    const r = await runTasty(['balancs']);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual(["tasty: unknown command 'balancs'; did you mean balances?", 'hint: run `tasty --help` for usage']);
  });

  it('--env takes an environment name in any case', async () => {
    const dir = tmpDir();
    for (const v of ['Sandbox', 'SANDBOX', 'sandbox']) {
      const r = await runTasty(['--env', v, 'env'], { env: { TASTY_CONFIG_DIR: dir } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^sandbox/);
    }
    const bad = await runTasty(['--env', 'staging', 'env'], { env: { TASTY_CONFIG_DIR: dir } });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/production, sandbox/);
  });
});
