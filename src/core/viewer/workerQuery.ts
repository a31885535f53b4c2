/**
 * A query scanned in a worker thread: the results live here (QueryResults, filled from the
 * worker's deltas), the scanning there. Whatever the pattern, the calling thread (the extension
 * host) never runs the regex or the filter, and `cancel()` terminates the worker at once, keeping
 * the results found so far.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { JsonlFile } from './jsonlFile';
import { compileQuery, QueryResults, type QueryOptions, type QueryProgress, type QuerySpec } from './query';
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

export class WorkerQuery extends QueryResults {
  private worker: Worker | undefined;
  private finished = false;
  private failure: Error | undefined;
  private waiters: Array<{ resolve: (p: QueryProgress) => void; reject: (e: Error) => void }> = [];
  private progressListener: ((p: QueryProgress) => void) | undefined;
  readonly generation: number;

  /** Validates the query here (QueryError names the part), then starts the worker. */
  constructor(readonly file: JsonlFile, readonly spec: QuerySpec, options: QueryOptions = {}) {
    super();
    compileQuery(spec);
    this.generation = file.generation;
    this.totalLines = file.lineCount;
    const entry = workerEntry();
    const data: QueryWorkerData = { path: file.path, spec, limits: file.limits, options };
    const w = new Worker(entry.script, { eval: entry.eval, workerData: data });
    this.worker = w;
    w.on('message', (m: QueryWorkerMessage) => this.onMessage(m));
    w.on('error', (e) => this.fail(e));
    w.on('exit', (code) => {
      if (this.worker === w && !this.finished) this.fail(new Error(`the query worker stopped (exit code ${code})`));
    });
  }

  get running(): boolean {
    return this.worker !== undefined && !this.finished;
  }

  /** Called with progress after each chunk the worker reports. */
  onProgress(l: ((p: QueryProgress) => void) | undefined): void {
    this.progressListener = l;
  }

  private onMessage(m: QueryWorkerMessage): void {
    if (m.type === 'delta') {
      this.apply(m.delta);
      this.progressListener?.(this.progress(false));
    } else if (m.type === 'done') {
      this.finished = true;
      // An idle worker (waiting for growth) must not keep a process alive.
      this.worker?.unref();
      const p = this.progress(true);
      for (const w of this.waiters.splice(0)) w.resolve(p);
    } else this.fail(new Error(m.message));
  }

  private fail(e: Error): void {
    this.failure = e;
    this.finished = true;
    for (const w of this.waiters.splice(0)) w.reject(e);
    void this.stopWorker();
  }

  /** Settles when the worker has scanned every line it knows of. */
  whenDone(): Promise<QueryProgress> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.finished) return Promise.resolve(this.progress(true));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** The file grew: scan the new lines (the worker refreshes its own view of the file). */
  advance(): Promise<QueryProgress> {
    if (!this.worker) return Promise.reject(this.failure ?? new Error('the query was cancelled'));
    this.finished = false;
    this.worker.ref();
    this.worker.postMessage({ type: 'advance' });
    return this.whenDone();
  }

  /** Stop now (terminates the thread, even mid-regex); the results so far stay readable. */
  cancel(): void {
    if (!this.worker) return;
    const err = new Error('the query was cancelled');
    err.name = 'AbortError';
    this.finished = true;
    for (const w of this.waiters.splice(0)) w.reject(err);
    void this.stopWorker();
  }

  private async stopWorker(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
