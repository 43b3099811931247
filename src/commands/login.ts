// tasty login: validate credentials with one live mint, then store them (keychain, or a 0600 file on request).
import { cleanSecret, fromEnv } from '../auth/credentials.ts';
import { decodeRefreshToken, mask } from '../auth/jwt.ts';
import { grantIdOf } from '../auth/engine.ts';
import { storedSecretsOf, storeSecrets } from '../auth/storage.ts';
import { BASE_URLS, type Environment, ENVIRONMENTS, selectEnvironment, writeUserConfig } from '../config.ts';
import type { Context } from '../context.ts';
import { CredentialsRejectedError, UsageError, WrongEnvironmentError } from '../errors.ts';
import { oneLine } from '../output.ts';

interface LoginOptions {
  stdin?: boolean;
  insecureStorage?: boolean;
}

const MIXUP_HELP =
  'Sandbox and production have separate OAuth apps and grants: a secret or token from the other one fails with "Invalid JWT" or "Grant revoked".';

export default async function login(ctx: Context, opts: LoginOptions): Promise<number> {
  const out = ctx.out;
  const auth = await ctx.auth();
  // Find out first whether the keychain can take the secrets: before asking for them, before any request.
  if (!opts.insecureStorage) {
    const kc = await auth.keychain();
    if (kc.probe) await kc.probe();
    else await kc.get(ctx.environment().environment);
  }

  let environment: Environment;
  const choice = ctx.environment();
  if (choice.source === 'flag' || choice.source === 'TASTY_ENV' || opts.stdin || !ctx.canPrompt()) {
    environment = choice.environment;
  } else {
    const p = await ctx.prompter();
    environment = await p.select<Environment>(
      'Which environment?',
      ENVIRONMENTS.map((e) => ({ name: e, value: e, description: `${BASE_URLS[e].replace('https://', '')}. ${MIXUP_HELP}` })),
      choice.environment,
    );
  }
  const api = ctx.baseUrl(environment);
  if (api.overridden) out.warn(`note: TASTY_API_URL is set: the secrets will be sent to ${api.baseUrl}, not to ${BASE_URLS[environment]}`);

  // Read the secrets: --stdin, or masked prompts. Never from argv.
  let clientSecret: string;
  let refreshToken: string;
  if (opts.stdin) {
    const lines = (await ctx.readStdin()).split(/\r?\n/).filter((l) => l.trim() !== '');
    if (lines.length < 2) {
      throw new UsageError('--stdin needs two lines: the client secret, then the refresh token', 'e.g. printf "%s\\n%s\\n" "$SECRET" "$TOKEN" | tasty login --stdin');
    }
    clientSecret = cleanSecret(lines[0] ?? '');
    refreshToken = cleanSecret(lines[1] ?? '');
  } else if (ctx.canPrompt()) {
    const p = await ctx.prompter();
    out.info(`Logging in to ${environment}. ${MIXUP_HELP}`);
    // Refused in place (the prompt stays open): nothing, whitespace inside, a token that is not a JWT.
    clientSecret = cleanSecret(
      await p.secret(`Client secret (${environment} OAuth app):`, {
        validate: (v) => {
          const c = cleanSecret(v);
          if (!c) return 'Nothing entered: paste the client secret of the OAuth app (Ctrl-C to cancel)';
          if (/\s/.test(c)) return 'The client secret contains whitespace: copy it again without line breaks or spaces';
          return true;
        },
      }),
    );
    refreshToken = cleanSecret(
      await p.secret(`Refresh token (${environment} grant):`, {
        validate: (v) => {
          const c = cleanSecret(v);
          if (!c) return 'Nothing entered: paste the refresh token of the grant (Ctrl-C to cancel)';
          const d = decodeRefreshToken(c);
          return d.ok ? true : `The refresh token ${d.problem}: copy the whole token again, without quotes or line breaks`;
        },
      }),
    );
  } else {
    throw new UsageError(
      'no terminal to ask for the secrets',
      ctx.noTerminalHint('pipe them in with `tasty login --stdin` (client secret, then refresh token, one per line), or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN'),
    );
  }
  out.addSecret(clientSecret);
  out.addSecret(refreshToken);

  // Shape checks before anything is sent.
  if (!clientSecret) throw new UsageError('the client secret is empty', 'copy it from the OAuth app (it is shown once when created)');
  if (/\s/.test(clientSecret)) throw new UsageError('the client secret contains whitespace', 'copy it again without line breaks or spaces');
  if (!refreshToken) throw new UsageError('the refresh token is empty', 'copy it from the grant you created');
  const decoded = decodeRefreshToken(refreshToken);
  if (!decoded.ok) throw new UsageError(`the refresh token ${decoded.problem}`, 'copy the whole refresh token of the grant again, without quotes or line breaks');
  const f = decoded.facts;
  out.info(
    oneLine(`Refresh token: grant ${f.grantId ?? '?'}, client ${mask(f.clientId)}, scopes ${f.scopes.join(' ') || '(none)'}, issued ${f.issuedAt?.slice(0, 10) ?? '?'}`),
  );
  if (!f.scopes.includes('read')) out.warn('warning: this grant has no "read" scope: accounts and balances will be refused');

  const envCreds = fromEnv(ctx.env, environment).credentials;
  if (envCreds) {
    out.warn(`note: ${envCreds.where.replace(/^environment variables /, '')} are set and take precedence over the stored credentials while they are`);
  }
  if (opts.insecureStorage && ctx.env.TASTY_KEYCHAIN_SERVICE) {
    out.warn(
      `note: TASTY_KEYCHAIN_SERVICE names a keychain entry and does not apply to --insecure-storage: the plaintext file holds one set per environment in ${ctx.dir} (use TASTY_CONFIG_DIR for a second one)`,
    );
  }

  // Credentials tastytrade already rejected at this API are not sent again (repeated failed logins earn an IP
  // block), whatever else is on record: each rejection belongs to exactly the credentials it was given for.
  const creds = { clientSecret, refreshToken, source: opts.insecureStorage ? ('file' as const) : ('keychain' as const), where: '' };
  const before = auth.state();
  const held = auth.heldRejection(before, environment, creds);
  if (held) throw new CredentialsRejectedError(environment, held.description, { held: true, since: held.at });
  // One grant, one environment: a grant stored for (or seen working in) the other environment is not sent here.
  const other: Environment = environment === 'sandbox' ? 'production' : 'sandbox';
  const theirs = await storedSecretsOf(auth, ctx.dir, other);
  if (theirs && (theirs.refreshToken === refreshToken || (f.grantId !== undefined && grantIdOf(theirs.refreshToken) === f.grantId))) {
    throw new WrongEnvironmentError(f.grantId ?? 'of this token', other, environment, 'stored');
  }
  auth.throwIfOtherEnvironment(before, environment, creds);
  // The state must be writable before anything is sent: a rejection that cannot be recorded would be resent.
  await auth.withStateLock((state) => auth.saveState(state), auth.slot(before, environment, creds).fp);

  const client = await ctx.client(environment);
  const spin = await out.spinner(`Checking the credentials with tastytrade (${environment})…`);
  let token: Awaited<ReturnType<typeof client.mint>>;
  let name = '';
  let accountCount = 0;
  try {
    token = await client.mint(refreshToken, clientSecret);
    out.addSecret(token.accessToken);
    if (token.refreshToken) out.addSecret(token.refreshToken);
    const me = await client.call('GET', '/customers/me', token.accessToken);
    const accts = await client.call('GET', '/customers/me/accounts', token.accessToken);
    const d = (me.json as { data?: Record<string, unknown> } | undefined)?.data ?? {};
    name = [d['first-name'], d['last-name']].filter((x) => typeof x === 'string' && x).join(' ') || String(d.email ?? d.username ?? '');
    const items = (accts.json as { data?: { items?: Array<{ account?: { 'is-closed'?: boolean } }> } } | undefined)?.data?.items ?? [];
    accountCount = items.filter((i) => i.account?.['is-closed'] !== true).length;
    spin.stop();
  } catch (e) {
    spin.fail('tastytrade did not accept the credentials');
    if (e instanceof CredentialsRejectedError) {
      // Remember the rejection of exactly these credentials at this API, so nothing resends them.
      await auth.withStateLock((state) => {
        auth.holdRejection(state, auth.slot(state, environment, creds), e, creds);
        auth.saveState(state);
      });
    }
    throw e;
  }

  // A new refresh token in the response (tastytrade's do not rotate today) is the one to keep.
  const kept = { clientSecret, refreshToken: token.refreshToken ?? refreshToken };
  const stored = await storeSecrets(auth, ctx.dir, environment, kept, opts.insecureStorage === true, new Date(ctx.now()));
  creds.where = stored.where;
  await auth.withStateLock((state) => {
    auth.record(state, environment, { ...creds, ...kept }, token);
  });

  // The environment just logged into becomes the selected one when no default is saved; else say how to select it.
  const cfg = ctx.config();
  let madeDefault = false;
  if (!cfg.defaultEnvironment) {
    writeUserConfig(ctx.dir, { ...cfg, defaultEnvironment: environment });
    madeDefault = true;
  }
  const selected = selectEnvironment(undefined, ctx.env, madeDefault ? { ...cfg, defaultEnvironment: environment } : cfg);

  if (ctx.json) {
    out.document({
      environment,
      user: name || null,
      accounts: accountCount,
      storage: stored,
      grantId: f.grantId ?? null,
      scopes: f.scopes,
      selected: selected.environment === environment,
    });
  } else {
    const where = stored.kind === 'file' ? `in plaintext in ${stored.where} (mode 0600)` : `in the ${stored.where}`;
    out.info(
      `${out.ec.green('✓')} Logged in to ${environment} as ${oneLine(name) || 'unknown user'} (${accountCount} account${accountCount === 1 ? '' : 's'}). Secrets stored ${where}.`,
    );
    if (selected.environment !== environment) {
      const how = selected.source === 'TASTY_ENV' ? `\`export TASTY_ENV=${environment}\`` : `\`tasty env use ${environment}\``;
      out.info(`Commands still use ${selected.environment} (${selected.source}): ${how} selects ${environment}.`);
    } else if (madeDefault) {
      out.info(`${environment} is now the default environment (\`tasty env use\` changes it).`);
    }
  }
  return 0;
}
