/**
 * Top-level fields of a JSON object line read straight from its bytes, without JSON.parse of the
 * whole record: a key scan that walks the object's structure (strings skipped with native
 * indexOf, nested objects and arrays bracket-matched, literals checked), keeps the byte spans of
 * the wanted keys and parses only those values. Filters and group-by read a few small fields of
 * large records (`seed`, `input_index` beside a 10 KB `generation`), so this is most of their work.
 *
 * The scan returns undefined ("cannot decide") for anything unusual: a line that is not an
 * object, an escaped key, a structural error, a number outside JSON's grammar, a value that does
 * not parse. Callers then parse the whole line. It does not check what is inside strings (a raw
 * control character, a bad escape or invalid UTF-8 in a value it skips): the query trusts a
 * line's fields only where the viewer's analysis pass found the line parses, and confirms with a
 * full parse elsewhere (see QueryScanner in query.ts).
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Whether the last string skipString() skipped may hold a backslash (it left its fast loop). */
let lastStringMayEscape = false;

/** End of the string whose opening quote is at `pos` (index after the closing quote), or -1. */
function skipString(buf: Buffer, pos: number, end: number): number {
  // Keys and short values end within a few bytes: a plain loop beats a native call there.
  const near = Math.min(end, pos + 33);
  lastStringMayEscape = false;
  for (let i = pos + 1; i < near; i++) {
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) break;
  }
  lastStringMayEscape = true;
  let q = pos + 1;
  for (;;) {
    q = buf.indexOf(QUOTE, q);
    if (q === -1 || q >= end) return -1;
    // An odd run of backslashes before it escapes the quote.
    let b = q - 1;
    while (b > pos && buf[b] === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    q++;
  }
}

/** End of the value starting at `pos` (after skipping it), or -1 on a structural error. */
function skipValue(buf: Buffer, pos: number, end: number, depth: number): number {
  if (pos >= end) return -1;
  const c = buf[pos];
  if (c === QUOTE) return skipString(buf, pos, end);
  if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
    if (depth > 64) return -1; // deep nesting: let the full parse decide
    const close = c === 0x7b ? 0x7d : 0x5d;
    let p = pos + 1;
    while (p < end && isSpace(buf[p])) p++;
    if (buf[p] === close) return p + 1;
    for (;;) {
      if (c === 0x7b) {
        if (buf[p] !== QUOTE) return -1;
        p = skipString(buf, p, end);
        if (p < 0) return -1;
        while (p < end && isSpace(buf[p])) p++;
        if (buf[p] !== 0x3a /* : */) return -1;
        p++;
        while (p < end && isSpace(buf[p])) p++;
      }
      p = skipValue(buf, p, end, depth + 1);
      if (p < 0) return -1;
      while (p < end && isSpace(buf[p])) p++;
      if (buf[p] === 0x2c /* , */) {
        p++;
        while (p < end && isSpace(buf[p])) p++;
        continue;
      }
      return buf[p] === close ? p + 1 : -1;
    }
  }
  // A number or true/false/null: up to the next delimiter, checked by its first characters.
  let p = pos;
  while (p < end) {
    const d = buf[p];
    if (d === 0x2c || d === 0x7d || d === 0x5d || isSpace(d)) break;
    p++;
  }
  const len = p - pos;
  if (c === 0x74 /* t */) return len === 4 && buf[pos + 1] === 0x72 && buf[pos + 2] === 0x75 && buf[pos + 3] === 0x65 ? p : -1;
  if (c === 0x66 /* f */) return len === 5 && buf[pos + 1] === 0x61 && buf[pos + 2] === 0x6c && buf[pos + 3] === 0x73 && buf[pos + 4] === 0x65 ? p : -1;
  if (c === 0x6e /* n */) return len === 4 && buf[pos + 1] === 0x75 && buf[pos + 2] === 0x6c && buf[pos + 3] === 0x6c ? p : -1;
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return isJsonNumber(buf, pos, p) ? p : -1;
  return -1;
}

function isDigit(d: number): boolean {
  return d >= 0x30 && d <= 0x39;
}

/** buf[s, e) is a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? (no 01, 1., +1, 1e). */
function isJsonNumber(buf: Buffer, s: number, e: number): boolean {
  let i = s;
  if (buf[i] === 0x2d) i++;
  if (i >= e || !isDigit(buf[i])) return false;
  if (buf[i] === 0x30) i++;
  else while (i < e && isDigit(buf[i])) i++;
  if (i < e && buf[i] === 0x2e) {
    i++;
    if (i >= e || !isDigit(buf[i])) return false;
    while (i < e && isDigit(buf[i])) i++;
  }
  if (i < e && (buf[i] === 0x65 || buf[i] === 0x45)) {
    i++;
    if (i < e && (buf[i] === 0x2b || buf[i] === 0x2d)) i++;
    if (i >= e || !isDigit(buf[i])) return false;
    while (i < e && isDigit(buf[i])) i++;
  }
  return i === e;
}

