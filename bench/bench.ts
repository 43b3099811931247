// npm run bench: whole-process timings of tasty against its physical limits and the official SDK, side by side.
// Starts the emulator on loopback, gives every command the same isolated config dir and credentials, runs a warm-up,
// then N rounds interleaving every row (A B C … A B C …) so drift hits all of them. Reports median/min/max wall time,
// peak RSS (GNU time) and the budget ratios. `--smoke`: 2 rounds, no results file (CI keeps the script from rotting).
import { spawn, spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { devNull, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Emulator, manyAccounts } from '../test/emulator/emulator.ts';

const smoke = process.argv.includes('--smoke');
const runsArg = process.argv.find((a) => a.startsWith('--runs='));
const ROUNDS = smoke ? 2 : Number(runsArg?.slice(7) ?? 15);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'tasty.js');
const work = mkdtempSync(join(tmpdir(), 'tasty-bench-'));
const configDir = join(work, 'config');
const GNU_TIME = '/usr/bin/time';
// Peak RSS needs GNU time (`-f %M`): macOS's /usr/bin/time is BSD's (no -f) and Windows has none. Without it the
// timings are measured all the same and RSS is reported as not measured.
const gnuTime = spawnSync(GNU_TIME, ['-f', '%M', '-o', devNull, process.execPath, '-e', '0'], { stdio: 'ignore' }).status === 0;
if (!gnuTime) process.stderr.write(`bench: peak RSS not measured: no GNU time at ${GNU_TIME} (${process.platform === 'darwin' ? "macOS's is BSD time, without -f" : process.platform === 'win32' ? 'Windows has none' : 'install GNU time'})\n`);
if (process.platform === 'win32') {
  // Row 8 runs `tasty exec -- true`, and the figures are for POSIX process start-up: not comparable on Windows.
  process.stderr.write('bench: skipped on Windows (rows run POSIX `true`; start-up budgets are set for Linux and macOS)\n');
  process.exit(0);
}

const accounts = manyAccounts(10);
const ACCOUNT = accounts[0]?.['account-number'] ?? '';
const emu = await new Emulator({ environment: 'sandbox', accounts, expiresIn: 3600 }).start();
const env: Record<string, string> = {
  PATH: process.env.PATH ?? '',
  HOME: work,
  TASTY_CONFIG_DIR: configDir,
  TASTY_API_URL: emu.url,
  TASTY_ENV: 'sandbox',
  TASTY_CLIENT_SECRET: emu.clientSecret,
  TASTY_REFRESH_TOKEN: emu.refreshToken,
  NO_COLOR: '1',
};

// The floors: one GET of the balances endpoint with a token, printing the body. The undici one is bundled the way
// tasty is, so the distance between rows 2 and 4 is tasty's own cost.
const undiciSrc = join(work, 'min-undici.mjs');
writeFileSync(
  join(work, 'min-undici-src.mjs'),
  `import { request } from 'undici';
const r = await request(process.env.URL, { headers: { authorization: 'Bearer ' + process.env.TOKEN, 'user-agent': 'bench/1', accept: 'application/json' } });
process.stdout.write(await r.body.text() + '\\n');`,
);
await build({
  entryPoints: [join(work, 'min-undici-src.mjs')],
  outfile: undiciSrc,
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minify: true,
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  nodePaths: [join(root, 'node_modules')],
  logLevel: 'error',
});
const httpSrc = join(work, 'min-http.mjs');
writeFileSync(
  httpSrc,
  `import http from 'node:http';
http.get(process.env.URL, { headers: { authorization: 'Bearer ' + process.env.TOKEN, 'user-agent': 'bench/1', accept: 'application/json' } }, (res) => {
  let b = ''; res.setEncoding('utf8'); res.on('data', (d) => (b += d)); res.on('end', () => process.stdout.write(b + '\\n'));
});`,
);
const sdkSrc = join(root, 'bench', 'sdk-balances.mjs');

interface Sample {
  ms: number;
  rssKb: number;
  code: number | null;
}

function once(cmd: string[], extraEnv: Record<string, string> = {}): Promise<Sample> {
  const rssFile = join(work, `rss-${process.hrtime.bigint()}`);
  const argv = gnuTime ? [GNU_TIME, '-f', '%M', '-o', rssFile, ...cmd] : cmd;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(argv[0] as string, argv.slice(1), { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      let rssKb = gnuTime ? 0 : Number.NaN;
      try {
        if (gnuTime) rssKb = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop());
        rmSync(rssFile, { force: true });
      } catch {
        /* no GNU time output */
      }
      if (code !== 0) reject(new Error(`${cmd.join(' ')} exited ${code}: ${err.slice(0, 400)}`));
      else resolve({ ms, rssKb, code });
    });
  });
}

