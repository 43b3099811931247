// tasty api <path>: an authenticated call to any endpoint of the selected environment (relative paths only).
import { readFileSync } from 'node:fs';
import type { Context } from '../context.ts';
import { CancelledError, UsageError } from '../errors.ts';
import { safeJson, sanitize } from '../output.ts';

interface ApiOptions {
  method?: string;
  data?: string;
  yes?: boolean;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

export function validatePath(p: string): string {
  const t = p.trim();
  if (/^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('//') || t.startsWith('\\\\') || t.includes('\\')) {
    throw new UsageError(`absolute URLs are refused: ${JSON.stringify(t.slice(0, 60))}`, 'give a path such as /customers/me; the token is only ever sent to the selected environment');
  }
  if (!t.startsWith('/')) throw new UsageError(`the path must start with "/": ${JSON.stringify(t.slice(0, 60))}`, 'e.g. tasty api /customers/me');
  if (/[\u0000-\u001f\u007f\s#]/.test(t)) throw new UsageError('the path contains spaces, control characters or a fragment', 'percent-encode them');
  return t;
}

function readBody(data: string): string {
  let text = data;
  if (data.startsWith('@')) {
    try {
      text = readFileSync(data.slice(1), 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${data.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, 'give -d @path/to/body.json');
    }
  }
  try {
    JSON.parse(text);
  } catch {
    throw new UsageError('-d is not valid JSON', "e.g. -d '{\"order-type\":\"Limit\"}' or -d @order.json");
  }
  return text;
}

export default async function api(ctx: Context, opts: ApiOptions, args: string[]): Promise<number> {
  const path = validatePath(args[0] ?? '');
  const method = (opts.method ?? 'GET').toUpperCase();
  if (!METHODS.includes(method)) throw new UsageError(`-X must be one of ${METHODS.join(', ')}, not ${JSON.stringify(opts.method?.slice(0, 20))}`);
  const body = opts.data !== undefined ? readBody(opts.data) : undefined;
  if (body !== undefined && method === 'GET') throw new UsageError('-d needs a method that takes a body', 'add -X POST (or PUT, PATCH)');
  const { environment } = ctx.environment();
  if (method !== 'GET' && !opts.yes) {
    if (!ctx.canPrompt()) {
      throw new UsageError(`${method} ${path} can change your ${environment} account (orders, transfers): refusing without confirmation`, 'add --yes to send it without asking');
    }
    const ok = await (await ctx.prompter()).confirm(`Send ${method} ${path} to ${environment}?`);
    if (!ok) throw new CancelledError();
  }
  const auth = await ctx.auth();
  const r = await auth.call(environment, method, path, body);
  if (ctx.json || ctx.out.stdout.isTTY) {
    ctx.out.data(r.json === undefined ? '' : safeJson(r.json, 2));
  } else {
    ctx.out.data(sanitize(r.text));
  }
  ctx.out.info(ctx.out.ec.dim(`${ctx.out.envTag(environment)} ${method} ${path} → ${r.status}`));
  return 0;
}
