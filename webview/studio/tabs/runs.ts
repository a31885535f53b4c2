/** The Run tab: launch a pipeline or labeling run, and every run with its progress. */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import '../parts/datasetPicker.js';
import { targetValue } from '../store.js';
import type { LabelParams, RunView } from '../../../src/shared/protocol/studio.js';
import { compactNumber, formatDuration } from '../../shared/theme.js';
import { coerceParams, labelRequest, paramProblems, paramValues } from '../logic/state.js';
import { renderBar, renderServers } from '../parts/bars.js';

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
      ${renderBar('overall', r.counts)}
      <div class="stats">
        ${r.currentStage && active ? html`<div><div class="stat-label">stage</div><span class="mono">${r.currentStage}</span></div>` : nothing}
        <div><div class="stat-label">done / total</div>${compactNumber(r.counts.done)} / ${r.counts.total === null ? '?' : compactNumber(r.counts.total)}</div>
        <div><div class="stat-label">failed</div><span class=${r.counts.failed ? 'error' : ''}>${compactNumber(r.counts.failed)}</span></div>
        <div><div class="stat-label">requests/s</div><span class="rps">${r.throughput.requestsPerSec.toFixed(1)}</span></div>
        <div><div class="stat-label">tokens/s</div>${compactNumber(r.throughput.tokensPerSec)}</div>
        <div><div class="stat-label">tokens (prompt / completion)</div>${compactNumber(r.tokens.prompt)} / ${compactNumber(r.tokens.completion)}</div>
        <div><div class="stat-label">ETA</div>${active ? formatDuration(r.etaSeconds) : '-'}</div>
      </div>
      ${r.stages.length ? html`<div class="col">${r.stages.map((st) => html`<div class="row"><span class="mono">${st.name}</span> <span class="muted">${st.status}</span> <span class="grow">${renderBar(st.name, st.counts)}</span> <span>${compactNumber(st.counts.done)}${st.counts.total !== null ? ` / ${compactNumber(st.counts.total)}` : ''}${st.counts.failed ? html` <span class="error">(${st.counts.failed} failed)</span>` : nothing}</span></div>`)}</div>` : nothing}
      ${r.servers?.length ? renderServers(r.servers, active) : nothing}
      ${r.error ? html`<div class="error run-error">${r.error}</div>` : nothing}
      ${r.recentErrors.length ? html`<vscode-collapsible title=${`Recent errors (${r.counts.failed} failed item${r.counts.failed === 1 ? '' : 's'})`} open><ul class="recent-errors">${r.recentErrors.map((m) => html`<li class="mono">${m}</li>`)}</ul></vscode-collapsible>` : nothing}
      <div class="muted mono">${r.dir}</div>
    </div>`;
  }
}
