/**
 * The function table of the expression language. Functions take at most three arguments so the
 * evaluator can pass them without allocating an array per call. Every function is total: any
 * input gives a value, never an exception (records are untrusted and filters run per line).
 */

export interface ExprFunction {
  minArgs: number;
  maxArgs: number;
  /** Index of the argument that is a regex pattern (a /literal/ or a string), if any. */
  regexArg?: number;
  summary: string;
  call: (a: unknown, b: unknown, c: unknown) => unknown;
}

/** Text of a value: null/missing is "", arrays and objects are their JSON (never throws). */
export const toText = (x: unknown): string => (x === null || x === undefined ? '' : typeof x === 'string' ? x : typeof x === 'object' ? JSON.stringify(x) : String(x));
const str = toText;

/** Number of a value as JavaScript's Number() has it, except arrays and objects are NaN. */
export const toNumber = (x: unknown): number => (typeof x === 'number' ? x : x !== null && typeof x === 'object' ? NaN : Number(x));

function looseEqual(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (a === b) return true;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

/** `a contains b`: substring of a string (or number's text), or an element of an array. */
export function containsValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'string') return typeof b === 'string' ? a.includes(b) : typeof b === 'number' ? a.includes(String(b)) : false;
  if (typeof a === 'number') return typeof b === 'string' || typeof b === 'number' ? String(a).includes(String(b)) : false;
  if (Array.isArray(a)) {
    for (const x of a) if (looseEqual(x, b)) return true;
  }
  return false;
}

/** Regex test against a dynamic pattern; a bad pattern is simply no match. */
function testDynamic(value: unknown, pattern: unknown, flags: unknown): boolean {
  let re: RegExp;
  try {
    re = new RegExp(str(pattern), flags === undefined ? '' : str(flags).replace(/[gy]/g, ''));
  } catch {
    return false;
  }
  return re.test(str(value));
}

function countWords(s: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < s.length; i++) {
    const space = /\s/.test(s[i]!);
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

export const FUNCTIONS: Readonly<Record<string, ExprFunction>> = Object.freeze({
  len: { minArgs: 1, maxArgs: 1, summary: 'length of a string or array (other values: length of their text; null: 0)', call: (x) => (typeof x === 'string' || Array.isArray(x) ? x.length : x == null ? 0 : str(x).length) },
  words: { minArgs: 1, maxArgs: 1, summary: 'number of whitespace-separated words', call: (x) => countWords(str(x)) },
  lines: { minArgs: 1, maxArgs: 1, summary: 'number of non-blank lines', call: (x) => str(x).split('\n').filter((l) => l.trim()).length },
  lower: { minArgs: 1, maxArgs: 1, summary: 'lower-case text', call: (x) => str(x).toLowerCase() },
  upper: { minArgs: 1, maxArgs: 1, summary: 'upper-case text', call: (x) => str(x).toUpperCase() },
  trim: { minArgs: 1, maxArgs: 1, summary: 'text without leading/trailing whitespace', call: (x) => str(x).trim() },
  number: { minArgs: 1, maxArgs: 1, summary: 'the value as a number (NaN when it is not one)', call: (x) => toNumber(x) },
  contains: { minArgs: 2, maxArgs: 2, summary: 'same as the infix `a contains b`', call: (a, b) => containsValue(a, b) },
  startsWith: { minArgs: 2, maxArgs: 2, summary: 'text starts with the given text', call: (a, b) => str(a).startsWith(str(b)) },
  endsWith: { minArgs: 2, maxArgs: 2, summary: 'text ends with the given text', call: (a, b) => str(a).endsWith(str(b)) },
  matches: { minArgs: 2, maxArgs: 3, regexArg: 1, summary: 'regex test: matches(x, /re/i) or matches(x, "re", "i")', call: (a, re, flags) => (re instanceof RegExp ? re.test(str(a)) : testDynamic(a, re, flags)) },
  min: { minArgs: 2, maxArgs: 2, summary: 'smaller of two numbers', call: (a, b) => Math.min(toNumber(a), toNumber(b)) },
  max: { minArgs: 2, maxArgs: 2, summary: 'larger of two numbers', call: (a, b) => Math.max(toNumber(a), toNumber(b)) },
});

export { looseEqual };
