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
  resolveBaseUrl,
  selectEnvironment,
  type UserConfig,
} from './config.ts';
import { UsageError } from './errors.ts';
import { Output, type Stream } from './output.ts';

import { VERSION } from './version.ts';

export { VERSION };

export interface GlobalOptions {
  env?: string;
  json?: boolean;
  color?: boolean;
  verbose?: boolean;
  timeout?: string;
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
}

export class Context {
  readonly io: Io;
  readonly env: Env;
  readonly out: Output;
  readonly globals: GlobalOptions;
  readonly dir: string;
  readonly version = VERSION;
  readonly now: () => number;
  private cfg: UserConfig | undefined;
  private readonly clients = new Map<string, ApiClient>();
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  constructor(io: Io, globals: GlobalOptions) {
    this.io = io;
    this.env = io.env;
    this.globals = globals;
    this.now = io.now ?? Date.now;
    this.out = new Output({
      json: globals.json === true,
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
    const v = this.env.TASTY_KEYCHAIN_SERVICE;
    if (v === undefined || v === '') return 'tasty';
    if (!/^[\w.:@-]{1,64}$/.test(v)) throw new UsageError('TASTY_KEYCHAIN_SERVICE must be 1 to 64 letters, digits or ._:@-', 'e.g. TASTY_KEYCHAIN_SERVICE=tasty-work');
    return v;
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

  /** The API client for an environment (undici is loaded on first request, not here). */
  async client(environment: Environment): Promise<ApiClient> {
    const existing = this.clients.get(environment);
    if (existing) return existing;
    const { ApiClient } = await import('./api/client.ts');
    const c = new ApiClient({
      baseUrl: this.baseUrl(environment).baseUrl,
      environment,
      timeoutMs: this.timeoutMs(),
      userAgent: `tasty-cli/${this.version}`,
      env: this.env,
      log: this.out.verbose ? (l) => this.out.debug(`[${environment}] ${l}`) : undefined,
    });
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
        keychain: this.io.keychain ?? (async () => new (await import('./auth/keychain.ts')).KeychainStore({ service: this.keychainService(), env: this.env })),
        warn: (m) => this.out.warn(m),
        notice: (m) => this.out.info(this.out.ec.yellow(m)),
        debug: (m) => this.out.debug(m),
        secret: (s) => this.out.addSecret(s),
        timeoutMs: this.timeoutMs(),
      });
    })();
    return this.authP;
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

  /** Read all of standard input (for --stdin), bounded. */
  async readStdin(maxBytes = 64 * 1024): Promise<string> {
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

  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const fn of this.cleanups.splice(0).reverse()) await fn();
    await Promise.all([...this.clients.values()].map((c) => c.close()));
    this.clients.clear();
  }
}
