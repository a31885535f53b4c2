/**
 * <sdg-run-card>: one run in the Run tab: a name that tells it apart (what, model @ endpoint,
 * when, key parameters, label), progress per stage, live or average rates, servers, errors,
 * and its actions.
 */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { PostprocessAction, PostprocessResult, RunView } from '../../../src/protocol/studio.js';
import { compactNumber, formatDuration } from '../../common/theme.js';
import { targetValue } from '../store.js';
import { StudioView } from './base.js';
import { renderBar, renderServers } from './bars.js';

/** "pipeline gsm8k_explain · tiny @ local · 14:05 · temperature=0.7 max_tokens=512". */
export function runSubtitle(r: RunView): string {
  const d = r.details;
  const when = r.startedAt ? new Date(r.startedAt) : null;
  const time = when && !Number.isNaN(when.getTime()) ? `${when.toISOString().slice(0, 10)} ${when.toTimeString().slice(0, 5)}` : '';
  if (!d) return time;
  const params = Object.entries(d.params).slice(0, 6).map(([k, v]) => `${k}=${v}`).join(' ');
  return [d.source, d.model || d.endpoint ? `${d.model ?? '?'} @ ${d.endpoint ?? '?'}` : '', time, params].filter(Boolean).join(' · ');
}

@customElement('sdg-run-card')
export class SdgRunCard extends StudioView {
  @property({ attribute: false }) run!: RunView;
  private editingLabel: string | null = null;
  private result: PostprocessResult | null = null;

  private async postprocess(action: PostprocessAction): Promise<void> {
    const r = await this.call(`post-${this.run.dir}`, () => this.host.request('runs.postprocess', { dir: this.run.dir, action }));
    if (r) {
      this.result = r;
      this.requestUpdate();
    }
  }

  private renderGrading(r: RunView, active: boolean): TemplateResult | typeof nothing {
    // Labeling runs write solutions with expected answers: the rows grading, voting and SFT export read.
    if (r.kind !== 'generate' || !r.output || active) return nothing;
    const busy = this.busy.has(`post-${r.dir}`);
    const m = r.metrics;
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    return html`
      <div class="row grading">
        <vscode-button secondary ?disabled=${busy} @click=${() => void this.postprocess('grade')}>Grade</vscode-button>
        <vscode-button secondary ?disabled=${busy} @click=${() => void this.postprocess('metrics')}>Metrics</vscode-button>
        <vscode-button secondary ?disabled=${busy} @click=${() => void this.postprocess('vote')}>Vote</vscode-button>
        <vscode-button secondary ?disabled=${busy || !m} title=${m ? '' : 'Grade first'} @click=${() => void this.postprocess('exportSft')}>Export SFT</vscode-button>
        ${busy ? html`<vscode-progress-ring></vscode-progress-ring>` : nothing}
      </div>
      ${m
        ? html`<div class="stats run-metrics">
            <div><div class="stat-label">accuracy</div><span class="accuracy">${pct(m.accuracy)}</span></div>
            ${m.passAtK !== null ? html`<div><div class="stat-label">pass@${m.k}</div><span class="pass-at-k">${pct(m.passAtK)}</span></div>` : nothing}
            ${m.majAtK !== null ? html`<div><div class="stat-label">maj@${m.k}</div><span class="maj-at-k">${pct(m.majAtK)}</span></div>` : nothing}
            <div><div class="stat-label">problems / samples</div>${m.problems} / ${m.samples}</div>
          </div>`
        : nothing}
      ${this.result
        ? html`<div class="banner info postprocess-result">${this.result.lines.map((l) => html`<div>${l}</div>`)}
            <a href="#" class="mono" @click=${(e: Event) => { e.preventDefault(); void this.call('open', () => this.host.request('runs.openFile', { dir: r.dir, file: this.result!.file })); }}>${this.result.file}</a></div>`
        : nothing}`;
  }

  private async saveLabel(): Promise<void> {
    const label = this.editingLabel ?? '';
    await this.call('label', () => this.host.request('runs.setLabel', { dir: this.run.dir, label }));
    this.editingLabel = null;
    this.requestUpdate();
  }

