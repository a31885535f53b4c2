/**
 * The Markdown + LaTeX renderer behind richText.ts (see there for the limits), in its own chunk:
 * loaded with loadRichRenderer() when a value is first shown rich. It takes richText.ts's limits
 * and helpers as an argument instead of importing them: an import would make the bundler move
 * them to a third file the viewer's script must fetch before it starts.
 */
import MarkdownIt from 'markdown-it';
import katex from 'katex';
import type { RenderMode, RichHelpers } from './richText.js';

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false, maxNesting: 20 });
md.disable(['image']);
// Links stay visible but inert: a record must not navigate the webview or open URLs.
md.renderer.rules.link_open = (tokens, idx) => {
  const href = String(tokens[idx].attrGet("href") ?? "");
  return `<span class="md-link" title="${md.utils.escapeHtml(href)}">`;
};
md.renderer.rules.link_close = () => '</span>';
md.validateLink = () => true; // rendered inert above, so any target is harmless text

const MATH = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$\w])\$(?!\s)((?:\\\$|[^$\n])+?)(?<!\s)\$(?![\w$])/g;

/**
 * Render `text` as Markdown (mode markdown) or Markdown + LaTeX (mode math) into `host`, replacing its content. Callers keep values above RICH_LIMITS.richChars plain.
 * `firstMath`: formulas already typeset from earlier parts of the same value (the count limit is per value).
 */
export type RenderRich = (host: HTMLElement, text: string, mode: Exclude<RenderMode, 'text'>, firstMath?: number) => { skippedMath: number; formulas: number };

export function makeRenderer({ RICH_LIMITS, shortenCombiningRuns, mathTooComplex }: RichHelpers): RenderRich {
  return (host, text, mode, firstMath = 0) => renderRich(host, text, mode, firstMath);

function renderRich(host: HTMLElement, text: string, mode: Exclude<RenderMode, 'text'>, firstMath: number): { skippedMath: number; formulas: number } {
  host.replaceChildren();
  const maths: Array<{ tex: string; display: boolean }> = [];
  let src = shortenCombiningRuns(text);
  if (mode === 'math') {
    src = src.replace(MATH, (_m, dd: string, br: string, pa: string, d: string) => {
      const display = dd !== undefined || br !== undefined;
      maths.push({ tex: dd ?? br ?? pa ?? d, display });
      return `\uE000${maths.length - 1}\uE001`;
    });
  }
  const html = md.render(src).replace(/\uE000(\d+)\uE001/g, (_m, i: string) => `<span class="math" data-math="${i}"></span>`);
  const box = document.createElement('div');
  box.className = 'markdown';
  // markdown-it with html:false escapes every character of the record; only its own tags remain.
  box.innerHTML = html;
  let skippedMath = 0;
  for (const el of Array.from(box.querySelectorAll<HTMLElement>('span.math[data-math]'))) {
    const m = maths[Number(el.dataset.math)];
    if (!m) continue;
    const source = m.display ? `$$${m.tex}$$` : `$${m.tex}$`;
    const why = firstMath + Number(el.dataset.math) >= RICH_LIMITS.mathCount ? `more than ${RICH_LIMITS.mathCount} formulas in this value` : mathTooComplex(m.tex);
    if (why) {
      skippedMath++;
      el.textContent = source;
      el.classList.add('math-skipped');
      el.title = `Not typeset: ${why}`;
      continue;
    }
    try {
      katex.render(m.tex, el, { displayMode: m.display, throwOnError: false, trust: false, strict: 'ignore', maxExpand: RICH_LIMITS.maxExpand, maxSize: RICH_LIMITS.maxSize, output: 'htmlAndMathml' });
    } catch {
      el.textContent = source;
      el.classList.add('math-error');
    }
  }
  host.append(box);
  return { skippedMath, formulas: maths.length };
}
}