const node = process.execPath;
const stateFile = join(configDir, 'state.json');
const sequential10 = async (): Promise<Sample> => {
  const t0 = performance.now();
  let rss = 0;
  for (const a of accounts) rss = Math.max(rss, (await once([node, bin, 'balances', '--account', a['account-number'], '--json'])).rssKb);
  return { ms: performance.now() - t0, rssKb: rss, code: 0 };
};

// Warm the cache and get a token for the floor scripts.
const tokenOut = await new Promise<string>((resolve, reject) => {
  const c = spawn(node, [bin, 'token'], { env });
  let out = '';
  c.stdout.on('data', (d) => (out += d));
  c.on('close', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`tasty token exited ${code}`))));
});
const floorEnv = { URL: `${emu.url}/accounts/${ACCOUNT}/balances`, TOKEN: tokenOut };

interface Row {
  id: string;
  name: string;
  run: () => Promise<Sample>;
  samples: Sample[];
}
const rows: Row[] = [
  { id: '1', name: '`node -e 0`', run: () => once([node, '-e', '0']), samples: [] },
  { id: '2', name: 'minimal script, bundled undici GET', run: () => once([node, undiciSrc], floorEnv), samples: [] },
  { id: '2b', name: 'minimal script, `node:http` GET', run: () => once([node, httpSrc], floorEnv), samples: [] },
  { id: '3', name: '`tasty --version`', run: () => once([node, bin, '--version']), samples: [] },
  { id: '4', name: '`tasty balances --account X --json`, token cached', run: () => once([node, bin, 'balances', '--account', ACCOUNT, '--json']), samples: [] },
  {
    id: '5',
    name: 'the same, empty cache (mint + GET)',
    run: () => {
      rmSync(stateFile, { force: true });
      return once([node, bin, 'balances', '--account', ACCOUNT, '--json']);
    },
    samples: [],
  },
  { id: '6', name: 'the same job with `@tastytrade/api` (official SDK)', run: () => once([node, sdkSrc], { ...floorEnv, ACCOUNT, URL: emu.url }), samples: [] },
  { id: '7a', name: '`tasty balances --json`, 10 accounts (concurrent)', run: () => once([node, bin, 'balances', '--json']), samples: [] },
  { id: '7b', name: '10 sequential `tasty balances --account …`', run: sequential10, samples: [] },
  { id: '8a', name: '`tasty token`, token cached', run: () => once([node, bin, 'token']), samples: [] },
  { id: '8b', name: '`tasty exec -- true`, token cached', run: () => once([node, bin, 'exec', '--', 'true']), samples: [] },
  { id: '9', name: '`tasty env`', run: () => once([node, bin, 'env']), samples: [] },
  { id: '10', name: '`tasty status`, credentials in variables', run: () => once([node, bin, 'status']), samples: [] },
  { id: '11', name: '`tasty doctor`, healthy (DNS, TCP, HTTP, a mint, the accounts)', run: () => once([node, bin, 'doctor']), samples: [] },
  // The full CLI on the same job as row 8a (TASTY_NO_FAST_PATH=1): what the fast path saves.
  { id: '12', name: '`tasty token`, token cached, fast path off', run: () => once([node, bin, 'token'], { TASTY_NO_FAST_PATH: '1' }), samples: [] },
];

const loadBefore = loadavg();
const t0 = performance.now();
for (const r of rows) await r.run(); // warm-up (also fills the compile cache)
for (let i = 0; i < ROUNDS; i++) for (const r of rows) r.samples.push(await r.run());
const totalS = (performance.now() - t0) / 1000;
const loadAfter = loadavg();
await emu.stop();
rmSync(work, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
};
const stat = (r: Row) => ({
  med: median(r.samples.map((s) => s.ms)),
  min: Math.min(...r.samples.map((s) => s.ms)),
  max: Math.max(...r.samples.map((s) => s.ms)),
  rss: median(r.samples.map((s) => s.rssKb)) / 1024,
});
const S = Object.fromEntries(rows.map((r) => [r.id, stat(r)])) as Record<string, ReturnType<typeof stat>>;
const g = (id: string) => S[id] ?? { med: Number.NaN, min: Number.NaN, max: Number.NaN, rss: Number.NaN };
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

