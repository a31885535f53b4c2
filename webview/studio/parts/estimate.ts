/** The launch estimate card (src/core/estimate via `runs.estimate`): figures, and a confirmation above the threshold. */
import { html, nothing, type TemplateResult } from 'lit';
import type { StudioStore } from '../store.js';

export function renderEstimate(store: StudioStore): TemplateResult | typeof nothing {
  const e = store.ui.estimate;
  if (!e) return nothing;
  const { result } = e;
  const requests = result.requests;
  const waiting = result.confirm && !e.launched && !e.only;
  const dismiss = () => {
    store.ui.estimate = null;
    store.changed();
  };
  return html`<div class=${`card estimate ${waiting ? 'banner' : ''}`} data-confirm=${String(waiting)}>
    <h3>Estimate${e.launched ? ' (launched)' : ''}</h3>
    <ul class="estimate-lines">${result.lines.map((l) => html`<li class="mono">${l}</li>`)}</ul>
    ${waiting
      ? html`<p class="warning confirm-text">This launch sends ${requests === null ? 'an unknown number of' : `${result.estimate ? '' : 'at least '}${requests.toLocaleString('en-US')}`} requests, more than ${result.threshold.toLocaleString('en-US')} (setting <span class="mono">sdg.confirmLaunchAboveRequests</span>). Launch it?</p>
          <div class="row">
            <vscode-button class="confirm-launch" ?disabled=${!store.state.trusted || store.busy.has('start')} @click=${() => e.launch()}>Launch ${requests === null ? '' : requests.toLocaleString('en-US')} requests</vscode-button>
            <vscode-button secondary @click=${dismiss}>Cancel</vscode-button>
          </div>`
      : html`<vscode-button secondary @click=${dismiss}>Dismiss</vscode-button>`}
  </div>`;
}
