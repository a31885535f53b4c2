/** The Template tab: a template or prompt config, its placeholders and a live preview on a real row. */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import '../parts/tryRows.js';
import { targetValue } from '../store.js';
import { refKey } from '../logic/state.js';

@customElement('sdg-template-tab')
export class SdgTemplateTab extends StudioView {
  override render(): TemplateResult {
    const s = this.state;
    const ref = s.persisted.templateRef;
    const p = this.selectedPipeline();
    const own = p?.templates ?? [];
    const refs = [...own, ...this.store.allTemplates.filter((x) => !own.some((o) => refKey(o) === refKey(x)))];
    const chooser = html`<div class="row">
      <vscode-label>Template</vscode-label>
      <vscode-single-select aria-label="Template" combobox .value=${ref ? refKey(ref) : ''} @change=${(e: Event) => {
        const r = refs.find((x) => refKey(x) === targetValue(e));
        if (r) this.store.openTemplate(r);
      }}>
        <vscode-option value="" ?selected=${!ref}>(choose a template)</vscode-option>
        ${ref && !refs.some((x) => refKey(x) === refKey(ref)) ? html`<vscode-option value=${refKey(ref)} selected>${ref.label}</vscode-option>` : nothing}
        ${refs.map((x) => html`<vscode-option value=${refKey(x)} description=${x.file} ?selected=${ref && refKey(x) === refKey(ref)}>${x.label}</vscode-option>`)}
      </vscode-single-select>
    </div>`;
    if (!ref) return html`${chooser}<p class="muted">Pick a template: the selected pipeline's come first, then every template and labeling prompt config.</p>`;
    const t = s.template;
    if (!t) return html`${chooser}<p class="row"><vscode-progress-ring></vscode-progress-ring> Loading ${ref.label}…</p>`;
    const dirty = t.text !== t.saved;
    return html`${chooser}
      <p class="muted mono"><a href="#" @click=${(e: Event) => { e.preventDefault(); void this.call('open', () => this.host.request('files.open', { file: ref.file })); }}>${ref.file}</a>${ref.field.length ? ` › ${ref.field.join('.')}` : ''}${t.readonly ? ' (built-in, read-only: copy the pipeline to the workspace to edit)' : ''}</p>
      <div class="two">
        <div class="col">
          <vscode-textarea class="template" monospace rows="16" aria-label="Template text" ?readonly=${t.readonly} .value=${t.text} @input=${(e: Event) => {
            this.dispatch({ type: 'templateEdit', text: targetValue(e) });
            this.store.schedulePreview();
          }}></vscode-textarea>
          <div class="row">
            <vscode-button ?disabled=${t.readonly || !dirty || this.busy.has('save')} @click=${() => void this.saveTemplate()}>Save</vscode-button>
            <vscode-button secondary ?disabled=${!dirty} @click=${() => { this.dispatch({ type: 'templateEdit', text: t.saved }); this.store.schedulePreview(0); }}>Revert</vscode-button>
            ${dirty ? html`<span class="muted">unsaved changes</span>` : nothing}
          </div>
          ${t.errors.length ? html`<ul class="issues">${t.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
          <h3>Placeholders</h3>
          <div class="row">${t.placeholders.length ? t.placeholders.map((n) => html`<span class="badge mono">{{${n}}}</span>`) : html`<span class="muted">none</span>`}</div>
        </div>
        <div class="col">${this.renderPreview()}</div>
      </div>
      <sdg-try-rows .store=${this.store}></sdg-try-rows>`;
  }

  private renderPreview(): TemplateResult {
    const s = this.state;
    const pv = s.preview;
    return html`
      <h3>Preview</h3>
      <div class="row">
        <vscode-label>Row from</vscode-label>
        <vscode-single-select aria-label="Dataset" .value=${s.persisted.datasetFile ?? ''} @change=${(e: Event) => {
          this.dispatch({ type: 'dataset', file: targetValue(e) || null });
          void this.store.loadRow();
        }}>
          <vscode-option value="">(no dataset: sample values)</vscode-option>
          ${this.datasets.map((d) => html`<vscode-option value=${d} ?selected=${d === s.persisted.datasetFile}>${d}</vscode-option>`)}
        </vscode-single-select>
        ${s.persisted.datasetFile
          ? html`<vscode-button secondary ?disabled=${s.persisted.rowIndex <= 0} @click=${() => { this.dispatch({ type: 'rowIndex', index: s.persisted.rowIndex - 1 }); void this.store.loadRow(); }}>‹</vscode-button>
              <span>row ${s.persisted.rowIndex + 1}${s.rowCount ? ` of ${s.rowCount}${s.rowCount >= 1000 ? '+' : ''}` : ''}</span>
              <vscode-button secondary ?disabled=${s.rowCount > 0 && s.persisted.rowIndex + 1 >= s.rowCount} @click=${() => { this.dispatch({ type: 'rowIndex', index: s.persisted.rowIndex + 1 }); void this.store.loadRow(); }}>›</vscode-button>`
          : nothing}
      </div>
      ${pv?.note ? html`<p class="muted preview-note">${pv.note}</p>` : nothing}
      ${pv?.errors.length ? html`<ul class="issues" aria-label="Preview errors">${pv.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
      ${pv ? pv.messages.map((m) => html`<div class="msg-role">${m.role}</div><pre class="preview-message">${m.content}</pre>`) : html`<p class="muted">Rendering…</p>`}
    `;
  }

  private async saveTemplate(): Promise<void> {
    const ref = this.state.persisted.templateRef;
    const t = this.state.template;
    if (!ref || !t) return;
    const r = await this.call('save', () => this.host.request('template.save', { ref, text: t.text }));
    if (r) {
      this.dispatch({ type: 'templateSaved', errors: r.errors });
      if (!r.errors.length) this.info(`Saved ${ref.file}`);
    }
  }
}
