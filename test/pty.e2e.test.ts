// The built CLI on a real pseudo-terminal (util-linux `script`), the way a person runs it: `login --stdin` typed
// at a terminal must not echo the secrets, and a terminal that reports 0 columns (a pty created without a size)
// must not send ora's spinner into an endless clear loop.
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { baseEnv, BIN, useFixture } from './helpers.ts';

const f = useFixture({}, { withCreds: false });

interface PtyRun {
  code: number | null;
  output: string;
  ms: number;
}

/** Run `command` on a fresh pty (0 rows, 0 columns); `answer` is called with the output so far and may type into it. */
function onPty(command: string, answer?: (output: string, type: (s: string) => void) => void, timeoutMs = 20_000): Promise<PtyRun> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: baseEnv({ ...f.env, SHELL: '/bin/sh' }), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let bytes = 0;
    const type = (s: string) => child.stdin.write(s);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      bytes += d.length;
      if (output.length < 200_000) output += d;
      // Runaway output (ora's loop wrote megabytes a second): stop it here.
      if (bytes > 1_000_000) child.kill('SIGKILL');
      answer?.(output, type);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: bytes > 1_000_000 ? `${output}\n[runaway: ${bytes} bytes]` : output, ms: performance.now() - t0 });
    });
  });
}

const tasty = (args: string) => `exec "${process.execPath}" "${BIN}" ${args}`;

describe('on a terminal', () => {
  it('login --stdin typed at a terminal: nothing echoed, both lines read, secrets stored', async () => {
    let typed = false;
    const r = await onPty(tasty('login --stdin --insecure-storage'), (out, type) => {
      if (!typed && out.includes('input hidden')) {
        typed = true;
        type(`${f.emu.clientSecret}\r`);
        setTimeout(() => type(`${f.emu.refreshToken}\r`), 200);
      }
    });
    expect(r.output).not.toContain(f.emu.clientSecret);
    expect(r.output).not.toContain(f.emu.refreshToken);
    expect(r.output).toContain('Logged in to sandbox');
    expect(r.code).toBe(0);
    expect(existsSync(join(f.dir, 'credentials.json'))).toBe(true);
  });

  it('a 0-column terminal: login (spinner on stderr) finishes and stores, with a few hundred bytes of output', async () => {
    const input = join(f.dir, 'input.txt');
    writeFileSync(input, `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`);
    const r = await onPty(`${tasty('login --stdin --insecure-storage')} < "${input}"`);
    expect(r.output).not.toContain('[runaway');
    expect(r.output.length).toBeLessThan(2_000);
    expect(r.output).toContain('Logged in to sandbox');
    expect(r.code).toBe(0);
    expect(existsSync(join(f.dir, 'credentials.json'))).toBe(true);
  });

  it('Ctrl-C while login --stdin waits at a terminal: exit 130, nothing stored, the terminal back in cooked mode', async () => {
    let typed = false;
    const r = await onPty(`"${process.execPath}" "${BIN}" login --stdin --insecure-storage; stty -a | tr ' ' '\\n' | grep -x -- '-\\?echo'`, (out, type) => {
      if (!typed && out.includes('input hidden')) {
        typed = true;
        type(`${f.emu.clientSecret}\r\u0003`);
      }
    });
    expect(r.output).not.toContain(f.emu.clientSecret);
    expect(r.output).toMatch(/cancelled/);
    expect(r.output).toMatch(/^echo\r?$/m); // echo is on again for the shell
    expect(existsSync(join(f.dir, 'credentials.json'))).toBe(false);
  });
});
