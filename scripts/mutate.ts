// Mutation check (not run by CI): apply each one-line mutation of src/, rebuild, run the test named to catch it,
// report caught/survived, restore. Each mutation is a behaviour the suite once let go unnoticed (issue 20).
//   bash scripts/with-keyring.sh node scripts/mutate.ts            all of them
//   bash scripts/with-keyring.sh node scripts/mutate.ts redact     those whose id contains "redact"
// Run it inside scripts/with-keyring.sh: some catches are exit codes that only a real keyring makes exact.
// It edits src/ in place and restores it (also on Ctrl-C); run it on a clean work tree.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Mutation {
  id: string;
  what: string;
  file: string;
  from: string;
  to: string;
  /** test file and the -t filter (a regex over "describe > it" names) that must fail on the mutation. */
  test: [string, string];
}

const MUTATIONS: Mutation[] = [
  {
    id: 'redact-identity',
    what: 'Output.redact() returns its input',
    file: 'src/output.ts',
    from: '    return redactText(s, this.secrets, { shapes });',
    to: '    return s;',
    test: ['test/output.test.ts', 'the redactor'],
  },
  {
    id: 'credit-json',
    what: 'a Credit effect no longer forces a positive amount (balances JSON)',
    file: 'src/render.ts',
    from: "    const sign = effect === 'Debit' ? -1 : effect === 'Credit' ? 1 : undefined;",
    to: "    const sign = effect === 'Debit' ? -1 : undefined;",
    test: ['test/data.e2e.test.ts', 'a Credit effect makes the amount positive'],
  },
  {
    id: 'credit-table',
    what: 'a Credit effect no longer forces a positive amount (balances table)',
    file: 'src/commands/balances.ts',
    from: "      const sign = effect === 'Debit' ? -1 : effect === 'Credit' ? 1 : undefined;",
    to: "      const sign = effect === 'Debit' ? -1 : undefined;",
    test: ['test/data.e2e.test.ts', 'a Credit effect makes the amount positive'],
  },
  {
    id: 'html-401-remint',
    what: 'an HTML 401 triggers a re-mint and a retry',
    file: 'src/auth/engine.ts',
    from: "      if (!(e instanceof UnauthorizedError) || e.cause_ === 'html_401') throw e;\n      this.d.debug",
    to: '      if (!(e instanceof UnauthorizedError)) throw e;\n      this.d.debug',
    test: ['test/engine.test.ts', 'an HTML 401'],
  },
  {
    id: 'keychain-timeout',
    what: "the keychain's own timeout removed (withTimeout)",
    file: 'src/auth/keychain.ts',
    from: '    return withTimeout(work, this.timeoutMs, this.name, op, ac);',
    to: '    return work;',
    test: ['test/keychain.test.ts', "KeychainStore's own timeout"],
  },
  {
    id: 'login-keeps-file',
    what: 'a keychain login keeps the old plaintext credentials.json',
    file: 'src/auth/storage.ts',
    from: '  removeFromFile(dir, environment);\n  return { kind: \'keychain\'',
    to: "  return { kind: 'keychain'",
    test: ['test/login.e2e.test.ts', 'moving between the keychain and the file'],
  },
  {
    id: 'file-login-keeps-keychain',
    what: 'an --insecure-storage login keeps the old keychain entry',
    file: 'src/auth/storage.ts',
    from: '      await (await engine.keychain()).delete(environment);',
    to: '      void 0;',
    test: ['test/login.e2e.test.ts', 'moving between the keychain and the file'],
  },
  {
    id: 'chmod-dir',
    what: 'chmod 0700 of an existing looser config dir removed',
    file: 'src/config.ts',
    from: 'fs.chmodSync(dir, 0o700);',
    to: 'void 0;',
    test: ['test/cli.e2e.test.ts', 'tightened to 0700'],
  },
  {
    id: 'not-logged-in-7',
    what: 'not logged in exits 7 (the keychain code) instead of 3',
    file: 'src/errors.ts',
    from: '  notLoggedIn: 3,',
    to: '  notLoggedIn: 7,',
    test: ['test/token.e2e.test.ts', 'no credentials'],
  },
  {
    id: 'rejected-code',
    what: 'the exit code constant of a rejection changed (4 → 6)',
    file: 'src/errors.ts',
    from: '  rejected: 4,',
    to: '  rejected: 6,',
    test: ['test/engine.test.ts', 'a rejected grant is remembered'],
  },
  {
    id: 'hostile-type-crash',
    what: 'the balances table drops its type guard: a non-string amount from the server crashes it (exit 1)',
    file: 'src/commands/balances.ts',
    from: "      const exact = typeof raw === 'string' ? signedDecimal(raw, sign) :",
    to: "      const exact = typeof raw !== 'number' ? signedDecimal(raw as string, sign) :",
    test: ['test/reliability.e2e.test.ts', 'escape sequences, wrong types'],
  },
];

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const only = process.argv[2];
const chosen = MUTATIONS.filter((m) => !only || m.id.includes(only));
if (process.env.TASTY_IN_KEYRING_SESSION !== '1') console.warn('mutate: not inside scripts/with-keyring.sh: keychain-dependent catches may differ');

const originals = new Map<string, string>();
const restore = () => {
  for (const [file, text] of originals) writeFileSync(join(ROOT, file), text);
  originals.clear();
};
process.on('SIGINT', () => {
  restore();
  process.exit(130);
});

const build = () => {
  const b = spawnSync(process.execPath, ['scripts/build.ts'], { cwd: ROOT, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed: ${b.stderr}`);
};

const rows: string[] = [];
let survived = 0;
try {
  for (const m of chosen) {
    const path = join(ROOT, m.file);
    const text = readFileSync(path, 'utf8');
    const n = text.split(m.from).length - 1;
    if (n !== 1) throw new Error(`${m.id}: the text to mutate occurs ${n} times in ${m.file} (the source moved: update the mutation)`);
    originals.set(m.file, text);
    writeFileSync(path, text.replace(m.from, m.to));
    build();
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', m.test[0], '-t', m.test[1]], { cwd: ROOT, encoding: 'utf8', env: process.env });
    const s = ((performance.now() - t0) / 1000).toFixed(0);
    const noTests = /No test found|no tests/i.test(r.stdout + r.stderr) && !/failed/.test(r.stdout);
    const caught = r.status !== 0 && !noTests;
    if (!caught) survived++;
    const failed = (r.stdout.match(/Tests\s+.*?(\d+) failed/) ?? [])[1] ?? '0';
    const row = `| ${m.id} | ${m.what} | ${m.file} | ${m.test[0]} "${m.test[1]}" | ${caught ? `caught (${failed} failed)` : noTests ? 'NO TEST MATCHED' : 'SURVIVED'} | ${s} s |`;
    rows.push(row);
    console.log(row);
    restore();
  }
} finally {
  restore();
  build();
}
console.log('\n| id | mutation | file | test | result | time |\n|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\n${chosen.length - survived} of ${chosen.length} caught`);
process.exit(survived > 0 ? 1 : 0);
