/**
 * <sdg-dataset-picker>: the workspace's JSONL datasets in a list, run outputs and stage files
 * apart in a collapsed group (so they never bury the datasets), and "Browse…" (VS Code's open
 * dialog). Fires `pick` with the chosen workspace-relative path ('' for none).
 */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { targetValue } from '../store.js';
import { StudioView } from './base.js';

@customElement('sdg-dataset-picker')
export class SdgDatasetPicker extends StudioView {
  @property() value = '';
  /** aria-label of the list. */
  @property() label = 'Dataset';
  /** Text of the empty choice. */
  @property() none = '(choose)';

  private pick(file: string): void {
    this.dispatchEvent(new CustomEvent('pick', { detail: file, bubbles: true, composed: true }));
  }

  private async browse(): Promise<void> {
    const r = await this.call('browse', () => this.host.request('datasets.browse', {}));
    if (r?.file) this.pick(r.file);
  }

  override render(): TemplateResult {
    const datasets = this.datasets;
    const runFiles = this.store.runFiles;
    const known = datasets.includes(this.value);
    return html`<div class="row">
        <vscode-single-select aria-label=${this.label} .value=${this.value} @change=${(e: Event) => this.pick(targetValue(e))}>
          <vscode-option value="" ?selected=${!this.value}>${this.none}</vscode-option>
          ${datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === this.value}>${d}</vscode-option>`)}
          ${this.value && !known ? html`<vscode-option value=${this.value} selected>${this.value}</vscode-option>` : nothing}
        </vscode-single-select>
        <vscode-button secondary class="browse" aria-label=${`Browse for ${this.label}`} ?disabled=${this.busy.has('browse')} @click=${() => void this.browse()}>Browse…</vscode-button>
      </div>
      ${runFiles.length
        ? html`<vscode-collapsible class="run-files" title=${`Run outputs and stage files (${runFiles.length})`}>
            <ul class="run-file-list">${runFiles.map((f) => html`<li><a href="#" class="mono" @click=${(e: Event) => { e.preventDefault(); this.pick(f); }}>${f}</a></li>`)}</ul>
          </vscode-collapsible>`
        : nothing}`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'sdg-dataset-picker': SdgDatasetPicker;
  }
}
