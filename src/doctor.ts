// tasty doctor: find the cause from the outside in, one check unit after another (CHECKS), each with the exact fix.
import { statSync } from 'node:fs';
import { release } from 'node:os';
import { probeConnect, probeDns } from './api/probe.ts';
import { credentialsPath, ENV_PAIRS, envPairFor } from './auth/credentials.ts';
import type { AuthEngine } from './auth/engine.ts';
import { mask } from './auth/jwt.ts';
import { keychainName } from './auth/keychain.ts';
import { describeEnvironment, type EnvStatus } from './auth/storage.ts';
import { type Environment, environmentClass } from './config.ts';
import type { Context } from './context.ts';
import type { ApiClient } from './api/client.ts';
import { ApiError, CredentialsRejectedError, GRANTS_URL, rejectionAdvice, TastyError, tlsHint, UsageError } from './errors.ts';
import { oneLine, sanitize } from './output.ts';
import { humanTime } from './render.ts';
import { VERSION } from './version.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  id: string;
  title: string;
  status: CheckStatus;
  summary: string;
  detail?: string;
  fix?: string;
  /** A stable name for the cause found (grant_revoked, ip_block, …). */
  cause?: string;
  /** How long the check took. */
  durationMs?: number;
}

export interface Diagnosis {
  environment: Environment;
  ok: boolean;
  checks: Check[];
}

const IP_BLOCK_FIX =
  'tastytrade blocks an IP for about 8 hours after repeated failed logins: stop every script that keeps retrying, then wait it out, or write to api.support@tastytrade.com with your public IP address';

/** An account number for display: sanitised first (it is server text), then masked unless asked otherwise. */
export function maskAccount(n: string, show: boolean): string {
  const clean = sanitize(n).replace(/\s+/g, '');
  return show ? clean : `****${clean.slice(-4)}`;
}

