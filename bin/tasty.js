#!/usr/bin/env node
// Loads the bundled CLI. Everything else lives in src/ (built into dist/ by `npm run build`).
// CommonJS (bin/package.json): no ES module loader before the fast path answers, and no syntax an old Node cannot parse
// before node-check.cjs has said which Node tasty needs.
'use strict';
const module_ = require('node:module');
const check = require('./node-check.cjs');

if (!check.supported(process.versions.node)) {
  process.stderr.write(`${check.message(process.versions.node, process.platform, process.arch)}\n`);
  process.exit(2); // usage: the same code as any other unsupported setting
}
module_.enableCompileCache?.();

function notBuilt() {
  process.stderr.write('tasty: dist/ is not built; run `npm run build` in the checkout\n');
  process.exit(1);
}

// The fast path (src/fast.ts, bundled alone as dist/fast.cjs) answers hot `token`, `exec`, `env`, `status` and
// `--version` with the CLI's own rules, before commander, the context and the output layer load; anything it does not
// fully understand comes back undefined and the full CLI runs. TASTY_NO_FAST_PATH=1 turns it off (the tests compare).
function fastPath() {
  if (process.env.TASTY_NO_FAST_PATH === '1') return Promise.resolve(undefined);
  let fast;
  try {
    fast = require('../dist/fast.cjs');
  } catch (e) {
    if (e?.code === 'MODULE_NOT_FOUND' && String(e.message).includes('dist/fast.cjs')) notBuilt();
    throw e;
  }
  return fast.fast(process.argv.slice(2), process.env);
}

fastPath().then(async (code) => {
  if (code !== undefined) {
    process.exitCode = code;
    return;
  }
  let cli;
  try {
    cli = await import('../dist/cli.js');
  } catch (e) {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || e.url !== new URL('../dist/cli.js', `file://${__filename}`).href) throw e;
    notBuilt();
  }
  await cli.main();
});
