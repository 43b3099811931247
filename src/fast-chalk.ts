// chalk at level 0 (no colour), in the fast path's bundle only: scripts/build.ts aliases 'chalk' to this module there,
// so `tasty env` and `tasty status` on pipes skip chalk and the terminal modules it loads (node:tty, node:net). It
// behaves as chalk 6 does at level 0 (node_modules/chalk/source/index.js, createBuilder and applyStyle): every style
// returns its arguments joined by a space, `visible` returns ''. Any other level is refused, and the fast path then
// leaves the command to the full CLI and the real chalk. test/fast-path.e2e.test.ts compares the two byte for byte.
type Builder = ((...args: unknown[]) => string) & { readonly [style: string]: Builder };

function builder(empty: boolean): Builder {
  const f = (...args: unknown[]) => {
    const s = args.length === 1 ? `${args[0]}` : args.length === 2 ? `${args[0] ?? ''} ${args[1] ?? ''}` : args.join(' ');
    return empty ? '' : s;
  };
  return new Proxy(f, { get: (_t, k) => (typeof k === 'string' ? builder(empty || k === 'visible') : undefined) }) as Builder;
}

export type ChalkInstance = Builder;

export class Chalk {
  constructor(o: { level?: number } = {}) {
    if ((o.level ?? 0) !== 0) throw new Error('colour is not on the fast path');
    // biome-ignore lint/correctness/noConstructorReturn: a chalk instance is a function, as chalk's own constructor returns
    return builder(false) as unknown as Chalk;
  }
}