const r1 = (a: string, b: string) => g(a).med / g(b).med;
// The issue-18 budgets (ratios of medians in this one interleaved run), then the earlier ones.
const budgets: Array<[string, string, boolean]> = [
  ['row 8a / row 1 (hot `tasty token` vs `node -e 0`)', `${f2(r1('8a', '1'))} (≤ 1.3)`, r1('8a', '1') <= 1.3],
  ['row 3 / row 1 (`--version`)', `${f2(r1('3', '1'))} (≤ 1.5)`, r1('3', '1') <= 1.5],
  ['row 9 / row 1 (`env`)', `${f2(r1('9', '1'))} (≤ 1.5)`, r1('9', '1') <= 1.5],
  ['row 10 / row 1 (`status`, variable credentials)', `${f2(r1('10', '1'))} (≤ 1.5)`, r1('10', '1') <= 1.5],
  ['row 4 / row 2b (hot balances vs the `node:http` floor)', `${f2(r1('4', '2b'))} (≤ 1.4)`, r1('4', '2b') <= 1.4],
  ['row 4 / row 2 (hot balances vs the minimal undici script)', `${f2(r1('4', '2'))} (≤ 1.0)`, r1('4', '2') <= 1.0],
  ['row 8b − row 8a (exec overhead: the child `true` included)', `${f1(g('8b').med - g('8a').med)} ms (≤ 15)`, g('8b').med - g('8a').med <= 15],
  ['peak RSS row 8a / row 1', `${f2(g('8a').rss / g('1').rss)} (≤ 1.3)`, g('8a').rss / g('1').rss <= 1.3],
  ['row 6 / row 4 (official SDK vs tasty)', `${f2(r1('6', '4'))} (≥ 2)`, r1('6', '4') >= 2],
  ['row 5 − row 4 (one mint)', `${f1(g('5').med - g('4').med)} ms (≈ one loopback round trip)`, true],
  gnuTime ? ['peak RSS row 4 / row 2', `${f2(g('4').rss / g('2').rss)} (≤ 1.3)`, g('4').rss / g('2').rss <= 1.3] : ['peak RSS row 4 / row 2', 'not measured (no GNU time)', true],
  ['row 7b / row 7a (10 processes vs one concurrent run)', f2(r1('7b', '7a')), true],
  ['row 11 / row 2b (doctor, healthy, vs one `node:http` GET; no budget)', f2(r1('11', '2b')), true],
  ['row 12 / row 8a (fast path off vs on; no budget)', f2(r1('12', '8a')), true],
];

const lines = [
  `# tasty benchmark`,
  '',
  `${cpus()[0]?.model ?? 'unknown CPU'} × ${cpus().length}, Node ${process.versions.node}, ${ROUNDS} interleaved rounds after a warm-up, ${f1(totalS)} s in all${smoke ? ' (smoke run)' : ''}.`,
  `Load averages (1, 5, 15 min): ${loadBefore.map(f2).join(', ')} before, ${loadAfter.map(f2).join(', ')} after.`,
  '',
  '| row | command | median ms | min ms | max ms | peak RSS MiB |',
  '|---|---|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const s = g(r.id);
    return `| ${r.id} | ${r.name} | ${f1(s.med)} | ${f1(s.min)} | ${f1(s.max)} | ${f1(s.rss)} |`;
  }),
  '',
  '| budget | measured | met |',
  '|---|---|---|',
  ...budgets.map(([name, value, ok]) => `| ${name} | ${value} | ${smoke ? 'smoke run: budgets not asserted' : ok ? 'yes' : 'no'} |`),
  '',
  smoke
    ? `smoke run: budgets not asserted (${ROUNDS} rounds); run \`npm run bench\` for figures.`
    : budgets.every(([, , ok]) => ok)
      ? 'Every budget met.'
      : `Budgets not met: ${budgets.filter(([, , ok]) => !ok).map(([n]) => n.split(' (')[0]).join('; ')}.`,
  '',
  // On a loaded machine the medians carry the scheduler's queueing; the fastest of the rounds shows the commands' own cost.
  `The same ratios of the fastest rounds (min): token ${f2(g('8a').min / g('1').min)}, --version ${f2(g('3').min / g('1').min)}, env ${f2(g('9').min / g('1').min)}, status ${f2(g('10').min / g('1').min)} × \`node -e 0\`; balances ${f2(g('4').min / g('2b').min)} × \`node:http\`, ${f2(g('4').min / g('2').min)} × undici; exec − token ${f1(g('8b').min - g('8a').min)} ms.`,
  '',
];
const md = lines.join('\n');
process.stdout.write(md);
if (!smoke) writeFileSync(join(root, 'bench', 'results.md'), md);
