/**
 * Triton Inference Server's generate endpoint (`apiKind: triton`), which TensorRT-LLM and NeMo
 * Deploy serve: `POST <baseUrl>/v2/models/<model>/generate` with `{ "text_input": prompt, ... }`,
 * answered by `{ "model_name", "model_version", "text_output" }`, errors by `{ "error": "..." }`
 * with an HTTP error status (triton-inference-server/server docs/protocol/extension_generate.md).
 *
 * The prompt comes from the endpoint's conversation formatter. Fields beside `text_input` are
 * passed by Triton to the model as inputs; the sampling ones sent here are the input names of
 * TensorRT-LLM's ensemble (`max_tokens`, `temperature`, `top_p`, `top_k`, `random_seed`,
 * `stop_words`). The endpoint returns one text per request, so `n` choices are `n` requests
 * with seeds `seed`, `seed + 1`, ... (from 0 when no seed is given: TensorRT-LLM's default seed
 * is 0 for every request, which would make the n answers identical).
 */
import { LlmError } from './errors';
import { stripStopWords, type ConversationFormatter } from './formatters';
import type { ModelInfo } from './client';
import type { Choice, EndpointProfile, ModelParams, ModelResponse, RequestOptions } from './types';

/** What this module needs from the client: its endpoint and one JSON exchange with its error mapping. */
export interface TritonTransport {
  readonly endpoint: EndpointProfile;
  postJsonTo<T>(path: string, body: Record<string, unknown>, options: RequestOptions): Promise<T>;
}

interface GenerateResponse {
  model_name?: string;
  model_version?: string;
  text_output?: string | string[];
  error?: string;
}

export function tritonGeneratePath(model: string): string {
  return `/v2/models/${encodeURIComponent(model)}/generate`;
}

/** The request body of one generate call. `extra` fields come first so explicit params win. */
export function tritonRequestBody(prompt: string, params: ModelParams, stop: readonly string[], seed: number | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (params.extra) for (const k in params.extra) if (k !== 'text_input' && k !== 'stream') body[k] = params.extra[k];
  body.text_input = prompt;
  if (params.max_tokens !== undefined) body.max_tokens = params.max_tokens;
  if (params.temperature !== undefined) body.temperature = params.temperature;
  if (params.top_p !== undefined) body.top_p = params.top_p;
  if (params.top_k !== undefined) body.top_k = params.top_k;
  if (seed !== undefined) body.random_seed = seed;
  if (stop.length) body.stop_words = [...stop];
  return body;
}

/** Server messages that are not plain bad requests (Triton answers 400 for most failures). */
function remapError(e: LlmError, endpoint: EndpointProfile): LlmError {
  if (e.kind !== 'bad_request' && e.kind !== 'server') return e;
  const say = e.message;
  if (/unknown model|is not found/i.test(say) && !/no available versions|not ready/i.test(say)) {
    return new LlmError('not_found', `${say} (check the model name "${endpoint.model}": Triton serves it at ${endpoint.baseUrl}/v2/models/<model>; TensorRT-LLM's is usually "ensemble")`, e.status);
  }
  if (/no available versions|is not ready|not ready/i.test(say)) {
    return new LlmError('server', `${say} (the model is loading or unavailable)`, e.status);
  }
  const input = /unexpected inference input '([^']+)'/i.exec(say);
  if (input) {
    return new LlmError('bad_request', `${say} (this model has no input "${input[1]}": leave that parameter out of the model's params)`, e.status);
  }
  return e;
}

function answerText(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** One conversation, `n` choices, through Triton's generate endpoint. */
export async function queryTriton(
  transport: TritonTransport,
  formatter: ConversationFormatter,
  prompt: string,
  params: ModelParams,
  options: RequestOptions,
): Promise<ModelResponse> {
  const endpoint = transport.endpoint;
  const stop = [...new Set([...formatter.stopWords, ...(params.stop ?? [])])].filter((s) => s);
  const n = Math.max(1, params.n ?? 1);
  const seedOf = (i: number) => (params.seed === undefined && n === 1 ? undefined : (params.seed ?? 0) + i);
  const where = `${endpoint.baseUrl.replace(/\/+$/, '')}${tritonGeneratePath(endpoint.model)}`;
  const one = async (i: number): Promise<{ choices: Choice[]; model?: string }> => {
    let json: GenerateResponse;
    try {
      json = await transport.postJsonTo<GenerateResponse>(tritonGeneratePath(endpoint.model), tritonRequestBody(prompt, params, stop, seedOf(i)), options);
    } catch (e) {
      throw e instanceof LlmError ? remapError(e, endpoint) : e;
    }
    if (!json || typeof json !== 'object') throw new LlmError('bad_response', `bad answer from ${where}: the answer is not a JSON object`, 200);
    if (typeof json.error === 'string') throw new LlmError('bad_response', `bad answer from ${where}: the server said: ${json.error.slice(0, 300)}`, 200);
    const outputs = Array.isArray(json.text_output) ? json.text_output.map(answerText) : [answerText(json.text_output)];
    if (outputs.length === 0 || outputs.some((t) => t === undefined)) {
      throw new LlmError('bad_response', `bad answer from ${where}: no text_output string in the answer`, 200);
    }
    return {
      model: typeof json.model_name === 'string' ? json.model_name : undefined,
      choices: (outputs as string[]).map((raw) => {
        // Some TensorRT-LLM builds echo the prompt before the answer.
        const text = raw.startsWith(prompt) ? raw.slice(prompt.length) : raw;
        const ended = stop.some((s) => text.includes(s));
        return { text: stripStopWords(text, stop), finishReason: ended ? 'stop' : null };
      }),
    };
  };
  const answers = await Promise.all(Array.from({ length: n }, (_v, i) => one(i)));
  return {
    choices: answers.flatMap((a) => a.choices),
    // The generate endpoint reports no token counts.
    usage: { promptTokens: 0, completionTokens: 0 },
    model: answers[0]?.model || endpoint.model,
  };
}

/** Models Triton lists in its repository index (`POST /v2/repository/index`), ready ones only. */
export async function listTritonModels(transport: TritonTransport, options: RequestOptions): Promise<ModelInfo[]> {
  const list = await transport.postJsonTo<unknown>('/v2/repository/index', { ready: true }, options);
  if (!Array.isArray(list)) {
    throw new LlmError('bad_response', `bad answer from ${transport.endpoint.baseUrl}/v2/repository/index: expected a list of models`, 200);
  }
  const out: ModelInfo[] = [];
  const seen = new Set<string>();
  for (const m of list as Array<{ name?: unknown; state?: unknown }>) {
    if (typeof m?.name !== 'string' || seen.has(m.name)) continue;
    if (m.state !== undefined && m.state !== 'READY') continue;
    seen.add(m.name);
    out.push({ id: m.name });
  }
  return out;
}

