/**
 * A JsonlFile kept up to date: indexes and analyzes in the background (first pages are served
 * meanwhile), watches the file (fs.watch plus a slow poll, since watch events are unreliable on
 * network and container file systems) and re-indexes appended bytes, or everything after a
 * truncation or rewrite. Listeners hear `changed` (throttled) and `reset`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { JsonlFile, type FileStats, type ViewerLimits } from './jsonlFile';

export interface LiveFileOptions {
  limits?: Partial<ViewerLimits>;
  /** Watch the file for growth (default true). */
  watch?: boolean;
  /** Use fs.watch events (default true); the poll below works without them. */
  useFsWatch?: boolean;
  /** Poll interval in ms as a fallback to fs.watch (default 2000; 0 disables). */
  pollMs?: number;
  /** Minimum ms between `changed` events (default 150). */
  throttleMs?: number;
}

type ChangeListener = (stats: FileStats) => void;
type ResetListener = () => void;

export class LiveJsonlFile {
  private watcher: FSWatcher | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private pendingCheck: NodeJS.Timeout | undefined;
  private working = false;
  private again = false;
  /** Holds on the analysis (queries running); see holdAnalysis(). */
  private analysisHolds = 0;
  private analysisResumed: (() => void) | undefined;
  private disposed = false;
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly resetListeners = new Set<ResetListener>();
  private readonly growListeners = new Set<() => void>();
  private lastEmit = 0;
  private emitTimer: NodeJS.Timeout | undefined;
  private readonly throttleMs: number;
  /** Settles when the first background pass (index + analysis) finished. */
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  lastError: Error | undefined;

  private constructor(readonly file: JsonlFile, private readonly options: LiveFileOptions) {
    this.throttleMs = options.throttleMs ?? 150;
    this.ready = new Promise((r) => (this.resolveReady = r));
  }

  static async open(path: string, options: LiveFileOptions = {}): Promise<LiveJsonlFile> {
    const file = await JsonlFile.open(path, options.limits);
    const live = new LiveJsonlFile(file, options);
    live.startWatching();
    void live.work();
    return live;
  }

  onChanged(l: ChangeListener): () => void {
    this.changeListeners.add(l);
    return () => this.changeListeners.delete(l);
  }

  onReset(l: ResetListener): () => void {
    this.resetListeners.add(l);
    return () => this.resetListeners.delete(l);
  }

  /** Called after appended lines were indexed (queries continue over them). */
  onGrown(l: () => void): () => void {
    this.growListeners.add(l);
    return () => this.growListeners.delete(l);
  }

  /** Check the file now (also what the watcher calls). */
  async check(): Promise<void> {
    if (this.disposed) return;
    let r;
    try {
      r = await this.file.refresh();
    } catch (e) {
      this.lastError = e as Error;
      return;
    }
    if (r === 'reset') {
      // A replaced file (rename) has a new inode: watch the new one.
      this.watcher?.close();
      this.watchNow();
      for (const l of this.resetListeners) l();
    }
    if (r !== 'unchanged') void this.work();
  }

  /** Index and analyze whatever is new; one worker at a time, re-run if asked meanwhile. */
  private async work(): Promise<void> {
    if (this.working) {
      this.again = true;
      return;
    }
    this.working = true;
    try {
      do {
        this.again = false;
        const gen = this.file.generation;
        const linesBefore = this.file.lineCount;
        while (!this.disposed && (await this.file.indexStep())) this.emitChanged();
        this.emitChanged();
        while (!this.disposed && (await this.file.analyzeStep())) {
          this.emitChanged();
          // Yield to the event loop between chunks: the extension host serves others too.
          await new Promise((r) => setImmediate(r));
          if (this.analysisHolds > 0) await new Promise<void>((r) => (this.analysisResumed = r));
        }
        this.emitChanged(true);
        if (gen === this.file.generation && this.file.lineCount !== linesBefore) for (const l of this.growListeners) l();
      } while (this.again && !this.disposed);
    } catch (e) {
      if (!this.file.isClosed) this.lastError = e as Error;
    } finally {
      this.working = false;
      this.resolveReady();
    }
  }

  /**
   * Pause the background analysis until the returned function is called (each hold once). A
   * query the user started gets the cores meanwhile: its workers parse the lines the analysis
   * has not reached anyway, and the analysis would parse them a second time on the same cores.
   * Indexing goes on.
   */
  holdAnalysis(): () => void {
    this.analysisHolds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.analysisHolds === 0) {
        const resume = this.analysisResumed;
        this.analysisResumed = undefined;
        resume?.();
      }
    };
  }

  private emitChanged(force = false): void {
    if (this.disposed) return;
    const now = Date.now();
    const fire = (): void => {
      this.emitTimer = undefined;
      this.lastEmit = Date.now();
      const s = this.file.stats();
      for (const l of this.changeListeners) l(s);
    };
    if (force || now - this.lastEmit >= this.throttleMs) {
      if (this.emitTimer) clearTimeout(this.emitTimer);
      fire();
    } else if (!this.emitTimer) {
      this.emitTimer = setTimeout(fire, this.throttleMs - (now - this.lastEmit));
    }
  }

  private startWatching(): void {
    if (this.options.watch === false) return;
    this.watchNow();
    const poll = this.options.pollMs ?? 2000;
    if (poll > 0) {
      this.pollTimer = setInterval(() => void this.check(), poll);
      this.pollTimer.unref();
    }
  }

  private watchNow(): void {
    if (this.options.watch === false || this.options.useFsWatch === false || this.disposed) return;
    try {
      this.watcher = watch(this.file.path, { persistent: false }, () => {
        if (this.pendingCheck) return;
        this.pendingCheck = setTimeout(() => {
          this.pendingCheck = undefined;
          void this.check();
        }, 50);
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // Some file systems cannot be watched: the poll still follows the file.
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.watcher?.close();
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.emitTimer) clearTimeout(this.emitTimer);
    if (this.pendingCheck) clearTimeout(this.pendingCheck);
    this.changeListeners.clear();
    this.resetListeners.clear();
    this.growListeners.clear();
    await this.file.close();
  }
}
