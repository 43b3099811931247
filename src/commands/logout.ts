// tasty logout: delete an environment's stored secrets, cached token and held rejection. Idempotent.
import { fromEnv } from '../auth/credentials.ts';
import { removeSecrets } from '../auth/storage.ts';
import { type Environment, ENVIRONMENTS } from '../config.ts';
import type { Context } from '../context.ts';

export default async function logout(ctx: Context, opts: { all?: boolean }): Promise<number> {
  const envs: readonly Environment[] = opts.all ? ENVIRONMENTS : [ctx.environment().environment];
  const auth = await ctx.auth();
  const report: Array<{ environment: Environment; removed: string[]; keychainProblem?: string }> = [];
  for (const environment of envs) {
    const r = await removeSecrets(auth, ctx.dir, environment);
    report.push({ environment, ...r });
  }
  const envVars = fromEnv(ctx.env).credentials;
  if (ctx.json) {
    ctx.out.document({ environments: report, environmentVariablesSet: !!envVars });
    return 0;
  }
  for (const r of report) {
    if (r.removed.length) ctx.out.info(`${ctx.out.ec.green('✓')} Logged out of ${r.environment}: removed ${r.removed.join(', ')}.`);
    else ctx.out.info(`Nothing to remove for ${r.environment}: not logged in.`);
    if (r.keychainProblem) ctx.out.warn(`note: the keychain could not be checked (${r.keychainProblem})`);
  }
  if (envVars) ctx.out.warn(`note: ${envVars.where} are still set; unset them to stop using those credentials`);
  return 0;
}
