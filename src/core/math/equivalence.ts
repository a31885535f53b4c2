/**
 * Are two final answers the same mathematical object? (MATH / GSM8K style answers.)
 *
 * Cheap first: string clean-up (spacing, `\left`, `\dfrac`, units, `\$`, degrees, thousands
 * separators, relation spellings) and exact comparison; then plain numbers as exact rationals
 * (integers and fractions exactly; a decimal is an approximation only to its own digits, so two
 * distinct integers are never equal: `numbersEqual`); only then structure (tuples, intervals, sets, matrices, `\pm`, equations) and, per element, mathjs:
 * the LaTeX is converted to a mathjs expression (./latex.ts) and both sides are evaluated,
 * at random points when they have free variables (polynomial identity testing: exact for the
 * rational/algebraic expressions answers are made of, with a vanishing false-positive rate).
 * Results are cached by (prediction, reference).
 */
import type { MathJsInstance, EvalFunction } from 'mathjs' with { 'resolution-mode': 'require' };
import { convert, KNOWN_NAMES } from './latex';

/** Relative tolerance when a side is a decimal approximation (`0.3333` vs `\frac13` is NOT equal, `0.33333` is). */
export const NUMERIC_REL_TOL = 1e-4;
/** Relative tolerance between two exact expressions evaluated in floating point: rounding noise only. */
export const EXACT_REL_TOL = 1e-9;

/**
 * C(n, k) in at most 1000 steps: exact (up to float rounding) when min(k, n-k) <= 1000, and
 * Infinity beyond, which is right in doubles: C(2002, 1001) is already above 1e600.
 */
export function boundedBinomial(n: number, k: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(k) || k < 0 || n < 0 || k > n) return NaN;
  k = Math.min(k, n - k);
  if (k > 1000) return Infinity;
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  // The running product is exact up to float rounding: snap to the integer it must be.
  return r < Number.MAX_SAFE_INTEGER ? Math.round(r) : r;
}

/** x^(p/q) for x < 0 and odd q <= 9, as a real number; null when that does not apply. */
export function realPow(x: number, e: number): number | null {
  if (!(x < 0) || Number.isInteger(e) || !Number.isFinite(e)) return null;
  for (let q = 3; q <= 9; q += 2) {
    const p = Math.round(e * q);
    if (Math.abs(e * q - p) < 1e-9) {
      const magnitude = Math.pow(-x, e);
      return p % 2 === 0 ? magnitude : -magnitude;
    }
  }
  return null;
}

let mathInstance: MathJsInstance | null = null;
function math(): MathJsInstance {
  // Loaded on first use: a command that never compares expressions does not pay for it.
  // `require` because mathjs declares its types as ESM while this project compiles to CommonJS.
  if (!mathInstance) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { create, all } = require('mathjs') as typeof import('mathjs', { with: { 'resolution-mode': 'require' } });
    mathInstance = create(all, {});
    // mathjs `combinations` multiplies k factors: \binom{10^9}{5 \cdot 10^8} would stall grading.
    mathInstance.import({ binom: boundedBinomial }, { override: true });
    // Real powers as answers mean them: (-8)^{2/3} = 4 (the real cube root squared), not the
    // principal complex value mathjs returns. Only for exponents p/q with a small odd q.
    const complexPow = mathInstance.pow;
    mathInstance.import({ pow: (a: unknown, b: unknown) => (typeof a === 'number' && typeof b === 'number' ? realPow(a, b) : null) ?? complexPow(a as never, b as never) }, { override: true });
  }
  return mathInstance;
}

// ---------------------------------------------------------------------------------------------
// Clean-up

const TEXT_WRAPPER = /\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|textnormal|mathcal|mathscr)\s*\{/g;

/** Replaces `\cmd{x}` wrappers by their content (balanced braces). */
function unwrapCommands(s: string, re: RegExp, keep: (inner: string) => string): string {
  let out = '';
  let last = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    let depth = 1;
    let j = m.index + m[0].length;
    for (; j < s.length && depth > 0; j++) {
      if (s[j] === '\\') { j++; continue; }
      if (s[j] === '{') depth++;
      else if (s[j] === '}') depth--;
    }
    if (depth !== 0) break;
    out += s.slice(last, m.index) + keep(s.slice(m.index + m[0].length, j - 1));
    last = j;
    re.lastIndex = j;
  }
  return out + s.slice(last);
}

// No nested quantifiers in these patterns: model outputs are adversarial enough to hit
// catastrophic backtracking (`(?:[A-Za-z]+\s*)+` takes seconds on 30 letters and a digit).
const UNIT_WORD = /^\s*[A-Za-z][A-Za-z.\s]*$/;

export interface Cleaned {
  text: string;
  percent: boolean;
}

