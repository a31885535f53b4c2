/**
 * Search, filter and group-by over a whole JSONL file in one streaming pass, with progress and
 * cancel (AbortSignal), resumable when the file grows (live tail).
 *
 * Search semantics:
 *  - all fields, plain text: the line as written in the file contains the text, or (for text
 *    that JSON would escape: quotes, backslashes, non-ASCII) any decoded string value does;
 *  - all fields, regex: the regex matches the line as written (JSON syntax included);
 *  - one field (a path like `a.b`): its value (strings as decoded, others as JSON) contains the
 *    text / matches the regex.
 * Speed: plain text is found with Buffer.indexOf over raw bytes (memmem) and regexes run over a
 * whole decoded chunk at once; only candidate lines are decoded and, when a field, a filter or
 * a group key needs it, parsed.
 */
import { parseExpr as parseFilter, evaluate, referencedPaths, usesSpecials, ExprSyntaxError as FilterSyntaxError, type ExprNode as FilterNode } from '../expr';
import { KeyScan } from './fieldScan';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { getPath, groupKeyOf, parseFieldPath, type PathSegment } from './fieldPath';
import { parseLine, type JsonlFile, type RawChunk } from './jsonlFile';

export interface SearchSpec {
  text: string;
  regex: boolean;
  caseSensitive: boolean;
  /** A field path; empty or absent means all fields. */
  field?: string;
}

export interface QuerySpec {
  search?: SearchSpec;
  filter?: string;
  groupBy?: string;
}

export class QueryError extends Error {
  constructor(message: string, readonly part: 'search' | 'filter' | 'groupBy', readonly column?: number) {
    super(message);
    this.name = 'QueryError';
  }
}

export interface QueryProgress {
  scannedLines: number;
  totalLines: number;
  matches: number;
  groups: number;
  done: boolean;
  /** Something the user should know about the result (e.g. the group cap was reached). */
  warning?: string;
}

export type GroupSort = 'first' | 'count' | 'correct' | 'key';
export const GROUP_SORTS: readonly GroupSort[] = ['first', 'count', 'correct', 'key'];

/** Numbers in numeric order, then strings. */
function compareKeys(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  const aNum = a.trim() !== '' && Number.isFinite(na);
  const bNum = b.trim() !== '' && Number.isFinite(nb);
  if (aNum && bNum) return na - nb;
  if (aNum !== bNum) return aNum ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface GroupSummary {
  index: number;
  key: string;
  count: number;
  correct: number;
  incorrect: number;
}

/** Growable array of line numbers (4 bytes each). */
export class LineList {
  // Small start: a grouping may hold up to maxGroups lists, most of them short.
  private data = new Uint32Array(8);
  length = 0;
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  pop(): number | undefined {
    return this.length > 0 ? this.data[--this.length] : undefined;
  }
  at(i: number): number {
    return this.data[i];
  }
  slice(start: number, end: number): number[] {
    return Array.from(this.data.subarray(Math.max(0, start), Math.min(this.length, end)));
  }
  /** Index of the first entry >= v (entries are ascending). */
  lowerBound(v: number): number {
    let a = 0;
    let b = this.length;
    while (a < b) {
      const m = (a + b) >>> 1;
      if (this.data[m] < v) a = m + 1;
      else b = m;
    }
    return a;
  }
}

/**
 * How candidate lines are found in a raw chunk before the exact per-line test:
 * bytes: Buffer.indexOf of a literal (memmem); latin1: a case-insensitive ASCII literal regex
 * over the chunk decoded byte-for-byte (positions are byte offsets); regex: the regex over the
 * UTF-8 decoded chunk; none: every line.
 */
type Prefilter =
  | { kind: 'bytes'; needle: Buffer }
  | { kind: 'latin1'; re: RegExp }
  | { kind: 'regex'; re: RegExp }
  | { kind: 'none' }
  /** Lines holding any of the needles, or a \\uXXXX escape whose four hex digits (lower-cased) are in `escapes`. */
  | { kind: 'anyBytes'; needles: Buffer[]; escapes: Set<string> };

const BACKSLASH_U = Buffer.from('\\u', 'latin1');

/** Line indexes (within the chunk, ascending, distinct) that an anyBytes prefilter lets through. */
function anyBytesCandidates(chunk: RawChunk, p: { needles: Buffer[]; escapes: Set<string> }): number[] {
  const { buf, lineOf, lineEnd } = chunk;
  const found: number[] = [];
  for (const needle of p.needles) {
    let pos = buf.indexOf(needle, 0);
    while (pos !== -1) {
      const i = lineOf(pos);
      found.push(i);
      pos = buf.indexOf(needle, lineEnd(i));
    }
  }
  if (p.escapes.size > 0) {
    let pos = buf.indexOf(BACKSLASH_U, 0);
    while (pos !== -1) {
      if (pos + 6 <= buf.length && p.escapes.has(buf.toString('latin1', pos + 2, pos + 6).toLowerCase())) {
        const i = lineOf(pos);
        found.push(i);
        pos = buf.indexOf(BACKSLASH_U, lineEnd(i));
      } else pos = buf.indexOf(BACKSLASH_U, pos + 2);
    }
  }
  if (p.needles.length + (p.escapes.size > 0 ? 1 : 0) <= 1) return found;
  found.sort((a, b) => a - b);
  return found.filter((x, k) => k === 0 || found[k - 1] !== x);
}

/**
 * A literal that every match of `source` must contain (the longest run of plain characters at
 * the top level, with no alternation), or undefined. Lets a regex search skip lines with
 * memmem, as grep tools do. Conservative: anything unusual gives up.
 */
export function requiredLiteral(source: string): string | undefined {
  let depth = 0;
  let best = '';
  let run = '';
  const flush = (): void => {
    if (run.length > best.length) best = run;
    run = '';
  };
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    const next = source[i + 1];
    let lit: string | undefined;
    let advance = 0;
    if (c === '\\') {
      if (next === undefined) return undefined;
      if (/[\\^$.*+?()[\]{}|\/\-]/.test(next)) lit = next;
      advance = 1;
      if (/[A-Za-z0-9]/.test(next)) {
        // \d, \u0041, \x41, \p{L}, \k<name>, \1...: skip the escape and its payload.
        let j = i + 2;
        while (j < source.length && /[A-Za-z0-9{}<>_]/.test(source[j])) j++;
        i = j - 1;
        flush();
        continue;
      }
    } else if (c === '|') {
      if (depth === 0) return undefined;
    } else if (c === '(') {
      depth++;
      flush();
      continue;
    } else if (c === ')') {
      depth--;
      flush();
      continue;
    } else if (c === '{') {
      // A quantifier's {n,m}: not text.
      flush();
      const close = source.indexOf('}', i);
      if (close < 0) return undefined;
      i = close;
      continue;
    } else if (c === '[') {
      // Skip a character class.
      flush();
      let j = i + 1;
      while (j < source.length && source[j] !== ']') j += source[j] === '\\' ? 2 : 1;
      i = j;
      continue;
    } else if (!/[\^$.*+?{}]/.test(c)) lit = c;
    i += advance;
    if (lit === undefined || depth > 0) {
      flush();
      continue;
    }
    const q = source[i + 1];
    if (q === '?' || q === '*' || q === '{') {
      flush(); // this character is optional or repeated a variable number of times
      continue;
    }
    run += lit;
    if (q === '+') flush();
  }
  flush();
  return best.length >= 3 ? best : undefined;
}

