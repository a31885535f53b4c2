/**
 * <sdg-studio>: the Studio panel's root. It owns the store (store.ts: one state object changed
 * only through `reduce`, and the typed host channel), shows the banners and notices, and hosts
 * one component per tab (tabs/*.ts); shared pieces live in parts/.
 */
import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import type { StudioTab } from '../../src/protocol/studio.js';
import { StudioStore } from './store.js';
import { studioStyles } from './styles.js';
import './tabs/endpoints.js';
import './tabs/fewshot.js';
import './tabs/pipelines.js';
import './tabs/runs.js';
import './tabs/slurm.js';
import './tabs/template.js';

const TABS: Array<{ id: StudioTab; label: string }> = [
  { id: 'pipelines', label: 'Pipelines' },
  { id: 'templates', label: 'Template' },
  { id: 'fewshot', label: 'Few-shot' },
  { id: 'endpoints', label: 'Endpoints' },
  { id: 'runs', label: 'Run' },
  { id: 'slurm', label: 'Slurm' },
];

@customElement('sdg-studio')
export class SdgStudio extends LitElement {
  static override styles = [...studioStyles, css`:host { padding: 0 12px 24px; }`];

  readonly store = new StudioStore();

  override connectedCallback(): void {
    super.connectedCallback();
    this.store.subscribe(() => this.requestUpdate());
    this.store.connect();
  }

  private renderTab(tab: StudioTab): TemplateResult | typeof nothing {
    if (this.store.state.persisted.tab !== tab) return nothing;
    const store = this.store;
    switch (tab) {
      case 'pipelines': return html`<sdg-pipelines-tab .store=${store}></sdg-pipelines-tab>`;
      case 'templates': return html`<sdg-template-tab .store=${store}></sdg-template-tab>`;
      case 'fewshot': return html`<sdg-fewshot-tab .store=${store}></sdg-fewshot-tab>`;
      case 'endpoints': return html`<sdg-endpoints-tab .store=${store}></sdg-endpoints-tab>`;
      case 'runs': return html`<sdg-runs-tab .store=${store}></sdg-runs-tab>`;
      case 'slurm': return html`<sdg-slurm-tab .store=${store}></sdg-slurm-tab>`;
    }
  }

  override render(): TemplateResult {
    const store = this.store;
    const s = store.state;
    if (!s.loaded) return html`<p class="row"><vscode-progress-ring></vscode-progress-ring> Loading SDG Studio…</p>`;
    if (s.loadError) return html`<div class="toast" role="alert">Could not load: ${s.loadError}</div><vscode-button @click=${() => void store.load()}>Retry</vscode-button>`;
    const selected = Math.max(0, TABS.findIndex((t) => t.id === s.persisted.tab));
    const active = store.activeRuns();
    const notice = store.notice;
    return html`
      ${s.trusted ? nothing : html`<div class="banner" role="status">This workspace is not trusted: you can browse pipelines, templates and runs, but running pipelines and contacting endpoints is disabled.</div>`}
      ${s.hasWorkspace ? nothing : html`<div class="banner" role="status">No folder is open: open a folder to keep workspace pipelines, datasets and runs.</div>`}
      ${notice ? html`<div class=${notice.kind === 'error' ? 'toast' : 'banner info'} role=${notice.kind === 'error' ? 'alert' : 'status'}>${notice.text} <vscode-button secondary @click=${() => { store.notice = null; store.changed(); }}>Dismiss</vscode-button></div>` : nothing}
      <vscode-tabs selected-index=${selected} @vsc-tabs-select=${(e: CustomEvent<{ selectedIndex: number }>) => store.dispatch({ type: 'tab', tab: TABS[e.detail.selectedIndex]?.id ?? 'pipelines' })}>
        ${TABS.map((t) => html`<vscode-tab-header slot="header" id=${`tab-${t.id}`}>${t.label}${t.id === 'runs' && active ? html` <vscode-badge variant="counter">${active}</vscode-badge>` : nothing}</vscode-tab-header>`)}
        ${TABS.map((t) => html`<vscode-tab-panel>${this.renderTab(t.id)}</vscode-tab-panel>`)}
      </vscode-tabs>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sdg-studio': SdgStudio;
  }
}
