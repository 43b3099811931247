// The commander program: global options, one registration per command, each command imported lazily.
// run() is the single exit point: it is the only place that prints errors and decides the exit code.
import type { Command } from 'commander';
// Only commander and small modules load at start-up: --version and --help pay for nothing else.
import type { Context, GlobalOptions, Io } from './context.ts';
import { errorCode } from './error-codes.ts';
import { ApiError, describeError, ExitCode, exitsAtOnce, TastyError } from './errors.ts';
import type { Output } from './output.ts';
import { ENVIRONMENTS } from './environments.ts';
import { VERSION } from './version.ts';

type Action = (ctx: Context, opts: Record<string, unknown>, args: string[]) => Promise<number | undefined>;

async function build(io: Io, state: { ctx?: Context; code: number }): Promise<Command> {
  const { Command, Option } = await import('commander');
  const program = new Command('tasty');
  program
    .description('OAuth credentials, cached access tokens and everyday reads for the TastyTrade API')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addOption(new Option('--env <environment>', 'environment to use (default: TASTY_ENV, then the saved default, then production)').choices(ENVIRONMENTS))
    .option('--json', 'print exactly one JSON document on stdout, also on failure ({"error":{…}})')
    .option('-q, --quiet', 'no notes, success lines or progress on stderr (errors still print)')
    .option('--no-color', 'disable colour (also NO_COLOR)')
    .option('--verbose', 'log requests to stderr (secrets redacted); stack traces on errors')
    .option('--timeout <seconds>', 'network timeout in seconds (default 15, or TASTY_TIMEOUT)')
    .option('--api-version <YYYYMMDD>', 'Accept-Version for data requests (default: TASTY_API_VERSION, else the tested version in production, none in the sandbox)')
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: () => {
        /* printed by run() */
      },
    });

  const lazy = (loader: () => Promise<{ default: Action }>) => {
    return async (...a: unknown[]) => {
      const cmd = a[a.length - 1] as Command;
      const opts = cmd.opts();
      const globals = cmd.optsWithGlobals() as GlobalOptions;
      const { Context } = await import('./context.ts');
      const names: string[] = [];
      for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
      const ctx = new Context(io, globals, names.join(' '));
      state.ctx = ctx;
      const args = cmd.registeredArguments.some((r) => r.variadic) ? cmd.args : cmd.args.slice(0, cmd.registeredArguments.length);
      const { default: action } = await loader();
      const code = await action(ctx, opts, args);
      state.code = code ?? 0;
    };
  };

  program
    .command('token')
    .description('print a valid access token (minted only when the cached one has 60 s or less left)')
    .option('--min-ttl <seconds>', 'the token lives at least this long (minted early if needed)')
    .action(lazy(() => import('./commands/token.ts')));

  program
    .command('exec')
    .description("run a command with the environment's access token (and secrets, unless --token-only) in its environment")
    .usage('[--token-only] [--min-ttl <seconds>] -- <command> [args...]')
    .argument('[command...]', 'the command and its arguments, after --')
    .option('--token-only', 'pass only the access token (15 minutes of life), not the refresh token and client secret')
    .option('--min-ttl <seconds>', 'the token lives at least this long (minted early if needed)')
    .action(lazy(() => import('./commands/exec.ts')));

  program
    .command('quote-token')
    .description('print a DXLink quote token for streaming market data (cached until shortly before it expires)')
    .action(lazy(() => import('./commands/quote-token.ts')));

  program
    .command('login')
    .description('store credentials for an environment after validating them with tastytrade')
    .option('--stdin', 'read the client secret and the refresh token from standard input, one per line')
    .option('--insecure-storage', 'store the secrets in a plaintext file (0600) instead of the OS keychain')
    .action(lazy(() => import('./commands/login.ts')));

  program
    .command('logout')
    .description('delete the stored credentials and cached tokens of an environment')
    .option('--all', 'both environments')
    .action(lazy(() => import('./commands/logout.ts')));

  program
    .command('status')
    .description('where the credentials of each environment live, and the state of the cached token (offline)')
    .option('--all', 'both environments')
    .action(lazy(() => import('./commands/status.ts')));

  const env = program
    .command('env')
    .description('show the selected environment and where the choice came from')
    .action(lazy(() => import('./commands/env.ts')));
  env
    .command('use')
    .description('save the default environment')
    .argument('<environment>', ENVIRONMENTS.join(' | '))
    .action(lazy(() => import('./commands/env-use.ts')));

  const accounts = program
    .command('accounts')
    .description('list the accounts of the selected environment')
    .option('--all', 'include closed accounts')
    .action(lazy(() => import('./commands/accounts.ts')));
  accounts
    .command('use')
    .description('save the default account of the selected environment (--unset clears it)')
    .argument('[account-number]')
    .option('--unset', 'clear the default account')
    .action(lazy(() => import('./commands/accounts-use.ts')));

  program
    .command('balances')
    .description('balances of one account (--account), the default one, or every open account (--all)')
    .option('--account <number>', 'account number')
    .option('--all', 'every open account, even when a default account is saved')
    .option('--watch [seconds]', 'refresh every N seconds (default 15, minimum 5) until Ctrl-C')
    .action(lazy(() => import('./commands/balances.ts')));

  program
    .command('api')
    .description('call any API endpoint with the cached token (paths relative to the API root only)')
    .argument('<path>', 'e.g. customers/me or /customers/me')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-d, --data <json>', 'request body: JSON text, @file, or @- for standard input (implies POST)')
    .option('-H, --header <name:value>', 'extra request header, repeatable (never Authorization)', (v: string, prev: string[] = []) => [...prev, v])
    .option('-y, --yes', 'do not ask before a non-GET request')
    .action(lazy(() => import('./commands/api.ts')));

  program
    .command('doctor')
    .description('diagnose credentials, connectivity, revoked grants and IP blocks')
    .option('--all', 'both environments')
    .option('--force', 'send one token request even while a rejection is held')
    .option('--show-accounts', 'show full account numbers')
    .action(lazy(() => import('./commands/doctor.ts')));

  return program;
}

