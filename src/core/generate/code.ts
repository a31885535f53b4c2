/**
 * Code mode of the labeling job (prompt configs with `code_execution:`): solutions that mix text
 * with Python blocks, each executed in the sandbox and its output placed in the solution before
 * the model goes on (OpenMathInstruct style).
 *
 * Per sample: the model is stopped at the end of a code block (`code_end` is a stop string);
 * servers strip stop strings, so a stop with an unclosed block gets `code_end` back. The block
 * runs in the solution's sandbox session (state carries across its blocks), then
 *   "\n<output_begin>\n<output>\n<output_end>\n"
 * is appended (the reference's layout) and generation continues from the whole text so far:
 * chat servers continue the assistant message (`continue_final_message`, vLLM / SGLang), raw
 * completions servers get the formatted prompt plus the text. At most `maxExecutions` blocks run;
 * a block written after that stays unexecuted and ends the solution.
 */
import type { Sandbox, SandboxSession } from '../sandbox';
import type { ItemContext } from '../engine/scheduler';
import { getFormatter, type ConversationFormatter } from '../llm/formatters';
import type { ChatMessage, LlmClient, ModelParams, ModelResponse } from '../llm/types';
import type { CodeExecutionSettings } from '../prompts/promptConfig';

/** What each code-mode row records about its executions (export-sft can drop failed ones). */
export interface CodeExecutionStats {
  /** Blocks executed in this solution. */
  code_executions: number;
  /** True when any block raised an error (syntax error, exception, MemoryError). */
  code_execution_failed: boolean;
  /** True when any block hit the time limit. */
  code_execution_timed_out: boolean;
}

/** One finished sample of a code-mode item. */
export interface CodeSample {
  text: string;
  finishReason: string | null;
  usage: { prompt_tokens: number; completion_tokens: number };
  stats: CodeExecutionStats;
}

function count(text: string, tag: string): number {
  let n = 0;
  for (let at = text.indexOf(tag); at >= 0; at = text.indexOf(tag, at + tag.length)) n++;
  return n;
}

/**
 * Puts back a `code_end` the server stripped: a stop with more `code_begin` than `code_end`
 * means the model stopped on it (the reference assumes the same, servers do not say which stop
 * fired). The tag goes on its own line, as the examples write it.
 */
export function restoreCodeEnd(text: string, finishReason: string | null, s: CodeExecutionSettings): string {
  if (finishReason !== 'stop' || text.endsWith(s.codeEnd)) return text;
  // Outputs may quote anything (a traceback, a printed tag): only the model's own text counts.
  const own = withoutOutputs(text, s);
  if (count(own, s.codeBegin) <= count(own, s.codeEnd)) return text;
  return text + (text.endsWith('\n') ? '' : '\n') + s.codeEnd;
}

/** The text with every complete output block removed. */
function withoutOutputs(text: string, s: CodeExecutionSettings): string {
  let out = '';
  let at = 0;
  for (;;) {
    const b = text.indexOf(s.outputBegin, at);
    const e = b < 0 ? -1 : text.indexOf(s.outputEnd, b + s.outputBegin.length);
    if (e < 0) return out + text.slice(at);
    out += text.slice(at, b);
    at = e + s.outputEnd.length;
  }
}

/** True when the text ends with a closed code block that has not run (no output after it). */
export function endsWithCodeBlock(text: string, s: CodeExecutionSettings): boolean {
  if (!text.endsWith(s.codeEnd)) return false;
  const begin = text.lastIndexOf(s.codeBegin);
  const previousEnd = text.lastIndexOf(s.codeEnd, text.length - s.codeEnd.length - 1);
  return begin >= 0 && begin > previousEnd;
}

/** The code of the last block (between the last `code_begin` and the final `code_end`). */
export function lastCodeBlock(text: string, s: CodeExecutionSettings): string {
  const begin = text.lastIndexOf(s.codeBegin) + s.codeBegin.length;
  return text.slice(begin, text.length - s.codeEnd.length).replace(/^\n/, '');
}

/** The output block appended after a code block. */
export function formatOutputBlock(output: string, s: CodeExecutionSettings): string {
  return `\n${s.outputBegin}\n${output}\n${s.outputEnd}\n`;
}

/** Every code block of a solution with the output shown after it (null when none follows). */
export function codeBlocksOf(text: string, s: CodeExecutionSettings): Array<{ code: string; output: string | null }> {
  const out: Array<{ code: string; output: string | null }> = [];
  let at = 0;
  for (;;) {
    const b = text.indexOf(s.codeBegin, at);
    if (b < 0) break;
    const e = text.indexOf(s.codeEnd, b + s.codeBegin.length);
    if (e < 0) break;
    const code = text.slice(b + s.codeBegin.length, e).replace(/^\n/, '');
    at = e + s.codeEnd.length;
    let output: string | null = null;
    const ob = text.indexOf(s.outputBegin, at);
    const nextCode = text.indexOf(s.codeBegin, at);
    if (ob >= 0 && (nextCode < 0 || ob < nextCode)) {
      const oe = text.indexOf(s.outputEnd, ob + s.outputBegin.length);
      if (oe >= 0) {
        output = text.slice(ob + s.outputBegin.length, oe).trim();
        at = oe + s.outputEnd.length;
      }
    }
    out.push({ code, output });
  }
  return out;
}

