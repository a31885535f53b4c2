/**
 * <sdg-compare-runs>: two runs of the same inputs side by side per input (first output, correct
 * samples when graded, mean length), with the parameters that differ between them.
 */
import { css, html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import type { CompareResult, CompareSide, RunView } from '../../../src/protocol/studio.js';
import { targetValue } from '../store.js';
import { studioStyles } from '../styles.js';
import { StudioView } from './base.js';
import { runSubtitle } from './runCard.js';

@customElement('sdg-compare-runs')
export class SdgCompareRuns extends StudioView {
  static override styles = [...studioStyles, css`
    table.compare { border-collapse: collapse; width: 100%; table-layout: fixed; font-size: 12px; }
    table.compare th, table.compare td { border-bottom: 1px solid var(--vscode-panel-border, transparent); padding: 4px 6px; vertical-align: top; text-align: left; }
    table.compare pre { max-height: 160px; overflow: auto; margin: 2px 0; }
    .diff-a { color: var(--vscode-charts-red, var(--vscode-errorForeground)); }
    .diff-b { color: var(--vscode-charts-green, var(--vscode-foreground)); }
  `];
  private a = '';
  private b = '';
  private result: CompareResult | null = null;

  private async compare(): Promise<void> {
    const r = await this.call('compare', () => this.host.request('runs.compare', { a: this.a, b: this.b }));
    if (r) this.result = r;
    this.requestUpdate();
  }

  private side(s: CompareSide | null): TemplateResult {
    if (!s) return html`<span class="muted">(no row)</span>`;
    return html`<div class="muted">${s.samples} sample${s.samples === 1 ? '' : 's'}${s.graded ? html` · <span class=${s.correct ? 'ok' : 'error'}>${s.correct}/${s.graded} correct</span>` : ''} · ${s.meanChars} chars</div><pre>${s.first}</pre>`;
  }

  override render(): TemplateResult {
    const runs = this.state.runs.filter((r) => r.output && r.status !== 'running' && r.status !== 'starting');
    if (runs.length < 2) return html``;
    const label = (r: RunView) => `${r.name}${r.details?.label ? ` [${r.details.label}]` : ''} · ${runSubtitle(r)}`;
    const select = (which: 'a' | 'b') => html`<vscode-single-select aria-label=${`Compare run ${which.toUpperCase()}`} .value=${this[which]} @change=${(e: Event) => { this[which] = targetValue(e); this.requestUpdate(); }}>
        <vscode-option value="">(choose run ${which.toUpperCase()})</vscode-option>
        ${runs.map((r) => html`<vscode-option value=${r.dir} ?selected=${r.dir === this[which]}>${label(r)}</vscode-option>`)}
      </vscode-single-select>`;
    const res = this.result;
    return html`<div class="card compare-runs">
      <h3>Compare runs</h3>
      <div class="row">${select('a')} ${select('b')}
        <vscode-button secondary class="compare-button" ?disabled=${!this.a || !this.b || this.a === this.b || this.busy.has('compare')} @click=${() => void this.compare()}>Compare</vscode-button></div>
      ${res
        ? html`${res.notes.map((n) => html`<p class="warning">${n}</p>`)}
          <h3>Parameters that differ</h3>
          ${res.differences.length
            ? html`<table class="compare differences"><thead><tr><th>parameter</th><th>A</th><th>B</th></tr></thead><tbody>${res.differences.map((d) => html`<tr data-param=${d.name}><td class="mono">${d.name}</td><td class="mono diff-a">${d.a ?? '-'}</td><td class="mono diff-b">${d.b ?? '-'}</td></tr>`)}</tbody></table>`
            : html`<p class="muted">none</p>`}
          <h3>Per input (${res.inputs.length})</h3>
          <table class="compare inputs"><thead><tr><th>input</th><th>A</th><th>B</th></tr></thead>
            <tbody>${res.inputs.map((x) => html`<tr class="compare-row" data-key=${x.key}><td><b>#${x.key}</b> ${x.problem ? html`<div class="muted">${x.problem.slice(0, 300)}</div>` : nothing}</td><td class="side-a">${this.side(x.a)}</td><td class="side-b">${this.side(x.b)}</td></tr>`)}</tbody></table>`
        : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sdg-compare-runs': SdgCompareRuns;
  }
}