/** String-level normalisation shared by every comparison (and the cache/vote key). */
export function cleanAnswer(raw: string): Cleaned {
  let s = raw.trim();
  // Surrounding math delimiters and a final period.
  for (;;) {
    const before = s;
    s = s.replace(/^\$+|\$+$/g, '').replace(/^\\\(|\\\)$/g, '').replace(/^\\\[|\\\]$/g, '').trim();
    s = s.replace(/\.$/, '').trim();
    if (s === before) break;
  }
  // A stray trailing backslash (`185\`), not a row break `\\`.
  s = s.replace(/(?<!\\)\\$/, '').trim();
  // Commands escaped twice (`\\dfrac`, from JSON written by hand) outside matrices.
  if (!s.includes('\\begin')) s = s.replace(/\\\\(?=[A-Za-z]{2})/g, '\\');
  // Digit groups written the MATH way: `10,\!080` (any group size), `1{,}000`, and thin spaces `1\,000`.
  s = s.replace(/(\d),\\!\s*(?=\d)/g, '$1').replace(/(\d)\{,\}(?=\d{3})/g, '$1').replace(/(\d)\\[,;: ](?=\d{3}(?!\d))/g, '$1');
  // `\frac{14}{3} \approx 4.67`: the exact value is the answer; `x \approx 11`: the value.
  s = /^[A-Za-z]\s*\\approx/.test(s) ? s.replace(/^[A-Za-z]\s*\\approx\s*/, '') : s.replace(/^(.+?)\s*\\approx.*$/s, '$1');
  // `1 \text{ and } -2`, `x = 1 \text{ or } x = -2`: a list.
  s = s.replace(/\s*\\(?:text|mbox)\s*\{\s*(?:and|or)\s*\}\s*/g, ', ');
  // ... and in plain words between mathematical items (`x = 1 or x = -2`, not `black and white`).
  if (/[\d\\]/.test(s)) s = s.replace(/\s+(?:and|or)\s+/g, ', ');
  // `(11,7)or(7,11)`: tuples joined by a word without spaces.
  s = s.replace(/\)\s*(?:or|and)\s*\(/g, '), (');
  // Relations written in ASCII or long forms, one spelling each: `>=`, `\geqslant` -> `\ge`.
  s = s
    .replace(/>=|\\geq?(?:slant)?(?![A-Za-z])|≥/g, ' \\ge ')
    .replace(/<=|\\leq?(?:slant)?(?![A-Za-z])|≤/g, ' \\le ')
    .replace(/!=|\\neq?(?![A-Za-z])|≠/g, ' \\neq ')
    .replace(/\\lt(?![A-Za-z])/g, ' < ')
    .replace(/\\gt(?![A-Za-z])/g, ' > ');
  // Semicolons as separators: inside tuples `(0;-2;6)` and in lists without commas `-12;-11;-10`.
  s = s.replace(/\(([^(),;]*(?:;[^(),;]*)+)\)/g, (_w, inner: string) => `(${inner.replace(/;/g, ',')})`);
  if (!s.includes(',') && /^[^;]+(?:;[^;]+)+$/.test(s)) s = s.replace(/;/g, ',');
  // Protect matrix row breaks `\\` from the spacing rules below.
  s = s.replace(/\\\\/g, '\u0001');
  s = s
    .replace(/\\left(?![A-Za-z])\s*\.?/g, '')
    .replace(/\\right(?![A-Za-z])\s*\.?/g, '')
    .replace(/\\(?:big|Big|bigg|Bigg)[lr]?(?![A-Za-z])/g, '')
    .replace(/\\[,;:! ]/g, ' ')
    .replace(/\\q?quad/g, ' ')
    .replace(/~/g, ' ')
    .replace(/\\displaystyle(?![A-Za-z])/g, '')
    .replace(/\\[dtc]frac(?![A-Za-z])/g, '\\frac')
    .replace(/\\dbinom|\\tbinom/g, '\\binom')
    .replace(/−/g, '-');
  // Degrees.
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|°|\\degree(?![A-Za-z])/g, '');
  // Percent.
  let percent = false;
  if (/\\?%\s*$/.test(s)) { percent = true; s = s.replace(/\\?%\s*$/, ''); }
  // Currency.
  s = s.replace(/\\\$|\$/g, '').replace(/^(?:USD|US\$)\s*/i, '');
  // Units in \text{}/\mbox{} after a quantity (`5.4 \text{ cents}`, `864 \mbox{ inches}^2`).
  if (/\\(?:text|mbox|mathrm|textrm|textbf|textnormal|textit)\s*\{/.test(s)) {
    const onlyText = /^\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|textnormal)\s*\{(.*)\}$/s.exec(s);
    if (!onlyText || /[{}]/.test(onlyText[1])) {
      s = s.replace(/\\(?:text|mbox|mathrm|textrm|textbf|textnormal|textit)\s*\{\s*([A-Za-z][A-Za-z.\s]*)\}(?:\s*\^\s*\{?[23]\}?)?/g, (whole, inner: string, off: number) => {
        // Keep words that ARE the answer (`x \text{ or } y` is rare; a leading word is not a unit).
        return off > 0 && UNIT_WORD.test(inner) ? '' : whole;
      });
    }
    s = unwrapCommands(s, TEXT_WRAPPER, (inner) => inner);
  } else if (/\\(?:mathbf|mathcal|mathscr)\s*\{/.test(s)) {
    s = unwrapCommands(s, TEXT_WRAPPER, (inner) => inner);
  }
  // Repeating decimals: `0.\overline{36}` = 36/99.
  s = s.replace(/(\d*)\.(\d*)\\overline\s*\{(\d{1,12})\}/g, (_w, i: string, f: string, r: string) => repeatingToFraction(i, f, r));
  // Short fraction/root forms: `\frac43`, `\frac{270}7`, `\frac 59`, `\sqrt2`.
  s = s
    .replace(/\\frac\s*(\d)\s*(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac\s*(\{[^{}]*\})\s*(\d)/g, '\\frac$1{$2}')
    .replace(/\\frac\s*(\d)\s*\{/g, '\\frac{$1}{')
    .replace(/\\sqrt\s*(\d)/g, '\\sqrt{$1}');
  // Trailing plain unit words after a number: `18 dollars`, `5 cm^2`.
  const unit = /^([-+]?(?:\d[\d,]*(?:\.\d*)?|\.\d+))\s+[A-Za-z]{2,}(?:\s+[A-Za-z]+)*\.?(?:\s*\^\s*\{?[23]\}?)?$/.exec(s);
  if (unit) s = unit[1];
  s = s.replace(/\s+/g, ' ').replace(/\u0001/g, '\\\\').trim();
  return { text: s, percent };
}

/** I.F(R)(R)... as `\frac{p}{q}`: (IFR - IF) / (10^|F| (10^|R| - 1)). */
function repeatingToFraction(intPart: string, fixed: string, repeat: string): string {
  const whole = BigInt((intPart || '0') + fixed + repeat);
  const head = BigInt((intPart || '0') + fixed);
  const den = 10n ** BigInt(fixed.length) * (10n ** BigInt(repeat.length) - 1n);
  return `\\frac{${whole - head}}{${den}}`;
}

/** Answers longer than this are compared as whitespace-free text only. */
export const MAX_ANSWER_LENGTH = 2000;

/** A key that equal-looking answers share: cleaned, whitespace removed. */
export function answerKey(raw: string): string {
  if (raw.length > MAX_ANSWER_LENGTH) return raw.replace(/\s+/g, '');
  return cleanAnswer(raw).text.replace(/\s+/g, '');
}

// ---------------------------------------------------------------------------------------------
// Structure

export type Answer =
  | { kind: 'text'; value: string }
  | { kind: 'expr'; latex: string; percent: boolean; base?: string }
  | { kind: 'equation'; lhs: string; rhs: string; simpleLhs: boolean }
  | { kind: 'seq'; open: string; close: string; items: Answer[] }
  | { kind: 'set'; items: Answer[] }
  | { kind: 'union'; parts: Answer[] }
  | { kind: 'matrix'; rows: Answer[][]; latex: string };

const OPEN = '([{';
const CLOSE = ')]}';

/** Splits at `sep` (a string) outside brackets; `\{`/`\}` count as brackets. */
function splitTop(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') {
      if (s[i + 1] === '{') depth++;
      else if (s[i + 1] === '}') depth--;
      if (depth === 0 && s.startsWith(sep, i) && sep.startsWith('\\') && !/[A-Za-z]/.test(s[i + sep.length] ?? '')) {
        parts.push(s.slice(start, i));
        i += sep.length - 1;
        start = i + 1;
        continue;
      }
      i++;
      continue;
    }
    if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c)) depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      parts.push(s.slice(start, i));
      i += sep.length - 1;
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}

