// Reliability under load, crashes, faults and a hostile server: nothing lost, nothing leaked, no IP block earned.
// Each test prints its figures (runs, faults, requests counted) for the README's "Reliability" section.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STATE_VERSION } from '../src/auth/state.ts';
import type { Fault, FaultTarget } from './emulator/emulator.ts';
import { writeToFile } from '../src/auth/credentials.ts';
import { baseEnv, BIN, fixture, KEYRING_SESSION, spawnTasty, spawnTracked, useFixture, waitFor } from './helpers.ts';
import { expectMode } from './platforms.ts';

const f = useFixture();

/**
 * Two tiers: `npm test` (a developer's loop) runs the same checks with smaller counts; `npm run test:stress`
 * (TASTY_STRESS=1, also run by CI) keeps the full load and crash counts of the README's Reliability section.
 */
const STRESS = process.env.TASTY_STRESS === '1';
const LOAD_ROUNDS = STRESS ? 20 : 2;
const CRASHES = STRESS ? 100 : 12;
const REVOKED_RUNS = STRESS ? 50 : 10;
// Exact exit codes of the hostile-server commands: each renders what it can (never 1, an internal error).
const HOSTILE_CODES: Record<string, number> = { 'accounts --all': 0, balances: 0, 'balances --json': 0, 'accounts --json': 0, 'api /customers/me': 0, 'doctor --show-accounts': 0 };

const figures = (line: string) => console.log(`[reliability] ${line}`);

function stateParses(dir: string): boolean {
  const p = join(dir, 'state.json');
  if (!existsSync(p)) return true;
  try {
    return JSON.parse(readFileSync(p, 'utf8')).version === STATE_VERSION;
  } catch {
    return false;
  }
}

describe('load', () => {
  it(`32 concurrent \`balances --json\` with an empty cache → exactly one mint, all exit 0; ${LOAD_ROUNDS} rounds`, async () => {
    let runs = 0;
    const rounds = LOAD_ROUNDS;
    for (let round = 0; round < rounds; round++) {
      f.emu.reset();
      spawnSync('rm', ['-f', join(f.dir, 'state.json')]);
      const results = await Promise.all(Array.from({ length: 32 }, () => f.run(['balances', '--json'])));
      runs += results.length;
      for (const r of results) {
        expect(r.code).toBe(0);
        const doc = JSON.parse(r.stdout) as Array<{ accountNumber: string }>;
        expect(doc.map((d) => d.accountNumber)).toEqual(['5WX01234', '5WY56789']);
      }
      expect(f.emu.mints).toBe(1);
      expect(f.emu.tokenRequests).toBe(1);
      expect(stateParses(f.dir)).toBe(true);
    }
    figures(`load: ${rounds} rounds × 32 concurrent cold starts = ${runs} runs, ${rounds} mints (1 per round), all exit 0`);
  }, 240_000);
});

