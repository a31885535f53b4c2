/**
 * Code-mode solutions (src/core/generate/code.ts) mix prose with Python blocks and the sandbox's
 * output: `<llm-code>`…`</llm-code>` then `<llm-code-output>`…`</llm-code-output>`. This splits
 * such a value into segments for the detail pane, and marks outputs that show a failed execution.
 * Pure string code: no DOM, no Node modules (it is bundled into the webview and unit-tested in Node;
 * logic/ is CommonJS for the tests, like webview/studio/logic).
 */

export const CODE_TAGS = {
  codeBegin: '<llm-code>',
  codeEnd: '</llm-code>',
  outputBegin: '<llm-code-output>',
  outputEnd: '</llm-code-output>',
} as const;

export type CodeSegment =
  | { kind: 'prose'; text: string }
  /** `terminated` is false for a last block without its end tag (a solution cut off mid-block). */
  | { kind: 'code'; text: string; terminated: boolean }
  /** `failed` names why the output looks like a failed execution (see outputFailure). */
  | { kind: 'output'; text: string; terminated: boolean; failed: boolean; reason?: string };

/**
 * The rule of the SFT filter (src/core/sft/filters.ts, codeExecutionError) applied to one output
 * block. A copy, not an import: filters.ts reads files (node:fs, tokenizers) and cannot go into the
 * webview bundle; test/unit/viewer-code-blocks.test.ts checks both agree. `<output cut>` (a long
 * output shortened by the sandbox) is not a failure of the code, so it is not marked here.
 */
const ERROR_TEXTS: Array<[string, string]> = [
  ['Traceback (most recent call last)', 'Python traceback'],
  ['SyntaxError', 'SyntaxError'],
];
/** The sandbox writes exactly this (alone or after the output so far) when a block runs too long. */
const TIMED_OUT = /(?:^|\n)\s*Timed out\s*$/;
/** An error line printed by Python: `NameError: name 'x' is not defined` (as in filters.ts). */
const PY_ERROR_LINE = /^\s*((?:[A-Z]\w*(?:Error|Exception)|KeyboardInterrupt))\b(?::|$)/m;

/** Why an output block looks like a failed execution, or undefined. */
export function outputFailure(output: string): string | undefined {
  if (TIMED_OUT.test(output)) return 'timed out';
  for (const [needle, why] of ERROR_TEXTS) if (output.includes(needle)) return why;
  const m = PY_ERROR_LINE.exec(output);
  return m ? m[1] : undefined;
}

/** True when `text` has a code or output block worth splitting. */
export function hasCodeBlocks(text: string): boolean {
  return text.includes(CODE_TAGS.codeBegin) || text.includes(CODE_TAGS.outputBegin);
}

/** Drop the one newline the generator puts after an opening tag and before a closing one. */
function inner(text: string): string {
  return text.replace(/^\r?\n/, '').replace(/\r?\n$/, '');
}

/** Split `text` into prose, code and output segments, in order. Text without tags is one prose segment. */
export function splitCodeBlocks(text: string): CodeSegment[] {
  const out: CodeSegment[] = [];
  const prose = (s: string) => {
    if (s !== '') out.push({ kind: 'prose', text: s });
  };
  let at = 0;
  while (at < text.length) {
    const c = text.indexOf(CODE_TAGS.codeBegin, at);
    const o = text.indexOf(CODE_TAGS.outputBegin, at);
    if (c < 0 && o < 0) break;
    const isCode = c >= 0 && (o < 0 || c < o);
    const begin = isCode ? c : o;
    const [open, close] = isCode ? [CODE_TAGS.codeBegin, CODE_TAGS.codeEnd] : [CODE_TAGS.outputBegin, CODE_TAGS.outputEnd];
    prose(text.slice(at, begin));
    const start = begin + open.length;
    const end = text.indexOf(close, start);
    const terminated = end >= 0;
    const body = inner(text.slice(start, terminated ? end : text.length));
    if (isCode) out.push({ kind: 'code', text: body, terminated });
    else {
      const reason = outputFailure(body);
      out.push(reason ? { kind: 'output', text: body, terminated, failed: true, reason } : { kind: 'output', text: body, terminated, failed: false });
    }
    at = terminated ? end + close.length : text.length;
    // The newline after a closing tag belongs to the block, not to the prose that follows.
    if (terminated && text[at] === '\n') at++;
  }
  prose(text.slice(at));
  return out;
}