/** True when the bracket opened at 0 closes exactly at the last character. */
function wrapsWhole(s: string): boolean {
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') { i++; continue; }
    if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c)) {
      depth--;
      if (depth === 0) return i === s.length - 1;
    }
  }
  return false;
}

const CHOICE = /^\(?\s*([A-Ea-e])\s*\)$|^\(\s*([A-Ea-e])\s*\)?$/;
const WORDS_ONLY = /^[A-Za-z][A-Za-z\s'.-]*$/;
/**
 * Left-hand sides that only name the answer: `x`, `f(x)`, `\alpha`, `(p,q)`, `|AB|`, `AB`,
 * `A:B`, `V_1:V_2`, `S_{MBCN}:S`, `\frac{NO}{BO}`. `(p,q)=(3,2)` is then the answer `(3,2)`.
 */
/** `\frac12`, `2+3`: numbers and operators only (`\frac12 = \frac{10}{9}` is a computation whose value is on the right). */
function isArithmetic(side: string): boolean {
  return /\d/.test(side) && /^[-+*/^()\d\s.{}]*$/.test(side.replace(/\\(?:frac|cdot|times|sqrt)(?![A-Za-z])/g, ''));
}

function isLabel(lhs: string): boolean {
  if (SIMPLE_LHS.test(lhs)) return true;

  const bare = lhs.replace(/_\{[^{}]*\}|_\w/g, '').replace(/\s+/g, '');
  return /^\([A-Za-z](?:,[A-Za-z])+\)$/.test(bare) || /^\|[A-Za-z]{1,3}\|$/.test(bare) || /^[A-Z]{2,3}$/.test(bare) ||
    /^[A-Za-z]{1,4}(?::[A-Za-z]{1,4})+$/.test(bare) || /^\\frac\{[A-Za-z]{1,3}\}\{[A-Za-z]{1,3}\}$/.test(bare);
}

const SIMPLE_LHS = /^(?:[A-Za-z](?:_\{?\w+\}?)?|\\[A-Za-z]+|[A-Za-z]\s*\([A-Za-z]\))$/;
const THOUSANDS = /^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/;

/** Parses a cleaned answer into its structure. */
export function parseAnswer(raw: string): Answer {
  const { text, percent } = cleanAnswer(raw);
  return parseCleaned(text, percent, 0);
}

function parseCleaned(s: string, percent: boolean, depth: number): Answer {
  s = s.trim();
  if (depth > 8) return { kind: 'text', value: s };
  if (!s) return { kind: 'text', value: '' };
  const choice = CHOICE.exec(s);
  if (choice) return { kind: 'text', value: `(${(choice[1] ?? choice[2]).toUpperCase()})` };
  if (THOUSANDS.test(s)) return { kind: 'expr', latex: s.replace(/,/g, ''), percent };
  if (/^\\emptyset$|^\\varnothing$|^\\\{\s*\\\}$/.test(s)) return { kind: 'set', items: [] };
  // `x \in [-2, 7]`
  const inSet = /^[A-Za-z]\s*\\in\s*(.+)$/s.exec(s);
  if (inSet) return parseCleaned(inSet[1], percent, depth + 1);
  // Inequalities in one variable as intervals: `x \ge 3` = `[3, \infty)`, `-2 \le x < 7` = `[-2, 7)`.
  const interval = inequalityAsInterval(s);
  if (interval) return parseCleaned(interval, false, depth + 1);
  // A matrix inside brackets: `\left[\begin{array}{cc}...\end{array}\right]`, `(\begin{pmatrix}...\end{pmatrix})`.
  const bracketed = /^[[(]\s*(\\begin\{([pbBvV]?matrix|array)\}.*\\end\{\2\})\s*[\])]$/s.exec(s);
  if (bracketed) return parseCleaned(bracketed[1], percent, depth + 1);
  // Matrices / vectors.
  const matrix = /^\\begin\{([pbBvV]?matrix|array)\}(?:\{[^}]*\})?(.*)\\end\{\1\}$/s.exec(s);
  // `\begin{pmatrix}..\end{pmatrix} + \begin{pmatrix}..\end{pmatrix}` is an expression, not one matrix.
  if (matrix && !matrix[2].includes('\\begin{')) {
    const rows = matrix[2].split(/\\\\/).map((r) => r.trim()).filter((r) => r.length > 0);
    return { kind: 'matrix', rows: rows.map((r) => r.split('&').map((cell) => parseCleaned(cell, false, depth + 1))), latex: s };
  }
  // Unions of intervals.
  const unionParts = splitTop(s, '\\cup');
  if (unionParts.length > 1) return { kind: 'union', parts: unionParts.map((p) => parseCleaned(p, false, depth + 1)) };
  // Sets in braces.
  if (s.startsWith('\\{') && s.endsWith('\\}')) {
    const inner = s.slice(2, -2);
    if (!inner.trim()) return { kind: 'set', items: [] };
    return { kind: 'set', items: expandSet(splitTop(inner, ',').map((p) => parseCleaned(p, false, depth + 1))) };
  }
  // `{-2021, 2021}`: plain braces around a comma list (a set written without `\{`).
  if (s[0] === '{' && s[s.length - 1] === '}' && wrapsWhole(s)) {
    const items = splitTop(s.slice(1, -1), ',');
    if (items.length > 1) return { kind: 'set', items: expandSet(items.map((p) => parseCleaned(p, false, depth + 1))) };
    return parseCleaned(s.slice(1, -1), percent, depth + 1);
  }
  // Tuples and intervals: a bracket pair around the whole answer with top-level commas.
  if ('(['.includes(s[0]) && ')]'.includes(s[s.length - 1]) && wrapsWhole(s)) {
    const inner = s.slice(1, -1);
    const items = splitTop(inner, ',');
    if (items.length > 1) return { kind: 'seq', open: s[0], close: s[s.length - 1], items: items.map((p) => parseCleaned(p, false, depth + 1)) };
    if (s[0] === '(' && s[s.length - 1] === ')') return parseCleaned(inner, percent, depth + 1);
  }
  // `p=5,q=2;p=7,q=2`: solutions as groups of assignments -> the set of tuples (5,2), (7,2).
  const groups = splitTop(s, ';');
  if (groups.length > 1) {
    const assignments = groups.map((g) => splitTop(g, ',').map((a) => /^\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(.+?)\s*$/s.exec(a)));
    if (assignments.every((g) => g.length > 1 && g.every((m) => m !== null))) {
      return { kind: 'set', items: assignments.map((g) => ({ kind: 'seq', open: '(', close: ')', items: g.map((m) => parseCleaned(m![1], false, depth + 1)) })) };
    }
  }
  // Bare comma lists: "enter all solutions separated by commas" -> unordered.
  const commaParts = splitTop(s, ',');
  if (commaParts.length > 1) return { kind: 'set', items: expandSet(commaParts.map((p) => parseCleaned(p, false, depth + 1))) };
  // `a \pm b` -> both values.
  const pm = splitTop(s, '\\pm');
  if (pm.length === 2) {
    const [a, b] = [pm[0].trim(), pm[1].trim()];
    return { kind: 'set', items: [parseCleaned(a ? `${a}+(${b})` : b, false, depth + 1), parseCleaned(`${a}-(${b})`, false, depth + 1)] };
  }
  const mp = splitTop(s, '\\mp');
  if (mp.length === 2) {
    const [a, b] = [mp[0].trim(), mp[1].trim()];
    return { kind: 'set', items: [parseCleaned(`${a}-(${b})`, false, depth + 1), parseCleaned(a ? `${a}+(${b})` : b, false, depth + 1)] };
  }
  // Equations.
  const eq = splitTop(s, '=');
  if (eq.length === 2) {
    const lhs = eq[0].trim();
    const rhs = eq[1].trim();
    return { kind: 'equation', lhs, rhs, simpleLhs: isLabel(lhs) || (isArithmetic(lhs) && isArithmetic(rhs)) };
  }
  // A chain `x = 5+5+1 = 11`: the last member is the value the chain arrives at.
  if (eq.length > 2) return { kind: 'equation', lhs: eq[0].trim(), rhs: eq[eq.length - 1].trim(), simpleLhs: true };
  // Number in a base: `52_8`, `4210_{5}`.
  const base = /^(\w+)_\{?(\d+)\}?$/.exec(s);
  if (base && /^[0-9A-Fa-f]+$/.test(base[1])) return { kind: 'expr', latex: base[1], percent: false, base: base[2] };
  if (WORDS_ONLY.test(s) && /[A-Za-z]{3,}/.test(s) && !/^(?:sqrt|pi|sin|cos|tan|cot|sec|csc|log|ln|exp|inf|infty|infinity)\b/i.test(s)) {
    return { kind: 'text', value: s.toLowerCase().replace(/\s+/g, ' ').replace(/\.$/, '') };
  }
  return { kind: 'expr', latex: s, percent };
}