describe('crash consistency', () => {
  it(`SIGKILL at random points during mint and state write, ${CRASHES} times: state parses, lock recovers, credentials untouched`, async () => {
    // Credentials in the file store, so "untouched" is a byte comparison.
    const login = await f.run(['login', '--stdin', '--insecure-storage'], { input: `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`, env: { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined } });
    expect(login.code).toBe(0);
    const credFile = join(f.dir, 'credentials.json');
    const creds = readFileSync(credFile);
    const env = { ...f.env, TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
    let killed = 0;
    let recoveredWithWarning = 0;
    let maxFollowUpMs = 0;
    for (let i = 0; i < CRASHES; i++) {
      spawnSync('rm', ['-f', join(f.dir, 'state.json')]);
      f.emu.inject('token', { kind: 'slow', ms: 20 + Math.floor(Math.random() * 40) });
      const child = spawnTasty(['balances', '--json'], env, 'ignore');
      const closed = new Promise((r) => child.once('close', r));
      await new Promise((r) => setTimeout(r, 40 + Math.random() * 110));
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        killed++;
      }
      await closed;
      f.emu.clearFaults();
      expect(readFileSync(credFile).equals(creds)).toBe(true);
      const next = await f.run(['token'], { env });
      expect(next.code).toBe(0);
      if (/damaged|ignoring it/.test(next.stderr)) recoveredWithWarning++;
      maxFollowUpMs = Math.max(maxFollowUpMs, next.ms);
      expect(next.ms).toBeLessThan(5_000); // a dead holder's lock is replaced at once
      expect(stateParses(f.dir)).toBe(true);
      expect(readdirSync(f.dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
    figures(`crash: ${CRASHES} runs, ${killed} SIGKILLed mid-flight, state unreadable after ${recoveredWithWarning}, next command ≤ ${Math.round(maxFollowUpMs)} ms, credentials byte-identical ${CRASHES}/${CRASHES}`);
  }, 240_000);
});

describe('faults', () => {
  const cases: Array<{ target: FaultTarget; fault: Fault; times: number; code: number; re: RegExp; transient?: boolean }> = [
    { target: 'token', fault: { kind: 'revoked' }, times: Infinity, code: 4, re: /"Grant revoked"/ },
    { target: 'token', fault: { kind: 'invalid-jwt' }, times: Infinity, code: 4, re: /"Invalid JWT"/ },
    { target: 'token', fault: { kind: 'secret-mismatch' }, times: Infinity, code: 4, re: /"Client secret mismatch"/ },
    { target: 'token', fault: { kind: 'transient-invalid-request' }, times: 1, code: 0, re: /^$/, transient: true },
    { target: 'token', fault: { kind: 'transient-invalid-request' }, times: Infinity, code: 6, re: /User is not a TastyTrade customer/ },
    { target: 'token', fault: { kind: 'status', status: 500 }, times: 2, code: 0, re: /^$/, transient: true },
    { target: 'token', fault: { kind: 'status', status: 503 }, times: Infinity, code: 6, re: /503/ },
    { target: 'token', fault: { kind: 'status', status: 429, retryAfter: '1' }, times: 1, code: 0, re: /^$/, transient: true },
    { target: 'token', fault: { kind: 'reset' }, times: 1, code: 0, re: /^$/, transient: true },
    { target: 'token', fault: { kind: 'reset' }, times: Infinity, code: 5, re: /reset/ },
    { target: 'token', fault: { kind: 'hang' }, times: 1, code: 5, re: /did not answer within 1 s.*\n.*8 hours/ },
    { target: 'token', fault: { kind: 'html-401' }, times: Infinity, code: 6, re: /HTML.*\n.*User-Agent/ },
    { target: 'api', fault: { kind: 'unauthorized' }, times: 1, code: 0, re: /^$/, transient: true },
    { target: 'api', fault: { kind: 'status', status: 403 }, times: Infinity, code: 6, re: /not permitted/ },
    { target: 'api', fault: { kind: 'status', status: 404 }, times: Infinity, code: 6, re: /not found|unknown account/i },
    { target: 'api', fault: { kind: 'status', status: 429 }, times: 2, code: 0, re: /^$/, transient: true },
    { target: 'api', fault: { kind: 'status', status: 429 }, times: Infinity, code: 6, re: /rate limited/ },
    { target: 'api', fault: { kind: 'status', status: 500 }, times: 1, code: 0, re: /^$/, transient: true },
    { target: 'api', fault: { kind: 'status', status: 502 }, times: 2, code: 0, re: /^$/, transient: true },
    { target: 'api', fault: { kind: 'status', status: 503 }, times: Infinity, code: 6, re: /503/ },
    { target: 'api', fault: { kind: 'reset' }, times: 2, code: 0, re: /^$/, transient: true },
    { target: 'api', fault: { kind: 'hang' }, times: 1, code: 5, re: /did not answer/ },
    { target: 'api', fault: { kind: 'slow', ms: 300 }, times: 1, code: 0, re: /^$/, transient: true },
    { target: 'api', fault: { kind: 'html-401' }, times: Infinity, code: 6, re: /HTML/ },
    { target: 'api', fault: { kind: 'html', status: 502 }, times: Infinity, code: 6, re: /HTML page/ },
    { target: 'api', fault: { kind: 'truncated' }, times: Infinity, code: 6, re: /not JSON/ },
    { target: 'api', fault: { kind: 'huge', bytes: 10 * 1024 * 1024 }, times: Infinity, code: 6, re: /larger than 8 MiB/ },
    { target: 'api', fault: { kind: 'body', status: 200, body: '{"data":{"items":"nope"}}' }, times: Infinity, code: 6, re: /unexpected response/ },
    { target: 'api', fault: { kind: 'body', status: 200, body: '{"data":[1,2]}' }, times: Infinity, code: 6, re: /unexpected response/ },
  ];

  it(`every fault (${cases.length}) at the token and data endpoints → the documented exit code; stored credentials byte-identical`, async () => {
    // Each case its own emulator and config dir (credentials in the file store), four cases at a time.
    let requests = 0;
    const env = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
    const one = async (c: (typeof cases)[number]) => {
      const g = await fixture();
      try {
        writeToFile(g.dir, 'sandbox', { clientSecret: g.emu.clientSecret, refreshToken: g.emu.refreshToken }, new Date());
        const credFile = join(g.dir, 'credentials.json');
        const creds = readFileSync(credFile);
        if (c.target === 'api') expect((await g.run(['token'], { env })).code).toBe(0); // data faults with a cached token
        g.emu.inject(c.target, c.fault, c.times);
        const r = await g.run(['balances', '--timeout', '1'], { env });
        requests += g.emu.requests.length;
        const name = `${c.target}:${c.fault.kind}${'status' in c.fault ? c.fault.status : ''}×${c.times}`;
        expect({ fault: name, code: r.code }).toEqual({ fault: name, code: c.code });
        if (c.code === 0) expect(r.stdout).toMatch(/Net liq/);
        else expect(r.stderr).toMatch(c.re);
        expect(r.stderr).not.toMatch(/\n\s+at /); // never a stack trace
        expect(readFileSync(credFile).equals(creds)).toBe(true);
        expect(stateParses(g.dir)).toBe(true);
      } finally {
        await g.cleanup();
      }
    };
    const queue = [...cases];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let c = queue.shift(); c; c = queue.shift()) await one(c);
      }),
    );
    figures(`faults: ${cases.length} injected (${cases.filter((c) => c.transient).length} transient, all recovered by retry), ${requests} requests counted, credentials byte-identical after each`);
  }, 180_000);

  it.runIf(KEYRING_SESSION)('with the real keychain: faults leave the Secret Service entry byte-identical', async () => {
    const env = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
    expect((await f.run(['login', '--stdin'], { input: `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`, env })).code).toBe(0);
    const read = () => spawnSync('secret-tool', ['lookup', 'service', f.env.TASTY_KEYCHAIN_SERVICE ?? '', 'username', 'sandbox'], { encoding: 'utf8' }).stdout;
    const before = read();
    expect(before).toContain(f.emu.refreshToken);
    for (const fault of [{ kind: 'revoked' }, { kind: 'status', status: 500 }, { kind: 'reset' }, { kind: 'html-401' }] as Fault[]) {
      spawnSync('rm', ['-f', join(f.dir, 'state.json')]);
      f.emu.reset();
      f.emu.inject('token', fault, Infinity);
      const r = await f.run(['balances'], { env });
      expect(r.code).not.toBe(0);
      expect(read()).toBe(before);
      // the held rejection is cleared by a fresh login of the same (still valid) credentials in this test only
      spawnSync('rm', ['-f', join(f.dir, 'state.json')]);
    }
    expect((await f.run(['logout'], { env })).code).toBe(0);
  });
});

