/**
 * The contract between the engine and every model client. Plain data, no I/O, no `vscode`.
 * Field names follow the OpenAI wire format where one exists (snake_case params), so a
 * prompt config or pipeline YAML can pass them straight through.
 */

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

/** Sampling parameters of one request. Unknown server-specific fields go in `extra`. */
export interface ModelParams {
  /** Choices per request (one output row each). */
  n?: number;
  seed?: number;
  temperature?: number;
  top_p?: number;
  /** Not in the OpenAI API; vLLM, SGLang, llama.cpp, TRT-LLM accept it. Sent only when set. */
  top_k?: number;
  max_tokens?: number;
  stop?: string[];
  /** Pass-through of server-specific fields (e.g. `repetition_penalty`, `min_p`, `logit_bias`). */
  extra?: Record<string, unknown>;
}

export type FinishReason = 'stop' | 'length' | 'content_filter' | 'tool_calls' | string;

export interface Choice {
  text: string;
  finishReason: FinishReason | null;
  /** Chain of thought that reasoning-model servers return apart from the answer
   *  (`reasoning_content` in vLLM / SGLang / DeepSeek, `reasoning` in some others). */
  reasoning?: string;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

export interface ModelResponse {
  /** One entry per choice, in index order. */
  choices: Choice[];
  usage: Usage;
  /** The model name the server reports. */
  model: string;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Overrides the endpoint's timeout for this request. */
  timeoutMs?: number;
}

/** Scores by category, e.g. `{ helpfulness: 1.6, correctness: 1.65, ... }`. */
export type RewardScores = Record<string, number>;

/** What the engine needs from a model endpoint. Implemented in `src/core/llm/client.ts`. */
export interface LlmClient {
  readonly endpoint: EndpointProfile;
  queryModel(messages: ChatMessage[], params?: ModelParams, options?: RequestOptions): Promise<ModelResponse>;
  queryRewardModel(messages: ChatMessage[], options?: RequestOptions): Promise<RewardScores>;
  /** Model ids the server lists at `/models`. */
  listModels(options?: RequestOptions): Promise<string[]>;
  close(): Promise<void>;
  /** Pools of several servers (src/core/llm/pool.ts): live per-server counters for progress views. */
  serverStats?(): ServerStats[];
}

/** One server of an endpoint pool (`EndpointProfile.servers`). */
export interface PoolServer {
  baseUrl: string;
  /** Share of the traffic relative to the others (default 1). */
  weight?: number;
  /** Requests in flight on this server at most (default: no per-server limit). */
  maxConcurrency?: number;
}

/** Live counters of one server of a pool. */
export interface ServerStats {
  baseUrl: string;
  weight: number;
  maxConcurrency: number | null;
  /** Requests sent and not yet answered. */
  outstanding: number;
  /** Requests answered successfully. */
  done: number;
  /** Requests that failed (any error but a cancel). */
  failed: number;
  /** False while the server is out of rotation (being probed back in). */
  healthy: boolean;
  /** Mean latency of the recent successful requests (ms), null before the first. */
  latencyMs: number | null;
  /** The last error seen from this server, if any. */
  lastError: string | null;
}

/**
 * `chat`: OpenAI chat completions. `completions`: raw prompt built by a conversation formatter.
 * `triton`: Triton's generate endpoint (TensorRT-LLM, NeMo Deploy), also fed by a formatter.
 */
export type ApiKind = 'chat' | 'completions' | 'triton';

/** `chat-template`: the model's own Jinja chat template (`chatTemplate` / `chatTemplateFile`). */
export type FormatterName = 'none' | 'mixtral' | 'llama2' | 'nemotron' | 'llama3' | 'chatml' | 'chat-template';

export type PresetName =
  | 'nvidia' | 'openai' | 'vllm' | 'sglang' | 'tensorrt-llm' | 'nim' | 'llamacpp' | 'ollama' | 'custom';

/**
 * An endpoint profile as users write it (settings, CLI flags, run config). It never holds a key:
 * `apiKeyEnv` names an environment variable (CLI) and the extension keeps keys in SecretStorage
 * under the profile's name, handing the resolved key to the client at construction.
 */
export interface EndpointProfile {
  name: string;
  baseUrl: string;
  model: string;
  apiKind: ApiKind;
  /** Required when apiKind is `completions` or `triton`. */
  formatter?: FormatterName;
  /** Path of the model's `tokenizer_config.json` or of a Jinja chat template file (formatter `chat-template`). */
  chatTemplateFile?: string;
  /** The Jinja chat template itself (formatter `chat-template`); wins over `chatTemplateFile`. */
  chatTemplate?: string;
  /** Extra variables for the chat template (`bos_token`, `date_string`, `enable_thinking`, ...). */
  chatTemplateVars?: Record<string, unknown>;
  preset?: PresetName;
  apiKeyEnv?: string;
  /**
   * Header that carries the key. Default: `Authorization: Bearer <key>`. Another name sends the
   * bare key in that header (`api-key` for Azure OpenAI, `x-api-key` for some gateways).
   */
  apiKeyHeader?: string;
  headers?: Record<string, string>;
  maxConcurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  timeoutMs?: number;
  /** Largest answer accepted, in bytes (default 64 MiB): a bigger one fails its item, memory stays bounded. */
  maxResponseBytes?: number;
  /**
   * Receive answers as a server-sent-event stream. For hosted gateways that cut long
   * non-streamed requests (reasoning models, long solutions); costs a little more client CPU.
   */
  stream?: boolean;
  /**
   * Several servers serving the same model: requests go to the least busy healthy one
   * (src/core/llm/pool.ts). `baseUrl` is then the first server's, kept for messages.
   */
  servers?: PoolServer[];
}
