/**
 * The estimate of a labeling job (`sdg generate`): items from the input (rows x seeds, capped by
 * the limit), prompts rendered with the job's own prompt config for a sample of rows spread
 * over the input, `max_tokens` from the job's parameters.
 */
import { readDataset, type DatasetFormat, type FieldMapping } from '../datasets';
import type { ChatMessage } from '../llm/types';
import type { PromptConfig } from '../prompts/promptConfig';
import { renderPrompt } from '../prompts/render';
import { countItems } from '../generate';
import { estimate, sampleIndices, type Estimate, type Prices } from './index';

export interface GenerationEstimateInput {
  input: string;
  config: PromptConfig;
  datasetFormat?: DatasetFormat;
  fields?: FieldMapping;
  limit?: number;
  numSeeds: number;
  numSamples: number;
  maxTokens: number | null;
  /** Rows whose prompts are rendered (default 16). */
  sample?: number;
  measuredRequestsPerSec?: number | null;
  prices?: Prices | null;
  signal?: AbortSignal;
}

export async function estimateGeneration(o: GenerationEstimateInput): Promise<Estimate> {
  const items = await countItems(o.input, o.limit, o.numSeeds, o.signal);
  const rows = items === null ? 0 : items / o.numSeeds;
  const wanted = new Set(sampleIndices(rows, o.sample ?? 16));
  const prompts: ChatMessage[][] = [];
  let i = 0;
  const last = Math.max(-1, ...wanted);
  for await (const row of readDataset(o.input, { format: o.datasetFormat, fields: o.fields, limit: last + 1 })) {
    if (wanted.has(i)) prompts.push(renderPrompt(o.config, row));
    i++;
  }
  return estimate({ items, samplesPerRequest: o.numSamples, samplePrompts: prompts, maxTokens: o.maxTokens, measuredRequestsPerSec: o.measuredRequestsPerSec, prices: o.prices });
}
