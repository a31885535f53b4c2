/**
 * Solution filters of NeMo-Skills' `prepare_sft_data` (nemo_skills/training/data_preparation_utils),
 * re-implemented: code-execution errors, trimming after the final boxed answer, wrong arithmetic
 * in `a op b = c` statements, and token lengths with a tokenizer the user names.
 */
import { loadTokenizer as loadHfTokenizer } from '../tokenizer';
import { extractBoxed } from '../math/extract';

// ---------------------------------------------------------------------------------------------
// Code execution errors

/** NeMo-Skills' `remove_code_errors` patterns (math_sft.yaml), matched as plain text. */
export const CODE_ERROR_PATTERNS = ['Traceback (most recent call last)', '<output cut>', 'Timed out', 'SyntaxError'];

const OUTPUT_BLOCK = /<llm-code-output>([\s\S]*?)<\/llm-code-output>/g;
/** An error line printed by Python inside an output block: `NameError: name 'x' is not defined`. */
const PY_ERROR_LINE = /^\s*(?:[A-Z]\w*(?:Error|Exception)|KeyboardInterrupt)\b(?::|$)/m;

/**
 * Why a solution's code execution failed, or null. Reads the execution flags that code-mode
 * generation records (`code_execution_failed`, `code_execution_timed_out`) and the text: NeMo-Skills'
 * patterns anywhere, and Python error lines inside `<llm-code-output>` blocks.
 */
export function codeExecutionError(row: Record<string, unknown>, text: string): string | null {
  if (row.code_execution_failed === true) return 'code_execution_failed';
  if (row.code_execution_timed_out === true) return 'code_execution_timed_out';
  for (const p of CODE_ERROR_PATTERNS) if (text.includes(p)) return p;
  if (text.includes('<llm-code-output>')) {
    OUTPUT_BLOCK.lastIndex = 0;
    for (let m = OUTPUT_BLOCK.exec(text); m; m = OUTPUT_BLOCK.exec(text)) if (PY_ERROR_LINE.test(m[1])) return 'error in <llm-code-output>';
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Trimming

/**
 * NeMo-Skills' TrimSolutions: cut the text after the line that holds the last `\boxed{answer}`
 * (the rest of that line stays). Unchanged when there is no box.
 */
export function trimAfterFinalAnswer(text: string): string {
  const answer = extractBoxed(text);
  if (answer === null) return text;
  const box = `\\boxed{${answer}}`;
  const at = text.lastIndexOf(box);
  if (at < 0) return text;
  const end = at + box.length;
  const nl = text.indexOf('\n', end);
  return nl < 0 ? text : text.slice(0, nl);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

/**
 * Arithmetic statements of a text, as NeMo-Skills' `extract_expressions` scans them: runs of
 * digits, spaces, `.` and `+-/*=()`; a run with at least two of `+-/*` is kept.
 */
export function arithmeticExpressions(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  const ops = (s: string) => { let n = 0; for (const c of s) if (c === '+' || c === '-' || c === '/' || c === '*') n++; return n; };
  for (const c of text) {
    if (/\s/.test(c)) {
      if (cur) cur += c;
    } else if (c === '.') {
      if (cur && /\d/.test(cur[cur.length - 1])) cur += c;
      // The reference yields the run at a period that does not follow a digit, and keeps reading.
      else if (cur) out.push(cur.trimEnd());
    } else if (/\d/.test(c)) cur += c;
    else if (c === '=' && !cur) continue;
    else if ('+-/*=()'.includes(c)) cur += c;
    else {
      if (ops(cur) >= 2) out.push(cur.trimEnd());
      cur = '';
    }
  }
  if (ops(cur) >= 2) out.push(cur.trimEnd());
  return out;
}

/** Evaluates `+ - * / **` and parentheses over decimal numbers; null when it is not such an expression. */
export function evaluateArithmetic(expr: string): number | null {
  const tokens = expr.match(/\d+(?:\.\d+)?|\*\*|[-+*/()]|\S/g);
  if (!tokens) return null;
  let i = 0;
  const peek = () => tokens[i];
  const primary = (): number => {
    const t = tokens[i++];
    if (t === undefined) throw new Error('end');
    if (t === '-') return -unary();
    if (t === '+') return unary();
    if (t === '(') {
      const v = sum();
      if (tokens[i++] !== ')') throw new Error(')');
      return v;
    }
    if (/^\d/.test(t)) return Number(t);
    throw new Error(t);
  };
  const unary = (): number => {
    const base = primary();
    if (peek() === '**') { i++; return base ** unary(); }
    return base;
  };
  const product = (): number => {
    let v = unary();
    while (peek() === '*' || peek() === '/') v = tokens[i++] === '*' ? v * unary() : v / unary();
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (peek() === '+' || peek() === '-') v = tokens[i++] === '+' ? v + product() : v - product();
    return v;
  };
  try {
    const v = sum();
    return i === tokens.length && Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

/**
 * NeMo-Skills' DropIncorrectArithmetic: the first statement `a op b ... = ... = c` whose left
 * side does not evaluate to its last member (relative tolerance 1e-4, Python's `isclose`), or null.
 * Statements that do not evaluate are skipped, as the reference skips them.
 */
export function incorrectArithmetic(text: string, tolerance = 1e-4): string | null {
  for (const expression of arithmeticExpressions(text)) {
    const parts = expression.split('=');
    if (parts.length < 2) continue;
    const lhs = evaluateArithmetic(parts[0]);
    const rhs = evaluateArithmetic(parts[parts.length - 1]);
    if (lhs === null || rhs === null) continue;
    if (!(Math.abs(lhs - rhs) <= tolerance * Math.max(Math.abs(lhs), Math.abs(rhs)))) return expression.trim();
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Tokens

export interface SolutionTokenizer {
  readonly file: string;
  /** Tokens of the text without special tokens (`encode(text, add_special_tokens=False)`, as NeMo-Skills counts). */
  count(text: string): number;
}

/**
 * A Hugging Face tokenizer read from `tokenizer.json` (or a folder holding it and, when present,
 * `tokenizer_config.json`) with @huggingface/tokenizers (the shared loader, src/core/tokenizer.ts).
 */
export function loadTokenizer(path: string): SolutionTokenizer {
  const t = loadHfTokenizer(path, '--tokenizer');
  return { file: t.file, count: (text) => t.countNoSpecial(text) };
}
