/**
 * RunManager: owns the runs started from this window. Runs live in the extension host, not in
 * a webview, so closing the Studio panel does not stop them and reopening it shows them again.
 * No `vscode` import (unit-tested in plain Node): the actual work is done by a `RunLauncher`
 * over the core engine, and listeners are plain callbacks.
 */
import type { Counts, RunStatus, RunView, ServerStats, StageView } from '../../protocol/studio';

/** A partial update from the engine; fields left out keep their last value. */
export interface ProgressUpdate {
  status?: RunStatus;
  name?: string;
  kind?: string;
  counts?: Counts;
  tokens?: { prompt: number; completion: number };
  throughput?: { requestsPerSec: number; tokensPerSec: number };
  stages?: StageView[];
  output?: string | null;
  /** The engine's most recent distinct error messages. */
  recentErrors?: string[];
  currentStage?: string | null;
  /** The engine's estimate; null when unknown. */
  etaSeconds?: number | null;
  /** Per-server counters when the run's endpoint is a pool (ProgressEvent.servers). */
  servers?: ServerStats[];
}

export interface RunHooks {
  signal: AbortSignal;
  onProgress(update: ProgressUpdate): void;
}

export interface RunOutcome {
  status: 'completed' | 'failed' | 'cancelled' | 'interrupted';
  error?: string | null;
}

export interface LaunchedRun {
  /** The run folder, known as soon as it is created. */
  dir: string;
  name: string;
  kind: string;
  done: Promise<RunOutcome>;
}

/** What the RunManager needs from the core (see src/extension/runs/launcher.ts). */
export interface RunLauncher<Req> {
  start(request: Req, hooks: RunHooks): Promise<LaunchedRun>;
  resume(dir: string, hooks: RunHooks): Promise<LaunchedRun>;
}

interface LiveRun {
  view: RunView;
  controller: AbortController;
  done: Promise<void>;
}

const emptyCounts = (): Counts => ({ total: null, done: 0, failed: 0, pending: null });

export function newRunView(dir: string, name: string, kind: string, now = new Date()): RunView {
  return {
    dir,
    name,
    kind,
    status: 'starting',
    live: true,
    counts: emptyCounts(),
    tokens: { prompt: 0, completion: 0 },
    throughput: { requestsPerSec: 0, tokensPerSec: 0 },
    stages: [],
    recentErrors: [],
    currentStage: null,
    etaSeconds: null,
    startedAt: now.toISOString(),
    updatedAt: now.toISOString(),
    endedAt: null,
    output: null,
    error: null,
  };
}

export class RunManager<Req> {
  private readonly runs = new Map<string, LiveRun>();
  private readonly listeners = new Set<(runs: RunView[]) => void>();
  private emitTimer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;

  constructor(
    private readonly launcher: RunLauncher<Req>,
    private readonly options: { throttleMs?: number; now?: () => number; log?: (m: string) => void } = {},
  ) {}

