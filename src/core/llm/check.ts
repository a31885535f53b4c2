/**
 * "Test endpoint": what a user runs after filling in a profile, before a long job. Lists the
 * server's models, checks the profile's model is among them, and sends one tiny request, so
 * a wrong port, key, model name or formatter shows up in seconds with a readable reason.
 */
import { LlmError, isLlmError } from './errors';
import type { ModelInfo } from './client';
import type { LlmClient } from './types';

export interface EndpointCheck {
  /** True when the probe request succeeded. */
  ok: boolean;
  /** Models the server lists (undefined when listing failed). */
  models?: string[];
  /** Whether the profile's model is among them (undefined when unknown). */
  modelListed?: boolean;
  /** The model's context length, when the server reports it (vLLM, SGLang, llama.cpp). */
  contextLength?: number;
  /** Milliseconds the probe request took. */
  latencyMs?: number;
  /** Start of the probe's answer (text, or reward scores as JSON). */
  sample?: string;
  /** Fatal problems first, then warnings; empty when all is well. */
  problems: string[];
  /** The probe's failure, if any. */
  error?: LlmError;
}

export interface CheckOptions {
  signal?: AbortSignal;
  /** Time-out of each of the two requests. Default 30 s. */
  timeoutMs?: number;
  /** Probe with a reward query instead of a completion. */
  reward?: boolean;
}

const PROBE = [{ role: 'user' as const, content: 'Reply with the single word OK.' }];

function explain(e: unknown): string {
  if (!isLlmError(e)) return e instanceof Error ? e.message : String(e);
  switch (e.kind) {
    case 'auth': return `the server refused the API key (${e.message})`;
    case 'network': return `cannot reach the server (${e.message})`;
    case 'timeout': return `no answer in time (${e.message})`;
    default: return e.message;
  }
}

export async function checkEndpoint(client: LlmClient, options: CheckOptions = {}): Promise<EndpointCheck> {
  const { model } = client.endpoint;
  const req = { signal: options.signal, timeoutMs: options.timeoutMs ?? 30_000 };
  const result: EndpointCheck = { ok: false, problems: [] };
  const warnings: string[] = [];

  try {
    // The richer listing when the client has it (ours does); any LlmClient works.
    const withInfo = client as LlmClient & { listModelInfo?: (o: typeof req) => Promise<ModelInfo[]> };
    const infos = withInfo.listModelInfo ? await withInfo.listModelInfo(req) : (await client.listModels(req)).map((id) => ({ id }) as ModelInfo);
    result.models = infos.map((m) => m.id);
    result.modelListed = result.models.includes(model);
    const ctx = infos.find((m) => m.id === model)?.contextLength;
    if (ctx !== undefined) result.contextLength = ctx;
    if (!result.modelListed) {
      const shown = result.models.slice(0, 10).join(', ') + (result.models.length > 10 ? ', ...' : '');
      warnings.push(`model "${model}" is not in the server's model list (${shown || 'empty'}); check the spelling`);
    }
  } catch (e) {
    if (isLlmError(e) && (e.kind === 'aborted' || e.kind === 'network' || e.kind === 'auth')) {
      result.problems.push(explain(e));
      result.error = e;
      return result;
    }
    // Some servers have no /models; the probe below still tells whether the endpoint works.
    warnings.push(`could not list models: ${explain(e)}`);
  }

  const started = Date.now();
  try {
    if (options.reward) {
      const scores = await client.queryRewardModel([...PROBE, { role: 'assistant', content: 'OK' }], req);
      result.sample = JSON.stringify(scores);
    } else {
      const res = await client.queryModel(PROBE, { max_tokens: 8, temperature: 0 }, req);
      result.sample = (res.choices[0]?.text ?? '').slice(0, 200);
    }
    result.latencyMs = Date.now() - started;
    result.ok = true;
  } catch (e) {
    result.latencyMs = Date.now() - started;
    result.problems.push(`test request failed: ${explain(e)}`);
    if (isLlmError(e)) result.error = e;
  }
  result.problems.push(...warnings);
  return result;
}
