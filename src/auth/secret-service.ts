// A read-only look at the Linux Secret Service over the D-Bus session bus, before anything is asked or sent:
// is a bus there, does something own org.freedesktop.secrets, does it answer, does it have a default
// collection, and is that collection unlocked? Speaks just enough of the D-Bus wire protocol for that
// (AUTH EXTERNAL, Hello, ReadAlias, Properties.Get): the native keyring module cannot tell these apart
// (reading a locked or missing collection just says "no entry").
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import type { Env } from '../config.ts';

export type SecretServiceState =
  | { state: 'usable'; collection: string }
  | { state: 'none'; detail: string }
  | { state: 'no-default'; detail: string }
  | { state: 'locked'; collection: string }
  | { state: 'hung'; detail: string };

/** The session bus socket: DBUS_SESSION_BUS_ADDRESS (unix:path= or unix:abstract=), else $XDG_RUNTIME_DIR/bus. */
export function sessionBusSocket(env: Env): string | undefined {
  const addr = env.DBUS_SESSION_BUS_ADDRESS;
  if (addr) {
    for (const one of addr.split(';')) {
      const m = /^unix:(.*)$/.exec(one.trim());
      if (!m) continue;
      const kv = new Map(
        (m[1] ?? '').split(',').map((p) => {
          const i = p.indexOf('=');
          return [p.slice(0, i), decodeURIComponent(p.slice(i + 1))] as const;
        }),
      );
      const path = kv.get('path');
      if (path) return path;
      const abs = kv.get('abstract');
      if (abs) return `\0${abs}`;
    }
    return undefined;
  }
  const run = env.XDG_RUNTIME_DIR;
  if (run && existsSync(`${run}/bus`)) return `${run}/bus`;
  return undefined;
}

// ---- the little of the wire format needed: little-endian out, either endianness in ----

class Writer {
  private buf: Buffer = Buffer.alloc(256);
  len = 0;
  private ensure(n: number) {
    if (this.len + n > this.buf.length) this.buf = Buffer.concat([this.buf, Buffer.alloc(Math.max(256, n))]);
  }
  align(n: number) {
    const pad = (n - (this.len % n)) % n;
    this.ensure(pad);
    this.buf.fill(0, this.len, this.len + pad);
    this.len += pad;
  }
  byte(v: number) {
    this.ensure(1);
    this.buf[this.len++] = v;
  }
  u32(v: number) {
    this.align(4);
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }
  u32At(at: number, v: number) {
    this.buf.writeUInt32LE(v, at);
  }
  str(s: string) {
    const b = Buffer.from(s, 'utf8');
    this.u32(b.length);
    this.ensure(b.length + 1);
    b.copy(this.buf, this.len);
    this.len += b.length;
    this.buf[this.len++] = 0;
  }
  sig(s: string) {
    this.byte(s.length);
    this.ensure(s.length + 1);
    this.buf.write(s, this.len, 'latin1');
    this.len += s.length;
    this.buf[this.len++] = 0;
  }
  done() {
    return this.buf.subarray(0, this.len);
  }
}

interface Call {
  destination: string;
  path: string;
  iface: string;
  member: string;
  args?: string[]; // all of D-Bus type "s"
}

function encodeCall(serial: number, c: Call): Buffer {
  const body = new Writer();
  for (const a of c.args ?? []) body.str(a);
  const w = new Writer();
  w.byte(0x6c); // 'l'
  w.byte(1); // METHOD_CALL
  w.byte(0);
  w.byte(1);
  w.u32(body.len);
  w.u32(serial);
  w.u32(0); // header fields length, patched below
  const start = w.len;
  const field = (code: number, sig: string, v: string) => {
    w.align(8);
    w.byte(code);
    w.sig(sig);
    if (sig === 'g') w.sig(v);
    else w.str(v);
  };
  field(1, 'o', c.path);
  field(2, 's', c.iface);
  field(3, 's', c.member);
  field(6, 's', c.destination);
  if (c.args?.length) field(8, 'g', 's'.repeat(c.args.length));
  w.u32At(12, w.len - start);
  w.align(8);
  return Buffer.concat([w.done(), body.done()]);
}

interface Message {
  type: number;
  replySerial?: number;
  errorName?: string;
  signature: string;
  body: Buffer;
  le: boolean;
}

