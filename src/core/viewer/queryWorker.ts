/**
 * The worker thread behind WorkerQuery: opens the file itself, runs one query's QueryScanner
 * and posts each chunk's results (QueryDelta) to the thread that started it. Bundled as its own
 * entry (dist/viewerQueryWorker.js, see esbuild.mjs). A regex that backtracks for minutes only
 * keeps this thread busy; the host terminates it on Cancel.
 *
 * Messages in: { type: 'start', data } (a query), { type: 'advance' } (the file grew: scan the new lines).
 * Messages out: { type: 'delta', delta } | { type: 'done' } | { type: 'error', message }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { JsonlFile, type ViewerLimits } from './jsonlFile';
import type { LineIndexState } from './lineIndex';
import { QueryScanner, toTransferable, type QueryOptions, type QuerySpec } from './query';

export interface QueryWorkerData {
  path: string;
  spec: QuerySpec;
  limits: Partial<ViewerLimits>;
  options: QueryOptions;
  /** The host's line index so far: the worker scans at once instead of indexing the file again. */
  index?: LineIndexState;
}

export type QueryWorkerMessage = { type: 'delta'; delta: import('./query').QueryDelta } | { type: 'done' } | { type: 'error'; message: string };

/**
 * One query at a time: `start` opens the file and scans (closing the previous query's file: the
 * host reuses idle workers from a pool, see workerQuery.ts), `advance` scans new lines.
 */
function main(): void {
  const port = parentPort;
  if (!port) throw new Error('queryWorker runs only as a worker thread');
  const post = (m: QueryWorkerMessage): void => port.postMessage(m);
  let file: JsonlFile | undefined;
  let scanner: QueryScanner | undefined;
  let running = false;
  let again = false;
  const run = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        if (!file || !scanner) return;
        if ((await file.refresh()) === 'reset') throw new Error('the file was rewritten: run the query again');
        await scanner.scan({
          onDelta: (d) => {
            const { delta, transfer } = toTransferable(d);
            port.postMessage({ type: 'delta', delta } satisfies QueryWorkerMessage, transfer);
          },
        });
      } while (again);
      // Only once caught up: the host takes `done` as "every line it asked about is scanned".
      post({ type: 'done' });
    } catch (e) {
      post({ type: 'error', message: (e as Error).message });
    } finally {
      running = false;
    }
  };
  const start = async (data: QueryWorkerData): Promise<void> => {
    await file?.close().catch(() => undefined);
    file = undefined;
    scanner = undefined;
    try {
      file = await JsonlFile.open(data.path, data.limits);
      if (data.index && data.index.scanned <= file.index.fileSize) file.index.restore(data.index);
      scanner = new QueryScanner(file, data.spec, data.options);
    } catch (e) {
      post({ type: 'error', message: (e as Error).message });
      return;
    }
    await run();
  };
  port.on('message', (m: { type?: string; data?: QueryWorkerData }) => {
    if (m?.type === 'start' && m.data) void start(m.data);
    else if (m?.type === 'advance') void run();
    else if (m?.type === 'release') {
      // Back in the pool: do not keep the last query's file open.
      const f = file;
      file = undefined;
      scanner = undefined;
      void f?.close().catch(() => undefined);
    }
  });
  // Started with a query (workerData) or idle, waiting for `start`.
  if (workerData) void start(workerData as QueryWorkerData);
}

main();
