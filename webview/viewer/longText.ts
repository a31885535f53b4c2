/**
 * <sdg-long-text>: one long value of the detail pane, shown safely and lazily.
 *  - plain text: the first RICH_LIMITS.plainFirstChars characters, the rest on request; long
 *    runs of combining marks are drawn up to 16 and counted beyond;
 *  - Markdown / Markdown + LaTeX (richText.ts): only for values up to RICH_LIMITS.richChars
 *    (longer ones are plain text, with a note), formulas bounded in count, size and nesting.
 * Light DOM, so viewer.css and KaTeX's CSS apply.
 */
import { LitElement, html, nothing, type PropertyValues, type TemplateResult } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { plainParts, renderRich, RICH_LIMITS, type PlainPart, type RenderMode } from './richText.js';

@customElement('sdg-long-text')
export class LongText extends LitElement {
  @property({ attribute: false }) text = '';
  @property({ attribute: false }) mode: RenderMode = 'text';
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

  override render(): TemplateResult {
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
    const key = this.rich ? `${this.mode}\u0000${this.text}` : '';
    if (key === this.renderedKey) return;
    this.renderedKey = key;
    const host = this.querySelector<HTMLElement>(':scope > .rich');
    if (!host || this.mode === 'text') return;
    this.skippedMath = renderRich(host, this.text, this.mode).skippedMath;
  }
}