// After cleanAnswer every relation is one of `<`, `>`, `\le`, `\ge` (and `\neq`).
const LESS = '(?:<|\\\\le(?![A-Za-z]))';
const GREATER = '(?:>|\\\\ge(?![A-Za-z]))';
const REL = `(?:${LESS}|${GREATER})`;
const ONE_SIDED = new RegExp(`^(-?)\\s*([A-Za-z])\\s*(${REL})\\s*([^<>=]+)$`);
const FLIPPED = new RegExp(`^([^<>=]+?)\\s*(${REL})\\s*([A-Za-z])$`);
const VARIABLE = '[A-Za-z](?:\\s*\\([A-Za-z]\\))?';
const TWO_SIDED = new RegExp(`^([^<>=]+?)\\s*(${LESS})\\s*(${VARIABLE})\\s*(${LESS})\\s*([^<>=]+)$`);
const ABS_TWO_SIDED = new RegExp(`^([^<>=|]+?)\\s*(${LESS})\\s*\\|\\s*([A-Za-z])\\s*\\|\\s*(${LESS})\\s*([^<>=|]+)$`);
const TWO_SIDED_DOWN = new RegExp(`^([^<>=]+?)\\s*(${GREATER})\\s*(${VARIABLE})\\s*(${GREATER})\\s*([^<>=]+)$`);

