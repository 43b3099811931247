// npm run demo: the main job with no tastytrade account. Starts the project's emulator on loopback, then runs
// the real CLI against it with a throw-away config dir, printing what a user would see. Cleans up after itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Emulator } from '../test/emulator/emulator.ts';

const bin = fileURLToPath(new URL('../bin/tasty.js', import.meta.url));
const emu = await new Emulator({ environment: 'sandbox' }).start();
const dir = mkdtempSync(join(tmpdir(), 'tasty-demo-'));
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? dir,
  TASTY_CONFIG_DIR: dir,
  TASTY_API_URL: emu.url,
  TASTY_ENV: 'sandbox',
  TZ: process.env.TZ ?? 'UTC',
};
// Colour and bold only on a terminal: written to a file or a pipe, the demo is plain text.
const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
if (tty) env.FORCE_COLOR = '1';
const bold = (s: string) => (tty ? `\u001b[1m${s}\u001b[0m` : s);
const dim = (s: string) => (tty ? `\u001b[2m${s}\u001b[0m` : s);

function tasty(args: string[], input?: string, shown = `tasty ${args.join(' ')}`): Promise<number | null> {
  process.stdout.write(`\n${bold(`$ ${shown}`)}\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env, stdio: ['pipe', 'inherit', 'inherit'] });
    child.stdin.end(input ?? '');
    child.on('close', (code) => {
      if (code !== 0) process.stdout.write(`${dim(`(exit ${code})`)}\n`);
      resolve(code);
    });
  });
}

let failed = false;
try {
  console.log(`tasty demo: emulator of the TastyTrade sandbox API on ${emu.url}, config in ${dir}`);
  const steps: Array<[string[], string | undefined, string | undefined, number]> = [
    [['login', '--stdin', '--insecure-storage'], `${emu.clientSecret}\n${emu.refreshToken}\n`, 'printf "%s\\n%s\\n" "$CLIENT_SECRET" "$REFRESH_TOKEN" | tasty login --stdin --insecure-storage', 0],
    [['status'], undefined, undefined, 0],
    [['accounts', '--all'], undefined, undefined, 0],
    [['balances'], undefined, undefined, 0],
    [['balances', '--account', '5WX01234', '--json'], undefined, undefined, 0],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, run by sh
    [['exec', '--token-only', '--', 'sh', '-c', 'echo "the child sees TASTY_ENV=$TASTY_ENV, a token until $TASTY_ACCESS_TOKEN_EXPIRES_AT (epoch s), secrets: ${TT_SECRET:-none}"'], undefined, `tasty exec --token-only -- sh -c 'echo "… TASTY_ENV=$TASTY_ENV … \${TT_SECRET:-none}"'`, 0],
    [['quote-token', '--json'], undefined, undefined, 0],
  ];
  for (const [args, input, shown, want] of steps) if ((await tasty(args, input, shown)) !== want) failed = true;
  console.log(`\n${dim('# tastytrade revokes the grant (deleted in the web UI, or the client secret regenerated)…')}`);
  emu.revokeGrant();
  emu.revokeAccessTokens();
  if ((await tasty(['balances', '--account', '5WX01234'])) !== 4) failed = true;
  if ((await tasty(['token'])) !== 4) failed = true;
  if ((await tasty(['doctor'])) !== 1) failed = true;
  console.log(`\n${dim(`# token requests the emulator saw after the revocation: ${emu.tokenRequests - 1} (the guard stops resending rejected credentials)`)}`);
} finally {
  await emu.stop();
  rmSync(dir, { recursive: true, force: true });
}
if (failed) {
  console.error('demo: a step did not exit as expected');
  process.exitCode = 1;
}
