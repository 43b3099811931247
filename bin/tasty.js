#!/usr/bin/env node
// Loads the bundled CLI. Everything else lives in src/ (built into dist/ by `npm run build`).
import module from 'node:module';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 22) || (major === 24 && minor < 15) || major === 23 || major === 25) {
  // The same two lines as every other error (src/errors.ts cannot load on an unsupported Node).
  process.stderr.write(`tasty: Node ${process.versions.node} is not supported; tasty needs Node 22.22+, 24.15+ or 26+\n`);
  process.stderr.write(`hint: install a supported Node (e.g. \`nvm install 22\`, or https://nodejs.org), then run tasty again\n`);
  process.exit(2);
}
module.enableCompileCache?.();
const { main } = await import('../dist/cli.js');
await main();