/** The chmod that tightens a file others can read; never on Windows, where libuv reports 0o666 for any writable file. */
export function modeIssue(path: string, want: number, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined;
  try {
    const m = statSync(path).mode & 0o777;
    return (m & ~want) !== 0 ? `chmod ${want.toString(8)} '${path.replace(/'/g, `'\\''`)}'` : undefined;
  } catch {
    return undefined;
  }
}

/** A problem from the credential store that is the keychain's (every OS's name for it). */
export function keychainProblemOf(problems: readonly string[]): string | undefined {
  return problems.find((p) => /keychain|Secret Service|keyring|Credential Manager/i.test(p));
}

/** How to fix the system clock, per OS. */
export function clockFix(platform: NodeJS.Platform = process.platform): string {
  const how =
    platform === 'darwin'
      ? 'System Settings > General > Date & Time > "Set time and date automatically", or `sudo sntp -sS time.apple.com`'
      : platform === 'win32'
        ? 'Settings > Time & language > Date & time > "Sync now", or `w32tm /resync` in an administrator prompt'
        : '`timedatectl set-ntp true`, or your distribution\'s NTP service';
  return `sync the system clock (${how}): token expiry is computed from it`;
}

/**
 * Windows: file modes mean nothing there (libuv reports 0o666); the secrets are private because the profile
 * folder's ACL admits only its user. A TASTY_CONFIG_DIR outside the profile may be readable by others.
 */
export function profileIssue(dir: string, env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform !== 'win32' || !env.TASTY_CONFIG_DIR) return undefined;
  const profile = env.USERPROFILE;
  if (!profile) return undefined;
  const norm = (p: string) => p.replace(/\//g, '\\').replace(/\\+$/, '').toLowerCase();
  const d = norm(dir);
  const root = norm(profile);
  return d === root || d.startsWith(`${root}\\`) ? undefined : `TASTY_CONFIG_DIR (${dir}) is outside your user profile (${profile}), whose permissions keep files private on Windows`;
}

/** What a check found (its id and title come from its unit). */
export type CheckFinding = Omit<Check, 'id' | 'title'>;

/** The facts one run of the checks gathers for the checks after it (credentials read once, one client, one mint). */
export interface DoctorRun {
  ctx: Context;
  environment: Environment;
  opts: { force?: boolean; showAccounts?: boolean };
  /** The findings so far, by check id. */
  found: Map<string, Check>;
  baseUrl: string;
  auth?: AuthEngine;
  st?: EnvStatus;
  credsOk: boolean;
  held?: EnvStatus['rejection'];
  client?: ApiClient;
  minted: boolean;
}

/**
 * One check: adding a check is adding one unit to CHECKS. `dependsOn` names the checks it needs; when one of them
 * failed or was skipped, this one is skipped with that entry's reason (the first unmet one). `run` returns undefined
 * when the check does not apply (it is then left out), `waitingFor` what a spinner says while it runs.
 */
export interface CheckUnit {
  id: string;
  title: string;
  dependsOn?: Array<{ id: string; why: string }>;
  waitingFor?: (r: DoctorRun) => string;
  run(r: DoctorRun): Promise<CheckFinding | undefined>;
}

/** Credentials, store and rejection are read once, offline, by the first check that needs them. */
async function status(r: DoctorRun): Promise<EnvStatus> {
  if (!r.st) {
    r.auth = await r.ctx.auth();
    r.st = await describeEnvironment(r.auth, r.ctx.dir, r.environment, r.ctx.env, r.ctx.now());
    // Every secret in play is known to the redactor before anything is printed (a stored rejection may echo one).
    r.ctx.out.addSecret(r.st.credentials?.clientSecret);
    r.ctx.out.addSecret(r.st.credentials?.refreshToken);
    r.held = r.st.rejection?.held === true ? r.st.rejection : undefined;
  }
  return r.st;
}

/** Where probes go: the API host, or the proxy when one applies (the proxy resolves and reaches the API itself). */
function target(r: DoctorRun): { url: URL; what: string; proxy: ApiClient['proxy'] } {
  const proxy = r.client?.proxy;
  const url = proxy ? proxy.url : new URL(r.baseUrl);
  return { url, proxy, what: proxy ? `the proxy ${proxy.display} (${proxy.from})` : url.hostname };
}

const NETWORK = { id: 'proxy', why: 'the proxy setting is unusable' };

/** The checks, from the outside in, in the order they run and print. */
export const CHECKS: CheckUnit[] = [
  {
    // 1. Environment
    id: 'environment',
    title: 'Environment',
    async run(r) {
      const choice = r.ctx.environment();
      const { overridden } = r.ctx.baseUrl(r.environment);
      const from = choice.environment === r.environment ? (choice.source === 'flag' ? '--env' : choice.source) : '--all';
      return {
        status: overridden ? 'warn' : 'ok',
        summary: `${r.environment} (from ${from}), API ${r.baseUrl}`,
        ...(overridden ? { detail: 'TASTY_API_URL overrides the built-in address', fix: 'unset TASTY_API_URL unless you mean to use a proxy or mirror' } : {}),
      };
    },
  },
  {
    // API version: which Accept-Version data requests carry, and why (a malformed setting is a usage error, exit 2).
    id: 'api-version',
    title: 'API version',
    async run(r) {
      const version = r.ctx.apiVersion(r.environment);
      const versionFrom = version.source === 'pinned' ? 'the version tasty is tested with' : `from ${version.source}`;
      if (version.version === undefined) return { status: 'ok', summary: 'no Accept-Version header (the sandbox refuses it); set TASTY_API_VERSION to send one' };
      if (r.environment === 'sandbox') {
        return {
          status: 'warn',
          summary: `Accept-Version ${version.version} (${versionFrom})`,
          detail: 'the sandbox has been seen refusing Accept-Version with 406',
          fix: version.source === 'TASTY_API_VERSION' ? 'unset TASTY_API_VERSION for the sandbox' : 'drop --api-version for the sandbox',
          cause: 'sandbox_api_version',
        };
      }
      return { status: 'ok', summary: `Accept-Version ${version.version} (${versionFrom})` };
    },
  },
  {
    // Certificate checks switched off: anything on the path can read the secrets. Node warns only once a TLS
    // connection is made; doctor says it up front.
    id: 'tls_verification',
    title: 'TLS verification',
    async run(r) {
      if (r.ctx.env.NODE_TLS_REJECT_UNAUTHORIZED !== '0') return undefined;
      return { status: 'fail', summary: 'NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate checks: anything on the network path can read your secrets and tokens', fix: `unset NODE_TLS_REJECT_UNAUTHORIZED; ${tlsHint(r.ctx.platform).replace('if that is expected, ', 'if that is expected, instead ')}`, cause: 'tls_verification_off' };
    },
  },
  {
    // 2. Credential store (offline)
    id: 'store',
    title: 'Credential store',
    waitingFor: () => 'Reading the credential store…',
    async run(r) {
      const st = await status(r);
      const dir = r.ctx.dir;
      const platform = r.ctx.platform;
      const chmods = [modeIssue(dir, 0o700, platform), st.source?.kind === 'file' ? modeIssue(credentialsPath(dir), 0o600, platform) : undefined, modeIssue(`${dir}/state.json`, 0o600, platform)].filter((x): x is string => !!x);
      const keychainProblem = keychainProblemOf(st.problems);
      const placement = profileIssue(dir, r.ctx.env, platform);
      if (st.source?.kind === 'file') {
        return { status: 'warn', summary: `plaintext file ${st.source.where}`, detail: 'secrets are readable by anything running as you', fix: [...chmods, 'prefer the keychain: `tasty login` without --insecure-storage'].join('; '), cause: 'insecure_storage' };
      }
      // An unusable keychain is a failure, never hidden behind a permissions warning.
      if (keychainProblem && !st.source) {
        return { status: 'fail', summary: oneLine(keychainProblem), fix: 'use `tasty login --insecure-storage`, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN', cause: 'keychain_unavailable' };
      }
      if (chmods.length) return { status: 'warn', summary: `${st.source?.where ?? 'no stored credentials'}; loose permissions`, fix: chmods.join('; '), cause: 'loose_permissions' };
      if (placement) {
        return { status: 'warn', summary: `${st.source?.where ?? 'no stored credentials'}; ${placement}`, fix: 'point TASTY_CONFIG_DIR at a folder inside your profile (or unset it), or restrict that folder to your user', cause: 'outside_profile' };
      }
      return { status: 'ok', summary: st.source ? (st.source.kind === 'env' ? st.source.where : `the ${st.source.where}`) : 'reachable; nothing stored for this environment' };
    },
  },
  {
    // 3. Credentials (offline)
    id: 'credentials',
    title: 'Credentials',
    async run(r) {
      const st = await status(r);
      const environment = r.environment;
      if (!st.credentials) {
        return { status: 'fail', summary: `none for ${environment}${st.problems.length ? ` (${oneLine(st.problems.join('; '))})` : ''}`, fix: `run \`tasty login --env ${environment}\`, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN`, cause: 'not_logged_in' };
      }
      const c = st.credentials;
      const rt = st.refreshToken;
      const raw = c.source === 'env' ? [envPairFor(environment), ...ENV_PAIRS].map(([s, t]) => [r.ctx.env[s], r.ctx.env[t]]).find(([s, t]) => s && t) : undefined;
      const damaged = raw?.some((v) => v !== undefined && v !== v.trim().replace(/^["'`]|["'`]$/g, ''));
      if (/\s/.test(c.clientSecret)) return { status: 'fail', summary: 'the client secret contains whitespace', fix: 'copy the client secret again without spaces or line breaks', cause: 'whitespace' };
      if (rt?.problem) return { status: 'fail', summary: rt.problem, fix: `copy the whole refresh token again and run \`tasty login --env ${environment}\``, cause: /whitespace/.test(rt.problem) ? 'whitespace' : 'not_jwt' };
      if (rt && !rt.scopes.includes('read')) return { status: 'fail', summary: `grant ${rt.grantId ?? '?'} lacks the "read" scope (has: ${rt.scopes.join(' ') || 'none'})`, fix: `create a grant with the read scope at ${GRANTS_URL}`, cause: 'missing_scope' };
      r.credsOk = true;
      // The token's claims: issuer, audience (the OAuth app), grant. The issuer is compared by environment class,
      // never by host: production tokens are issued by api.tastytrade.com for the API at api.tastyworks.com. Only a
      // sandbox issuer is distinctive (sandbox tokens' issuer is unconfirmed), so only that direction warns.
      const mismatch = environmentClass(rt?.issuer) === 'sandbox' && environment === 'production';
      return {
        status: damaged || mismatch ? 'warn' : 'ok',
        summary: `issuer ${rt?.issuer ?? '?'}, audience ${mask(rt?.clientId)}, grant ${rt?.grantId ?? '?'}, scopes ${rt?.scopes.join(' ')}, issued ${rt?.issuedAt?.slice(0, 10) ?? '?'}`,
        ...(mismatch
          ? { detail: `the refresh token was issued by the sandbox (${rt?.issuer}), but production is selected`, fix: 'select sandbox (--env sandbox), or log in to production with a production grant', cause: 'grant_of_other_environment' }
          : damaged
            ? { detail: 'the environment variables carry whitespace or quotes (tasty strips them; other tools may not)', fix: 'set them without quotes or trailing whitespace', cause: 'whitespace' }
            : {}),
      };
    },
  },
  {
    // 4. Held rejection (offline)
    id: 'rejection',
    title: 'Held rejection',
    async run(r) {
      const st = await status(r);
      const now = r.ctx.now();
      if (st.rejection?.held === 'unknown') {
        return { status: 'warn', summary: `cannot tell whether the rejection on record (${humanTime(st.rejection.at, now, { ago: true })}, "${oneLine(st.rejection.description)}") applies: the credentials could not be read`, cause: 'rejection_unknown' };
      }
      const held = r.held;
      if (!held) return { status: 'ok', summary: 'none' };
      const advice = rejectionAdvice(held.description, r.environment);
      const said = `tastytrade rejected these credentials at ${humanTime(held.at, now, { ago: true })}: "${oneLine(held.description)}"`;
      // --force sends one request below: until its answer, the rejection is on record, not a finding.
      if (r.opts.force && r.credsOk) return { status: 'warn', summary: `${said}; --force resends once (Token grant below)`, fix: advice.hint, cause: advice.cause };
      return { status: 'fail', summary: `${said}; not resent`, fix: advice.hint, cause: advice.cause };
    },
  },
  {
    // The client, through a proxy when one applies: an unusable proxy setting is a finding, not a reason to stop.
    id: 'proxy',
    title: 'Proxy',
    async run(r) {
      try {
        r.client = await r.ctx.client(r.environment);
        return undefined;
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        return { status: 'fail', summary: e.message, fix: e.hint ?? 'fix or unset the proxy variables', cause: 'bad_proxy' };
      }
    },
  },
  {
    // 5. DNS: of the API host, or of the proxy when one applies (probing the host directly would report a false IP
    // block behind a corporate firewall).
    id: 'dns',
    title: 'DNS',
    dependsOn: [NETWORK],
    waitingFor: (r) => `Resolving ${target(r).url.hostname}…`,
    async run(r) {
      const { url, what, proxy } = target(r);
      const dns = await probeDns(url.hostname.replace(/^\[|\]$/g, ''));
      if (!dns.ok) return { status: 'fail', summary: `${what} does not resolve (${dns.code})`, fix: proxy ? `check ${proxy.from}` : 'check your network connection and DNS settings (or the host in TASTY_API_URL)', cause: proxy ? 'proxy' : 'dns' };
      return { status: 'ok', summary: `${proxy ? `${what}: ` : ''}${url.hostname} → ${dns.addresses.slice(0, 4).join(', ')} (${dns.ms} ms)${proxy ? `; the proxy resolves ${new URL(r.baseUrl).hostname}` : ''}` };
    },
  },
  {
    // 6. Connection: TCP (and TLS) to the API host, or to the proxy.
    id: 'connection',
    title: 'Connection',
    dependsOn: [NETWORK, { id: 'dns', why: 'DNS failed' }],
    waitingFor: (r) => `Connecting to ${target(r).url.host} (up to ${r.ctx.timeoutMs() / 1000} s)…`,
    async run(r) {
      const { url, what, proxy } = target(r);
      const timeoutMs = r.ctx.timeoutMs();
      const c = await probeConnect(url, timeoutMs);
      if (proxy) {
        if (c.ok) return { status: 'ok', summary: `${what} accepts connections (TCP ${c.tcpMs} ms${c.tlsMs !== undefined ? `, TLS ${c.tlsMs} ms` : ''}); TLS to the API goes through its tunnel` };
        return { status: 'fail', summary: `cannot connect to ${what}: ${c.failure === 'timeout' ? `no answer within ${timeoutMs / 1000} s` : c.failure === 'refused' ? 'connection refused' : (c.code ?? 'error')}`, fix: `check ${proxy.from}, or add ${new URL(r.baseUrl).hostname} to NO_PROXY to go direct`, cause: 'proxy' };
      }
      const tls = url.protocol === 'https:';
      if (c.ok) return { status: 'ok', summary: `TCP ${c.tcpMs} ms${tls ? `, TLS ${c.tlsMs} ms` : ''}` };
      if (c.failure === 'timeout') return { status: 'fail', summary: `likely IP block: DNS works but the ${c.stage === 'tcp' ? 'TCP connect' : 'TLS handshake'} timed out after ${timeoutMs / 1000} s`, fix: IP_BLOCK_FIX, cause: 'ip_block' };
      if (c.failure === 'refused') return { status: 'fail', summary: `connection refused by ${url.host}`, fix: 'a firewall or proxy is rejecting the connection, or TASTY_API_URL points at the wrong port', cause: 'refused' };
      if (c.failure === 'reset') return { status: 'fail', summary: `connection reset during the ${c.stage === 'tcp' ? 'connect' : 'TLS handshake'}`, fix: 'a proxy or firewall is cutting the connection; try another network', cause: 'reset' };
      if (c.failure === 'tls') return { status: 'fail', summary: `TLS certificate problem (${c.code})`, fix: tlsHint(r.ctx.platform), cause: 'tls' };
      return { status: 'fail', summary: `cannot connect (${c.code})`, fix: 'check your network connection', cause: c.failure ?? 'network' };
    },
  },
  {
    // 7. HTTP: any answer proves the API is there (its root answers 401 without a token: that is the expected answer).
    id: 'http',
    title: 'HTTP',
    dependsOn: [NETWORK, { id: 'connection', why: 'no connection' }],
    waitingFor: (r) => `Waiting for an HTTP answer (up to ${r.ctx.timeoutMs() / 1000} s)…`,
    async run(r) {
      const { what, proxy } = target(r);
      const timeoutMs = r.ctx.timeoutMs();
      try {
        const res = await (r.client as ApiClient).probe('/');
        const date = Date.parse(String(res.headers.date ?? ''));
        const skew = Number.isNaN(date) ? undefined : Math.round((date - r.ctx.now()) / 1000);
        const answered = `the API answered (HTTP ${res.status}${res.status === 401 ? ', as expected without a token' : ''}) in ${res.durationMs} ms`;
        if (skew !== undefined && Math.abs(skew) > 120) {
          return { status: 'warn', summary: `${answered}; your clock is off by ${skew > 0 ? '' : '+'}${-skew} s`, fix: clockFix(r.ctx.platform), cause: 'clock_skew' };
        }
        return { status: 'ok', summary: `${answered}${skew !== undefined ? `, clock skew ${skew} s` : ''}` };
      } catch (e) {
        const te = e instanceof TastyError ? e : undefined;
        if (te?.cause_ === 'timeout' && proxy) return { status: 'fail', summary: `no HTTP answer through ${what} within ${timeoutMs / 1000} s: the proxy, or an IP block of its address`, fix: `try without the proxy if you can (NO_PROXY); else ${IP_BLOCK_FIX}`, cause: 'timeout' };
        if (te?.cause_ === 'timeout') return { status: 'fail', summary: `likely IP block: connected, but no HTTP answer within ${timeoutMs / 1000} s`, fix: IP_BLOCK_FIX, cause: 'ip_block' };
        return { status: 'fail', summary: oneLine(te?.message ?? String(e)), fix: te?.hint ?? 'check your network connection', cause: te?.cause_ ?? 'network' };
      }
    },
  },
  {
    // 8. Token grant: at most one mint per run.
    id: 'grant',
    title: 'Token grant',
    dependsOn: [NETWORK, { id: 'http', why: 'the API is not reachable' }, { id: 'credentials', why: 'no usable credentials' }],
    waitingFor: (r) => `Minting an access token (up to ${r.ctx.timeoutMs() / 1000} s)…`,
    async run(r) {
      const st = await status(r);
      if (!r.credsOk || !st.credentials) return { status: 'skip', summary: 'skipped: no usable credentials' };
      if (r.held && !r.opts.force) return { status: 'skip', summary: 'skipped: a rejection is held (not resent, to avoid an IP block; --force sends one request)' };
      const rejection = r.found.get('rejection');
      try {
        const t = await (r.auth as AuthEngine).mintFresh(r.environment, st.credentials, r.opts.force);
        r.minted = true;
        const life = Math.round((Date.parse(t.expiresAt) - Date.parse(t.mintedAt)) / 1000);
        // A held rejection that --force found fixed is no longer a finding.
        if (r.held && rejection) Object.assign(rejection, { status: 'ok', summary: 'cleared: tastytrade accepted the credentials again', fix: undefined, cause: undefined });
        return { status: 'ok', summary: `minted an access token valid for ${Math.floor(life / 60)}:${String(life % 60).padStart(2, '0')}${r.held ? '; the rejection on record is cleared' : ''}` };
      } catch (e) {
        const f = grantFailure(e, r.environment);
        // Resent with --force and refused again: the rejection stands (one cause, counted once in the verdict).
        if (r.held && rejection) rejection.status = 'fail';
        return f;
      }
    },
  },
  {
    // 9. API access
    id: 'api',
    title: 'API access',
    dependsOn: [NETWORK, { id: 'grant', why: 'no access token' }],
    waitingFor: () => 'Fetching the accounts…',
    async run(r) {
      try {
        const { listAccounts } = await import('./api/accounts.ts');
        const list = await listAccounts(r.auth as AuthEngine, r.environment);
        const open = list.filter((a) => !a.closed);
        return { status: open.length ? 'ok' : 'warn', summary: `${open.length} open account${open.length === 1 ? '' : 's'}${open.length ? `: ${open.map((a) => maskAccount(a.number, r.opts.showAccounts === true)).join(', ')}` : ''}`, ...(open.length ? {} : { fix: 'this login has no open accounts in this environment' }) };
      } catch (e) {
        const te = e instanceof TastyError ? e : undefined;
        return { status: 'fail', summary: oneLine(te?.message ?? String(e)), fix: te?.hint ?? (te instanceof ApiError && te.status === 403 ? 'the grant lacks the scope or authority for accounts' : 'run again with --verbose'), cause: te?.cause_ ?? 'api_error' };
      }
    },
  },
];

