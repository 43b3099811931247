// Terminal behaviour through the real entry point (in-process, TTY streams and the prompt layer injected):
// confirmation before a non-GET `tasty api`, `balances --watch` redrawing in place until Ctrl-C, interactive
// login (keychain probed first, picker, selection), and the real prompt layer driven by keystrokes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../src/cli.ts';
import { inquirerPrompter, SECRET_MASK } from '../src/prompt.ts';
import { inProcess, type MemoryStore, useEmulator } from './helpers.ts';

const emu = useEmulator({ environment: 'sandbox' });

function io(answers: { confirm?: boolean } = {}, onInterrupt?: (cb: () => void) => () => void) {
  const t = inProcess({
    env: { TASTY_API_URL: emu.url, TASTY_ENV: 'sandbox', TASTY_CLIENT_SECRET: emu.clientSecret, TASTY_REFRESH_TOKEN: emu.refreshToken, CI: 'true' },
    prompter: { confirm: async () => answers.confirm === true },
    onInterrupt,
  });
  return { ...t, messages: () => t.asked.map((a) => a.message) };
}

describe('tasty api on a terminal', () => {
  const args = ['node', 'tasty', 'api', '/accounts/5WX01234/orders/dry-run', '-X', 'POST', '-d', '{"price":"1.00"}'];

  it('asks before a non-GET; "no" is exit 8 (declined, not a Ctrl-C) and nothing is sent', async () => {
    const t = io({ confirm: false });
    expect(await run(args, t.io)).toBe(8);
    expect(t.err.text).toMatch(/declined: POST \/accounts\/5WX01234\/orders\/dry-run was not sent/);
    expect(t.messages()).toEqual(['Send POST /accounts/5WX01234/orders/dry-run to sandbox?']);
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

// ---- the real prompt layer (@inquirer) on a fake terminal: keystrokes in, the screen out ----

function terminal() {
  const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin });
  const screen = { text: '' };
  const stderr = Object.assign(
    new Writable({
      write(chunk, _enc, cb) {
        screen.text += String(chunk);
        cb();
      },
    }),
    { isTTY: true, columns: 100, rows: 40 },
  );
  const plain = () => screen.text.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
  const type = async (s: string) => {
    for (const ch of s) stdin.write(ch);
    await new Promise((r) => setTimeout(r, 30));
  };
  /** Wait until the prompt is on screen (the prompt modules are imported lazily). */
  const shown = async (text: string) => {
    const end = Date.now() + 5_000;
    while (!plain().includes(text) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(plain()).toContain(text);
  };
  return { stdin, stderr, screen, plain, type, shown };
}

describe('the secret prompt (real @inquirer/core on a fake terminal)', () => {
  it('refuses empty input in place, keeps the prompt open, and masks with a fixed-length mask', async () => {
    const t = terminal();
    const p = inquirerPrompter({ env: {}, stdin: t.stdin, stdout: { write: () => true }, stderr: t.stderr });
    const answer = p.secret('Client secret:', { validate: (v) => (v.trim() ? true : 'Nothing entered') });
    let settled = false;
    void answer.then(() => (settled = true));
    await t.shown('Client secret:');
    await t.type('\r');
    expect(settled).toBe(false); // still asking
    expect(t.plain()).toContain('Nothing entered');
    const long = 'x'.repeat(447);
    await t.type(`${long}\r`);
    expect(await answer).toBe(long);
    const screen = t.plain();
    expect(screen).toContain(`${SECRET_MASK} (447 characters)`);
    expect(screen).not.toContain('•'.repeat(9)); // never one bullet per character
    expect(screen).not.toContain('xxxx');
  });

  it('the environment picker starts on the given choice', async () => {
    const t = terminal();
    const p = inquirerPrompter({ env: {}, stdin: t.stdin, stdout: { write: () => true }, stderr: t.stderr });
    const picked = p.select('Which environment?', [{ name: 'production', value: 'production' }, { name: 'sandbox', value: 'sandbox' }], 'sandbox');
    await t.shown('Which environment?');
    await t.type('\r');
    expect(await picked).toBe('sandbox');
  });
});

// ---- login on a terminal: the keychain is probed first, the picker starts at the selection, the new environment is selected ----

function loginIo(o: { env?: Record<string, string | undefined>; store?: MemoryStore | null; answers?: { environment?: string } } = {}) {
  return inProcess({
    env: { TASTY_API_URL: emu.url, CI: 'true', ...o.env },
    store: o.store,
    prompter: {
      select: async <T,>() => (o.answers?.environment ?? 'sandbox') as T,
      secret: async (message) => (message.startsWith('Client secret') ? emu.clientSecret : emu.refreshToken),
    },
  });
}

describe('interactive login', () => {
  it('without a keychain (no D-Bus) stops before asking anything or sending anything: exit 7, the ways out', async () => {
    // The real keychain store, pointed at a bus that does not exist.
    const t = loginIo({ store: null, env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent/tasty-no-bus' } });
    expect(await run(['node', 'tasty', 'login'], t.io)).toBe(7);
    expect(t.asked).toEqual([]);
    expect(emu.requests).toHaveLength(0);
    expect(t.err.text).toMatch(/no Secret Service is running: no D-Bus session bus/);
    expect(t.err.text).toMatch(/--insecure-storage/);
    expect(t.err.text).toMatch(/TASTY_CLIENT_SECRET/);
  });

  it('the picker starts at the current selection; with no saved default the new environment becomes it', async () => {
    const t = loginIo({ env: { TASTY_ENV: undefined } });
    expect(await run(['node', 'tasty', 'login'], t.io)).toBe(0);
    expect(t.asked[0]).toEqual({ message: 'Which environment?', initial: 'production' });
    expect(JSON.parse(readFileSync(join(t.dir, 'config.json'), 'utf8'))).toMatchObject({ defaultEnvironment: 'sandbox' });
    expect(t.err.text).toMatch(/sandbox is now the default environment/);
    expect(t.err.text).toMatch(/TASTY_API_URL is set: the secrets will be sent to http:\/\/127\.0\.0\.1:\d+, not to https:\/\/api\.cert\.tastyworks\.com/);
  });

  it('with another saved default, it is kept and the one command that selects the new environment is printed', async () => {
    const t = loginIo();
    writeFileSync(join(t.dir, 'config.json'), JSON.stringify({ defaultEnvironment: 'production' }));
    expect(await run(['node', 'tasty', 'login'], t.io)).toBe(0);
    expect(t.asked[0]).toEqual({ message: 'Which environment?', initial: 'production' });
    expect(JSON.parse(readFileSync(join(t.dir, 'config.json'), 'utf8'))).toMatchObject({ defaultEnvironment: 'production' });
    expect(t.err.text).toMatch(/Commands still use production \(saved default\): `tasty env use sandbox` selects sandbox\./);
  });

  it('the picker starts on a saved sandbox default', async () => {
    const t = loginIo();
    writeFileSync(join(t.dir, 'config.json'), JSON.stringify({ defaultEnvironment: 'sandbox' }));
    expect(await run(['node', 'tasty', 'login'], t.io)).toBe(0);
    expect(t.asked[0]).toEqual({ message: 'Which environment?', initial: 'sandbox' });
    expect(t.err.text).not.toMatch(/tasty env use/);
  });
});
