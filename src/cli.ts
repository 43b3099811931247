// The commander program: global options, one registration per command, each command imported lazily.
// run() is the single exit point: it is the only place that prints errors and decides the exit code.
import type { Command } from 'commander';
// Only commander and small modules load at start-up: --version and --help pay for nothing else.
import type { Context, GlobalOptions, Io } from './context.ts';
import { ExitCode, TastyError } from './errors.ts';
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
    .option('--json', 'print one JSON document on stdout')
    .option('--no-color', 'disable colour (also NO_COLOR)')
    .option('--verbose', 'log requests to stderr (secrets redacted); stack traces on errors')
    .option('--timeout <seconds>', 'network timeout in seconds (default 15, or TASTY_TIMEOUT)')
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
      const ctx = new Context(io, globals);
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
    .description('save the default account of the selected environment')
    .argument('<account-number>')
    .action(lazy(() => import('./commands/accounts-use.ts')));

  program
    .command('balances')
    .description('balances of one account, the default one, or every open account')
    .option('--account <number>', 'account number')
    .option('--watch [seconds]', 'refresh every N seconds (default 15, minimum 5) until Ctrl-C')
    .action(lazy(() => import('./commands/balances.ts')));

  program
    .command('api')
    .description('call any API endpoint with the cached token (relative paths only)')
    .argument('<path>', 'e.g. /customers/me')
    .option('-X, --method <method>', 'HTTP method', 'GET')
    .option('-d, --data <json>', 'request body: JSON text, or @file')
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

async function errorOutput(io: Io, argv: string[]): Promise<Output> {
  const { Output } = await import('./output.ts');
  return new Output({
    json: false,
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
  try {
    if (args.length === 0) {
      io.stdout.write(program.helpInformation());
      return 0;
    }
    await program.parseAsync(argv);
    code = state.code;
  } catch (e) {
    code = report(e, state.ctx?.out ?? (await errorOutput(io, argv)));
  } finally {
    try {
      await state.ctx?.cleanup();
    } catch {
      /* nothing left to do */
    }
  }
  return code;
}

function isCommanderError(e: unknown): e is Error & { code: string } {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'string' && (e as unknown as { code: string }).code.startsWith('commander.');
}

function report(e: unknown, out: Output): number {
  if (isCommanderError(e)) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    const msg = e.message.replace(/^error: /, '');
    out.error(msg, 'run `tasty --help` for usage');
    return ExitCode.usage;
  }
  if (e instanceof TastyError) {
    out.error(e.message, e.hint);
    if (out.verbose && e.cause) out.debug(String((e.cause as Error).stack ?? e.cause));
    return e.exitCode;
  }
  const name = (e as { name?: string } | null)?.name;
  if (name === 'ExitPromptError' || name === 'AbortPromptError') {
    out.error('cancelled');
    return ExitCode.cancelled;
  }
  const msg = e instanceof Error ? e.message : String(e);
  out.error(`internal error: ${msg.split('\n')[0]}`, 'this is a bug in tasty: please report it with the output of the same command run with --verbose');
  if (out.verbose && e instanceof Error && e.stack) out.stderr.write(`${out.redact(e.stack)}\n`);
  return ExitCode.internal;
}

export async function main(): Promise<void> {
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
  };
  process.on('SIGINT', () => {
    if (handlers.size) for (const h of handlers) h();
    else {
      process.stderr.write('\n');
      process.exit(ExitCode.cancelled);
    }
  });
  process.exitCode = await run(process.argv, io);
}