export interface DiagnoseHooks {
  /** A check starts (a spinner may say what it waits for). */
  start?(unit: CheckUnit, waitingFor: string): void;
  /** A check has its finding: printed at once. */
  done?(check: Check): void;
}

/** Run the checks in order; each finding goes to `hooks.done` the moment it is known. */
export async function diagnose(ctx: Context, environment: Environment, opts: { force?: boolean; showAccounts?: boolean }, hooks: DiagnoseHooks = {}, units: CheckUnit[] = CHECKS): Promise<Diagnosis> {
  const r: DoctorRun = { ctx, environment, opts, found: new Map(), baseUrl: ctx.baseUrl(environment).baseUrl, credsOk: false, minted: false };
  const checks: Check[] = [];
  for (const unit of units) {
    const unmet = unit.dependsOn?.find((d) => {
      const s = r.found.get(d.id)?.status;
      return s === 'fail' || s === 'skip';
    });
    let finding: CheckFinding | undefined;
    if (unmet) finding = { status: 'skip', summary: `skipped: ${unmet.why}` };
    else {
      hooks.start?.(unit, unit.waitingFor?.(r) ?? `Checking ${unit.title.toLowerCase()}…`);
      const t0 = performance.now();
      finding = await unit.run(r);
      if (finding) finding.durationMs = Math.round(performance.now() - t0);
    }
    if (!finding) continue;
    const check: Check = { id: unit.id, title: unit.title, ...finding };
    r.found.set(unit.id, check);
    checks.push(check);
    hooks.done?.(check);
  }
  // --force could not resend (the API was not reachable): the rejection stands as it was.
  const rejection = r.found.get('rejection');
  if (r.held && rejection?.status === 'warn' && !r.minted && r.found.get('grant')?.status === 'skip') rejection.status = 'fail';
  return { environment, ok: !checks.some((c) => c.status === 'fail'), checks };
}

