/**
 * <sdg-long-text>: one long value of the detail pane, shown safely and lazily.
 *  - plain text: the first RICH_LIMITS.plainFirstChars characters, the rest on request; long
 *    runs of combining marks are drawn up to 16 and counted beyond;
 *  - Markdown / Markdown + LaTeX (richText.ts): only for values up to RICH_LIMITS.richChars
 *    (longer ones are plain text, with a note), formulas bounded in count, size and nesting.
 *  - code-mode solutions (logic/codeBlocks.ts, when `codeBlocks` is set and the value is within
 *    RICH_LIMITS.richChars): prose as above in the chosen mode, each `<llm-code>` block as
 *    <pre class="code-block">, each `<llm-code-output>` as <pre class="code-output">, with class
 *    `failed` and an "error" badge when the output shows a failed execution. Text nodes only.
 * Light DOM, so viewer.css and KaTeX's CSS apply.
 */
import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { loadRichRenderer, plainParts, RICH_LIMITS, type PlainPart, type RenderMode } from './richText.js';
import { hasCodeBlocks, splitCodeBlocks, type CodeSegment } from './logic/codeBlocks.js';

@customElement('sdg-long-text')
export class LongText extends LitElement {
  @property({ attribute: false }) text = '';
  @property({ attribute: false }) mode: RenderMode = 'text';
  /** Show `<llm-code>` / `<llm-code-output>` blocks as code (string fields; not the raw JSON). */
  @property({ attribute: false }) codeBlocks = false;
  @state() private showAll = false;
  @state() private skippedMath = 0;
  private renderedKey = '';

  protected override createRenderRoot(): HTMLElement {
    return this;
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('text')) this.showAll = false;
  }

  private get rich(): boolean {
    return this.mode !== 'text' && this.text.length <= RICH_LIMITS.richChars;
  }

  /** The value split into prose / code / output, when it has blocks and is small enough. */
  private get segments(): CodeSegment[] | undefined {
    if (!this.codeBlocks || this.text.length > RICH_LIMITS.richChars || !hasCodeBlocks(this.text)) return undefined;
    if (this.segmentsFor !== this.text) {
      this.segmentsFor = this.text;
      this.segmentsCache = splitCodeBlocks(this.text);
    }
    return this.segmentsCache;
  }
  private segmentsFor: string | undefined;
  private segmentsCache: CodeSegment[] = [];

  private renderSegments(segments: CodeSegment[]): TemplateResult {
    const plain = (text: string) => plainParts(text).map((p) => (typeof p === 'string' ? p : html`<span class="elided" title="combining marks not drawn">[${p.elidedMarks.toLocaleString()} more combining marks]</span>`));
    return html`<div class="segments">${segments.map((s, i) => {
      if (s.kind === 'prose') return this.mode === 'text' ? html`<pre class="plain">${plain(s.text)}</pre>` : html`<div class="rich-part"></div>`;
      if (s.kind === 'code') {
        return html`<div class="code-label" aria-hidden="true">python${s.terminated ? '' : ' (no end tag)'}</div><pre class="code-block" aria-label=${`Python code block ${segments.slice(0, i + 1).filter((x) => x.kind === 'code').length}`}>${plain(s.text)}</pre>`;
      }
      const n = segments.slice(0, i + 1).filter((x) => x.kind === 'output').length;
      return html`${s.failed ? html`<div class="code-label failed"><vscode-badge class="bad" title=${`Failed execution: ${s.reason}`}>error</vscode-badge> ${s.reason}</div>` : html`<div class="code-label" aria-hidden="true">output</div>`}<pre class=${s.failed ? 'code-output failed' : 'code-output'} aria-label=${s.failed ? `Output ${n}: failed execution (${s.reason})` : `Output ${n}`}>${plain(s.text)}</pre>`;
    })}</div>${this.skippedMath > 0 ? html`<div class="note">${this.skippedMath.toLocaleString()} formula${this.skippedMath === 1 ? ' is' : 's are'} shown as source: more than ${RICH_LIMITS.mathCount} in this value, or too long or deeply nested to typeset safely (hover for the reason).</div>` : nothing}`;
  }

  override render(): TemplateResult {
    const segments = this.segments;
    if (segments) return this.renderSegments(segments);
    if (this.rich) {
      return html`<div class="rich"></div>${this.skippedMath > 0 ? html`<div class="note">${this.skippedMath.toLocaleString()} formula${this.skippedMath === 1 ? ' is' : 's are'} shown as source: more than ${RICH_LIMITS.mathCount} in this value, or too long or deeply nested to typeset safely (hover for the reason).</div>` : nothing}`;
    }
    const { parts, cut } = this.plainPage();
    return html`${this.mode !== 'text' ? html`<div class="note">${this.text.length.toLocaleString()} characters: shown as plain text (Markdown and LaTeX are rendered for values up to ${RICH_LIMITS.richChars.toLocaleString()} characters).</div>` : nothing}<pre class="plain">${parts.map((p) => (typeof p === 'string' ? p : html`<span class="elided" title="combining marks not drawn">[${p.elidedMarks.toLocaleString()} more combining marks]</span>`))}${cut ? '…' : ''}</pre>${cut ? html`<vscode-button secondary class="show-all" @click=${() => (this.showAll = true)}>Show all ${this.text.length.toLocaleString()} characters</vscode-button>` : nothing}`;
  }

  /** The parts drawn now: up to plainFirstChars drawn characters unless "Show all" was pressed. */
  private plainPage(): { parts: PlainPart[]; cut: boolean } {
    const all = plainParts(this.text);
    if (this.showAll) return { parts: all, cut: false };
    let budget = RICH_LIMITS.plainFirstChars;
    const parts: PlainPart[] = [];
    for (const p of all) {
      if (typeof p !== 'string') {
        parts.push(p);
        continue;
      }
      if (p.length > budget) {
        parts.push(p.slice(0, budget));
        return { parts, cut: true };
      }
      parts.push(p);
      budget -= p.length;
    }
    return { parts, cut: false };
  }

  override updated(): void {
    const segments = this.segments;
    const key = this.rich ? `${segments ? 'code' : ''}\u0000${this.mode}\u0000${this.text}` : '';
    if (key === this.renderedKey) return;
    this.renderedKey = key;
    if (!this.rich || this.mode === 'text') {
      delete this.dataset.rich;
      return;
    }
    // The renderer is fetched on first use; a newer value or mode meanwhile wins. `data-rich`
    // says whether the rich rendering is still to come (tests wait for "done").
    this.dataset.rich = 'pending';
    void loadRichRenderer().then(({ renderRich }) => {
      if (this.renderedKey !== key || !this.isConnected) return;
      this.renderRichNow(renderRich);
      this.dataset.rich = 'done';
    });
  }

  private renderRichNow(renderRich: import('./richRender.js').RenderRich): void {
    const segments = this.segments;
    if (segments) {
      if (this.mode === 'text') return;
      const hosts = Array.from(this.querySelectorAll<HTMLElement>(':scope > .segments > .rich-part'));
      const prose = segments.filter((s) => s.kind === 'prose');
      let formulas = 0;
      let skipped = 0;
      prose.forEach((s, i) => {
        if (!hosts[i]) return;
        const r = renderRich(hosts[i], s.text, this.mode as Exclude<RenderMode, 'text'>, formulas);
        formulas += r.formulas;
        skipped += r.skippedMath;
      });
      this.skippedMath = skipped;
      return;
    }
    const host = this.querySelector<HTMLElement>(':scope > .rich');
    if (!host || this.mode === 'text') return;
    this.skippedMath = renderRich(host, this.text, this.mode).skippedMath;
  }
}
