/**
 * A query scanned in worker threads: the results live here (QueryResults, filled from the
 * workers' deltas), the scanning there. Whatever the pattern, the calling thread (the extension
 * host) never runs the regex or the filter, and `cancel()` terminates the workers at once,
 * keeping the results found so far.
 *
 * A big, fully indexed file is split into one line range per core; each worker gets the host's
 * line index (no second indexing pass) and scans its range. Results are applied in file order:
 * a later range's deltas wait until every earlier range is done, and groups found by several
 * workers are merged by their identity (value or hash), under one global cap. The worker of the
 * last range stays to follow the file as it grows; the others stop when done.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { JsonlFile } from './jsonlFile';
import { compileQuery, DEFAULT_MAX_GROUPS, groupCapWarning, OTHER_GROUP_ID, otherGroupKey, QueryResults, type QueryDelta, type QueryOptions, type QueryProgress, type QuerySpec } from './query';
import type { QueryWorkerData, QueryWorkerMessage } from './queryWorker';

/**
 * The worker script: next to the bundle (dist/viewerQueryWorker.js) in the extension, or the
 * TypeScript source through tsx when running from source (tests, benchmarks).
 */
function workerEntry(): { script: string; eval: boolean } {
  // The benchmarks run from source but time the bundled worker the extension ships.
  const override = process.env.SDG_VIEWER_QUERY_WORKER;
  if (override) return { script: override, eval: false };
  const bundled = join(__dirname, 'viewerQueryWorker.js');
  if (!__filename.endsWith('.ts') && existsSync(bundled)) return { script: bundled, eval: false };
  const source = join(__dirname, 'queryWorker.ts');
  return { script: `require('tsx/cjs'); require(${JSON.stringify(source)});`, eval: true };
}

/**
 * Idle query workers, started ahead (when a viewer opens) so a query does not wait for a thread
 * to boot: tens of milliseconds on a quiet machine, most of a second on a busy one. Idle workers
 * are unref'd (they never keep a process alive); a worker that is cancelled mid-scan is
 * terminated, never reused.
 */
class QueryWorkerPool {
  private readonly idle: Worker[] = [];
  readonly max = Math.max(1, Math.min(availableParallelism(), 16));

  private spawn(): Worker {
    const entry = workerEntry();
    const w = new Worker(entry.script, { eval: entry.eval });
    return w;
  }

  private park(w: Worker): void {
    w.removeAllListeners();
    // An idle worker that dies is simply forgotten.
    w.once('exit', () => {
      const i = this.idle.indexOf(w);
      if (i >= 0) this.idle.splice(i, 1);
    });
    w.on('error', () => undefined);
    w.unref();
    this.idle.push(w);
  }

  /** Start workers until `n` are idle (at most one per core). */
  warm(n = this.max): void {
    while (this.idle.length < Math.min(n, this.max)) this.park(this.spawn());
  }

  take(): Worker {
    const w = this.idle.pop() ?? this.spawn();
    w.removeAllListeners();
    w.ref();
    return w;
  }

  /** A worker that finished its scan (not mid-scan) goes back, or is stopped if enough are idle. */
  give(w: Worker): void {
    if (this.idle.length < this.max) {
      w.postMessage({ type: 'release' });
      this.park(w);
    }
    else void w.terminate();
  }
}

export const queryWorkerPool = new QueryWorkerPool();

export interface WorkerQueryOptions extends QueryOptions {
  /** Workers for one scan (default: the number of cores). */
  workers?: number;
  /** Files smaller than this are scanned by one worker (default 32 MB: a second thread costs more than it saves). */
  minParallelBytes?: number;
}

interface Part {
  worker: Worker | undefined;
  from: number;
  scanned: number;
  done: boolean;
  /** Deltas that wait for the earlier ranges (results are applied in file order). */
  pending: QueryDelta[];
  /** This worker's group numbers -> the merged ones. */
  toGlobal: number[];
}

