// Storing and removing an environment's secrets, and describing where they live (status, doctor).
import type { Environment } from '../config.ts';
import { KeychainError } from '../errors.ts';
import { type Credentials, credentialsPath, fromEnv, fromFile, removeFromFile, writeToFile } from './credentials.ts';
import type { AuthEngine } from './engine.ts';
import { decodeRefreshToken, type RefreshTokenFacts } from './jwt.ts';
import type { StoredSecrets } from './keychain.ts';
import { type CachedToken, findRejection, findToken, type HeldRejection, identity, remainingMs } from './state.ts';

export interface StoredWhere {
  kind: 'keychain' | 'file';
  where: string;
}

/** Store validated secrets in the chosen store and remove them from the other one. */
export async function storeSecrets(engine: AuthEngine, dir: string, environment: Environment, s: StoredSecrets, insecure: boolean, now: Date): Promise<StoredWhere> {
  if (insecure) {
    writeToFile(dir, environment, s, now);
    try {
      await (await engine.keychain()).delete(environment);
    } catch {
      /* no keychain: nothing stored there */
    }
    return { kind: 'file', where: credentialsPath(dir) };
  }
  const kc = await engine.keychain();
  await kc.set(environment, s);
  removeFromFile(dir, environment);
  return { kind: 'keychain', where: kc.name };
}

export interface Removal {
  removed: string[];
  /** The keychain could not be reached and may still hold this environment's secrets. */
  keychainProblem?: string;
  /** The keychain could not be reached, but nothing says it held secrets (they were in the file). */
  keychainNote?: string;
}

/**
 * Logout: delete the environment's stored secrets (file and keychain), then what THOSE credentials own in the state
 * (tokens, rejections, the keychain binding). Entries of other credentials (variables, another keychain service)
 * stay: a rejection of credentials that are still in use keeps protecting them.
 */
export async function removeSecrets(engine: AuthEngine, dir: string, environment: Environment): Promise<Removal> {
  const removed: string[] = [];
  let keychainProblem: string | undefined;
  const owned: StoredSecrets[] = [];
  const fileCreds = fileCredentialsLenient(dir, environment);
  if (fileCreds) owned.push(fileCreds);
  if (removeFromFile(dir, environment)) removed.push(`secrets in ${credentialsPath(dir)}`);
  let keychainGone = false;
  try {
    const kc = await engine.keychain();
    const s = await kc.get(environment).catch(() => undefined);
    if (s) owned.push(s);
    if (await kc.delete(environment)) removed.push(`secrets in the ${kc.name}`);
    keychainGone = true;
  } catch (e) {
    if (!(e instanceof KeychainError)) throw e;
    keychainProblem = e.message;
  }
  let keychainNote: string | undefined;
  await engine.withStateLock((state) => {
    // An unreachable keychain "may hold the secrets" only when tasty has put or found credentials there (a keychain
    // binding in the state file). Without one, tasty has no evidence of any: a note, not a failure (a headless
    // machine that never had a keychain would otherwise fail every logout).
    if (keychainProblem && !engine.boundIdentity(state, environment)) {
      keychainNote = keychainProblem;
      keychainProblem = undefined;
    }
    const fps = owned.map((c) => identity(state, c));
    // The keychain's credentials are known by their binding even when they could not be read.
    const bound = engine.boundIdentity(state, environment);
    if (bound && keychainGone) fps.push(bound);
    const r = engine.forget(state, environment, fps, keychainGone);
    if (r.tokens) removed.push(`${r.tokens} cached access token${r.tokens === 1 ? '' : 's'}`);
    if (r.quoteTokens) removed.push(`${r.quoteTokens} cached quote token${r.quoteTokens === 1 ? '' : 's'}`);
    if (r.rejections) removed.push(`${r.rejections} held rejection${r.rejections === 1 ? '' : 's'}`);
    if (r.tokens || r.quoteTokens || r.rejections || (keychainGone && bound)) engine.saveState(state);
  });
  return { removed, keychainProblem, keychainNote };
}

