// tasty env use <environment>: save the default environment.
import { parseEnvironment, writeUserConfig } from '../config.ts';
import type { Context } from '../context.ts';

export default async function envUse(ctx: Context, _opts: unknown, args: string[]): Promise<number> {
  const environment = parseEnvironment(args[0] ?? '', 'the environment');
  const cfg = { ...ctx.config(), defaultEnvironment: environment };
  writeUserConfig(ctx.dir, cfg);
  if (ctx.json) ctx.out.document({ defaultEnvironment: environment });
  else ctx.out.info(`${ctx.out.ec.green('✓')} Default environment is now ${environment}.`);
  if (ctx.env.TASTY_ENV) ctx.out.note(`note: TASTY_ENV=${ctx.env.TASTY_ENV} is set and takes precedence over the saved default`);
  return 0;
}
