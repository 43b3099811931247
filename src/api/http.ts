// The parts of undici the client uses, loaded lazily by it (see src/types/undici-parts.d.ts).
import Agent from 'undici/lib/dispatcher/agent.js';
import request from 'undici/lib/api/api-request.js';

export { Agent, request };

export async function proxyAgentClass() {
  const m = await import('undici/lib/dispatcher/env-http-proxy-agent.js');
  return (m as unknown as { default: typeof import('undici').EnvHttpProxyAgent }).default;
}
