// Hostile input, fuzzed with fast-check through the real CLI entry point (run(), in-process for speed):
// every invalid value is exit 2 with zero requests; no path reaches another host; garbage files never crash it.
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SecretStore } from '../src/auth/keychain.ts';
import { inProcess, tmpDir, useEmulator } from './helpers.ts';

const emu = useEmulator({ environment: 'sandbox' });
let trap: Server;
let trapConnections = 0;
let dir: string;
const figures: string[] = [];

/** An empty keychain that must never be written by these tests. */
const noKeychain: SecretStore = {
  name: 'empty keychain',
  get: async () => undefined,
  set: async () => {
    throw new Error('keychain used');
  },
  delete: async () => {
    throw new Error('keychain used');
  },
};

async function tasty(args: string[], env: Record<string, string | undefined> = {}) {
  const t = inProcess({
    tty: false,
    stdin: process.stdin,
    store: noKeychain,
    env: {
      TASTY_CONFIG_DIR: dir,
      TASTY_API_URL: emu.url,
      TASTY_ENV: 'sandbox',
      TASTY_CLIENT_SECRET: emu.clientSecret,
      TASTY_REFRESH_TOKEN: emu.refreshToken,
      // Anything that tried another host would go through this loopback trap and be counted.
      HTTPS_PROXY: `http://127.0.0.1:${(trap.address() as AddressInfo).port}`,
      HTTP_PROXY: `http://127.0.0.1:${(trap.address() as AddressInfo).port}`,
      NO_PROXY: '127.0.0.1',
      ...env,
    },
  });
  const code = await t.run(args);
  return { code, stdout: t.out.text, stderr: t.err.text };
}

beforeAll(async () => {
  trap = createServer((s) => {
    trapConnections++;
    s.destroy();
  });
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
});
afterAll(async () => {
  trap.close();
  console.log(`[reliability] hostile input: ${figures.join('; ')}`);
});
beforeEach(() => {
  dir = tmpDir();
  trapConnections = 0;
});

const ACCOUNT_RE = /^[A-Za-z0-9]{5,12}$/;
const NUM_RUNS = 60;

async function expectUsage(args: string[], env: Record<string, string | undefined> = {}) {
  const before = emu.requests.length;
  const r = await tasty(args, env);
  if (r.code !== 2) throw new Error(`expected exit 2 for ${JSON.stringify(args)} ${JSON.stringify(env)}, got ${r.code}: ${r.stderr}`);
  expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(3); // one line plus a hint, never a stack
  expect(emu.requests.length).toBe(before);
  expect(trapConnections).toBe(0);
}

