// What every command gets: resolved global options, the output layer, paths, and lazily built services.
import type { ApiClient } from './api/client.ts';
import type { AuthEngine } from './auth/engine.ts';
import {
  configDir,
  DEFAULT_TIMEOUT_S,
  type Env,
  type EnvChoice,
  type Environment,
  parseTimeout,
  readUserConfig,
  type ApiVersionChoice,
  resolveApiVersion,
  resolveBaseUrl,
  selectEnvironment,
  type UserConfig,
} from './config.ts';
import { CancelledError } from './errors.ts';
import { keychainServiceName } from './keychain-service.ts';
import { Output, type Stream } from './output.ts';

import { VERSION } from './version.ts';

export { VERSION };

export interface GlobalOptions {
  env?: string;
  json?: boolean;
  quiet?: boolean;
  color?: boolean;
  verbose?: boolean;
  timeout?: string;
  apiVersion?: string;
}

export interface Io {
  env: Env;
  stdout: Stream;
  stderr: Stream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  now?: () => number;
  /** The secret store; defaults to the OS keychain. Injected by unit tests. */
  keychain?: () => Promise<import('./auth/keychain.ts').SecretStore>;
  /** Claim Ctrl-C (long-running commands that end cleanly on it); returns the release function. */
  onInterrupt?: (cb: () => void) => () => void;
  /** The prompt layer; defaults to @inquirer/prompts on the terminal. Injected by unit tests. */
  prompter?: import('./prompt.ts').Prompter;
  /** The OS; injected by unit tests to run the macOS and Windows branches. */
  platform?: NodeJS.Platform;
  /** End the process now with this code (after a keychain timeout, whose native call may still be waiting). */
  exit?: (code: number) => void;
}

/**
 * Windows: Git Bash's terminal (mintty) talks to Windows programs through pipes, so it is not a console to them and
 * nothing can prompt there. Said in the one error that needs a terminal.
 */
export function minttyHint(env: Env, platform: NodeJS.Platform): string | undefined {
  if (platform !== 'win32' || (env.TERM_PROGRAM !== 'mintty' && !env.MSYSTEM)) return undefined;
  return "Git Bash's window (mintty) is not a console to Windows programs, so tasty cannot prompt there: run it as `winpty tasty …`, or use Windows Terminal";
}

/** Commands whose stdout feeds another program: they never add notes to stderr. */
const SCRIPT_COMMANDS = new Set(['token', 'exec']);

export class Context {
  readonly io: Io;
  readonly env: Env;
  readonly out: Output;
  readonly globals: GlobalOptions;
  /** The command's name as typed after `tasty`, e.g. "balances", "accounts use". */
  readonly command: string;
  readonly dir: string;
  readonly version = VERSION;
  readonly now: () => number;
  readonly platform: NodeJS.Platform;
  private cfg: UserConfig | undefined;
  private readonly clients = new Map<string, ApiClient>();
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  constructor(io: Io, globals: GlobalOptions, command = '') {
    this.io = io;
    this.env = io.env;
    this.globals = globals;
    this.command = command;
    this.now = io.now ?? Date.now;
    this.platform = io.platform ?? process.platform;
    this.out = new Output({
      platform: this.platform,
      json: globals.json === true,
      quiet: globals.quiet === true,
      color: globals.color,
      verbose: globals.verbose === true,
      env: io.env,
      stdout: io.stdout,
      stderr: io.stderr,
    });
    this.dir = configDir(io.env);
  }

  get json(): boolean {
    return this.globals.json === true;
  }

  /** Notes such as the plaintext-storage one: only on human output (not --json, --quiet, token or exec). */
  notesWanted(): boolean {
    return !this.json && !this.out.quiet && !SCRIPT_COMMANDS.has(this.command);
  }

  config(): UserConfig {
    this.cfg ??= readUserConfig(this.dir, (m) => this.out.warn(m));
    return this.cfg;
  }

  /** The selected environment and where the choice came from. Throws a usage error for bad values. */
  environment(): EnvChoice {
    return selectEnvironment(this.globals.env, this.env, this.config());
  }

  /** The keychain service name: `tasty`, or TASTY_KEYCHAIN_SERVICE to keep a separate set of credentials. */
  keychainService(): string {
    return keychainServiceName(this.env);
  }

  timeoutMs(): number {
    if (this.globals.timeout !== undefined) return parseTimeout(this.globals.timeout, '--timeout') * 1000;
    const t = this.env.TASTY_TIMEOUT;
    if (t !== undefined && t !== '') return parseTimeout(t, 'TASTY_TIMEOUT') * 1000;
    return DEFAULT_TIMEOUT_S * 1000;
  }

  baseUrl(environment: Environment): { baseUrl: string; overridden: boolean } {
    return resolveBaseUrl(environment, this.env);
  }

