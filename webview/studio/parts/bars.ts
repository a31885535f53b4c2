/** Shared pieces of run views: progress bars (CSP-safe widths) and the per-server table of a pool. */
import { html, nothing, type TemplateResult } from 'lit';
import { Directive, directive, type ElementPart, type PartInfo, PartType } from 'lit/directive.js';
import type { RunView, ServerStats } from '../../../src/protocol/studio.js';
import { compactNumber } from '../../common/theme.js';

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
export const barWidth = directive(BarWidth);

/** A progress bar drawn with a <progress>-like pair of divs. */
export function renderBar(label: string, c: RunView['counts']): TemplateResult {
  const total = c.total ?? 0;
  const pct = (n: number) => (total > 0 ? Math.min(100, (n / total) * 100) : 0);
  return html`<div class="bar-track" role="progressbar" aria-label=${`${label} progress`} aria-valuemin="0" aria-valuemax=${total || 100} aria-valuenow=${c.done}>
    <div class="w-done" ${barWidth(pct(c.done))}></div><div class="w-failed" ${barWidth(pct(c.failed))}></div>
  </div>`;
}

/** One row per server of the run's endpoint pool (ProgressEvent.servers). */
export function renderServers(servers: ServerStats[], active: boolean): TemplateResult {
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

/** Validation issues as a list (`line 3: field: message`). */
export function renderIssues(issues: Array<{ message: string; line?: number; field?: string }>, cls = 'issues', label?: string): TemplateResult | typeof nothing {
  if (!issues.length) return nothing;
  return html`<ul class=${cls} aria-label=${label ?? nothing}>${issues.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>`;
}
