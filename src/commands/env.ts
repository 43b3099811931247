// tasty env: the selected environment and where the choice came from.
import type { Context } from '../context.ts';

export default async function env(ctx: Context): Promise<number> {
  const choice = ctx.environment();
  const { baseUrl, overridden } = ctx.baseUrl(choice.environment);
  if (ctx.json) {
    ctx.out.document({ environment: choice.environment, source: choice.source, baseUrl, baseUrlOverridden: overridden, savedDefault: ctx.config().defaultEnvironment ?? null });
    return 0;
  }
  ctx.out.data(`${choice.environment} (from ${choice.source === 'flag' ? '--env' : choice.source})`);
  ctx.out.info(`API: ${baseUrl}${overridden ? ' (TASTY_API_URL override)' : ''}`);
  return 0;
}
