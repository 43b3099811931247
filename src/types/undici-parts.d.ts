// Deep imports of undici's parts: the client loads only the agent and the request API, not the whole package
// (fetch, websockets, mocks, caches), which halves the cost of the first request. undici is pinned exactly.
// Requests through a proxy load undici's index instead (src/api/http.ts).
declare module 'undici/lib/dispatcher/agent.js' {
  import { Agent } from 'undici';
  export default Agent;
}
declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';
  function request(this: Dispatcher, opts: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  export default request;
}
