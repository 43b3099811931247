// Output: stdout for data, stderr for everything else. Colour and spinners only on a TTY.
import { Chalk, type ChalkInstance } from 'chalk';
import type { Env } from './config.ts';
import { ExitCode, TastyError } from './errors.ts';
import { oneLine, redactText, redactValue, safeJson, sanitize } from './text.ts';

export { cleanServerText, oneLine, REDACTED, redactText, safeJson, sanitize } from './text.ts';

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
  /** Injected by tests; the running OS otherwise (Windows consoles may lack ✓ ✗ ⚠). */
  platform?: NodeJS.Platform;
}

/**
 * Can the console show ✓ ✗ ⚠? Everywhere but Windows, yes; on Windows only in terminals known to (Windows Terminal,
 * VS Code, ConEmu/Cmder, JetBrains, mintty and others that set TERM), not in the legacy console host's code pages.
 */
export function unicodeSupported(env: Env, platform: NodeJS.Platform = process.platform): boolean {
  if (platform !== 'win32') return true;
  return (
    !!env.WT_SESSION ||
    !!env.TERMINUS_SUBLIME ||
    env.ConEmuTask === '{cmd::Cmder}' ||
    env.TERM_PROGRAM === 'vscode' ||
    env.TERM_PROGRAM === 'Terminus-Sublime' ||
    env.TERMINAL_EMULATOR === 'JetBrains-JediTerm' ||
    /^(xterm-256color|alacritty|rxvt-unicode(-256color)?)$/.test(env.TERM ?? '')
  );
}

const ASCII_SYMBOLS: Record<string, string> = { '✓': '+', '✗': 'x', '⚠': '!' };

