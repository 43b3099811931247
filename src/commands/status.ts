import type { Context } from '../context.ts';
import { UsageError } from '../errors.ts';

export default async function (_ctx: Context): Promise<number> {
  throw new UsageError('not implemented yet');
}