describe('fuzzed input → exit 2, zero requests', () => {
  it('account numbers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.constantFrom('../../etc/passwd', '5WX01234/../x', '5WX%2F1234', '5WX 1234', 'a'.repeat(13), '1234', '%2e%2e%2f'), fc.stringMatching(/^[A-Za-z0-9./%?#-]{0,20}$/)).filter((s) => !ACCOUNT_RE.test(s.trim())),
        async (s) => expectUsage(['balances', `--account=${s}`]),
      ),
      { numRuns: NUM_RUNS },
    );
    figures.push(`${NUM_RUNS} account numbers`);
  });

  it('--env values', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.constantFrom('prod', 'Sandbox ', 'PRODUCTION', 'cert', '')).filter((s) => !['production', 'sandbox'].includes(s.trim().toLowerCase())), async (s) => expectUsage([`--env=${s}`, 'token'])),
      { numRuns: NUM_RUNS },
    );
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1 }).filter((s) => !['production', 'sandbox'].includes(s.trim().toLowerCase())), async (s) => expectUsage(['token'], { TASTY_ENV: s })),
      { numRuns: NUM_RUNS },
    );
    figures.push(`${NUM_RUNS * 2} --env/TASTY_ENV values`);
  });

  it('TASTY_API_URL values (anything but https, or http on loopback)', async () => {
    const invalid = (v: string) => {
      try {
        const u = new URL(v.trim());
        if (u.username || u.password || u.search || u.hash) return true;
        if (u.protocol === 'https:') return false;
        if (u.protocol === 'http:') return !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname) && !/^127\./.test(u.hostname);
        return true;
      } catch {
        return true;
      }
    };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.webUrl().map((u) => u.replace(/^https:/, 'http:')),
          fc.webUrl({ withQueryParameters: true, withFragments: true }),
          fc.string(),
          fc.constantFrom('ftp://api.tastyworks.com', 'file:///etc/passwd', 'javascript:alert(1)', 'http://10.0.0.1', 'http://api.tastyworks.com', 'https://u:p@api.tastyworks.com', '//api.tastyworks.com'),
        ).filter((v) => v !== '' && invalid(v)),
        async (v) => expectUsage(['token'], { TASTY_API_URL: v }),
      ),
      { numRuns: NUM_RUNS },
    );
    figures.push(`${NUM_RUNS} TASTY_API_URL values`);
  });

  it('api paths: no absolute or scheme-relative path reaches another host', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.webUrl(),
          fc.domain().map((d) => `//${d}/customers/me`),
          fc.domain().map((d) => `\\\\${d}\\x`),
          fc.domain().map((d) => `/\\${d}`),
          fc.constantFrom('http:/evil', 'HTTPS://evil.example', ' //evil.example', 'javascript:x', '/a b', '/x#frag', '/\u0000x', 'a b', 'x#frag', 'evil.example\\x'),
        ),
        async (p) => expectUsage(['api', p]),
      ),
      { numRuns: NUM_RUNS },
    );
    figures.push(`${NUM_RUNS} api paths`);
  });

  it('api paths without a leading slash are relative to the API root: any request goes to the emulator, none elsewhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string(), fc.domain(), fc.domain().map((d) => `${d}/customers/me`), fc.domain().map((d) => `${d}:443/x`)).filter((s) => !s.trim().startsWith('/')),
        async (p) => {
          const before = emu.requests.length;
          const r = await tasty(['api', p]);
          // Refused (exit 2, nothing sent), or sent to the emulator (it answers 404 to unknown paths: exit 6).
          expect([0, 2, 6], `${JSON.stringify(p)}: ${r.stderr}`).toContain(r.code);
          if (r.code === 2) expect(emu.requests.length).toBe(before);
          for (const q of emu.requests.slice(before)) expect(q.path.startsWith('/')).toBe(true);
          expect(trapConnections).toBe(0);
        },
      ),
      { numRuns: NUM_RUNS },
    );
    figures.push(`${NUM_RUNS} relative api paths`);
  });

  it('timeouts and --watch intervals', async () => {
    const badTimeout = (s: string) => !/^\d+(\.\d+)?$/.test(s.trim()) || Number(s) <= 0 || Number(s) > 600;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.constantFrom('0', '-5', '601', '1e3', 'NaN', 'Infinity', '15s')).filter(badTimeout), async (s) => expectUsage([`--timeout=${s}`, 'token'])),
      { numRuns: NUM_RUNS },
    );
    const badInterval = (s: string) => !/^\d+$/.test(s.trim()) || Number(s) < 5 || Number(s) > 86_400;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ minLength: 1 }), fc.integer({ min: -100, max: 4 }).map(String), fc.constantFrom('4.5', '1e2', '86401')).filter((s) => badInterval(s) && !s.startsWith('-')), async (s) =>
        expectUsage(['balances', `--watch=${s}`]),
      ),
      { numRuns: NUM_RUNS },
    );
    figures.push(`${NUM_RUNS * 2} timeouts and intervals`);
  });
});

describe('garbage config and state files → recovered or a clear error, never a crash', () => {
  const outcomes = { recovered: 0, clearError: 0 };
  afterAll(() => figures.push(`garbage files: ${outcomes.recovered} recovered, ${outcomes.clearError} clear errors, 0 crashes`));

  it('random bytes, huge files and wrong types in state.json and config.json', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('state.json', 'config.json', 'credentials.json'),
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
          fc.record({ version: fc.jsonValue(), environments: fc.jsonValue() }).map((v) => Buffer.from(JSON.stringify(v))),
          fc.constant(Buffer.alloc(2 * 1024 * 1024, 'x')),
        ),
        async (name, content) => {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
          writeFileSync(join(dir, name), content);
          const env = name === 'credentials.json' ? { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined } : {};
          const r = await tasty(['token'], env);
          expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
          if (r.code === 0) outcomes.recovered++;
          else {
            // The only acceptable failures: a damaged credentials file (2), or one that holds no credentials (3).
            expect(name).toBe('credentials.json');
            expect([2, 3]).toContain(r.code);
            outcomes.clearError++;
          }
        },
      ),
      { numRuns: NUM_RUNS },
    );
  });

  it('a symlinked state file is replaced, never written through', async () => {
    const outside = join(tmpDir(), 'precious.txt');
    writeFileSync(outside, 'do not touch');
    mkdirSync(dir, { recursive: true });
    symlinkSync(outside, join(dir, 'state.json'));
    symlinkSync(outside, join(dir, 'config.json'));
    const r = await tasty(['token']);
    expect(r.code).toBe(0);
    expect(readFileSync(outside, 'utf8')).toBe('do not touch');
    const w = await tasty(['env', 'use', 'sandbox']);
    expect(w.code).toBe(0);
    expect(readFileSync(outside, 'utf8')).toBe('do not touch');
    outcomes.recovered++;
  });
});
