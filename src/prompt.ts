// Interactive prompts (@inquirer/prompts and @inquirer/core, loaded lazily) on stderr, so stdout stays data.
import type { Io } from './context.ts';

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
}

export interface SecretOptions {
  /** A line printed before the prompt. */
  help?: string;
  /** true, or why the value is refused: shown under the prompt, which stays open with the value kept. */
  validate?: (value: string) => true | string;
}

export interface Prompter {
  secret(message: string, o?: SecretOptions): Promise<string>;
  /** `initial`: the choice the cursor starts on. */
  select<T>(message: string, choices: Choice<T>[], initial?: T): Promise<T>;
  confirm(message: string): Promise<boolean>;
}

/** What a hidden answer looks like, however long it is: a fixed mask and the length, so a cut-off paste shows. */
export const SECRET_MASK = '••••••••';

export function maskedAnswer(value: string): string {
  return value ? `${SECRET_MASK} (${value.length} characters)` : '';
}

export function inquirerPrompter(io: Io): Prompter {
  const ctx = { input: io.stdin, output: io.stderr as NodeJS.WritableStream, clearPromptOnDone: false };
  return {
    async secret(message, o = {}) {
      const core = await import('@inquirer/core');
      if (o.help) io.stderr.write(`${o.help}\n`);
      const prompt = core.createPrompt<string, { message: string; validate?: SecretOptions['validate'] }>((config, done) => {
        const [status, setStatus] = core.useState<'idle' | 'done'>('idle');
        const [value, setValue] = core.useState('');
        const [error, setError] = core.useState<string | undefined>(undefined);
        const theme = core.makeTheme({});
        const prefix = core.usePrefix({ status, theme });
        core.useKeypress((key, rl) => {
          if (status !== 'idle') return;
          if (core.isEnterKey(key)) {
            const verdict = config.validate ? config.validate(value) : true;
            if (verdict === true) {
              setStatus('done');
              done(value);
            } else {
              rl.write(value); // Enter cleared the line: keep what was typed, to fix or to replace
              setError(verdict);
            }
          } else {
            setValue(rl.line);
            setError(undefined);
          }
        });
        const shown = value ? maskedAnswer(value) : status === 'done' ? '' : theme.style.help('(hidden: paste or type it, then Enter)');
        const line = `${prefix} ${theme.style.message(config.message, status)} ${status === 'done' ? theme.style.answer(shown) : shown}`;
        return [line, error ? theme.style.error(error) : ''];
      });
      return prompt({ message, validate: o.validate }, ctx);
    },
    async select<T>(message: string, choices: Choice<T>[], initial?: T) {
      const { select } = await import('@inquirer/prompts');
      return select<T>({ message, choices, default: initial }, ctx);
    },
    async confirm(message) {
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: false }, ctx);
    },
  };
}
