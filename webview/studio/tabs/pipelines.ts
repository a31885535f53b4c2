/** The Pipelines tab: built-in and workspace pipelines, their stages and their parameters as a form. */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import '../parts/datasetPicker.js';
import { targetValue } from '../store.js';
import type { ParamInfo, PipelineInfo } from '../../../src/protocol/studio.js';
import { paramValues } from '../logic/state.js';

@customElement('sdg-pipelines-tab')
export class SdgPipelinesTab extends StudioView {
  override render(): TemplateResult {
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
      ${p.templates.length ? html`<h3>Templates</h3><ul>${p.templates.map((t) => html`<li><a href="#" @click=${(e: Event) => { e.preventDefault(); this.store.openTemplate(t); }}>${t.label}</a> <span class="muted mono">${t.file}</span></li>`)}</ul>` : nothing}
      ${p.fewShotSets.length ? html`<h3>Few-shot sets</h3><ul>${p.fewShotSets.map((f) => html`<li><a href="#" @click=${(e: Event) => { e.preventDefault(); this.dispatch({ type: 'openFewShot', file: f }); void this.store.loadFewShot(f); }}>${f}</a></li>`)}</ul>` : nothing}
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
        input = html`<vscode-textarea class="wide" id=${`param-${param.name}`} rows=${param.dataset ? 2 : 4} .value=${String(value ?? '')} @input=${(e: Event) => set(targetValue(e))}></vscode-textarea>
          ${param.dataset ? html`<sdg-dataset-picker .store=${this.store} label=${`Dataset for ${param.name}`} none="(pick a workspace file)" .value=${''} @pick=${(e: CustomEvent<string>) => e.detail && set(e.detail)}></sdg-dataset-picker>` : nothing}`;
        break;
      case 'file':
        input = html`<sdg-dataset-picker id=${`param-${param.name}`} .store=${this.store} label=${param.name} none="(none)" .value=${String(value ?? '')} @pick=${(e: CustomEvent<string>) => set(e.detail)}></sdg-dataset-picker>`;
        break;
      default:
        // Decimals: a text field (a number input's default step of 1
        // would mark 0.7 invalid); paramProblems checks the value.
        input = param.type === 'integer'
          ? html`<vscode-textfield id=${`param-${param.name}`} type="number" step="1" .value=${value === undefined || value === null ? '' : String(value)} @input=${(e: Event) => set(targetValue(e))}></vscode-textfield>`
          : html`<vscode-textfield id=${`param-${param.name}`} type="text" .value=${value === undefined || value === null ? '' : String(value)} @input=${(e: Event) => set(targetValue(e))}></vscode-textfield>`;
    }
    return html`<vscode-form-group variant="vertical">${label}${input}${help}</vscode-form-group>`;
  }

  private async copyPipeline(p: PipelineInfo): Promise<void> {
    const r = await this.call('copy', () => this.host.request('pipelines.copyToWorkspace', { id: p.id }));
    if (r) this.info(`Copied to ${r.file}. The workspace copy is listed under "Workspace" and can be edited.`);
  }
}
