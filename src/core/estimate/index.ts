/**
 * What a job will cost before it starts: items, requests, prompt tokens (from the rendered
 * prompts of a sample of rows), the most completion tokens it may ask for, the expected time at
 * a measured request rate, and the price when per-million-token prices are known. Shared by the
 * CLI (`sdg generate --dry-run`) and the extension (the Studio's launch confirmation).
 *
 * Tokens are approximated from text (about 4 characters per token for English text and code,
 * plus a few tokens per message for the chat format): good to tens of percent, which is what
 * a go / no-go decision needs. The estimate says so (`tokenMethod`).
 */
import type { ChatMessage } from '../llm/types';

export interface Prices {
  /** Price per million prompt (input) tokens. */
  inputPerMillion: number;
  /** Price per million completion (output) tokens. */
  outputPerMillion: number;
  /** Currency label for display ("$" by default). */
  currency?: string;
}

export interface EstimateInput {
  /** Work items (labeling: problems x seeds); null when the input could not be counted. */
  items: number | null;
  /** Requests per item (1 for labeling; a request asks for `samplesPerRequest` completions). */
  requestsPerItem?: number;
  /** Completions per request (`n`). */
  samplesPerRequest?: number;
  /** Rendered prompts of a sample of rows (the exact messages a run would send). */
  samplePrompts: ChatMessage[][];
  /** `max_tokens` per completion; null when the server decides. */
  maxTokens: number | null;
  /** Requests per second this endpoint sustained in an earlier run; null when unknown. */
  measuredRequestsPerSec?: number | null;
  prices?: Prices | null;
}

export interface Estimate {
  items: number | null;
  requests: number | null;
  /** Completions (rows) the job writes. */
  completions: number | null;
  /** Mean prompt tokens per request over the sample. */
  promptTokensPerRequest: number;
  promptTokens: number | null;
  /** The most completion tokens the job can use (max_tokens x completions); null without max_tokens. */
  maxCompletionTokens: number | null;
  /** At the measured rate; null when no rate is known. */
  expectedSeconds: number | null;
  measuredRequestsPerSec: number | null;
  /** Prompt cost, the most the completions can cost, and the sum; null without prices. */
  cost: { prompt: number; completionMax: number | null; totalMax: number | null; currency: string } | null;
  /** Rows whose prompts were rendered for the token figures. */
  sampled: number;
  tokenMethod: string;
}

/** Approximate tokens of a chat prompt: ~4 characters per token, 4 tokens per message of framing. */
export function approxTokens(messages: readonly ChatMessage[]): number {
  let n = 0;
  for (const m of messages) n += Math.ceil((typeof m.content === 'string' ? m.content.length : JSON.stringify(m.content).length) / 4) + 4;
  return n + 2;
}

export function estimate(input: EstimateInput): Estimate {
  const perItem = input.requestsPerItem ?? 1;
  const n = input.samplesPerRequest ?? 1;
  const requests = input.items === null ? null : input.items * perItem;
  const completions = requests === null ? null : requests * n;
  const sampled = input.samplePrompts.length;
  const perRequest = sampled ? Math.round(input.samplePrompts.reduce((a, m) => a + approxTokens(m), 0) / sampled) : 0;
  const promptTokens = requests === null ? null : requests * perRequest;
  const maxCompletionTokens = completions === null || input.maxTokens === null ? null : completions * input.maxTokens;
  const rate = input.measuredRequestsPerSec && input.measuredRequestsPerSec > 0 ? input.measuredRequestsPerSec : null;
  const expectedSeconds = rate && requests !== null ? requests / rate : null;
  let cost: Estimate['cost'] = null;
  if (input.prices && promptTokens !== null) {
    const p = (promptTokens / 1e6) * input.prices.inputPerMillion;
    const c = maxCompletionTokens === null ? null : (maxCompletionTokens / 1e6) * input.prices.outputPerMillion;
    cost = { prompt: p, completionMax: c, totalMax: c === null ? null : p + c, currency: input.prices.currency ?? '$' };
  }
  return {
    items: input.items,
    requests,
    completions,
    promptTokensPerRequest: perRequest,
    promptTokens,
    maxCompletionTokens,
    expectedSeconds,
    measuredRequestsPerSec: rate,
    cost,
    sampled,
    tokenMethod: '~4 characters per token',
  };
}

function count(n: number | null): string {
  return n === null ? '?' : Math.round(n).toLocaleString('en-US');
}

/** Seconds -> "1h 02m", "3m 05s", "12s". */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

function money(v: number, currency: string): string {
  return `${currency}${v < 1 ? v.toFixed(4) : v.toFixed(2)}`;
}

/** The estimate as lines of text (the CLI prints them; the extension's confirmation uses them too). */
export function formatEstimate(e: Estimate): string[] {
  const lines = [
    `items: ${count(e.items)}`,
    `requests: ${count(e.requests)}${e.completions !== null && e.completions !== e.requests ? ` (${count(e.completions)} completions)` : ''}`,
    `prompt tokens: ~${count(e.promptTokens)} (~${count(e.promptTokensPerRequest)} per request, from ${e.sampled} rendered prompt${e.sampled === 1 ? '' : 's'}, ${e.tokenMethod})`,
    `completion tokens: at most ${e.maxCompletionTokens === null ? '? (no max_tokens)' : count(e.maxCompletionTokens)}`,
    `expected time: ${e.expectedSeconds === null ? 'unknown (no earlier run on this endpoint)' : `~${formatSeconds(e.expectedSeconds)} at ${e.measuredRequestsPerSec!.toFixed(2)} req/s measured`}`,
  ];
  if (e.cost) lines.push(`cost: ~${money(e.cost.prompt, e.cost.currency)} prompt${e.cost.totalMax !== null ? `, at most ${money(e.cost.totalMax, e.cost.currency)} in all` : ''}`);
  return lines;
}

/** Evenly spread indices (0-based) of `sample` rows among the first `rows`. */
export function sampleIndices(rows: number, sample: number): number[] {
  if (rows <= 0 || sample <= 0) return [];
  if (rows <= sample) return Array.from({ length: rows }, (_, i) => i);
  const step = rows / sample;
  return Array.from({ length: sample }, (_, i) => Math.floor(i * step));
}