  /** Called with all live runs, at most once per `throttleMs` (default 250 ms). */
  onDidChange(listener: (runs: RunView[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  list(): RunView[] {
    return [...this.runs.values()].map((r) => structuredClone(r.view));
  }

  get(dir: string): RunView | undefined {
    const r = this.runs.get(dir);
    return r && structuredClone(r.view);
  }

  isActive(dir: string): boolean {
    const r = this.runs.get(dir);
    return !!r && (r.view.status === 'running' || r.view.status === 'starting' || r.view.status === 'cancelling');
  }

  async start(request: Req): Promise<RunView> {
    return this.launch((hooks) => this.launcher.start(request, hooks));
  }

  async resume(dir: string): Promise<RunView> {
    if (this.isActive(dir)) throw new Error(`run ${dir} is already running in this window`);
    return this.launch((hooks) => this.launcher.resume(dir, hooks));
  }

  /** Ask a run to stop; its rows so far stay on disk and it can be resumed. */
  cancel(dir: string): boolean {
    const r = this.runs.get(dir);
    if (!r || !this.isActive(dir)) return false;
    r.view.status = 'cancelling';
    r.controller.abort(new Error('cancelled by the user'));
    this.changed();
    return true;
  }

  /** Forget a finished run (e.g. its folder was deleted). */
  forget(dir: string): void {
    if (this.isActive(dir)) throw new Error('cannot forget a run that is still running');
    if (this.runs.delete(dir)) this.changed();
  }

  /** Resolves when every run has settled. */
  async whenIdle(): Promise<void> {
    await Promise.all([...this.runs.values()].map((r) => r.done));
  }

  /** Stop every run (extension deactivates); they end as "interrupted" and can be resumed. */
  async dispose(timeoutMs = 5000): Promise<void> {
    this.disposed = true;
    for (const r of this.runs.values()) if (this.isActive(r.view.dir)) r.controller.abort(new Error('VS Code is shutting down'));
    await Promise.race([this.whenIdle(), new Promise((res) => setTimeout(res, timeoutMs).unref?.())]);
    if (this.emitTimer) clearTimeout(this.emitTimer);
    this.listeners.clear();
  }

  private async launch(begin: (hooks: RunHooks) => Promise<LaunchedRun>): Promise<RunView> {
    if (this.disposed) throw new Error('the run manager is shut down');
    const controller = new AbortController();
    const now = this.options.now ?? Date.now;
    let live: LiveRun | undefined;
    const early: ProgressUpdate[] = [];
    const hooks: RunHooks = {
      signal: controller.signal,
      onProgress: (u) => {
        if (live) this.apply(live, u, now());
        else early.push(u); // progress before the launcher told us the folder
      },
    };
    const launched = await begin(hooks);
    live = {
      view: newRunView(launched.dir, launched.name, launched.kind, new Date(now())),
      controller,
      done: Promise.resolve(),
    };
    live.view.status = controller.signal.aborted ? 'cancelling' : 'running';
    this.runs.set(launched.dir, live);
    for (const u of early.splice(0)) this.apply(live, u, now());
    const run = live;
    run.done = launched.done.then(
      (outcome) => this.finish(run, outcome.status, outcome.error ?? null, now()),
      (e: unknown) => this.finish(run, controller.signal.aborted ? 'cancelled' : 'failed', e instanceof Error ? e.message : String(e), now()),
    );
    this.changed();
    return structuredClone(run.view);
  }

  private apply(run: LiveRun, u: ProgressUpdate, t: number): void {
    const v = run.view;
    if (u.name) v.name = u.name;
    if (u.kind) v.kind = u.kind;
    if (u.counts) v.counts = { ...u.counts };
    if (u.tokens) v.tokens = { ...u.tokens };
    if (u.throughput) v.throughput = { ...u.throughput };
    if (u.stages) v.stages = u.stages.map((s) => ({ ...s, counts: { ...s.counts } }));
    if (u.output !== undefined) v.output = u.output;
    if (u.status && v.status !== 'cancelling') v.status = u.status;
    if (u.recentErrors) v.recentErrors = [...u.recentErrors];
    if (u.currentStage !== undefined) v.currentStage = u.currentStage;
    if (u.etaSeconds !== undefined) v.etaSeconds = u.etaSeconds;
    if (u.servers) v.servers = u.servers.map((x) => ({ ...x }));
    v.updatedAt = new Date(t).toISOString();
    this.changed();
  }

  private finish(run: LiveRun, status: RunOutcome['status'], error: string | null, t: number): void {
    run.view.status = status;
    run.view.error = error;
    run.view.endedAt = new Date(t).toISOString();
    run.view.updatedAt = run.view.endedAt;
    run.view.etaSeconds = status === 'completed' ? 0 : null;
    run.view.throughput = { requestsPerSec: 0, tokensPerSec: 0 };
    // The pool is closed with the run: nothing is in flight any more, whatever the last event said.
    if (run.view.servers) run.view.servers = run.view.servers.map((x) => ({ ...x, outstanding: 0 }));
    this.options.log?.(`Run ${run.view.name} (${run.view.dir}) ended: ${status}${error ? `: ${error}` : ''}`);
    this.changed(true);
  }

  private changed(immediate = false): void {
    const throttle = this.options.throttleMs ?? 250;
    if (immediate || throttle <= 0) {
      if (this.emitTimer) clearTimeout(this.emitTimer);
      this.emitTimer = undefined;
      this.emit();
      return;
    }
    if (this.emitTimer) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = undefined;
      this.emit();
    }, throttle);
  }

  private emit(): void {
    const runs = this.list();
    for (const l of this.listeners) {
      try {
        l(runs);
      } catch (e) {
        this.options.log?.(`run listener failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
}