function inequalityAsInterval(s: string): string | null {
  if (!/[<>]|\\[lg]e(?![A-Za-z])/.test(s)) return null;
  const strict = (op: string) => op === '<' || op === '>';
  const isLess = (op: string) => op === '<' || op.startsWith('\\l');
  const oneSided = (less: boolean, op: string, bound: string) =>
    less ? `(-\\infty, ${bound.trim()}${strict(op) ? ')' : ']'}` : `${strict(op) ? '(' : '['}${bound.trim()}, \\infty)`;
  let m = ONE_SIDED.exec(s);
  if (m) {
    const [, neg, , op, bound] = m;
    // `-x > -1` is `x < 1`.
    return neg ? oneSided(!isLess(op), op, `-(${bound.trim()})`) : oneSided(isLess(op), op, bound);
  }
  m = TWO_SIDED.exec(s);
  if (m) {
    const [, lo, op1, , op2, hi] = m;
    return `${strict(op1) ? '(' : '['}${lo.trim()}, ${hi.trim()}${strict(op2) ? ')' : ']'}`;
  }
  m = TWO_SIDED_DOWN.exec(s);
  if (m) {
    const [, hi, op1, , op2, lo] = m;
    return `${strict(op2) ? '(' : '['}${lo.trim()}, ${hi.trim()}${strict(op1) ? ')' : ']'}`;
  }
  // `1 \le |z| \le \frac32`: two intervals, `[-\frac32, -1] \cup [1, \frac32]`.
  m = ABS_TWO_SIDED.exec(s);
  if (m) {
    const [, lo, op1, , op2, hi] = m;
    const [l, h] = [lo.trim(), hi.trim()];
    const open = (op: string) => (strict(op) ? ['(', ')'] : ['[', ']']);
    const [lo1, lo2] = open(op1);
    const [hi1, hi2] = open(op2);
    return `${hi1}-(${h}), -(${l})${lo2} \\cup ${lo1}${l}, ${h}${hi2}`;
  }
  // `5 \le x` is `x \ge 5`.
  m = FLIPPED.exec(s);
  if (m) {
    const [, bound, op] = m;
    return oneSided(!isLess(op), op, bound);
  }
  return null;
}

/** A `\pm` element inside a set contributes both of its values. */
function expandSet(items: Answer[]): Answer[] {
  const out: Answer[] = [];
  for (const it of items) {
    if (it.kind === 'set') out.push(...it.items);
    else if (it.kind === 'equation' && it.simpleLhs) {
      // `x = 1, x = -2`: the values.
      const v = parseCleaned(it.rhs, false, 1);
      if (v.kind === 'set') out.push(...v.items); else out.push(v);
    } else out.push(it);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Numbers and expressions

/** Plain numbers without mathjs: integers, decimals, `a/b`, `\frac{a}{b}`, mixed numbers. */
export function quickNumber(s: string): number | null {
  const q = exactNumber(s);
  return q ? Number(q.num) / Number(q.den) : null;
}

/**
 * A number written in an answer, as an exact rational. `decimals` is the count of digits after
 * the point when it was written as a decimal (an approximation, maybe), null for integers and
 * fractions (exact by construction).
 */
export interface ExactNumber {
  num: bigint;
  den: bigint;
  decimals: number | null;
}

function gcd(a: bigint, b: bigint): bigint {
  a = a < 0n ? -a : a;
  b = b < 0n ? -b : b;
  while (b) [a, b] = [b, a % b];
  return a;
}

function rational(num: bigint, den: bigint, decimals: number | null): ExactNumber | null {
  if (den === 0n) return null;
  if (den < 0n) { num = -num; den = -den; }
  const g = gcd(num, den) || 1n;
  return { num: num / g, den: den / g, decimals };
}

function decimalOf(text: string): ExactNumber | null {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (!m[1] && !m[2])) return null;
  const frac = m[2] ?? '';
  return rational(BigInt((m[1] || '0') + frac), 10n ** BigInt(frac.length), m[2] !== undefined && frac.length > 0 ? frac.length : null);
}

/** Integers, decimals, `a/b`, `\frac{a}{b}` (signs inside or out), mixed numbers `3\frac12`, `3128 1/2`. */
export function exactNumber(s: string): ExactNumber | null {
  let m = /^([-+]?)(\d+(?:\.\d*)?|\.\d+)$/.exec(s);
  if (m) {
    const d = decimalOf(m[2]);
    return d && (m[1] === '-' ? { ...d, num: -d.num } : d);
  }
  // Scientific notation `1e5`, `2.5e-3`: exact, with the digits it claims.
  m = /^([-+]?)(\d+(?:\.\d*)?|\.\d+)e([-+]?\d{1,3})$/i.exec(s);
  if (m) {
    const d = decimalOf(m[2]);
    if (!d) return null;
    const e = Number(m[3]);
    const places = (d.decimals ?? 0) - e;
    const [num, den] = e >= 0 ? [d.num * 10n ** BigInt(e), d.den] : [d.num, d.den * 10n ** BigInt(-e)];
    return rational(m[1] === '-' ? -num : num, den, places > 0 && d.decimals !== null ? places : null);
  }
  m = /^([-+]?)\s*(\d+)\s*\/\s*(\d+)$/.exec(s) ?? /^([-+]?)\s*\\frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}$/.exec(s);
  if (m) return rational((m[1] === '-' ? -1n : 1n) * BigInt(m[2]), BigInt(m[3]), null);
  m = /^([-+]?)\s*\\frac\{\s*-\s*(\d+)\s*\}\{\s*(\d+)\s*\}$/.exec(s);
  if (m) return rational((m[1] === '-' ? 1n : -1n) * BigInt(m[2]), BigInt(m[3]), null);
  // Decimal fractions `\frac{1.5}{2}`: exact quotient of two decimals.
  m = /^([-+]?)\s*\\frac\{\s*(\d+(?:\.\d*)?)\s*\}\{\s*(\d+(?:\.\d*)?)\s*\}$/.exec(s);
  if (m) {
    const a = decimalOf(m[2]);
    const b = decimalOf(m[3]);
    if (!a || !b || b.num === 0n) return null;
    const places = Math.max(a.decimals ?? 0, b.decimals ?? 0);
    return rational((m[1] === '-' ? -1n : 1n) * a.num * b.den, a.den * b.num, places > 0 ? places : null);
  }
  // Mixed numbers: `1\frac{4}{5}`, `137 \frac{1}{2}`, `3128 1/2` (a proper fraction after a whole number).
  m = /^([-+]?)\s*(\d+)\s*\\frac\{\s*(\d+)\s*\}\{\s*(\d+)\s*\}$/.exec(s) ?? /^([-+]?)(\d+)\s+(\d+)\s*\/\s*(\d+)$/.exec(s);
  if (m && BigInt(m[3]) < BigInt(m[4])) {
    const den = BigInt(m[4]);
    return rational((m[1] === '-' ? -1n : 1n) * (BigInt(m[2]) * den + BigInt(m[3])), den, null);
  }
  return null;
}

