// tasty status: offline report of where each environment's credentials live and the state of its token.
import { type EnvStatus, describeEnvironment } from '../auth/storage.ts';
import { type Environment, ENVIRONMENTS } from '../config.ts';
import type { Context } from '../context.ts';
import { ExitCode } from '../errors.ts';
import { oneLine } from '../output.ts';
import { mask } from '../auth/jwt.ts';
import { humanTime } from '../render.ts';

function mmss(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, '0')}`;
}

export default async function status(ctx: Context, opts: { all?: boolean }): Promise<number> {
  const choice = ctx.environment();
  const envs: readonly Environment[] = opts.all ? ENVIRONMENTS : [choice.environment];
  const auth = await ctx.auth();
  const saved = ctx.config().defaultEnvironment ?? null;
  const results: EnvStatus[] = [];
  for (const e of envs) results.push(await describeEnvironment(auth, ctx.dir, e, ctx.env, ctx.now()));
  // Every secret in play is known to the redactor before anything is printed (a stored rejection may echo one).
  for (const r of results) for (const s of [r.credentials?.clientSecret, r.credentials?.refreshToken]) ctx.out.addSecret(s);
  const selected = results.find((r) => r.environment === choice.environment);
  const code = !selected?.loggedIn ? (selected?.keychainError ? ExitCode.keychain : ExitCode.notLoggedIn) : selected.rejection?.held === true ? ExitCode.rejected : ExitCode.ok;

  if (ctx.json) {
    ctx.out.document({
      selected: choice.environment,
      selectedFrom: choice.source,
      defaultEnvironment: saved,
      environments: results.map(({ credentials: _c, ...r }) => ({
        ...r,
        refreshToken: r.refreshToken ? { ...r.refreshToken, clientId: r.refreshToken.clientId ? mask(r.refreshToken.clientId) : undefined } : null,
        isDefault: r.environment === (saved ?? 'production'),
      })),
    });
    return code;
  }
  const o = ctx.out;
  const c = o.c;
  for (const r of results) {
    const tag = o.envTag(r.environment);
    const isDefault = r.environment === (saved ?? 'production') ? c.dim(saved ? ' (saved default)' : ' (default)') : '';
    const lines: string[] = [`${tag}${isDefault}${r.environment === choice.environment && opts.all ? c.dim(' ← selected') : ''}`];
    if (!r.loggedIn && r.keychainError) {
      lines.push(`  ${c.red('✗')} Cannot tell whether you are logged in: the keychain could not be read (below).`);
    } else if (!r.loggedIn) {
      lines.push(`  ${c.red('✗')} Not logged in. Run \`tasty login --env ${r.environment}\` or set TASTY_CLIENT_SECRET and TASTY_REFRESH_TOKEN.`);
    } else {
      const src = r.source;
      const where = src?.kind === 'env' ? src.where : src?.kind === 'file' ? `plaintext file ${src.where} ${c.yellow('(insecure storage)')}` : `the ${src?.where}`;
      lines.push(`  ${c.green('✓')} Logged in; credentials from ${where}`);
      const rt = r.refreshToken;
      if (rt?.problem) lines.push(`  ${c.red('✗')} ${rt.problem}`);
      // JWT claims are token-derived text: sanitised before any colour is added around them.
      else if (rt) lines.push(oneLine(`  Grant ${rt.grantId ?? '?'}, client ${mask(rt.clientId)}, scopes ${rt.scopes.join(' ') || '(none)'}, issued ${rt.issuedAt?.slice(0, 10) ?? '?'}`));
    }
    const t = r.accessToken;
    if (t.state === 'valid') lines.push(`  Access token: valid for ${mmss(t.validForSeconds ?? 0)}`);
    else if (t.state === 'expired') lines.push(`  Access token: expired (a new one is minted on the next command)`);
    else if (t.state === 'unknown') lines.push('  Access token: cannot tell (the credentials could not be read)');
    else lines.push('  Access token: none cached for these credentials');
    if (r.rejection) {
      const when = humanTime(r.rejection.at, ctx.now(), { ago: true });
      lines.push(
        r.rejection.held === true
          ? `  ${c.red('✗')} Rejected by tastytrade at ${when}: "${oneLine(r.rejection.description)}". ${
              r.source?.kind === 'env'
                ? `Not resent while ${r.source.where.replace(/^environment variables /, '')} hold them: correct or unset those variables (they outrank stored credentials; a login does not replace them).`
                : `Not resent; \`tasty login --env ${r.environment}\` with new credentials replaces them.`
            }`
          : `  ${c.yellow('!')} Cannot tell whether the rejection on record (${when}, "${oneLine(r.rejection.description)}") applies: the credentials could not be read.`,
      );
    }
    if (r.otherRejections > 0) lines.push(`  ${c.dim(`${r.otherRejections} rejection${r.otherRejections === 1 ? '' : 's'} of other credentials on record (not these; they stay held).`)}`);
    for (const p of r.problems) lines.push(`  ${c.yellow('!')} ${p}`);
    o.data(lines.join('\n'));
  }
  return code;
}
