/** The Run tab: launch a pipeline or labeling run, and every run with its progress. */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import '../parts/datasetPicker.js';
import { errorText, targetValue } from '../store.js';
import type { LabelParams, LaunchEstimate } from '../../../src/protocol/studio.js';
import { coerceParams, isCodePrompt, labelRequest, paramProblems, paramValues } from '../logic/state.js';
import '../parts/runCard.js';
import '../parts/compare.js';
import { renderEstimate } from '../parts/estimate.js';

@customElement('sdg-runs-tab')
export class SdgRunsTab extends StudioView {
  override render(): TemplateResult {
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
      <sdg-compare-runs .store=${this.store}></sdg-compare-runs>
      <h3>Runs</h3>
      ${s.runs.length ? s.runs.map((r) => html`<sdg-run-card .store=${this.store} .run=${r}></sdg-run-card>`) : html`<p class="muted">No runs yet.</p>`}
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
      ${renderEstimate(this.store)}
    `;
  }

  private renderLabelLaunch(): TemplateResult {
    const s = this.state;
    const f = s.persisted.label;
    const set = (patch: Partial<typeof f>) => this.dispatch({ type: 'label', patch });
    const configs = this.store.allTemplates.filter((t) => t.field[0] === 'user');
    const { problems, params } = labelRequest(f, s.persisted.endpoint, s.persisted.concurrency);
    const field = (label: string, key: 'numSeeds' | 'numSamples' | 'fewShotCount' | 'limit' | 'temperature' | 'maxTokens', placeholder: string) =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type=${key === 'temperature' ? 'text' : 'number'} placeholder=${placeholder} .value=${f[key]} @input=${(e: Event) => set({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    return html`
      <div class="row">
        <vscode-label>Prompt config</vscode-label>
        <vscode-single-select aria-label="Prompt config" .value=${f.prompt} @change=${(e: Event) => set({ prompt: targetValue(e) })}>
          <vscode-option value="">(choose)</vscode-option>
          ${configs.map((c) => html`<vscode-option value=${c.file} ?selected=${c.file === f.prompt}>${c.label.replace(/ \(prompt config\)$/, '')}${c.file.startsWith('builtin:') ? '' : ' (workspace)'}</vscode-option>`)}
        </vscode-single-select>
        <vscode-label>Dataset</vscode-label>
        <sdg-dataset-picker .store=${this.store} label="Labeling dataset" .value=${f.input} @pick=${(e: CustomEvent<string>) => set({ input: e.detail })}></sdg-dataset-picker>
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
      ${isCodePrompt(f.prompt) ? this.renderCodeMode() : nothing}
      <div class="row">
        <vscode-button ?disabled=${!params || !s.trusted || this.busy.has('start')} @click=${() => params && void this.startLabel(params)}>Launch</vscode-button>
        <vscode-button secondary ?disabled=${!params || this.busy.has('estimate')} @click=${() => params && void this.estimateOnly(params)}>Estimate</vscode-button>
        <span class="muted">Each problem gets seeds x samples solutions; the output goes to the runs folder.</span>
      </div>
      ${renderEstimate(this.store)}
      ${problems.length ? html`<ul class="issues">${problems.map((x) => html`<li>${x}</li>`)}</ul>` : nothing}
    `;
  }

  /** Estimate first; above the threshold (setting) the launch waits for a confirmation. */
  private async startLabel(params: LabelParams, confirmed = false): Promise<void> {
    if (!confirmed) {
      const est = await this.call('start', () => this.host.request('runs.estimate', params));
      if (!est) return;
      this.store.ui.estimate = { result: est, launch: () => void this.startLabel(params, true) };
      this.store.changed();
      if (est.confirm) return;
    }
    this.store.ui.estimate = this.store.ui.estimate && { ...this.store.ui.estimate, launched: true };
    const r = await this.call('start', () => this.host.request('runs.label', params));
    if (r) this.dispatch({ type: 'selectRun', dir: r.dir });
  }

  /** Code mode: where the solutions' Python blocks run, and their limits (issue 16). */
  private renderCodeMode(): TemplateResult {
    const f = this.state.persisted.label;
    const set = (patch: Partial<typeof f>) => this.dispatch({ type: 'label', patch });
    const remote = f.codeSandbox === 'remote';
    const num = (label: string, key: 'maxExecutions' | 'codeTimeout' | 'memoryMb', placeholder: string) =>
      html`<vscode-form-group variant="vertical"><vscode-label>${label}</vscode-label><vscode-textfield aria-label=${label} type=${key === 'codeTimeout' ? 'text' : 'number'} placeholder=${placeholder} .value=${f[key] ?? ''} @input=${(e: Event) => set({ [key]: targetValue(e) })}></vscode-textfield></vscode-form-group>`;
    return html`<div class="card code-mode">
      <h3>Code execution</h3>
      <p class="muted">This prompt config writes Python blocks; each is run and its output placed in the solution before the model goes on (docs/generate.md).</p>
      <div class="form-grid">
        <vscode-form-group variant="vertical"><vscode-label>Sandbox</vscode-label>
          <vscode-single-select aria-label="Sandbox" .value=${remote ? 'remote' : 'local'} @change=${(e: Event) => set({ codeSandbox: targetValue(e) === 'remote' ? 'remote' : 'local' })}>
            <vscode-option value="local" ?selected=${!remote}>local python3 (this machine)</vscode-option>
            <vscode-option value="remote" ?selected=${remote}>remote sandbox server</vscode-option>
          </vscode-single-select></vscode-form-group>
        ${remote ? html`<vscode-form-group variant="vertical"><vscode-label>Sandbox URL</vscode-label><vscode-textfield aria-label="Sandbox URL" placeholder="http://sandbox:6000" .value=${f.sandboxUrl ?? ''} @input=${(e: Event) => set({ sandboxUrl: targetValue(e) })}></vscode-textfield></vscode-form-group>` : nothing}
        ${num('Max executions per solution', 'maxExecutions', 'config')}
        ${num('Time-out per block (s)', 'codeTimeout', 'config')}
        ${remote ? nothing : num('Memory limit (MiB)', 'memoryMb', '2048')}
      </div>
      <vscode-form-helper>${remote ? 'A NeMo-Skills-compatible server (POST /execute).' : 'Local workers: a wall-clock and memory limit per block, no network where the OS allows it, a temporary folder per solution. Not a security boundary against hostile code.'}</vscode-form-helper>
    </div>`;
  }

  private async estimateOnly(params: LabelParams): Promise<void> {
    const est = await this.call('estimate', () => this.host.request('runs.estimate', params));
    if (est) {
      this.store.ui.estimate = { result: est, launch: () => void this.startLabel(params, true), launched: false, only: true };
      this.store.changed();
    }
  }

  /** Estimate first (a lower bound of requests); above the threshold the launch waits for a confirmation. */
  private async startRun(confirmed = false): Promise<void> {
    const s = this.state;
    const p = this.selectedPipeline();
    if (!p || !s.persisted.endpoint) return;
    const params = coerceParams(p.parameters, paramValues(s, p));
    if (!confirmed) {
      // A pipeline's estimate is a lower bound; if it cannot be made, the launch goes on (and says why).
      let est: LaunchEstimate | undefined;
      try {
        est = await this.host.request('runs.estimatePipeline', { pipelineId: p.id, params });
      } catch (e) {
        this.store.ui.estimate = null;
        this.info(`No estimate: ${errorText(e)}`);
      }
      if (est) {
        this.store.ui.estimate = { result: est, launch: () => void this.startRun(true) };
        this.store.changed();
        if (est.confirm) return;
      }
    }
    this.store.ui.estimate = this.store.ui.estimate && { ...this.store.ui.estimate, launched: true };
    const r = await this.call('start', () => this.host.request('runs.start', { pipelineId: p.id, endpoint: s.persisted.endpoint!, params, concurrency: s.persisted.concurrency ?? undefined }));
    if (r) this.dispatch({ type: 'selectRun', dir: r.dir });
  }
}
