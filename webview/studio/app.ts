/**
 * <sdg-studio>: the Studio panel. One state object (state.ts) changed only through `reduce`;
 * every host call goes through the typed channel. Views are render functions of the state.
 */
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { Directive, directive, type ElementPart, type PartInfo, PartType } from 'lit/directive.js';
import type { MessageChannel } from '../../src/shared/ipc.js';
import type {
  EndpointProfile,
  EndpointTestResult,
  FewShotExampleData,
  LabelParams,
  ParamInfo,
  PipelineInfo,
  RunView,
  ServerStats,
  SlurmInfo,
  SlurmPreview,
  SlurmSubmitResult,
  StudioHostNotifications,
  StudioRequests,
  StudioTab,
  TemplateRef,
} from '../../src/shared/protocol/studio.js';
import { baseStyles, compactNumber, formatDuration } from '../shared/theme.js';
import { connectToHost, vscodeApi } from '../shared/vscodeApi.js';
import { formatServerLines, parseServerLines } from './logic/servers.js';
import { clusterFormOf, clusterRequest, slurmJobRequest, taskCount, type ClusterForm, type SlurmJobForm } from './logic/slurm.js';
import { coerceParams, initialState, labelRequest, moveItem, paramProblems, paramValues, reduce, refKey, type Action, type Persisted, type StudioState } from './logic/state.js';

type Host = MessageChannel<Record<string, never>, StudioRequests, StudioHostNotifications, Record<string, never>>;

const TABS: Array<{ id: StudioTab; label: string }> = [
  { id: 'pipelines', label: 'Pipelines' },
  { id: 'templates', label: 'Template' },
  { id: 'fewshot', label: 'Few-shot' },
  { id: 'endpoints', label: 'Endpoints' },
  { id: 'runs', label: 'Run' },
  { id: 'slurm', label: 'Slurm' },
];

const FEWSHOT_FIELDS = ['problem', 'solution', 'expected_answer', 'reference_solution', 'masked_solution'];

/** The endpoint form: a profile plus the key field and the servers as typed (one per line). */
type EndpointFormState = EndpointProfile & { apiKey?: string; previousName?: string; serversText: string };

