// Secrets never leak: every command (with and without --verbose, succeeding and failing) is run against the emulator,
// then every captured output, every file in the config dir and the processes' temp dir are scanned for the refresh
// token, the client secret, every access token and every quote token the emulator issued. Allowed: `tasty token`'s and
// `tasty quote-token`'s stdout, and the token cache (state.json) — the one file whose job is to hold them.
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fixture, fixture, leaks, type RunResult, scan, tmpDir } from './helpers.ts';

let f: Fixture;
let tmp: string;
const outputs: Array<{ args: string[]; r: RunResult }> = [];

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

beforeAll(async () => {
  f = await fixture();
  tmp = tmpDir('tasty-secrets-tmp-');
  mkdirSync(tmp, { recursive: true });
});
afterAll(async () => {
  await f.cleanup();
});

describe('secrets', () => {
  it('no secret in any output, file or temp file', async () => {
    const env = { TMPDIR: tmp };
    const noEnv = { ...env, TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
    const input = `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`;
    const battery: Array<[string[], Record<string, string | undefined>, string?]> = [
      [['login', '--stdin', '--insecure-storage'], noEnv, input],
      [['login', '--stdin', '--insecure-storage', '--verbose'], noEnv, input],
      [['status', '--all'], noEnv],
      [['status', '--json', '--verbose'], noEnv],
      [['token'], noEnv],
      [['token', '--json', '--verbose'], noEnv],
      [['quote-token', '--verbose'], noEnv],
      [['quote-token', '--json', '--verbose'], noEnv],
      [['exec', '--token-only', '--verbose', '--', 'true'], noEnv],
      [['exec', '--verbose', '--', 'true'], noEnv],
      [['exec', '--verbose', '--', 'tasty-no-such-command-xyz'], noEnv],
      [['env', '--verbose'], env],
      [['accounts', '--all', '--verbose'], env],
      [['accounts', '--json'], env],
      [['balances', '--verbose'], env],
      [['balances', '--json', '--verbose'], env],
      [['api', '/customers/me', '--verbose'], env],
      [['doctor', '--verbose'], env],
      [['doctor', '--json', '--all', '--verbose'], env],
      [['api', '/nope', '--verbose'], env],
      [['balances', '--account', 'ZZZ99999', '--verbose'], env],
      [['token', '--verbose'], { ...env, TASTY_API_URL: 'http://127.0.0.1:9' }],
      [['login', '--stdin', '--insecure-storage', '--verbose'], noEnv, `${f.emu.clientSecret}x\n${f.emu.refreshToken}\n`],
      [['login', '--stdin', '--verbose'], { ...noEnv, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' }, input],
    ];
    for (const [args, e, stdin] of battery) outputs.push({ args, r: await f.run(args, { env: e, input: stdin }) });
    // No market-data access, with a fresh cache (so the quote token is requested, and refused).
    f.emu.noMarketData = true;
    outputs.push({ args: ['quote-token', '--verbose'], r: await f.run(['quote-token', '--verbose'], { env: { ...env, TASTY_CONFIG_DIR: join(tmp, 'config2') } }) });
    f.emu.noMarketData = false;
    // Server-side revocation, a re-mint, then a revoked grant with its held rejection.
    f.emu.revokeAccessTokens();
    outputs.push({ args: ['balances', '--verbose'], r: await f.run(['balances', '--verbose'], { env }) });
    f.emu.revokeGrant();
    f.emu.revokeAccessTokens();
    for (const args of [['balances', '--verbose'], ['token', '--verbose'], ['quote-token', '--verbose'], ['exec', '--verbose', '--', 'true'], ['doctor', '--force', '--verbose'], ['status', '--verbose']]) outputs.push({ args, r: await f.run(args, { env }) });

    f.emu.inject('api', { kind: 'html-401' }, Number.POSITIVE_INFINITY);
    outputs.push({ args: ['api', '/customers/me', '--verbose'], r: await f.run(['api', '/customers/me', '--verbose'], { env }) });
    outputs.push({ args: ['logout', '--all', '--verbose'], r: await f.run(['logout', '--all', '--verbose'], { env }) });

    const accessTokens = f.emu.issuedTokens();
    expect(accessTokens.length).toBeGreaterThan(2);
    // Outputs (fixture.run already threw on a leak; count them here for the figure).
    let hits = 0;
    const quoteTokens = f.emu.quoteTokens;
    expect(quoteTokens.length).toBeGreaterThan(0);
    for (const { args, r } of outputs) hits += leaks(r, args, [f.emu.clientSecret, f.emu.refreshToken], accessTokens, quoteTokens).length;
    // The token command's stdout is the one place an access token is meant to appear.
    expect(outputs.find((o) => o.args[0] === 'token' && o.r.code === 0)?.r.stdout).toMatch(/^at_/);
    // Files: the config dir (credentials.json is gone after logout; state.json may hold only access tokens) and temp files.
    const files = [...walk(f.dir), ...walk(tmp)];
    let fileHits = 0;
    for (const p of files) {
      const text = readFileSync(p, 'utf8');
      for (const s of [f.emu.clientSecret, f.emu.refreshToken]) if (text.includes(s)) fileHits++;
      if (!p.endsWith('state.json')) for (const t of [...accessTokens, ...quoteTokens]) if (text.includes(t)) fileHits++;
    }
    expect(hits).toBe(0);
    expect(fileHits).toBe(0);
    console.log(`[reliability] secrets: ${outputs.length} commands (${outputs.filter((o) => o.args.includes('--verbose')).length} with --verbose), ${outputs.length * 2} outputs and ${files.length} files scanned for ${2 + accessTokens.length + quoteTokens.length} secrets: ${hits + fileHits} hits; this worker's fixture runs: ${scan.outputs} outputs, ${scan.hits} hits`);
  }, 120_000);
});
