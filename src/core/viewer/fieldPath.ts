/**
 * Field paths (`a.b`, `items[0].text`, `["key with space"]`) and value display helpers shared by
 * paging, search, filters and group-by.
 */

export type PathSegment = string | number;

/** Parse `a.b[0]["x y"]` into segments; throws with the 1-based column of the problem. */
export function parseFieldPath(path: string): PathSegment[] {
  const segs: PathSegment[] = [];
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`bad field path "${path}": ${msg} at column ${i + 1}`);
  };
  if (path.length === 0) fail('empty path');
  let expectName = true;
  while (i < path.length) {
    const c = path[i];
    if (c === '[') {
      const close = path.indexOf(']', i);
      if (close < 0) fail('missing ]');
      const inner = path.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) segs.push(Number(inner));
      else if (/^"(?:[^"\\]|\\.)*"$/.test(inner)) segs.push(JSON.parse(inner) as string);
      else if (/^'[^']*'$/.test(inner)) segs.push(inner.slice(1, -1));
      else fail('expected an index or a quoted key inside [ ]');
      i = close + 1;
      expectName = false;
    } else if (c === '.') {
      if (expectName) fail('unexpected "."');
      i++;
      expectName = true;
    } else {
      if (!expectName) fail('expected "." or "["');
      const m = /^[^.[\]]+/.exec(path.slice(i));
      if (!m) fail('expected a field name');
      segs.push(m![0]);
      i += m![0].length;
      expectName = false;
    }
  }
  if (expectName) fail('path ends with "."');
  return segs;
}

/** Value at `segs` inside `record`, or undefined when any step is missing. */
export function getPath(record: unknown, segs: readonly PathSegment[]): unknown {
  let cur: unknown = record;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (typeof s === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[s];
    } else {
      if (Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, s)) return undefined;
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return cur;
}

/** A display string for a cell: strings as they are, everything else as compact JSON. */
export function displayValue(v: unknown, maxChars: number): { text: string; truncated: boolean } {
  let text: string;
  if (v === undefined) text = '';
  else if (typeof v === 'string') text = v;
  else text = safeStringify(v);
  if (text.length > maxChars) return { text: text.slice(0, maxChars), truncated: true };
  return { text, truncated: false };
}

/** JSON.stringify that never throws (cycles cannot come from JSON.parse, but be safe). */
export function safeStringify(v: unknown, indent?: number): string {
  try {
    return JSON.stringify(v, null, indent) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Stable key for grouping: strings stay readable, other values become JSON. */
export function groupKeyOf(v: unknown): string {
  if (v === undefined) return '(missing)';
  if (typeof v === 'string') return v;
  // Numbers, booleans and null print as JSON does (JSON has no NaN or Infinity), without JSON.stringify.
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  return safeStringify(v);
}
