/**
 * Sort the rows of a view (all lines, or a query's matches) by one field, in the back end: one
 * streaming pass reads each line's value at the field path; per line the viewer keeps a number
 * (numbers), or a string prefix (strings), so memory is a few bytes per line plus short keys.
 * Order: numbers, then strings, then booleans, then other values (as JSON), then missing
 * (absent, null, not a record, malformed); ties keep file order. Descending reverses the
 * present values; missing ones stay last.
 */
import type { JsonlFile } from './jsonlFile';
import { parseLine } from './jsonlFile';
import { getPath, parseFieldPath, safeStringify } from './fieldPath';

/** Characters of a string (or JSON) value compared when sorting. */
const KEY_CHARS = 200;

const enum Rank {
  Number = 0,
  String = 1,
  Boolean = 2,
  Other = 3,
  Missing = 4,
}

/**
 * Line numbers of `lines` (ascending; all lines when undefined) ordered by the value at `path`.
 * Throws on a bad field path.
 */
export async function sortLines(file: JsonlFile, path: string, desc: boolean, lines?: readonly number[], signal?: AbortSignal): Promise<Uint32Array> {
  const segs = parseFieldPath(path);
  const total = lines ? lines.length : file.lineCount;
  const order = new Uint32Array(total);
  const ranks = new Uint8Array(total);
  const nums = new Float64Array(total);
  const strs: Array<string | undefined> = [];
  let k = 0;
  const visit = (line: number, text: string, ok: boolean): void => {
    order[k] = line;
    let v: unknown;
    if (ok) {
      const p = parseLine(text, false);
      if (p.status === 'ok' && p.value && typeof p.value === 'object' && !Array.isArray(p.value)) v = getPath(p.value, segs);
    }
    if (typeof v === 'number' && Number.isFinite(v)) {
      ranks[k] = Rank.Number;
      nums[k] = v;
    } else if (typeof v === 'string') {
      ranks[k] = Rank.String;
      strs[k] = v.slice(0, KEY_CHARS);
    } else if (typeof v === 'boolean') {
      ranks[k] = Rank.Boolean;
      nums[k] = v ? 1 : 0;
    } else if (v === undefined || v === null) {
      ranks[k] = Rank.Missing;
    } else {
      ranks[k] = Rank.Other;
      strs[k] = safeStringify(v).slice(0, KEY_CHARS);
    }
    k++;
  };
  if (!lines) {
    await file.forEachChunk(0, total, (batch) => {
      for (const l of batch) if (k < total) visit(l.line, l.text, !l.cut);
    }, signal);
  } else {
    // The lines are ascending: read the runs between them chunk by chunk, keeping the wanted ones.
    let i = 0;
    while (i < lines.length) {
      signal?.throwIfAborted();
      const from = lines[i];
      const to = Math.min(file.lineCount, from + 4096);
      await file.forEachChunk(from, to, (batch) => {
        for (const l of batch) {
          while (i < lines.length && lines[i] < l.line) i++;
          if (i < lines.length && lines[i] === l.line) {
            visit(l.line, l.text, !l.cut);
            i++;
          }
        }
        return i < lines.length && lines[i] < to;
      }, signal);
      if (i < lines.length && lines[i] === from) i++; // a line the file no longer has
    }
  }
  const idx = new Uint32Array(k);
  for (let j = 0; j < k; j++) idx[j] = j;
  const sign = desc ? -1 : 1;
  const sorted = Array.from(idx).sort((a, b) => {
    const ra = ranks[a];
    const rb = ranks[b];
    if (ra !== rb) {
      if (ra === Rank.Missing || rb === Rank.Missing) return ra - rb;
      return sign * (ra - rb);
    }
    let c = 0;
    if (ra === Rank.Number || ra === Rank.Boolean) c = nums[a] - nums[b];
    else if (ra === Rank.String || ra === Rank.Other) c = strs[a]! < strs[b]! ? -1 : strs[a]! > strs[b]! ? 1 : 0;
    return c !== 0 ? sign * c : a - b;
  });
  const out = new Uint32Array(k);
  for (let j = 0; j < k; j++) out[j] = order[sorted[j]];
  return out;
}