/**
 * Are two written numbers equal? Exact values (integers, fractions) and two decimals compare
 * exactly. A decimal against an exact value is an approximation of it: equal when it is the
 * value rounded to the decimal's digits (|a - b| <= half a unit in its last place) and within
 * NUMERIC_REL_TOL relative. Half a unit is at most 0.05, so no two distinct integers are equal.
 */
export function numbersEqual(a: ExactNumber, b: ExactNumber): boolean {
  if (a.num === b.num && a.den === b.den) return true;
  if ((a.decimals === null) === (b.decimals === null)) return false;
  const [approx] = a.decimals !== null ? [a, b] : [b, a];
  const d = approx.decimals!;
  // |a - b| = |an*bd - bn*ad| / (ad*bd)
  const diffNum = a.num * b.den - b.num * a.den;
  const absDiff = diffNum < 0n ? -diffNum : diffNum;
  const den = a.den * b.den;
  // half a unit in the last place: |diff| <= 1 / (2 * 10^d)
  if (absDiff * 2n * 10n ** BigInt(d) > den) return false;
  // relative: |diff| < tol * max(|a|, |b|), tol = 1e-4
  const absA = (a.num < 0n ? -a.num : a.num) * b.den;
  const absB = (b.num < 0n ? -b.num : b.num) * a.den;
  const larger = absA > absB ? absA : absB;
  return absDiff * 10000n < larger;
}

function percentCandidates(x: ExactNumber, percent: boolean): ExactNumber[] {
  if (!percent) return [x];
  const scaled = rational(x.num, x.den * 100n, x.decimals === null ? null : x.decimals + 2);
  return scaled ? [x, scaled] : [x];
}

interface Compiled {
  fn: EvalFunction;
  vars: string[];
}

const compiledCache = new Map<string, Compiled | null>();
const COMPILED_CACHE_MAX = 50_000;

/** Longer "answers" are not final answers (a model rambling inside a box): no CAS for them. */
const MAX_CAS_LENGTH = 1000;

function compileLatex(latex: string): Compiled | null {
  if (latex.length > MAX_CAS_LENGTH) return null;
  const hit = compiledCache.get(latex);
  if (hit !== undefined) return hit;
  let result: Compiled | null = null;
  try {
    const node = math().parse(convert(latex));
    const vars = new Set<string>();
    node.traverse((n, path, parent) => {
      if ((n as { isSymbolNode?: boolean }).isSymbolNode) {
        const isCallee = parent && (parent as { isFunctionNode?: boolean }).isFunctionNode && path === 'fn';
        const name = (n as unknown as { name: string }).name;
        if (!isCallee && !KNOWN_NAMES.has(name)) vars.add(name);
      }
    });
    result = { fn: node.compile(), vars: [...vars].sort() };
  } catch {
    result = null;
  }
  if (compiledCache.size >= COMPILED_CACHE_MAX) compiledCache.clear();
  compiledCache.set(latex, result);
  return result;
}

type Value = { re: number; im: number };

function toValue(v: unknown): Value | null {
  if (typeof v === 'number') return { re: v, im: 0 };
  if (typeof v === 'boolean') return null;
  if (v && typeof v === 'object') {
    const o = v as { re?: unknown; im?: unknown; valueOf?: () => unknown };
    if (typeof o.re === 'number' && typeof o.im === 'number') return { re: o.re, im: o.im };
    // BigNumber / Fraction.
    const n = Number(o.valueOf?.());
    if (Number.isFinite(n)) return { re: n, im: 0 };
  }
  return null;
}

function close(a: number, b: number, tol: number): boolean {
  if (a === b) return true; // includes matching infinities
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= Math.max(tol * Math.max(Math.abs(a), Math.abs(b)), 1e-12);
}

/** A float that is (up to rounding) an integer small enough to be represented exactly. */
function asInteger(v: Value): number | null {
  if (v.im !== 0 || !Number.isFinite(v.re) || Math.abs(v.re) > 2 ** 52) return null;
  const r = Math.round(v.re);
  return Math.abs(v.re - r) <= 1e-9 * Math.max(1, Math.abs(r)) ? r : null;
}

function valuesClose(a: Value, b: Value, tol: number): boolean {
  // Two distinct integers are never equal, whatever the tolerance.
  const ia = asInteger(a);
  const ib = asInteger(b);
  if (ia !== null && ib !== null) return ia === ib;
  const scale = Math.max(Math.hypot(a.re, a.im), Math.hypot(b.re, b.im));
  if (!Number.isFinite(scale)) return close(a.re, b.re, tol) && close(a.im, b.im, tol);
  const d = Math.hypot(a.re - b.re, a.im - b.im);
  return d <= Math.max(tol * scale, 1e-12);
}

/** Points at which free variables are sampled: fixed, so grading is deterministic. */
const SAMPLE_POINTS = [0.6180339, 1.4142135, 2.7182818, -0.8366600, 1.7320508, 3.1415926, -1.3, 0.45];