/** Human text for a console without those symbols: each replaced by ASCII. */
export function asciiSymbols(s: string): string {
  return s.replace(/[✓✗⚠]/g, (c) => ASCII_SYMBOLS[c] ?? c);
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly stdout: Stream;
  readonly stderr: Stream;
  readonly color: boolean;
  private readonly errColor: boolean;
  readonly c: ChalkInstance;
  readonly ec: ChalkInstance; // for stderr
  readonly interactive: boolean;
  /** The console cannot show ✓ ✗ ⚠ (legacy Windows console): human text gets ASCII instead. */
  readonly ascii: boolean;
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
    this.errColor = allowed && (force || o.stderr.isTTY === true);
    this.c = new Chalk({ level: this.color ? 1 : 0 });
    this.ec = new Chalk({ level: this.errColor ? 1 : 0 });
    const ci = o.env.CI !== undefined && o.env.CI !== '' && o.env.CI !== 'false';
    this.interactive = o.stderr.isTTY === true && !ci && !o.json;
    this.ascii = !unicodeSupported(o.env, o.platform);
  }

  /** Register a secret (any length): it is redacted from everything written, stdout included. */
  addSecret(s: string | undefined): void {
    if (s && s.length > 0) this.secrets.add(s);
  }

  /** Redact registered secrets; `shapes` (the default, for messages) also Bearer values and JWT-shaped strings. */
  redact(s: string, shapes = true): string {
    return redactText(s, this.secrets, { shapes });
  }

  /**
   * Every byte written goes through here: redacted, painted (colour), then sanitised; colour sequences survive the
   * sanitiser only where colour is on.
   */
  private write(stream: Stream, text: string, keepSgr: boolean, paint: (s: string) => string = (x) => x): void {
    // (Bytes for another program, stdout into a pipe or file, are never rewritten.)
    const human = this.ascii && (stream !== this.stdout || stream.isTTY === true) ? asciiSymbols(text) : text;
    stream.write(`${sanitize(paint(this.redact(human, stream !== this.stdout)), { keepSgr })}\n`);
  }

  /** Data on stdout (sanitised and redacted like everything else). */
  data(text: string): void {
    this.write(this.stdout, text.endsWith('\n') ? text.slice(0, -1) : text, this.color);
  }

  /**
   * Data on stdout that replaces the previous `lines` lines (an in-place redraw on a terminal). The cursor movement is
   * tasty's own; the text goes through the sanitiser like all data.
   */
  redraw(text: string, lines: number): void {
    if (lines > 0) this.stdout.write(`\u001b[${lines}F\u001b[J`);
    this.data(text);
  }

  /**
   * The one value a command exists to print (the access token of `tasty token`): written unredacted, but only
   * when it is plain printable ASCII, so nothing in it can act on a terminal.
   */
  reveal(value: string): void {
    if (!/^[\x21-\x7e]+$/.test(value)) {
      throw new TastyError('refusing to print a value with control, space or non-ASCII characters', ExitCode.api, { cause: 'bad_token', hint: 'run `tasty logout` and `tasty login` again; if it persists, run `tasty doctor`' });
    }
    this.stdout.write(`${value}\n`);
  }

  /** The one JSON document of a --json run; `reveal` names values printed unredacted (the token of `tasty token`). */
  document(value: unknown, o: { reveal?: string[]; indent?: number } = {}): void {
    this.documented = true;
    const redacted = redactValue(value, (s) => this.redact(s, false), new Set(o.reveal ?? []));
    this.stdout.write(`${safeJson(redacted, o.indent ?? (this.streaming ? undefined : 2))}\n`);
  }

  /** A stream of documents (balances --watch --json): one compact line each; a closing error is a line too. */
  streaming = false;

  jsonLine(value: unknown): void {
    this.streaming = true;
    this.stdout.write(`${safeJson(redactValue(value, (s) => this.redact(s, false), new Set()))}\n`);
  }

  /** Human messages on stderr (suppressed for --json and --quiet; warnings and errors are not). */
  info(msg: string): void {
    if (this.json || this.quiet) return;
    this.write(this.stderr, msg, this.errColor);
  }

  /** An advisory note on stderr (yellow): silenced by --quiet. */
  note(msg: string): void {
    if (this.quiet) return;
    this.write(this.stderr, msg, this.errColor, this.ec.yellow);
  }

  warn(msg: string): void {
    // A "note:" written as a warning is a note all the same.
    if (this.quiet && msg.startsWith('note:')) return;
    this.write(this.stderr, msg, this.errColor, this.ec.yellow);
  }

  error(msg: string, hint?: string): void {
    this.write(this.stderr, `tasty: ${msg}`, this.errColor, this.ec.red);
    if (hint) this.write(this.stderr, `hint: ${hint}`, this.errColor, this.ec.dim);
  }

  debug(msg: string): void {
    if (this.verbose) this.write(this.stderr, msg, this.errColor, this.ec.dim);
  }

  /** A spinner on stderr when interactive; otherwise silent. */
  async spinner(text: string): Promise<Spinner> {
    // A terminal that reports 0 (or no) columns gets no spinner: ora divides by the width, and its clear() would
    // loop forever (a pty created without a size reports 0).
    const cols = this.stderr.columns;
    // --verbose writes request lines to stderr: a spinner would be torn by them.
    if (!this.interactive || this.quiet || this.verbose || typeof cols !== 'number' || cols < 20) return quietSpinner;
    const { default: ora } = await import('ora');
    // Spinner text is written by ora, not by write(): the same redactor and sanitiser first.
    const clean = (t: string) => oneLine(this.redact(t));
    const s = ora({ text: clean(text), stream: this.stderr as NodeJS.WritableStream, color: 'cyan' }).start();
    return {
      succeed: (t?: string) => void s.succeed(t === undefined ? t : clean(t)),
      fail: (t?: string) => void s.fail(t === undefined ? t : clean(t)),
      stop: () => void s.stop(),
      set text(t: string) {
        s.text = clean(t);
      },
    };
  }

  /** Whether a wait on this run would show a spinner (a terminal on stderr; not --json, --quiet, --verbose or CI). */
  get showsProgress(): boolean {
    const cols = this.stderr.columns;
    return this.interactive && !this.quiet && !this.verbose && typeof cols === 'number' && cols >= 20;
  }

  /**
   * Wait for `work` with a spinner saying what it waits for, shown only once the wait passes `delayMs` and only where
   * spinners show; it is gone (the line cleared) when the work ends, before anything else is written.
   */
  async progress<T>(text: string, work: () => Promise<T>, delayMs = 500): Promise<T> {
    if (!this.showsProgress) return work();
    let done = false;
    let spin: Spinner | undefined;
    const timer = setTimeout(() => {
      void this.spinner(text).then((s) => {
        if (done) s.stop();
        else spin = s;
      });
    }, delayMs);
    try {
      return await work();
    } finally {
      done = true;
      clearTimeout(timer);
      spin?.stop();
    }
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
