// tasty doctor: find the cause from the outside in, one line per check, with the exact fix.
import { statSync } from 'node:fs';
import { probeConnect, probeDns } from './api/probe.ts';
import { credentialsPath, ENV_PAIRS, envPairFor } from './auth/credentials.ts';
import { describeEnvironment } from './auth/storage.ts';
import { type Environment, environmentClass } from './config.ts';
import type { Context } from './context.ts';
import type { ApiClient } from './api/client.ts';
import { ApiError, CredentialsRejectedError, GRANTS_URL, rejectionAdvice, TastyError, tlsHint, UsageError } from './errors.ts';
import { oneLine, sanitize } from './output.ts';
import { mask } from './auth/jwt.ts';

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

export async function diagnose(ctx: Context, environment: Environment, opts: { force?: boolean; showAccounts?: boolean }): Promise<Diagnosis> {
  const checks: Check[] = [];
  const add = (c: Check) => {
    checks.push(c);
    return c;
  };
  const skip = (id: string, title: string, why: string) => add({ id, title, status: 'skip', summary: `skipped: ${why}` });

  // 1. Environment
  const choice = ctx.environment();
  const { baseUrl, overridden } = ctx.baseUrl(environment);
  const from = opts && choice.environment === environment ? (choice.source === 'flag' ? '--env' : choice.source) : '--all';
  add({
    id: 'environment',
    title: 'Environment',
    status: overridden ? 'warn' : 'ok',
    summary: `${environment} (from ${from}), API ${baseUrl}`,
    ...(overridden ? { detail: 'TASTY_API_URL overrides the built-in address', fix: 'unset TASTY_API_URL unless you mean to use a proxy or mirror' } : {}),
  });

  // API version: which Accept-Version data requests carry, and why (a malformed setting is a usage error, exit 2).
  const version = ctx.apiVersion(environment);
  const versionFrom = version.source === 'pinned' ? 'the version tasty is tested with' : `from ${version.source}`;
  if (version.version === undefined) {
    add({ id: 'api-version', title: 'API version', status: 'ok', summary: 'no Accept-Version header (the sandbox refuses it); set TASTY_API_VERSION to send one' });
  } else if (environment === 'sandbox') {
    add({
      id: 'api-version',
      title: 'API version',
      status: 'warn',
      summary: `Accept-Version ${version.version} (${versionFrom})`,
      detail: 'the sandbox has been seen refusing Accept-Version with 406',
      fix: version.source === 'TASTY_API_VERSION' ? 'unset TASTY_API_VERSION for the sandbox' : 'drop --api-version for the sandbox',
      cause: 'sandbox_api_version',
    });
  } else {
    add({ id: 'api-version', title: 'API version', status: 'ok', summary: `Accept-Version ${version.version} (${versionFrom})` });
  }

  // Certificate checks switched off: anything on the path can read the secrets. Node warns only once a TLS
  // connection is made; doctor says it up front.
  if (ctx.env.NODE_TLS_REJECT_UNAUTHORIZED === '0') {
    add({ id: 'tls_verification', title: 'TLS verification', status: 'fail', summary: 'NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate checks: anything on the network path can read your secrets and tokens', fix: `unset NODE_TLS_REJECT_UNAUTHORIZED; ${tlsHint(ctx.platform).replace('if that is expected, ', 'if that is expected, instead ')}`, cause: 'tls_verification_off' });
  }

  // 2. Credential store, 3. Credentials, 4. Held rejection (all offline)
  const auth = await ctx.auth();
  const st = await describeEnvironment(auth, ctx.dir, environment, ctx.env, ctx.now());
  // Every secret in play is known to the redactor before anything is printed (a stored rejection may echo one).
  ctx.out.addSecret(st.credentials?.clientSecret);
  ctx.out.addSecret(st.credentials?.refreshToken);
  const chmods = [modeIssue(ctx.dir, 0o700, ctx.platform), st.source?.kind === 'file' ? modeIssue(credentialsPath(ctx.dir), 0o600, ctx.platform) : undefined, modeIssue(`${ctx.dir}/state.json`, 0o600, ctx.platform)].filter(
    (x): x is string => !!x,
  );
  const keychainProblem = keychainProblemOf(st.problems);
  const placement = profileIssue(ctx.dir, ctx.env, ctx.platform);
  if (st.source?.kind === 'file') {
    add({ id: 'store', title: 'Credential store', status: 'warn', summary: `plaintext file ${st.source.where}`, detail: 'secrets are readable by anything running as you', fix: [...chmods, 'prefer the keychain: `tasty login` without --insecure-storage'].join('; '), cause: 'insecure_storage' });
  } else if (keychainProblem && !st.source) {
    // An unusable keychain is a failure, never hidden behind a permissions warning.
    add({ id: 'store', title: 'Credential store', status: 'fail', summary: oneLine(keychainProblem), fix: 'use `tasty login --insecure-storage`, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN', cause: 'keychain_unavailable' });
  } else if (chmods.length) {
    add({ id: 'store', title: 'Credential store', status: 'warn', summary: `${st.source?.where ?? 'no stored credentials'}; loose permissions`, fix: chmods.join('; '), cause: 'loose_permissions' });
  } else if (placement) {
    add({ id: 'store', title: 'Credential store', status: 'warn', summary: `${st.source?.where ?? 'no stored credentials'}; ${placement}`, fix: 'point TASTY_CONFIG_DIR at a folder inside your profile (or unset it), or restrict that folder to your user', cause: 'outside_profile' });
  } else {
    add({ id: 'store', title: 'Credential store', status: 'ok', summary: st.source ? (st.source.kind === 'env' ? st.source.where : `the ${st.source.where}`) : 'reachable; nothing stored for this environment' });
  }

  let credsOk = false;
  if (!st.credentials) {
    add({ id: 'credentials', title: 'Credentials', status: 'fail', summary: `none for ${environment}${st.problems.length ? ` (${oneLine(st.problems.join('; '))})` : ''}`, fix: `run \`tasty login --env ${environment}\`, or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN`, cause: 'not_logged_in' });
  } else {
    const c = st.credentials;
    const rt = st.refreshToken;
    const raw = c.source === 'env' ? [envPairFor(environment), ...ENV_PAIRS].map(([s, r]) => [ctx.env[s], ctx.env[r]]).find(([s, r]) => s && r) : undefined;
    const damaged = raw?.some((v) => v !== undefined && v !== v.trim().replace(/^["'`]|["'`]$/g, ''));
    if (/\s/.test(c.clientSecret)) {
      add({ id: 'credentials', title: 'Credentials', status: 'fail', summary: 'the client secret contains whitespace', fix: 'copy the client secret again without spaces or line breaks', cause: 'whitespace' });
    } else if (rt?.problem) {
      add({ id: 'credentials', title: 'Credentials', status: 'fail', summary: rt.problem, fix: `copy the whole refresh token again and run \`tasty login --env ${environment}\``, cause: /whitespace/.test(rt.problem) ? 'whitespace' : 'not_jwt' });
    } else if (rt && !rt.scopes.includes('read')) {
      add({ id: 'credentials', title: 'Credentials', status: 'fail', summary: `grant ${rt.grantId ?? '?'} lacks the "read" scope (has: ${rt.scopes.join(' ') || 'none'})`, fix: `create a grant with the read scope at ${GRANTS_URL}`, cause: 'missing_scope' });
    } else {
      credsOk = true;
      // The token's claims: issuer, audience (the OAuth app), grant. The issuer is compared by environment class,
      // never by host: production tokens are issued by api.tastytrade.com for the API at api.tastyworks.com. Only a
      // sandbox issuer is distinctive (sandbox tokens' issuer is unconfirmed), so only that direction warns.
      const issuerClass = environmentClass(rt?.issuer);
      const mismatch = issuerClass === 'sandbox' && environment === 'production';
      const claims = `issuer ${rt?.issuer ?? '?'}, audience ${mask(rt?.clientId)}, grant ${rt?.grantId ?? '?'}, scopes ${rt?.scopes.join(' ')}, issued ${rt?.issuedAt?.slice(0, 10) ?? '?'}`;
      add({
        id: 'credentials',
        title: 'Credentials',
        status: damaged || mismatch ? 'warn' : 'ok',
        summary: claims,
        ...(mismatch
          ? { detail: `the refresh token was issued by the sandbox (${rt?.issuer}), but production is selected`, fix: 'select sandbox (--env sandbox), or log in to production with a production grant', cause: 'grant_of_other_environment' }
          : damaged
            ? { detail: 'the environment variables carry whitespace or quotes (tasty strips them; other tools may not)', fix: 'set them without quotes or trailing whitespace', cause: 'whitespace' }
            : {}),
      });
    }
  }

  const held = st.rejection?.held === true ? st.rejection : undefined;
  if (st.rejection?.held === 'unknown') {
    add({ id: 'rejection', title: 'Held rejection', status: 'warn', summary: `cannot tell whether the rejection on record (${st.rejection.at.replace('T', ' ').slice(0, 19)} UTC, "${oneLine(st.rejection.description)}") applies: the credentials could not be read`, cause: 'rejection_unknown' });
  } else if (held) {
    const advice = rejectionAdvice(held.description, environment);
    add({ id: 'rejection', title: 'Held rejection', status: 'fail', summary: `tastytrade rejected these credentials at ${held.at.replace('T', ' ').slice(0, 19)} UTC: "${oneLine(held.description)}"; not resent`, fix: advice.hint, cause: advice.cause });
  } else add({ id: 'rejection', title: 'Held rejection', status: 'ok', summary: 'none' });

  // 5. DNS, 6. Connection: of the API host, or of the proxy when one applies (the proxy resolves and connects to
  // the API host itself; probing the host directly would report a false IP block behind a corporate firewall).
  let client: ApiClient;
  try {
    client = await ctx.client(environment);
  } catch (e) {
    // An unusable proxy setting is a finding, not a reason to stop diagnosing.
    if (!(e instanceof UsageError)) throw e;
    add({ id: 'proxy', title: 'Proxy', status: 'fail', summary: e.message, fix: e.hint ?? 'fix or unset the proxy variables', cause: 'bad_proxy' });
    for (const [id, title] of [['dns', 'DNS'], ['connection', 'Connection'], ['http', 'HTTP'], ['grant', 'Token grant'], ['api', 'API access']] as const) skip(id, title, 'the proxy setting is unusable');
    return { environment, ok: false, checks };
  }
  const proxy = client.proxy;
  const url = proxy ? proxy.url : new URL(baseUrl);
  const what = proxy ? `the proxy ${proxy.display} (${proxy.from})` : url.hostname;
  const dns = await probeDns(url.hostname.replace(/^\[|\]$/g, ''));
  if (!dns.ok) {
    add({ id: 'dns', title: 'DNS', status: 'fail', summary: `${what} does not resolve (${dns.code})`, fix: proxy ? `check ${proxy.from}` : 'check your network connection and DNS settings (or the host in TASTY_API_URL)', cause: proxy ? 'proxy' : 'dns' });
  } else add({ id: 'dns', title: 'DNS', status: 'ok', summary: `${proxy ? `${what}: ` : ''}${url.hostname} → ${dns.addresses.slice(0, 4).join(', ')} (${dns.ms} ms)${proxy ? `; the proxy resolves ${new URL(baseUrl).hostname}` : ''}` });

  const timeoutMs = ctx.timeoutMs();
  let connected = false;
  if (!dns.ok) skip('connection', 'Connection', 'DNS failed');
  else if (proxy) {
    const r = await probeConnect(url, timeoutMs);
    if (r.ok) {
      connected = true;
      add({ id: 'connection', title: 'Connection', status: 'ok', summary: `${what} accepts connections (TCP ${r.tcpMs} ms${r.tlsMs !== undefined ? `, TLS ${r.tlsMs} ms` : ''}); TLS to the API goes through its tunnel` });
    } else {
      add({ id: 'connection', title: 'Connection', status: 'fail', summary: `cannot connect to ${what}: ${r.failure === 'timeout' ? `no answer within ${timeoutMs / 1000} s` : r.failure === 'refused' ? 'connection refused' : (r.code ?? 'error')}`, fix: `check ${proxy.from}, or add ${new URL(baseUrl).hostname} to NO_PROXY to go direct`, cause: 'proxy' });
    }
  } else {
    const r = await probeConnect(url, timeoutMs);
    const tls = url.protocol === 'https:';
    if (r.ok) {
      connected = true;
      add({ id: 'connection', title: 'Connection', status: 'ok', summary: `TCP ${r.tcpMs} ms${tls ? `, TLS ${r.tlsMs} ms` : ''}` });
    } else if (r.failure === 'timeout') {
      add({ id: 'connection', title: 'Connection', status: 'fail', summary: `likely IP block: DNS works but the ${r.stage === 'tcp' ? 'TCP connect' : 'TLS handshake'} timed out after ${timeoutMs / 1000} s`, fix: IP_BLOCK_FIX, cause: 'ip_block' });
    } else if (r.failure === 'refused') {
      add({ id: 'connection', title: 'Connection', status: 'fail', summary: `connection refused by ${url.host}`, fix: 'a firewall or proxy is rejecting the connection, or TASTY_API_URL points at the wrong port', cause: 'refused' });
    } else if (r.failure === 'reset') {
      add({ id: 'connection', title: 'Connection', status: 'fail', summary: `connection reset during the ${r.stage === 'tcp' ? 'connect' : 'TLS handshake'}`, fix: 'a proxy or firewall is cutting the connection; try another network', cause: 'reset' });
    } else if (r.failure === 'tls') {
      add({ id: 'connection', title: 'Connection', status: 'fail', summary: `TLS certificate problem (${r.code})`, fix: tlsHint(ctx.platform), cause: 'tls' });
    } else {
      add({ id: 'connection', title: 'Connection', status: 'fail', summary: `cannot connect (${r.code})`, fix: 'check your network connection', cause: r.failure ?? 'network' });
    }
  }

  // 7. HTTP
  let httpOk = false;
  if (!connected) skip('http', 'HTTP', 'no connection');
  else {
    try {
      const r = await client.probe('/');
      httpOk = true;
      const date = Date.parse(String(r.headers.date ?? ''));
      const skew = Number.isNaN(date) ? undefined : Math.round((date - ctx.now()) / 1000);
      if (skew !== undefined && Math.abs(skew) > 120) {
        add({ id: 'http', title: 'HTTP', status: 'warn', summary: `answered ${r.status} in ${r.durationMs} ms; your clock is off by ${skew > 0 ? '' : '+'}${-skew} s`, fix: clockFix(ctx.platform), cause: 'clock_skew' });
      } else add({ id: 'http', title: 'HTTP', status: 'ok', summary: `answered ${r.status} in ${r.durationMs} ms${skew !== undefined ? `, clock skew ${skew} s` : ''}` });
    } catch (e) {
      const te = e instanceof TastyError ? e : undefined;
      if (te?.cause_ === 'timeout' && proxy) add({ id: 'http', title: 'HTTP', status: 'fail', summary: `no HTTP answer through ${what} within ${timeoutMs / 1000} s: the proxy, or an IP block of its address`, fix: `try without the proxy if you can (NO_PROXY); else ${IP_BLOCK_FIX}`, cause: 'timeout' });
      else if (te?.cause_ === 'timeout') add({ id: 'http', title: 'HTTP', status: 'fail', summary: `likely IP block: connected, but no HTTP answer within ${timeoutMs / 1000} s`, fix: IP_BLOCK_FIX, cause: 'ip_block' });
      else add({ id: 'http', title: 'HTTP', status: 'fail', summary: oneLine(te?.message ?? String(e)), fix: te?.hint ?? 'check your network connection', cause: te?.cause_ ?? 'network' });
    }
  }

  // 8. Token grant: at most one mint per run.
  let minted = false;
  if (!httpOk) skip('grant', 'Token grant', 'the API is not reachable');
  else if (!credsOk || !st.credentials) skip('grant', 'Token grant', 'no usable credentials');
  else if (held && !opts.force) skip('grant', 'Token grant', 'a rejection is held (not resent, to avoid an IP block; --force sends one request)');
  else {
    try {
      const t = await auth.mintFresh(environment, st.credentials, opts.force);
      minted = true;
      const life = Math.round((Date.parse(t.expiresAt) - Date.parse(t.mintedAt)) / 1000);
      add({ id: 'grant', title: 'Token grant', status: 'ok', summary: `minted an access token valid for ${Math.floor(life / 60)}:${String(life % 60).padStart(2, '0')}` });
    } catch (e) {
      add(grantFailure(e, environment));
    }
  }
  // A held rejection that --force found fixed is no longer a failure.
  if (minted && held) {
    const r = checks.find((c) => c.id === 'rejection');
    if (r) Object.assign(r, { status: 'ok', summary: 'cleared: tastytrade accepted the credentials again', fix: undefined, cause: undefined });
  }

  // 9. API access
  if (!minted) skip('api', 'API access', 'no access token');
  else {
    try {
      const { listAccounts } = await import('./api/accounts.ts');
      const list = await listAccounts(auth, environment);
      const open = list.filter((a) => !a.closed);
      add({ id: 'api', title: 'API access', status: open.length ? 'ok' : 'warn', summary: `${open.length} open account${open.length === 1 ? '' : 's'}${open.length ? `: ${open.map((a) => maskAccount(a.number, opts.showAccounts === true)).join(', ')}` : ''}`, ...(open.length ? {} : { fix: 'this login has no open accounts in this environment' }) });
    } catch (e) {
      const te = e instanceof TastyError ? e : undefined;
      add({ id: 'api', title: 'API access', status: 'fail', summary: oneLine(te?.message ?? String(e)), fix: te?.hint ?? (te instanceof ApiError && te.status === 403 ? 'the grant lacks the scope or authority for accounts' : 'run again with --verbose'), cause: te?.cause_ ?? 'api_error' });
    }
  }
  return { environment, ok: !checks.some((c) => c.status === 'fail'), checks };
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
