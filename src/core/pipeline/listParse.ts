/**
 * Turning a model's free-text answer ("Here are 5 topics: 1. ... 2. ...") into a list of strings.
 * A local parser handles numbered, bulleted and YAML lists; only when it finds nothing does the
 * caller ask a model to rewrite the answer as a YAML list. Every list is then checked: each element
 * must occur in the original answer (a rewrite must not invent items) and the length must match
 * the requested count (optionally trimming a longer list).
 */
import { parse as parseYaml } from 'yaml';

export type ListConversionReason = 'unparseable' | 'count_mismatch' | 'hallucination' | 'empty';

export class ListConversionError extends Error {
  override readonly name = 'ListConversionError';
  constructor(
    readonly reason: ListConversionReason,
    message: string,
    /** The response that was being converted (kept for the failure row and debugging). */
    readonly response: string,
    readonly expected?: number,
    readonly got?: number,
    /** The element that was not found in the response (reason `hallucination`). */
    readonly element?: string,
    /** The list that was found (reason `count_mismatch`): what a partial list keeps. */
    readonly list?: string[],
  ) {
    super(message);
  }
  /** Requests made for this item's answer when it finally failed (1 = the original answer only). */
  attempts?: number;
  /** Set when the pipeline's first list gave nothing usable (so the run cannot continue). */
  firstList?: boolean;
}

export function isListConversionError(e: unknown): e is ListConversionError {
  return e instanceof ListConversionError;
}

const NUMBERED = /^\s*\(?(\d{1,4})[.):]\s+(.*)$/;
const BULLETED = /^\s*(?:[-*•+●▪◦‣]|\u2013)\s+(.*)$/;

/** Strip markdown emphasis, surrounding quotes and trailing spaces from one element. */
export function cleanElement(s: string): string {
  let t = s.trim();
  // **Bold** headings and `code` markers are formatting, not content.
  t = t.replace(/^\*\*(.+?)\*\*:?\s*$/, '$1').replace(/^\*\*(.+?)\*\*/, '$1').replace(/^__(.+?)__/, '$1');
  t = t.trim();
  if (t.length >= 2 && ((t[0] === '"' && t.endsWith('"')) || (t[0] === "'" && t.endsWith("'")) || (t[0] === '`' && t.endsWith('`')))) {
    t = t.slice(1, -1).trim();
  }
  return t;
}

/** Remove a surrounding ``` fence (```yaml ... ```), if any. */
export function stripCodeFence(text: string): string {
  const m = /```[\w-]*\s*\n([\s\S]*?)\n?\s*```/.exec(text);
  return m ? m[1]! : text;
}

function indentOf(line: string): number {
  return /^[ \t]*/.exec(line)![0].replace(/\t/g, '    ').length;
}

/**
 * Collects the list items of `lines`. Only marker lines at the shallowest indentation are items:
 * a deeper marker line is a sub-item (`1. Topic` / `   - detail`) and is dropped rather than
 * merged into its parent, so a nested answer never yields one long joined string. An indented line
 * without a marker continues the item above it (a wrapped long item).
 */
function collect(lines: string[], match: (line: string) => string | undefined): string[] {
  const isMarker = (l: string) => match(l) !== undefined || NUMBERED.test(l) || BULLETED.test(l);
  let top = Infinity;
  for (const l of lines) if (match(l) !== undefined) top = Math.min(top, indentOf(l));
  const items: string[] = [];
  let current: string | undefined;
  let inSubItem = false;
  for (const line of lines) {
    const item = match(line);
    if (item !== undefined && indentOf(line) <= top) {
      if (current !== undefined) items.push(current);
      current = item;
      inSubItem = false;
    } else if (current !== undefined && isMarker(line) && indentOf(line) > top) {
      inSubItem = true; // a nested sub-item: dropped, with any lines wrapping it
    } else if (current !== undefined && /^\s{2,}\S/.test(line)) {
      if (!inSubItem) current += ' ' + line.trim();
    } else if (current !== undefined) {
      items.push(current);
      current = undefined;
      inSubItem = false;
    }
  }
  if (current !== undefined) items.push(current);
  return items.map(cleanElement).filter((s) => s.length > 0);
}

