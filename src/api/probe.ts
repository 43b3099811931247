// Low-level reachability probes for `tasty doctor`: DNS, TCP connect, TLS handshake, each timed.
import { lookup } from 'node:dns/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface DnsResult {
  ok: boolean;
  addresses: string[];
  ms: number;
  code?: string;
}

export async function probeDns(host: string): Promise<DnsResult> {
  const t0 = performance.now();
  if (isIP(host)) return { ok: true, addresses: [host], ms: 0 };
  try {
    const r = await lookup(host, { all: true });
    return { ok: true, addresses: r.map((a) => a.address), ms: Math.round(performance.now() - t0) };
  } catch (e) {
    return { ok: false, addresses: [], ms: Math.round(performance.now() - t0), code: (e as NodeJS.ErrnoException).code ?? 'ERROR' };
  }
}

export interface ConnectResult {
  ok: boolean;
  stage: 'tcp' | 'tls' | 'done';
  tcpMs?: number;
  tlsMs?: number;
  /** timeout | refused | reset | tls | other */
  failure?: 'timeout' | 'refused' | 'reset' | 'tls' | 'unreachable' | 'other';
  code?: string;
  detail?: string;
}

const TLS_RE = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|EPROTO/;

function classify(code: string): ConnectResult['failure'] {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'ETIMEDOUT') return 'timeout';
  if (code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'unreachable';
  if (TLS_RE.test(code)) return 'tls';
  return 'other';
}

/** TCP connect, then (for https) a TLS handshake, with one overall timeout. */
export function probeConnect(url: URL, timeoutMs: number): Promise<ConnectResult> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const t0 = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    let tcpMs: number | undefined;
    let sock: Socket | undefined;
    const finish = (r: ConnectResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock?.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, stage: tcpMs === undefined ? 'tcp' : 'tls', tcpMs, failure: 'timeout', code: 'ETIMEDOUT' }), timeoutMs);
    const onError = (e: NodeJS.ErrnoException) => {
      const code = e.code ?? 'ERROR';
      finish({ ok: false, stage: tcpMs === undefined ? 'tcp' : 'tls', tcpMs, failure: classify(code), code, detail: e.message });
    };
    sock = netConnect({ host, port });
    sock.once('error', onError);
    sock.once('connect', () => {
      tcpMs = Math.round(performance.now() - t0);
      if (url.protocol !== 'https:') return finish({ ok: true, stage: 'done', tcpMs });
      const t1 = performance.now();
      const tls = tlsConnect({ socket: sock, servername: isIP(host) ? undefined : host });
      tls.once('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? 'ERROR';
        // A peer that closes during the handshake is a reset, not a certificate problem.
        finish({ ok: false, stage: 'tls', tcpMs, failure: code === 'ECONNRESET' ? 'reset' : TLS_RE.test(code) ? 'tls' : classify(code), code, detail: e.message });
      });
      tls.once('secureConnect', () => {
        const tlsMs = Math.round(performance.now() - t1);
        tls.destroy();
        finish({ ok: true, stage: 'done', tcpMs, tlsMs });
      });
    });
  });
}
