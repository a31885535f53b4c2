/**
 * Final-answer extraction from a generated solution.
 *
 * Order in `auto` mode: the last `\boxed{}`/`\fbox{}`, then a GSM8K `#### 42` line, then
 * "The answer is ..." phrasing. Every extractor is linear in the text length: grading runs over
 * millions of rows.
 */

export type ExtractMode = 'auto' | 'boxed' | 'gsm8k' | 'answer-is' | 'regex';
export const EXTRACT_MODES: readonly ExtractMode[] = ['auto', 'boxed', 'gsm8k', 'answer-is', 'regex'];

export interface ExtractOptions {
  mode?: ExtractMode;
  /** For mode `regex` (or as a first try in `auto`): the last match wins; group 1 if present, else the whole match. */
  regex?: RegExp;
}

const BOX_COMMANDS = ['\\boxed', '\\fbox'];

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
    if (box) return box.content.trim() || null;
    from = at;
  }
  return null;
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
  const math = /^\$+([^$]*)\$+/.exec(ans) ?? /^\\\((.*?)\\\)/.exec(ans) ?? /^\\\[(.*?)\\\]/.exec(ans);
  if (math) return math[1].trim() || null;
  // Plain text: up to the end of the sentence (a period followed by space or the end).
  const end = /\.(?:\s|$)/.exec(ans);
  if (end) ans = ans.slice(0, end.index);
  ans = ans.replace(/^\*+|\*+$/g, '').trim();
  return ans || null;
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
  const mode = options.mode ?? 'auto';
  switch (mode) {
    case 'boxed': return extractBoxed(text);
    case 'gsm8k': return extractGsm8k(text);
    case 'answer-is': return extractAnswerIs(text);
    case 'regex':
      if (!options.regex) throw new Error('answer extraction mode "regex" needs a regex');
      return extractWithRegex(text, options.regex);
    case 'auto': {
      if (options.regex) {
        const r = extractWithRegex(text, options.regex);
        if (r !== null) return r;
      }
      return extractBoxed(text) ?? extractGsm8k(text) ?? extractAnswerIs(text);
    }
    default:
      throw new Error(`unknown answer extraction mode ${JSON.stringify(mode)} (use one of ${EXTRACT_MODES.join(', ')})`);
  }
}
