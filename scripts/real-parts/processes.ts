/**
 * Child processes of the real-part tests (llama-server, code-server): started by us, stopped by
 * their PID, and killed when the test process exits however it exits, so no server outlives a run.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { isPidAlive } from '../../src/core/run';

const live = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of live) {
    if (!child.pid) continue;
    for (const pid of [child.pid, ...descendants(child.pid)]) signal(pid, 'SIGKILL');
  }
  live.clear();
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAllNow();
    // Nobody else handles it: die of the signal as we would have without this handler.
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  });
}

export interface Tracked {
  child: ChildProcess;
  pid: number;
  /** The last lines the process printed (stdout and stderr), for failure messages. */
  tail(): string;
  /** Where its stdout and stderr go. */
  logFile: string;
  exited: Promise<number | null>;
}

/**
 * Output goes to a log file, not a pipe: a pipe is only drained while this process' event loop
 * runs, and a test blocked in spawnSync would leave a chatty server (llama-server logs every
 * request) stuck writing to a full pipe. `tail()` reads the file's end.
 */
export function spawnTracked(cmd: string, args: string[], options: SpawnOptions = {}, tailLines = 200): Tracked {
  const logFile = join(logDir(), `${basename(cmd)}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.log`);
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, { ...options, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  live.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const tail = () => {
    try {
      const size = statSync(logFile).size;
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      const rfd = openSync(logFile, 'r');
      try {
        readSync(rfd, buf, 0, len, size - len);
      } finally {
        closeSync(rfd);
      }
      return buf.toString('utf8').split('\n').filter(Boolean).slice(-tailLines).join('\n');
    } catch {
      return '';
    }
  };
  return { child, pid: child.pid, tail, exited, logFile };
}

let logs: string | undefined;
/** One folder of process logs per test process, removed when it exits. */
function logDir(): string {
  if (!logs) {
    logs = mkdtempSync(join(tmpdir(), 'sdg-proc-logs-'));
    process.on('exit', () => rmSync(logs!, { recursive: true, force: true }));
  }
  return logs;
}

/** PIDs of every process below `pid` (from /proc; empty where there is no /proc). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Fields after the command (which may contain spaces) start after the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}

/**
 * SIGTERM by PID, then SIGKILL if it is still there after `graceMs`. With `tree`, the
 * processes it started (found before it is stopped) get the same, by their PIDs: code-server's
 * extension host outlives its server otherwise, waiting for a reconnection.
 */
export async function stopTracked(t: Tracked, graceMs = 5000, tree = false): Promise<void> {
  const below = tree ? descendants(t.pid) : [];
  if (t.child.exitCode === null && t.child.signalCode === null) {
    signal(t.pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([t.exited, timer])) === 'timeout') {
      signal(t.pid, 'SIGKILL');
      await t.exited;
    }
  }
  for (const pid of below) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (below.some(isPidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const pid of below) if (isPidAlive(pid)) signal(pid, 'SIGKILL');
}

/** A free loopback TCP port (the OS picks it; we close and hand it to a server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Polls `url` until it answers 200; fails early with the process' output if it exits. */
export async function waitForHttpOk(url: string, proc: Tracked, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new Error(`process exited (${proc.child.exitCode ?? proc.child.signalCode}) before ${url} answered:\n${proc.tail()}`);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last}):\n${proc.tail()}`);
}
