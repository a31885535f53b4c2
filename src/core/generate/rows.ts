/**
 * The item and row model of the labeling job.
 *
 * One item per (input row, seed), seeds start_seed .. start_seed + num_seeds - 1, keyed
 * `${input_index}:${seed}`. One request per item with `n = num_samples`, and one output row per
 * choice. A failed item gives a single error row (generation null) that a resume retries.
 */
import type { DatasetRow } from '../datasets';
import type { ContextType } from '../prompts/promptConfig';
import type { ChatMessage, ModelResponse } from '../llm/types';
import type { CodeExecutionStats, CodeSample } from './code';

export interface GenerateItem {
  key: string;
  row: DatasetRow;
  seed: number;
}

/** One line of the output JSONL. Input fields come first; these fields override same-named ones. */
export interface GenerationRow {
  [inputField: string]: unknown;
  input_index: number;
  problem: string;
  expected_answer: string | null;
  /** The model's text for this sample; null in an error row. */
  generation: string | null;
  seed: number;
  /** 0-based choice index within the item's request. */
  sample_index: number;
  /** Rows a complete item has (the requested `n`); lets a resume spot a half-written item. */
  num_samples: number;
  finish_reason: string | null;
  /** Tokens of the whole request (shared by its samples); null in an error row. */
  usage: { prompt_tokens: number; completion_tokens: number } | null;
  /** Null when the sample was generated; the reason otherwise. */
  error: string | null;
  prompt_name: string;
  context_type: ContextType;
  /** The model as the server reported it (the requested model in an error row). */
  model: string;
  /** Present only when the server returned a separate chain of thought (reasoning models). */
  reasoning?: string;
  /** Code mode only (prompt configs with `code_execution:`): blocks executed in this solution. */
  code_executions?: number;
  /** Code mode only: some block raised an error. */
  code_execution_failed?: boolean;
  /** Code mode only: some block hit the time limit. */
  code_execution_timed_out?: boolean;
}

export function itemKey(inputIndex: number, seed: number): string {
  return `${inputIndex}:${seed}`;
}

/** Key of the item a row belongs to (same as `itemKey` of that item). */
export function rowKey(row: Pick<GenerationRow, 'input_index' | 'seed'>): string {
  if (typeof row.input_index !== 'number' || typeof row.seed !== 'number') throw new Error('row has no numeric input_index and seed');
  return itemKey(row.input_index, row.seed);
}

/** Seeds of the job, in order. */
export function seedsOf(startSeed: number, numSeeds: number): number[] {
  return Array.from({ length: numSeeds }, (_, i) => startSeed + i);
}

/**
 * Items for a stream of rows: for each row, one item per seed (so all seeds of a problem are
 * requested close together, which keeps a server's prefix cache warm).
 */
export async function* itemsOf(rows: AsyncIterable<DatasetRow>, seeds: readonly number[]): AsyncGenerator<GenerateItem> {
  for await (const row of rows) {
    for (const seed of seeds) yield { key: itemKey(row.input_index, seed), row, seed };
  }
}

export interface RowContext {
  promptName: string;
  contextType: ContextType;
  /** The requested model (used in error rows). */
  model: string;
  numSamples: number;
}

interface Outcome {
  generation: string | null;
  sample_index: number;
  finish_reason: string | null;
  usage: GenerationRow['usage'];
  error: string | null;
  model: string;
  reasoning?: string;
  code?: CodeExecutionStats;
}

/**
 * One row: input fields first (so the job's own fields win over same-named input keys, keeping
 * the input key's position), then the job's fields in a fixed, readable order.
 *
 * Built by assignment rather than `{ ...fields, ... }`: with the conditional `reasoning` spread
 * that literal took V8's generic path (~25 us per row, and a dictionary-mode object that
 * JSON.stringify then walked 5x slower); this costs well under a microsecond.
 */
function makeRow(item: GenerateItem, ctx: RowContext, o: Outcome): GenerationRow {
  const row = {} as GenerationRow;
  const fields = item.row.fields;
  if (fields) {
    for (const k of Object.keys(fields)) {
      // A "__proto__" key from JSON is data, not the prototype: define it, never assign it.
      if (k === '__proto__') Object.defineProperty(row, k, { value: fields[k], enumerable: true, writable: true, configurable: true });
      else row[k] = fields[k];
    }
  }
  row.input_index = item.row.input_index;
  row.problem = item.row.problem;
  row.expected_answer = item.row.expected_answer;
  row.generation = o.generation;
  row.seed = item.seed;
  row.sample_index = o.sample_index;
  row.num_samples = ctx.numSamples;
  row.finish_reason = o.finish_reason;
  row.usage = o.usage;
  row.error = o.error;
  row.prompt_name = ctx.promptName;
  row.context_type = ctx.contextType;
  row.model = o.model;
  // Only from reasoning-model servers (vLLM/SGLang reasoning parsers): the chain of thought.
  if (o.reasoning !== undefined) row.reasoning = o.reasoning;
  // Code mode only: what the executions did (export-sft drops solutions whose code failed).
  if (o.code) {
    row.code_executions = o.code.code_executions;
    row.code_execution_failed = o.code.code_execution_failed;
    row.code_execution_timed_out = o.code.code_execution_timed_out;
  }
  return row;
}

/** One row per choice of a successful response. */
export function successRows(item: GenerateItem, response: ModelResponse, ctx: RowContext): GenerationRow[] {
  const usage = { prompt_tokens: response.usage.promptTokens, completion_tokens: response.usage.completionTokens };
  const model = response.model || ctx.model;
  return response.choices.map((choice, i) =>
    makeRow(item, ctx, { generation: choice.text, sample_index: i, finish_reason: choice.finishReason, usage, error: null, model, reasoning: choice.reasoning }));
}

/** One row per sample of a code-mode item (text with its code and output blocks). */
export function codeRows(item: GenerateItem, samples: CodeSample[], model: string, ctx: RowContext): GenerationRow[] {
  return samples.map((sample, i) =>
    makeRow(item, ctx, { generation: sample.text, sample_index: i, finish_reason: sample.finishReason, usage: sample.usage, error: null, model: model || ctx.model, code: sample.stats }));
}

/** The single row recording a failed item. */
export function errorRow(item: GenerateItem, message: string, ctx: RowContext): GenerationRow {
  return makeRow(item, ctx, { generation: null, sample_index: 0, finish_reason: null, usage: null, error: message, model: ctx.model });
}

/** Chat messages are built per row; the same for every seed of that row. */
export type PromptFor = (row: DatasetRow) => ChatMessage[];
