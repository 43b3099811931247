// Property: random interleavings of three credential sets (valid, revoked, belonging to the other environment)
// across concurrent engines sharing one config dir and two APIs. Whatever the order, a rejected grant is sent at
// most once per API, and a token is only ever used with the credentials and the API it was minted for.
import { rmSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/api/client.ts';
import { AuthEngine } from '../src/auth/engine.ts';
import type { Environment } from '../src/config.ts';
import { CredentialsRejectedError, WrongEnvironmentError } from '../src/errors.ts';
import { Emulator, type Grant } from './emulator/emulator.ts';
import { MemoryStore, runTasty, tmpDir } from './helpers.ts';

const sandbox = new Emulator({ environment: 'sandbox' });
const production = new Emulator({ environment: 'production' });
let sets: Record<'valid' | 'revoked' | 'otherEnv', { clientSecret: string; refreshToken: string }>;

beforeAll(async () => {
  await sandbox.start();
  await production.start();
  const revoked: Grant = sandbox.addGrant('revoked');
  sandbox.revokeGrant(revoked.refreshToken);
  const other: Grant = production.addGrant('production');
  sets = { valid: { clientSecret: sandbox.clientSecret, refreshToken: sandbox.refreshToken }, revoked, otherEnv: other };
});
afterAll(async () => {
  await sandbox.stop();
  await production.stop();
});

const emuFor = (e: Environment) => (e === 'sandbox' ? sandbox : production);

function engine(dir: string, set: keyof typeof sets): AuthEngine {
  const c = sets[set];
  const clients = new Map<Environment, ApiClient>();
  return new AuthEngine({
    dir,
    env: { TASTY_CLIENT_SECRET: c.clientSecret, TASTY_REFRESH_TOKEN: c.refreshToken },
    now: Date.now,
    client: async (e) => {
      let cl = clients.get(e);
      if (!cl) {
        cl = new ApiClient({ baseUrl: emuFor(e).url, environment: e, timeoutMs: 5000, userAgent: 'tasty-cli/test', env: {}, retry: { maxRetries: 2, baseDelayMs: 1, retryAfterCapMs: 5 } });
        clients.set(e, cl);
      }
      return cl;
    },
    api: (e) => emuFor(e).url,
    keychain: async () => new MemoryStore(),
    warn: () => {},
    timeoutMs: 5000,
  });
}

const proc = fc.record({
  set: fc.constantFrom('valid', 'revoked', 'otherEnv') as fc.Arbitrary<keyof typeof sets>,
  env: fc.constantFrom('sandbox', 'production') as fc.Arbitrary<Environment>,
  call: fc.boolean(),
});

/**
 * One random schedule in a fresh config dir, then the invariants at both APIs: each grant refused at most once, and
 * every API call (`path`) answered 200, i.e. it carried a token of a grant valid at that API.
 */
async function schedule(path: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = tmpDir();
  sandbox.reset();
  production.reset();
  try {
    await body(dir);
    for (const emu of [sandbox, production]) {
      for (const s of Object.values(sets)) expect(emu.tokenRequestsFor(s.refreshToken).refused).toBeLessThanOrEqual(1);
      for (const r of emu.requests.filter((q) => q.path === path)) expect(r.status).toBe(200);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('random interleavings of three credential sets across concurrent engines', () => {
  it('each rejected grant is sent at most once per API; each token is used only with its own credentials and API', async () => {
    let runs = 0;
    let processes = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(proc, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 6 }), async (batches) => {
        runs++;
        await schedule('/customers/me', async (dir) => {
          for (const batch of batches) {
            await Promise.all(
              batch.map(async (p) => {
                processes++;
                const e = engine(dir, p.set);
                const emu = emuFor(p.env);
                try {
                  const { token } = await e.getToken(p.env);
                  // The token was minted by THIS API from THESE credentials.
                  expect(emu.grantOf(token.accessToken)).toBe(sets[p.set].refreshToken);
                  if (p.call) expect((await e.call(p.env, 'GET', '/customers/me')).status).toBe(200);
                } catch (err) {
                  // Refused by tastytrade, or not sent because the grant was seen working in the other environment.
                  if (!(err instanceof CredentialsRejectedError) && !(err instanceof WrongEnvironmentError)) throw err;
                  // Only credentials that do not work at this API are ever refused.
                  expect(p.set === 'valid' && p.env === 'sandbox').toBe(false);
                  expect(p.set === 'otherEnv' && p.env === 'production').toBe(false);
                }
              }),
            );
          }
        });
      }),
      { numRuns: 60 },
    );
    console.log(`[interleavings] ${runs} random schedules, ${processes} engines: no rejected grant sent twice, no token crossed`);
  }, 120_000);
});

describe('the same with real processes of the built binary', () => {
  it('concurrent `tasty token` / `tasty accounts` processes: no rejected grant sent twice, no token crossed', async () => {
    let runs = 0;
    let spawned = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(proc, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }), async (batches) => {
        runs++;
        await schedule('/customers/me/accounts', async (dir) => {
          for (const batch of batches) {
            const results = await Promise.all(
              batch.map((p) => {
                spawned++;
                const c = sets[p.set];
                const env = { TASTY_CONFIG_DIR: dir, TASTY_ENV: p.env, TASTY_API_URL: emuFor(p.env).url, TASTY_CLIENT_SECRET: c.clientSecret, TASTY_REFRESH_TOKEN: c.refreshToken };
                return runTasty(p.call ? ['accounts', '--json'] : ['token'], { env }).then((r) => ({ p, r }));
              }),
            );
            for (const { p, r } of results) {
              const works = (p.set === 'valid' && p.env === 'sandbox') || (p.set === 'otherEnv' && p.env === 'production');
              // 4: refused by tastytrade (once), or held; 2: not sent, the grant works in the other environment.
              if (works) expect(r.code).toBe(0);
              else expect(r.code === 2 ? /works in \w+, not \w+; it was not sent/.test(r.stderr) : r.code === 4 && /rejected the \w+ credentials/.test(r.stderr)).toBe(true);
              if (works && !p.call) expect(emuFor(p.env).grantOf(r.stdout.trim())).toBe(sets[p.set].refreshToken);
            }
          }
        });
      }),
      { numRuns: 8 },
    );
    console.log(`[interleavings] ${runs} random schedules of real processes, ${spawned} processes: no rejected grant sent twice, no token crossed`);
  }, 180_000);
});