class Reader {
  pos = 0;
  private readonly b: Buffer;
  private readonly le: boolean;
  private readonly base: number;
  constructor(b: Buffer, le: boolean, base = 0) {
    this.b = b;
    this.le = le;
    this.base = base;
  }
  align(n: number) {
    this.pos += (n - ((this.pos - this.base) % n)) % n;
  }
  byte() {
    return this.b[this.pos++] ?? 0;
  }
  u32() {
    this.align(4);
    const v = this.le ? this.b.readUInt32LE(this.pos) : this.b.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  str() {
    const n = this.u32();
    const s = this.b.toString('utf8', this.pos, this.pos + n);
    this.pos += n + 1;
    return s;
  }
  sig() {
    const n = this.byte();
    const s = this.b.toString('latin1', this.pos, this.pos + n);
    this.pos += n + 1;
    return s;
  }
  /** A single complete value of a basic type or a variant of one; anything else ends the parse. */
  value(t: string): string | number | boolean | undefined {
    switch (t) {
      case 's':
      case 'o':
        return this.str();
      case 'g':
        return this.sig();
      case 'u':
      case 'i':
        return this.u32();
      case 'b':
        return this.u32() !== 0;
      case 'y':
        return this.byte();
      case 'v':
        return this.value(this.sig());
      default:
        throw new Error(`unexpected D-Bus type ${t}`);
    }
  }
}

/** Split complete messages off the front of `buf`; returns them and the rest. */
function parseMessages(buf: Buffer): { messages: Message[]; rest: Buffer } {
  const messages: Message[] = [];
  let off = 0;
  while (buf.length - off >= 16) {
    const le = buf[off] === 0x6c;
    const rd = (at: number) => (le ? buf.readUInt32LE(off + at) : buf.readUInt32BE(off + at));
    const bodyLen = rd(4);
    const fieldsLen = rd(12);
    const headerEnd = 16 + fieldsLen + ((8 - ((16 + fieldsLen) % 8)) % 8);
    const total = headerEnd + bodyLen;
    if (buf.length - off < total) break;
    const m: Message = { type: buf[off + 1] ?? 0, signature: '', body: buf.subarray(off + headerEnd, off + total), le };
    const r = new Reader(buf, le, off);
    r.pos = off + 16;
    while (r.pos < off + 16 + fieldsLen) {
      r.align(8);
      const code = r.byte();
      const v = r.value('v');
      if (code === 4) m.errorName = String(v);
      else if (code === 5) m.replySerial = Number(v);
      else if (code === 8) m.signature = String(v);
    }
    messages.push(m);
    off += total;
  }
  return { messages, rest: buf.subarray(off) };
}

class Bus {
  private serial = 0;
  private buf: Buffer = Buffer.alloc(0);
  private authed = false;
  private readonly waiting = new Map<number, (m: Message) => void>();
  private failure: ((e: Error) => void) | undefined;
  private readonly ready: Promise<void>;
  private readonly sock: Socket;

  constructor(sock: Socket) {
    this.sock = sock;
    this.ready = new Promise((resolve, reject) => {
      this.failure = reject;
      sock.on('connect', () => {
        const uid = process.getuid?.() ?? 0;
        sock.write(`\0AUTH EXTERNAL ${Buffer.from(String(uid)).toString('hex')}\r\n`);
      });
      sock.on('data', (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        if (!this.authed) {
          const nl = this.buf.indexOf('\r\n');
          if (nl < 0) return;
          const line = this.buf.toString('latin1', 0, nl);
          this.buf = this.buf.subarray(nl + 2);
          if (!line.startsWith('OK ')) return reject(new Error(`the D-Bus session bus refused authentication (${line.slice(0, 60)})`));
          this.authed = true;
          sock.write('BEGIN\r\n');
          resolve();
        }
        const { messages, rest } = parseMessages(this.buf);
        this.buf = rest;
        for (const m of messages) {
          if (m.replySerial === undefined) continue; // signals
          this.waiting.get(m.replySerial)?.(m);
          this.waiting.delete(m.replySerial);
        }
      });
      sock.on('error', (e) => this.fail(e));
      sock.on('close', () => this.fail(new Error('the D-Bus session bus closed the connection')));
    });
  }

  private fail(e: Error) {
    this.failure?.(e);
    for (const [, w] of this.waiting) w({ type: 3, errorName: 'tasty.ConnectionLost', signature: 's', body: Buffer.alloc(0), le: true });
    this.waiting.clear();
  }

  async call(c: Call): Promise<{ error?: string; value?: string | number | boolean }> {
    await this.ready;
    const serial = ++this.serial;
    const reply = new Promise<Message>((resolve) => this.waiting.set(serial, resolve));
    this.sock.write(encodeCall(serial, c));
    const m = await reply;
    if (m.type === 3) return { error: m.errorName ?? 'error' };
    const first = m.signature[0];
    if (!first) return {};
    const r = new Reader(m.body, m.le);
    return { value: r.value(first) };
  }
}

const SECRETS = 'org.freedesktop.secrets';

/**
 * Where the Secret Service stands, within `timeoutMs` (else "hung"). Never prompts, never writes, and does not
 * start anything the bus would not start for the keychain call itself.
 */
export async function probeSecretService(env: Env, timeoutMs: number): Promise<SecretServiceState> {
  const path = sessionBusSocket(env);
  if (!path) return { state: 'none', detail: 'no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set and there is no $XDG_RUNTIME_DIR/bus)' };
  const sock = connect({ path });
  const bus = new Bus(sock);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<SecretServiceState>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'hung', detail: `no answer within ${timeoutMs / 1000} s` }), timeoutMs);
  });
  const work = (async (): Promise<SecretServiceState> => {
    try {
      const hello = await bus.call({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', iface: 'org.freedesktop.DBus', member: 'Hello' });
      if (hello.error) return { state: 'none', detail: `the D-Bus session bus refused us (${hello.error})` };
    } catch (e) {
      return { state: 'none', detail: `no D-Bus session bus at ${path.replace('\0', '@')} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` };
    }
    const alias = await bus.call({ destination: SECRETS, path: '/org/freedesktop/secrets', iface: 'org.freedesktop.Secret.Service', member: 'ReadAlias', args: ['default'] });
    if (alias.error) {
      if (/ServiceUnknown|NameHasNoOwner|Spawn/.test(alias.error)) return { state: 'none', detail: `nothing on the D-Bus session bus provides ${SECRETS}` };
      return { state: 'none', detail: `the Secret Service answered ${alias.error}` };
    }
    const collection = String(alias.value ?? '/');
    if (collection === '/' || collection === '') return { state: 'no-default', detail: 'the Secret Service has no default collection (keyring)' };
    const locked = await bus.call({
      destination: SECRETS,
      path: collection,
      iface: 'org.freedesktop.DBus.Properties',
      member: 'Get',
      args: ['org.freedesktop.Secret.Collection', 'Locked'],
    });
    if (locked.error) return { state: 'no-default', detail: `the default collection ${collection} cannot be read (${locked.error})` };
    return locked.value === true ? { state: 'locked', collection } : { state: 'usable', collection };
  })();
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}
