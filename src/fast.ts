// The fast path: answers the hottest commands before commander, the context and the output layer load. bin/tasty.js
// calls fast() first; `undefined` means "not mine" and the full CLI (src/cli.ts) runs instead, from the start.
//
// It decides nothing on its own: environment choice, credential sources, identities, the cached-token rules and the
// --min-ttl rules are the full path's own functions (config.ts, the AuthEngine in cacheOnly mode); `env` and `status`
// run the very command modules with the real Context. What it does not fully understand falls back: any flag it does
// not know (--verbose, --help, --timeout, …), a repeated flag, a terminal on stdout or stderr (colour), a token that
// is not cached and usable, a keychain read, a warning, any error. Nothing is written before the answer is complete,
// so a fallback starts from a clean slate. TASTY_NO_FAST_PATH=1 (read in bin/tasty.js) turns it off.
import { fstatSync, writeSync } from 'node:fs';
import type { AuthEngine } from './auth/engine.ts';
import type { Env } from './config.ts';
import { ENVIRONMENTS } from './environments.ts';
import { VERSION } from './version.ts';

// Everything else is imported where it is used: `--version` loads nothing more (not even node:crypto).
const lib = async () => {
  const [engine, config, text, rules, service] = await Promise.all([
    import('./auth/engine.ts'),
    import('./config.ts'),
    import('./text.ts'),
    import('./api/token-rules.ts'),
    import('./keychain-service.ts'),
  ]);
  return { ...engine, ...config, ...text, ...rules, ...service };
};
type Lib = Awaited<ReturnType<typeof lib>>;

/** Thrown (and caught below) when the fast path gives the command to the full CLI. */
class NotMine extends Error {
  constructor(why = 'not understood') {
    super(why);
  }
}

interface Parsed {
  command: string;
  env?: string;
  json: boolean;
  quiet: boolean;
  noColor: boolean;
  minTtl?: string;
  tokenOnly: boolean;
  all: boolean;
  rest: string[];
}

/** Which options each command may take on the fast path (the global ones are --env, --json, -q/--quiet, --no-color). */
const ALLOWED: Record<string, readonly string[]> = {
  token: ['--min-ttl'],
  exec: ['--min-ttl', '--token-only'],
  env: [],
  status: ['--all'],
};

function parse(args: string[]): Parsed {
  const p: Parsed = { command: '', json: false, quiet: false, noColor: false, tokenOnly: false, all: false, rest: [] };
  const seen = new Set<string>();
  const once = (name: string) => {
    if (seen.has(name)) throw new NotMine();
    seen.add(name);
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') {
      if (p.command !== 'exec') throw new NotMine();
      p.rest = args.slice(i + 1);
      seen.add('--');
      break;
    }
    if (!a.startsWith('-')) {
      if (p.command) throw new NotMine(); // an argument, or a subcommand (env use)
      p.command = a;
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      if (eq > 0 && a.startsWith('--')) return a.slice(eq + 1);
      const v = args[++i];
      if (v === undefined || v.startsWith('-')) throw new NotMine();
      return v;
    };
    once(name === '-q' ? '--quiet' : name);
    if (name === '--env') p.env = value();
    else if (name === '--min-ttl' && p.command && ALLOWED[p.command]?.includes(name)) p.minTtl = value();
    else if (eq > 0 && a.startsWith('--')) throw new NotMine(); // --flag=value for a flag without a value
    else if (name === '--json') p.json = true;
    else if (name === '-q' || name === '--quiet') p.quiet = true;
    else if (name === '--no-color') p.noColor = true;
    else if (name === '--token-only' && p.command === 'exec') p.tokenOnly = true;
    else if (name === '--all' && p.command === 'status') p.all = true;
    else throw new NotMine();
  }
  if (!(p.command in ALLOWED)) throw new NotMine();
  // commander accepts exactly the choices; anything else is its error to report.
  if (p.env !== undefined && !(ENVIRONMENTS as readonly string[]).includes(p.env)) throw new NotMine();
  if (p.command === 'exec' && (!seen.has('--') || p.rest.length === 0 || p.json)) throw new NotMine();
  return p;
}

/** True when the descriptor may be a terminal (colour, spinners): only pipes, files, sockets and /dev/null are not. */
function mayBeTerminal(fd: number): boolean {
  const st = fstatSync(fd);
  if (!st.isCharacterDevice()) return false;
  // Linux: major 1 is the memory devices (/dev/null, /dev/zero); every other character device may be a terminal.
  return !(process.platform === 'linux' && ((st.rdev >> 8) & 0xfff) === 1);
}

