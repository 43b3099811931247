// Human output (issue 17): progress you can see on a terminal and never elsewhere, a doctor that prints each check the
// moment it finishes, one time format, a watch with a status line and one table, a plain demo on a pipe.
// Terminal behaviour runs on a real pseudo-terminal (util-linux `script`, as in test/pty.e2e.test.ts) with a size set.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { baseEnv, BIN, useFixture } from './helpers.ts';

const f = useFixture();

interface Timed {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Each stdout line with the ms since start at which it arrived. */
  lines: Array<{ at: number; text: string }>;
}

/** Run tasty on pipes, timing every stdout line. */
function timed(args: string[], env: Record<string, string | undefined> = {}): Promise<Timed> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: baseEnv({ ...f.env, ...env }), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const lines: Timed['lines'] = [];
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      const parts = (partial + d).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) lines.push({ at: performance.now() - t0, text });
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, lines });
    });
  });
}

/** Run a shell command on a pty of 100 columns; `until` ends it (SIGINT to the command) once the output matches. */
function onPty(command: string, o: { env?: Record<string, string | undefined>; until?: (out: string) => boolean; timeoutMs?: number } = {}): Promise<{ code: number | null; output: string; plain: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', `stty cols 100 rows 40; ${command}`, '/dev/null'], { env: baseEnv({ ...f.env, SHELL: '/bin/sh', ...o.env }), stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let ended = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (output.length < 500_000) output += d;
      if (!ended && o.until?.(output)) {
        ended = true;
        child.stdin.write('\u0003'); // Ctrl-C typed at the terminal
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 40_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      // The text without colour and cursor sequences, for matching words.
      resolve({ code, output, plain: output.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '') });
    });
  });
}

const tasty = (args: string) => `exec "${process.execPath}" "${BIN}" ${args}`;
const SPINNER = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;

describe('doctor streams its checks', () => {
  it('against a hanging API, the offline and network checks print at once, long before the HTTP check ends', async () => {
    f.emu.inject('any', { kind: 'hang' }, Number.POSITIVE_INFINITY);
    const r = await timed(['doctor', '--timeout', '4']);
    expect(r.code).toBe(1);
    const at = (re: RegExp) => r.lines.find((l) => re.test(l.text))?.at ?? Number.NaN;
    const connection = at(/^✓ Connection/);
    const http = at(/^✗ HTTP/);
    expect(http - connection).toBeGreaterThan(3_000); // printed when it finished, not with the rest at the end
    expect(r.stdout.indexOf('✓ Connection')).toBeLessThan(r.stdout.indexOf('✗ HTTP'));
    expect(r.stderr).toBe(''); // no spinner on a pipe
  });

  it('on a terminal, the running check has a spinner saying what it waits for; gone before its line', async () => {
    f.emu.inject('any', { kind: 'hang' }, Number.POSITIVE_INFINITY);
    const r = await onPty(tasty('doctor --timeout 3'));
    expect(r.output).toMatch(SPINNER);
    expect(r.plain).toContain('Waiting for an HTTP answer (up to 3 s)');
    expect(r.plain).toMatch(/✗ HTTP +likely IP block/);
    expect(r.code).toBe(1);
  });

  it('no spinner on a terminal with --json, --quiet or CI', async () => {
    for (const [args, env] of [['doctor --timeout 2 --json', {}], ['doctor --timeout 2 --quiet', {}], ['doctor --timeout 2', { CI: 'true' }]] as const) {
      f.emu.inject('any', { kind: 'hang' }, Number.POSITIVE_INFINITY);
      const r = await onPty(tasty(args), { env });
      expect(r.output, args).not.toMatch(SPINNER);
      expect(r.output).not.toContain('Waiting for');
      f.emu.clearFaults();
    }
  });

  it('a header names tasty, Node, the OS and the keychain; --json carries them as fields', async () => {
    const r = await timed(['doctor']);
    expect(r.lines[0]?.text).toMatch(new RegExp(`^tasty \\d+\\.\\d+\\.\\d+ · Node ${process.versions.node.replace(/\./g, '\\.')} · ${process.platform} .+ · keychain: .+$`));
    const j = await timed(['doctor', '--json']);
    const doc = JSON.parse(j.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ environment: 'sandbox', ok: true, node: process.versions.node, tasty: expect.stringMatching(/^\d+\.\d+\.\d+/), os: expect.stringContaining(process.platform), keychain: expect.any(String) });
    expect(Object.keys((doc.checks as object[])[0] as object)).toEqual(expect.arrayContaining(['id', 'status', 'summary', 'detail', 'fix', 'cause', 'title']));
  });

  it('HTTP 401 from the API root reads as the expected answer', async () => {
    const r = await timed(['doctor']);
    expect(r.stdout).toMatch(/^✓ HTTP +the API answered \(HTTP 401, as expected without a token\)/m);
  });

  it('the verdict names each problem once, without repeating the fix; one rejection is one problem under --force', async () => {
    f.emu.revokeGrant();
    expect((await timed(['token'])).code).toBe(4);
    const r = await timed(['doctor', '--force']);
    expect(r.code).toBe(1);
    const verdict = r.lines.find((l) => l.text.startsWith('Verdict:'))?.text ?? '';
    expect(verdict).toMatch(/^Verdict: 1 problem: grant revoked \(Held rejection, Token grant\)/);
    expect(verdict).not.toMatch(/Personal OAuth Grant/); // the fix is printed once, under the check
    expect(r.stdout.match(/fix: .*Personal OAuth Grant/g)).toHaveLength(1); // printed once, then pointed at
    expect(r.stdout).toMatch(/✗ Token grant .*\n(.*\n)? {4}fix: as above/);
    const doc = JSON.parse((await timed(['doctor', '--force', '--json'])).stdout) as { problems: Array<{ cause: string; checks: string[] }> };
    expect(doc.problems).toEqual([{ cause: 'grant_revoked', checks: ['rejection', 'grant'] }]);
  });
});

