// tasty logout: delete an environment's stored secrets, and the cached tokens and held rejections of those
// credentials. Idempotent. Says exactly what it removed; when the keychain could not be reached, it says the
// secrets there were NOT removed and exits 7.
import { fromEnv } from '../auth/credentials.ts';
import { removeSecrets } from '../auth/storage.ts';
import { type Environment, ENVIRONMENTS } from '../config.ts';
import type { Context } from '../context.ts';
import { ExitCode, KeychainError } from '../errors.ts';

export default async function logout(ctx: Context, opts: { all?: boolean }): Promise<number> {
  const envs: readonly Environment[] = opts.all ? ENVIRONMENTS : [ctx.environment().environment];
  const auth = await ctx.auth();
  const report: Array<{ environment: Environment; removed: string[]; keychainProblem?: string; keychainNote?: string }> = [];
  for (const environment of envs) {
    const r = await removeSecrets(auth, ctx.dir, environment);
    report.push({ environment, ...r });
  }
  const envVars = envs.map((e) => fromEnv(ctx.env, e).credentials).find((c) => c);
  const problem = report.find((r) => r.keychainProblem)?.keychainProblem;
  if (ctx.json) {
    ctx.out.document({ environments: report, complete: !problem, environmentVariablesSet: !!envVars });
    return problem ? ExitCode.keychain : 0;
  }
  for (const r of report) {
    const what = r.removed.length ? `removed ${r.removed.join(', ')}` : '';
    if (r.keychainProblem) {
      ctx.out.info(`${ctx.out.ec.red('✗')} Not fully logged out of ${r.environment}: ${what ? `${what}, but ` : ''}the keychain could not be reached, so any secrets stored there were NOT removed.`);
    } else if (r.removed.length) ctx.out.info(`${ctx.out.ec.green('✓')} Logged out of ${r.environment}: ${what}.`);
    else ctx.out.info(`Nothing to remove for ${r.environment}: not logged in.`);
    if (r.keychainNote) ctx.out.warn(`note: the keychain could not be checked (${r.keychainNote})`);
  }
  if (envVars) ctx.out.warn(`note: ${envVars.where} are still set; unset them to stop using those credentials`);
  if (problem) {
    throw new KeychainError(`the keychain could not be reached (${problem.replace(/^the /, '')})`, 'unlock or start it and run `tasty logout` again; until then the secrets stay stored there');
  }
  return 0;
}
