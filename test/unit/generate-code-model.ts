/**
 * A deterministic "model" for the loopback mock server that writes solutions with code blocks,
 * the way a code-interpreter teacher does, and reads the real outputs the sandbox put in:
 *
 *   problems "What is A * B + C?"  -> block 1 `product = A * B` (a typo `A * * B` first for odd
 *   seeds, fixed after the SyntaxError comes back), block 2 `product + C` (needs block 1's state),
 *   then "The answer is \boxed{<the last output>}."
 *   "Count forever."               -> `while True: pass`, then \boxed{0} after the time-out.
 *
 * It finds the solution so far in the chat's final assistant message (continued) or after the
 * last assistant header of a llama3-formatted raw prompt.
 */
import type { MockRequest } from '../support/mockServer';

const LLAMA3_ASSISTANT = '<|start_header_id|>assistant<|end_header_id|>\n\n';

export function solutionSoFar(req: MockRequest): { problem: string; soFar: string } {
  let text: string;
  let soFar: string;
  if (req.prompt !== undefined) {
    const at = req.prompt.lastIndexOf(LLAMA3_ASSISTANT);
    text = req.prompt.slice(0, at);
    soFar = req.prompt.slice(at + LLAMA3_ASSISTANT.length);
  } else {
    const msgs = req.messages ?? [];
    const last = msgs[msgs.length - 1];
    soFar = last?.role === 'assistant' ? last.content : '';
    text = msgs.filter((m) => m.role === 'user').map((m) => m.content).join('\n');
  }
  const q = text.lastIndexOf('Question:\n');
  const problem = q >= 0 ? text.slice(q + 'Question:\n'.length).split('\n')[0]! : '';
  return { problem, soFar };
}

/** The next piece of the solution (the server cuts it at the `</llm-code>` stop). */
export function codeWritingModel(req: MockRequest): string {
  const { problem, soFar } = solutionSoFar(req);
  const outputs = [...soFar.matchAll(/<llm-code-output>\n([\s\S]*?)\n<\/llm-code-output>/g)].map((m) => m[1]!);
  const last = outputs[outputs.length - 1];
  if (/Count forever/.test(problem)) {
    if (outputs.length === 0) return 'I count without end.\n<llm-code>\nn = 0\nwhile True:\n    n += 1\n</llm-code>\nnever seen';
    return 'That took too long. \\boxed{0}';
  }
  const m = /What is (\d+) \* (\d+) \+ (\d+)\?/.exec(problem);
  if (!m) return 'I cannot parse this. \\boxed{0}';
  const [, a, b, c] = m;
  const typo = (req.seed ?? 0) % 2 === 1;
  if (outputs.length === 0) {
    return `First the product.\n<llm-code>\nproduct = ${a} * ${typo ? '* ' : ''}${b}\nproduct\n</llm-code>\ntext after the stop is never seen`;
  }
  if (last !== undefined && /SyntaxError/.test(last)) return `There is a typo; fixed:\n<llm-code>\nproduct = ${a} * ${b}\nproduct\n</llm-code>\n`;
  if (!soFar.includes(`product + ${c}`)) return `Then I add ${c}.\n<llm-code>\nproduct + ${c}\n</llm-code>\n`;
  return `The answer is \\boxed{${last}}.`;
}

/** Input rows for the model above, with their true answers. */
export function codeProblems(n: number): Array<{ question: string; expected_answer: string }> {
  return Array.from({ length: n }, (_, i) => {
    const a = 12 + i;
    const b = 7 + (i % 5);
    const c = 3 + i;
    return { question: `What is ${a} * ${b} + ${c}?`, expected_answer: String(a * b + c) };
  });
}