describe('IP-block safety', () => {
  it(`${REVOKED_RUNS} commands against a revoked grant send exactly one token request`, async () => {
    f.emu.revokeGrant();
    const cmds = [['token'], ['balances'], ['accounts'], ['api', '/customers/me'], ['balances', '--json']];
    for (let i = 0; i < REVOKED_RUNS; i++) {
      const r = await f.run(cmds[i % cmds.length] as string[]);
      expect(r.code).toBe(4);
    }
    expect(f.emu.tokenRequests).toBe(1);
    figures(`ip-block: ${REVOKED_RUNS} commands against a revoked grant → ${f.emu.tokenRequests} token request`);
  }, 60_000);

  it('--watch against a failing token endpoint never sends more than one mint a minute', async () => {
    f.emu.expiresIn = 2;
    const child = spawnTasty(['balances', '--account', '5WX01234', '--watch', '5', '--json'], f.env);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    for (let i = 0; i < 100 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('5WX01234');
    const before = f.emu.tokenRequests;
    const t0 = performance.now();
    f.emu.inject('token', { kind: 'status', status: 500 }, Infinity);
    // Two watch ticks after the fault (each past its 2-s token's life), waited for, not slept for.
    // A tick is a line of data on stdout or a "stale:" line on stderr.
    const ticks = () => (out.match(/\n/g)?.length ?? 0) + (err.match(/^stale: /gm)?.length ?? 0);
    await waitFor(() => ticks() >= 3, 20_000);
    child.kill('SIGINT');
    const code = await new Promise((r) => child.once('close', r));
    const sent = f.emu.tokenRequests - before;
    expect(sent).toBeLessThanOrEqual(1);
    expect(code).toBe(0);
    figures(`ip-block: --watch, two ticks (${Math.round((performance.now() - t0) / 1000)} s) against a failing token endpoint (2-s tokens) → ${sent} token request`);
  }, 30_000);
});

describe('hostile server', () => {
  it('escape sequences, wrong types and odd bodies → sanitised output or clear errors, never raw escapes', async () => {
    const esc = '\u001b]52;c;ZXZpbA==\u0007\u001b[2J\u009b6n';
    f.emu.accounts[0] = { ...(f.emu.accounts[0] as (typeof f.emu.accounts)[0]), nickname: `Nick${esc}`, 'account-type-name': `Type${esc}`, 'authority-level': 5 as unknown as string };
    f.emu.balances['5WX01234'] = { 'net-liquidating-value': { nested: true }, 'cash-balance': 'NaN-ish', currency: `US${esc}`, 'updated-at': `x${esc}` };
    f.emu.customer = { 'first-name': `Ada${esc}`, 'last-name': ['x'] };
    const outputs: string[] = [];
    const codes: Record<string, number | null> = {};
    for (const args of [['accounts', '--all'], ['balances'], ['balances', '--json'], ['accounts', '--json'], ['api', '/customers/me'], ['doctor', '--show-accounts']]) {
      const r = await f.run(args);
      codes[args.join(' ')] = r.code;
      outputs.push(r.stdout, r.stderr);
    }
    expect(codes).toEqual(HOSTILE_CODES);
    const all = outputs.join('\n');
    expect(all).not.toMatch(/[\u0007\u001b\u009b]/);
    expect(all).toContain('Nick]52;c;ZXZpbA==[2J6n');
    figures(`hostile server: 6 commands over escape sequences and wrong types → 0 raw escape bytes on the terminal`);
  });

  it('files and directories stay 0600/0700 under umask 000', async () => {
    // Async: the emulator lives in this process and must keep answering.
    const run = (args: string, input = '') =>
      new Promise<number | null>((resolve) => {
        const c = spawnTracked('sh', ['-c', `umask 000; exec "${process.execPath}" "${BIN}" ${args}`], { env: baseEnv({ ...f.env, TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined }), stdio: ['pipe', 'ignore', 'ignore'] });
        c.stdin.end(input);
        c.on('close', resolve);
      });
    spawnSync('rm', ['-rf', f.dir]);
    expect(await run('login --stdin --insecure-storage', `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`)).toBe(0);
    expect(await run('env use sandbox')).toBe(0);
    expect(await run('accounts use 5WX01234')).toBe(0);
    expectMode(f.dir, '700');
    for (const name of readdirSync(f.dir)) expectMode(join(f.dir, name), '600');
    expect(readdirSync(f.dir).sort()).toEqual(['config.json', 'credentials.json', 'state.json']);
  });
});
