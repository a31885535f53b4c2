/**
 * The viewer's profile pane: per column its types, missing share, distinct values, length
 * histogram and top values; plots (length of a chosen field, tokens per row, correct share per
 * problem) and, for graded files, accuracy / pass@k / maj@k. The host computes everything in one
 * streaming pass and keeps the result per file version (src/core/viewer/profile.ts); this
 * component only draws it. Plots are SVG built with DOM APIs (no style attributes: strict CSP).
 */
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { ColumnProfile, DatasetMetrics, FileProfile, MetricsResult } from '../../src/protocol/viewer.js';
import type { ViewerChannel } from './rpc.js';

const SVG = 'http://www.w3.org/2000/svg';

/** Bars of a histogram as an SVG element: one rect per bin, height relative to the largest. */
export function barChart(bins: readonly number[], labels: readonly string[], opts: { width: number; height: number; title: string; className?: string }): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${opts.width} ${opts.height}`);
  svg.setAttribute('width', String(opts.width));
  svg.setAttribute('height', String(opts.height));
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', opts.title);
  svg.setAttribute('class', `chart ${opts.className ?? ''}`);
  const max = Math.max(1, ...bins);
  const w = opts.width / Math.max(1, bins.length);
  const labelled = opts.height >= 60;
  const plotH = labelled ? opts.height - 14 : opts.height;
  bins.forEach((n, i) => {
    const h = n === 0 ? 0 : Math.max(1, (n / max) * (plotH - 2));
    const r = document.createElementNS(SVG, 'rect');
    r.setAttribute('x', String(i * w + 1));
    r.setAttribute('y', String(plotH - h));
    r.setAttribute('width', String(Math.max(1, w - 2)));
    r.setAttribute('height', String(h));
    r.setAttribute('class', 'bar');
    const t = document.createElementNS(SVG, 'title');
    t.textContent = `${labels[i]}: ${n.toLocaleString()}`;
    r.appendChild(t);
    svg.appendChild(r);
    if (labelled && (bins.length <= 12 || i % 2 === 0)) {
      const tx = document.createElementNS(SVG, 'text');
      tx.setAttribute('x', String(i * w + w / 2));
      tx.setAttribute('y', String(opts.height - 2));
      tx.setAttribute('text-anchor', 'middle');
      tx.setAttribute('class', 'axis');
      tx.textContent = labels[i].split('–')[0];
      svg.appendChild(tx);
    }
  });
  return svg;
}

function binLabels(edges: readonly number[]): string[] {
  return edges.map((e, i) => (i + 1 < edges.length ? `${short(e)}–${short(edges[i + 1] - 1)}` : `${short(e)}+`));
}

function short(n: number): string {
  return n >= 1000 ? `${n / 1000}k` : String(n);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function typeText(c: ColumnProfile): string {
  return Object.entries(c.types)
    .sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0))
    .map(([t]) => t)
    .join(' | ');
}

@customElement('sdg-column-profile')
export class ColumnProfileView extends LitElement {
  static override styles = css`
    :host { display: block; padding: 6px 8px; max-height: 45vh; overflow: auto; border-bottom: 1px solid var(--vscode-panel-border, transparent); color: var(--vscode-foreground); font-size: var(--vscode-font-size); }
    .bar-line { display: flex; gap: 10px; align-items: center; margin-bottom: 6px; }
    .muted { color: var(--vscode-descriptionForeground); }
    .error { color: var(--vscode-errorForeground); }
    .plots { display: flex; flex-wrap: wrap; gap: 16px; margin: 6px 0; }
    figure { margin: 0; }
    figcaption { margin-bottom: 2px; display: flex; gap: 6px; align-items: center; }
    .chart .bar { fill: var(--vscode-charts-blue, var(--vscode-focusBorder)); }
    .chart.share .bar { fill: var(--vscode-charts-green, var(--vscode-testing-iconPassed)); }
    .chart .bar:hover { fill: var(--vscode-charts-orange, var(--vscode-foreground)); }
    .chart .axis { fill: var(--vscode-descriptionForeground); font-size: 9px; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 2px 8px 2px 0; vertical-align: middle; border-bottom: 1px solid var(--vscode-editorGroup-border, transparent); }
    th { font-weight: 600; }
    td.num { font-variant-numeric: tabular-nums; }
    .top { font-family: var(--vscode-editor-font-family); max-width: 420px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    vscode-single-select { width: 180px; }
  `;

  @property({ attribute: false }) channel: ViewerChannel | undefined;
  /** The file version (generation and size): a change offers a refresh. */
  @property() version = '';
  @property({ type: Boolean }) graded = false;
  @state() private profile: FileProfile | undefined;
  @state() private metrics: MetricsResult | undefined;
  @state() private error = '';
  @state() private lengthField = '';
  @state() private loadedVersion = '';
  @state() private loading = false;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
  }

  async load(): Promise<void> {
    if (!this.channel || this.loading) return;
    this.loading = true;
    this.error = '';
    const version = this.version;
    try {
      const [p, m] = await Promise.all([this.channel.request('profile', {}), this.graded ? this.channel.request('metrics', {}) : Promise.resolve(undefined)]);
      this.profile = p;
      this.metrics = m;
      this.loadedVersion = version;
      if (!this.lengthField || !p.columns.some((c) => c.name === this.lengthField)) {
        // The longest text field by default: that is where lengths tell something.
        const strings = p.columns.filter((c) => (c.types.string ?? 0) > 0);
        this.lengthField = (strings.sort((a, b) => b.length.mean - a.length.mean)[0] ?? p.columns[0])?.name ?? '';
      }
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.loading = false;
    }
  }

  override render(): TemplateResult {
    const p = this.profile;
    // The per-field table comes before the plots: in a short window the pane (45% of the height,
    // scrolling) shows it first; the plots follow.
    return html`<div class="bar-line">
        <strong>Profile</strong>
        ${p ? html`<span class="muted">${p.records.toLocaleString()} records in ${p.lines.toLocaleString()} lines, ${p.columns.length} fields${p.columnsCapped ? ' (first ones)' : ''}</span>` : nothing}
        ${this.loading ? html`<span class="muted">Profiling…</span>` : nothing}
        ${p && !this.loading && this.version !== this.loadedVersion ? html`<vscode-button secondary @click=${() => void this.load()}>Refresh (the file changed)</vscode-button>` : nothing}
        <vscode-button secondary @click=${() => this.dispatchEvent(new CustomEvent('close'))}>Close</vscode-button>
      </div>
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${this.renderMetrics()} ${p ? this.renderColumns(p) : nothing} ${p ? this.renderPlots(p) : nothing}`;
  }

  private renderMetrics(): TemplateResult | typeof nothing {
    const m = this.metrics;
    if (!m) return nothing;
    if (!m.ok) return html`<div class="muted metrics-error">Metrics: ${m.message}</div>`;
    const ks = [...new Set(m.metrics.flatMap((d) => d.ks))].sort((a, b) => a - b);
    const cell = (d: DatasetMetrics, rec: Record<string, number>, k: number): string => (rec[String(k)] === undefined ? '' : pct(rec[String(k)]));
    return html`<table class="metrics" aria-label="Metrics">
      <tr><th>dataset</th><th>problems</th><th>samples</th><th title="share of problems whose first sample (lowest seed) is correct">accuracy</th>${ks.map((k) => html`<th>pass@${k}</th>`)}${ks.map((k) => html`<th>maj@${k}</th>`)}</tr>
      ${m.metrics.map((d) => html`<tr><td>${d.dataset}</td><td class="num">${d.problems}</td><td class="num">${d.samples}</td><td class="num">${pct(d.greedy)}</td>
        ${ks.map((k) => html`<td class="num">${cell(d, d.passAtK, k)}</td>`)}${ks.map((k) => html`<td class="num">${cell(d, d.majAtK, k)}</td>`)}</tr>`)}
    </table>`;
  }

  private renderPlots(p: FileProfile): TemplateResult {
    const labels = binLabels(p.binEdges);
    const col = p.columns.find((c) => c.name === this.lengthField);
    const shareLabels = Array.from({ length: 10 }, (_, i) => (i === 9 ? '90–100%' : `${i * 10}–${i * 10 + 9}%`));
    return html`<div class="plots">
      ${col ? html`<figure class="plot-length">
        <figcaption>Length of
          <vscode-single-select aria-label="Field whose length is plotted" .value=${this.lengthField} @change=${(e: Event) => (this.lengthField = (e.target as HTMLSelectElement).value)}>
            ${p.columns.map((c) => html`<vscode-option value=${c.name}>${c.name}</vscode-option>`)}
          </vscode-single-select>
          <span class="muted">characters, mean ${Math.round(col.length.mean).toLocaleString()}, max ${col.length.max.toLocaleString()}</span></figcaption>
        ${barChart(col.length.bins, labels, { width: 360, height: 90, title: `Length of ${col.name} in characters` })}
      </figure>` : nothing}
      ${p.tokens ? html`<figure class="plot-tokens">
        <figcaption>Tokens per row <span class="muted">(${p.tokens.field}, mean ${Math.round(p.tokens.mean).toLocaleString()}, max ${p.tokens.max.toLocaleString()})</span></figcaption>
        ${barChart(p.tokens.bins, labels, { width: 360, height: 90, title: `Tokens per row (${p.tokens.field})` })}
      </figure>` : nothing}
      ${p.problems ? html`<figure class="plot-share">
        <figcaption>Correct share per problem <span class="muted">(${p.problems.problems.toLocaleString()} problems by ${p.problems.by}${p.problems.capped ? ', first ones' : ''}; ${p.problems.allCorrect} all correct, ${p.problems.noneCorrect} none)</span></figcaption>
        ${barChart(p.problems.bins, shareLabels, { width: 360, height: 90, title: 'Problems by share of correct samples', className: 'share' })}
      </figure>` : nothing}
    </div>`;
  }

  private renderColumns(p: FileProfile): TemplateResult {
    const labels = binLabels(p.binEdges);
    return html`<table class="columns" aria-label="Column profile">
      <tr><th>field</th><th>type</th><th>missing</th><th>distinct</th><th>length</th><th>top values</th></tr>
      ${p.columns.map((c) => html`<tr data-field=${c.name}>
        <td>${c.name}</td>
        <td>${typeText(c)}</td>
        <td class="num">${p.records ? pct(c.missing / p.records) : ''}</td>
        <td class="num">${c.distinctCapped ? `>${c.distinct.toLocaleString()}` : c.distinct.toLocaleString()}</td>
        <td>${barChart(c.length.bins, labels, { width: 110, height: 18, title: `Length of ${c.name}: ${c.length.min}–${c.length.max} characters` })}</td>
        <td class="top" title=${c.top.map((t) => `${t.value} (${t.count})`).join('\n')}>${c.top.map((t) => `${t.value.length > 40 ? t.value.slice(0, 40) + '…' : t.value} (${t.count})`).join(', ')}</td>
      </tr>`)}
    </table>`;
  }
}
