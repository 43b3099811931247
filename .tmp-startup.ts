// Ad-hoc start-up comparison (not committed): main vs this branch, interleaved rounds, medians.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Emulator } from './test/emulator/emulator.ts';
import { ConnectProxy, makePki, TlsFront } from './test/proxy.ts';

const ROUNDS = Number(process.argv[2] ?? 20);
const emu = await new Emulator({ environment: 'sandbox', expiresIn: 3600 }).start();
const pkiDir = mkdtempSync(join(tmpdir(), 'pki-'));
const HOST = 'api.tasty-proxy.test';
const pki = makePki(pkiDir, [HOST]);
const front = await new TlsFront(pki, emu.port).start();
const proxy = await new ConnectProxy({ [`${HOST}:${front.port}`]: front.port }).start();
const bins = { main: '/tmp/i12-main/bin/tasty.js', i12: '/work/wt/i12/bin/tasty.js' };
const base = { PATH: process.env.PATH ?? '', HOME: tmpdir(), TASTY_ENV: 'sandbox', TASTY_CLIENT_SECRET: emu.clientSecret, TASTY_REFRESH_TOKEN: emu.refreshToken, NO_COLOR: '1' };
const dirs = { main: mkdtempSync(join(tmpdir(), 'cfg-')), i12: mkdtempSync(join(tmpdir(), 'cfg-')), proxy: mkdtempSync(join(tmpdir(), 'cfg-')) };
type Row = { name: string; bin: keyof typeof bins; args: string[]; env: Record<string, string> };
const direct = (b: keyof typeof bins) => ({ ...base, TASTY_API_URL: emu.url, TASTY_CONFIG_DIR: dirs[b] });
const rows: Row[] = [];
for (const b of ['main', 'i12'] as const) {
  rows.push({ name: `${b} --version`, bin: b, args: ['--version'], env: direct(b) });
  rows.push({ name: `${b} token (hot)`, bin: b, args: ['token'], env: direct(b) });
  rows.push({ name: `${b} balances --json (token cached)`, bin: b, args: ['balances', '--account', '5WX01234', '--json'], env: direct(b) });
}
rows.push({ name: 'i12 balances --json through CONNECT proxy + TLS (token cached)', bin: 'i12', args: ['balances', '--account', '5WX01234', '--json'], env: { ...base, TASTY_API_URL: `https://${HOST}:${front.port}`, TASTY_CONFIG_DIR: dirs.proxy, HTTPS_PROXY: proxy.url, NODE_EXTRA_CA_CERTS: pki.caFile } });
const run = (r: Row) => new Promise<number>((resolve) => {
  const t0 = performance.now();
  import('node:child_process').then(({ spawn }) => {
    const c = spawn(process.execPath, [bins[r.bin], ...r.args], { env: r.env, stdio: 'ignore' });
    c.on('close', (code) => {
      if (code !== 0) console.error(`${r.name}: exit ${code}`);
      resolve(performance.now() - t0);
    });
  });
});
for (const r of rows) await run(r); // warm-up: mint, compile cache
const t: Record<string, number[]> = {};
for (let i = 0; i < ROUNDS; i++) for (const r of rows) (t[r.name] ??= []).push(await run(r));
const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1] ?? 0;
for (const r of rows) console.log(`${r.name}: median ${med(t[r.name] ?? []).toFixed(1)} ms, min ${Math.min(...(t[r.name] ?? [])).toFixed(1)}`);
await proxy.stop();
await front.stop();
await emu.stop();
rmSync(pkiDir, { recursive: true, force: true });
void spawnSync;
