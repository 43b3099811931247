// Real clients under `tasty exec`, configured only from the variables it injects, against the emulator, with
// keychain-stored credentials (real gnome-keyring in CI; the 0600 file without a Secret Service):
// - tastytrade's official JS SDK (@tastytrade/api) fetching the accounts and balances;
// - a script that uses only TASTY_ACCESS_TOKEN (in exec.e2e.test.ts).
// Mints are counted: N execs within a token's life cost one between them.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KEYRING_REQUIRED, KEYRING_SESSION, leaks, ROOT, runTasty, useFixture } from './helpers.ts';

const f = useFixture({ environment: 'sandbox' });
const store = KEYRING_SESSION || KEYRING_REQUIRED ? 'keychain' : 'file';
const noVars = { TASTY_CLIENT_SECRET: undefined, TASTY_REFRESH_TOKEN: undefined };
const sdk = join(ROOT, 'test', 'peers', 'sdk-balances.mjs');

async function login(): Promise<void> {
  const r = await f.run(['login', '--stdin', ...(store === 'file' ? ['--insecure-storage'] : [])], { input: `${f.emu.clientSecret}\n${f.emu.refreshToken}\n`, env: noVars });
  expect(r.code).toBe(0);
}

async function execSdk(extra: Record<string, string> = {}) {
  const r = await runTasty(['exec', '--', process.execPath, sdk], { env: { ...f.env, ...noVars, ...extra } });
  // The SDK's output is data; tasty's stderr and the SDK's output must carry no secret and no access token.
  const found = leaks(r, ['exec'], [f.emu.clientSecret, f.emu.refreshToken], f.emu.issuedTokens(), f.emu.quoteTokens);
  if (found.length) throw new Error(`tasty exec (SDK) leaked: ${found.join(', ')}`);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { accounts: string[]; balances: Record<string, unknown> };
}

describe(`the official JS SDK under tasty exec (${store})`, () => {
  it('on tasty’s token: accounts and balances; 6 runs within the token’s life → 1 mint between tasty and the SDK', async () => {
    await login();
    for (let i = 0; i < 6; i++) {
      const out = await execSdk({ SDK_USE_TASTY_TOKEN: '1' });
      expect(out.accounts).toEqual(['5WX01234', '5WY56789', '5WZ00042']);
      expect(out.balances['account-number']).toBe('5WX01234');
      expect(typeof out.balances['net-liquidating-value']).toBe('string');
    }
    expect(f.emu.mints).toBe(1); // the login's; every SDK run used tasty's cached token
    expect(f.emu.requests.filter((r) => r.userAgent === 'tastytrade-sdk-js').map((r) => r.path)).not.toContain('/oauth/token');
    expect(f.emu.count('/customers/me/accounts')).toBe(6 + 1); // + the login's
    console.log(`[peers] login + 6 × tasty exec (official JS SDK on TASTY_ACCESS_TOKEN): ${f.emu.mints} mint`);
  });

  it('on the injected secrets alone (TASTYTRADE_CLIENT_SECRET/REFRESH_TOKEN): the SDK mints its own token and works', async () => {
    await login();
    const out = await execSdk();
    expect(out.accounts).toHaveLength(3);
    const sdkMints = f.emu.requests.filter((r) => r.path === '/oauth/token' && r.userAgent === 'tastytrade-sdk-js');
    expect(sdkMints.map((r) => r.status)).toEqual([200]);
    expect(sdkMints[0]?.grant).toBe(f.emu.refreshToken); // the stored grant, handed over by tasty exec
  });

  it('--token-only: the SDK has no secrets, uses tasty’s token, and never asks for one', async () => {
    await login();
    const r = await runTasty(['exec', '--token-only', '--', process.execPath, sdk], { env: { ...f.env, ...noVars, SDK_USE_TASTY_TOKEN: '1' } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).accounts).toHaveLength(3);
    expect(f.emu.mints).toBe(1);
  });
});
