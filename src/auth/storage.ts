// Storing and removing an environment's secrets, and describing where they live (status, doctor).
import type { Environment } from '../config.ts';
import { KeychainError } from '../errors.ts';
import { type Credentials, credentialFingerprint, credentialsPath, fromEnv, fromFile, removeFromFile, writeToFile } from './credentials.ts';
import { AuthEngine } from './engine.ts';
import { decodeRefreshToken, type RefreshTokenFacts } from './jwt.ts';
import type { StoredSecrets } from './keychain.ts';
import { type CachedToken, type HeldRejection, remainingMs } from './state.ts';

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
  keychainProblem?: string;
}

export async function removeSecrets(engine: AuthEngine, dir: string, environment: Environment): Promise<Removal> {
  const removed: string[] = [];
  let keychainProblem: string | undefined;
  if (removeFromFile(dir, environment)) removed.push(`secrets in ${credentialsPath(dir)}`);
  try {
    const kc = await engine.keychain();
    if (await kc.delete(environment)) removed.push(`secrets in the ${kc.name}`);
  } catch (e) {
    if (!(e instanceof KeychainError)) throw e;
    keychainProblem = e.message;
  }
  await engine.withStateLock((state) => {
    if (AuthEngine.clearEnvironment(state, environment)) {
      removed.push('cached access token and held rejection');
      engine.saveState(state);
    }
  });
  return { removed, keychainProblem };
}

export interface EnvStatus {
  environment: Environment;
  loggedIn: boolean;
  source: { kind: Credentials['source']; where: string } | null;
  insecureStorage: boolean;
  refreshToken: (Omit<RefreshTokenFacts, 'subject' | 'issuer' | 'type'> & { problem?: string }) | null;
  accessToken: { state: 'valid' | 'expired' | 'none' | 'other-credentials'; expiresAt?: string; validForSeconds?: number };
  rejection: (Pick<HeldRejection, 'at' | 'description'> & { held: boolean }) | null;
  problems: string[];
  /** The resolved credentials (never printed). */
  credentials?: Credentials;
}

/** Everything status and doctor say about an environment, offline. */
export async function describeEnvironment(engine: AuthEngine, dir: string, environment: Environment, envVars: Record<string, string | undefined>, now: number): Promise<EnvStatus> {
  const problems: string[] = [];
  const ev = fromEnv(envVars);
  if (ev.incomplete) problems.push(ev.incomplete);
  let creds: Credentials | undefined;
  try {
    creds = ev.credentials ?? fromFile(dir, environment);
    if (!creds) creds = await engine.credentials(environment);
  } catch (e) {
    problems.push((e as Error).message);
  }
  const state = engine.state();
  const es = state.environments[environment];
  const fp = creds ? credentialFingerprint(creds) : undefined;
  const tok: CachedToken | undefined = es?.token;
  let accessToken: EnvStatus['accessToken'] = { state: 'none' };
  if (tok) {
    const left = remainingMs(tok, now);
    if (fp && tok.fingerprint !== fp) accessToken = { state: 'other-credentials' };
    else accessToken = { state: left > 0 ? 'valid' : 'expired', expiresAt: tok.expiresAt, validForSeconds: Math.max(0, Math.floor(left / 1000)) };
  }
  const rej = es?.rejection;
  let refreshToken: EnvStatus['refreshToken'] = null;
  if (creds) {
    const d = decodeRefreshToken(creds.refreshToken);
    if (d.ok) {
      const { grantId, clientId, scopes, issuedAt } = d.facts;
      refreshToken = { grantId, clientId, scopes, issuedAt };
    } else refreshToken = { scopes: [], problem: `the refresh token ${d.problem}` };
  }
  return {
    environment,
    loggedIn: !!creds,
    source: creds ? { kind: creds.source, where: creds.where } : null,
    insecureStorage: creds?.source === 'file',
    refreshToken,
    accessToken,
    rejection: rej ? { at: rej.at, description: rej.description, held: rej.fingerprint === fp } : null,
    problems,
    credentials: creds,
  };
}
