// The parts of undici the client uses, loaded lazily by it (see src/types/undici-parts.d.ts).
// Direct requests use only undici's agent and request parts (the cheapest start); a request through a proxy loads
// undici's index, its supported entry point, which installs the dispatcher API the proxy's CONNECT tunnel needs
// (Dispatcher.prototype.connect): the deep-imported parts alone crash with "this[k].connect is not a function".
import Agent from 'undici/lib/dispatcher/agent.js';
import request from 'undici/lib/api/api-request.js';

export { Agent, request };

export async function proxyAgentClass(): Promise<typeof import('undici').ProxyAgent> {
  const m = (await import('undici')) as typeof import('undici') & { default?: typeof import('undici') };
  // Bundled, a CommonJS package's namespace carries its exports on `default`; unbundled (tests), by name.
  return (m.default ?? m).ProxyAgent;
}
