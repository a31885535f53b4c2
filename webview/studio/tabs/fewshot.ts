/** The Few-shot tab: edit, reorder and import the examples of a few-shot set. */
import { html, nothing, type TemplateResult } from 'lit';
import { customElement } from 'lit/decorators.js';
import { StudioView } from '../parts/base.js';
import { targetValue } from '../store.js';
import type { FewShotExampleData } from '../../../src/protocol/studio.js';
import { moveItem } from '../logic/state.js';

const FEWSHOT_FIELDS = ['problem', 'solution', 'expected_answer', 'reference_solution', 'masked_solution'];

@customElement('sdg-fewshot-tab')
export class SdgFewShotTab extends StudioView {
  override render(): TemplateResult {
    const s = this.state;
    // The sets the selected pipeline or template uses first, then every other set.
    const used = new Set([...(this.selectedPipeline()?.fewShotSets ?? []), ...(s.template?.fewShotFile ? [s.template.fewShotFile] : [])]);
    const sets = [...new Set([...used, ...(s.persisted.fewShotFile ? [s.persisted.fewShotFile] : []), ...this.store.fewShotSets.map((x) => x.file)])];
    const describe = (f: string) => (used.has(f) ? 'used by the selection' : f.startsWith('builtin:') ? 'built-in' : 'workspace');
    const chooser = html`<div class="row"><vscode-label>Few-shot set</vscode-label>
      <vscode-single-select aria-label="Few-shot set" .value=${s.persisted.fewShotFile ?? ''} @change=${(e: Event) => {
        const f = targetValue(e);
        if (f) {
          this.dispatch({ type: 'openFewShot', file: f });
          void this.store.loadFewShot(f);
        }
      }}>
        <vscode-option value="">(choose)</vscode-option>
        ${sets.map((f) => html`<vscode-option value=${f} description=${describe(f)} ?selected=${f === s.persisted.fewShotFile}>${f}</vscode-option>`)}
      </vscode-single-select></div>`;
    const fs = s.fewShot;
    if (!s.persisted.fewShotFile) return html`${chooser}<p class="muted">${used.size ? 'Pick a set: the ones the selected pipeline or template uses come first.' : 'The selected pipeline or template uses no few-shot set; pick any set to edit it.'}</p>`;
    if (!fs) return html`${chooser}<p class="row"><vscode-progress-ring></vscode-progress-ring> Loading…</p>`;
    const edit = (examples: FewShotExampleData[]) => {
      this.dispatch({ type: 'fewShotEdit', examples });
      this.store.schedulePreview();
    };
    const dirty = JSON.stringify(fs.examples) !== JSON.stringify(fs.saved);
    const fields = [...new Set([...FEWSHOT_FIELDS, ...fs.examples.flatMap((x) => Object.keys(x))])];
    return html`${chooser}
      <p class="muted mono">${fs.file}${fs.readonly ? ' (built-in, read-only)' : ''}</p>
      <div class="row">
        <vscode-button ?disabled=${fs.readonly || !dirty || this.busy.has('fewsave')} @click=${() => void this.saveFewShot()}>Save</vscode-button>
        <vscode-button secondary ?disabled=${!dirty} @click=${() => edit(fs.saved)}>Revert</vscode-button>
        <vscode-button secondary ?disabled=${fs.readonly} @click=${() => edit([...fs.examples, { problem: '', solution: '' }])}>Add example</vscode-button>
        ${dirty ? html`<span class="muted">unsaved changes</span>` : nothing}
      </div>
      ${fs.errors.length ? html`<ul class="issues">${fs.errors.map((e) => html`<li>${e.line ? `line ${e.line}: ` : ''}${e.field ? `${e.field}: ` : ''}${e.message}</li>`)}</ul>` : nothing}
      <div class="card">
        <h3>Import from a JSONL file</h3>
        <div class="row">
          <vscode-single-select aria-label="JSONL to import" .value=${this.store.ui.importFile} @change=${(e: Event) => { this.store.ui.importFile = targetValue(e); }}>
            <vscode-option value="">(choose a file)</vscode-option>
            ${this.datasets.map((d) => html`<vscode-option value=${d}>${d}</vscode-option>`)}
          </vscode-single-select>
          <vscode-textfield aria-label="How many" type="number" min="1" max="200" .value=${String(this.store.ui.importLimit)} @input=${(e: Event) => { this.store.ui.importLimit = Number(targetValue(e)) || 8; }}></vscode-textfield>
          <vscode-button secondary ?disabled=${fs.readonly || !this.store.ui.importFile || this.busy.has('import')} @click=${() => void this.importFewShot()}>Import</vscode-button>
        </div>
        <vscode-form-helper>Rows are matched by field name (problem/question, solution, expected_answer/answer…); they are appended as unsaved examples.</vscode-form-helper>
      </div>
      ${fs.examples.map((ex, i) => html`<div class="example">
        <div class="row"><b>Example ${i + 1}</b>
          <vscode-button secondary ?disabled=${fs.readonly || i === 0} @click=${() => edit(moveItem(fs.examples, i, i - 1))} aria-label="Move up">↑</vscode-button>
          <vscode-button secondary ?disabled=${fs.readonly || i === fs.examples.length - 1} @click=${() => edit(moveItem(fs.examples, i, i + 1))} aria-label="Move down">↓</vscode-button>
          <vscode-button secondary ?disabled=${fs.readonly} @click=${() => edit(fs.examples.filter((_, j) => j !== i))}>Delete</vscode-button>
        </div>
        ${fields.filter((f) => f === 'problem' || f === 'solution' || ex[f] !== undefined).map((f) => html`<vscode-form-group variant="vertical">
          <vscode-label>${f}</vscode-label>
          <vscode-textarea monospace rows=${f === 'problem' || f === 'expected_answer' ? 2 : 5} ?readonly=${fs.readonly} .value=${ex[f] ?? ''} @input=${(e: Event) => edit(fs.examples.map((x, j) => (j === i ? { ...x, [f]: targetValue(e) } : x)))}></vscode-textarea>
        </vscode-form-group>`)}
      </div>`)}
    `;
  }

  private async saveFewShot(): Promise<void> {
    const fs = this.state.fewShot;
    if (!fs) return;
    const r = await this.call('fewsave', () => this.host.request('fewshot.save', { file: fs.file, examples: fs.examples }));
    if (r) {
      this.dispatch({ type: 'fewShotSaved', errors: r.errors });
      if (!r.errors.length) this.info(`Saved ${fs.file}`);
    }
  }

  private async importFewShot(): Promise<void> {
    const fs = this.state.fewShot;
    if (!fs || !this.store.ui.importFile) return;
    const r = await this.call('import', () => this.host.request('fewshot.import', { file: this.store.ui.importFile, limit: Math.min(200, Math.max(1, Math.floor(this.store.ui.importLimit))) }));
    if (r) {
      this.dispatch({ type: 'fewShotEdit', examples: [...fs.examples, ...r.examples] });
      this.info(`Imported ${r.examples.length} example(s)${r.skipped ? `, skipped ${r.skipped} row(s) without a problem` : ''}. Review them and Save.`);
      this.store.schedulePreview();
    }
  }
}