export class WorkerQuery extends QueryResults {
  private parts: Part[] = [];
  /** The first part whose deltas are not all applied yet. */
  private applying = 0;
  private finished = false;
  private failure: Error | undefined;
  private waiters: Array<{ resolve: (p: QueryProgress) => void; reject: (e: Error) => void }> = [];
  private progressListener: ((p: QueryProgress) => void) | undefined;
  private readonly globalIds = new Map<string, number>();
  private readonly identities: string[] = [];
  private otherGroup = -1;
  private readonly maxGroups: number;
  readonly generation: number;

  /** Validates the query here (QueryError names the part), then starts the workers. */
  constructor(readonly file: JsonlFile, readonly spec: QuerySpec, options: WorkerQueryOptions = {}) {
    super();
    compileQuery(spec);
    this.generation = file.generation;
    this.totalLines = file.lineCount;
    this.maxGroups = Math.max(1, options.maxGroups ?? DEFAULT_MAX_GROUPS);
    const idx = file.index;
    const n = idx.complete && idx.fileSize >= (options.minParallelBytes ?? 32 << 20) ? Math.max(1, Math.min(options.workers ?? availableParallelism(), 16)) : 1;
    this.start(n);
  }

  /** Start `n` workers over about equal byte ranges, on line boundaries. */
  private start(n: number): void {
    const file = this.file;
    const idx = file.index;
    const lines = file.lineCount;
    const starts = [0];
    for (let k = 1; k < n; k++) {
      const at = idx.lineAt(Math.floor((idx.fileSize * k) / n));
      if (at > starts[starts.length - 1] && at < lines) starts.push(at);
    }
    const index = idx.snapshot();
    // The workers open the file afresh: what this thread's analysis pass knows saves them full parses.
    const knownMalformed = file.knownMalformed();
    starts.forEach((from, k) => {
      const to = k + 1 < starts.length ? starts[k + 1] : undefined;
      const data: QueryWorkerData = { path: file.path, spec: this.spec, limits: file.limits, options: { maxGroups: this.maxGroups, range: { from, to }, knownMalformed }, index };
      const w = queryWorkerPool.take();
      w.postMessage({ type: 'start', data });
      const part: Part = { worker: w, from, scanned: from, done: false, pending: [], toGlobal: [] };
      this.parts.push(part);
      w.on('message', (m: QueryWorkerMessage) => this.onMessage(part, m));
      w.on('error', (e) => this.fail(e));
      w.on('exit', (code) => {
        if (part.worker === w && !this.finished) this.fail(new Error(`the query worker stopped (exit code ${code})`));
      });
    });
  }

  /**
   * A later range met more distinct values than the cap on its own: which values keep their
   * own group depends on the whole file before it, so the scan starts over in one worker
   * (memory stays bounded; only such huge groupings lose the second core).
   */
  private restartSingle(): void {
    for (const p of this.parts) void this.stopPart(p, false);
    this.parts.length = 0;
    this.applying = 0;
    this.globalIds.clear();
    this.identities.length = 0;
    this.otherGroup = -1;
    this.clearResults();
    this.start(1);
  }

  get running(): boolean {
    return !this.finished && this.parts.some((p) => p.worker !== undefined);
  }

  /** Called with progress after each chunk the workers report. */
  onProgress(l: ((p: QueryProgress) => void) | undefined): void {
    this.progressListener = l;
  }

  private onMessage(part: Part, m: QueryWorkerMessage): void {
    if (!part.worker) return; // stopped (cancelled): what was still in flight is dropped
    if (m.type === 'error') return this.fail(new Error(m.message));
    if (m.type === 'delta') {
      if (part !== this.parts[0] && m.delta.newGroupIds.includes(OTHER_GROUP_ID)) return this.restartSingle();
      part.scanned = m.delta.scannedLines;
      if (this.parts[this.applying] === part) this.merge(part, m.delta);
      else part.pending.push(m.delta);
      this.progressListener?.(this.progress(false));
      return;
    }
    part.done = true;
    const last = this.parts[this.parts.length - 1];
    if (part !== last) void this.stopPart(part, true); // only the last range follows growth
    // Apply the ranges that are complete, in order.
    while (this.applying < this.parts.length - 1 && this.parts[this.applying].done) {
      this.applying++;
      const next = this.parts[this.applying];
      for (const d of next.pending.splice(0)) this.merge(next, d);
    }
    if (last.done && this.applying === this.parts.length - 1) {
      this.finished = true;
      // An idle worker (waiting for growth) must not keep a process alive.
      last.worker?.unref();
      const p = this.progress(true);
      for (const w of this.waiters.splice(0)) w.resolve(p);
    }
  }

