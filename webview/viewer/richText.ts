/**
 * Safe rendering of untrusted long text: plain text, Markdown (markdown-it with raw HTML off,
 * images and links rendered as inert text) and LaTeX (KaTeX, trust off, rendered into the DOM
 * via CSSOM so the strict CSP holds). Nothing from a record is ever executed.
 *
 * Records are hostile or just huge, so what is rendered rich is bounded (RICH_LIMITS): longer
 * values stay plain text, formulas past the count, size or nesting limits are shown as their
 * source, KaTeX's macro expansion and sizes are capped, and long runs of combining marks (which
 * make text layout take seconds) are shortened with a visible count.
 *
 * The renderer itself (markdown-it and KaTeX, two thirds of the viewer's script) is in
 * richRender.ts, loaded on first use with loadRichRenderer(): the first rows do not wait for it.
 */

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

/** What the renderer (richRender.ts) takes from here. */
export interface RichHelpers {
  RICH_LIMITS: typeof RICH_LIMITS;
  shortenCombiningRuns: typeof shortenCombiningRuns;
  mathTooComplex: typeof mathTooComplex;
}

let renderer: Promise<{ renderRich: import('./richRender.js').RenderRich }> | undefined;

/** The Markdown + LaTeX renderer, a separate chunk of the bundle fetched once, on first use. */
export function loadRichRenderer(): Promise<{ renderRich: import('./richRender.js').RenderRich }> {
  return (renderer ??= import('./richRender.js').then((m) => ({ renderRich: m.makeRenderer({ RICH_LIMITS, shortenCombiningRuns, mathTooComplex }) })));
}
