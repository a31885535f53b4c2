/**
 * Safe rendering of untrusted long text: plain text, Markdown (markdown-it with raw HTML off,
 * images and links rendered as inert text) and LaTeX (KaTeX, trust off, rendered into the DOM
 * via CSSOM so the strict CSP holds). Nothing from a record is ever executed.
 *
 * Records are hostile or just huge, so what is rendered rich is bounded (RICH_LIMITS): longer
 * values stay plain text, formulas past the count, size or nesting limits are shown as their
 * source, KaTeX's macro expansion and sizes are capped, and long runs of combining marks (which
 * make text layout take seconds) are shortened with a visible count.
 */
import MarkdownIt from 'markdown-it';
import katex from 'katex';

export type RenderMode = 'text' | 'markdown' | 'math';

export const RICH_LIMITS = {
  /** Longer values are shown as plain text in every mode (markdown-it + layout of 1 MB takes seconds). */
  richChars: 50_000,
  /** Formulas typeset per value; later ones are shown as their TeX source. */
  mathCount: 200,
  /** A formula longer than this is shown as source. */
  mathChars: 1_000,
  /** Brace / \left nesting above this is shown as source (deep \underbrace nests crash the renderer). */
  mathDepth: 12,
  /** Control sequences per formula. */
  mathCommands: 100,
  /** KaTeX: macro expansions per formula, and the largest size in em. */
  maxExpand: 200,
  maxSize: 10,
  /** Combining marks kept after one base character; the rest are counted, not drawn. */
  combiningRun: 16,
  /** Plain text shows this many characters first; the rest on request. */
  plainFirstChars: 20_000,
} as const;

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

const COMBINING_RUN = new RegExp(`(\\p{M}{${RICH_LIMITS.combiningRun}})\\p{M}+`, 'gu');

/** A piece of plain text, or a count of combining marks left out. */
export type PlainPart = string | { elidedMarks: number };

/** Split text into what is drawn and the long runs of combining marks that are only counted. */
export function plainParts(text: string): PlainPart[] {
  const parts: PlainPart[] = [];
  let last = 0;
  COMBINING_RUN.lastIndex = 0;
  for (let m = COMBINING_RUN.exec(text); m; m = COMBINING_RUN.exec(text)) {
    const keepEnd = m.index + m[1].length;
    parts.push(text.slice(last, keepEnd));
    parts.push({ elidedMarks: [...text.slice(keepEnd, m.index + m[0].length)].length });
    last = m.index + m[0].length;
  }
  if (last < text.length || parts.length === 0) parts.push(text.slice(last));
  return parts;
}

/** The same with the counts written out as text (for Markdown sources). */
export function shortenCombiningRuns(text: string): string {
  return plainParts(text).map((p) => (typeof p === 'string' ? p : ` [${p.elidedMarks.toLocaleString()} more combining marks] `)).join('');
}

/** Why a formula is not typeset (too long, too deep, too many commands), or undefined. */
export function mathTooComplex(tex: string): string | undefined {
  if (tex.length > RICH_LIMITS.mathChars) return `longer than ${RICH_LIMITS.mathChars} characters`;
  let depth = 0;
  let max = 0;
  for (let i = 0; i < tex.length; i++) {
    const c = tex[i];
    if (c === '\\') {
      if (tex.startsWith('left', i + 1)) max = Math.max(max, ++depth);
      else if (tex.startsWith('right', i + 1)) depth--;
      i++;
    } else if (c === '{') max = Math.max(max, ++depth);
    else if (c === '}') depth--;
  }
  if (max > RICH_LIMITS.mathDepth) return `nested ${max} deep (limit ${RICH_LIMITS.mathDepth})`;
  const commands = tex.match(/\\[A-Za-z]+/g)?.length ?? 0;
  if (commands > RICH_LIMITS.mathCommands) return `${commands} commands (limit ${RICH_LIMITS.mathCommands})`;
  return undefined;
}

/**
 * Render `text` as Markdown (mode markdown) or Markdown + LaTeX (mode math) into `host`, replacing its content. Callers keep values above RICH_LIMITS.richChars plain.
 * `firstMath`: formulas already typeset from earlier parts of the same value (the count limit is per value).
 */
export function renderRich(host: HTMLElement, text: string, mode: Exclude<RenderMode, 'text'>, firstMath = 0): { skippedMath: number; formulas: number } {
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
