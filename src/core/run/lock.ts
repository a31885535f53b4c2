/**
 * The lock that keeps two writers off one output file, on one machine or on a shared file
 * system (NFS/Lustre under Slurm).
 *
 *  - Atomic creation: the owner record (host, pid, start time, a random token) is written to a
 *    temp file first and then hard-linked to `<file>.lock`. `link` fails when the lock exists and
 *    is atomic on local and NFS file systems, so nobody ever reads a lock half written.
 *  - Heartbeat: the owner touches the lock's mtime every `heartbeatMs`, and checks that the lock
 *    still holds its token (if not, the lock is "lost" and the owner must stop writing).
 *  - Staleness: on this host, a lock whose pid is dead (or is our own pid from an earlier life)
 *    is stale; otherwise, and for every other host, a lock whose mtime is older than
 *    `staleAfterMs` (several heartbeats) is stale. A fresh lock is refused with its owner.
 *  - Takeover never deletes a live lock: the stale lock is renamed to a unique name and its token
 *    compared with the one judged stale; if another process replaced it meanwhile, the renamed
 *    (live) lock is linked straight back.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { isPidAlive } from './manifest';

/** What a lock file holds. */
export interface LockOwner {
  pid: number;
  host: string;
  /** When the owner process started (ISO). */
  started: string;
  /** When the lock was taken (ISO). */
  since: string;
  /** Random: tells this lock from any other with the same host and pid. */
  token: string;
  /** The owner's heartbeat period (ms), so others can judge staleness the owner's way. */
  heartbeatMs: number;
}

export interface LockOptions {
  /** Heartbeat period (ms). Default 15 s, or SDG_LOCK_HEARTBEAT_MS. */
  heartbeatMs?: number;
  /** A lock not refreshed for this long is stale (ms). Default 8 heartbeats (2 min). */
  staleAfterMs?: number;
}

/** The lock is held by a live process (here or on another host). */
export class LockHeldError extends Error {
  override readonly name = 'LockHeldError';
  constructor(readonly lockFile: string, readonly owner: Partial<LockOwner>, readonly ageMs: number, readonly staleAfterMs: number) {
    super(`${lockFile} is held by pid ${owner.pid ?? '?'} on ${owner.host ?? 'an unknown host'}`);
  }
}

const HEARTBEAT_DEFAULT_MS = 15_000;
const STALE_HEARTBEATS = 8;
const PROCESS_STARTED = new Date(Date.now() - process.uptime() * 1000).toISOString();

export function defaultHeartbeatMs(): number {
  const env = Number(process.env.SDG_LOCK_HEARTBEAT_MS);
  return Number.isFinite(env) && env >= 10 ? env : HEARTBEAT_DEFAULT_MS;
}

/** A lock this process holds. */
export class FileLock {
  private timer: NodeJS.Timeout | null = null;
  private released = false;
  /** Set when the heartbeat finds the lock gone or replaced: stop writing. */
  lost: Error | null = null;

  constructor(readonly file: string, readonly owner: LockOwner) {}

  /** Starts the heartbeat (touch + ownership check). */
  startHeartbeat(): void {
    const beat = async () => {
      if (this.released || this.lost) return;
      const now = new Date();
      try {
        const current = await readOwner(this.file);
        if (current?.token !== this.owner.token) {
          this.lost = new Error(`${this.file} was taken over by ${current ? `pid ${current.pid} on ${current.host}` : 'another process (the lock file is gone)'}: this process stopped writing`);
          return;
        }
        await fsp.utimes(this.file, now, now);
      } catch {
        // A transient error (NFS hiccup): the next beat tries again; staleness needs many misses.
      }
    };
    this.timer = setInterval(() => void beat(), this.owner.heartbeatMs);
    this.timer.unref?.();
  }