describe('one time format', () => {
  it('a held rejection: local time with its zone and its age for people; ISO 8601 UTC in JSON', async () => {
    f.emu.revokeGrant();
    await timed(['token']);
    const utc = await timed(['status']);
    expect(utc.stdout).toMatch(/Rejected by tastytrade at \d\d:\d\d:\d\d UTC, \d+ s ago:/);
    const ny = await timed(['doctor'], { TZ: 'America/New_York' });
    expect(ny.stdout).toMatch(/rejected these credentials at (\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d E[SD]T, \d+ s ago/);
    const token = await timed(['token']);
    expect(token.stderr).toMatch(/held since \d\d:\d\d:\d\d UTC, \d+ s ago/);
    const json = JSON.parse((await timed(['status', '--json'])).stdout) as { environments: Array<{ rejection: { at: string } }> };
    expect(json.environments[0]?.rejection.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  });
});

describe('balances for people', () => {
  it('several accounts: one table with nicknames and an exact total row, within 80 columns', async () => {
    const r = await timed(['balances']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(80);
    expect(lines[1]).toMatch(/^Account +Nickname +Net liq/);
    expect(r.stdout).toMatch(/^5WX01234 +Individual +\$82,079\.08/m);
    expect(r.stdout).toMatch(/^5WY56789 +Roth IRA +\$82,904\.90/m);
    expect(r.stdout).toMatch(/^Total +\$164,983\.98/m);
  });

  it('on a terminal, a slow fetch shows a spinner naming what it fetches; never on a pipe', async () => {
    f.emu.inject('/accounts/', { kind: 'slow', ms: 1500 }, 3);
    const r = await onPty(tasty('balances'));
    expect(r.plain).toContain('Fetching the balances of 2 accounts (sandbox)');
    expect(r.plain).toMatch(/Total +\$164,983\.98/);
    f.emu.inject('/accounts/', { kind: 'slow', ms: 1500 }, 3);
    const piped = await timed(['balances']);
    expect(piped.stderr).toBe('');
  });

  it('--watch: a status line (interval, last fetch, Ctrl-C), the nickname, one clock; stale through an outage', async () => {
    let phase = 0;
    const r = await onPty(tasty('balances --account 5WX01234 --watch 5 --timeout 2'), {
      until: (out) => {
        if (phase === 0 && out.includes('Ctrl-C to quit')) {
          phase = 1;
          f.emu.inject('/accounts/', { kind: 'status', status: 503 }, Number.POSITIVE_INFINITY);
        }
        return phase === 1 && out.includes('⚠ stale');
      },
    });
    expect(r.code).toBe(0);
    expect(r.plain).toMatch(/5WX01234 Individual/);
    expect(r.plain).toMatch(/every 5 s · last fetch \d\d:\d\d:\d\d UTC · Ctrl-C to quit/);
    expect(r.plain).toMatch(/⚠ stale: last fetch \d\d:\d\d:\d\d UTC, \d+ s ago · retrying every 5 s · Ctrl-C to quit/);
    expect(r.plain).not.toContain('updated'); // the server's time is not a second clock
  });
});

describe('npm run demo', () => {
  it('is plain text on a pipe (no escape sequences)', async () => {
    const demo = fileURLToPath(new URL('../scripts/demo.ts', import.meta.url));
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [demo], { env: baseEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(r.out).toContain('$ tasty balances');
    expect(r.out).not.toContain('\u001b');
    expect(r.code).toBe(0);
  }, 180_000);
});
