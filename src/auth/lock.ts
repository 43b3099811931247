// A cross-process lock: a file created with O_EXCL holding the holder's pid, host, start time, deadline and the
// identity of the credentials it is sending. Staleness is decided by the HOLDER's recorded deadline, never by a
// waiter's own timeout: a waiter with a short --timeout cannot break a healthy holder.
// - a holder that died (same host: pid gone, or the pid now belongs to another process) is replaced at once;
// - a holder past its deadline is replaced, unless it was sending the same credentials: then its outcome is
//   unknown (a stopped process may hold a rejection it has not recorded) and the waiter refuses to send them too;
// - garbage (unparseable for more than a second, a time in the future, an absurd deadline) is replaced.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { ensureDir, WIN_BUSY_CODES } from '../config.ts';
import { ExitCode, stateDirError, TastyError } from '../errors.ts';

export interface LockOptions {
  /** How long this process may hold the lock (recorded as its deadline). */
  holdMs: number;
  /** Identity of the credentials this process will send while holding it. */
  fp?: string;
  pollMs?: number;
  now?: () => number;
  /** Injected by unit tests to run the Windows branch. */
  platform?: NodeJS.Platform;
  /** fs.openSync, injectable so a unit test can refuse an open as Windows does. */
  open?: (path: string, flags: number, mode?: number) => number;
}

/**
 * Windows: a lock file deleted while another process has it open stays "delete pending" until that handle closes;
 * creating or opening it meanwhile fails with EPERM instead of EEXIST/ENOENT. Such refusals are waited out for
 * this long (a real permission problem is reported after it).
 */
export const WIN_LOCK_BUSY_MS = 3_000;

interface Holder {
  pid: number;
  host: string;
  at: number;
  id: string;
  deadline?: number;
  fp?: string;
  /** Process start time (Linux: clock ticks since boot), to tell a reused pid. */
  start?: number;
}

/** A holder may never claim more than this (anything longer is garbage). */
export const MAX_HOLD_MS = 10 * 60_000;
/** Older versions wrote no deadline: assume this. */
const DEFAULT_HOLD_MS = 60_000;
/** Past its deadline, a holder of the same credentials makes waiters refuse for this long, then it is garbage. */
export const REFUSE_WINDOW_MS = 10 * 60_000;

export class LockBusyError extends TastyError {
  constructor(pid: number, host: string) {
    super(
      `another tasty process (pid ${pid}${host === hostname() ? '' : ` on ${host}`}) was sending these credentials and has not finished; its answer is unknown, so they were not sent again`,
      ExitCode.unreachable,
      {
        cause: 'lock_busy',
        hint: `if that process is stopped or hung, end it (kill ${pid}) and retry; a rejected grant sent twice counts toward tastytrade's 8-hour IP block`,
      },
    );
  }
}

