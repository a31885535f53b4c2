/**
 * "Try on N rows": the template or prompt config as edited (unsaved text included), rendered for
 * chosen dataset rows by the same code as the preview (the engine's renderPrompt / template
 * renderer), sent to an endpoint with the job's sampling parameters; each answer comes back with
 * its prompt, tokens and latency, and for a labeling prompt config graded against the row's
 * answer with the core's grader. No `vscode` import.
 */
import { YamlSource } from '../../core/config/yamlSource';
import { detectFormat, toRow } from '../../core/datasets';
import type { EndpointProfile, LlmClient, ModelParams } from '../../core/llm/types';
import { parsePromptConfig } from '../../core/prompts/promptConfig';
import type { TryParams, TryResult } from '../../protocol/studio';
import { errorMessage } from '../util/redact';
import { datasetRow, kindOf, previewTemplate, readText, resolveFileRef, type FileContext } from './files';
import { setTextField } from './yamlEdit';

export interface TryDeps extends FileContext {
  resolveEndpoint(name: string): Promise<{ profile: EndpointProfile; apiKey: string | undefined }>;
  /** A client for the profile (the core's createEndpointClient). */
  createClient?(profile: EndpointProfile, apiKey: string | undefined): LlmClient;
}

export async function tryOnRows(deps: TryDeps, p: TryParams): Promise<TryResult[]> {
  const { abs } = resolveFileRef(deps, p.ref.file, 'ref.file');
  const edited = setTextField(await readText(abs), p.ref.field, p.text);
  // The job's sampling parameters: a prompt config's own, with the overrides of the form.
  const params: ModelParams = {};
  let labeling = false;
  if (kindOf(edited) === 'prompt-config') {
    labeling = true;
    Object.assign(params, parsePromptConfig(YamlSource.fromText(abs, edited)).params);
  }
  if (p.temperature !== undefined) params.temperature = p.temperature;
  if (p.maxTokens !== undefined) params.max_tokens = p.maxTokens;
  const { profile, apiKey } = await deps.resolveEndpoint(p.endpoint);
  const make = deps.createClient ?? ((prof, key) => (require('../../core/llm/pool') as typeof import('../../core/llm/pool.js')).createEndpointClient(prof, { apiKey: key, connections: 8 }));
  const client = make(profile, apiKey);
  try {
    return await Promise.all(
      p.indices.map(async (index): Promise<TryResult> => {
        const { row } = await datasetRow(deps, p.file, index);
        if (!row) return { index, messages: [], text: null, promptTokens: 0, completionTokens: 0, latencyMs: 0, finishReason: null, error: `${p.file} has no row ${index + 1}` };
        const preview = await previewTemplate(deps, p.ref, p.text, row, p.fewShot);
        if (preview.errors.length) return { index, messages: preview.messages, text: null, promptTokens: 0, completionTokens: 0, latencyMs: 0, finishReason: null, error: preview.errors.map((e) => e.message).join('; ') };
        const started = performance.now();
        try {
          const r = await client.queryModel(preview.messages as Parameters<LlmClient['queryModel']>[0], params);
          const text = r.choices[0]?.text ?? '';
          const result: TryResult = { index, messages: preview.messages, text, promptTokens: r.usage.promptTokens, completionTokens: r.usage.completionTokens, latencyMs: Math.round(performance.now() - started), finishReason: r.choices[0]?.finishReason ?? null, error: null };
          if (labeling) result.grade = gradeOf(row, text);
          return result;
        } catch (e) {
          return { index, messages: preview.messages, text: null, promptTokens: 0, completionTokens: 0, latencyMs: Math.round(performance.now() - started), finishReason: null, error: errorMessage(e) };
        }
      }),
    );
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** The row's reference answer (as the dataset reader normalises it) against the answer's, by the core's grader. */
function gradeOf(record: Record<string, unknown>, text: string): TryResult['grade'] {
  const { gradeRow } = require('../../core/math') as typeof import('../../core/math/index.js');
  let expected: string | null = null;
  try {
    const format = detectFormat(record) ?? 'jsonl';
    const v = toRow(format, record).expected_answer;
    expected = v === null || v === undefined ? null : String(v);
  } catch {
    expected = null;
  }
  const graded = gradeRow({ generation: text, expected_answer: expected });
  return { predicted: (graded.predicted_answer as string | null) ?? null, expected, correct: graded.is_correct === true };
}