/** Text JSON writes unescaped, so finding it in raw bytes is exact (ASCII printable, no quote or backslash). */
function rawSafe(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text) && !/["\\]/.test(text);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

interface CompiledSearch {
  prefilter: Prefilter;
  needsParse: boolean;
  test(text: string, value: unknown, ok: boolean): boolean;
}

function compileSearch(s: SearchSpec): CompiledSearch {
  const field = s.field?.trim() ? s.field.trim() : undefined;
  let segs: PathSegment[] | undefined;
  if (field) {
    try {
      segs = parseFieldPath(field);
    } catch (e) {
      throw new QueryError((e as Error).message, 'search');
    }
  }
  let match: (hay: string) => boolean;
  let rawRe: RegExp | undefined;
  if (s.regex) {
    let re1: RegExp;
    try {
      re1 = new RegExp(s.text, s.caseSensitive ? 'u' : 'iu');
      rawRe = new RegExp(s.text, s.caseSensitive ? 'gmu' : 'gimu');
    } catch {
      try {
        // Patterns valid only without the u flag (e.g. "\-" escapes) still work.
        re1 = new RegExp(s.text, s.caseSensitive ? '' : 'i');
        rawRe = new RegExp(s.text, s.caseSensitive ? 'gm' : 'gim');
      } catch (e) {
        throw new QueryError(`bad regex: ${(e as Error).message}`, 'search');
      }
    }
    match = (hay) => re1.test(hay);
  } else if (s.caseSensitive) {
    const t = s.text;
    match = (hay) => hay.includes(t);
  } else {
    const t = s.text.toLowerCase();
    match = (hay) => hay.toLowerCase().includes(t);
  }
  const safe = !s.regex && rawSafe(s.text);
  // Case-insensitive: the Kelvin sign lower-cases to k and İ to i + U+0307, so a raw line
  // holding them (as UTF-8) can match an ASCII text too.
  const ciSource = (text: string): string =>
    [...text].map((c) => (/k/i.test(c) ? '(?:k|\u00e2\u0084\u00aa)' : /i/i.test(c) ? '(?:i|\u00c4\u00b0)' : escapeRegExp(c))).join('');
  const plainPrefilter = (): Prefilter =>
    s.caseSensitive ? { kind: 'bytes', needle: Buffer.from(s.text, 'utf8') } : { kind: 'latin1', re: new RegExp(ciSource(s.text), 'gi') };
  // For regexes: a literal every match contains, searched as bytes (exact for the raw line).
  const lit = s.regex && s.caseSensitive ? requiredLiteral(s.text) : undefined;

  if (segs) {
    const path = segs;
    const lastKey = [...path].reverse().find((x): x is string => typeof x === 'string');
    let prefilter: Prefilter = { kind: 'none' };
    if (safe) prefilter = plainPrefilter();
    else if (lit && rawSafe(lit)) prefilter = { kind: 'bytes', needle: Buffer.from(lit, 'utf8') };
    else if (lastKey && rawSafe(lastKey)) prefilter = { kind: 'bytes', needle: Buffer.from(JSON.stringify(lastKey), 'utf8') };
    return {
      prefilter,
      needsParse: true,
      test(_text, value, ok) {
        if (!ok) return false;
        const v = getPath(value, path);
        if (v === undefined) return false;
        return match(typeof v === 'string' ? v : JSON.stringify(v));
      },
    };
  }
  if (s.regex) return { prefilter: lit ? { kind: 'bytes', needle: Buffer.from(lit, 'utf8') } : { kind: 'regex', re: rawRe! }, needsParse: false, test: (text) => match(text) };
  if (safe) return { prefilter: plainPrefilter(), needsParse: false, test: (text) => match(text) };
  // Non-ASCII or escaped characters: the raw line or any decoded string value. Candidates are
  // found in the raw bytes (the text as UTF-8, or a JSON escape of one of its characters), then
  // confirmed on the parsed line.
  return {
    prefilter: escapedTextPrefilter(s.text, s.caseSensitive),
    needsParse: true,
    test(text, value, ok) {
      if (match(text)) return true;
      return ok && anyString(value, match);
    },
  };
}

/**
 * Every way JSON can write the code point `cp` inside a string, as an anyBytes prefilter part:
 * its UTF-8 bytes and a short escape (\\" \\\\ \\/ \\b \\f \\n \\r \\t) as needles, and its first
 * UTF-16 unit as \\uXXXX (any hex case; for a surrogate pair, the high half is enough).
 */
function addWrittenForms(cp: number, needles: Buffer[], escapes: Set<string>): void {
  const ch = String.fromCodePoint(cp);
  const add = (b: Buffer): void => {
    if (!needles.some((n) => n.equals(b))) needles.push(b);
  };
  add(Buffer.from(ch, 'utf8'));
  const short: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't' };
  if (short[ch] !== undefined) add(Buffer.from('\\' + short[ch], 'latin1'));
  escapes.add(ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

let lowerSources: Map<number, number[]> | undefined;
/**
 * The code points whose lower case contains `cp` (`cp` itself included when it is its own lower
 * case), so a case-insensitive match of a text holding `cp` must contain one of them in the
 * line. Built once per thread from String.prototype.toLowerCase over all code points, plus the
 * one context-dependent mapping it applies (a final capital sigma becomes ς).
 */
function lowerCaseSources(cp: number): number[] {
  if (!lowerSources) {
    // Only the code points whose lower case differs from themselves (~1,400).
    const m = new Map<number, number[]>();
    const add = (y: number, x: number): void => {
      const list = m.get(y);
      if (!list) m.set(y, [x]);
      else if (!list.includes(x)) list.push(x);
    };
    // Blocks of 4,096 code points lower-cased at once; only blocks that change are looked at
    // one by one (about 30 ms in all).
    const block: number[] = [];
    for (let base = 0; base <= 0x10ffff; base += 4096) {
      block.length = 0;
      for (let x = base; x < base + 4096 && x <= 0x10ffff; x++) if (x < 0xd800 || x > 0xdfff) block.push(x);
      if (block.length === 0) continue;
      const all = String.fromCodePoint(...block);
      if (all.toLowerCase() === all) continue;
      for (const x of block) {
        const own = String.fromCodePoint(x);
        const lower = own.toLowerCase();
        if (lower !== own) for (const c of lower) add(c.codePointAt(0)!, x);
      }
    }
    add(0x3c2, 0x3a3); // Σ at the end of a word lower-cases to ς
    lowerSources = m;
  }
  const own = String.fromCodePoint(cp);
  return [...(own.toLowerCase() === own ? [cp] : []), ...(lowerSources.get(cp) ?? [])];
}

/**
 * A sound raw-byte prefilter for an "All fields" plain search whose text JSON may escape
 * (non-ASCII, quotes, backslashes, control characters): every line whose raw text contains the
 * text, or one of whose decoded string values does, contains one of the alternatives, so no
 * match is ever skipped. Case-sensitive: the text's UTF-8 bytes, or an escaped form of one of
 * its characters (a match written with any escape contains it). Case-insensitive: every way of
 * writing any code point whose lower case gives one chosen non-ASCII character of the text.
 * Gives 'none' (every line parsed) when it cannot be sure: a U+FFFD or a lone surrogate in the
 * text (a raw line decodes bad bytes to U+FFFD), or no character to anchor on.
 */
export function escapedTextPrefilter(text: string, caseSensitive: boolean): Prefilter {
  const cps = [...text].map((c) => c.codePointAt(0)!);
  if (cps.length === 0 || cps.some((c) => c === 0xfffd || (c >= 0xd800 && c <= 0xdfff))) return { kind: 'none' };
  const t = caseSensitive ? text : text.toLowerCase();
  const tcps = [...new Set([...t].map((c) => c.codePointAt(0)!))];
  if (tcps.some((c) => c === 0xfffd || (c >= 0xd800 && c <= 0xdfff))) return { kind: 'none' };
  // Case-insensitive but no character of the text has another case: the same as case-sensitive.
  const caseless = !caseSensitive && t === text && tcps.every((c) => { const src = lowerCaseSources(c); return src.length === 1 && src[0] === c; });
  const needles: Buffer[] = [];
  const escapes = new Set<string>();
  if (caseSensitive || caseless) {
    // The text as written, or a match with at least one character escaped.
    needles.push(Buffer.from(text, 'utf8'));
    const single: Buffer[] = [];
    for (const c of tcps) addWrittenForms(c, single, escapes);
    // A character's own UTF-8 bytes are not evidence of an escape: keep only the short escapes.
    for (const b of single) if (b[0] === 0x5c && b.length === 2 && !needles.some((n) => n.equals(b))) needles.push(b);
    return { kind: 'anyBytes', needles, escapes };
  }
  // Anchor on one non-ASCII character (the highest code point: usually the rarest script).
  const anchor = tcps.filter((c) => c > 0x7f).sort((a, b) => b - a)[0];
  if (anchor === undefined) return { kind: 'none' };
  for (const x of lowerCaseSources(anchor)) addWrittenForms(x, needles, escapes);
  if (needles.length === 0) return { kind: 'none' };
  return { kind: 'anyBytes', needles, escapes };
}

function anyString(v: unknown, match: (s: string) => boolean): boolean {
  if (typeof v === 'string') return match(v);
  if (v === null || typeof v !== 'object') return false;
  if (Array.isArray(v)) return v.some((x) => anyString(x, match));
  for (const x of Object.values(v)) if (anyString(x, match)) return true;
  return false;
}

/**
 * A text that appears in the raw line of every record a filter accepts, or undefined.
 * Only `&&` chains are used: a string compared with ==, contains or a regex literal must appear
 * as written (when JSON writes it unescaped); a field compared with a value must appear as a
 * quoted key. The longest candidate is chosen (longer texts are rarer).
 */
export function filterNeedle(node: FilterNode): string | undefined {
  const found: Array<{ text: string; weight: number }> = [];
  const lastKey = (n: FilterNode): string | undefined => {
    if (n.type !== 'path' || n.special) return undefined;
    const k = [...n.segments].reverse().find((x): x is string => typeof x === 'string');
    return k !== undefined && rawSafe(k) && k.length > 0 ? JSON.stringify(k) : undefined;
  };
  const walk = (n: FilterNode): void => {
    if (n.type === 'and') {
      walk(n.left);
      walk(n.right);
      return;
    }
    if (n.type === 'path') {
      const k = lastKey(n);
      if (k) found.push({ text: k, weight: k.length });
      return;
    }
    if (n.type !== 'compare') return;
    const { op, left, right } = n;
    if (left.type !== 'path') return;
    if (op === '!=' || ((op === '==' || op === 'contains') && right.type === 'literal' && right.value === null)) return;
    // `a == b` holds when both are missing: no text is required then.
    if (op === '==' && right.type === 'path') return;
    if ((op === '==' || op === 'contains') && right.type === 'literal' && typeof right.value === 'string' && right.value.length > 0 && rawSafe(right.value)) {
      // Strings outrank keys: a value is far more selective than a key most records have.
      found.push({ text: right.value, weight: 1000 + right.value.length });
    } else if (op === '=~' && right.type === 'regex' && !right.regex.flags.includes('i')) {
      const lit = requiredLiteral(right.regex.source);
      if (lit && rawSafe(lit)) found.push({ text: lit, weight: 1000 + lit.length });
    }
    const k = lastKey(left);
    if (k) found.push({ text: k, weight: k.length });
  };
  walk(node);
  found.sort((a, b) => b.weight - a.weight);
  return found[0]?.text;
}

/** Validate a query without running it (throws QueryError naming the part and column). */
export function compileQuery(spec: QuerySpec): { search?: CompiledSearch; filter?: FilterNode; groupBy?: PathSegment[] } {
  const out: { search?: CompiledSearch; filter?: FilterNode; groupBy?: PathSegment[] } = {};
  if (spec.search && spec.search.text !== '') out.search = compileSearch(spec.search);
  if (spec.filter && spec.filter.trim() !== '') {
    try {
      out.filter = parseFilter(spec.filter);
    } catch (e) {
      if (e instanceof FilterSyntaxError) throw new QueryError(e.message, 'filter', e.column);
      throw e;
    }
  }
  if (spec.groupBy && spec.groupBy.trim() !== '') {
    try {
      out.groupBy = parseFieldPath(spec.groupBy.trim());
    } catch (e) {
      throw new QueryError((e as Error).message, 'groupBy');
    }
  }
  return out;
}


/** Distinct groups kept by default; later new values share one "other values" group. */
export const DEFAULT_MAX_GROUPS = 100_000;
/** Characters of a group's value kept for display (the full value is only hashed). */
export const GROUP_KEY_DISPLAY_CHARS = 200;

export interface QueryOptions {
  /** Distinct groups kept (memory bound); default DEFAULT_MAX_GROUPS. */
  maxGroups?: number;
  /** Read filter and group-by fields with the key scan (default true; false parses every line whole, for comparison). */
  keyScan?: boolean;
  /** Scan only lines [from, to) (one worker's share of a parallel scan); default the whole file. */
  range?: { from: number; to?: number };
  /**
   * From the viewer's analysis pass (JsonlFile.knownMalformed, same file version): lines
   * [0, upTo) parse as JSON except `lines`. Lets a key-scan match stand without a full parse.
   * Default: what the scanned file's own analysis knows.
   */
  knownMalformed?: { upTo: number; lines: number[] };
}

/**
 * One chunk's worth of results, in file order: what a scan produces and what a results store
 * applies. Plain data, so a worker thread can post it to the extension host.
 */
/**
 * A scan builds its deltas in plain arrays (`QueryDelta<number[]>`); a worker thread posts them
 * as typed arrays, transferred rather than copied (see toTransferable), so a grouping of
 * millions of lines costs the receiving thread no per-number decoding.
 */
export interface QueryDelta<A extends ArrayLike<number> = ArrayLike<number>> {
  /** First take back the result of the unterminated last line scanned before (it grew). */
  undo?: { line: number; matched: boolean; group: number; grade: number; groupCreated: boolean };
  /** Matching lines (ascending). */
  lines: A;
  /** With group-by: the group index of each matching line. */
  groups: A;
  /** With group-by: `is_correct` of each matching line: 1 true, 0 false, -1 none. */
  grades: A;
  /** Display keys of the groups first seen in this chunk, in index order. */
  newGroups: string[];
  /** Their identities (hashed values), so the results of parallel scans can be merged. */
  newGroupIds: string[];
  scannedLines: number;
  totalLines: number;
  warning?: string;
}

/** The delta with its numbers in typed arrays, and the buffers to transfer with postMessage. */
export function toTransferable(d: QueryDelta<number[]>): { delta: QueryDelta<Uint32Array | Int32Array | Int8Array>; transfer: ArrayBuffer[] } {
  const lines = Uint32Array.from(d.lines);
  const groups = Int32Array.from(d.groups);
  const grades = Int8Array.from(d.grades);
  return { delta: { ...d, lines, groups, grades }, transfer: [lines.buffer, groups.buffer, grades.buffer] };
}

interface Group {
  key: string;
  count: number;
  correct: number;
  incorrect: number;
  lines: LineList;
}

/**
 * The results of one query: matching line numbers, groups with their lines and grade counts,
 * and paged read access. Filled by applying deltas, either from an in-process scan (QueryRun)
 * or from a worker thread (WorkerQuery), so a stuck scan never holds the results hostage.
 */
export class QueryResults {
  matches = new LineList();
  protected groupOrder: Group[] = [];
  scannedLines = 0;
  totalLines = 0;
  warning: string | undefined;

  get groupCount(): number {
    return this.groupOrder.length;
  }

  /** Forget every result (a scan starts over). */
  protected clearResults(): void {
    this.matches = new LineList();
    this.groupOrder = [];
    this.scannedLines = 0;
    this.warning = undefined;
    this.sortCache = undefined;
  }

  progress(done: boolean): QueryProgress {
    const p: QueryProgress = { scannedLines: this.scannedLines, totalLines: this.totalLines, matches: this.matches.length, groups: this.groupOrder.length, done };
    if (this.warning) p.warning = this.warning;
    return p;
  }

  apply(d: QueryDelta): void {
    const u = d.undo;
    if (u?.matched) {
      this.matches.pop();
      const g = this.groupOrder[u.group];
      if (g) {
        g.count--;
        g.lines.pop();
        if (u.grade === 1) g.correct--;
        if (u.grade === 0) g.incorrect--;
        if (u.groupCreated && u.group === this.groupOrder.length - 1) this.groupOrder.pop();
      }
    }
    for (const key of d.newGroups) this.groupOrder.push({ key, count: 0, correct: 0, incorrect: 0, lines: new LineList() });
    for (let i = 0; i < d.lines.length; i++) {
      const line = d.lines[i];
      this.matches.push(line);
      if (d.groups.length === 0) continue;
      const g = this.groupOrder[d.groups[i]];
      g.count++;
      g.lines.push(line);
      if (d.grades[i] === 1) g.correct++;
      else if (d.grades[i] === 0) g.incorrect++;
    }
    this.scannedLines = d.scannedLines;
    this.totalLines = d.totalLines;
    if (d.warning) this.warning = d.warning;
  }

  /** Matching line numbers [start, start+count). */
  matchSlice(start: number, count: number): number[] {
    return this.matches.slice(start, start + count);
  }

  /**
   * Groups [start, start+count) in the given order: first seen (default), most samples first,
   * lowest share correct first (hardest problems; ungraded groups last), or by key.
   * Each summary keeps its first-seen `index`, which is what group rows are requested by.
   */
  groupSlice(start: number, count: number, sort: GroupSort = 'first'): GroupSummary[] {
    const order = this.sortedGroups(sort);
    return order.slice(start, start + count).map((i) => {
      const g = this.groupOrder[i];
      return { index: i, key: g.key, count: g.count, correct: g.correct, incorrect: g.incorrect };
    });
  }

  private sortCache: { sort: GroupSort; matches: number; groups: number; order: number[] } | undefined;

  private sortedGroups(sort: GroupSort): number[] {
    const c = this.sortCache;
    if (c && c.sort === sort && c.matches === this.matches.length && c.groups === this.groupOrder.length) return c.order;
    const order = this.groupOrder.map((_g, i) => i);
    const gs = this.groupOrder;
    const share = (g: Group): number => (g.correct + g.incorrect > 0 ? g.correct / (g.correct + g.incorrect) : Infinity);
    if (sort === 'count') order.sort((a, b) => gs[b].count - gs[a].count || a - b);
    else if (sort === 'correct') order.sort((a, b) => share(gs[a]) - share(gs[b]) || gs[b].count - gs[a].count || a - b);
    else if (sort === 'key') order.sort((a, b) => compareKeys(gs[a].key, gs[b].key) || a - b);
    this.sortCache = { sort, matches: this.matches.length, groups: gs.length, order };
    return order;
  }

  group(index: number): GroupSummary | undefined {
    const g = this.groupOrder[index];
    return g && { index, key: g.key, count: g.count, correct: g.correct, incorrect: g.incorrect };
  }

  /** Lines of group `index`, [start, start+count). */
  groupLines(index: number, start: number, count: number): number[] {
    const g = this.groupOrder[index];
    return g ? g.lines.slice(start, start + count) : [];
  }
}

/**
 * Group identity without keeping big values: short keys are their own identity, long ones
 * (a `generation` of 10 KB) are replaced by their length and a SHA-1 (a collision would need
 * 2^80 distinct values). Only a display prefix of each value is kept.
 */
function groupIdentity(key: string): string {
  return key.length <= 64 ? key : `\u0000${key.length}:${createHash('sha1').update(key).digest('base64')}`;
}

/** The identity of the shared group of values past the cap. */
export const OTHER_GROUP_ID = '\u0000other';

export function otherGroupKey(maxGroups: number): string {
  return `(other values: more than ${maxGroups.toLocaleString('en-US')} distinct)`;
}

export function groupCapWarning(groupBy: string, maxGroups: number): string {
  return `Group by ${groupBy}: more than ${maxGroups.toLocaleString('en-US')} distinct values; the rest are counted together in the last group.`;
}

function displayKey(key: string): string {
  return key.length > GROUP_KEY_DISPLAY_CHARS ? key.slice(0, GROUP_KEY_DISPLAY_CHARS) + '…' : key;
}

/**
 * Scans a file for one query and reports results chunk by chunk as deltas. `scan()` covers
 * every line not scanned yet; call it again after the file grew. Holds only the group table
 * (identity -> index, at most maxGroups entries), never the results themselves.
 */
export class QueryScanner {
  private readonly compiled: ReturnType<typeof compileQuery>;
  private readonly groupIds = new Map<string, number>();
  private groupTotal = 0;
  private otherGroup = -1;
  private readonly maxGroups: number;
  private warning: string | undefined;
  scannedLines = 0;
  private readonly rangeEnd: number | undefined;
  private readonly useKeyScan: boolean;
  /** The last scanned line had no newline: its result is taken back when the file grows. */
  private tailUndo: (NonNullable<QueryDelta['undo']> & { identity?: string }) | undefined;
  readonly generation: number;

  constructor(readonly file: JsonlFile, readonly spec: QuerySpec, options: QueryOptions = {}) {
    this.compiled = compileQuery(spec);
    this.generation = file.generation;
    this.maxGroups = Math.max(1, options.maxGroups ?? DEFAULT_MAX_GROUPS);
    this.scannedLines = options.range?.from ?? 0;
    this.rangeEnd = options.range?.to;
    this.useKeyScan = options.keyScan ?? true;
    const known = options.knownMalformed ?? file.knownMalformed();
    if (known) {
      this.knownValidUpTo = known.upTo;
      this.knownMalformed = new Set(known.lines);
    }
  }

  /** Lines below this are JSON unless in knownMalformed (see QueryOptions.knownMalformed). */
  private knownValidUpTo = 0;
  private knownMalformed = new Set<number>();

  get isGrouped(): boolean {
    return this.compiled.groupBy !== undefined;
  }

  /** Scan the lines not scanned yet (indexing the rest of the file first), one delta per chunk. */
  async scan(options: { signal?: AbortSignal; onDelta: (d: QueryDelta<number[]>) => void; onIndexProgress?: () => void }): Promise<void> {
    const { signal, onDelta } = options;
    const file = this.file;
    await file.indexAll(() => options.onIndexProgress?.(), signal);
    if (file.generation !== this.generation) throw new Error('the file was rewritten: run the query again');
    const end = this.rangeEnd !== undefined ? Math.min(this.rangeEnd, file.lineCount) : file.lineCount;
    let delta = this.emptyDelta(end);
    const t = this.tailUndo;
    if (t) {
      this.tailUndo = undefined;
      if (t.matched && t.groupCreated && t.identity !== undefined) {
        this.groupIds.delete(t.identity);
        this.groupTotal--;
      }
      delta.undo = { line: t.line, matched: t.matched, group: t.group, grade: t.grade, groupCreated: t.groupCreated };
      this.scannedLines = t.line;
    }
    const { search, filter, groupBy } = this.compiled;
    const needsParse = Boolean(filter || groupBy || search?.needsParse);
    const lastUnterminated = end > 0 && file.index.isUnterminated(end - 1);
    let prefilter: Prefilter = search ? search.prefilter : { kind: 'none' };
    if (prefilter.kind === 'none' && filter) {
      // A text every line passing the filter must contain lets memmem skip the others.
      const needle = filterNeedle(filter);
      if (needle) prefilter = { kind: 'bytes', needle: Buffer.from(needle, 'utf8') };
    }
    // A filter's needle that most lines hold (a key every record has) only costs: drop it then.
    let needleFromFilter = prefilter.kind === 'bytes' && !search;
    const noteTail = (line: number, matched: boolean, group = -1, grade = -1, groupCreated = false, identity?: string): void => {
      if (lastUnterminated && line === end - 1) this.tailUndo = { line, matched, group, grade, groupCreated, identity };
    };

    const fast = this.fastPlan();
    // The key scan's fields, as a record a filter reads (one object, refilled per line).
    const fastRecord: Record<string, unknown> = {};
    const fastContext = { record: fastRecord as unknown, line: 0, bad: false };
    if (fast) for (const name of fast.scan.names) fastRecord[name] = undefined;
    const sameAsLast: { valid: boolean; raw: unknown; group: number } = { valid: false, raw: undefined, group: -1 };
    let cutChunk = false;
    let chunk!: RawChunk;
    /** Line i of the current chunk: judged by the key scan when it can, else by a full parse. */
    const consider = (i: number): void => {
      const line = chunk.first + i;
      // A line above the parse limit (only its prefix was read) cannot be judged by fields.
      if (cutChunk && needsParse) return noteTail(line, false);
      let text: string | undefined;
      let value: unknown;
      let ok = false;
      let parsed = false;
      /** The filter passed on the key scan's fields, on a line known to parse. */
      let filterDone = false;
      /** Group-by alone: [group path's first field, is_correct] from the key scan. */
      let scanned: unknown[] | undefined;
      if (search) {
        text = chunk.text(i);
        if (!search.needsParse && !search.test(text, undefined, false)) return noteTail(line, false);
      }
      // Group-by alone gains nothing from the scan on a line not known to parse (see below).
      if (fast && !(lastUnterminated && line === end - 1) && (filter || line < this.knownValidUpTo)) {
        // The scan checks structure, not what is inside strings (a raw control character, a bad
        // escape): the analysis pass, where it has run, says whether the whole line parses.
        const known = line < this.knownValidUpTo;
        const malformed = known && this.knownMalformed.has(line);
        const got = fast.scan.read(chunk.buf, chunk.lineStart(i), lineContentEnd(chunk, i));
        if (got) {
          if (malformed) {
            // Malformed: no filter the key scan serves can pass it; group-by puts it under (missing).
            if (filter) return noteTail(line, false);
            parsed = true;
          } else if (filter) {
            for (let k = 0; k < got.length; k++) fastRecord[fast.scan.names[k]] = got[k];
            fastContext.line = line + 1;
            // A false filter on the fields is final (a malformed line could not pass either);
            // a true one stands where the line is known to parse, else is confirmed by a full parse below.
            if (!evaluate(filter, fastContext)) return noteTail(line, false);
            if (known) {
              ok = true;
              parsed = true;
              filterDone = true;
              value = fastRecord; // holds every field a group-by beside the filter reads
            }
          } else if (known) {
            ok = true;
            parsed = true;
            scanned = got;
          }
          // Group-by on a line the analysis has not reached: the full parse below decides, so a
          // line that is not JSON is never grouped by its fields.
        }
      }
      if (needsParse && !parsed) {
        text ??= chunk.text(i);
        // Invalid UTF-8 makes a line bad, as in the row list (decoding hides it behind U+FFFD).
        const p = parseLine(text, false, text.includes('\ufffd') && !isUtf8(chunk.buf.subarray(chunk.lineStart(i), lineContentEnd(chunk, i))));
        ok = p.status === 'ok';
        value = p.value;
      }
      if (search?.needsParse && !search.test(text!, value, ok)) return noteTail(line, false);
      if (filter && !filterDone && !evaluate(filter, { record: value, line: line + 1, bad: !ok })) return noteTail(line, false);
      delta.lines.push(line);
      if (!groupBy) return noteTail(line, true);
      // Group-by alone: the key and grade straight from the key scan.
      const raw = scanned ? (groupBy.length === 1 ? scanned[0] : getPath(scanned[0], groupBy.slice(1))) : ok ? getPath(value, groupBy) : undefined;
      const g = scanned ? scanned[1] : ok && value !== null && typeof value === 'object' ? (value as Record<string, unknown>).is_correct : undefined;
      const grade = g === true ? 1 : g === false ? 0 : -1;
      // Samples of one problem are usually adjacent: the same plain value as the line before
      // is the same group, without building and looking up its key.
      if (sameAsLast.valid && raw === sameAsLast.raw && (raw === null || typeof raw !== 'object')) {
        delta.groups.push(sameAsLast.group);
        delta.grades.push(grade);
        return noteTail(line, true, sameAsLast.group, grade, false);
      }
      const key = groupKeyOf(raw);
      const identity = groupIdentity(key);
      let group = this.groupIds.get(identity);
      let created = false;
      if (group === undefined) {
        if (this.groupTotal < this.maxGroups) {
          group = this.groupTotal++;
          this.groupIds.set(identity, group);
          delta.newGroups.push(displayKey(key));
          delta.newGroupIds.push(identity);
          created = true;
        } else {
          // Memory stays bounded: every further new value lands in one shared group.
          if (this.otherGroup < 0) {
            this.otherGroup = this.groupTotal++;
            delta.newGroups.push(otherGroupKey(this.maxGroups));
            delta.newGroupIds.push(OTHER_GROUP_ID);
            this.warning = groupCapWarning(this.spec.groupBy ?? '', this.maxGroups);
            delta.warning = this.warning;
          }
          group = this.otherGroup;
        }
      }
      sameAsLast.valid = true;
      sameAsLast.raw = raw;
      sameAsLast.group = group;
      delta.groups.push(group);
      delta.grades.push(grade);
      noteTail(line, true, group, grade, created, created ? identity : undefined);
    };

    await file.forEachRawChunk(this.scannedLines, end, (c) => {
      chunk = c;
      const { buf, first, count, lineEnd } = chunk;
      cutChunk = chunk.cut;
      if (prefilter.kind === 'none') {
        for (let i = 0; i < count; i++) consider(i);
      } else if (prefilter.kind === 'latin1') {
        // One byte per character: match positions are byte offsets.
        const str = buf.toString('latin1');
        const re = prefilter.re;
        re.lastIndex = 0;
        let m: RegExpExecArray | null;
        while ((m = re.exec(str)) !== null) {
          const i = chunk.lineOf(m.index);
          consider(i);
          re.lastIndex = lineEnd(i);
        }
      } else if (prefilter.kind === 'anyBytes') {
        for (const i of anyBytesCandidates(chunk, prefilter)) consider(i);
      } else if (prefilter.kind === 'bytes') {
        let pos = buf.indexOf(prefilter.needle, 0);
        let candidates = 0;
        while (pos !== -1) {
          const i = chunk.lineOf(pos);
          consider(i);
          candidates++;
          pos = buf.indexOf(prefilter.needle, lineEnd(i));
        }
        if (needleFromFilter && candidates * 2 > count) {
          prefilter = { kind: 'none' };
          needleFromFilter = false;
        }
      } else {
        // One regex pass over the whole decoded chunk; map match positions to lines by counting '\n'.
        const s = chunk.decoded();
        const re = prefilter.re;
        re.lastIndex = 0;
        let line = 0;
        let lineStartPos = 0;
        let m: RegExpExecArray | null;
        while ((m = re.exec(s)) !== null) {
          const at = m.index;
          let nl = s.indexOf('\n', lineStartPos);
          while (nl !== -1 && nl < at) {
            line++;
            lineStartPos = nl + 1;
            nl = s.indexOf('\n', lineStartPos);
          }
          if (line >= count) break;
          consider(line);
          // Continue after this line (a line matches at most once).
          if (nl === -1) break;
          line++;
          lineStartPos = nl + 1;
          re.lastIndex = lineStartPos;
          if (m[0].length === 0 && re.lastIndex === at) re.lastIndex++;
        }
      }
      this.scannedLines = first + count;
      delta.scannedLines = this.scannedLines;
      onDelta(delta);
      delta = this.emptyDelta(end);
    }, signal);
    this.scannedLines = Math.max(this.scannedLines, end);
    delta.scannedLines = this.scannedLines;
    onDelta(delta);
  }

  /**
   * The key scan, when the query's fields can come from it: filter and group-by paths that all
   * start with a field name, and a filter without $line/$bad that no malformed line can pass.
   */
  private fastPlan(): { scan: KeyScan } | undefined {
    const { search, filter, groupBy } = this.compiled;
    if (!this.useKeyScan || (!filter && !groupBy)) return undefined;
    if (search?.needsParse) return undefined;
    const paths: PathSegment[][] = [];
    if (filter) {
      if (usesSpecials(filter).length > 0) return undefined;
      try {
        if (evaluate(filter, { record: undefined, line: 1, bad: true })) return undefined;
      } catch {
        return undefined;
      }
      paths.push(...referencedPaths(filter));
    }
    // Group-by alone reads exactly [its first field, is_correct] (see consider()).
    if (groupBy && !filter) return typeof groupBy[0] === 'string' ? { scan: new KeyScan([groupBy[0], 'is_correct']) } : undefined;
    if (groupBy) paths.push(groupBy, ['is_correct']);
    const names = new Set<string>();
    for (const p of paths) {
      if (typeof p[0] !== 'string') return undefined;
      names.add(p[0]);
    }
    return { scan: new KeyScan([...names]) };
  }

  private emptyDelta(totalLines: number): QueryDelta<number[]> {
    return { lines: [], groups: [], grades: [], newGroups: [], newGroupIds: [], scannedLines: this.scannedLines, totalLines };
  }
}

/**
 * One query over one file, scanned in this thread (tests, benchmarks, the CLI). `advance()`
 * scans every line not scanned yet; call it again after the file grew. The extension host uses
 * WorkerQuery instead, so a slow regex cannot block it.
 */
export class QueryRun extends QueryResults {
  private readonly scanner: QueryScanner;

  constructor(readonly file: JsonlFile, readonly spec: QuerySpec, options: QueryOptions = {}) {
    super();
    this.scanner = new QueryScanner(file, spec, options);
  }

  get generation(): number {
    return this.scanner.generation;
  }

  get isGrouped(): boolean {
    return this.scanner.isGrouped;
  }

  override progress(done: boolean): QueryProgress {
    this.totalLines = this.file.lineCount;
    return super.progress(done);
  }

  async advance(options: { signal?: AbortSignal; onProgress?: (p: QueryProgress) => void } = {}): Promise<QueryProgress> {
    const { signal, onProgress } = options;
    await this.scanner.scan({
      signal,
      onIndexProgress: () => onProgress?.(this.progress(false)),
      onDelta: (d) => {
        this.apply(d);
        onProgress?.(this.progress(false));
      },
    });
    const p = this.progress(true);
    onProgress?.(p);
    return p;
  }
}

/** End of line i's content: without its newline and a CR before it. */
function lineContentEnd(chunk: RawChunk, i: number): number {
  let e = chunk.lineEnd(i);
  const s = chunk.lineStart(i);
  if (e > s && chunk.buf[e - 1] === 10) e--;
  if (e > s && chunk.buf[e - 1] === 13) e--;
  return e;
}
