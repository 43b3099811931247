// npm run emulator: a playground. Starts the project's emulator of the TastyTrade API (test/emulator) on
// loopback and runs until Ctrl-C. stdout gets only `export …` lines, ready for eval or source; everything else
// (how to use it, the request log, command answers) goes to stderr. Faults are injected by typing commands
// (stdin) or by POSTing the same commands to the admin URL: `curl -d 'hang api' http://127.0.0.1:<admin>/`.
//   node scripts/emulator.ts [--port N] [--admin-port N] [--production]
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Emulator, type Fault, type FaultTarget } from '../test/emulator/emulator.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}
function port(name: string): number {
  const v = flag(name);
  if (v === undefined) return 0;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    process.stderr.write(`emulator: ${name} must be a port number (0-65535), not ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}

const environment = process.argv.includes('--production') ? 'production' : 'sandbox';
const emu = new Emulator({ environment });
const err = (s: string) => process.stderr.write(`${s}\n`);
// The playground's own config dir and keychain entry: a `tasty login` here never touches your real ones.
const dir = mkdtempSync(join(tmpdir(), 'tasty-playground-'));

const HELP = `Commands (type them here, or POST them to the admin URL):
  revoke              revoke the grant: the token endpoint answers "Grant revoked" from now on (like the real one)
  expire              revoke every access token issued so far: API calls answer 401
  hang [target] [n]   the next n requests (default 1) to target never get an answer (target: token, api, any, or /path-prefix; default any)
  slow <ms> [target] [n]   answer the next n requests after <ms> milliseconds
  5xx [status] [target] [n]   answer the next n requests with status (default 503) and tastytrade's JSON error body
  reset               the connection is reset on the next request (to target, default any)
  ip-block            every request hangs until \`clear\` (what tastytrade's 8-hour IP block looks like)
  invalid-jwt | secret-mismatch   the next token request is refused with that error
  clear               remove every fault and the revocation
  stats               requests, token requests and mints so far
  help                this text`;

type Answer = string;

const TARGET = /^(token|api|any|\/\S*)$/;
function target(v: string | undefined): FaultTarget {
  if (v === undefined) return 'any';
  if (!TARGET.test(v)) throw new Error(`target must be token, api, any or a /path-prefix, not ${JSON.stringify(v)}`);
  return v as FaultTarget;
}
function count(v: string | undefined): number {
  if (v === undefined) return 1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`the count must be a whole number of requests, not ${JSON.stringify(v)}`);
  return n;
}

/** One command, from stdin or the admin URL. Returns what to tell the user. */
function command(line: string): Answer {
  const [cmd = '', ...args] = line.trim().split(/\s+/);
  const inject = (t: FaultTarget, fault: Fault, n: number, what: string) => {
    emu.inject(t, fault, n);
    return `${what}: the next ${n === Number.POSITIVE_INFINITY ? 'every' : n} request${n === 1 ? '' : 's'} to ${t}`;
  };
  switch (cmd.toLowerCase()) {
    case '':
      return '';
    case 'help':
      return HELP;
    case 'revoke':
      emu.revokeGrant();
      return 'grant revoked: POST /oauth/token now answers 401 "Grant revoked" for this refresh token (`clear` undoes it)';
    case 'expire':
      emu.revokeAccessTokens();
      return 'every access token issued so far is revoked: API calls with them answer 401';
    case 'hang':
      return inject(target(args[0]), { kind: 'hang' }, count(args[1]), 'hang');
    case 'slow': {
      const ms = Number(args[0]);
      if (!Number.isFinite(ms) || ms <= 0) throw new Error('slow needs a number of milliseconds, e.g. slow 2000 api');
      return inject(target(args[1]), { kind: 'slow', ms }, count(args[2]), `slow (${ms} ms)`);
    }
    case '5xx': {
      const status = args[0] === undefined ? 503 : Number(args[0]);
      if (!Number.isInteger(status) || status < 500 || status > 599) throw new Error('5xx takes a status from 500 to 599, e.g. 5xx 502 api 3');
      return inject(target(args[1]), { kind: 'status', status }, count(args[2]), `HTTP ${status}`);
    }
    case 'reset':
      return inject(target(args[0]), { kind: 'reset' }, count(args[1]), 'connection reset');
    case 'ip-block':
      return inject('any', { kind: 'hang' }, Number.POSITIVE_INFINITY, 'IP block (hang)');
    case 'invalid-jwt':
      return inject('token', { kind: 'invalid-jwt' }, 1, '"Invalid JWT"');
    case 'secret-mismatch':
      return inject('token', { kind: 'secret-mismatch' }, 1, '"Client secret mismatch"');
    case 'clear':
      emu.clearFaults();
      emu.revokedGrants.clear();
      return 'every fault and the revocation cleared';
    case 'stats':
      return `${emu.requests.length} requests, ${emu.tokenRequests} token requests, ${emu.mints} mints`;
    default:
      throw new Error(`unknown command ${JSON.stringify(cmd)}: type help`);
  }
}

function run(line: string): { ok: boolean; text: Answer } {
  try {
    return { ok: true, text: command(line) };
  } catch (e) {
    return { ok: false, text: `error: ${(e as Error).message}` };
  }
}

async function body(req: IncomingMessage): Promise<string> {
  let s = '';
  for await (const c of req) {
    s += String(c);
    if (s.length > 4096) break;
  }
  return s;
}

await emu.start(port('--port'));
const admin: Server = createServer((req, res) => {
  void (async () => {
    const url = new URL(req.url ?? '/', 'http://admin');
    // The command is the body of a POST, or the path: POST / -d 'hang api 2', or POST /revoke.
    const text = req.method === 'POST' ? (await body(req)).trim() || decodeURIComponent(url.pathname.slice(1)).replace(/\//g, ' ') : 'help';
    const r = run(text);
    if (text) err(`[admin] ${text} → ${r.text}`);
    res.writeHead(r.ok ? 200 : 400, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`${r.text}\n`);
  })();
});
await new Promise<void>((resolve) => admin.listen(port('--admin-port'), '127.0.0.1', resolve));
const adminUrl = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;

// Ctrl-C is ours from before the banner says so: one pressed (or sent) as the banner appears still cleans up.
let ready = false;
let stopAsked = false;
const onSignal = () => {
  if (ready) void stop();
  else stopAsked = true;
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// stdout: only the lines to eval.
process.stdout.write(
  `export TASTY_API_URL=${emu.url} TASTY_ENV=${environment} TASTY_CLIENT_SECRET=${emu.clientSecret} TASTY_REFRESH_TOKEN=${emu.refreshToken}\n` +
    `export TASTY_CONFIG_DIR=${dir} TASTY_KEYCHAIN_SERVICE=tasty-playground TASTY_EMULATOR_ADMIN=${adminUrl}\n`,
);
err(`tasty playground: an emulator of the TastyTrade ${environment} API on ${emu.url}; admin on ${adminUrl}.
In another shell, paste the two export lines above (or: npm run --silent emulator > /tmp/tasty-playground.env, then
source /tmp/tasty-playground.env), then try any command: tasty status, tasty token, tasty accounts, tasty balances,
tasty doctor, tasty api /customers/me. \`tasty login --stdin\` works too (printf "%s\\n%s\\n" "$TASTY_CLIENT_SECRET"
"$TASTY_REFRESH_TOKEN" | tasty login --stdin --insecure-storage; without --insecure-storage it needs a keychain); the
config dir and keychain entry are the playground's own.
Inject faults by typing a command here, or: curl -d 'hang api' ${adminUrl}/
${HELP}
Ctrl-C stops it.`);

// The request log, as requests finish.
let shown = 0;
const log = setInterval(() => {
  for (; shown < emu.requests.length; shown++) {
    const r = emu.requests[shown];
    if (!r) break;
    if (r.status === 0 && Date.now() - r.at < 30_000) break; // not answered yet (or hanging): wait for it
    err(`${new Date(r.at).toISOString().slice(11, 23)} ${r.method} ${r.path} → ${r.status || 'no answer'}`);
  }
}, 100);

const rl = process.stdin.readable ? createInterface({ input: process.stdin, terminal: false }) : undefined;
rl?.on('line', (line) => {
  const r = run(line);
  if (r.text) err(r.text);
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(log);
  rl?.close();
  await emu.stop();
  admin.closeAllConnections();
  await new Promise<void>((resolve) => admin.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
  err('tasty playground: stopped');
  process.exit(0);
}
ready = true;
if (stopAsked) void stop();
