// npm run emulator (scripts/emulator.ts): the export lines work as printed, faults go in through stdin and the
// admin URL, and Ctrl-C ends it cleanly. The built CLI is run against it, as a user would.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROOT, runTasty, tmpDir } from './helpers.ts';

interface Playground {
  child: ChildProcessWithoutNullStreams;
  out: { stdout: string; stderr: string };
  vars: Record<string, string>;
}

async function until(pred: () => boolean, ms = 10_000, p: Playground = shared): Promise<void> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  if (!pred()) throw new Error(`timed out; playground stdout:\n${p.out.stdout}\nstderr:\n${p.out.stderr}`);
}

/** `npm run emulator` as a user starts it, once its two export lines and the help are out. */
async function start(): Promise<Playground> {
  const child = spawn(process.execPath, [join(ROOT, 'scripts/emulator.ts')], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' } });
  const p: Playground = { child, out: { stdout: '', stderr: '' }, vars: {} };
  child.stdout.setEncoding('utf8').on('data', (d: string) => (p.out.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (p.out.stderr += d));
  await until(() => p.out.stdout.split('\n').filter((l) => l.startsWith('export ')).length === 2 && p.out.stderr.includes('Ctrl-C stops it'), 10_000, p);
  for (const line of p.out.stdout.trim().split('\n')) {
    expect(line).toMatch(/^export( [A-Z_]+=\S+)+$/); // one eval-able line each, nothing to quote
    for (const [, k, v] of line.matchAll(/ ([A-Z_]+)=(\S+)/g)) p.vars[k as string] = v as string;
  }
  return p;
}

// One playground for the file (faults cleared before each test); the Ctrl-C test stops one of its own, so the
// tests hold in any order.
let shared: Playground;
let child: ChildProcessWithoutNullStreams;
const vars: Record<string, string> = {};

async function admin(command: string): Promise<{ status: number; text: string }> {
  const r = await fetch(vars.TASTY_EMULATOR_ADMIN ?? '', { method: 'POST', body: command });
  return { status: r.status, text: await r.text() };
}

/** A fresh config dir each time: no cached token, so the next command has to mint. */
const fresh = () => ({ ...vars, TASTY_CONFIG_DIR: tmpDir() });

beforeAll(async () => {
  shared = await start();
  child = shared.child;
  Object.assign(vars, shared.vars);
});

beforeEach(async () => {
  expect((await admin('clear')).status).toBe(200);
});

afterAll(async () => {
  // Ctrl-C, as a user stops it: it removes its own config dir; SIGKILL only if it does not go.
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await gone;
  clearTimeout(t);
});

describe('npm run emulator', () => {
  it('prints the variables a user evals: loopback URL, sandbox, both secrets, its own config dir and keychain entry', () => {
    expect(vars.TASTY_API_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(vars.TASTY_ENV).toBe('sandbox');
    expect(vars.TASTY_CLIENT_SECRET).toMatch(/^cs_[0-9a-f]+$/);
    expect(vars.TASTY_REFRESH_TOKEN?.split('.')).toHaveLength(3);
    expect(vars.TASTY_KEYCHAIN_SERVICE).toBe('tasty-playground');
    expect(existsSync(vars.TASTY_CONFIG_DIR ?? '')).toBe(true);
    expect(shared.out.stderr).toMatch(/revoke/);
    expect(shared.out.stderr).toMatch(/hang/);
    expect(shared.out.stderr).toMatch(/5xx/);
  });

  it('the CLI works against it with exactly those variables, and the request log shows it', async () => {
    const r = await runTasty(['accounts', '--json'], { env: vars });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveLength(2);
    await until(() => /POST \/oauth\/token → 200/.test(shared.out.stderr) && /GET \/customers\/me\/accounts → 200/.test(shared.out.stderr));
  });

  it('5xx through the admin URL: the next requests fail with that status; clear ends it', async () => {
    const a = await admin('5xx 502 api 10');
    expect(a.status).toBe(200);
    expect(a.text).toMatch(/HTTP 502: the next 10 requests to api/);
    const r = await runTasty(['api', '/customers/me'], { env: vars });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/502/);
    expect((await admin('clear')).status).toBe(200);
    expect((await runTasty(['api', '/customers/me'], { env: vars })).code).toBe(0);
  });

  it('a bad command is refused with the reason (HTTP 400), nothing armed', async () => {
    const a = await admin('hang everywhere');
    expect(a.status).toBe(400);
    expect(a.text).toMatch(/target must be token, api, any or a \/path-prefix/);
    expect((await runTasty(['token'], { env: fresh() })).code).toBe(0);
  });

  it('hang on the token endpoint: tasty gives up after its timeout (exit 5)', async () => {
    await admin('hang token');
    const r = await runTasty(['token', '--timeout', '1'], { env: fresh() });
    expect(r.code).toBe(5);
  });

  it('revoke typed on stdin: the grant is refused as "Grant revoked" (exit 4) until clear', async () => {
    child.stdin.write('revoke\n');
    await until(() => shared.out.stderr.includes('grant revoked:'));
    const r = await runTasty(['token'], { env: fresh() });
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/Grant revoked/);
    child.stdin.write('clear\n');
    await until(() => shared.out.stderr.includes('every fault and the revocation cleared'));
    expect((await runTasty(['token'], { env: fresh() })).code).toBe(0);
  });

  it('Ctrl-C stops it with exit 0 and removes its config dir', async () => {
    const own = await start();
    try {
      expect(existsSync(own.vars.TASTY_CONFIG_DIR ?? '')).toBe(true);
      const done = new Promise<number | null>((resolve) => own.child.on('exit', (code) => resolve(code)));
      own.child.kill('SIGINT');
      expect(await done).toBe(0);
      expect(existsSync(own.vars.TASTY_CONFIG_DIR ?? '')).toBe(false);
      expect(own.out.stderr).toMatch(/tasty playground: stopped/);
    } finally {
      if (own.child.exitCode === null) own.child.kill('SIGKILL');
    }
  });
});
