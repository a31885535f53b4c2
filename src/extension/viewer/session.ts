/**
 * One viewer panel's conversation with its webview, on top of a shared LiveJsonlFile. No
 * `vscode` import: the provider wires it to a webview, the unit tests to a fake one.
 * Every request is validated (src/protocol/viewer.ts) before it touches the file.
 */
import { MessageChannel, type WireMessage } from '../../protocol/ipc';
import {
  AUTO_COLUMNS,
  ROWS_PAGE,
  validateGroupsParams,
  validateLineParams,
  validateQueryIdParams,
  validateQueryParams,
  validateRowsParams,
  validateSortParams,
  type FileInfo,
  type QueryResult,
  type ViewerHostNotifications,
  type ViewerRequests,
  type ViewerWebviewNotifications,
} from '../../protocol/viewer';
import type { LiveJsonlFile } from '../../core/viewer/liveFile';
import { compileQuery, QueryError, type QueryOptions, type QuerySpec } from '../../core/viewer/query';
import { queryWorkerPool, WorkerQuery } from '../../core/viewer/workerQuery';
import type { RowData } from '../../core/viewer/jsonlFile';
import { profileFile } from '../../core/viewer/profile';
import { sortLines } from '../../core/viewer/sort';
import { computeMetrics } from '../../core/math/metrics';
import type { MetricsResult } from '../../protocol/viewer';

type HostChannel = MessageChannel<ViewerRequests, Record<string, never>, ViewerWebviewNotifications, ViewerHostNotifications>;

interface ActiveQuery {
  /** Scanned in a worker thread: a slow regex never blocks the extension host. */
  run: WorkerQuery;
  /** The query as asked, to reuse a finished result when the same query comes again. */
  specKey: string;
  cancelled: boolean;
  /** The worker finished every line known so far (a completed result, reusable). */
  complete: boolean;
}

/** How many queries a panel keeps (the current one and the one it replaces while results arrive). */
const KEEP_QUERIES = 2;

export interface SessionHooks {
  openInEditor?(line: number): void | Promise<void>;
  log?(message: string): void;
  /** Options of every query (tests lower the group cap). */
  queryOptions?: QueryOptions;
}

/** Same query, same text: the search options and expressions as one string. */
function specKey(spec: QuerySpec): string {
  const s = spec.search && spec.search.text !== '' ? spec.search : undefined;
  return JSON.stringify([s?.text, s?.regex, s?.caseSensitive, s?.field?.trim() || '', spec.filter?.trim() || '', spec.groupBy?.trim() || '']);
}

/** The longest a query keeps the background analysis waiting. */
const ANALYSIS_HOLD_MAX_MS = 30_000;

export class ViewerSession {
  readonly channel: HostChannel;
  private readonly queries = new Map<number, ActiveQuery>();
  private nextQueryId = 1;
  private readonly unsubscribe: Array<() => void> = [];
  private disposed = false;

  constructor(private readonly live: LiveJsonlFile, private readonly fileName: string, post: (msg: WireMessage) => void, private readonly hooks: SessionHooks = {}) {
    this.channel = new MessageChannel(post, { waitForReady: true });
    // The first page is read while the webview boots (hundreds of ms), ready for its `ready`.
    this.firstPage = this.readFirstPage();
    // Query threads boot once that page is read, while the user looks at the first rows, not
    // when they search (booting them costs the host CPU the first page would wait for).
    void this.firstPage.then(() => {
      if (!this.disposed) queryWorkerPool.warm();
    });
    const c = this.channel;
    c.handle('rows', (p) => this.rows(validateRowsParams(p)));
    c.handle('record', (p) => live.file.record(validateLineParams(p).line));
    c.handle('query', (p) => this.startQuery(validateQueryParams(p)));
    c.handle('cancelQuery', (p) => this.cancelQuery(validateQueryIdParams(p).queryId, false));
    c.handle('groups', (p) => {
      const v = validateGroupsParams(p);
      const q = this.query(v.queryId);
      return { groups: q.run.groupSlice(v.start, v.count, v.sort), total: q.run.groupCount };
    });
    c.handle('profile', () => this.kept('profile', () => profileFile(live.file)));
    c.handle('metrics', () => this.kept('metrics', () => this.metrics()));
    c.handle('sort', (p) => this.sort(validateSortParams(p)));
    c.handle('openInEditor', async (p) => {
      const { line } = validateLineParams(p);
      await hooks.openInEditor?.(line);
    });
    this.unsubscribe.push(live.onChanged(() => this.sendFile()));
    this.unsubscribe.push(
      live.onReset(() => {
        for (const [id, q] of this.queries) {
          q.cancelled = true;
          q.run.cancel();
          this.channel.notify('queryProgress', { queryId: id, ...q.run.progress(true), error: 'The file was truncated or rewritten: the query runs again.' });
        }
        this.queries.clear();
        this.sendFile();
      }),
    );
    this.unsubscribe.push(live.onGrown(() => this.advanceQueries()));
    c.onReady(() => void this.sendFileWithFirstPage());
  }