/** --json among the options (before a `--`), for errors raised before a command's context exists. */
export function jsonRequested(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

async function errorOutput(io: Io, argv: string[]): Promise<Output> {
  const { Output } = await import('./output.ts');
  return new Output({
    json: jsonRequested(argv),
    color: argv.includes('--no-color') ? false : undefined,
    verbose: argv.includes('--verbose'),
    env: io.env,
    stdout: io.stdout,
    stderr: io.stderr,
  });
}

/** Run the CLI; returns the exit code. Never throws. */
export async function run(argv: string[], io: Io): Promise<number> {
  const args = argv.slice(2);
  // Scripts call `tasty --version` in loops: answer it before building the program.
  if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
    io.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const state: { ctx?: Context; code: number } = { code: 0 };
  const program = await build(io, state);
  let code: number;
  let atOnce = false;
  try {
    if (args.length === 0) {
      io.stdout.write(program.helpInformation());
      return 0;
    }
    await program.parseAsync(argv);
    code = state.code;
  } catch (e) {
    code = report(e, state.ctx?.out ?? (await errorOutput(io, args)), state.ctx?.command ?? '');
    atOnce = exitsAtOnce(e);
  } finally {
    try {
      await state.ctx?.cleanup();
    } catch {
      /* nothing left to do */
    }
  }
  // A keychain call that timed out may still be waiting in native code (a macOS dialog): setting the exit code would
  // leave the process alive until someone answers it, so end it now.
  if (atOnce) io.exit?.(code);
  return code;
}

/** Print an error (one line and a hint on stderr; with --json also the error document on stdout); its exit code. */
function report(e: unknown, out: Output, command: string): number {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
  // One voice: describeError (errors.ts) builds the `tasty:` line and the `hint:` line of every error.
  const d = describeError(e);
  out.error(d.message, d.hint);
  if (out.json && !out.documented) out.document(errorDocument(out, e, command, d.message, d.hint, d.exitCode));
  if (out.verbose) {
    const stack = e instanceof TastyError ? (e.cause as Error | undefined)?.stack : e instanceof Error && d.exitCode === ExitCode.internal ? e.stack : undefined;
    if (stack) out.debug(stack);
  }
  return d.exitCode;
}

/** A server's JSON with every known secret and token-shaped string redacted (as text when that would break it). */
function redactJson(out: Output, value: unknown): unknown {
  const text = JSON.stringify(value);
  const red = out.redact(text);
  if (red === text) return value;
  try {
    return JSON.parse(red) as unknown;
  } catch {
    return red;
  }
}

/** The --json error document: {"error":{"code","message","hint","exitCode"}}, plus the HTTP answer for `tasty api`. */
export function errorDocument(out: Output, e: unknown, command: string, message: string, hint: string | undefined, exitCode: number): { error: Record<string, unknown> } {
  const clean = (s: string) => out.redact(s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim());
  const error: Record<string, unknown> = { code: errorCode(e, exitCode), message: clean(message), hint: hint === undefined ? null : clean(hint), exitCode };
  if (e instanceof ApiError && e.response && command === 'api') {
    error.status = e.status;
    error.response = e.response.json !== undefined ? redactJson(out, e.response.json) : out.redact(e.response.text);
  }
  return { error };
}

export async function main(): Promise<void> {
  // A reader that went away (`tasty balances --watch --json | head -c 10`) ends the run quietly, not with a stack.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
      throw e;
    });
  }
  // Hardening Node allows: a diagnostic report (which a user or a fatal error can trigger) never holds the
  // environment, where secrets may be. Core dumps (RLIMIT_CORE, PR_SET_DUMPABLE) cannot be refused from Node.
  if (process.report) process.report.excludeEnv = true;
  const handlers = new Set<() => void>();
  const io: Io = {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    onInterrupt: (cb) => {
      handlers.add(cb);
      return () => handlers.delete(cb);
    },
    // Let stdout and stderr drain (pipes are asynchronous on Windows), then end the process.
    exit: (code) => {
      process.exitCode = code;
      let pending = 2;
      const done = () => {
        if (--pending === 0) process.exit(code);
      };
      process.stdout.write('', done);
      process.stderr.write('', done);
      setTimeout(() => process.exit(code), 500).unref();
    },
  };
  process.on('SIGINT', () => {
    if (handlers.size) for (const h of handlers) h();
    else {
      process.stderr.write('\ntasty: cancelled\n');
      // Scripts get their one document on every exit, Ctrl-C included (writes to pipes and files are synchronous).
      if (jsonRequested(process.argv.slice(2))) {
        process.stdout.write(`${JSON.stringify({ error: { code: 'cancelled', message: 'cancelled', hint: null, exitCode: ExitCode.cancelled } }, null, 2)}\n`);
      }
      process.exit(ExitCode.cancelled);
    }
  });
  process.exitCode = await run(process.argv, io);
}