  /** Removes the lock if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (!this.lost) await removeIfOwnedBy(this.file, this.owner.token).catch(() => undefined);
  }
}

async function readOwner(file: string): Promise<Partial<LockOwner> | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    return v && typeof v === 'object' ? v : {};
  } catch {
    return {}; // a lock from an older version written in two steps, or garbage: judged by age
  }
}

function uniqueName(file: string, what: string): string {
  return join(dirname(file), `${basename(file)}.${what}-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Renames `file` away and deletes it if it holds `token` (or, for `token === null`, if it has no
 * token, as judged); otherwise links it straight back (it was a live lock taken meanwhile).
 * Returns whether the judged lock was removed.
 */
async function removeIfOwnedBy(file: string, token: string | null, judgedIno?: number): Promise<boolean> {
  const aside = uniqueName(file, 'stale');
  try {
    await fsp.rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false; // someone else removed it
    throw e;
  }
  let same = false;
  try {
    const [owner, st] = await Promise.all([readOwner(aside), fsp.stat(aside)]);
    same = (owner?.token ?? null) === token && (judgedIno === undefined || st.ino === judgedIno);
  } catch {
    same = false;
  }
  if (same) {
    await fsp.rm(aside, { force: true });
    return true;
  }
  // Not the lock we judged: put it back (same inode, so its owner never notices).
  try {
    await fsp.link(aside, file);
  } catch {
    // Another process created a lock in the instant the name was free; the owner of the one we
    // moved finds it replaced at its next heartbeat and stops.
  }
  await fsp.rm(aside, { force: true }).catch(() => undefined);
  return false;
}

/** Whether a lock is stale, and why not when it is live. */
function judge(owner: Partial<LockOwner>, ageMs: number, staleAfterMs: number): boolean {
  const pid = typeof owner.pid === 'number' ? owner.pid : 0;
  if (owner.host === hostname()) {
    if (pid === process.pid) return true; // our pid from an earlier life (a container restart)
    if (!isPidAlive(pid)) return true;
    // Alive here: a live owner heartbeats; a pid alive but silent for many beats was reused.
    return ageMs > staleAfterMs;
  }
  // Another host (or a lock without owner record): only the heartbeat tells.
  return ageMs > staleAfterMs;
}

/**
 * Takes `lockFile` or throws `LockHeldError` naming its live owner. Stale locks are taken over
 * safely (see the file comment).
 */
export async function acquireLock(lockFile: string, options: LockOptions = {}): Promise<FileLock> {
  const heartbeatMs = options.heartbeatMs ?? defaultHeartbeatMs();
  const staleAfterMs = options.staleAfterMs ?? heartbeatMs * STALE_HEARTBEATS;
  const owner: LockOwner = {
    pid: process.pid, host: hostname(), started: PROCESS_STARTED, since: new Date().toISOString(),
    token: randomBytes(12).toString('hex'), heartbeatMs,
  };
  const tmp = uniqueName(lockFile, 'new');
  await fsp.writeFile(tmp, JSON.stringify(owner) + '\n', { flag: 'wx' });
  try {
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await fsp.link(tmp, lockFile);
        const lock = new FileLock(lockFile, owner);
        lock.startHeartbeat();
        return lock;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let st: import('node:fs').Stats;
      let holder: Partial<LockOwner> | null;
      try {
        st = await fsp.stat(lockFile);
        holder = await readOwner(lockFile);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      if (holder === null) continue; // released meanwhile
      const ageMs = Math.max(0, Date.now() - st.mtimeMs);
      // The owner's own heartbeat period, when it is longer than ours, decides its staleness.
      const ownerStale = typeof holder.heartbeatMs === 'number' && holder.heartbeatMs > 0 ? Math.max(staleAfterMs, holder.heartbeatMs * STALE_HEARTBEATS) : staleAfterMs;
      if (!judge(holder, ageMs, ownerStale)) throw new LockHeldError(lockFile, holder, ageMs, ownerStale);
      await removeIfOwnedBy(lockFile, typeof holder.token === 'string' ? holder.token : null, st.ino);
      // Removed or not, try to create again: a live lock that replaced it is judged next time.
      if (attempt > 2) await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * attempt));
    }
    throw new LockHeldError(lockFile, {}, 0, staleAfterMs);
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** Leftover temp files of lock operations killed half-way (`<lock>.new-*.tmp`, `<lock>.stale-*.tmp`). */
export async function removeLockLeftovers(lockFile: string, olderThanMs = 60_000): Promise<void> {
  const dir = dirname(lockFile);
  const prefix = `${basename(lockFile)}.`;
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp') || !/^(new|stale)-/.test(name.slice(prefix.length))) continue;
    const p = join(dir, name);
    try {
      if (now - (await fsp.stat(p)).mtimeMs > olderThanMs) await fsp.rm(p, { force: true });
    } catch {
      // gone already
    }
  }
}