  /** Feed every message from the webview here. */
  async receive(data: unknown): Promise<void> {
    await this.channel.receive(data);
    // A webview that is hidden and shown again reloads and says `ready` again: send it the
    // file state afresh (the channel's onReady fires only for the first one).
    if (this.readySeen && (data as { kind?: unknown } | null)?.kind === 'ready') void this.sendFileWithFirstPage();
    if ((data as { kind?: unknown } | null)?.kind === 'ready') this.readySeen = true;
  }

  private readySeen = false;

  /** Profile and metrics of the file as it is: kept until the file grows or is rewritten. */
  private readonly keptResults = new Map<string, { version: string; result: Promise<unknown> }>();

  private kept<T>(name: string, compute: () => Promise<T>): Promise<T> {
    const f = this.live.file;
    const version = `${f.generation}:${f.stats().size}`;
    const k = this.keptResults.get(name);
    if (k && k.version === version) return k.result as Promise<T>;
    const result = compute();
    this.keptResults.set(name, { version, result });
    // A failure is reported once, not kept.
    result.catch(() => {
      if (this.keptResults.get(name)?.result === result) this.keptResults.delete(name);
    });
    return result;
  }

  /** Sorted snapshots (the newest few), by id. */
  private readonly sorts = new Map<number, { key: string; order: Uint32Array; generation: number }>();
  private nextSortId = 1;

  private async sort(p: ReturnType<typeof validateSortParams>): Promise<{ ok: true; sortId: number; total: number } | { ok: false; message: string }> {
    const f = this.live.file;
    const key = JSON.stringify([p.queryId ?? 0, p.column, p.desc, f.generation, f.stats().size]);
    for (const [id, s] of this.sorts) if (s.key === key) return { ok: true, sortId: id, total: s.order.length };
    let lines: number[] | undefined;
    if (p.queryId !== undefined) {
      const q = this.query(p.queryId);
      await q.run.whenDone().catch(() => undefined);
      lines = q.run.matchSlice(0, q.run.matches.length);
    } else await f.indexAll();
    let order: Uint32Array;
    try {
      order = await sortLines(f, p.column, p.desc, lines);
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
    const id = this.nextSortId++;
    this.sorts.set(id, { key, order, generation: f.generation });
    for (const old of [...this.sorts.keys()].slice(0, Math.max(0, this.sorts.size - KEEP_QUERIES))) this.sorts.delete(old);
    return { ok: true, sortId: id, total: order.length };
  }

  private async metrics(): Promise<MetricsResult> {
    try {
      return { ok: true, metrics: await computeMetrics({ files: [this.live.file.path] }) };
    } catch (e) {
      return { ok: false, message: (e as Error).message };
    }
  }

  fileInfo(): FileInfo {
    return { fileName: this.fileName, stats: this.live.file.stats(), generation: this.live.file.generation };
  }

  private sendFile(): void {
    if (!this.disposed) this.channel.notify('file', this.fileInfo());
  }

  private firstPage: Promise<{ generation: number; page: FileInfo['firstPage'] }>;

  /** The first page of all lines in the automatic columns (undefined if it cannot be read). */
  private async readFirstPage(): Promise<{ generation: number; page: FileInfo['firstPage'] }> {
    const file = this.live.file;
    const generation = file.generation;
    try {
      await file.ensureLines(ROWS_PAGE);
      // The automatic columns are the keys the analysis has seen: let it cover the first page.
      while (file.stats().analyzedLines < Math.min(ROWS_PAGE, file.lineCount) && (await file.analyzeStep()));
      const columns = file.stats().keys.slice(0, AUTO_COLUMNS).map((k) => k.name);
      return { generation, page: { columns, rows: await file.rows(0, ROWS_PAGE, columns) } };
    } catch (e) {
      this.hooks.log?.(`JSONL viewer: first page not sent ahead: ${(e as Error).message}`);
      return { generation, page: undefined };
    }
  }

  /** The answer to `ready`: the file state with its first page (see FileInfo.firstPage). */
  private async sendFileWithFirstPage(): Promise<void> {
    let first = await this.firstPage;
    // Read again if the file was rewritten meanwhile, or it was short (it may have grown since).
    if (first.generation !== this.live.file.generation || (first.page?.rows.length ?? 0) < ROWS_PAGE) {
      this.firstPage = this.readFirstPage();
      first = await this.firstPage;
    }
    if (this.disposed) return;
    const info = this.fileInfo();
    this.channel.notify('file', first.page ? { ...info, firstPage: first.page } : info);
  }

  private query(id: number): ActiveQuery {
    const q = this.queries.get(id);
    if (!q) throw new Error(`query ${id} is gone (replaced by a newer one or the file was rewritten)`);
    return q;
  }

  private async rows(p: ReturnType<typeof validateRowsParams>): Promise<{ rows: RowData[]; total: number; generation: number }> {
    const file = this.live.file;
    const generation = file.generation;
    if (p.view.kind === 'all') {
      await file.ensureLines(p.start + p.count);
      return { rows: await file.rows(p.start, p.count, p.columns), total: file.lineCount, generation };
    }
    if (p.view.kind === 'sorted') {
      const s = this.sorts.get(p.view.sortId);
      if (!s || s.generation !== generation) throw new Error(`sort ${p.view.sortId} is gone (replaced by a newer one or the file was rewritten)`);
      return { rows: await file.rowsFor(Array.from(s.order.subarray(p.start, p.start + p.count)), p.columns), total: s.order.length, generation };
    }
    const q = this.query(p.view.queryId);
    if (p.view.kind === 'query') {
      return { rows: await file.rowsFor(q.run.matchSlice(p.start, p.count), p.columns), total: q.run.matches.length, generation };
    }
    const g = q.run.group(p.view.group);
    if (!g) throw new Error(`group ${p.view.group} does not exist`);
    return { rows: await file.rowsFor(q.run.groupLines(p.view.group, p.start, p.count), p.columns), total: g.count, generation };
  }

  private async startQuery(spec: ReturnType<typeof validateQueryParams>): Promise<QueryResult> {
    if (!this.live.file.index.complete) {
      // Started right after opening: the rest of the index first (several GB/s), so the scan is
      // split over every core. A bad query is answered without waiting.
      try {
        compileQuery(spec);
      } catch (e) {
        if (e instanceof QueryError) return { ok: false, part: e.part, message: e.message, ...(e.column !== undefined ? { column: e.column } : {}) };
        throw e;
      }
      await this.live.file.indexAll();
    }
    return this.startQueryNow(spec);
  }

  private startQueryNow(spec: ReturnType<typeof validateQueryParams>): QueryResult {
    // The same query again (the tab was hidden and shown, the webview reloaded): its result is
    // kept, finished or still running, unless it was cancelled or the file was rewritten.
    const key = specKey(spec);
    for (const [id, q] of this.queries) {
      if (q.specKey === key && !q.cancelled && q.run.generation === this.live.file.generation) {
        // After the answer, not before: the webview ignores progress of a query id it does not know yet.
        setImmediate(() => {
          if (!this.disposed && this.queries.get(id) === q) this.channel.notify('queryProgress', { queryId: id, ...q.run.progress(q.complete) });
        });
        return { ok: true, queryId: id };
      }
    }
    let run: WorkerQuery;
    try {
      run = new WorkerQuery(this.live.file, spec, this.hooks.queryOptions);
    } catch (e) {
      if (e instanceof QueryError) return { ok: false, part: e.part, message: e.message, ...(e.column !== undefined ? { column: e.column } : {}) };
      throw e;
    }
    // The background analysis waits while the query runs (see LiveJsonlFile.holdAnalysis), at
    // most half a minute: a regex that backtracks for minutes must not stall the stats bar.
    const release = this.live.holdAnalysis();
    run.whenDone().then(release, release);
    setTimeout(release, ANALYSIS_HOLD_MAX_MS).unref();
    const id = this.nextQueryId++;
    const active: ActiveQuery = { run, specKey: key, cancelled: false, complete: false };
    this.queries.set(id, active);
    // Keep only the newest few; older ones are cancelled.
    const ids = [...this.queries.keys()];
    for (const old of ids.slice(0, Math.max(0, ids.length - KEEP_QUERIES))) this.cancelQuery(old, true);
    let last = 0;
    run.onProgress((p) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      this.channel.notify('queryProgress', { queryId: id, ...p });
    });
    void this.follow(id, active, run.whenDone());
    return { ok: true, queryId: id };
  }

