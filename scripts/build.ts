// Bundle src/ into dist/ with esbuild: one entry, lazily loaded command chunks, the native keychain module external.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: ['src/cli.ts'],
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minify: true,
  keepNames: false,
  legalComments: 'none',
  chunkNames: 'chunks/[name]-[hash]',
  external: ['@napi-rs/keyring'],
  define: { __TASTY_VERSION__: JSON.stringify(pkg.version) },
  // undici and other CommonJS dependencies call require() for node built-ins.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  logLevel: 'warning',
});

// The fast path (src/fast.ts) that bin/tasty.js tries first: the same src/ modules, bundled alone as CommonJS so it
// loads without the ES module loader. Only the modules it runs are in it: every other dynamic import (the API client,
// undici, the keychain, prompts, spinners) is replaced by a module that throws, which sends the command to the full CLI.
const FAST_IMPORTS = /^\.\.?\/(commands\/(token|exec|env|status)|auth\/(peers|engine)|context|config|text|api\/token-rules|keychain-service|credentials)\.ts$/;
await build({
  entryPoints: ['src/fast.ts'],
  outfile: 'dist/fast.cjs',
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node22',
  minify: true,
  legalComments: 'none',
  define: { __TASTY_VERSION__: JSON.stringify(pkg.version) },
  // No colour on the fast path (it answers only when neither stdout nor stderr can be a terminal): chalk's level 0.
  alias: { chalk: './src/fast-chalk.ts' },
  logLevel: 'warning',
  plugins: [
    {
      name: 'fast-path-only',
      setup(b) {
        b.onResolve({ filter: /.*/ }, (a) => (a.kind === 'dynamic-import' && !FAST_IMPORTS.test(a.path) ? { path: a.path, namespace: 'not-fast' } : undefined));
        b.onLoad({ filter: /.*/, namespace: 'not-fast' }, (a) => ({ contents: `throw new Error(${JSON.stringify(`not on the fast path: ${a.path}`)});`, loader: 'js' }));
      },
    },
  ],
});
