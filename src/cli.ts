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

/** The "Examples:" block at the end of a command's help. */
function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

/** A command's path as typed after `tasty` ("accounts use"); empty for the program itself. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

type Action = (ctx: Context, opts: Record<string, unknown>, args: string[]) => Promise<number | undefined>;

async function build(io: Io, state: { ctx?: Context; code: number }): Promise<Command> {
  const { Argument, Command, InvalidArgumentError, Option } = await import('commander');
  const program = new Command('tasty');
  program
    .description('OAuth credentials, cached access tokens and everyday reads for the TastyTrade API')
    .version(VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addOption(
      new Option('--env <environment>', 'environment to use, any case (default: TASTY_ENV, then the saved default, then production)').choices(ENVIRONMENTS).argParser((v: string) => {
        // Any case: `--env Sandbox` is sandbox. The choices stay for the help text and shell completion.
        const t = v.trim().toLowerCase();
        if (!(ENVIRONMENTS as readonly string[]).includes(t)) throw new InvalidArgumentError(`Allowed choices are ${ENVIRONMENTS.join(', ')}.`);
        return t;
      }),
    )
    .option('--json', 'print exactly one JSON document on stdout, also on failure ({"error":{…}})')
    .option('-q, --quiet', 'no notes, success lines or progress on stderr (errors still print)')
    .option('--no-color', 'disable colour (also NO_COLOR)')
    .option('--verbose', 'log requests to stderr (secrets redacted); stack traces on errors')
    .option('--timeout <seconds>', 'network timeout in seconds (default 15, or TASTY_TIMEOUT)')
    .option('--api-version <YYYYMMDD>', 'Accept-Version for data requests (default: TASTY_API_VERSION, else the tested version in production, none in the sandbox)')
    .showSuggestionAfterError(true)
    // Global options are the program's own: a parent command's options (`accounts --all`) are not `accounts use`'s.
    .configureHelp({ showGlobalOptions: true, visibleGlobalOptions: (cmd: Command) => (cmd.parent ? program.options.filter((o) => !o.hidden) : []) })
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
      const ctx = new Context(io, globals, commandPath(cmd));
      state.ctx = ctx;
      const args = cmd.registeredArguments.some((r) => r.variadic) ? cmd.args : cmd.args.slice(0, cmd.registeredArguments.length);
      const { default: action } = await loader();
      const code = await action(ctx, opts, args);
      state.code = code ?? 0;
    };
  };

  program
    .command('login')
    .description('store credentials for an environment after validating them with tastytrade')
    .option('--stdin', 'read the client secret and the refresh token from standard input, one per line')
    .option('--insecure-storage', 'store the secrets in a plaintext file (0600) instead of the OS keychain')
    .addHelpText('after', examples('tasty login', 'tasty login --env sandbox', 'printf "%s\\n%s\\n" "$SECRET" "$REFRESH" | tasty login --stdin'))
    .action(lazy(() => import('./commands/login.ts')));

  program
    .command('token')
    .description('print a valid access token (minted only when the cached one has 60 s or less left)')
    .option('--min-ttl <seconds>', 'the token lives at least this long (minted early if needed)')
    .addHelpText('after', examples('curl -H "Authorization: Bearer $(tasty token)" https://api.tastyworks.com/customers/me', 'tasty token --min-ttl 300 --json'))
    .action(lazy(() => import('./commands/token.ts')));

  program
    .command('exec')
    .description("run a command with the environment's access token (and secrets, unless --token-only) in its environment")
    .usage('[--token-only] [--min-ttl <seconds>] -- <command> [args...]')
    .argument('[command...]', 'the command and its arguments, after --')
    .option('--token-only', 'pass only the access token (15 minutes of life), not the refresh token and client secret')
    .option('--min-ttl <seconds>', 'the token lives at least this long (minted early if needed)')
    .addHelpText('after', examples('tasty exec -- python my_bot.py', 'tasty exec --token-only --min-ttl 600 -- ./fetch.sh'))
    .action(lazy(() => import('./commands/exec.ts')));

  program
    .command('quote-token')
    .description('print a DXLink quote token for streaming market data (cached until shortly before it expires)')
    .addHelpText('after', examples('tasty quote-token', 'tasty quote-token --json'))
    .action(lazy(() => import('./commands/quote-token.ts')));

  program
    .command('logout')
    .description('delete the stored credentials and cached tokens of an environment')
    .option('--all', 'both environments')
    .addHelpText('after', examples('tasty logout', 'tasty logout --all'))
    .action(lazy(() => import('./commands/logout.ts')));

  program
    .command('status')
    .description('where the credentials of each environment live, and the state of the cached token (offline)')
    .option('--all', 'both environments')
    .addHelpText('after', examples('tasty status', 'tasty status --all --json'))
    .action(lazy(() => import('./commands/status.ts')));

  const env = program
    .command('env')
    .description('show the selected environment and where the choice came from')
    .addHelpText('after', examples('tasty env', 'TASTY_ENV=sandbox tasty env'))
    .action(lazy(() => import('./commands/env.ts')));
  env
    .command('use')
    .description('save the default environment')
    .argument('<environment>', ENVIRONMENTS.join(' | '))
    .addHelpText('after', examples('tasty env use sandbox'))
    .action(lazy(() => import('./commands/env-use.ts')));

  const accounts = program
    .command('accounts')
    .description('list the accounts of the selected environment')
    .option('--all', 'include closed accounts')
    .addHelpText('after', examples('tasty accounts', 'tasty accounts --all --json'))
    .action(lazy(() => import('./commands/accounts.ts')));
  accounts
    .command('use')
    .description('save the default account of the selected environment (--unset clears it)')
    .argument('[account-number]')
    .option('--unset', 'clear the default account')
    .addHelpText('after', examples('tasty accounts use 5WX01234', 'tasty accounts use --unset'))
    .action(lazy(() => import('./commands/accounts-use.ts')));

  program
    .command('balances')
    .description('balances of one account (--account), the default one, or every open account (--all)')
    .option('--account <number>', 'account number')
    .option('--all', 'every open account, even when a default account is saved')
    .option('--watch [seconds]', 'refresh every N seconds (default 15, minimum 5) until Ctrl-C')
    .addHelpText('after', examples('tasty balances', 'tasty balances --account 5WX01234', 'tasty balances --all --watch 30'))
    .action(lazy(() => import('./commands/balances.ts')));

  program
    .command('api')
    .description('call any API endpoint with the cached token (paths relative to the API root only)')
    .argument('<path>', 'e.g. customers/me or /customers/me')
    .option('-X, --method <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-d, --data <json>', 'request body: JSON text, @file, or @- for standard input (implies POST)')
    .option('-H, --header <name:value>', 'extra request header, repeatable (never Authorization)', (v: string, prev: string[] = []) => [...prev, v])
    .option('-y, --yes', 'do not ask before a non-GET request')
    .addHelpText('after', examples('tasty api customers/me', 'tasty api accounts/5WX01234/positions --json', 'tasty api customers/me/accounts'))
    .action(lazy(() => import('./commands/api.ts')));

  program
    .command('doctor')
    .description('diagnose credentials, connectivity, revoked grants and IP blocks')
    .option('--all', 'both environments')
    .option('--force', 'send one token request even while a rejection is held')
    .option('--show-accounts', 'show full account numbers')
    .addHelpText('after', examples('tasty doctor', 'tasty doctor --all --json'))
    .action(lazy(() => import('./commands/doctor.ts')));

  program
    .command('completion')
    .description('print a shell completion script (commands, options, environments, saved account numbers)')
    .addArgument(new Argument('<shell>', 'bash | zsh | fish').choices(['bash', 'zsh', 'fish']))
    .addOption(new Option('--accounts', 'print the saved account numbers (what the script calls at completion time)').hideHelp())
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a zsh parameter expansion in an example command line
    .addHelpText('after', examples('tasty completion bash > ~/.local/share/bash-completion/completions/tasty', 'tasty completion zsh > "${fpath[1]}/_tasty"', 'tasty completion fish > ~/.config/fish/completions/tasty.fish'))
    .action(async (shell: string, opts: { accounts?: boolean }) => {
      const { completionScript, savedAccounts } = await import('./completion.ts');
      if (opts.accounts) io.stdout.write(savedAccounts(io.env).map((a) => `${a}\n`).join(''));
      else io.stdout.write(completionScript(program, shell));
    });

  program.addHelpText('after', examples('tasty login', 'tasty balances', 'tasty doctor', 'tasty completion bash   # see `tasty completion --help`'));

  // A usage error names the --help of the command it happened in (`tasty balances --help`), not the program's.
  const tagErrors = (cmd: Command) => {
    cmd.exitOverride((err) => {
      Object.assign(err, { helpFor: commandPath(cmd) });
      throw err;
    });
    for (const sub of cmd.commands) tagErrors(sub);
  };
  tagErrors(program);

  return program;
}

function unknownHelpTopic(program: Command, topic: string[]): void {
  let cmd = program;
  for (const word of topic) {
    if (word.startsWith('-')) break;
    const next = cmd.commands.find((c) => c.name() === word || c.aliases().includes(word));
    if (!next) {
      const near = cmd.commands.map((c) => c.name()).filter((n) => n !== 'help' && (n.startsWith(word.slice(0, 2)) || word.startsWith(n.slice(0, 3))));
      const path = commandPath(cmd);
      throw Object.assign(new Error(`unknown help topic '${[path, word].filter(Boolean).join(' ')}'${near.length ? `; did you mean ${near.join(', ')}?` : ''}`), { code: 'commander.unknownCommand', helpFor: path });
    }
    cmd = next;
  }
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
    // `tasty help <topic>`: commander prints the root help (exit 0) for a topic it does not know; that is an error.
    if (args[0] === 'help') unknownHelpTopic(program, args.slice(1));
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