/** A matrix result as its size and entries (row-major); null when it is not a matrix. */
function matrixValue(v: unknown): { size: string; entries: Value[] } | null {
  const m = v as { isMatrix?: boolean; size?: () => number[]; toArray?: () => unknown[] };
  if (!m || typeof m !== 'object' || !m.isMatrix || !m.size || !m.toArray) return null;
  const entries: Value[] = [];
  const flat = (x: unknown): boolean => {
    if (Array.isArray(x)) return x.every(flat);
    const e = toValue(x);
    if (!e) return false;
    entries.push(e);
    return true;
  };
  return flat(m.toArray()) ? { size: m.size().join('x'), entries } : null;
}

function evaluateRaw(c: Compiled, vars: string[], trial: number): unknown {
  const scope: Record<string, number> = {};
  vars.forEach((v, k) => (scope[v] = SAMPLE_POINTS[(trial * 3 + k * 5) % SAMPLE_POINTS.length] + trial * 0.173 + k * 0.0917));
  try {
    return c.fn.evaluate(scope);
  } catch {
    return null;
  }
}

function evaluateAt(c: Compiled, vars: string[], trial: number): Value | null {
  return toValue(evaluateRaw(c, vars, trial));
}

const TRIALS = 5;

/** Compares two expressions by value (numbers) or at sample points (free variables). */
function exprEqual(a: string, b: string, tol: number): boolean {
  const ca = compileLatex(a);
  const cb = compileLatex(b);
  if (!ca || !cb) return false;
  const vars = [...new Set([...ca.vars, ...cb.vars])].sort();
  if (/\\begin\{/.test(a) || /\\begin\{/.test(b)) {
    // Matrices: same size and every entry equal, at every sample point.
    if (vars.length) return false;
    const ma = matrixValue(evaluateRaw(ca, vars, 0));
    const mb = matrixValue(evaluateRaw(cb, vars, 0));
    return ma !== null && mb !== null && ma.size === mb.size && ma.entries.every((e, k) => valuesClose(e, mb.entries[k], tol));
  }
  let agreed = 0;
  for (let trial = 0; trial < (vars.length ? TRIALS : 1); trial++) {
    const va = evaluateAt(ca, vars, trial);
    const vb = evaluateAt(cb, vars, trial);
    if (!va || !vb) {
      if (!vars.length) return false;
      continue; // a pole or a domain error at this point: try others
    }
    if (Number.isNaN(va.re) || Number.isNaN(vb.re)) continue;
    if (!valuesClose(va, vb, tol)) return false;
    agreed++;
  }
  return vars.length ? agreed >= 2 : agreed === 1;
}

/** `lhs1 = rhs1` and `lhs2 = rhs2` describe the same set: lhs-rhs proportional by a constant. */
function equationsEqual(a: { lhs: string; rhs: string }, b: { lhs: string; rhs: string }): boolean {
  const fa = compileLatex(`(${a.lhs})-(${a.rhs})`);
  const fb = compileLatex(`(${b.lhs})-(${b.rhs})`);
  if (!fa || !fb) return false;
  const vars = [...new Set([...fa.vars, ...fb.vars])].sort();
  let ratio: Value | null = null;
  let agreed = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const va = evaluateAt(fa, vars, trial);
    const vb = evaluateAt(fb, vars, trial);
    if (!va || !vb || va.im !== 0 || vb.im !== 0 || !Number.isFinite(va.re) || !Number.isFinite(vb.re)) continue;
    if (Math.abs(vb.re) < 1e-12 || Math.abs(va.re) < 1e-12) {
      if (Math.abs(vb.re) < 1e-12 && Math.abs(va.re) < 1e-12) { agreed++; continue; }
      return false;
    }
    const r: Value = { re: va.re / vb.re, im: 0 };
    if (ratio && !valuesClose(ratio, r, 1e-6)) return false;
    ratio = r;
    agreed++;
  }
  return agreed >= 2;
}

function stripSpaces(s: string): string {
  return s.replace(/\s+/g, '');
}

/** A decimal literal (`0.5`, `.25`) in an expression makes it an approximation. */
const DECIMAL_LITERAL = /\d\.\d|(?:^|[^\d])\.\d/;

/**
 * Tolerance for comparing two expressions by value: float noise only (1e-9) when both are exact
 * (integers, fractions, roots, pi), NUMERIC_REL_TOL when one is written with decimals.
 */
function exprTolerance(a: string, b: string): number {
  return DECIMAL_LITERAL.test(a) || DECIMAL_LITERAL.test(b) ? NUMERIC_REL_TOL : EXACT_REL_TOL;
}

function exprAnswersEqual(p: Extract<Answer, { kind: 'expr' }>, r: Extract<Answer, { kind: 'expr' }>): boolean {
  if (p.base && r.base && p.base !== r.base) return false;
  if (stripSpaces(p.latex) === stripSpaces(r.latex) && p.percent === r.percent) return true;
  const qp = exactNumber(p.latex);
  const qr = exactNumber(r.latex);
  if (p.base || r.base) return stripSpaces(p.latex).toLowerCase() === stripSpaces(r.latex).toLowerCase() || (qp !== null && qr !== null && qp.decimals === null && qr.decimals === null && numbersEqual(qp, qr));
  if (qp !== null && qr !== null) {
    for (const a of percentCandidates(qp, p.percent)) for (const b of percentCandidates(qr, r.percent)) if (numbersEqual(a, b)) return true;
    return false;
  }
  const tol = exprTolerance(p.latex, r.latex);
  if (exprEqual(p.latex, r.latex, tol)) return true;
  if (p.percent !== r.percent) {
    const [pct, other] = p.percent ? [p.latex, r.latex] : [r.latex, p.latex];
    return exprEqual(`(${pct})/100`, other, tol);
  }
  return false;
}

/** Lower-cased text of a word or choice answer; `(C)` and `C` both give `c`. */
function textOf(a: Answer): string | null {
  let t: string;
  if (a.kind === 'text') t = a.value;
  else if (a.kind === 'expr') t = a.latex;
  else return null;
  t = t.toLowerCase().replace(/\s+/g, ' ').trim();
  const choice = /^\(([a-e])\)$/.exec(t);
  return choice ? choice[1] : t;
}

/** A set's distinct elements: `{1, 1, 2}` is `{1, 2}` (lists of solutions repeat a root). */
function distinct(items: Answer[]): Answer[] {
  if (items.length > 64) return items;
  const out: Answer[] = [];
  for (const it of items) if (!out.some((o) => answersEqual(o, it))) out.push(it);
  return out;
}

function unordered(ps: Answer[], rs: Answer[]): boolean {
  if (ps.length !== rs.length) {
    ps = distinct(ps);
    rs = distinct(rs);
    if (ps.length !== rs.length) return false;
  }
  const used = new Array<boolean>(rs.length).fill(false);
  outer: for (const p of ps) {
    for (let j = 0; j < rs.length; j++) {
      if (!used[j] && answersEqual(p, rs[j])) { used[j] = true; continue outer; }
    }
    return false;
  }
  return true;
}

function ordered(ps: Answer[], rs: Answer[]): boolean {
  return ps.length === rs.length && ps.every((p, k) => answersEqual(p, rs[k]));
}

/** Structural equality of parsed answers. */
export function answersEqual(p: Answer, r: Answer): boolean {
  switch (r.kind) {
    case 'text': {
      const pt = textOf(p);
      return pt !== null && pt === textOf(r);
    }
    case 'expr':
      if (p.kind === 'expr') return exprAnswersEqual(p, r);
      // A matrix against a matrix expression (`A + B`, `A \cdot B`): by value.
      if (p.kind === 'matrix') return /\\begin\{/.test(r.latex) && exprEqual(p.latex, r.latex, exprTolerance(p.latex, r.latex));
      if (p.kind === 'equation' && p.simpleLhs) return answersEqual(parseCleaned(p.rhs, false, 1), r);
      if (p.kind === 'set' && p.items.length === 1) return answersEqual(p.items[0], r);
      if (p.kind === 'text') return textOf(r) === textOf(p);
      return false;
    case 'equation':
      if (p.kind === 'equation') {
        if (r.simpleLhs && p.simpleLhs && stripSpaces(p.lhs) === stripSpaces(r.lhs)) {
          return answersEqual(parseCleaned(p.rhs, false, 1), parseCleaned(r.rhs, false, 1));
        }
        return equationsEqual(p, r);
      }
      if (r.simpleLhs) return answersEqual(p, parseCleaned(r.rhs, false, 1));
      return false;
    case 'seq':
      if (p.kind === 'seq') return p.open === r.open && p.close === r.close && ordered(p.items, r.items);
      if (p.kind === 'matrix') return matrixAsVector(p) !== null && ordered(matrixAsVector(p)!, r.items);
      if (p.kind === 'equation' && p.simpleLhs) return answersEqual(parseCleaned(p.rhs, false, 1), r);
      return false;
    case 'set':
      if (p.kind === 'set') return unordered(p.items, r.items);
      if (p.kind === 'equation' && p.simpleLhs) return answersEqual(parseCleaned(p.rhs, false, 1), r);
      if (r.items.length === 1) return answersEqual(p, r.items[0]);
      return false;
    case 'union':
      return p.kind === 'union' && ordered(p.parts, r.parts);
    case 'matrix': {
      if (p.kind === 'matrix') {
        return p.rows.length === r.rows.length && p.rows.every((row, k) => ordered(row, r.rows[k]));
      }
      if (p.kind === 'expr' && /\\begin\{/.test(p.latex)) return exprEqual(p.latex, r.latex, exprTolerance(p.latex, r.latex));
      const vec = matrixAsVector(r);
      if (vec && p.kind === 'seq' && p.open === '(' ) return ordered(p.items, vec);
      return false;
    }
  }
}

/** A one-column or one-row matrix as a list of elements; null otherwise. */
function matrixAsVector(m: Extract<Answer, { kind: 'matrix' }>): Answer[] | null {
  if (m.rows.every((r) => r.length === 1)) return m.rows.map((r) => r[0]);
  if (m.rows.length === 1) return m.rows[0];
  return null;
}

// ---------------------------------------------------------------------------------------------
// Public entry point with cache

const CACHE_MAX = 200_000;
const cache = new Map<string, boolean>();

/**
 * Is `predicted` equivalent to `reference`? Never throws: unparseable input compares as text.
 * Cached by (predicted, reference); the cache is cleared wholesale when full (cheap, and the
 * hit rate of grading comes from the many repeats of few distinct answers per problem).
 */
export function isEquivalent(predicted: string | null | undefined, reference: string | null | undefined): boolean {
  if (predicted === null || predicted === undefined || reference === null || reference === undefined) return false;
  const p = String(predicted);
  const r = String(reference);
  if (p === r) return p.trim().length > 0;
  // A "final answer" this long is a model rambling inside a box: whitespace-insensitive equality
  // only, so no pattern ever runs over megabytes of text.
  if (p.length > MAX_ANSWER_LENGTH || r.length > MAX_ANSWER_LENGTH) return p.replace(/\s+/g, '') === r.replace(/\s+/g, '');
  const key = p + '\u0000' + r;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let result: boolean;
  try {
    const cp = cleanAnswer(p);
    const cr = cleanAnswer(r);
    if (!cp.text || !cr.text) result = false;
    else if (cp.text === cr.text && cp.percent === cr.percent) result = true;
    else {
      const qp = cp.percent || cr.percent ? null : exactNumber(cp.text);
      const qr = qp === null ? null : exactNumber(cr.text);
      if (qp !== null && qr !== null) result = numbersEqual(qp, qr);
      else result = answersEqual(parseCleaned(cp.text, cp.percent, 0), parseCleaned(cr.text, cr.percent, 0));
    }
  } catch {
    result = false;
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(key, result);
  return result;
}

/** For tests and benchmarks. */
export function clearEquivalenceCache(): void {
  cache.clear();
  compiledCache.clear();
}