/**
 * A list written on one line ("1. Alpha 2. Beta 3. Gamma"), split at its markers; undefined when
 * the line has no run of consecutive numbers starting at 1. A marker must follow white space, so
 * "version 2.5" inside an item does not split it.
 */
export function splitInlineNumbered(text: string): string[] | undefined {
  const marker = /(?:^|\s)\(?(\d{1,3})[.)]\s+/g;
  const cuts: Array<{ at: number; end: number }> = [];
  let want = 1;
  for (const m of text.matchAll(marker)) {
    if (Number(m[1]) !== want) continue;
    cuts.push({ at: m.index! + (m[0].length - m[0].trimStart().length), end: m.index! + m[0].length });
    want++;
  }
  if (cuts.length < 2) return undefined;
  const items = cuts.map((c, i) => text.slice(c.end, i + 1 < cuts.length ? cuts[i + 1]!.at : undefined).trim());
  return items.map(cleanElement).filter((s) => s.length > 0);
}

/**
 * The local parser: numbered list, else bulleted list, else a YAML sequence. Returns undefined when
 * the text holds no list it recognises. Preambles ("Sure! Here are...") and closing remarks are
 * ignored because only list-shaped lines are collected. A numbered list written on one line
 * ("1. A 2. B 3. C") is split at its numbers.
 */
export function parseListLocally(response: string): string[] | undefined {
  const text = stripCodeFence(response).replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  const numbered = collect(lines, (l) => {
    const m = NUMBERED.exec(l);
    return m && m[2]!.trim() ? m[2] : undefined;
  });
  if (numbered.length > 1) return numbered;
  // One numbered item or none: the whole list may be written on one line.
  for (const line of lines) {
    const inline = splitInlineNumbered(line);
    if (inline && inline.length > 1) return inline;
  }
  if (numbered.length > 0) return numbered;
  const bulleted = collect(lines, (l) => BULLETED.exec(l)?.[1]);
  if (bulleted.length > 0) return bulleted;
  return parseYamlList(text);
}

/** A YAML sequence of scalars, or undefined. Objects inside it are rejected (not a list of strings). */
export function parseYamlList(text: string): string[] | undefined {
  let value: unknown;
  try {
    // logLevel: model output is untrusted text; the yaml library's warnings would go to stderr.
    value = parseYaml(stripCodeFence(text), { maxAliasCount: 10, logLevel: 'error' });
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  const out: string[] = [];
  for (const v of value) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out.push(cleanElement(String(v)));
    else return undefined;
  }
  return out.filter((s) => s.length > 0);
}

/** Lower-case, unify quotes and dashes, collapse white space: how "appears in the response" is judged. */
function normalize(s: string): string {
  return s
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201c\u201d]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/[*_`]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}

export interface ListCheckOptions {
  /** Requested length; undefined skips the length check. */
  expectedCount?: number;
  /** Cut a longer list down to `expectedCount` instead of rejecting it. */
  trim?: boolean;
  /** Reject elements that do not occur in the response (default true). */
  checkHallucination?: boolean;
}

/** Apply the hallucination and length rules; returns the (possibly trimmed) list or throws. */
export function checkList(list: string[], response: string, opts: ListCheckOptions = {}): string[] {
  if (list.length === 0) throw new ListConversionError('empty', 'the response contains no list elements', response, opts.expectedCount, 0);
  if (opts.checkHallucination !== false) {
    const haystack = normalize(response);
    for (const el of list) {
      // Trailing punctuation is often added or dropped by a rewrite; it is not a new element.
      const needle = normalize(el).replace(/[.;:,!]+$/, '');
      if (needle && !haystack.includes(needle)) {
        throw new ListConversionError('hallucination', `list element ${JSON.stringify(el)} does not appear in the response`, response, opts.expectedCount, list.length, el);
      }
    }
  }
  if (opts.expectedCount !== undefined && list.length !== opts.expectedCount) {
    if (opts.trim && list.length > opts.expectedCount) return list.slice(0, opts.expectedCount);
    throw new ListConversionError('count_mismatch', `expected ${opts.expectedCount} list elements, got ${list.length}`, response, opts.expectedCount, list.length, undefined, list);
  }
  return list;
}
