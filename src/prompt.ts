// Interactive prompts (@inquirer/prompts, loaded lazily) on stderr, so stdout stays data.
import type { Io } from './context.ts';

export interface Choice<T> {
  name: string;
  value: T;
  description?: string;
}

export interface Prompter {
  secret(message: string, help?: string): Promise<string>;
  select<T>(message: string, choices: Choice<T>[]): Promise<T>;
  confirm(message: string): Promise<boolean>;
}

export function inquirerPrompter(io: Io): Prompter {
  const ctx = { input: io.stdin, output: io.stderr as NodeJS.WritableStream, clearPromptOnDone: false };
  return {
    async secret(message, help) {
      const { password } = await import('@inquirer/prompts');
      if (help) io.stderr.write(`${help}\n`);
      return password({ message, mask: '•' }, ctx);
    },
    async select<T>(message: string, choices: Choice<T>[]) {
      const { select } = await import('@inquirer/prompts');
      return select<T>({ message, choices }, ctx);
    },
    async confirm(message) {
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: false }, ctx);
    },
  };
}