function targetValue(e: Event): string {
  return (e.target as HTMLInputElement).value;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class SdgStudio extends LitElement {
  static override styles = [
    baseStyles,
    css`
      :host { padding: 0 12px 24px; }
      .layout { display: grid; grid-template-columns: minmax(180px, 260px) 1fr; gap: 16px; }
      .list-item { padding: 4px 8px; cursor: pointer; border-radius: 3px; }
      .list-item:hover { background: var(--vscode-list-hoverBackground); }
      .list-item.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
      vscode-textarea.template { width: 100%; min-height: 220px; }
      .example vscode-textarea, vscode-textarea.wide, vscode-textfield.wide { width: 100%; }
      vscode-textfield, vscode-single-select { min-width: 220px; }
      .two { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
      .msg-role { font-weight: 600; text-transform: uppercase; font-size: 11px; }
      .example { border-left: 2px solid var(--vscode-textLink-foreground); padding-left: 8px; margin: 8px 0; }
      .stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 4px 16px; }
      .form-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 4px 12px; margin: 6px 0; }
      .form-grid vscode-textfield, .form-grid vscode-single-select { min-width: 0; width: 100%; }
      .stat-label { font-size: 11px; color: var(--vscode-descriptionForeground); }
      .banner { padding: 6px 10px; margin: 8px 0; border-radius: 3px; background: var(--vscode-inputValidation-warningBackground); border: 1px solid var(--vscode-inputValidation-warningBorder); }
      .banner.info { background: var(--vscode-textBlockQuote-background); border-color: var(--vscode-focusBorder); }
      .toast { padding: 6px 10px; margin: 8px 0; border-radius: 3px; background: var(--vscode-inputValidation-errorBackground); border: 1px solid var(--vscode-inputValidation-errorBorder); }
      .w-done { background: var(--vscode-progressBar-background); height: 6px; float: left; }
      .w-failed { background: var(--vscode-errorForeground); height: 6px; float: left; }
      .servers-table { border-collapse: collapse; width: 100%; font-size: 12px; }
      .servers-table th { text-align: left; font-weight: 600; color: var(--vscode-descriptionForeground); border-bottom: 1px solid var(--vscode-widget-border, var(--vscode-panel-border)); padding: 2px 8px 2px 0; }
      .servers-table td { padding: 2px 8px 2px 0; border-bottom: 1px solid var(--vscode-editorWidget-border, transparent); }
      .servers-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
      .servers-table td.last-error { max-width: 320px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
      .pool-servers { margin: 4px 0; padding-left: 18px; }
      pre.script { background: var(--vscode-textCodeBlock-background); padding: 8px; overflow: auto; max-height: 420px; font-family: var(--vscode-editor-font-family); font-size: 12px; }
    `,
  ];

  private state: StudioState;
  private host!: Host;
  private notice: { kind: 'error' | 'info'; text: string } | null = null;
  private busy = new Set<string>();
  private endpointForm: EndpointFormState | null = null;
  private endpointTests = new Map<string, EndpointTestResult | 'testing'>();
  private previewTimer: ReturnType<typeof setTimeout> | undefined;
  private datasets: string[] = [];
  private allTemplates: TemplateRef[] = [];
  private slurmInfo: SlurmInfo | null = null;
  private slurmPreview: SlurmPreview | null = null;
  private slurmSubmitted: SlurmSubmitResult | null = null;
  private importFile = '';
  private importLimit = 8;

  constructor() {
    super();
    this.state = initialState(vscodeApi<Partial<Persisted>>().getState() ?? undefined);
  }

  override connectedCallback(): void {
    super.connectedCallback();
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

  private async load(): Promise<void> {
    try {
      this.dispatch({ type: 'init', result: await this.host.request('init', {}) });
      if (this.state.persisted.templateRef) void this.loadTemplate(this.state.persisted.templateRef);
      if (this.state.persisted.fewShotFile) void this.loadFewShot(this.state.persisted.fewShotFile);
      if (this.state.persisted.datasetFile) void this.loadRow();
      void this.loadDatasets();
      void this.loadTemplates();
      void this.loadSlurmInfo();
    } catch (e) {
      this.dispatch({ type: 'loadFailed', error: errorText(e) });
    }
  }

  dispatch(action: Action): void {
    const before = this.state.persisted;
    this.state = reduce(this.state, action);
    if (this.state.persisted !== before) vscodeApi<Persisted>().setState(this.state.persisted);
    this.requestUpdate();
  }

  /** Runs a host call, showing its error in the panel instead of losing it. */
  private async call<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    this.busy.add(key);
    this.notice = null;
    this.requestUpdate();
    try {
      return await fn();
    } catch (e) {
      this.notice = { kind: 'error', text: errorText(e) };
      return undefined;
    } finally {
      this.busy.delete(key);
      this.requestUpdate();
    }
  }

  private info(text: string): void {
    this.notice = { kind: 'info', text };
    this.requestUpdate();
  }

  // ---------------------------------------------------------------- data loading

  private async loadSlurmInfo(): Promise<void> {
    this.slurmInfo = await this.host.request('slurm.info', {}).catch(() => null);
    this.requestUpdate();
  }

  private async loadTemplates(): Promise<void> {
    this.allTemplates = await this.host.request('templates.list', {}).catch(() => []);
    this.requestUpdate();
  }

  private async loadDatasets(): Promise<void> {
    const list = await this.host.request('datasets.list', {}).catch(() => []);
    this.datasets = list.map((d) => d.file);
    this.requestUpdate();
  }

  private async loadRow(): Promise<void> {
    const file = this.state.persisted.datasetFile;
    if (!file) return;
    const r = await this.call('row', () => this.host.request('datasets.row', { file, index: this.state.persisted.rowIndex }));
    if (r) this.dispatch({ type: 'row', row: r.row, count: r.count });
    this.schedulePreview(0);
  }

  private openTemplate(ref: TemplateRef): void {
    this.dispatch({ type: 'openTemplate', ref });
    void this.loadTemplate(ref);
  }

  private async loadTemplate(ref: TemplateRef): Promise<void> {
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

  private schedulePreview(delay = 300): void {
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

  private async loadFewShot(file: string): Promise<void> {
    const r = await this.call('fewshot', () => this.host.request('fewshot.get', { file }));
    if (r) this.dispatch({ type: 'fewShotLoaded', file: r.file, examples: r.examples, readonly: r.readonly });
  }

  // ---------------------------------------------------------------- render

  override render(): TemplateResult {
    const s = this.state;
    if (!s.loaded) return html`<p class="row"><vscode-progress-ring></vscode-progress-ring> Loading SDG Studio…</p>`;
    if (s.loadError) return html`<div class="toast" role="alert">Could not load: ${s.loadError}</div><vscode-button @click=${() => void this.load()}>Retry</vscode-button>`;
    const selected = Math.max(0, TABS.findIndex((t) => t.id === s.persisted.tab));
    return html`
      ${s.trusted ? nothing : html`<div class="banner" role="status">This workspace is not trusted: you can browse pipelines, templates and runs, but running pipelines and contacting endpoints is disabled.</div>`}
      ${s.hasWorkspace ? nothing : html`<div class="banner" role="status">No folder is open: open a folder to keep workspace pipelines, datasets and runs.</div>`}
      ${this.notice ? html`<div class=${this.notice.kind === 'error' ? 'toast' : 'banner info'} role=${this.notice.kind === 'error' ? 'alert' : 'status'}>${this.notice.text} <vscode-button secondary @click=${() => { this.notice = null; this.requestUpdate(); }}>Dismiss</vscode-button></div>` : nothing}
      <vscode-tabs selected-index=${selected} @vsc-tabs-select=${(e: CustomEvent<{ selectedIndex: number }>) => this.dispatch({ type: 'tab', tab: TABS[e.detail.selectedIndex]?.id ?? 'pipelines' })}>
        ${TABS.map((t) => html`<vscode-tab-header slot="header" id=${`tab-${t.id}`}>${t.label}${t.id === 'runs' && this.activeRuns() ? html` <vscode-badge variant="counter">${this.activeRuns()}</vscode-badge>` : nothing}</vscode-tab-header>`)}
        <vscode-tab-panel>${s.persisted.tab === 'pipelines' ? this.renderPipelines() : nothing}</vscode-tab-panel>
        <vscode-tab-panel>${s.persisted.tab === 'templates' ? this.renderTemplate() : nothing}</vscode-tab-panel>
        <vscode-tab-panel>${s.persisted.tab === 'fewshot' ? this.renderFewShot() : nothing}</vscode-tab-panel>
        <vscode-tab-panel>${s.persisted.tab === 'endpoints' ? this.renderEndpoints() : nothing}</vscode-tab-panel>
        <vscode-tab-panel>${s.persisted.tab === 'runs' ? this.renderRuns() : nothing}</vscode-tab-panel>
        <vscode-tab-panel>${s.persisted.tab === 'slurm' ? this.renderSlurm() : nothing}</vscode-tab-panel>
      </vscode-tabs>
    `;
  }

  private activeRuns(): number {
    return this.state.runs.filter((r) => r.live && (r.status === 'running' || r.status === 'starting' || r.status === 'cancelling')).length;
  }

  private selectedPipeline(): PipelineInfo | undefined {
    return this.state.pipelines.find((p) => p.id === this.state.persisted.pipelineId);
  }

  // ---------------------------------------------------------------- pipelines

  private renderPipelines(): TemplateResult {
    const s = this.state;
    if (!s.features.pipelines) return html`<p class="muted">Pipelines are not available in this build of SDG Studio.</p>`;
    if (s.pipelinesError) return html`<div class="toast" role="alert">Pipelines could not be loaded: ${s.pipelinesError}</div>`;
    if (!s.pipelines.length) return html`<p class="muted">No pipelines found (built-in or under prompts/pipelines/ in the workspace).</p>`;
    const p = this.selectedPipeline();
    const groups: Array<['builtin' | 'workspace', string]> = [['workspace', 'Workspace'], ['builtin', 'Built-in']];
    return html`<div class="layout">
      <div role="listbox" aria-label="Pipelines">
        ${groups.map(([source, label]) => {
          const items = s.pipelines.filter((x) => x.source === source);
          return items.length
            ? html`<h3>${label}</h3>${items.map((x) => html`<div role="option" aria-selected=${x.id === p?.id} class="list-item ${x.id === p?.id ? 'selected' : ''}" data-pipeline=${x.id} @click=${() => this.dispatch({ type: 'selectPipeline', id: x.id })}>${x.name}${x.errors.length ? html` <span class="error">(invalid)</span>` : nothing}</div>`)}`
            : nothing;
        })}
      </div>
      <div>${p ? this.renderPipelineDetail(p) : nothing}</div>
    </div>`;
  }

  private renderPipelineDetail(p: PipelineInfo): TemplateResult {
    const values = paramValues(this.state, p);
    return html`
      <h2>${p.name} <span class="badge">${p.source === 'builtin' ? 'built-in' : 'workspace'}</span></h2>
      <p>${p.description}</p>
      <p class="muted mono"><a href="#" @click=${(e: Event) => { e.preventDefault(); void this.call('open', () => this.host.request('files.open', { file: p.file })); }}>${p.file}</a></p>
      ${p.errors.length ? html`<ul class="issues">${p.errors.map((e) => html`<li>${e}</li>`)}</ul>` : nothing}
      ${p.stages.length ? html`<h3>Stages</h3><ol>${p.stages.map((st) => html`<li><b>${st.name}</b>${st.description ? html` <span class="muted">${st.description}</span>` : nothing}</li>`)}</ol>` : nothing}
      <h3>Parameters</h3>
      ${p.parameters.length ? html`<div class="col">${p.parameters.map((param) => this.renderParam(p, param, values[param.name]))}</div>` : html`<p class="muted">This pipeline has no parameters.</p>`}
      <div class="row">
        <vscode-button secondary @click=${() => this.dispatch({ type: 'resetParams', pipelineId: p.id })}>Reset to defaults</vscode-button>
        <vscode-button @click=${() => this.dispatch({ type: 'tab', tab: 'runs' })} ?disabled=${!this.state.trusted}>Run…</vscode-button>
        ${p.source === 'builtin' ? html`<vscode-button secondary ?disabled=${!this.state.hasWorkspace || this.busy.has('copy')} @click=${() => void this.copyPipeline(p)}>Copy to workspace</vscode-button>` : nothing}
      </div>
      ${p.templates.length ? html`<h3>Templates</h3><ul>${p.templates.map((t) => html`<li><a href="#" @click=${(e: Event) => { e.preventDefault(); this.openTemplate(t); }}>${t.label}</a> <span class="muted mono">${t.file}</span></li>`)}</ul>` : nothing}
      ${p.fewShotSets.length ? html`<h3>Few-shot sets</h3><ul>${p.fewShotSets.map((f) => html`<li><a href="#" @click=${(e: Event) => { e.preventDefault(); this.dispatch({ type: 'openFewShot', file: f }); void this.loadFewShot(f); }}>${f}</a></li>`)}</ul>` : nothing}
    `;
  }

  private renderParam(p: PipelineInfo, param: ParamInfo, value: unknown): TemplateResult {
    const set = (v: unknown) => this.dispatch({ type: 'param', pipelineId: p.id, name: param.name, value: v });
    const label = html`<vscode-label for=${`param-${param.name}`} ?required=${param.required}>${param.name}</vscode-label>`;
    const help = param.description ? html`<vscode-form-helper>${param.description}${param.default !== undefined ? ` (default: ${JSON.stringify(param.default)})` : ''}</vscode-form-helper>` : nothing;
    let input: TemplateResult;
    switch (param.type) {
      case 'boolean':
        input = html`<vscode-checkbox id=${`param-${param.name}`} ?checked=${value === true} @change=${(e: Event) => set((e.target as HTMLInputElement).checked)}>${param.name}</vscode-checkbox>`;
        break;
      case 'enum':
        input = html`<vscode-single-select id=${`param-${param.name}`} .value=${String(value ?? '')} @change=${(e: Event) => set(targetValue(e))}>${(param.options ?? []).map((o) => html`<vscode-option value=${o} ?selected=${o === value}>${o}</vscode-option>`)}</vscode-single-select>`;
        break;
      case 'text':
        input = html`<vscode-textarea class="wide" id=${`param-${param.name}`} rows="4" .value=${String(value ?? '')} @input=${(e: Event) => set(targetValue(e))}></vscode-textarea>`;
        break;
      case 'file':
        input = html`<vscode-single-select id=${`param-${param.name}`} .value=${String(value ?? '')} @change=${(e: Event) => set(targetValue(e))}>
          <vscode-option value="">(none)</vscode-option>
          ${this.datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === value}>${d}</vscode-option>`)}
        </vscode-single-select>`;
        break;
      default:
        input = html`<vscode-textfield id=${`param-${param.name}`} type=${param.type === 'number' || param.type === 'integer' ? 'number' : 'text'} .value=${value === undefined || value === null ? '' : String(value)} @input=${(e: Event) => set(targetValue(e))}></vscode-textfield>`;
    }
    return html`<vscode-form-group variant="vertical">${label}${input}${help}</vscode-form-group>`;
  }

  private async copyPipeline(p: PipelineInfo): Promise<void> {
    const r = await this.call('copy', () => this.host.request('pipelines.copyToWorkspace', { id: p.id }));
    if (r) this.info(`Copied to ${r.file}. The workspace copy is listed under "Workspace" and can be edited.`);
  }

  // ---------------------------------------------------------------- template editor

  private renderTemplate(): TemplateResult {
    const s = this.state;
    const ref = s.persisted.templateRef;
    const p = this.selectedPipeline();
    const own = p?.templates ?? [];
    const refs = [...own, ...this.allTemplates.filter((x) => !own.some((o) => refKey(o) === refKey(x)))];
    const chooser = html`<div class="row">
      <vscode-label>Template</vscode-label>
      <vscode-single-select aria-label="Template" combobox .value=${ref ? refKey(ref) : ''} @change=${(e: Event) => {
        const r = refs.find((x) => refKey(x) === targetValue(e));
        if (r) this.openTemplate(r);
      }}>
        ${ref && !refs.some((x) => refKey(x) === refKey(ref)) ? html`<vscode-option value=${refKey(ref)} selected>${ref.label}</vscode-option>` : nothing}
        ${refs.map((x) => html`<vscode-option value=${refKey(x)} description=${x.file} ?selected=${ref && refKey(x) === refKey(ref)}>${x.label}</vscode-option>`)}
      </vscode-single-select>
    </div>`;
    if (!ref) return html`${chooser}<p class="muted">Pick a template: the selected pipeline's come first, then every template and labeling prompt config.</p>`;
    const t = s.template;
    if (!t) return html`${chooser}<p class="row"><vscode-progress-ring></vscode-progress-ring> Loading ${ref.label}…</p>`;
    const dirty = t.text !== t.saved;
    return html`${chooser}
      <p class="muted mono"><a href="#" @click=${(e: Event) => { e.preventDefault(); void this.call('open', () => this.host.request('files.open', { file: ref.file })); }}>${ref.file}</a>${ref.field.length ? ` › ${ref.field.join('.')}` : ''}${t.readonly ? ' (built-in, read-only: copy the pipeline to the workspace to edit)' : ''}</p>
      <div class="two">
        <div class="col">
          <vscode-textarea class="template" monospace rows="16" aria-label="Template text" ?readonly=${t.readonly} .value=${t.text} @input=${(e: Event) => {
            this.dispatch({ type: 'templateEdit', text: targetValue(e) });
            this.schedulePreview();
          }}></vscode-textarea>
          <div class="row">
            <vscode-button ?disabled=${t.readonly || !dirty || this.busy.has('save')} @click=${() => void this.saveTemplate()}>Save</vscode-button>
            <vscode-button secondary ?disabled=${!dirty} @click=${() => { this.dispatch({ type: 'templateEdit', text: t.saved }); this.schedulePreview(0); }}>Revert</vscode-button>
            ${dirty ? html`<span class="muted">unsaved changes</span>` : nothing}
          </div>
          ${t.errors.length ? html`<ul class="issues">${t.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
          <h3>Placeholders</h3>
          <div class="row">${t.placeholders.length ? t.placeholders.map((n) => html`<span class="badge mono">{{${n}}}</span>`) : html`<span class="muted">none</span>`}</div>
        </div>
        <div class="col">${this.renderPreview()}</div>
      </div>`;
  }

  private renderPreview(): TemplateResult {
    const s = this.state;
    const pv = s.preview;
    return html`
      <h3>Preview</h3>
      <div class="row">
        <vscode-label>Row from</vscode-label>
        <vscode-single-select aria-label="Dataset" .value=${s.persisted.datasetFile ?? ''} @change=${(e: Event) => {
          this.dispatch({ type: 'dataset', file: targetValue(e) || null });
          void this.loadRow();
        }}>
          <vscode-option value="">(no dataset: sample values)</vscode-option>
          ${this.datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === s.persisted.datasetFile}>${d}</vscode-option>`)}
        </vscode-single-select>
        ${s.persisted.datasetFile
          ? html`<vscode-button secondary ?disabled=${s.persisted.rowIndex <= 0} @click=${() => { this.dispatch({ type: 'rowIndex', index: s.persisted.rowIndex - 1 }); void this.loadRow(); }}>‹</vscode-button>
              <span>row ${s.persisted.rowIndex + 1}${s.rowCount ? ` of ${s.rowCount}${s.rowCount >= 1000 ? '+' : ''}` : ''}</span>
              <vscode-button secondary ?disabled=${s.rowCount > 0 && s.persisted.rowIndex + 1 >= s.rowCount} @click=${() => { this.dispatch({ type: 'rowIndex', index: s.persisted.rowIndex + 1 }); void this.loadRow(); }}>›</vscode-button>`
          : nothing}
      </div>
      ${pv?.note ? html`<p class="muted preview-note">${pv.note}</p>` : nothing}
      ${pv?.errors.length ? html`<ul class="issues" aria-label="Preview errors">${pv.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
      ${pv ? pv.messages.map((m) => html`<div class="msg-role">${m.role}</div><pre class="preview-message">${m.content}</pre>`) : html`<p class="muted">Rendering…</p>`}
    `;
  }

  private async saveTemplate(): Promise<void> {
    const ref = this.state.persisted.templateRef;
    const t = this.state.template;
    if (!ref || !t) return;
    const r = await this.call('save', () => this.host.request('template.save', { ref, text: t.text }));
    if (r) {
      this.dispatch({ type: 'templateSaved', errors: r.errors });
      if (!r.errors.length) this.info(`Saved ${ref.file}`);
    }
  }

  // ---------------------------------------------------------------- few-shot

  private renderFewShot(): TemplateResult {
    const s = this.state;
    const sets = [...new Set([...(this.selectedPipeline()?.fewShotSets ?? []), ...(s.template?.fewShotFile ? [s.template.fewShotFile] : []), ...(s.persisted.fewShotFile ? [s.persisted.fewShotFile] : [])])];
    const chooser = html`<div class="row"><vscode-label>Few-shot set</vscode-label>
      <vscode-single-select aria-label="Few-shot set" .value=${s.persisted.fewShotFile ?? ''} @change=${(e: Event) => {
        const f = targetValue(e);
        if (f) {
          this.dispatch({ type: 'openFewShot', file: f });
          void this.loadFewShot(f);
        }
      }}>
        <vscode-option value="">(choose)</vscode-option>
        ${sets.map((f) => html`<vscode-option value=${f} ?selected=${f === s.persisted.fewShotFile}>${f}</vscode-option>`)}
      </vscode-single-select></div>`;
    const fs = s.fewShot;
    if (!s.persisted.fewShotFile) return html`${chooser}<p class="muted">The selected pipeline or template uses no few-shot set.</p>`;
    if (!fs) return html`${chooser}<p class="row"><vscode-progress-ring></vscode-progress-ring> Loading…</p>`;
    const edit = (examples: FewShotExampleData[]) => {
      this.dispatch({ type: 'fewShotEdit', examples });
      this.schedulePreview();
    };
    const dirty = JSON.stringify(fs.examples) !== JSON.stringify(fs.saved);
    const fields = [...new Set([...FEWSHOT_FIELDS, ...fs.examples.flatMap((x) => Object.keys(x))])];
    return html`${chooser}
      <p class="muted mono">${fs.file}${fs.readonly ? ' (built-in, read-only)' : ''}</p>
      <div class="row">
        <vscode-button ?disabled=${fs.readonly || !dirty || this.busy.has('fewsave')} @click=${() => void this.saveFewShot()}>Save</vscode-button>
        <vscode-button secondary ?disabled=${!dirty} @click=${() => edit(fs.saved)}>Revert</vscode-button>
        <vscode-button secondary ?disabled=${fs.readonly} @click=${() => edit([...fs.examples, { problem: '', solution: '' }])}>Add example</vscode-button>
        ${dirty ? html`<span class="muted">unsaved changes</span>` : nothing}
      </div>
      ${fs.errors.length ? html`<ul class="issues">${fs.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
      <div class="card">
        <h3>Import from a JSONL file</h3>
        <div class="row">
          <vscode-single-select aria-label="JSONL to import" .value=${this.importFile} @change=${(e: Event) => { this.importFile = targetValue(e); }}>
            <vscode-option value="">(choose a file)</vscode-option>
            ${this.datasets.map((d) => html`<vscode-option value=${d}>${d}</vscode-option>`)}
          </vscode-single-select>
          <vscode-textfield aria-label="How many" type="number" min="1" max="200" .value=${String(this.importLimit)} @input=${(e: Event) => { this.importLimit = Number(targetValue(e)) || 8; }}></vscode-textfield>
          <vscode-button secondary ?disabled=${fs.readonly || !this.importFile || this.busy.has('import')} @click=${() => void this.importFewShot()}>Import</vscode-button>
        </div>
        <vscode-form-helper>Rows are matched by field name (problem/question, solution, expected_answer/answer…); they are appended as unsaved examples.</vscode-form-helper>
      </div>
      ${fs.examples.map((ex, i) => html`<div class="example">
        <div class="row"><b>Example ${i + 1}</b>
          <vscode-button secondary ?disabled=${fs.readonly || i === 0} @click=${() => edit(moveItem(fs.examples, i, i - 1))} aria-label="Move up">↑</vscode-button>
          <vscode-button secondary ?disabled=${fs.readonly || i === fs.examples.length - 1} @click=${() => edit(moveItem(fs.examples, i, i + 1))} aria-label="Move down">↓</vscode-button>
          <vscode-button secondary ?disabled=${fs.readonly} @click=${() => edit(fs.examples.filter((_, j) => j !== i))}>Delete</vscode-button>
        </div>
        ${fields.filter((f) => f === 'problem' || f === 'solution' || ex[f] !== undefined).map((f) => html`<vscode-form-group variant="vertical">
          <vscode-label>${f}</vscode-label>
          <vscode-textarea monospace rows=${f === 'problem' || f === 'expected_answer' ? 2 : 5} ?readonly=${fs.readonly} .value=${ex[f] ?? ''} @input=${(e: Event) => edit(fs.examples.map((x, j) => (j === i ? { ...x, [f]: targetValue(e) } : x)))}></vscode-textarea>
        </vscode-form-group>`)}
      </div>`)}
    `;
  }

  private async saveFewShot(): Promise<void> {
    const fs = this.state.fewShot;
    if (!fs) return;
    const r = await this.call('fewsave', () => this.host.request('fewshot.save', { file: fs.file, examples: fs.examples }));
    if (r) {
      this.dispatch({ type: 'fewShotSaved', errors: r.errors });
      if (!r.errors.length) this.info(`Saved ${fs.file}`);
    }
  }

  private async importFewShot(): Promise<void> {
    const fs = this.state.fewShot;
    if (!fs || !this.importFile) return;
    const r = await this.call('import', () => this.host.request('fewshot.import', { file: this.importFile, limit: Math.min(200, Math.max(1, Math.floor(this.importLimit))) }));
    if (r) {
      this.dispatch({ type: 'fewShotEdit', examples: [...fs.examples, ...r.examples] });
      this.info(`Imported ${r.examples.length} example(s)${r.skipped ? `, skipped ${r.skipped} row(s) without a problem` : ''}. Review them and Save.`);
      this.schedulePreview();
    }
  }

  // ---------------------------------------------------------------- endpoints

  private renderEndpoints(): TemplateResult {
    const s = this.state;
    const form = this.endpointForm;
    return html`
      <div class="row">
        <vscode-button @click=${() => { this.endpointForm = { name: '', baseUrl: 'http://127.0.0.1:8000/v1', model: '', apiKind: 'chat', serversText: 'http://127.0.0.1:8000/v1' }; this.requestUpdate(); }}>Add endpoint</vscode-button>
        <span class="muted">Endpoints are kept in the sdg.endpoints setting; API keys in VS Code's secret storage.</span>
      </div>
      ${form ? this.renderEndpointForm(form) : nothing}
      ${s.endpoints.length ? nothing : html`<p class="muted">No endpoints yet.</p>`}
      ${s.endpoints.map(({ profile, hasKey }) => {
        const test = this.endpointTests.get(profile.name);
        return html`<div class="card endpoint" data-endpoint=${profile.name}>
          <div class="row"><b>${profile.name}</b> <span class="badge">${profile.apiKind}${profile.formatter ? ` / ${profile.formatter}` : ''}</span> ${profile.preset ? html`<span class="badge">${profile.preset}</span>` : nothing}
            <span class="grow"></span>
            <vscode-button secondary ?disabled=${!s.trusted || test === 'testing'} @click=${() => void this.testEndpoint(profile.name)}>Test</vscode-button>
            <vscode-button secondary @click=${() => { this.endpointForm = { ...profile, previousName: profile.name, serversText: formatServerLines(profile) }; this.requestUpdate(); }}>Edit</vscode-button>
            <vscode-button secondary @click=${() => void this.removeEndpoint(profile.name)}>Remove</vscode-button>
          </div>
          <div class="mono muted">${profile.servers?.length ? `pool of ${profile.servers.length} servers` : profile.baseUrl} · ${profile.model} · ${hasKey ? 'key stored' : 'no key'}</div>
          ${profile.servers?.length ? html`<ul class="pool-servers">${profile.servers.map((srv) => {
            const st = test && test !== 'testing' ? test.servers?.find((x) => x.baseUrl === srv.baseUrl) : undefined;
            return html`<li class="mono" data-server=${srv.baseUrl}>${srv.baseUrl}${srv.weight !== undefined ? ` · weight ${srv.weight}` : ''}${srv.maxConcurrency !== undefined ? ` · max ${srv.maxConcurrency}` : ''}${st ? html` <span class=${st.ok ? 'ok' : 'error'}>${st.ok ? `${st.latencyMs} ms` : st.error}</span>` : nothing}</li>`;
          })}</ul>` : nothing}
          ${test === 'testing' ? html`<div class="row"><vscode-progress-ring></vscode-progress-ring> testing…</div>` : nothing}
          ${test && test !== 'testing'
            ? test.ok
              ? html`<div class="ok endpoint-test">Reachable in ${test.latencyMs} ms. Models: ${test.models.length ? test.models.join(', ') : '(the server lists none)'}</div>`
              : html`<div class="error endpoint-test">${test.error}</div>`
            : nothing}
        </div>`;
      })}
    `;
  }

  private renderEndpointForm(form: EndpointFormState): TemplateResult {
    const set = (patch: Partial<EndpointFormState>) => {
      this.endpointForm = { ...form, ...patch };
      this.requestUpdate();
    };
    const num = (v: string) => (v.trim() ? Number(v) : undefined);
    return html`<div class="card">
      <h3>${form.previousName ? `Edit ${form.previousName}` : 'New endpoint'}</h3>
      <div class="col">
        <vscode-form-group variant="vertical"><vscode-label required>Name</vscode-label><vscode-textfield aria-label="Name" .value=${form.name} @input=${(e: Event) => set({ name: targetValue(e) })}></vscode-textfield></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label required>Base URL(s)</vscode-label><vscode-textarea class="wide" rows="3" aria-label="Base URLs" .value=${form.serversText} @input=${(e: Event) => set({ serversText: targetValue(e) })}></vscode-textarea><vscode-form-helper>OpenAI-compatible API root, usually ending in /v1. Several servers serving the same model make a pool: one per line, optionally with <span class="mono">weight=2 max=64</span> (share of the traffic, requests in flight on that server).</vscode-form-helper></vscode-form-group>
        ${(() => {
          const parsed = parseServerLines(form.serversText);
          return parsed.problems.length ? html`<ul class="issues servers-issues">${parsed.problems.map((x) => html`<li>${x}</li>`)}</ul>` : parsed.servers ? html`<p class="muted servers-note">A pool of ${parsed.servers.length} server${parsed.servers.length === 1 ? '' : 's'}: each request goes to the least busy healthy one.</p>` : nothing;
        })()}
        <vscode-form-group variant="vertical"><vscode-label required>Model</vscode-label><vscode-textfield aria-label="Model" .value=${form.model} @input=${(e: Event) => set({ model: targetValue(e) })}></vscode-textfield></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label>API</vscode-label>
          <vscode-single-select aria-label="API kind" .value=${form.apiKind} @change=${(e: Event) => set({ apiKind: targetValue(e) as EndpointProfile['apiKind'] })}>
            <vscode-option value="chat" ?selected=${form.apiKind === 'chat'}>chat (chat completions)</vscode-option>
            <vscode-option value="completions" ?selected=${form.apiKind === 'completions'}>completions (raw prompt + formatter)</vscode-option>
          </vscode-single-select></vscode-form-group>
        ${form.apiKind === 'completions'
          ? html`<vscode-form-group variant="vertical"><vscode-label>Conversation formatter</vscode-label>
              <vscode-single-select aria-label="Formatter" .value=${form.formatter ?? ''} @change=${(e: Event) => set({ formatter: (targetValue(e) || undefined) as EndpointProfile['formatter'] })}>
                ${['', 'llama3', 'chatml', 'mixtral', 'llama2', 'nemotron', 'none'].map((f) => html`<vscode-option value=${f} ?selected=${(form.formatter ?? '') === f}>${f || '(choose)'}</vscode-option>`)}
              </vscode-single-select></vscode-form-group>`
          : nothing}
        <vscode-form-group variant="vertical"><vscode-label>Server kind (preset)</vscode-label>
          <vscode-single-select aria-label="Preset" .value=${form.preset ?? ''} @change=${(e: Event) => set({ preset: (targetValue(e) || undefined) as EndpointProfile['preset'] })}>
            ${['', 'vllm', 'sglang', 'tensorrt-llm', 'nim', 'llamacpp', 'ollama', 'nvidia', 'openai', 'custom'].map((x) => html`<vscode-option value=${x} ?selected=${(form.preset ?? '') === x}>${x || '(none)'}</vscode-option>`)}
          </vscode-single-select><vscode-form-helper>Sets sensible defaults (time-out, concurrency, rate limits) for that kind of server.</vscode-form-helper></vscode-form-group>
        <div class="form-grid">
          <vscode-form-group variant="vertical"><vscode-label>Max concurrency</vscode-label><vscode-textfield aria-label="Max concurrency" type="number" min="1" .value=${form.maxConcurrency ? String(form.maxConcurrency) : ''} @input=${(e: Event) => set({ maxConcurrency: num(targetValue(e)) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Requests / minute</vscode-label><vscode-textfield aria-label="Requests per minute" type="number" min="1" .value=${form.requestsPerMinute ? String(form.requestsPerMinute) : ''} @input=${(e: Event) => set({ requestsPerMinute: num(targetValue(e)) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Tokens / minute</vscode-label><vscode-textfield aria-label="Tokens per minute" type="number" min="1" .value=${form.tokensPerMinute ? String(form.tokensPerMinute) : ''} @input=${(e: Event) => set({ tokensPerMinute: num(targetValue(e)) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Time-out (s)</vscode-label><vscode-textfield aria-label="Time-out in seconds" type="number" min="1" .value=${form.timeoutMs ? String(form.timeoutMs / 1000) : ''} @input=${(e: Event) => { const secs = num(targetValue(e)); set({ timeoutMs: secs === undefined ? undefined : Math.round(secs * 1000) }); }}></vscode-textfield></vscode-form-group>
        </div>
        <vscode-form-group variant="vertical"><vscode-label>API key</vscode-label><vscode-textfield aria-label="API key" type="password" placeholder=${form.previousName ? '(unchanged)' : '(none)'} .value=${form.apiKey ?? ''} @input=${(e: Event) => set({ apiKey: targetValue(e) })}></vscode-textfield><vscode-form-helper>Stored in VS Code's secret storage, never in settings.</vscode-form-helper></vscode-form-group>
      </div>
      <div class="row">
        <vscode-button ?disabled=${this.busy.has('epsave')} @click=${() => void this.saveEndpoint(form)}>Save</vscode-button>
        <vscode-button secondary @click=${() => { this.endpointForm = null; this.requestUpdate(); }}>Cancel</vscode-button>
      </div>
    </div>`;
  }

  private async saveEndpoint(form: EndpointFormState): Promise<void> {
    const { apiKey, previousName, serversText, ...profile } = form;
    const parsed = parseServerLines(serversText);
    if (parsed.problems.length) {
      this.notice = { kind: 'error', text: `Base URL(s): ${parsed.problems.join('; ')}` };
      this.requestUpdate();
      return;
    }
    profile.baseUrl = parsed.baseUrl;
    profile.servers = parsed.servers;
    for (const k of Object.keys(profile) as Array<keyof EndpointProfile>) if (profile[k] === undefined || profile[k] === '') delete profile[k];
    const r = await this.call('epsave', () => this.host.request('endpoints.save', { profile, previousName, apiKey: apiKey || undefined }));
    if (r) {
      this.endpointForm = null;
      this.dispatch({ type: 'endpoints', endpoints: r });
    }
  }

  private async removeEndpoint(name: string): Promise<void> {
    const r = await this.call('epremove', () => this.host.request('endpoints.remove', { name }));
    if (r) this.dispatch({ type: 'endpoints', endpoints: r });
  }

  private async testEndpoint(name: string): Promise<void> {
    this.endpointTests.set(name, 'testing');
    this.requestUpdate();
    try {
      this.endpointTests.set(name, await this.host.request('endpoints.test', { name }));
    } catch (e) {
      this.endpointTests.set(name, { ok: false, latencyMs: null, models: [], error: errorText(e) });
    }
    this.requestUpdate();
  }

  // ---------------------------------------------------------------- runs

  private renderRuns(): TemplateResult {
    const s = this.state;
    const mode = s.persisted.runMode;
    return html`
      <div class="card">
        <div class="row">
          <h3 class="grow">New run</h3>
          <vscode-single-select aria-label="Kind of run" .value=${mode} @change=${(e: Event) => this.dispatch({ type: 'runMode', mode: targetValue(e) === 'label' ? 'label' : 'pipeline' })}>
            <vscode-option value="pipeline" ?selected=${mode === 'pipeline'}>Pipeline</vscode-option>
            <vscode-option value="label" ?selected=${mode === 'label'}>Labeling (solutions per problem)</vscode-option>
          </vscode-single-select>
        </div>
        ${mode === 'pipeline' ? this.renderPipelineLaunch() : this.renderLabelLaunch()}
        ${!s.endpoints.length ? html`<p class="warning">Add an endpoint first (Endpoints tab).</p>` : nothing}
        ${!s.trusted ? html`<p class="warning">Running is disabled in an untrusted workspace.</p>` : nothing}
      </div>
      <h3>Runs</h3>
      ${s.runs.length ? s.runs.map((r) => this.renderRun(r)) : html`<p class="muted">No runs yet.</p>`}
    `;
  }

  private renderEndpointAndConcurrency(): TemplateResult {
    const s = this.state;
    return html`
      <vscode-label>Endpoint</vscode-label>
      <vscode-single-select aria-label="Endpoint" .value=${s.persisted.endpoint ?? ''} @change=${(e: Event) => this.dispatch({ type: 'endpoint', name: targetValue(e) || null })}>
        ${s.endpoints.map((x) => html`<vscode-option value=${x.profile.name} ?selected=${x.profile.name === s.persisted.endpoint}>${x.profile.name}</vscode-option>`)}
      </vscode-single-select>
      <vscode-label>Concurrency</vscode-label>
      <vscode-textfield aria-label="Concurrency" type="number" min="1" placeholder=${String(s.defaultConcurrency)} .value=${s.persisted.concurrency ? String(s.persisted.concurrency) : ''} @input=${(e: Event) => this.dispatch({ type: 'concurrency', value: Number(targetValue(e)) || null })}></vscode-textfield>`;
  }

  private renderPipelineLaunch(): TemplateResult {
    const s = this.state;
    const p = this.selectedPipeline();
    const values = p ? paramValues(s, p) : {};
    const problems = p ? paramProblems(p.parameters, values) : [];
    const canRun = s.trusted && !!p && !p.errors.length && !!s.persisted.endpoint && !problems.length && s.features.runs;
    return html`
      <div class="row">
        <vscode-label>Pipeline</vscode-label>
        <vscode-single-select aria-label="Pipeline" .value=${p?.id ?? ''} @change=${(e: Event) => this.dispatch({ type: 'selectPipeline', id: targetValue(e) })}>
          ${s.pipelines.map((x) => html`<vscode-option value=${x.id} ?selected=${x.id === p?.id}>${x.name} (${x.source === 'builtin' ? 'built-in' : 'workspace'})</vscode-option>`)}
        </vscode-single-select>
        ${this.renderEndpointAndConcurrency()}
        <vscode-button ?disabled=${!canRun || this.busy.has('start')} @click=${() => void this.startRun()}>Launch</vscode-button>
      </div>
      ${p && p.parameters.length ? html`<p class="muted">Parameters: ${Object.entries(coerceParams(p.parameters, values)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ') || '(defaults)'} — edit them on the Pipelines tab.</p>` : nothing}
      ${problems.length ? html`<ul class="issues">${problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
    `;
  }

  private renderLabelLaunch(): TemplateResult {
    const s = this.state;
    const f = s.persisted.label;
    const set = (patch: Partial<typeof f>) => this.dispatch({ type: 'label', patch });
    const configs = this.allTemplates.filter((t) => t.field[0] === 'user');
    const { problems, params } = labelRequest(f, s.persisted.endpoint, s.persisted.concurrency);
    const field = (label: string, key: 'numSeeds' | 'numSamples' | 'fewShotCount' | 'limit' | 'temperature' | 'maxTokens', placeholder: string) =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type="number" placeholder=${placeholder} .value=${f[key]} @input=${(e: Event) => set({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    return html`
      <div class="row">
        <vscode-label>Prompt config</vscode-label>
        <vscode-single-select aria-label="Prompt config" .value=${f.prompt} @change=${(e: Event) => set({ prompt: targetValue(e) })}>
          <vscode-option value="">(choose)</vscode-option>
          ${configs.map((c) => html`<vscode-option value=${c.file} ?selected=${c.file === f.prompt}>${c.label.replace(/ \(prompt config\)$/, '')}${c.file.startsWith('builtin:') ? '' : ' (workspace)'}</vscode-option>`)}
        </vscode-single-select>
        <vscode-label>Dataset</vscode-label>
        <vscode-single-select aria-label="Labeling dataset" .value=${f.input} @change=${(e: Event) => set({ input: targetValue(e) })}>
          <vscode-option value="">(choose)</vscode-option>
          ${this.datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === f.input}>${d}</vscode-option>`)}
        </vscode-single-select>
      </div>
      <div class="row">${this.renderEndpointAndConcurrency()}</div>
      <div class="form-grid">
        ${field('Seeds', 'numSeeds', '4')}
        ${field('Samples per request', 'numSamples', '1')}
        ${field('Few-shot examples', 'fewShotCount', 'config')}
        ${field('First rows only', 'limit', 'all')}
        ${field('Temperature', 'temperature', 'config')}
        ${field('Max tokens', 'maxTokens', 'config')}
        <vscode-form-group variant="vertical"><vscode-label>Context</vscode-label>
          <vscode-single-select aria-label="Context type" .value=${f.contextType} @change=${(e: Event) => set({ contextType: targetValue(e) as typeof f.contextType })}>
            ${(['', 'empty', 'reference_solution', 'masked_solution'] as const).map((c) => html`<vscode-option value=${c} ?selected=${c === f.contextType}>${c || '(as in the config)'}</vscode-option>`)}
          </vscode-single-select></vscode-form-group>
      </div>
      <div class="row">
        <vscode-button ?disabled=${!params || !s.trusted || this.busy.has('start')} @click=${() => params && void this.startLabel(params)}>Launch</vscode-button>
        <span class="muted">Each problem gets seeds x samples solutions; the output goes to the runs folder.</span>
      </div>
      ${problems.length ? html`<ul class="issues">${problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
    `;
  }

  private async startLabel(params: LabelParams): Promise<void> {
    const r = await this.call('start', () => this.host.request('runs.label', params));
    if (r) this.dispatch({ type: 'selectRun', dir: r.dir });
  }

  private async startRun(): Promise<void> {
    const s = this.state;
    const p = this.selectedPipeline();
    if (!p || !s.persisted.endpoint) return;
    const r = await this.call('start', () =>
      this.host.request('runs.start', { pipelineId: p.id, endpoint: s.persisted.endpoint!, params: coerceParams(p.parameters, paramValues(s, p)), concurrency: s.persisted.concurrency ?? undefined }),
    );
    if (r) this.dispatch({ type: 'selectRun', dir: r.dir });
  }

  private renderRun(r: RunView): TemplateResult {
    const active = r.status === 'running' || r.status === 'starting' || r.status === 'cancelling';
    const resumable = !active && (r.status === 'interrupted' || r.status === 'cancelled' || r.status === 'failed' || (r.status === 'completed' && r.counts.failed > 0));
    const statusClass = r.status === 'failed' ? 'error' : r.status === 'completed' ? 'ok' : r.status === 'interrupted' || r.status === 'cancelled' ? 'warning' : '';
    return html`<div class="card run" data-run=${r.dir} data-status=${r.status}>
      <div class="row">
        <b>${r.name}</b> <span class="badge">${r.kind}</span> <span class=${`run-status ${statusClass}`}>${r.status}</span>
        <span class="grow"></span>
        ${active ? html`<vscode-button secondary ?disabled=${r.status === 'cancelling' || !r.live} @click=${() => void this.call('cancel', () => this.host.request('runs.cancel', { dir: r.dir }))}>Cancel</vscode-button>` : nothing}
        ${resumable ? html`<vscode-button secondary ?disabled=${!this.state.trusted} @click=${() => void this.call('resume', () => this.host.request('runs.resume', { dir: r.dir }))}>Resume</vscode-button>` : nothing}
        ${r.output ? html`<vscode-button secondary @click=${() => void this.call('open', () => this.host.request('runs.openOutput', { dir: r.dir }))}>Open output</vscode-button>` : nothing}
      </div>
      ${this.renderBar('overall', r.counts)}
      <div class="stats">
        ${r.currentStage && active ? html`<div><div class="stat-label">stage</div><span class="mono">${r.currentStage}</span></div>` : nothing}
        <div><div class="stat-label">done / total</div>${compactNumber(r.counts.done)} / ${r.counts.total === null ? '?' : compactNumber(r.counts.total)}</div>
        <div><div class="stat-label">failed</div><span class=${r.counts.failed ? 'error' : ''}>${compactNumber(r.counts.failed)}</span></div>
        <div><div class="stat-label">requests/s</div><span class="rps">${r.throughput.requestsPerSec.toFixed(1)}</span></div>
        <div><div class="stat-label">tokens/s</div>${compactNumber(r.throughput.tokensPerSec)}</div>
        <div><div class="stat-label">tokens (prompt / completion)</div>${compactNumber(r.tokens.prompt)} / ${compactNumber(r.tokens.completion)}</div>
        <div><div class="stat-label">ETA</div>${active ? formatDuration(r.etaSeconds) : '-'}</div>
      </div>
      ${r.stages.length ? html`<div class="col">${r.stages.map((st) => html`<div class="row"><span class="mono">${st.name}</span> <span class="muted">${st.status}</span> <span class="grow">${this.renderBar(st.name, st.counts)}</span> <span>${compactNumber(st.counts.done)}${st.counts.total !== null ? ` / ${compactNumber(st.counts.total)}` : ''}${st.counts.failed ? html` <span class="error">(${st.counts.failed} failed)</span>` : nothing}</span></div>`)}</div>` : nothing}
      ${r.servers?.length ? this.renderServers(r.servers, active) : nothing}
      ${r.error ? html`<div class="error run-error">${r.error}</div>` : nothing}
      ${r.recentErrors.length ? html`<vscode-collapsible title=${`Recent errors (${r.counts.failed} failed item${r.counts.failed === 1 ? '' : 's'})`} open><ul class="recent-errors">${r.recentErrors.map((m) => html`<li class="mono">${m}</li>`)}</ul></vscode-collapsible>` : nothing}
      <div class="muted mono">${r.dir}</div>
    </div>`;
  }

  // ---------------------------------------------------------------- slurm

  private renderSlurm(): TemplateResult {
    const s = this.state;
    const info = this.slurmInfo;
    const form = s.persisted.slurm;
    const c = form.cluster;
    const j = form.job;
    const setC = (patch: Partial<ClusterForm>) => this.dispatch({ type: 'slurmCluster', patch });
    const setJ = (patch: Partial<SlurmJobForm>) => this.dispatch({ type: 'slurmJob', patch });
    const saved = info?.clusters.find((x) => x.name === c.name.trim());
    const configs = this.allTemplates.filter((t) => t.field[0] === 'user');
    const { problems, params } = slurmJobRequest(form);
    const cluster = clusterRequest(c);
    const busy = this.busy.has('slurm');
    const ctext = (label: string, key: 'partition' | 'account' | 'qos' | 'time' | 'mem' | 'containerImage', placeholder = '') =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} placeholder=${placeholder} .value=${c[key]} @input=${(e: Event) => setC({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    const cnum = (label: string, key: 'gpusPerNode' | 'nodesPerTask' | 'cpusPerTask' | 'serverTimeout' | 'maxParallel' | 'continuations', placeholder = '') =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type="number" min="0" placeholder=${placeholder} .value=${c[key]} @input=${(e: Event) => setC({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    const jnum = (label: string, key: 'numSeeds' | 'numSamples' | 'seedsPerTask' | 'numChunks' | 'limit' | 'temperature' | 'maxTokens', placeholder = '') =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type="number" placeholder=${placeholder} .value=${j[key]} @input=${(e: Event) => setJ({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    const tasks = params ? taskCount(params.numSeeds, params.seedsPerTask, params.numChunks) : null;
    return html`
      ${s.trusted ? nothing : html`<div class="banner slurm-untrusted" role="status">Slurm jobs are disabled in an untrusted workspace.</div>`}
      ${info && !info.sbatch ? html`<div class="banner sbatch-missing" role="status">sbatch is not on the PATH of the VS Code extension host, so jobs cannot be submitted from this window. Open the folder in VS Code running on a Slurm login node (for example with Remote - SSH); <i>Preview scripts</i> works anyway and shows the equivalent <span class="mono">sdg slurm generate</span> command.</div>` : nothing}
      <div class="card">
        <div class="row">
          <h3 class="grow">Cluster profile</h3>
          ${info?.clusters.length
            ? html`<vscode-single-select aria-label="Saved cluster profiles" .value=${saved?.name ?? ''} @change=${(e: Event) => {
                const pick = info.clusters.find((x) => x.name === targetValue(e));
                if (pick?.settings) setC(clusterFormOf(pick.name, pick.settings));
                else if (pick) setC({ name: pick.name });
              }}>
                <vscode-option value="">(new)</vscode-option>
                ${info.clusters.map((x) => html`<vscode-option value=${x.name} ?selected=${x.name === saved?.name}>${x.name}${x.error ? ' (invalid)' : ''}</vscode-option>`)}
              </vscode-single-select>`
            : nothing}
        </div>
        ${saved?.error ? html`<div class="error cluster-error mono">${saved.error}</div>` : nothing}
        <div class="form-grid">
          <vscode-form-group variant="vertical"><vscode-label required>Name</vscode-label><vscode-textfield aria-label="Cluster name" .value=${c.name} @input=${(e: Event) => setC({ name: targetValue(e) })}></vscode-textfield><vscode-form-helper class="mono">.sdg/clusters/${c.name.trim() || '…'}.yaml</vscode-form-helper></vscode-form-group>
          ${ctext('Partition', 'partition', 'gpu')}
          ${ctext('Account', 'account')}
          ${ctext('QOS', 'qos')}
          ${ctext('Time limit per task', 'time', '04:00:00')}
          ${cnum('GPUs per node', 'gpusPerNode', '8')}
          ${cnum('Nodes per task', 'nodesPerTask', '1')}
          ${cnum('CPUs per task', 'cpusPerTask')}
          ${ctext('Memory', 'mem', '0 (all)')}
          ${cnum('Tasks at once', 'maxParallel', 'all')}
          ${cnum('Continuations', 'continuations', '0')}
          ${cnum('Server time-out (s)', 'serverTimeout', '1800')}
          ${ctext('Container image', 'containerImage', 'nvcr.io#nvidia/vllm:24.10')}
        </div>
        <vscode-form-group variant="vertical"><vscode-label>Setup lines (shell, one per line)</vscode-label><vscode-textarea class="wide" rows="3" aria-label="Setup lines" placeholder="module load cuda/12.4 nodejs/20" .value=${c.setup} @input=${(e: Event) => setC({ setup: targetValue(e) })}></vscode-textarea><vscode-form-helper>Run first in every job: modules, a virtualenv…</vscode-form-helper></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label>Server command</vscode-label><vscode-textfield class="wide" aria-label="Server command" .value=${c.serverCommand} @input=${(e: Event) => setC({ serverCommand: targetValue(e) })}></vscode-textfield><vscode-form-helper>Starts a model server per array task; <span class="mono">{model}</span>, <span class="mono">{port}</span>, <span class="mono">{gpus}</span> are filled in. Leave empty to use the servers of an endpoint instead.</vscode-form-helper></vscode-form-group>
        <vscode-form-group variant="vertical"><vscode-label>Extra sbatch options (one per line)</vscode-label><vscode-textarea class="wide" rows="2" aria-label="Extra sbatch options" placeholder="--exclusive" .value=${c.sbatchArgs} @input=${(e: Event) => setC({ sbatchArgs: targetValue(e) })}></vscode-textarea></vscode-form-group>
        <vscode-checkbox aria-label="Requeue" ?checked=${c.requeue} @change=${(e: Event) => setC({ requeue: (e.target as HTMLInputElement).checked })}>Requeue preempted tasks</vscode-checkbox>
        <div class="row">
          <vscode-button secondary ?disabled=${!s.trusted || !cluster.settings || busy || !s.hasWorkspace} @click=${() => void this.saveCluster()}>Save profile</vscode-button>
          ${cluster.problems.length ? html`<ul class="issues cluster-issues">${cluster.problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
        </div>
      </div>
      <div class="card">
        <h3>Labeling job</h3>
        <div class="row">
          <vscode-label>Prompt config</vscode-label>
          <vscode-single-select aria-label="Slurm prompt config" .value=${j.prompt} @change=${(e: Event) => setJ({ prompt: targetValue(e) })}>
            <vscode-option value="">(choose)</vscode-option>
            ${configs.map((x) => html`<vscode-option value=${x.file} ?selected=${x.file === j.prompt}>${x.label.replace(/ \(prompt config\)$/, '')}${x.file.startsWith('builtin:') ? '' : ' (workspace)'}</vscode-option>`)}
          </vscode-single-select>
          <vscode-label>Dataset</vscode-label>
          <vscode-single-select aria-label="Slurm dataset" .value=${j.input} @change=${(e: Event) => setJ({ input: targetValue(e) })}>
            <vscode-option value="">(choose)</vscode-option>
            ${this.datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === j.input}>${d}</vscode-option>`)}
          </vscode-single-select>
        </div>
        <div class="form-grid">
          <vscode-form-group variant="vertical"><vscode-label>Model</vscode-label><vscode-textfield aria-label="Slurm model" placeholder=${c.serverCommand.trim() ? 'Qwen/Qwen2.5-72B-Instruct' : "(the endpoint's)"} .value=${j.model} @input=${(e: Event) => setJ({ model: targetValue(e) })}></vscode-textfield></vscode-form-group>
          <vscode-form-group variant="vertical"><vscode-label>Endpoint</vscode-label>
            <vscode-single-select aria-label="Slurm endpoint" .value=${j.endpoint} ?disabled=${!!c.serverCommand.trim()} @change=${(e: Event) => setJ({ endpoint: targetValue(e) })}>
              <vscode-option value="">${c.serverCommand.trim() ? '(a server per task)' : '(choose)'}</vscode-option>
              ${s.endpoints.map((x) => html`<vscode-option value=${x.profile.name} ?selected=${x.profile.name === j.endpoint}>${x.profile.name}${x.profile.servers?.length ? ` (${x.profile.servers.length} servers)` : ''}</vscode-option>`)}
            </vscode-single-select></vscode-form-group>
          ${jnum('Seeds', 'numSeeds', '8')}
          ${jnum('Samples per request', 'numSamples', '4')}
          ${jnum('Seeds per task', 'seedsPerTask', 'all')}
          ${jnum('Chunks', 'numChunks', '4')}
          ${jnum('First rows only', 'limit', 'all')}
          ${jnum('Temperature', 'temperature', 'config')}
          ${jnum('Max tokens', 'maxTokens', 'config')}
        </div>
        <vscode-form-group variant="vertical"><vscode-label>sdg on the nodes</vscode-label><vscode-textfield class="wide" aria-label="sdg on the nodes" placeholder=${info?.defaultSdgCommand ?? 'sdg'} .value=${j.sdgCommand} @input=${(e: Event) => setJ({ sdgCommand: targetValue(e) })}></vscode-textfield><vscode-form-helper>How the jobs start sdg (default: this extension's CLI with node; the path must exist on the compute nodes).</vscode-form-helper></vscode-form-group>
        <div class="row">
          <vscode-button secondary ?disabled=${!params || !s.trusted || busy} @click=${() => void this.slurmAction('preview')}>Preview scripts</vscode-button>
          <vscode-button ?disabled=${!params || !s.trusted || busy || !info?.sbatch} @click=${() => void this.slurmAction('submit')}>Submit</vscode-button>
          ${tasks !== null ? html`<span class="muted task-count">${tasks} array task${tasks === 1 ? '' : 's'} (seed ranges x chunks) + merge job</span>` : nothing}
        </div>
        ${problems.length ? html`<ul class="issues slurm-issues">${problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
      </div>
      ${this.slurmSubmitted ? html`<div class="banner info slurm-submitted" role="status">Submitted: array <b class="mono">${this.slurmSubmitted.arrayJobId}</b>${this.slurmSubmitted.continuationJobIds.map((id) => html`, continuation <b class="mono">${id}</b>`)}, merge <b class="mono">${this.slurmSubmitted.mergeJobId}</b>. Output: <span class="mono">${this.slurmSubmitted.output}</span>; scripts and logs in <span class="mono">${this.slurmSubmitted.scriptDir}</span>.</div>` : nothing}
      ${this.slurmPreview ? this.renderSlurmPreview(this.slurmPreview) : nothing}
    `;
  }

  private renderSlurmPreview(p: SlurmPreview): TemplateResult {
    return html`<div class="card slurm-preview">
      <h3>Scripts</h3>
      ${p.notes.map((n) => html`<p class="warning slurm-note">${n}</p>`)}
      <p>${p.tasks} array task${p.tasks === 1 ? '' : 's'}${p.continuations ? `, ${p.continuations} continuation array${p.continuations === 1 ? '' : 's'}` : ''}, then a merge job into <span class="mono">${p.output}</span>.</p>
      <vscode-label>From a terminal</vscode-label>
      <pre class="script cli-command">${p.cliCommand}</pre>
      <vscode-label class="mono">${p.arrayScriptPath}</vscode-label>
      <pre class="script array-script">${p.arrayScript}</pre>
      <vscode-label class="mono">${p.mergeScriptPath}</vscode-label>
      <pre class="script merge-script">${p.mergeScript}</pre>
    </div>`;
  }

  private async saveCluster(): Promise<boolean> {
    const { name, settings, problems } = clusterRequest(this.state.persisted.slurm.cluster);
    if (!settings) {
      this.notice = { kind: 'error', text: problems.join('; ') };
      this.requestUpdate();
      return false;
    }
    const info = await this.call('slurm', () => this.host.request('slurm.saveCluster', { name, settings }));
    if (!info) return false;
    this.slurmInfo = info;
    const saved = info.clusters.find((x) => x.name === name);
    if (saved?.error) {
      this.notice = { kind: 'error', text: saved.error };
      return false;
    }
    return true;
  }

  /** Saves the profile (preview and submit read it from its file, as the CLI would), then previews or submits. */
  private async slurmAction(kind: 'preview' | 'submit'): Promise<void> {
    const { params } = slurmJobRequest(this.state.persisted.slurm);
    if (!params || !(await this.saveCluster())) return;
    if (kind === 'preview') {
      const r = await this.call('slurm', () => this.host.request('slurm.preview', params));
      if (r) this.slurmPreview = r;
    } else {
      const r = await this.call('slurm', () => this.host.request('slurm.submit', params));
      if (r) {
        this.slurmSubmitted = r;
        this.info(`Submitted Slurm job ${r.arrayJobId} (merge ${r.mergeJobId}).`);
      }
    }
    this.requestUpdate();
  }

  /** One row per server of the run's endpoint pool (ProgressEvent.servers). */
  private renderServers(servers: ServerStats[], active: boolean): TemplateResult {
    const healthy = servers.filter((x) => x.healthy).length;
    return html`<vscode-collapsible class="servers" title=${`Servers (${healthy} of ${servers.length} in rotation)`} ?open=${active}>
      <table class="servers-table">
        <thead><tr><th scope="col">server</th><th scope="col">health</th><th scope="col">outstanding</th><th scope="col">done</th><th scope="col">failed</th><th scope="col">latency</th><th scope="col">last error</th></tr></thead>
        <tbody>${servers.map((x) => html`<tr class="server-row" data-server=${x.baseUrl} data-healthy=${String(x.healthy)}>
          <td class="mono">${x.baseUrl}${x.weight !== 1 ? html` <span class="muted">×${x.weight}</span>` : nothing}</td>
          <td class=${x.healthy ? 'ok' : 'error'}>${x.healthy ? 'healthy' : 'out of rotation'}</td>
          <td class="num">${x.outstanding}${x.maxConcurrency !== null ? html`<span class="muted"> / ${x.maxConcurrency}</span>` : nothing}</td>
          <td class="num">${compactNumber(x.done)}</td>
          <td class=${`num ${x.failed ? 'error' : ''}`}>${compactNumber(x.failed)}</td>
          <td class="num">${x.latencyMs === null ? '-' : `${Math.round(x.latencyMs)} ms`}</td>
          <td class="mono muted last-error">${x.lastError ?? ''}</td>
        </tr>`)}</tbody>
      </table>
    </vscode-collapsible>`;
  }

  /** A progress bar drawn with a <progress>-like pair of divs; widths via CSSOM (CSP-safe). */
  private renderBar(label: string, c: RunView['counts']): TemplateResult {
    const total = c.total ?? 0;
    const pct = (n: number) => (total > 0 ? Math.min(100, (n / total) * 100) : 0);
    return html`<div class="bar-track" role="progressbar" aria-label=${`${label} progress`} aria-valuemin="0" aria-valuemax=${total || 100} aria-valuenow=${c.done}>
      <div class="w-done" ${barWidth(pct(c.done))}></div><div class="w-failed" ${barWidth(pct(c.failed))}></div>
    </div>`;
  }
}

// A tiny directive that sets the width through the CSSOM: `style="..."` attributes would be
// blocked by the CSP (no 'unsafe-inline'), CSSOM writes are not.
class BarWidth extends Directive {
  constructor(part: PartInfo) {
    super(part);
    if (part.type !== PartType.ELEMENT) throw new Error('barWidth must be used on an element');
  }
  override update(part: ElementPart, [pct]: [number]): unknown {
    (part.element as HTMLElement).style.width = `${pct.toFixed(2)}%`;
    return this.render(pct);
  }
  render(_pct: number): unknown {
    return nothing;
  }
}
const barWidth = directive(BarWidth);

customElements.define('sdg-studio', SdgStudio);