export interface CodeLoopSetup {
  settings: CodeExecutionSettings;
  sandbox: Sandbox;
  /** The job's client (chat endpoints). */
  client: LlmClient;
  /** Raw-completions endpoints: a `none`-formatter client and the endpoint's formatter, applied here. */
  raw: { client: LlmClient; formatter: ConversationFormatter } | null;
}

/** The formatter of a completions endpoint, checked before any request. */
export function rawFormatterFor(apiKind: string, formatter: string | undefined): ConversationFormatter | null {
  if (apiKind === 'chat') return null;
  if (apiKind !== 'completions') throw new Error(`code execution works with --api-kind chat or completions, not ${apiKind}`);
  try {
    return getFormatter(formatter ?? 'none');
  } catch (e) {
    throw new Error(`code execution with --api-kind completions needs a built-in formatter: ${(e as Error).message}`);
  }
}

/**
 * Runs one item in code mode: the first request with `n` samples, then each sample on its own
 * through its code blocks. Resolves with one CodeSample per choice.
 */
export async function solveWithCode(
  setup: CodeLoopSetup,
  c: ItemContext,
  messages: ChatMessage[],
  params: ModelParams,
  seed: number,
  numSamples: number,
): Promise<{ samples: CodeSample[]; model: string }> {
  const s = setup.settings;
  const stop = [...new Set([...(params.stop ?? []), s.codeEnd])];

  const ask = (prefix: string, n: number, maxTokens: number | undefined): Promise<ModelResponse> => {
    const p: ModelParams = { ...params, n, seed, stop, max_tokens: maxTokens };
    if (setup.raw) {
      const prompt = setup.raw.formatter.format(messages) + prefix;
      return c.query(setup.raw.client, [{ role: 'user', content: prompt }], { ...p, stop: [...new Set([...setup.raw.formatter.stopWords, ...stop])] });
    }
    if (!prefix) return c.query(setup.client, messages, p);
    // Continue the assistant message instead of opening a new turn (vLLM, SGLang).
    return c.query(setup.client, [...messages, { role: 'assistant', content: prefix }], {
      ...p,
      extra: { ...p.extra, continue_final_message: true, add_generation_prompt: false },
    });
  };

  const first = await ask('', numSamples, params.max_tokens);
  if (first.choices.length !== numSamples) {
    throw new Error(`the server returned ${first.choices.length} choice${first.choices.length === 1 ? '' : 's'} for n=${numSamples}; ` +
      'if it does not support n, use --num-samples 1 with more --num-seeds');
  }
  const shareOfFirst = Math.ceil(first.usage.completionTokens / numSamples);

  const continueSample = async (text0: string, finish0: string | null): Promise<CodeSample> => {
    let text = text0;
    let finishReason = finish0;
    const usage = { prompt_tokens: first.usage.promptTokens, completion_tokens: first.usage.completionTokens };
    let used = shareOfFirst;
    const stats: CodeExecutionStats = { code_executions: 0, code_execution_failed: false, code_execution_timed_out: false };
    let session: SandboxSession | null = null;
    try {
      for (;;) {
        text = restoreCodeEnd(text, finishReason, s);
        if (!endsWithCodeBlock(text, s) || stats.code_executions >= s.maxExecutions) break;
        session ??= setup.sandbox.session();
        const result = await session.execute(lastCodeBlock(text, s));
        stats.code_executions++;
        if (result.status === 'error') stats.code_execution_failed = true;
        if (result.status === 'timeout') stats.code_execution_timed_out = true;
        text += formatOutputBlock(result.output, s);
        if (s.stopOnError && result.status !== 'completed') break;
        const remaining = params.max_tokens === undefined ? undefined : params.max_tokens - used;
        if (remaining !== undefined && remaining <= 0) {
          finishReason = 'length';
          break;
        }
        const next = await ask(text, 1, remaining);
        const choice = next.choices[0];
        if (!choice) throw new Error('the server returned no choice when continuing a solution after a code block');
        text += choice.text;
        finishReason = choice.finishReason;
        usage.prompt_tokens += next.usage.promptTokens;
        usage.completion_tokens += next.usage.completionTokens;
        used += next.usage.completionTokens;
      }
    } finally {
      await session?.close();
    }
    return { text, finishReason, usage, stats };
  };

  const samples = await Promise.all(first.choices.map((ch) => continueSample(ch.text, ch.finishReason)));
  return { samples, model: first.model };
}
