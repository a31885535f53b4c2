/**
 * The local sandbox: a small pool of long-lived `python3` workers (driver.ts), each holding the
 * namespaces of several solutions and running one block at a time. So a run with 512 requests in
 * flight has `workers` Pythons, never 512, and `import sympy` is paid once per worker.
 *
 * Isolation (see docs/generate.md): per worker a memory limit (RLIMIT_AS), a wall-clock limit
 * per block, no network when `unshare -n` works (as root, or `unshare -rn` through a user
 * namespace), a temporary working folder per solution under a worker folder removed at the end,
 * a minimal environment (no API keys). Solutions sharing a worker are not isolated from each
 * other, and the code runs with the user's file-system rights.
 *
 * State: a session is pinned to one worker. When its namespace is gone (the worker was killed
 * after a stuck block, or the session hit a time-out or a MemoryError), its earlier successful
 * blocks are replayed, output discarded, before its next block: the reference implementation's
 * way of keeping state, used here only to recover.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { DRIVER_SOURCE } from './driver';
import { Semaphore, truncateOutput, type ExecutionResult, type Sandbox, type SandboxInfo, type SandboxSession } from './types';

export interface LocalSandboxOptions {
  /** Interpreter to run (a name on PATH or a path). Default `python3`. */
  python?: string;
  /** Worker processes = blocks running at once. Default: the CPU count, at most 8. */
  workers?: number;
  /** Wall-clock limit per block. Default 10 s (the reference's). */
  timeoutSeconds?: number;
  /** Address-space limit per worker in MiB (0: none). Default 2048. */
  memoryMb?: number;
  /** Output kept per block, in characters. Default 1000 (the reference's). */
  maxOutputChars?: number;
  /** Traceback lines kept when a block fails. Default 5. */
  errorLines?: number;
  /** 'none' (default): the workers get no network where the OS allows it; 'host': no change. */
  network?: 'none' | 'host';
}

/** Thrown by start() when Python cannot run at all (missing interpreter, broken install). */
export class SandboxSetupError extends Error {
  override readonly name = 'SandboxSetupError';
}

interface Reply {
  id: number;
  status?: 'completed' | 'error' | 'timeout';
  stdout?: string;
  stdout_cut?: boolean;
  error?: string | null;
  reset?: boolean;
  ok?: boolean;
  python?: string;
  executable?: string;
}

/** Time the driver gets beyond the block's own limit before the worker is killed from here. */
const KILL_GRACE_MS = 2000;

class Worker {
  readonly proc: ChildProcess;
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  private nextId = 1;
  dead = false;
  private stderrTail = '';

