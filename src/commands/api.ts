// tasty api <path>: an authenticated call to any endpoint of the selected environment, in the manner of `gh api`.
// The path is always relative to the API root: the token is never sent to another host.
import { readFileSync } from 'node:fs';
import type { Context } from '../context.ts';
import { ApiError, DeclinedError, UsageError } from '../errors.ts';
import { oneLine, safeJson, sanitize } from '../output.ts';

interface ApiOptions {
  method?: string;
  data?: string;
  header?: string[];
  yes?: boolean;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
export const MAX_BODY_BYTES = 1024 * 1024;

/** A path relative to the API root; a leading "/" is optional. Anything that could name another host is refused. */
export function validatePath(p: string): string {
  const t = p.trim();
  // Git Bash (MSYS) rewrites an argument that starts with "/" into a Windows path before tasty sees it:
  // `tasty api /customers/me` arrives as "C:/Program Files/Git/customers/me". No API path starts with a drive letter.
  if (/^[a-z]:[\\/]/i.test(t)) {
    const original = /\/(?:Git|msys64|msys32|usr)\/(.*)$/i.exec(t.replace(/\\/g, '/'))?.[1];
    throw new UsageError(
      `${JSON.stringify(t.slice(0, 80))} is a Windows file path, not an API path: Git Bash (MSYS) rewrites arguments that start with "/"${original ? ` (you likely typed /${original.slice(0, 60)})` : ''}`,
      `leave out the leading slash (\`tasty api ${original ?? 'customers/me'}\`), or set MSYS_NO_PATHCONV=1 for the command`,
    );
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(t) || t.startsWith('//') || t.startsWith('\\\\') || t.includes('\\')) {
    throw new UsageError(`absolute URLs are refused: ${JSON.stringify(t.slice(0, 60))}`, 'give a path such as customers/me; the token is only ever sent to the selected environment');
  }
  if (t === '' || t === '/') throw new UsageError('give an API path', 'e.g. tasty api customers/me');
  if (/[\u0000-\u001f\u007f\s#]/.test(t)) throw new UsageError('the path contains spaces, control characters or a fragment', 'percent-encode them');
  return t.startsWith('/') ? t : `/${t}`;
}

// Headers tasty sets itself or that describe the connection, not the request: never taken from -H.
const REFUSED_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
]);
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Parse -H "Name: value" options into a header map (lower-case names). */
export function parseHeaders(list: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    if (/[\r\n\u0000]/.test(h)) throw new UsageError('-H must not contain line breaks or NUL characters', 'give one header per -H');
    const i = h.indexOf(':');
    const name = (i === -1 ? h : h.slice(0, i)).trim();
    const value = i === -1 ? '' : h.slice(i + 1).trim();
    if (i === -1 || !TOKEN_RE.test(name)) {
      throw new UsageError(`-H takes "Name: value", not ${JSON.stringify(oneLine(h).slice(0, 40))}`, 'e.g. -H "Accept-Version: 20260601"');
    }
    const lower = name.toLowerCase();
    if (REFUSED_HEADERS.has(lower)) {
      const why = lower === 'authorization' || lower === 'proxy-authorization' ? 'tasty sends the access token itself' : 'it describes the connection, which tasty manages';
      throw new UsageError(`-H ${name} is refused: ${why}`, 'give only request headers such as Accept-Version');
    }
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw new UsageError(`-H ${name}: the value contains control characters`);
    out[lower] = value;
  }
  return out;
}

function readErrno(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return code ?? 'unreadable';
  }
}

