/**
 * Child processes of the real-part tests (llama-server, code-server): started by us, stopped by
 * their PID, and killed when the test process exits however it exits, so no server outlives a run.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';

const live = new Set<ChildProcess>();

function killAllNow(): void {
  for (const child of live) {
    try {
      if (child.pid) process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', killAllNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    killAllNow();
    process.kill(process.pid, sig);
  });
}

export interface Tracked {
  child: ChildProcess;
  pid: number;
  /** The last lines the process printed (stdout and stderr), for failure messages. */
  tail(): string;
  exited: Promise<number | null>;
}

export function spawnTracked(cmd: string, args: string[], options: SpawnOptions = {}, tailLines = 200): Tracked {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (!child.pid) throw new Error(`could not start ${cmd}`);
  live.add(child);
  const lines: string[] = [];
  const collect = (buf: Buffer) => {
    for (const l of buf.toString('utf8').split('\n')) if (l) lines.push(l);
    if (lines.length > tailLines) lines.splice(0, lines.length - tailLines);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  return { child, pid: child.pid, tail: () => lines.join('\n'), exited };
}

/** SIGTERM by PID, then SIGKILL if it is still there after `graceMs`. */
export async function stopTracked(t: Tracked, graceMs = 5000): Promise<void> {
  if (t.child.exitCode !== null || t.child.signalCode !== null) return;
  try {
    process.kill(t.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([t.exited, timer])) === 'timeout') {
    try {
      process.kill(t.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    await t.exited;
  }
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
