/**
 * Final-answer extraction from a generated solution.
 *
 * Order in `auto` mode: the last `\boxed{}`/`\fbox{}`, then a GSM8K `#### 42` line, then
 * "The answer is ..." phrasing. Every extractor is linear in the text length: grading runs over
 * millions of rows.
 */

export type ExtractMode = 'auto' | 'boxed' | 'gsm8k' | 'answer-is' | 'last-math' | 'regex';
export const EXTRACT_MODES: readonly ExtractMode[] = ['auto', 'boxed', 'gsm8k', 'answer-is', 'last-math', 'regex'];

export interface ExtractOptions {
  mode?: ExtractMode;
  /** For mode `regex` (or as a first try in `auto`): the last match wins; group 1 if present, else the whole match. */
  regex?: RegExp;
}

const BOX_COMMANDS = ['\\boxed', '\\fbox'];
/** End of an executed code block's output in code-mode solutions (NeMo-Skills' tags). */
export const CODE_OUTPUT_END = '</llm-code-output>';

/** Reads a balanced `{...}` group starting at `open` (which must be `{`); escaped braces do not count. */
function readBraced(text: string, open: number): { content: string; end: number } | null {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 92 /* \ */) { i++; continue; }
    if (c === 123 /* { */) depth++;
    else if (c === 125 /* } */) {
      depth--;
      if (depth === 0) return { content: text.slice(open + 1, i), end: i + 1 };
    }
  }
  return null;
}

/** The box at `at` (index of the backslash): `\boxed{...}` or `\boxed 5`. */
function readBoxAt(text: string, at: number, cmdLength: number): { content: string; end: number } | null {
  let i = at + cmdLength;
  // `\boxedfoo` is some other command.
  if (i < text.length && /[A-Za-z]/.test(text[i])) return null;
  while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
  if (text[i] === '{') return readBraced(text, i);
  if (i === at + cmdLength) return null;
  // `\boxed 5$`: up to the next `$`, whitespace or end.
  const m = /^[^\s$]+/.exec(text.slice(i, i + 200));
  return m ? { content: m[0], end: i + m[0].length } : null;
}

/** Contents of every `\boxed{}` / `\fbox{}` in order (nested boxes: the outer one). */
export function allBoxed(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let next = -1;
    let len = 0;
    for (const cmd of BOX_COMMANDS) {
      const j = text.indexOf(cmd, i);
      if (j >= 0 && (next < 0 || j < next)) { next = j; len = cmd.length; }
    }
    if (next < 0) return out;
    const box = readBoxAt(text, next, len);
    if (box) {
      if (box.content.trim()) out.push(box.content.trim());
      i = box.end;
    } else i = next + len;
  }
}

/** The content of the last `\boxed{...}` or `\fbox{...}`, nested braces included; null if none closes. */
export function extractBoxed(text: string): string | null {
  const run = lastBoxRun(text);
  return run === null ? null : run.join(', ');
}

/**
 * The contents of the final run of listed boxes (`\boxed{1}, \boxed{2}` -> ['1', '2']), or of
 * the last box alone; null when no box closes or the last one is empty.
 */
export function lastBoxRun(text: string): string[] | null {
  let from = text.length;
  // Walk backwards so the common case (one box near the end) costs one scan from the end.
  while (from > 0) {
    let at = -1;
    let len = 0;
    for (const cmd of BOX_COMMANDS) {
      const j = text.lastIndexOf(cmd, from - 1);
      if (j > at) { at = j; len = cmd.length; }
    }
    if (at < 0) return null;
    const box = readBoxAt(text, at, len);
    // An empty last box is no answer (not the previous box: the model withdrew it).
    if (box) {
      const last = box.content.trim();
      return last ? listedBoxes(text, at, last) : null;
    }
    from = at;
  }
  return null;
}