  /** The Accept-Version for an environment (--api-version, TASTY_API_VERSION, pinned in production). */
  apiVersion(environment: Environment): ApiVersionChoice {
    return resolveApiVersion(environment, this.globals.apiVersion, this.env);
  }

  /** The API client for an environment (undici is loaded on first request, not here). */
  async client(environment: Environment): Promise<ApiClient> {
    const existing = this.clients.get(environment);
    if (existing) return existing;
    const version = this.apiVersion(environment);
    const { ApiClient } = await import('./api/client.ts');
    const c = new ApiClient({
      baseUrl: this.baseUrl(environment).baseUrl,
      environment,
      timeoutMs: this.timeoutMs(),
      userAgent: `tasty-cli/${this.version}`,
      env: this.env,
      apiVersion: version.version,
      apiVersionSource: version.source,
      log: this.out.verbose ? (l) => this.out.debug(`[${environment}] ${l}`) : undefined,
    });
    // A proxy's password (user:password@ in HTTPS_PROXY) is a secret too.
    const pw = c.proxy?.url.password;
    if (pw) for (const v of [pw, decodeURIComponent(pw)]) this.out.addSecret(v);
    this.clients.set(environment, c);
    return c;
  }

  private authP: Promise<AuthEngine> | undefined;

  /** The auth engine (keychain loaded only if a credential has to be read from it). */
  auth(): Promise<AuthEngine> {
    this.authP ??= (async () => {
      const { AuthEngine } = await import('./auth/engine.ts');
      return new AuthEngine({
        dir: this.dir,
        env: this.env,
        now: this.now,
        client: (e) => this.client(e),
        api: (e) => this.baseUrl(e).baseUrl,
        keychainService: () => this.keychainService(),
        keychain:
          this.io.keychain ??
          (async () =>
            new (await import('./auth/keychain.ts')).KeychainStore({
              service: this.keychainService(),
              env: this.env,
              // A person at the terminal can answer a macOS keychain dialog: wait for it, and say it may be open.
              platform: this.platform,
              interactive: this.canPrompt(),
              note: (m) => this.out.warn(m),
            })),
        warn: (m) => this.out.warn(m),
        notice: (m) => {
          if (this.notesWanted()) this.out.note(m);
        },
        debug: (m) => this.out.debug(m),
        secret: (s) => this.out.addSecret(s),
        timeoutMs: this.timeoutMs(),
      });
    })();
    return this.authP;
  }

  /** The hint of an error that needed a terminal, with the mintty way out where it applies. */
  noTerminalHint(hint: string): string {
    const m = minttyHint(this.env, this.platform);
    return m ? `${hint}; ${m}` : hint;
  }

  /** True when a person is at the terminal: prompts are possible. */
  canPrompt(): boolean {
    return this.io.stdin.isTTY === true && this.io.stderr.isTTY === true;
  }

  async prompter(): Promise<import('./prompt.ts').Prompter> {
    if (this.io.prompter) return this.io.prompter;
    const { inquirerPrompter } = await import('./prompt.ts');
    return inquirerPrompter(this.io);
  }

  /**
   * Read all of standard input (for --stdin), bounded. On a terminal, `lines` non-empty lines are read with echo off
   * (raw mode), so secrets typed or pasted there never appear on the screen.
   */
  async readStdin(maxBytes = 64 * 1024, lines = 2): Promise<string> {
    const tty = this.io.stdin as NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
    if (tty.isTTY === true && typeof tty.setRawMode === 'function') return this.readHidden(tty as NodeJS.ReadStream, maxBytes, lines);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of this.io.stdin) {
      const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
      size += b.length;
      if (size > maxBytes) break;
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private readHidden(stdin: NodeJS.ReadStream, maxBytes: number, lines: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let text = '';
      let line = '';
      let done = 0;
      const finish = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
      };
      const onData = (d: Buffer | string) => {
        for (const ch of typeof d === 'string' ? d : d.toString('utf8')) {
          if (ch === '\u0003') {
            finish();
            this.io.stderr.write('\n');
            reject(new CancelledError());
            return;
          }
          if (ch === '\r' || ch === '\n' || ch === '\u0004') {
            if (line.trim() !== '') {
              text += `${line}\n`;
              done++;
              this.io.stderr.write(`(line ${done} of ${lines} read)\n`);
            }
            line = '';
            if (done >= lines || ch === '\u0004') {
              finish();
              resolve(text);
              return;
            }
          } else if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
          else if (text.length + line.length < maxBytes) line += ch;
        }
      };
      stdin.setRawMode(true);
      stdin.on('data', onData);
      stdin.resume();
      this.io.stderr.write(`Reading ${lines} lines from the terminal (input hidden; Enter after each, Ctrl-C to cancel):\n`);
    });
  }

  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) await fn();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