  /** A worker's delta in merged group numbers, applied. */
  private merge(part: Part, d: QueryDelta): void {
    const fresh: string[] = [];
    const freshIds: string[] = [];
    let warning: string | undefined;
    let undo = d.undo;
    if (undo?.matched && undo.group >= 0) {
      const g = part.toGlobal[undo.group];
      const createdHere = undo.groupCreated && g === this.groupCount - 1 && this.group(g)?.count === 1;
      if (undo.groupCreated) part.toGlobal.pop();
      if (createdHere) {
        this.globalIds.delete(this.identities.pop()!);
        if (g === this.otherGroup) this.otherGroup = -1;
      }
      undo = { ...undo, group: g, groupCreated: createdHere };
    }
    const newGlobal = (identity: string, key: string): number => {
      const g = this.groupCount + fresh.length;
      fresh.push(key);
      freshIds.push(identity);
      this.identities.push(identity);
      this.globalIds.set(identity, g);
      return g;
    };
    for (let j = 0; j < d.newGroups.length; j++) {
      const id = d.newGroupIds[j];
      let g = this.globalIds.get(id);
      if (g === undefined) {
        if (id !== OTHER_GROUP_ID && this.globalIds.size - (this.otherGroup >= 0 ? 1 : 0) < this.maxGroups) g = newGlobal(id, d.newGroups[j]);
        else {
          if (this.otherGroup < 0) {
            this.otherGroup = newGlobal(OTHER_GROUP_ID, otherGroupKey(this.maxGroups));
            warning = groupCapWarning(this.spec.groupBy ?? '', this.maxGroups);
          }
          g = this.otherGroup;
        }
      }
      part.toGlobal.push(g);
    }
    const groups = new Int32Array(d.groups.length);
    for (let i = 0; i < groups.length; i++) groups[i] = part.toGlobal[d.groups[i]];
    this.apply({ ...d, undo, groups, newGroups: fresh, newGroupIds: freshIds, warning });
    // Lines scanned by all workers, applied or waiting.
    this.scannedLines = this.parts.reduce((sum, p) => sum + (p.scanned - p.from), 0);
  }

  private fail(e: Error): void {
    if (this.finished && this.failure) return;
    this.failure = e;
    this.finished = true;
    for (const w of this.waiters.splice(0)) w.reject(e);
    for (const p of this.parts) void this.stopPart(p, false);
  }

  /** Settles when the workers have scanned every line they know of. */
  whenDone(): Promise<QueryProgress> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.resolve(this.progress(true));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The file grew: the last range's worker scans the new lines (it refreshes its own view of the file). */
  advance(): Promise<QueryProgress> {
    const last = this.parts[this.parts.length - 1];
    if (this.failure || !last.worker) return Promise.reject(this.failure ?? new Error('the query was cancelled'));
    // Always ask: a pass under way may have started before the new lines were written.
    this.finished = false;
    last.done = false;
    last.worker.ref();
    last.worker.postMessage({ type: 'advance' });
    return this.whenDone();
  }

  /** Stop now (terminates the threads, even mid-regex); the results so far stay readable. */
  cancel(): void {
    const err = new Error('the query was cancelled');
    err.name = 'AbortError';
    this.finished = true;
    for (const w of this.waiters.splice(0)) w.reject(err);
    // A worker that is done (idle) is reused; one mid-scan (maybe mid-regex) is terminated.
    for (const p of this.parts) void this.stopPart(p, p.done);
  }

  private async stopPart(p: Part, reusable: boolean): Promise<void> {
    const w = p.worker;
    p.worker = undefined;
    if (!w) return;
    if (reusable) queryWorkerPool.give(w);
    else await w.terminate();
  }
}