/** What may stand between boxes that list one answer: `\boxed{1}, \boxed{2} \text{ and } \boxed{3}`. */
function isListJoiner(gap: string): boolean {
  // `y_1 = \boxed{A} and y_2 = \boxed{B}`: a variable's name before the next box is a label.
  gap = gap.replace(/(^|[\s$(])[A-Za-z](?:_\{?\w{1,3}\}?)?\s*=\s*$/, '$1');
  if (gap.length > 80 || /[\d=.]/.test(gap.replace(/\\text\s*\{[^{}]*\}/g, ''))) return false;
  const rest = gap
    .replace(/\\(?:text|mbox|textnormal)\s*\{[^{}]*\}/g, ' ')
    .replace(/\\q?quad|\\[,;:! ]|\\[()[\]]|\$|[,;\s]/g, ' ')
    .trim();
  if (!rest) return true;
  // Plain words between boxes: `and` / `or`, after at most one other word (the first box's unit:
  // `\boxed{1} papers and \boxed{2} bins`). `\boxed{1} then \boxed{2}` and `\boxed{1} or rather
  // \boxed{2}` are corrections, not lists.
  const words = rest.split(/\s+/);
  const conj = (w: string) => /^(?:and|or)$/i.test(w);
  return (words.length === 1 && conj(words[0])) || (words.length === 2 && /^[A-Za-z]{1,15}$/.test(words[0]) && !conj(words[0]) && conj(words[1]));
}

/**
 * Several boxes listed together at the end (`\boxed{1}, \boxed{2}, \boxed{3}`, `\boxed{(2, 2)}
 * \quad \text{and} \quad \boxed{(6, 2)}`) are one answer: the list. Boxes separated by anything
 * else (a sentence, a formula) are not joined: the last one is the answer.
 */
function listedBoxes(text: string, lastAt: number, last: string): string[] {
  const parts = [last];
  let at = lastAt;
  for (let k = 0; k < 50; k++) {
    let prev = -1;
    let len = 0;
    for (const cmd of BOX_COMMANDS) {
      const j = text.lastIndexOf(cmd, at - 1);
      if (j > prev) { prev = j; len = cmd.length; }
    }
    if (prev < 0) break;
    const box = readBoxAt(text, prev, len);
    if (!box || box.end > at || !box.content.trim() || !isListJoiner(text.slice(box.end, at))) break;
    parts.unshift(box.content.trim());
    at = prev;
  }
  return parts;
}

/** `#### 42` (GSM8K reference style): the text after the last `####` on its line. */
export function extractGsm8k(text: string): string | null {
  const at = text.lastIndexOf('####');
  if (at < 0) return null;
  const nl = text.indexOf('\n', at);
  const ans = text.slice(at + 4, nl < 0 ? undefined : nl).trim();
  return ans || null;
}

// `**` around the phrase or the answer: markdown bold, common in chat models' final lines.
const ANSWER_IS = /(?:final answer|the answer|answer)\**\s*(?:is\b|:)\**\s*:?\**\s*/gi;

/** "The answer is 42." / "Final answer: $\frac{1}{2}$": the last such phrase, to the end of its line. */
export function extractAnswerIs(text: string): string | null {
  let last: RegExpExecArray | null = null;
  ANSWER_IS.lastIndex = 0;
  for (let m = ANSWER_IS.exec(text); m; m = ANSWER_IS.exec(text)) last = m;
  if (!last) return null;
  const start = last.index + last[0].length;
  const nl = text.indexOf('\n', start);
  let ans = text.slice(start, nl < 0 ? undefined : nl).trim();
  // A box inside the phrase wins over the surrounding words.
  const boxed = extractBoxed(ans);
  if (boxed !== null) return boxed;
  // Math-delimited: the first `$...$` / `\(...\)` (Minerva style "is $\frac12$. I hope...").
  // Quotes around the answer (`is "$12$ and $13$"`) are not part of it.
  ans = ans.replace(/^(?:\\?["\u201c'])+/, '');
  if (/^(?:\$|\\\(|\\\[)/.test(ans)) {
    const first = mathRuns(ans, 1)[0];
    if (first !== undefined) return first;
  }
  // Plain text: up to the end of the sentence (a period followed by space or the end).
  const end = /\.(?:\s|$)/.exec(ans);
  if (end) ans = ans.slice(0, end.index);
  ans = ans.replace(/^\*+|\*+$/g, '').trim();
  // "Final Answer: The largest $n$ is 34": the value after the last "is".
  const is = /\bis\s+([^\s].*)$/.exec(ans);
  if (is && !/\bis\b/.test(is[1])) ans = is[1].replace(/^\$+|\$+$/g, '').trim();
  return ans || null;
}

// `$$...$$`, `$...$` (escaped `\$` inside), `\(...\)`, `\[...\]`: each alternative ends at its
// own terminator, so the scan is linear.
const MATH_SPAN = /\$\$([^$]*)\$\$|\$((?:\\.|[^$\\])*)\$|\\\(([\s\S]*?)\\\)|\\\[([\s\S]*?)\\\]/g;

/**
 * The last math span of the text (Math-Verify's rule for answers without a box): `Answer $9$`,
 * `Therefore $x \geq 5$ is the solution.` Not part of `auto`: a solution that never marks its
 * answer should not be graded on whatever formula it wrote last.
 */
export function extractLastMath(text: string): string | null {
  const runs = mathRuns(text);
  return runs.length ? runs[runs.length - 1] : null;
}

/** Math spans of the text, those listed together (`$1$ and $2$ and $3$`) joined into one: `1, 2, 3`. */
function mathRuns(text: string, limit = Infinity): string[] {
  const runs: string[] = [];
  let run: string[] = [];
  let runEnd = -1;
  MATH_SPAN.lastIndex = 0;
  for (let m = MATH_SPAN.exec(text); m; m = MATH_SPAN.exec(text)) {
    const inner = (m[1] ?? m[2] ?? m[3] ?? m[4] ?? '').trim();
    if (!inner) continue;
    if (runEnd >= 0 && isListJoiner(text.slice(runEnd, m.index))) run.push(inner);
    else {
      if (run.length) runs.push(run.join(', '));
      if (runs.length >= limit) return runs;
      run = [inner];
    }
    runEnd = m.index + m[0].length;
  }
  if (run.length) runs.push(run.join(', '));
  return runs;
}

export function extractWithRegex(text: string, regex: RegExp): string | null {
  const re = new RegExp(regex.source, regex.flags.includes('g') ? regex.flags : regex.flags + 'g');
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    last = m;
    if (m[0].length === 0) re.lastIndex++;
  }
  if (!last) return null;
  const v = (last.length > 1 ? last[1] : last[0]) ?? '';
  return v.trim() || null;
}

/** Compiles a user-given regex (`/.../flags` or a bare pattern), with a clear error. */
export function compileAnswerRegex(source: string): RegExp {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(source);
  try {
    return m ? new RegExp(m[1], m[2]) : new RegExp(source);
  } catch (e) {
    throw new Error(`invalid answer regex ${JSON.stringify(source)}: ${(e as Error).message}`);
  }
}

/** The predicted final answer of a generation, or null when none is found. */
export function extractAnswer(text: string | null | undefined, options: ExtractOptions = {}): string | null {
  if (typeof text !== 'string' || text.length === 0) return null;
  // Solutions with executed code: the final answer comes after the last output block (a box
  // printed by the code itself is not the model's answer).
  const lastOutput = text.lastIndexOf(CODE_OUTPUT_END);
  if (lastOutput >= 0) text = text.slice(lastOutput + CODE_OUTPUT_END.length);
  const mode = options.mode ?? 'auto';
  switch (mode) {
    case 'boxed': return extractBoxed(text);
    case 'gsm8k': return extractGsm8k(text);
    case 'answer-is': return extractAnswerIs(text);
    case 'last-math': return extractLastMath(text);
    case 'regex':
      if (!options.regex) throw new Error('answer extraction mode "regex" needs a regex');
      return extractWithRegex(text, options.regex);
    case 'auto': {
      if (options.regex) {
        const r = extractWithRegex(text, options.regex);
        if (r !== null) return r;
      }
      const boxed = extractBoxed(text);
      if (boxed !== null) {
        // "The final answer is $10,455$" after the last box (boxes of intermediate results): the phrase wins.
        const after = text.slice(text.lastIndexOf('\\boxed') + 1);
        const tail = after.length < text.length && /answer/i.test(after) && !/\\(?:boxed|fbox)/.test(after) ? extractAnswerIs(after.slice(after.indexOf('}') + 1)) : null;
        return tail ?? boxed;
      }
      return extractGsm8k(text) ?? extractAnswerIs(text);
    }
    default:
      throw new Error(`unknown answer extraction mode ${JSON.stringify(mode)} (use one of ${EXTRACT_MODES.join(', ')})`);
  }
}
