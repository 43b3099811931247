// The keychain service name: `tasty`, or TASTY_KEYCHAIN_SERVICE to keep a separate set of credentials. Its own module
// so the fast path (src/fast.ts) shares the rule without loading the context.
import type { Env } from './config.ts';
import { UsageError } from './errors.ts';

export function keychainServiceName(env: Env): string {
  const v = env.TASTY_KEYCHAIN_SERVICE;
  if (v === undefined || v === '') return 'tasty';
  if (!/^[\w.:@-]{1,64}$/.test(v)) throw new UsageError('TASTY_KEYCHAIN_SERVICE must be 1 to 64 letters, digits or ._:@-', 'e.g. TASTY_KEYCHAIN_SERVICE=tasty-work');
  return v;
}
