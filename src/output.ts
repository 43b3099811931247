// Output: stdout for data, stderr for everything else. Colour and spinners only on a TTY.
import { Chalk, type ChalkInstance } from 'chalk';
import type { Env } from './config.ts';

export interface Stream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface OutputOptions {
  json: boolean;
  /** -q/--quiet: no notes, success lines or progress on stderr (errors and warnings still print). */
  quiet?: boolean;
  color: boolean | undefined; // false: --no-color
  verbose: boolean;
  env: Env;
  stdout: Stream;
  stderr: Stream;
}

// C0 controls except tab/newline, DEL, C1 controls, and lone ESC sequences.
const CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;
// Unicode bidi overrides and zero-width tricks that can disguise text.
const BIDI_RE = /[\u202a-\u202e\u2066-\u2069\u200b-\u200f\u2028\u2029]/g;

/** Strip control and escape characters from a string that came from the server or a file. */
export function sanitize(s: string): string {
  return s.replace(CONTROL_RE, '').replace(BIDI_RE, '');
}

/** One-line form: sanitized and with newlines folded. */
export function oneLine(s: string): string {
  return sanitize(s).replace(/\s*\n\s*/g, ' ');
}

/**
 * JSON text safe for a terminal: JSON.stringify escapes C0 controls but leaves DEL, the C1 controls (U+0080–U+009F,
 * which include the 8-bit CSI) and bidi overrides raw. Escape them too; the result is the same JSON value.
 */
export function safeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(/[\u007f-\u009f\u202a-\u202e\u2066-\u2069\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly stdout: Stream;
  readonly stderr: Stream;
  readonly color: boolean;
  readonly c: ChalkInstance;
  readonly ec: ChalkInstance; // for stderr
  readonly interactive: boolean;
  private readonly secrets = new Set<string>();
  /** True once the one JSON document of a --json run is on stdout. */
  documented = false;

  constructor(o: OutputOptions) {
    this.json = o.json;
    this.quiet = o.quiet === true;
    this.verbose = o.verbose;
    this.stdout = o.stdout;
    this.stderr = o.stderr;
    const noColorEnv = o.env.NO_COLOR !== undefined && o.env.NO_COLOR !== '';
    const allowed = o.color !== false && !noColorEnv && !o.json;
    const force = o.env.FORCE_COLOR !== undefined && o.env.FORCE_COLOR !== '0' && o.env.FORCE_COLOR !== '';
    this.color = allowed && (force || o.stdout.isTTY === true);
    const errColor = allowed && (force || o.stderr.isTTY === true);
    this.c = new Chalk({ level: this.color ? 1 : 0 });
    this.ec = new Chalk({ level: errColor ? 1 : 0 });
    const ci = o.env.CI !== undefined && o.env.CI !== '' && o.env.CI !== 'false';
    this.interactive = o.stderr.isTTY === true && !ci && !o.json;
  }

  /** Register a secret: it is replaced by [redacted] in everything written to stderr. */
  addSecret(s: string | undefined): void {
    if (s && s.length >= 8) this.secrets.add(s);
  }

  redact(s: string): string {
    let out = s;
    for (const secret of this.secrets) out = out.split(secret).join('[redacted]');
    // Bearer tokens and JWT-shaped strings never reach a log, even unregistered ones.
    out = out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[redacted]');
    out = out.replace(/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, '[redacted-jwt]');
    return out;
  }

  /** Data on stdout. */
  data(text: string): void {
    this.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  /** The one JSON document of a --json run. */
  document(value: unknown): void {
    this.documented = true;
    this.stdout.write(`${safeJson(value, this.streaming ? undefined : 2)}\n`);
  }

  /** A stream of documents (balances --watch --json): one compact line each; a closing error is a line too. */
  streaming = false;

  jsonLine(value: unknown): void {
    this.streaming = true;
    this.stdout.write(`${safeJson(value)}\n`);
  }

  /** Human messages on stderr (suppressed for --json and --quiet; warnings and errors are not). */
  info(msg: string): void {
    if (this.json || this.quiet) return;
    this.stderr.write(`${this.redact(msg)}\n`);
  }

  /** An advisory note on stderr (yellow): silenced by --quiet. */
  note(msg: string): void {
    if (this.quiet) return;
    this.stderr.write(`${this.ec.yellow(this.redact(msg))}\n`);
  }

  warn(msg: string): void {
    // A "note:" written as a warning is a note all the same.
    if (this.quiet && msg.startsWith('note:')) return;
    this.stderr.write(`${this.ec.yellow(this.redact(msg))}\n`);
  }

  error(msg: string, hint?: string): void {
    this.stderr.write(`${this.ec.red(this.redact(`tasty: ${msg}`))}\n`);
    if (hint) this.stderr.write(`${this.ec.dim(this.redact(`hint: ${hint}`))}\n`);
  }

  debug(msg: string): void {
    if (this.verbose) this.stderr.write(`${this.ec.dim(this.redact(msg))}\n`);
  }

  /** A spinner on stderr when interactive; otherwise silent. */
  async spinner(text: string): Promise<Spinner> {
    if (!this.interactive || this.quiet) return quietSpinner;
    const { default: ora } = await import('ora');
    const s = ora({ text, stream: this.stderr as NodeJS.WritableStream, color: 'cyan' }).start();
    return {
      succeed: (t?: string) => void s.succeed(t),
      fail: (t?: string) => void s.fail(t),
      stop: () => void s.stop(),
      set text(t: string) {
        s.text = t;
      },
    };
  }

  envTag(environment: string): string {
    return environment === 'sandbox' ? this.c.magenta('[sandbox]') : this.c.cyan('[production]');
  }
}

export interface Spinner {
  succeed(t?: string): void;
  fail(t?: string): void;
  stop(): void;
  text: string;
}

const quietSpinner: Spinner = {
  succeed() {},
  fail() {},
  stop() {},
  text: '',
};
