// Terminal behaviour through the real entry point (in-process, TTY streams and the prompt layer injected):
// confirmation before a non-GET `tasty api`, and `balances --watch` redrawing in place until Ctrl-C.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli.ts';
import type { Prompter } from '../src/prompt.ts';
import { MemoryStore, tmpDir, useEmulator } from './helpers.ts';

const emu = useEmulator({ environment: 'sandbox' });

function io(answers: { confirm?: boolean } = {}, onInterrupt?: (cb: () => void) => () => void) {
  const out = { text: '' };
  const err = { text: '' };
  const asked: string[] = [];
  const prompter: Prompter = {
    async select() {
      throw new Error('not asked');
    },
    async secret() {
      throw new Error('not asked');
    },
    async confirm(message) {
      asked.push(message);
      return answers.confirm === true;
    },
  };
  return {
    out,
    err,
    asked,
    io: {
      env: { TASTY_CONFIG_DIR: tmpDir(), TASTY_API_URL: emu.url, TASTY_ENV: 'sandbox', TASTY_CLIENT_SECRET: emu.clientSecret, TASTY_REFRESH_TOKEN: emu.refreshToken, CI: 'true' },
      stdin: Object.assign(new PassThrough(), { isTTY: true }),
      stdout: { write: (s: string) => (out.text += s), isTTY: true },
      stderr: { write: (s: string) => (err.text += s), isTTY: true },
      keychain: async () => new MemoryStore(),
      prompter,
      onInterrupt,
    },
  };
}

describe('tasty api on a terminal', () => {
  const args = ['node', 'tasty', 'api', '/accounts/5WX01234/orders/dry-run', '-X', 'POST', '-d', '{"price":"1.00"}'];

  it('asks before a non-GET; "no" is exit 8 (declined, not a Ctrl-C) and nothing is sent', async () => {
    const t = io({ confirm: false });
    expect(await run(args, t.io)).toBe(8);
    expect(t.err.text).toMatch(/declined: POST \/accounts\/5WX01234\/orders\/dry-run was not sent/);
    expect(t.asked).toEqual(['Send POST /accounts/5WX01234/orders/dry-run to sandbox?']);
    expect(emu.count('/accounts/')).toBe(0);
  });

  it('"yes" sends it, and the answer is pretty JSON on a terminal', async () => {
    const t = io({ confirm: true });
    expect(await run(args, t.io)).toBe(0);
    expect(emu.count('/accounts/5WX01234/orders/dry-run', 'POST')).toBe(1);
    expect(t.out.text).toMatch(/^\{\n {2}"data": \{/);
    expect(t.err.text.replace(/\u001b\[[0-9;]*m/g, '')).toMatch(/\[sandbox\] POST \/accounts\/5WX01234\/orders\/dry-run → 201/);
  });
});

describe('balances --watch on a terminal', () => {
  it('redraws in place, then Ctrl-C ends it with exit 0', async () => {
    let interrupt: (() => void) | undefined;
    const t = io({}, (cb) => {
      interrupt = cb;
      return () => {
        interrupt = undefined;
      };
    });
    const done = run(['node', 'tasty', 'balances', '--account', '5WX01234', '--watch', '5'], t.io);
    const until = async (pred: () => boolean, ms: number) => {
      const end = Date.now() + ms;
      while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    };
    await until(() => emu.count('/accounts/5WX01234/balances') >= 2 && t.out.text.includes('\u001b[J'), 8_000);
    interrupt?.();
    expect(await done).toBe(0);
    const first = t.out.text.indexOf('Net liquidating value');
    const redraw = /\u001b\[(\d+)F\u001b\[J/.exec(t.out.text);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(redraw).not.toBeNull();
    // The cursor moves up exactly the height of the first block, so the second one overwrites it.
    const firstBlock = t.out.text.slice(0, redraw?.index);
    expect(Number(redraw?.[1])).toBe(firstBlock.trimEnd().split('\n').length);
    expect(interrupt).toBeUndefined(); // released on the way out
  }, 20_000);
});
