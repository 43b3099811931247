// The system's own keychain on macOS (Keychain) and Windows (Credential Manager), through the same KeychainStore the CLI
// uses. These run on the CI workflow's macOS and Windows runners only: this Linux machine has neither.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { KeychainStateError, KeychainStore, keychainName } from '../src/auth/keychain.ts';

const os = process.platform === 'darwin' || process.platform === 'win32';
if (!os) console.log(`macOS Keychain / Windows Credential Manager tests skipped on ${process.platform}: they run on the CI workflow's macOS and Windows runners`);

describe.runIf(os)(`the system keychain (${keychainName()})`, () => {
  const service = `tasty-test-${randomBytes(4).toString('hex')}`;
  // A runner has no person to answer a dialog: the short timeout, as in any script.
  const store = new KeychainStore({ service, interactive: false });
  afterAll(async () => {
    await store.delete('sandbox').catch(() => {});
  });

  it('stores, reads back and deletes an entry, or names why it cannot (never a generic failure)', async () => {
    const secrets = { clientSecret: `cs-${randomBytes(8).toString('hex')}`, refreshToken: `a.${randomBytes(8).toString('hex')}.c` };
    let stored = true;
    try {
      await store.set('sandbox', secrets);
    } catch (e) {
      // A service session without a credential store (Windows) or without a dialog (macOS) must be named, exit 7.
      stored = false;
      console.log(`system keychain unusable on this runner: ${(e as Error).message}`);
      expect(e).toBeInstanceOf(KeychainStateError);
      expect((e as KeychainStateError).exitCode).toBe(7);
      expect((e as Error).message).toMatch(/ERROR_NO_SUCH_LOGON_SESSION|User interaction is not allowed|locked|did not answer/);
    }
    if (!stored) return;
    expect(await store.get('sandbox')).toEqual(secrets);
    expect(await store.get('production')).toBeUndefined();
    expect(await store.delete('sandbox')).toBe(true);
    expect(await store.get('sandbox')).toBeUndefined();
  });
});
