// Real parts for the proxy paths: a throw-away CA (openssl), a TLS terminator in front of the emulator, and a
// CONNECT proxy on loopback that resolves the API's made-up host name itself, the way a corporate proxy does.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';

export interface Pki {
  caFile: string;
  key: string;
  cert: string;
}

/** A CA and a server certificate for `hosts`, made with openssl in `dir`. */
export function makePki(dir: string, hosts: string[]): Pki {
  const f = (n: string) => join(dir, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=tasty test CA');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', `/CN=${hosts[0]}`);
  writeFileSync(f('ext.cnf'), `subjectAltName=${hosts.map((h) => `DNS:${h}`).join(',')}\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n`);
  ossl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { caFile: f('ca.pem'), key: readFileSync(f('server.key'), 'utf8'), cert: readFileSync(f('server.pem'), 'utf8') };
}

async function listen<T extends HttpServer | TlsServer>(server: T): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** A TLS server on loopback that terminates TLS and passes the bytes to a plain-HTTP upstream (the emulator). */
export class TlsFront {
  port = 0;
  private server: TlsServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly pki: Pki;
  private readonly upstreamPort: number;
  constructor(pki: Pki, upstreamPort: number) {
    this.pki = pki;
    this.upstreamPort = upstreamPort;
  }
  async start(): Promise<this> {
    this.server = createTlsServer({ key: this.pki.key, cert: this.pki.cert }, (tls) => {
      const up = netConnect(this.upstreamPort, '127.0.0.1');
      this.sockets.add(tls).add(up);
      tls.pipe(up).pipe(tls);
      const end = () => {
        tls.destroy();
        up.destroy();
      };
      tls.on('error', end).on('close', end);
      up.on('error', end).on('close', end);
    });
    this.port = await listen(this.server);
    return this;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A CONNECT proxy on loopback: resolves names from its own table, logs each tunnel and every byte the client sent. */
export class ConnectProxy {
  port = 0;
  readonly connects: string[] = [];
  /** Plain forward-proxy requests (GET http://…): a client that sends these shows the proxy the request in clear. */
  readonly forwards: string[] = [];
  /** Everything the client sent through tunnels (ciphertext if TLS is end to end). */
  clientBytes = Buffer.alloc(0);
  /** The Proxy-Authorization header of each CONNECT. */
  readonly auth: string[] = [];
  /** Answer CONNECT with this status instead of tunnelling. */
  refuseWith: number | undefined;
  private server: HttpServer | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly hosts: Record<string, number>;
  constructor(hosts: Record<string, number>) {
    this.hosts = hosts;
  }
  async start(): Promise<this> {
    const server = createHttpServer((req, res) => {
      this.forwards.push(`${req.method} ${req.url}`);
      res.writeHead(502).end();
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('connect', (req, client: Socket, head: Buffer) => {
      this.connects.push(req.url ?? '');
      this.auth.push(String(req.headers['proxy-authorization'] ?? ''));
      const [host, port] = (req.url ?? '').split(':');
      const target = this.hosts[`${host}:${port}`];
      if (this.refuseWith !== undefined || target === undefined) {
        client.end(`HTTP/1.1 ${this.refuseWith ?? 502} Refused\r\n\r\n`);
        return;
      }
      const up = netConnect(target, '127.0.0.1', () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        if (head.length) up.write(head);
        client.on('data', (d: Buffer) => {
          this.clientBytes = Buffer.concat([this.clientBytes, d]);
        });
        client.pipe(up).pipe(client);
      });
      this.sockets.add(up);
      const end = () => {
        client.destroy();
        up.destroy();
      };
      up.on('error', end).on('close', end);
      client.on('error', end).on('close', end);
    });
    this.server = server;
    this.port = await listen(server);
    return this;
  }
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
