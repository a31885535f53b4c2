/**
 * <sdg-template-preview>: the webview beside a template or prompt config open in the editor. It
 * follows the editor's unsaved text (`preview.text` from the host) and renders the prompt with
 * the engine (`template.preview`) for a row of a workspace dataset, like the Studio's preview.
 */
import { LitElement, html, nothing, type TemplateResult } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { MessageChannel } from '../../src/protocol/ipc.js';
import type { PreviewResult, StudioHostNotifications, StudioRequests, TemplateRef } from '../../src/protocol/studio.js';
import { connectToHost, vscodeApi } from '../common/vscodeApi.js';
import { studioStyles } from './styles.js';

type Host = MessageChannel<Record<string, never>, StudioRequests, StudioHostNotifications, Record<string, never>>;
interface Saved {
  datasetFile?: string;
  rowIndex?: number;
}

@customElement('sdg-template-preview')
export class SdgTemplatePreview extends LitElement {
  static override styles = studioStyles;
  private host!: Host;
  private ref: TemplateRef | null = null;
  private text = '';
  private row: Record<string, unknown> | undefined;
  @state() private datasets: string[] = [];
  @state() private saved: Saved = vscodeApi<Saved>().getState() ?? {};
  @state() private result: PreviewResult | null = null;
  @state() private rowCount = 0;
  @state() private error = '';

  override connectedCallback(): void {
    super.connectedCallback();
    this.host = connectToHost<StudioRequests, StudioHostNotifications>();
    this.host.on('preview.text', ({ ref, text }) => {
      this.ref = ref;
      this.text = text;
      void this.render_();
    });
    void this.host.request('datasets.list', {}).then((l) => (this.datasets = l.filter((d) => d.group !== 'run').map((d) => d.file)), () => undefined);
    if (this.saved.datasetFile) void this.loadRow();
  }

  private save(patch: Saved): void {
    this.saved = { ...this.saved, ...patch };
    vscodeApi<Saved>().setState(this.saved);
  }

  private async loadRow(): Promise<void> {
    const file = this.saved.datasetFile;
    if (!file) {
      this.row = undefined;
      return void this.render_();
    }
    try {
      const r = await this.host.request('datasets.row', { file, index: this.saved.rowIndex ?? 0 });
      this.row = r.row ?? undefined;
      this.rowCount = r.count;
      this.error = '';
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
    }
    await this.render_();
  }

  private async render_(): Promise<void> {
    if (!this.ref) return;
    try {
      this.result = await this.host.request('template.preview', { ref: this.ref, text: this.text, row: this.row });
    } catch (e) {
      this.result = { messages: [], placeholders: [], errors: [{ message: e instanceof Error ? e.message : String(e) }] };
    }
  }

  override render(): TemplateResult {
    const r = this.result;
    const index = this.saved.rowIndex ?? 0;
    return html`
      <div class="row">
        <span class="muted">Row from</span>
        <vscode-single-select aria-label="Preview dataset" .value=${this.saved.datasetFile ?? ''} @change=${(e: Event) => { this.save({ datasetFile: (e.target as HTMLInputElement).value || undefined, rowIndex: 0 }); void this.loadRow(); }}>
          <vscode-option value="">(no dataset: sample values)</vscode-option>
          ${this.datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === this.saved.datasetFile}>${d}</vscode-option>`)}
        </vscode-single-select>
        ${this.saved.datasetFile
          ? html`<vscode-button secondary ?disabled=${index <= 0} @click=${() => { this.save({ rowIndex: index - 1 }); void this.loadRow(); }}>‹</vscode-button>
              <span>row ${index + 1}${this.rowCount ? ` of ${this.rowCount}` : ''}</span>
              <vscode-button secondary ?disabled=${this.rowCount > 0 && index + 1 >= this.rowCount} @click=${() => { this.save({ rowIndex: index + 1 }); void this.loadRow(); }}>›</vscode-button>`
          : nothing}
      </div>
      ${this.error ? html`<div class="error">${this.error}</div>` : nothing}
      ${r?.note ? html`<p class="muted preview-note">${r.note}</p>` : nothing}
      ${r?.errors.length ? html`<ul class="issues">${r.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
      ${r ? r.messages.map((m) => html`<div class="msg-role">${m.role}</div><pre class="preview-message">${m.content}</pre>`) : html`<p class="muted">Rendering…</p>`}
    `;
  }
}