/** buf[at, at + key.length) equals key (keys are short: a loop beats a native call). */
function sameBytes(buf: Buffer, at: number, key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) if (buf[at + i] !== key[i]) return false;
  return true;
}

/** buf[from, to) holds byte c (for short spans such as keys: a native call would search past `to`). */
function hasByte(buf: Buffer, from: number, to: number, c: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] === c) return true;
  return false;
}

/** The wanted top-level keys, as bytes for comparison. */
export class KeyScan {
  private readonly keys: Buffer[];
  /** Value span [start, end) of each wanted key in the current line (start -1: absent); reused. */
  private readonly spans: Int32Array;
  /** The values handed back by read(); reused, so a caller keeps the values, not the array. */
  private readonly out: unknown[];

  constructor(readonly names: readonly string[]) {
    this.keys = names.map((n) => Buffer.from(n, 'utf8'));
    this.spans = new Int32Array(names.length * 2);
    this.out = new Array(names.length);
  }

  /**
   * The values of the wanted keys of the object line buf[start, end) (undefined where a key is
   * absent), or undefined when the scan cannot decide (then parse the whole line). The array is
   * reused by the next call.
   */
  read(buf: Buffer, start: number, end: number): Array<unknown> | undefined {
    let p = start;
    while (p < end && isSpace(buf[p])) p++;
    if (buf[p] !== 0x7b) return undefined;
    const spans = this.spans;
    for (let k = 0; k < spans.length; k++) spans[k] = -1;
    p++;
    while (p < end && isSpace(buf[p])) p++;
    if (buf[p] !== 0x7d) {
      for (;;) {
        if (buf[p] !== QUOTE) return undefined;
        const ks = p + 1;
        p = skipString(buf, p, end);
        if (p < 0) return undefined;
        const ke = p - 1;
        // Every wanted slot with this name (a name may be asked for twice).
        let want = -1;
        let wantMore = false;
        for (let k = 0; k < this.keys.length; k++) {
          const key = this.keys[k];
          if (key.length === ke - ks && sameBytes(buf, ks, key)) {
            if (want >= 0) wantMore = true;
            else want = k;
          }
        }
        // An escaped key might spell a wanted one: only the full parse knows.
        if (want < 0 && lastStringMayEscape && hasByte(buf, ks, ke, BACKSLASH)) return undefined;
        while (p < end && isSpace(buf[p])) p++;
        if (buf[p] !== 0x3a) return undefined;
        p++;
        while (p < end && isSpace(buf[p])) p++;
        const vs = p;
        p = skipValue(buf, p, end, 1);
        if (p < 0) return undefined;
        // A repeated key: the last one wins, as in JSON.parse.
        if (want >= 0) {
          spans[2 * want] = vs;
          spans[2 * want + 1] = p;
          if (wantMore)
            for (let k = want + 1; k < this.keys.length; k++)
              if (this.names[k] === this.names[want]) {
                spans[2 * k] = vs;
                spans[2 * k + 1] = p;
              }
        }
        while (p < end && isSpace(buf[p])) p++;
        if (buf[p] === 0x2c) {
          p++;
          while (p < end && isSpace(buf[p])) p++;
          continue;
        }
        if (buf[p] === 0x7d) break;
        return undefined;
      }
    }
    p++;
    while (p < end && isSpace(buf[p])) p++;
    if (p !== end) return undefined;
    const out = this.out;
    for (let k = 0; k < out.length; k++) {
      const vs = spans[2 * k];
      if (vs < 0) {
        out[k] = undefined;
        continue;
      }
      try {
        out[k] = parseSpan(buf, vs, spans[2 * k + 1]);
      } catch {
        return undefined;
      }
    }
    return out;
  }
}

/** One value's bytes: the common small literals without a parser, the rest with JSON.parse. */
function parseSpan(buf: Buffer, s: number, e: number): unknown {
  const c = buf[s];
  if (c === 0x74) return true;
  if (c === 0x66) return false;
  if (c === 0x6e) return null;
  if (e - s <= 15 && (c === 0x2d || (c >= 0x30 && c <= 0x39))) {
    // Short integers (input_index, seed) are the usual group keys: no string, no parser.
    let v = 0;
    let i = c === 0x2d ? s + 1 : s;
    if (i < e && !(buf[i] === 0x30 && e - i > 1)) {
      for (; i < e; i++) {
        const d = buf[i] - 0x30;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      if (i === e) return c === 0x2d ? -v : v;
    }
  }
  return JSON.parse(buf.toString('utf8', s, e));
}