/** What doctor runs on: for the header and the --json document, so a pasted report says where it came from. */
export function aboutThisMachine(platform: NodeJS.Platform = process.platform): { tasty: string; node: string; os: string; keychain: string } {
  return { tasty: VERSION, node: process.versions.node, os: `${platform} ${release()} ${process.arch}`, keychain: keychainName(platform) };
}

/** One problem (or warning) however many checks show it: its cause, and the checks. */
interface Finding {
  cause?: string;
  ids: string[];
  titles: string[];
}

/** The distinct problems (one cause counts once, however many checks it fails) and warnings. */
export function findings(d: Diagnosis): { problems: Finding[]; warnings: Finding[] } {
  const group = (status: CheckStatus) => {
    const byCause = new Map<string, Finding>();
    for (const c of d.checks.filter((x) => x.status === status)) {
      const key = c.cause ?? `#${c.id}`;
      const f = byCause.get(key) ?? { cause: c.cause, ids: [], titles: [] };
      f.ids.push(c.id);
      f.titles.push(c.title);
      byCause.set(key, f);
    }
    return [...byCause.values()];
  };
  return { problems: group('fail'), warnings: group('warn') };
}

function grantFailure(e: unknown, environment: Environment): Check {
  const base = { id: 'grant', title: 'Token grant', status: 'fail' as const };
  if (e instanceof CredentialsRejectedError) {
    const a = rejectionAdvice(e.description, environment);
    return { ...base, summary: `tastytrade says "${oneLine(e.description)}"`, detail: e.message, fix: a.hint, cause: a.cause };
  }
  if (e instanceof TastyError) {
    if (e.cause_ === 'transient_invalid_request') {
      return { ...base, summary: oneLine(e.message), fix: environment === 'sandbox' ? 'a transient sandbox failure: retry in a few minutes' : 'retry in a few minutes', cause: 'transient_invalid_request' };
    }
    if (e.cause_ === 'html_401') {
      return { ...base, summary: '401 with an HTML page: the request lost its User-Agent', fix: 'a proxy is rewriting headers: bypass it (NO_PROXY) or have it pass User-Agent through', cause: 'html_401' };
    }
    if (e.cause_ === 'timeout') return { ...base, summary: `likely IP block: ${oneLine(e.message)}`, fix: IP_BLOCK_FIX, cause: 'ip_block' };
    return { ...base, summary: oneLine(e.message), fix: e.hint ?? 'run again with --verbose', cause: e.cause_ };
  }
  return { ...base, summary: oneLine(String(e)), cause: 'error' };
}