  /** Report the end of a worker's pass (or its error). */
  private async follow(id: number, q: ActiveQuery, pass: Promise<unknown>): Promise<void> {
    try {
      await pass;
      q.complete = true;
      if (!this.disposed && this.queries.get(id) === q) this.channel.notify('queryProgress', { queryId: id, ...q.run.progress(true) });
    } catch (e) {
      const err = e as Error;
      if (err.name !== 'AbortError' && !q.cancelled) {
        q.cancelled = true; // a failed result is not reused
        this.hooks.log?.(`viewer query ${id} failed: ${err.message}`);
        if (!this.disposed) this.channel.notify('queryProgress', { queryId: id, ...q.run.progress(true), error: err.message });
      }
    }
  }

  /** The file grew: each live query scans the new lines (in its worker). */
  private advanceQueries(): void {
    for (const [id, q] of this.queries) {
      if (q.cancelled) continue;
      q.complete = false;
      void this.follow(id, q, q.run.advance());
    }
  }

  /** Stop scanning at once (the worker is terminated); the matches found so far stay readable unless `drop`. */
  private cancelQuery(id: number, drop: boolean): void {
    const q = this.queries.get(id);
    if (!q) return;
    if (!q.cancelled) {
      q.cancelled = true;
      const wasRunning = q.run.running;
      q.run.cancel();
      if (!drop && !this.disposed) this.channel.notify('queryProgress', { queryId: id, ...q.run.progress(!wasRunning), ...(wasRunning ? { cancelled: true } : {}) });
    }
    if (drop) this.queries.delete(id);
  }

  dispose(): void {
    this.disposed = true;
    for (const id of [...this.queries.keys()]) this.cancelQuery(id, true);
    for (const u of this.unsubscribe) u();
    this.channel.dispose();
  }
}
