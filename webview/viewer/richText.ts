/**
 * Safe rendering of untrusted long text: plain text, Markdown (markdown-it with raw HTML off,
 * images and links rendered as inert text) and LaTeX (KaTeX, trust off, rendered into the DOM
 * via CSSOM so the strict CSP holds). Nothing from a record is ever executed.
 */
import MarkdownIt from 'markdown-it';
import katex from 'katex';

export type RenderMode = 'text' | 'markdown' | 'math';

const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false });
md.disable(['image']);
// Links stay visible but inert: a record must not navigate the webview or open URLs.
md.renderer.rules.link_open = (tokens, idx) => {
  const href = String(tokens[idx].attrGet("href") ?? "");
  return `<span class="md-link" title="${md.utils.escapeHtml(href)}">`;
};
md.renderer.rules.link_close = () => '</span>';
md.validateLink = () => true; // rendered inert above, so any target is harmless text

const MATH = /\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$\w])\$(?!\s)((?:\\\$|[^$\n])+?)(?<!\s)\$(?![\w$])/g;

/** Render `text` into `host` (replacing its content). */
export function renderRich(host: HTMLElement, text: string, mode: RenderMode): void {
  host.replaceChildren();
  if (mode === 'text') {
    const pre = document.createElement('pre');
    pre.className = 'plain';
    pre.textContent = text;
    host.append(pre);
    return;
  }
  const maths: Array<{ tex: string; display: boolean }> = [];
  let src = text;
  if (mode === 'math') {
    src = text.replace(MATH, (_m, dd: string, br: string, pa: string, d: string) => {
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
  for (const el of Array.from(box.querySelectorAll<HTMLElement>('span.math[data-math]'))) {
    const m = maths[Number(el.dataset.math)];
    if (!m) continue;
    try {
      katex.render(m.tex, el, { displayMode: m.display, throwOnError: false, trust: false, strict: 'ignore', maxExpand: 500, maxSize: 20, output: 'htmlAndMathml' });
    } catch {
      el.textContent = m.display ? `$$${m.tex}$$` : `$${m.tex}$`;
      el.classList.add('math-error');
    }
  }
  host.append(box);
}
