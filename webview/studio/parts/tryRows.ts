/**
 * <sdg-try-rows>: "Try on N rows" under the template preview: the template as edited, rendered
 * for N rows of the chosen dataset (from the row shown), sent to an endpoint with the job's
 * parameters; the answers side by side with their prompt, tokens and latency, graded for
 * labeling prompt configs.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import type { TryResult } from '../../../src/protocol/studio.js';
import { targetValue } from '../store.js';
import { studioStyles } from '../styles.js';
import { StudioView } from './base.js';

@customElement('sdg-try-rows')
export class SdgTryRows extends StudioView {
  static override styles = [...studioStyles, css`
    .answers { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 8px; }
    .answer pre.response { max-height: 320px; overflow: auto; }
  `];
  private count = 3;
  private temperature = '';
  private maxTokens = '';
  private results: TryResult[] | null = null;

  private async run(): Promise<void> {
    const s = this.state;
    const ref = s.persisted.templateRef;
    const t = s.template;
    const file = s.persisted.datasetFile;
    const endpoint = s.persisted.endpoint;
    if (!ref || !t || !file || !endpoint) return;
    const fs = s.fewShot;
    const fewShot = fs && t.fewShotFile && fs.file === t.fewShotFile ? fs.examples : undefined;
    const start = s.persisted.rowIndex;
    const indices = Array.from({ length: Math.max(1, Math.min(8, this.count)) }, (_, i) => start + i).filter((i) => !s.rowCount || i < s.rowCount);
    const temperature = this.temperature.trim() ? Number(this.temperature) : undefined;
    const maxTokens = this.maxTokens.trim() ? Number(this.maxTokens) : undefined;
    this.results = null;
    const r = await this.call('try', () => this.host.request('template.try', { ref, text: t.text, fewShot, file, indices, endpoint, temperature, maxTokens }));
    if (r) this.results = r;
    this.requestUpdate();
  }

  override render(): TemplateResult {
    const s = this.state;
    const file = s.persisted.datasetFile;
    const busy = this.busy.has('try');
    const why = !s.trusted ? 'Trying prompts on an endpoint is disabled in an untrusted workspace.' : !file ? 'Choose a dataset under "Row from" first.' : !s.endpoints.length ? 'Add an endpoint first.' : '';
    return html`<div class="card try-rows">
      <h3>Try it</h3>
      <div class="row">
        <vscode-single-select aria-label="Try endpoint" .value=${s.persisted.endpoint ?? ''} @change=${(e: Event) => this.dispatch({ type: 'endpoint', name: targetValue(e) || null })}>
          ${s.endpoints.map((x) => html`<vscode-option value=${x.profile.name} ?selected=${x.profile.name === s.persisted.endpoint}>${x.profile.name}</vscode-option>`)}
        </vscode-single-select>
        <vscode-textfield aria-label="Rows to try" type="number" min="1" max="8" .value=${String(this.count)} @input=${(e: Event) => { this.count = Math.max(1, Math.min(8, Number(targetValue(e)) || 1)); this.requestUpdate(); }}></vscode-textfield>
        <vscode-textfield aria-label="Try temperature" placeholder="temperature (job's)" .value=${this.temperature} @input=${(e: Event) => { this.temperature = targetValue(e); }}></vscode-textfield>
        <vscode-textfield aria-label="Try max tokens" type="number" placeholder="max tokens (job's)" .value=${this.maxTokens} @input=${(e: Event) => { this.maxTokens = targetValue(e); }}></vscode-textfield>
        <vscode-button class="try-button" ?disabled=${!!why || busy || !s.persisted.endpoint} @click=${() => void this.run()}>Try on ${this.count} row${this.count === 1 ? '' : 's'}</vscode-button>
        ${busy ? html`<vscode-progress-ring></vscode-progress-ring>` : nothing}
      </div>
      ${why ? html`<p class="muted">${why}</p>` : html`<p class="muted">Rows ${s.persisted.rowIndex + 1}–${s.persisted.rowIndex + this.count} of <span class="mono">${file}</span>, rendered as a run would render them (unsaved edits included).</p>`}
      ${this.results
        ? html`<div class="answers">${this.results.map((r) => html`<div class="card answer" data-row=${r.index}>
            <div class="row"><b>row ${r.index + 1}</b>
              ${r.grade ? html`<span class=${`badge grade ${r.grade.correct ? 'ok' : 'error'}`}>${r.grade.correct ? 'correct' : 'wrong'}</span>` : nothing}
              <span class="muted tokens">${r.promptTokens} + ${r.completionTokens} tokens</span> <span class="muted latency">${r.latencyMs} ms</span>
              ${r.finishReason === 'length' ? html`<span class="warning">cut at max tokens</span>` : nothing}</div>
            ${r.grade ? html`<div class="muted">answer <span class="mono predicted">${r.grade.predicted ?? '(none)'}</span>, expected <span class="mono expected">${r.grade.expected ?? '(none)'}</span></div>` : nothing}
            ${r.error ? html`<div class="error try-error">${r.error}</div>` : html`<pre class="response">${r.text}</pre>`}
            <vscode-collapsible title="Prompt as sent">${r.messages.map((m) => html`<div class="msg-role">${m.role}</div><pre>${m.content}</pre>`)}</vscode-collapsible>
          </div>`)}</div>`
        : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sdg-try-rows': SdgTryRows;
  }
}