/** The secrets stored for an environment (file, then keychain), if they can be read; never throws. */
export async function storedSecretsOf(engine: AuthEngine, dir: string, environment: Environment): Promise<StoredSecrets | undefined> {
  const f = fileCredentialsLenient(dir, environment);
  if (f) return f;
  try {
    return await (await engine.keychain()).get(environment);
  } catch {
    return undefined;
  }
}

function fileCredentialsLenient(dir: string, environment: Environment): StoredSecrets | undefined {
  try {
    return fromFile(dir, environment);
  } catch {
    return undefined;
  }
}

export interface EnvStatus {
  environment: Environment;
  loggedIn: boolean;
  source: { kind: Credentials['source']; where: string } | null;
  insecureStorage: boolean;
  refreshToken: (Omit<RefreshTokenFacts, 'subject' | 'type'> & { problem?: string }) | null;
  accessToken: { state: 'valid' | 'expired' | 'none' | 'unknown'; expiresAt?: string; validForSeconds?: number };
  /**
   * The rejection held for these credentials at this API (`held: true`); or, when the credentials could not be
   * read, `held: 'unknown'` with the newest rejection on record for the environment. Null when none applies.
   */
  rejection: (Pick<HeldRejection, 'at' | 'description'> & { held: true | 'unknown' }) | null;
  /** Rejections on record for other credentials or another API of this environment (they do not apply). */
  otherRejections: number;
  /** The keychain could not be used to read the credentials (status exits 7, not 3). */
  keychainError: boolean;
  problems: string[];
  /** The resolved credentials (never printed). */
  credentials?: Credentials;
}

/** Everything status and doctor say about an environment, offline. */
export async function describeEnvironment(engine: AuthEngine, dir: string, environment: Environment, envVars: Record<string, string | undefined>, now: number): Promise<EnvStatus> {
  const problems: string[] = [];
  const ev = fromEnv(envVars, environment);
  if (ev.incomplete) problems.push(ev.incomplete);
  let creds: Credentials | undefined;
  let unreadable = false;
  let keychainError = false;
  try {
    creds = ev.credentials ?? fromFile(dir, environment);
    if (!creds) creds = await engine.credentials(environment);
    // Every secret in play is known to the redactor before anything is printed (a stored rejection may echo one).
    if (creds) engine.register(creds);
  } catch (e) {
    unreadable = true;
    keychainError = e instanceof KeychainError;
    problems.push((e as Error).message);
  }
  const state = engine.state();
  const api = engine.api(environment);
  const slot = creds ? engine.slot(state, environment, creds) : undefined;
  const tok: CachedToken | undefined = slot ? findToken(state, slot) : undefined;
  let accessToken: EnvStatus['accessToken'] = { state: unreadable ? 'unknown' : 'none' };
  if (tok) {
    const left = remainingMs(tok, now);
    accessToken = { state: left > 0 ? 'valid' : 'expired', expiresAt: tok.expiresAt, validForSeconds: Math.floor(left / 1000) };
  }
  const envRejections = state.rejections.filter((r) => r.env === environment);
  const held = slot && creds ? findRejection(state, slot, creds) : undefined;
  let rejection: EnvStatus['rejection'] = null;
  if (held) rejection = { at: held.at, description: held.description, held: true };
  else if (unreadable) {
    const newest = envRejections.find((r) => r.api === api || r.api === '*');
    if (newest) rejection = { at: newest.at, description: newest.description, held: 'unknown' };
  }
  let refreshToken: EnvStatus['refreshToken'] = null;
  if (creds) {
    const d = decodeRefreshToken(creds.refreshToken);
    if (d.ok) {
      const { grantId, clientId, scopes, issuedAt, issuer } = d.facts;
      refreshToken = { grantId, clientId, scopes, issuedAt, issuer };
    } else refreshToken = { scopes: [], problem: `the refresh token ${d.problem}` };
  }
  return {
    environment,
    loggedIn: !!creds,
    source: creds ? { kind: creds.source, where: creds.where } : null,
    insecureStorage: creds?.source === 'file',
    refreshToken,
    accessToken,
    rejection,
    otherRejections: envRejections.length - (rejection ? 1 : 0),
    keychainError,
    problems,
    credentials: creds,
  };
}
