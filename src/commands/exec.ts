// tasty exec [--token-only] [--min-ttl N] -- <command> [args…]: run a program with the selected environment's access
// token (and, unless --token-only, its secrets under the names the peers read) in its environment. The child inherits
// stdin, stdout, stderr and the terminal; SIGINT, SIGTERM and SIGHUP are passed on; the exit code is the child's
// (128+N for a signal). tasty prints nothing of its own once the child runs; every failure of its own comes first.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { childEnv } from '../auth/peers.ts';
import { parseSeconds } from '../config.ts';
import type { Context } from '../context.ts';
import { UsageError } from '../errors.ts';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export default async function exec(ctx: Context, opts: { tokenOnly?: boolean; minTtl?: string }, args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!command) throw new UsageError('no command to run', 'e.g. tasty exec -- node my-script.js (everything after -- is the command and its arguments)');
  const minTtlS = opts.minTtl === undefined ? undefined : parseSeconds(opts.minTtl, '--min-ttl');
  const { environment } = ctx.environment();
  const auth = await ctx.auth();
  auth.silenceNotices();
  const { token, credentials } = await auth.session(environment, { minTtlS, credentials: !opts.tokenOnly });
  const env = childEnv(ctx.env, { environment, api: ctx.baseUrl(environment), token, credentials });
  return runChild(command, rest, env, ctx.io.onInterrupt);
}

/** Run the child with the signals passed on; its exit code (128+N for a signal). Shared with the fast path (src/fast.ts). */
export function runChild(command: string, args: string[], env: Record<string, string>, onInterrupt?: (cb: () => void) => () => void): Promise<number> {
  return new Promise((resolve, reject) => {
    let child: ReturnType<typeof spawn>;
    try {
      // No shell: the arguments reach the program exactly as given. (Windows: .cmd/.bat need `cmd /c`.)
      child = spawn(command, args, { stdio: 'inherit', env, windowsHide: false });
    } catch (e) {
      reject(notStarted(command, e));
      return;
    }
    const handlers = new Map<NodeJS.Signals, () => void>();
    for (const sig of FORWARDED) {
      const h = () => {
        try {
          child.kill(sig);
        } catch {
          /* already gone */
        }
      };
      handlers.set(sig, h);
      process.on(sig, h);
    }
    // Ctrl-C: the CLI's own handler would end tasty (exit 130) and orphan the child; claim it and pass it on.
    const release = onInterrupt?.(() => {});
    const done = () => {
      for (const [sig, h] of handlers) process.removeListener(sig, h);
      release?.();
    };
    child.once('error', (e) => {
      done();
      reject(notStarted(command, e));
    });
    child.once('exit', (code, signal) => {
      done();
      if (code !== null) resolve(code);
      else resolve(128 + ((signal && constants.signals[signal]) || 0));
    });
  });
}

function notStarted(command: string, e: unknown): UsageError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const shown = JSON.stringify(command.slice(0, 80));
  if (code === 'ENOENT') return new UsageError(`command not found: ${shown}`, 'check the name and PATH; the command comes after --, e.g. tasty exec -- node script.js', 'command_not_found');
  if (code === 'EACCES') return new UsageError(`permission denied: ${shown} is not executable`, 'check the file and its mode (chmod +x)', 'command_not_executable');
  if (code === 'EINVAL' && process.platform === 'win32') return new UsageError(`cannot start ${shown} directly (a .cmd or .bat script?)`, 'run it through the shell: tasty exec -- cmd /c <script> [args…]', 'command_not_started');
  return new UsageError(`cannot start ${shown} (${code ?? (e as Error)?.message ?? 'error'})`, 'check the command', 'command_not_started');
}
