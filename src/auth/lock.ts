// A cross-process lock: a file created with O_EXCL holding pid, host and time.
// A holder that died (same host, pid gone) is replaced at once; a live holder past staleMs is replaced too.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { ensureDir } from '../config.ts';

export interface LockOptions {
  /** A live holder older than this is considered hung and replaced. */
  staleMs: number;
  /** Give up waiting after this long (then the lock is taken over as stale). */
  waitMs: number;
  pollMs?: number;
  now?: () => number;
}

interface Holder {
  pid: number;
  host: string;
  at: number;
  id: string;
}

function readHolder(path: string): { holder?: Holder; text: string } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
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

function isStale(path: string, h: { holder?: Holder; text: string }, now: number, staleMs: number): boolean {
  if (!h.holder) {
    // Unparseable: the creator died between open and write, or is writing right now.
    try {
      return now - fs.statSync(path).mtimeMs > 1_000;
    } catch {
      return true;
    }
  }
  if (h.holder.host === hostname() && !alive(h.holder.pid)) return true;
  return now - h.holder.at > staleMs;
}

/**
 * Remove a stale lock without removing a fresh one that replaced it meanwhile: move it aside under a
 * unique name, check it is the one judged stale, and put it back if not.
 */
function breakStale(path: string, seenText: string): void {
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.stale`;
  try {
    fs.renameSync(path, aside);
  } catch {
    return; // someone else broke it first
  }
  let text = '';
  try {
    text = fs.readFileSync(aside, 'utf8');
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
  fs.rmSync(aside, { force: true });
}

export type Release = () => void;

export async function acquireLock(path: string, o: LockOptions): Promise<Release> {
  const now = o.now ?? Date.now;
  const poll = o.pollMs ?? 25;
  const start = now();
  const id = randomBytes(8).toString('hex');
  ensureDir(dirname(path));
  for (;;) {
    try {
      const fd = fs.openSync(path, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      try {
        fs.writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), at: now(), id } satisfies Holder));
      } finally {
        fs.closeSync(fd);
      }
      return () => {
        // Only remove the lock if it is still ours.
        const h = readHolder(path);
        if (h?.holder?.id === id) fs.rmSync(path, { force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const h = readHolder(path);
    if (h === undefined) continue; // released between our open and read
    if (isStale(path, h, now(), o.staleMs) || now() - start > o.waitMs) {
      breakStale(path, h.text);
      continue;
    }
    await new Promise((r) => setTimeout(r, poll + Math.floor(Math.random() * poll)));
  }
}
