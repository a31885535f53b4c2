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
  ) {
    super(message);
  }
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

function collect(lines: string[], match: (line: string) => string | undefined): string[] {
  const items: string[] = [];
  let current: string | undefined;
  for (const line of lines) {
    const item = match(line);
    if (item !== undefined) {
      if (current !== undefined) items.push(current);
      current = item;
    } else if (current !== undefined && /^\s{2,}\S/.test(line)) {
      // An indented line continues the element above it (a wrapped long item).
      current += ' ' + line.trim();
    } else if (current !== undefined) {
      items.push(current);
      current = undefined;
    }
  }
  if (current !== undefined) items.push(current);
  return items.map(cleanElement).filter((s) => s.length > 0);
}

/**
 * The local parser: numbered list, else bulleted list, else a YAML sequence. Returns undefined when
 * the text holds no list it recognises. Preambles ("Sure! Here are...") and closing remarks are
 * ignored because only list-shaped lines are collected.
 */
export function parseListLocally(response: string): string[] | undefined {
  const text = stripCodeFence(response).replace(/\r\n?/g, '\n');
  const lines = text.split('\n');
  const numbered = collect(lines, (l) => {
    const m = NUMBERED.exec(l);
    return m && m[2]!.trim() ? m[2] : undefined;
  });
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
    throw new ListConversionError('count_mismatch', `expected ${opts.expectedCount} list elements, got ${list.length}`, response, opts.expectedCount, list.length);
  }
  return list;
}