  constructor(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
    // fd 3: requests, fd 4: replies; detached so a kill reaches the whole process group.
    this.proc = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], env, cwd, detached: true });
    this.proc.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString('utf8')).slice(-2000);
    });
    const replies = createInterface({ input: this.proc.stdio[4] as Readable });
    replies.on('line', (line) => {
      let msg: Reply;
      try {
        msg = JSON.parse(line) as Reply;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        p.resolve(msg);
      }
    });
    (this.proc.stdio[3] as Writable).on('error', () => undefined);
    const fail = (why: string) => {
      if (this.dead) return;
      this.dead = true;
      const err = new Error(`python worker ${why}${this.stderrTail ? `: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.proc.on('error', (e) => fail(`could not start (${e.message})`));
    this.proc.on('exit', (code, signal) => {
      fail(`exited (${signal ?? `code ${code}`})`);
      // A killed driver cannot remove its folder (its solutions' folders are inside): do it here.
      rmSync(cwd, { recursive: true, force: true });
    });
  }

  request(msg: Record<string, unknown>): Promise<Reply> {
    if (this.dead) return Promise.reject(new Error('python worker is not running'));
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.proc.stdio[3] as Writable).write(JSON.stringify({ ...msg, id }) + '\n');
    });
  }

  kill(): void {
    if (this.proc.pid !== undefined) {
      try {
        process.kill(-this.proc.pid, 'SIGKILL');
      } catch {
        try {
          this.proc.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
  }
}

/** One worker slot: its process (respawned when killed) and the lock that keeps it to one block at a time. */
interface Slot {
  worker: Worker | null;
  /** Bumped whenever the process is replaced: namespaces of older generations are gone. */
  generation: number;
  lock: Semaphore;
  sessions: number;
}

let sessionCounter = 0;

export class LocalSandbox implements Sandbox {
  readonly options: Required<LocalSandboxOptions>;
  private slots: Slot[] = [];
  private command: { file: string; prefix: string[] } | null = null;
  private executable = '';
  private root = '';
  private info: SandboxInfo | null = null;
  private closed = false;

  constructor(options: LocalSandboxOptions = {}) {
    this.options = {
      python: options.python ?? 'python3',
      workers: options.workers ?? Math.min(8, Math.max(1, availableParallelism())),
      timeoutSeconds: options.timeoutSeconds ?? 10,
      memoryMb: options.memoryMb ?? 2048,
      maxOutputChars: options.maxOutputChars ?? 1000,
      errorLines: options.errorLines ?? 5,
      network: options.network ?? 'none',
    };
    if (!Number.isInteger(this.options.workers) || this.options.workers < 1) throw new Error(`sandbox workers must be a whole number >= 1, got ${this.options.workers}`);
    if (!(this.options.timeoutSeconds > 0)) throw new Error(`code execution time-out must be > 0 seconds, got ${this.options.timeoutSeconds}`);
  }

  async start(): Promise<SandboxInfo> {
    if (this.info) return this.info;
    const { python } = this.options;
    // The real interpreter path: a pyenv shim needs HOME and PYENV_* that the workers do not get.
    const probe = spawnSync(python, ['-c', 'import sys; print(sys.executable); print(sys.version.split()[0])'], { encoding: 'utf8', timeout: 30_000 });
    if (probe.error) {
      const code = (probe.error as NodeJS.ErrnoException).code;
      throw new SandboxSetupError(code === 'ENOENT'
        ? `code execution needs Python: "${python}" was not found on PATH; install python3 (Debian: apt-get install python3) or pass --python /path/to/python3`
        : `code execution needs Python: "${python}" could not be started (${probe.error.message})`);
    }
    if (probe.status !== 0) throw new SandboxSetupError(`code execution needs Python: "${python}" failed: ${(probe.stderr || '').trim().split('\n').slice(-2).join(' ')}`);
    const [executable, version] = probe.stdout.trim().split('\n');
    this.executable = executable || python;

    let warning: string | null = null;
    let network: SandboxInfo['network'] = 'host';
    this.command = { file: this.executable, prefix: [] };
    if (this.options.network === 'none') {
      const tried: string[] = [];
      // As root a plain network namespace; otherwise through a user namespace where the kernel allows it.
      for (const flags of process.getuid?.() === 0 ? [['-n'], ['-r', '-n']] : [['-r', '-n'], ['-n']]) {
        const r = spawnSync('unshare', [...flags, this.executable, '-c', 'pass'], { encoding: 'utf8', timeout: 30_000 });
        if (!r.error && r.status === 0) {
          this.command = { file: 'unshare', prefix: [...flags, this.executable] };
          network = 'none';
          break;
        }
        tried.push(`unshare ${flags.join(' ')}: ${r.error ? r.error.message : (r.stderr || `exit ${r.status}`).trim().split('\n').pop()}`);
      }
      if (network !== 'none') warning = `no network isolation for executed code (${tried.join('; ')}); code can open network connections`;
    }
    this.root = mkdtempSync(join(tmpdir(), 'sdg-sandbox-'));
    for (let i = 0; i < this.options.workers; i++) this.slots.push({ worker: null, generation: 0, lock: new Semaphore(1), sessions: 0 });
    // One worker now, so a broken interpreter or limit fails here, before any model request.
    const first = this.spawnWorker(this.slots[0]!);
    let pong: Reply;
    try {
      pong = await first.request({ op: 'ping' });
    } catch (e) {
      await this.close();
      throw new SandboxSetupError(`code execution sandbox did not start: ${(e as Error).message}`);
    }
    this.info = {
      kind: 'local',
      description: `${this.executable} (Python ${pong.python ?? version}), ${this.options.workers} worker${this.options.workers === 1 ? '' : 's'}, ${this.options.timeoutSeconds} s per block, ${this.options.memoryMb ? `${this.options.memoryMb} MiB` : 'no memory limit'}`,
      network,
      warning,
    };
    return this.info;
  }

  private spawnWorker(slot: Slot): Worker {
    if (!this.command) throw new Error('sandbox not started');
    const dir = mkdtempSync(join(this.root, 'w-'));
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      LANG: 'C.UTF-8',
      PYTHONIOENCODING: 'utf-8',
      PYTHONDONTWRITEBYTECODE: '1',
      // One thread per BLAS: the workers already use the cores, and threads multiply memory.
      OPENBLAS_NUM_THREADS: '1',
      OMP_NUM_THREADS: '1',
      MKL_NUM_THREADS: '1',
      MPLBACKEND: 'Agg',
    };
    const mem = this.options.memoryMb > 0 ? this.options.memoryMb * 1024 * 1024 : 0;
    const worker = new Worker(this.command.file, [...this.command.prefix, '-c', DRIVER_SOURCE, dir, String(mem)], env, dir);
    slot.worker = worker;
    slot.generation++;
    return worker;
  }

  session(): SandboxSession {
    if (!this.info) throw new Error('sandbox not started: call start() first');
    if (this.closed) throw new Error('sandbox is closed');
    // The least used slot: sessions spread over the workers.
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.sessions < slot.sessions) slot = s;
    slot.sessions++;
    return new LocalSession(this, slot, `s${++sessionCounter}`);
  }

  /** Runs one block for `session` on its slot (one block per worker at a time). */
  async run(session: LocalSession, slot: Slot, code: string): Promise<ExecutionResult> {
    return slot.lock.run(async () => {
      if (this.closed) throw new Error('sandbox is closed');
      const started = Date.now();
      const worker = slot.worker && !slot.worker.dead ? slot.worker : this.spawnWorker(slot);
      const replay = session.generation !== slot.generation || session.needsReplay ? session.history : null;
      const { timeoutSeconds, maxOutputChars, errorLines } = this.options;
      const budgetMs = timeoutSeconds * 1000 * (1 + (replay?.length ?? 0)) + KILL_GRACE_MS;
      let timer: NodeJS.Timeout | undefined;
      let killed = false;
      let reply: Reply;
      try {
        reply = await Promise.race([
          worker.request({ op: 'exec', session: session.id, code, timeout: timeoutSeconds, max_chars: maxOutputChars, error_lines: errorLines, replay }),
          new Promise<Reply>((resolve) => {
            timer = setTimeout(() => {
              // Stuck in C code (a huge power, a C extension): the interval timer cannot interrupt it.
              killed = true;
              worker.kill();
              resolve({ id: 0, status: 'timeout', stdout: '', error: 'Timed out', reset: true });
            }, budgetMs);
          }),
        ]);
      } catch (e) {
        // The worker died under this block (a crash, the OOM killer): the block failed, the state is gone.
        reply = { id: 0, status: 'error', stdout: '', error: `the Python process died: ${(e as Error).message}`, reset: true };
      } finally {
        clearTimeout(timer);
      }
      // A killed worker may not have reported its exit yet: never hand it another block.
      if ((killed || worker.dead) && slot.worker === worker) slot.worker = null;
      const status = reply.status ?? 'error';
      session.generation = slot.generation;
      session.needsReplay = Boolean(reply.reset) || slot.worker !== worker;
      if (status === 'completed') session.history.push(code);
      const stdout = (reply.stdout ?? '').replace(/\s+$/, '');
      const text = reply.error ? (stdout ? `${stdout}\n${reply.error}` : reply.error) : stdout;
      const cut = truncateOutput(text.trim(), maxOutputChars);
      return { status, output: cut.text, truncated: cut.truncated || Boolean(reply.stdout_cut), durationMs: Date.now() - started };
    });
  }

  async drop(session: LocalSession, slot: Slot): Promise<void> {
    slot.sessions--;
    if (this.closed || !slot.worker || slot.worker.dead || session.generation !== slot.generation) return;
    const worker = slot.worker;
    await slot.lock.run(() => worker.request({ op: 'drop', session: session.id }).catch(() => undefined));
  }

  /** Blocks running now (for progress and the bench). */
  get running(): number {
    return this.slots.reduce((n, s) => n + s.lock.inFlight, 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const exits: Array<Promise<void>> = [];
    for (const slot of this.slots) {
      const w = slot.worker;
      if (!w || w.dead) continue;
      exits.push(new Promise<void>((resolve) => {
        w.proc.once('exit', () => resolve());
        const t = setTimeout(() => {
          w.kill();
          resolve();
        }, 3000);
        t.unref();
        // Closing the request pipe ends the driver, which removes its own folder.
        (w.proc.stdio[3] as Writable).end();
      }));
    }
    await Promise.all(exits);
    if (this.root) rmSync(this.root, { recursive: true, force: true });
  }
}

class LocalSession implements SandboxSession {
  readonly history: string[] = [];
  generation = -1;
  needsReplay = false;
  private closed = false;
  constructor(private readonly sandbox: LocalSandbox, private readonly slot: Slot, readonly id: string) {}

  execute(code: string): Promise<ExecutionResult> {
    if (this.closed) return Promise.reject(new Error('sandbox session is closed'));
    return this.sandbox.run(this, this.slot, code);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.sandbox.drop(this, this.slot);
  }
}
