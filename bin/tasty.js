#!/usr/bin/env node
// Loads the bundled CLI. Everything else lives in src/ (built into dist/ by `npm run build`).
import module from 'node:module';

// A plain require (not an ESM import of CommonJS, which needs the CJS export lexer): start-up is a budget.
const check = module.createRequire(import.meta.url)('./node-check.cjs');

if (!check.supported(process.versions.node)) {
  process.stderr.write(`${check.message(process.versions.node, process.platform, process.arch)}\n`);
  process.exit(2); // usage: the same code as any other unsupported setting
}
module.enableCompileCache?.();
let cli;
try {
  cli = await import('../dist/cli.js');
} catch (e) {
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' || e.url !== new URL('../dist/cli.js', import.meta.url).href) throw e;
  process.stderr.write('tasty: dist/ is not built; run `npm run build` in the checkout\n');
  process.exit(1);
}
await cli.main();