  override render(): TemplateResult {
    const r = this.run;
    const active = r.status === 'running' || r.status === 'starting' || r.status === 'cancelling';
    const resumable = !active && (r.status === 'interrupted' || r.status === 'cancelled' || r.status === 'failed' || (r.status === 'completed' && r.counts.failed > 0));
    const statusClass = r.status === 'failed' ? 'error' : r.status === 'completed' ? 'ok' : r.status === 'interrupted' || r.status === 'cancelled' ? 'warning' : '';
    const fin = !active ? r.finished : undefined;
    return html`<div class="card run" data-run=${r.dir} data-status=${r.status}>
      <div class="row">
        <b>${r.name}</b> ${r.details?.label ? html`<span class="badge run-label">${r.details.label}</span>` : nothing} <span class="badge">${r.kind}</span> <span class=${`run-status ${statusClass}`}>${r.status}</span>
        <span class="grow"></span>
        ${active ? html`<vscode-button secondary ?disabled=${r.status === 'cancelling' || !r.live} @click=${() => void this.call('cancel', () => this.host.request('runs.cancel', { dir: r.dir }))}>Cancel</vscode-button>` : nothing}
        ${resumable ? html`<vscode-button secondary ?disabled=${!this.state.trusted} @click=${() => void this.call('resume', () => this.host.request('runs.resume', { dir: r.dir }))}>Resume</vscode-button>` : nothing}
        ${r.output ? html`<vscode-button secondary @click=${() => void this.call('open', () => this.host.request('runs.openOutput', { dir: r.dir }))}>Open output</vscode-button>` : nothing}
        <vscode-button secondary aria-label="Label run" @click=${() => { this.editingLabel = r.details?.label ?? ''; this.requestUpdate(); }}>Label…</vscode-button>
      </div>
      <div class="muted run-subtitle">${runSubtitle(r)}</div>
      ${this.editingLabel !== null
        ? html`<div class="row"><vscode-textfield aria-label="Run label" placeholder="e.g. baseline, temp 0.3" .value=${this.editingLabel} @input=${(e: Event) => { this.editingLabel = targetValue(e); }}></vscode-textfield>
            <vscode-button @click=${() => void this.saveLabel()}>Save label</vscode-button>
            <vscode-button secondary @click=${() => { this.editingLabel = null; this.requestUpdate(); }}>Cancel</vscode-button></div>`
        : nothing}
      ${renderBar('overall', r.counts)}
      <div class="stats">
        ${r.currentStage && active ? html`<div><div class="stat-label">stage</div><span class="mono">${r.currentStage}</span></div>` : nothing}
        <div><div class="stat-label">done / total</div>${compactNumber(r.counts.done)} / ${r.counts.total === null ? '?' : compactNumber(r.counts.total)}</div>
        <div><div class="stat-label">failed</div><span class=${r.counts.failed ? 'error' : ''}>${compactNumber(r.counts.failed)}</span></div>
        ${fin
          ? html`<div><div class="stat-label">duration</div><span class="duration">${formatDuration(fin.durationSeconds)}</span></div>
              <div><div class="stat-label">average requests/s</div><span class="rps avg-rps">${fin.requestsPerSec.toFixed(2)}</span></div>
              <div><div class="stat-label">average tokens/s</div><span class="avg-tps">${compactNumber(fin.tokensPerSec)}</span></div>`
          : html`<div><div class="stat-label">requests/s</div><span class="rps">${r.throughput.requestsPerSec.toFixed(1)}</span></div>
              <div><div class="stat-label">tokens/s</div>${compactNumber(r.throughput.tokensPerSec)}</div>`}
        <div><div class="stat-label">tokens (prompt / completion)</div>${compactNumber(r.tokens.prompt)} / ${compactNumber(r.tokens.completion)}</div>
        ${active ? html`<div><div class="stat-label">ETA</div>${formatDuration(r.etaSeconds)}</div>` : nothing}
      </div>
      ${this.renderGrading(r, active)}
      ${r.stages.length ? html`<div class="col">${r.stages.map((st) => html`<div class="row"><span class="mono">${st.name}</span> <span class="muted">${st.status}</span> <span class="grow">${renderBar(st.name, st.counts)}</span> <span>${compactNumber(st.counts.done)}${st.counts.total !== null ? ` / ${compactNumber(st.counts.total)}` : ''}${st.counts.failed ? html` <span class="error">(${st.counts.failed} failed)</span>` : nothing}</span></div>`)}</div>` : nothing}
      ${r.servers?.length ? renderServers(r.servers, active) : nothing}
      ${r.error ? html`<div class="error run-error">${r.error}</div>` : nothing}
      ${r.recentErrors.length ? html`<vscode-collapsible title=${`Recent errors (${r.counts.failed} failed item${r.counts.failed === 1 ? '' : 's'})`} open><ul class="recent-errors">${r.recentErrors.map((m) => html`<li class="mono">${m}</li>`)}</ul></vscode-collapsible>` : nothing}
      <div class="muted mono">${r.dir}</div>
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sdg-run-card': SdgRunCard;
  }
}