function readHolder(path: string, open: (path: string, flags: number) => number = fs.openSync): { holder?: Holder; text: string } | undefined {
  let text: string;
  try {
    const fd = open(path, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0));
    try {
      if (!fs.fstatSync(fd).isFile()) return { text: '\0not a file' };
      const buf = Buffer.alloc(1024);
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') return { text: '\0symlink' };
    throw e;
  }
  try {
    const o = JSON.parse(text) as Holder;
    if (typeof o.pid === 'number' && typeof o.at === 'number') return { holder: o, text };
  } catch {
    /* a torn write by a holder killed mid-create: stale unless very new */
  }
  return { text };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Linux: the process's start time (field 22 of /proc/<pid>/stat); undefined elsewhere or when unknown. */
export function processStart(pid: number): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export type Verdict = 'wait' | 'stale' | 'refuse';

/** What a waiter does about the current holder. Exported for unit tests of every edge. */
export function judge(path: string, h: { holder?: Holder; text: string }, now: number, myFp: string | undefined, host = hostname()): Verdict {
  const o = h.holder;
  if (!o) {
    if (h.text.startsWith('\0')) return 'stale';
    // Unparseable: the creator died between open and write, or is writing right now.
    try {
      return now - fs.statSync(path).mtimeMs > 1_000 ? 'stale' : 'wait';
    } catch {
      return 'stale';
    }
  }
  if (o.at > now + 60_000) return 'stale'; // a clock far ahead, or garbage
  const deadline = typeof o.deadline === 'number' && Number.isFinite(o.deadline) ? Math.min(o.deadline, o.at + MAX_HOLD_MS) : o.at + DEFAULT_HOLD_MS;
  if (o.host === host) {
    if (!alive(o.pid)) return 'stale';
    const start = processStart(o.pid);
    if (typeof o.start === 'number' && start !== undefined && start !== o.start) return 'stale'; // the pid was reused
  }
  if (now <= deadline) return 'wait';
  if (myFp !== undefined && o.fp === myFp && now <= deadline + REFUSE_WINDOW_MS) return 'refuse';
  return 'stale';
}

/**
 * Remove a stale lock without removing a fresh one that replaced it meanwhile: move it aside under a
 * unique name, check it is the one judged stale, and put it back if not.
 */
function breakStale(path: string, seenText: string): boolean {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    fs.renameSync(path, aside);
  } catch (e) {
    // ENOENT: someone else broke it first (retry at once). Anything else (Windows: the file is open): wait a poll.
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
  let text = '';
  try {
    text = readHolder(aside)?.text ?? '';
  } catch {
    /* gone */
  }
  if (text !== seenText) {
    try {
      fs.linkSync(aside, path); // restore the fresh lock unless another one exists
    } catch {
      /* a newer lock exists; this one's holder will find its lock replaced and still finish safely */
    }
  }
  fs.rmSync(aside, { force: true, recursive: true });
  return true;
}

export type Release = () => void;

export async function acquireLock(path: string, o: LockOptions): Promise<Release> {
  const now = o.now ?? Date.now;
  const poll = o.pollMs ?? 25;
  const id = randomBytes(8).toString('hex');
  const dir = dirname(path);
  const open = o.open ?? fs.openSync;
  const platform = o.platform ?? process.platform;
  let busySince: number | undefined;
  /** Windows' refusal of a lock file being deleted: wait a poll (within WIN_LOCK_BUSY_MS), else rethrow. */
  const busy = (e: unknown): boolean => {
    if (platform !== 'win32' || !WIN_BUSY_CODES.includes((e as NodeJS.ErrnoException).code ?? '')) return false;
    busySince ??= Date.now();
    return Date.now() - busySince < WIN_LOCK_BUSY_MS;
  };
  const pause = () => new Promise((r) => setTimeout(r, poll + Math.floor(Math.random() * poll)));
  try {
    ensureDir(dir);
  } catch (e) {
    throw stateDirError(dir, e);
  }
  for (;;) {
    let fd: number | undefined;
    try {
      fd = open(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW ?? 0), 0o600);
      const at = now();
      const holder: Holder = { pid: process.pid, host: hostname(), at, id, deadline: at + Math.min(o.holdMs, MAX_HOLD_MS) };
      if (o.fp) holder.fp = o.fp;
      const start = processStart(process.pid);
      if (start !== undefined) holder.start = start;
      fs.writeSync(fd, JSON.stringify(holder));
      fs.closeSync(fd);
      fd = undefined;
      return () => {
        // Only remove the lock if it is still ours.
        try {
          const h = readHolder(path);
          if (h?.holder?.id === id) fs.rmSync(path, { force: true });
        } catch {
          /* nothing to release */
        }
      };
    } catch (e) {
      if (fd !== undefined) {
        // Created but not written (a full disk): remove our empty lock, and say why.
        fs.closeSync(fd);
        fs.rmSync(path, { force: true });
        throw stateDirError(dir, e);
      }
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        if (busy(e)) {
          await pause();
          continue;
        }
        throw stateDirError(dir, e);
      }
    }
    let h: ReturnType<typeof readHolder>;
    try {
      h = readHolder(path, open);
    } catch (e) {
      if (!busy(e)) throw e;
      await pause();
      continue;
    }
    if (h === undefined) continue; // released between our open and read
    const v = judge(path, h, now(), o.fp);
    if (v === 'refuse' && h.holder) throw new LockBusyError(h.holder.pid, h.holder.host);
    if (v === 'stale' && breakStale(path, h.text)) continue;
    busySince = undefined;
    await pause();
  }
}