/** The -d body: JSON text, @file or @- (standard input). Checked to be JSON before anything is sent. */
async function readBody(ctx: Context, data: string): Promise<{ text: string; fromStdin: boolean }> {
  let text = data;
  let source = '-d';
  const fromStdin = data === '@-';
  if (fromStdin) {
    source = 'standard input (-d @-)';
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of ctx.io.stdin) {
      const buf = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
      size += buf.length;
      if (size > MAX_BODY_BYTES) throw new UsageError(`${source} is larger than 1 MiB`);
      chunks.push(buf);
    }
    text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') throw new UsageError(`${source} was empty`, "pipe the JSON body in, e.g. echo '{\"price\":\"1.00\"}' | tasty api … -d @-");
  } else if (data.startsWith('@')) {
    const file = data.slice(1);
    source = file;
    if (file === '') throw new UsageError('-d @ needs a file name', 'give -d @order.json, or -d @- for standard input');
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read ${file}: ${readErrno((e as NodeJS.ErrnoException).code)}`, 'give -d @path/to/body.json, or -d @- to read standard input');
    }
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw new UsageError(`${file} is larger than 1 MiB`);
  }
  try {
    JSON.parse(text);
  } catch (e) {
    const why = oneLine((e as Error).message).slice(0, 120);
    throw new UsageError(`${source === '-d' ? '-d' : source} is not valid JSON (${why})`, "e.g. -d '{\"order-type\":\"Limit\"}' or -d @order.json");
  }
  return { text, fromStdin };
}

/** What a confirmation shows: method, path, environment (production in red) and the start of the body. */
function summary(ctx: Context, method: string, path: string, environment: string, body: string | undefined): string {
  const ec = ctx.out.ec;
  const env = environment === 'production' ? ec.red.bold('production') : ec.magenta(environment);
  const lines = [`${ec.bold(method)} ${sanitize(path)} → ${env}`];
  if (body !== undefined) {
    const flat = oneLine(body).replace(/\s+/g, ' ');
    lines.push(ec.dim(`body: ${flat.length > 200 ? `${flat.slice(0, 200)}… (${Buffer.byteLength(body)} bytes)` : flat}`));
  }
  return lines.join('\n');
}

/** Print a response body on stdout: pretty JSON on a terminal (or with --json), the raw body on a pipe. */
function printBody(ctx: Context, text: string, json: unknown, redact: boolean): void {
  const tty = ctx.out.stdout.isTTY === true;
  let out = json !== undefined && (tty || ctx.json) ? safeJson(json, 2) : sanitize(text);
  if (redact) out = ctx.out.redact(out);
  if (out !== '') ctx.out.data(out);
}

export default async function api(ctx: Context, opts: ApiOptions, args: string[]): Promise<number> {
  const path = validatePath(args[0] ?? '');
  const explicit = opts.method?.toUpperCase();
  if (explicit !== undefined && !METHODS.includes(explicit)) throw new UsageError(`-X must be one of ${METHODS.join(', ')}, not ${JSON.stringify(opts.method?.slice(0, 20))}`);
  if (explicit === 'GET' && opts.data !== undefined) throw new UsageError('-X GET takes no body', 'drop -X to send -d as a POST, or give -X PUT / PATCH');
  const method = explicit ?? (opts.data !== undefined ? 'POST' : 'GET');
  const headers = parseHeaders(opts.header);
  const { environment } = ctx.environment();
  const body = opts.data !== undefined ? await readBody(ctx, opts.data) : undefined;
  if (method !== 'GET' && !opts.yes) {
    if (!ctx.canPrompt() || body?.fromStdin) {
      const why = body?.fromStdin ? 'the body came from standard input, so there is no one to ask' : 'no terminal to ask on';
      throw new UsageError(`${method} ${path} can change your ${environment} account (orders, transfers): refusing without confirmation (${why})`, body?.fromStdin ? 'add --yes to send it without asking' : ctx.noTerminalHint('add --yes to send it without asking'));
    }
    ctx.out.stderr.write(`${ctx.out.redact(summary(ctx, method, path, environment, body?.text))}\n`);
    const ok = await (await ctx.prompter()).confirm(`Send ${method} ${path} to ${environment}?`);
    if (!ok) throw new DeclinedError(`${method} ${path}`);
  }
  const auth = await ctx.auth();
  let r: Awaited<ReturnType<typeof auth.call>>;
  try {
    r = await ctx.out.progress(`Waiting for ${method} ${path} (${environment})…`, () => auth.call(environment, method, path, body?.text, Object.keys(headers).length ? headers : undefined));
  } catch (e) {
    if (e instanceof ApiError && e.response) {
      // Like `gh api`: tastytrade's error body on stdout (the --json error document carries it instead).
      if (!ctx.json) printBody(ctx, e.response.text, e.response.json, true);
      if (e.hint === undefined) {
        const withHint = new ApiError(e.message, e.status, e.code, ctx.json ? 'the response is in error.response' : "tastytrade's answer is on stdout", e.cause_);
        withHint.response = e.response;
        throw withHint;
      }
    }
    throw e;
  }
  if (ctx.json) ctx.out.document(r.json === undefined ? null : r.json);
  else printBody(ctx, r.text, r.json, false);
  ctx.out.info(ctx.out.ec.dim(`${ctx.out.envTag(environment)} ${method} ${path} → ${r.status}`));
  return 0;
}
