/**
 * What `JSON.parse` accepts but the rest of the program cannot live with:
 *
 *  - Depth. V8 parses a 100,000-level nested line, but `JSON.stringify`, `structuredClone` and
 *    every recursive walk overflow the stack around 5,000 levels ("Maximum call stack size
 *    exceeded", long after the line was read). Lines nested deeper than `MAX_JSON_DEPTH` are
 *    rejected where they are read, with their line number.
 *  - Numbers. `1e400` parses to Infinity (written back as `null`), `1e-400` to 0, and a 30-digit
 *    integer loses its last digits. `parseJsonKeepingNumbers` keeps such a number as its original
 *    text (a string), so an answer like 123456789012345678901234567890 stays exact.
 */

/** Deepest nesting of arrays/objects accepted in one JSON value (real data stays far below). */
export const MAX_JSON_DEPTH = 1000;

const OPEN_BRACKET = 0x5b; // [
const OPEN_BRACE = 0x7b; // {

/**
 * Whether a JSON text (or the bytes of one) nests deeper than `max`. Cheap for ordinary lines:
 * a line with no more than `max` opening brackets cannot be deeper, and those are counted with
 * the native `indexOf` before any character-by-character scan.
 */
export function jsonTooDeep(text: string | Uint8Array, max = MAX_JSON_DEPTH): boolean {
  if (text.length <= max) return false;
  if (typeof text === 'string') {
    let opens = 0;
    for (let i = text.indexOf('[', 0); i >= 0 && opens <= max; i = text.indexOf('[', i + 1)) opens++;
    for (let i = text.indexOf('{', 0); i >= 0 && opens <= max; i = text.indexOf('{', i + 1)) opens++;
    if (opens <= max) return false;
  } else {
    const b = Buffer.isBuffer(text) ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength);
    let opens = 0;
    for (let i = b.indexOf(OPEN_BRACKET, 0); i >= 0 && opens <= max; i = b.indexOf(OPEN_BRACKET, i + 1)) opens++;
    for (let i = b.indexOf(OPEN_BRACE, 0); i >= 0 && opens <= max; i = b.indexOf(OPEN_BRACE, i + 1)) opens++;
    if (opens <= max) return false;
  }
  return scan(text, max, null).tooDeep;
}

interface ScanResult {
  tooDeep: boolean;
  /** [start, end) of number tokens that JSON.parse would change. */
  inexact: number[];
}

/** One pass over a JSON text (string or UTF-8 bytes: the structural characters are ASCII). */
function scan(text: string | Uint8Array, maxDepth: number, numbers: string | null): ScanResult {
  const at = typeof text === 'string' ? (i: number) => text.charCodeAt(i) : (i: number) => text[i];
  const n = text.length;
  const inexact: number[] = [];
  let depth = 0;
  let i = 0;
  while (i < n) {
    const c = at(i);
    if (c === 0x22) {
      // A string: skip to its closing quote.
      i++;
      while (i < n) {
        const d = at(i);
        if (d === 0x5c) i += 2;
        else if (d === 0x22) break;
        else i++;
      }
      i++;
    } else if (c === OPEN_BRACKET || c === OPEN_BRACE) {
      if (++depth > maxDepth) return { tooDeep: true, inexact };
      i++;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      i++;
    } else if (numbers !== null && (c === 0x2d || (c >= 0x30 && c <= 0x39))) {
      let j = i + 1;
      while (j < n) {
        const d = at(j);
        if ((d >= 0x30 && d <= 0x39) || d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) j++;
        else break;
      }
      if (!numberIsExact(numbers.slice(i, j))) inexact.push(i, j);
      i = j;
    } else i++;
  }
  return { tooDeep: false, inexact };
}

/** Whether `JSON.parse(token)` holds the same decimal value as the text (up to trailing zeros). */
export function numberIsExact(token: string): boolean {
  const value = Number(token);
  if (Number.isNaN(value)) return true; // not a number token: JSON.parse will report it
  if (!Number.isFinite(value)) return false;
  return decimalKey(token) === decimalKey(String(value));
}

/** "1.50e3" -> "15e2": sign, significant digits without leading/trailing zeros, exponent. */
function decimalKey(text: string): string {
  let s = text;
  let sign = '';
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = '-';
    s = s.slice(1);
  }
  let exp = 0;
  const e = s.search(/[eE]/);
  if (e >= 0) {
    exp = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  if (dot >= 0) {
    exp -= s.length - dot - 1;
    s = s.slice(0, dot) + s.slice(dot + 1);
  }
  s = s.replace(/^0+/, '');
  if (s === '') return '0';
  const trimmed = s.replace(/0+$/, '');
  exp += s.length - trimmed.length;
  return `${sign}${trimmed}e${exp}`;
}

export interface SafeParse {
  value: unknown;
  /** Original texts of the numbers kept as strings (empty when every number was exact). */
  keptAsText: string[];
}

export class JsonTooDeepError extends Error {
  override readonly name = 'JsonTooDeepError';
  constructor(readonly maxDepth = MAX_JSON_DEPTH) {
    super(`nested deeper than ${maxDepth} levels (arrays/objects inside each other)`);
  }
}

/**
 * `JSON.parse` that refuses lines nested deeper than `MAX_JSON_DEPTH` (JsonTooDeepError) and keeps
 * numbers JSON cannot represent exactly (`1e400`, `1e-400`, 30-digit integers) as their original
 * text. Throws JSON.parse's SyntaxError for invalid JSON.
 */
export function parseJsonKeepingNumbers(text: string, maxDepth = MAX_JSON_DEPTH): SafeParse {
  const r = scan(text, maxDepth, text);
  if (r.tooDeep) throw new JsonTooDeepError(maxDepth);
  if (r.inexact.length === 0) return { value: JSON.parse(text), keptAsText: [] };
  let out = '';
  let from = 0;
  const kept: string[] = [];
  for (let k = 0; k < r.inexact.length; k += 2) {
    const token = text.slice(r.inexact[k], r.inexact[k + 1]);
    kept.push(token);
    out += text.slice(from, r.inexact[k]) + JSON.stringify(token);
    from = r.inexact[k + 1];
  }
  out += text.slice(from);
  return { value: JSON.parse(out), keptAsText: kept };
}
