/**
 * The estimate of a pipeline run (`sdg run --dry-run`): the rows its first `source` stage reads,
 * and for every model stage the prompt tokens of its first rendered prompt and its max_tokens.
 * How many requests later stages send depends on the fan-out of the stages before them (lists
 * parsed, crosses, filters), so the total is given as a lower bound: one request per source row
 * for each model stage.
 */
import { stageOptions, type PipelineDef, type ParamValue } from '../pipeline/definition';
import type { DryRunStage } from '../pipeline/loader';
import { countItems } from '../generate';
import { approxTokens } from './index';

export interface PipelineStageEstimate {
  stage: string;
  kind: string;
  promptTokens: number;
  maxTokens: number | null;
}

export interface PipelineEstimate {
  /** Rows of the first source stage (lines of its JSONL documents, or its values); null when unknown. */
  sourceRows: number | null;
  stages: PipelineStageEstimate[];
  /** At least this many requests: source rows x model stages (fan-out adds more). */
  minRequests: number | null;
}

export async function estimatePipeline(def: PipelineDef, params: Record<string, ParamValue>, stages: DryRunStage[]): Promise<PipelineEstimate> {
  let sourceRows: number | null = null;
  const source = def.stages.find((s) => s.kind === 'source');
  if (source) {
    const opts = stageOptions(source, params) as Record<string, unknown>;
    if (Array.isArray(opts.values)) sourceRows = opts.values.length;
    else if (Array.isArray(opts.documents)) {
      let n = 0;
      for (const d of opts.documents as string[]) {
        const c = typeof d === 'string' && /\.jsonl$/i.test(d) ? await countItems(d, undefined, 1) : 1;
        if (c === null) {
          n = -1;
          break;
        }
        n += c;
      }
      sourceRows = n < 0 ? null : n;
    }
  }
  const out: PipelineStageEstimate[] = [];
  for (const s of stages) {
    if (!s.enabled || !s.messages?.length) continue;
    const def_ = def.stages.find((x) => x.name === s.stage);
    const opts = def_ ? (stageOptions(def_, params) as Record<string, unknown>) : {};
    const p = (opts.params ?? {}) as Record<string, unknown>;
    out.push({ stage: s.stage, kind: s.kind, promptTokens: approxTokens(s.messages), maxTokens: typeof p.max_tokens === 'number' ? p.max_tokens : null });
  }
  return { sourceRows, stages: out, minRequests: sourceRows === null ? null : sourceRows * out.length };
}

export function formatPipelineEstimate(e: PipelineEstimate): string[] {
  const lines = [`source rows: ${e.sourceRows === null ? '?' : e.sourceRows.toLocaleString('en-US')}`];
  for (const s of e.stages) lines.push(`stage ${s.stage} [${s.kind}]: ~${s.promptTokens.toLocaleString('en-US')} prompt tokens per request (its first prompt, ~4 characters per token), max_tokens ${s.maxTokens ?? '(server default)'}`);
  lines.push(`requests: at least ${e.minRequests === null ? '?' : e.minRequests.toLocaleString('en-US')} (source rows x ${e.stages.length} model stage${e.stages.length === 1 ? '' : 's'}; stages after a list or cross send more)`);
  return lines;
}