/** Write all of `text` to a descriptor synchronously (a pipe made non-blocking by the parent is waited on). */
function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  for (let off = 0; off < buf.length; ) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** The engine of the full path, in cacheOnly mode: no keychain, no lock, no network, no writes. */
function engine(L: Lib, env: Env, secrets: Set<string>): AuthEngine {
  // The full path validates both when it builds its engine (a bad value is its error to report: ours falls back).
  const service = L.keychainServiceName(env);
  const timeoutS = env.TASTY_TIMEOUT === undefined ? 15 : L.parseTimeout(env.TASTY_TIMEOUT, 'TASTY_TIMEOUT');
  const miss = (what: string) => () => {
    throw new L.CacheMiss(what);
  };
  return new L.AuthEngine({
    dir: L.configDir(env),
    env,
    now: Date.now,
    client: miss('client'),
    api: (e) => L.resolveBaseUrl(e, env).baseUrl,
    keychain: miss('keychain'),
    keychainService: () => service,
    warn: (m) => {
      throw new L.CacheMiss(m);
    },
    // token and exec are script commands: the full path prints no notes for them either.
    notice: () => {},
    secret: (s) => secrets.add(s),
    timeoutMs: timeoutS * 1000,
    cacheOnly: true,
  });
}

function environmentOf(L: Lib, p: Parsed, env: Env) {
  return L.selectEnvironment(p.env, env, L.readUserConfig(L.configDir(env), (m) => {
    throw new L.CacheMiss(m);
  }));
}

async function token(p: Parsed, env: Env): Promise<Array<[number, string]>> {
  const L = await lib();
  const { environment } = environmentOf(L, p, env);
  const minTtlS = p.minTtl === undefined ? undefined : L.parseSeconds(p.minTtl, '--min-ttl');
  const secrets = new Set<string>();
  const { token: t } = await engine(L, env, secrets).session(environment, { minTtlS });
  // The full path refuses such a value with an error: its to report.
  if (!L.isBearerToken(t.accessToken)) throw new NotMine('not a Bearer token');
  if (!p.json) return [[1, `${t.accessToken}\n`]];
  const { tokenDocument } = await import('./commands/token.ts');
  const doc = L.redactValue(tokenDocument(t, environment), (s) => L.redactText(s, secrets, { shapes: false }), new Set([t.accessToken]));
  return [[1, `${L.safeJson(doc, 2)}\n`]];
}

async function exec(p: Parsed, env: Env): Promise<number> {
  const L = await lib();
  const { environment } = environmentOf(L, p, env);
  const minTtlS = p.minTtl === undefined ? undefined : L.parseSeconds(p.minTtl, '--min-ttl');
  const auth = engine(L, env, new Set());
  auth.silenceNotices();
  const { token: t, credentials } = await auth.session(environment, { minTtlS, credentials: !p.tokenOnly });
  const [{ childEnv }, { runChild }] = await Promise.all([import('./auth/peers.ts'), import('./commands/exec.ts')]);
  const childVars = childEnv(env, { environment, api: L.resolveBaseUrl(environment, env), token: t, credentials });
  const [command, ...args] = p.rest as [string, ...string[]];
  return runChild(command, args, childVars);
}

/** `env` and `status`: the command modules themselves with the real Context, output collected until they return. */
async function viaContext(p: Parsed, env: Env): Promise<{ code: number; writes: Array<[number, string]> }> {
  if (mayBeTerminal(1) || mayBeTerminal(2)) throw new NotMine('a terminal');
  const writes: Array<[number, string]> = [];
  let keychainWanted = false;
  const stream = (fd: number) => ({ isTTY: false, write: (s: string) => writes.push([fd, s]) });
  const { Context } = await import('./context.ts');
  const io = {
    env,
    stdout: stream(1),
    stderr: stream(2),
    get stdin() {
      return process.stdin;
    },
    keychain: () => {
      keychainWanted = true;
      return Promise.reject(new NotMine('keychain'));
    },
  };
  const ctx = new Context(io, { env: p.env, json: p.json || undefined, quiet: p.quiet || undefined, color: p.noColor ? false : undefined }, p.command);
  try {
    const mod = p.command === 'env' ? await import('./commands/env.ts') : await import('./commands/status.ts');
    const code = await mod.default(ctx, { all: p.all || undefined });
    // Credentials in the keychain (status reports a failed read rather than throwing): the full path's business.
    if (keychainWanted) throw new NotMine('keychain');
    return { code, writes };
  } finally {
    await ctx.cleanup();
  }
}

/**
 * Answer argv (without node and the script) on the fast path: the exit code, or undefined to run the full CLI.
 * Never throws; never writes anything unless it answers.
 */
export async function fast(args: string[], env: Env): Promise<number | undefined> {
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    writeAll(1, `${VERSION}\n`);
    return 0;
  }
  let writes: Array<[number, string]>;
  let code = 0;
  try {
    const p = parse(args);
    // A diagnostic report never holds the environment, where secrets may be (as in the full path).
    if (process.report) process.report.excludeEnv = true;
    if (p.command === 'exec') return await exec(p, env);
    if (p.command === 'token') writes = await token(p, env);
    else {
      const r = await viaContext(p, env);
      writes = r.writes;
      code = r.code;
    }
  } catch {
    return undefined;
  }
  try {
    for (const [fd, text] of writes) writeAll(fd, text);
  } catch (e) {
    // A reader that went away ends the run quietly, as in the full path.
    if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    throw e;
  }
  return code;
}
