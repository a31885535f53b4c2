/**
 * The Studio's one store: the state (logic/state.ts, changed only through `reduce`), the typed
 * host channel, and the host calls more than one tab needs. The root element and every tab
 * component subscribe to it and re-render when it changes.
 */
import type { MessageChannel } from '../../src/protocol/ipc.js';
import type {
  EndpointProfile,
  EndpointTestResult,
  LaunchEstimate,
  PipelineInfo,
  SlurmInfo,
  SlurmPreview,
  SlurmSubmitResult,
  StudioHostNotifications,
  StudioRequests,
  TemplateRef,
} from '../../src/protocol/studio.js';
import { connectToHost, vscodeApi } from '../common/vscodeApi.js';
import { initialState, reduce, type Action, type Persisted, type StudioState } from './logic/state.js';

export type Host = MessageChannel<Record<string, never>, StudioRequests, StudioHostNotifications, Record<string, never>>;

/** The endpoint form: a profile plus the key field and the servers as typed (one per line). */
export type EndpointFormState = EndpointProfile & { apiKey?: string; previousName?: string; serversText: string };

export function targetValue(e: Event): string {
  return (e.target as HTMLInputElement).value;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** What tabs keep while another tab is shown (not persisted across reloads). */
export interface TransientUi {
  endpointForm: EndpointFormState | null;
  endpointTests: Map<string, EndpointTestResult | 'testing'>;
  slurmPreview: SlurmPreview | null;
  slurmSubmitted: SlurmSubmitResult | null;
  importFile: string;
  importLimit: number;
  /** The last launch estimate, how to launch once confirmed, and whether it was launched. */
  estimate: { result: LaunchEstimate; launch: () => void; launched?: boolean; only?: boolean } | null;
}

export class StudioStore {
  state: StudioState;
  host!: Host;
  notice: { kind: 'error' | 'info'; text: string } | null = null;
  readonly busy = new Set<string>();
  /** Workspace JSONL datasets (workspace-relative). */
  datasets: string[] = [];
  /** Run outputs and stage files, offered apart. */
  runFiles: string[] = [];
  allTemplates: TemplateRef[] = [];
  /** Every few-shot set of the workspace and the built-ins. */
  fewShotSets: Array<{ file: string; name: string; source: 'workspace' | 'builtin' }> = [];
  slurmInfo: SlurmInfo | null = null;
  readonly ui: TransientUi = { endpointForm: null, endpointTests: new Map(), slurmPreview: null, slurmSubmitted: null, importFile: '', importLimit: 8, estimate: null };
  private readonly listeners = new Set<() => void>();
  private previewTimer: ReturnType<typeof setTimeout> | undefined;

  constructor() {
    this.state = initialState(vscodeApi<Partial<Persisted>>().getState() ?? undefined);
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Tell every view to re-render. */
  changed(): void {
    for (const fn of this.listeners) fn();
  }

  connect(): void {
    this.host = connectToHost<StudioRequests, StudioHostNotifications>();
    this.host.on('runs.changed', (runs) => this.dispatch({ type: 'runs', runs }));
    this.host.on('endpoints.changed', (endpoints) => this.dispatch({ type: 'endpoints', endpoints }));
    this.host.on('pipelines.changed', (pipelines) => this.dispatch({ type: 'pipelines', pipelines }));
    this.host.on('trust.changed', ({ trusted }) => this.dispatch({ type: 'trust', trusted }));
    this.host.on('focus', (f) => {
      if (f.pipelineId) this.dispatch({ type: 'selectPipeline', id: f.pipelineId });
      if (f.ref) this.openTemplate(f.ref);
      if (f.tab === 'slurm') void this.loadSlurmInfo();
      this.dispatch({ type: 'tab', tab: f.tab });
    });
    void this.load();
  }

  async load(): Promise<void> {
    try {
      this.dispatch({ type: 'init', result: await this.host.request('init', {}) });
      if (this.state.persisted.templateRef) void this.loadTemplate(this.state.persisted.templateRef);
      if (this.state.persisted.fewShotFile) void this.loadFewShot(this.state.persisted.fewShotFile);
      if (this.state.persisted.datasetFile) void this.loadRow();
      void this.loadDatasets();
      void this.loadTemplates();
      void this.loadFewShotSets();
      void this.loadSlurmInfo();
    } catch (e) {
      this.dispatch({ type: 'loadFailed', error: errorText(e) });
    }
  }

  dispatch(action: Action): void {
    const before = this.state.persisted;
    this.state = reduce(this.state, action);
    if (this.state.persisted !== before) vscodeApi<Persisted>().setState(this.state.persisted);
    this.changed();
  }

  /** Runs a host call, showing its error in the panel instead of losing it. */
  async call<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    this.busy.add(key);
    this.notice = null;
    this.changed();
    try {
      return await fn();
    } catch (e) {
      this.notice = { kind: 'error', text: errorText(e) };
      return undefined;
    } finally {
      this.busy.delete(key);
      this.changed();
    }
  }

  info(text: string): void {
    this.notice = { kind: 'info', text };
    this.changed();
  }

  error(text: string): void {
    this.notice = { kind: 'error', text };
    this.changed();
  }

  selectedPipeline(): PipelineInfo | undefined {
    return this.state.pipelines.find((p) => p.id === this.state.persisted.pipelineId);
  }

  activeRuns(): number {
    return this.state.runs.filter((r) => r.live && (r.status === 'running' || r.status === 'starting' || r.status === 'cancelling')).length;
  }

  /** Opens a workspace or built-in file in an editor. */
  openFile(file: string, line?: number): void {
    void this.call('open', () => this.host.request('files.open', { file, line }));
  }

  // ---------------------------------------------------------------- data loading

  async loadSlurmInfo(): Promise<void> {
    this.slurmInfo = await this.host.request('slurm.info', {}).catch(() => null);
    this.changed();
  }

  async loadTemplates(): Promise<void> {
    this.allTemplates = await this.host.request('templates.list', {}).catch(() => []);
    this.changed();
  }

  async loadFewShotSets(): Promise<void> {
    this.fewShotSets = await this.host.request('fewshot.list', {}).catch(() => []);
    this.changed();
  }

  async loadDatasets(): Promise<void> {
    const list = await this.host.request('datasets.list', {}).catch(() => []);
    this.datasets = list.filter((d) => d.group !== 'run').map((d) => d.file);
    this.runFiles = list.filter((d) => d.group === 'run').map((d) => d.file);
    this.changed();
  }

  async loadRow(): Promise<void> {
    const file = this.state.persisted.datasetFile;
    if (!file) return;
    const r = await this.call('row', () => this.host.request('datasets.row', { file, index: this.state.persisted.rowIndex }));
    if (r) this.dispatch({ type: 'row', row: r.row, count: r.count });
    this.schedulePreview(0);
  }

  openTemplate(ref: TemplateRef): void {
    this.dispatch({ type: 'openTemplate', ref });
    void this.loadTemplate(ref);
  }

  async loadTemplate(ref: TemplateRef): Promise<void> {
    const doc = await this.call('template', () => this.host.request('template.get', { ref }));
    if (!doc) return;
    this.dispatch({ type: 'templateLoaded', ref, text: doc.text, placeholders: doc.placeholders, readonly: doc.readonly, fewShotFile: doc.fewShotFile });
    if (doc.fewShotFile && !this.state.persisted.fewShotFile) {
      this.dispatch({ type: 'openFewShot', file: doc.fewShotFile });
      this.dispatch({ type: 'tab', tab: 'templates' });
      void this.loadFewShot(doc.fewShotFile);
    }
    this.schedulePreview(0);
  }

  schedulePreview(delay = 300): void {
    if (this.previewTimer) clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => void this.preview(), delay);
  }

  private async preview(): Promise<void> {
    const ref = this.state.persisted.templateRef;
    const t = this.state.template;
    if (!ref || !t) return;
    const fs = this.state.fewShot;
    const fewShot = fs && t.fewShotFile && fs.file === t.fewShotFile ? fs.examples : undefined;
    try {
      const result = await this.host.request('template.preview', { ref, text: t.text, row: this.state.row ?? undefined, fewShot });
      this.dispatch({ type: 'preview', result });
    } catch (e) {
      this.dispatch({ type: 'preview', result: { messages: [], placeholders: t.placeholders, errors: [{ message: errorText(e) }] } });
    }
  }

  openFewShot(file: string): void {
    this.dispatch({ type: 'openFewShot', file });
    void this.loadFewShot(file);
  }

  async loadFewShot(file: string): Promise<void> {
    const r = await this.call('fewshot', () => this.host.request('fewshot.get', { file }));
    if (r) this.dispatch({ type: 'fewShotLoaded', file: r.file, examples: r.examples, readonly: r.readonly });
  }
}
