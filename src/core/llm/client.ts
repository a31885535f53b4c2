/**
 * The model client: one attempt per call against an OpenAI-compatible server, every failure
 * mapped to an LlmError. Retries, rate limits and concurrency belong to the engine.
 *
 * The hot path posts JSON through an undici `Pool` (one per client, keep-alive, no pipelining)
 * instead of the openai SDK's fetch, which costs about 1.3 ms of CPU per request; this path
 * measured about 0.05 ms here, which matters at thousands of requests per second. Request and
 * response shapes are the SDK's types. `openaiSdk()` gives an SDK instance on the same pool.
 */
import type { Dispatcher } from 'undici';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Completion, CompletionCreateParamsNonStreaming } from 'openai/resources/completions';
import type { Model } from 'openai/resources/models';
import type OpenAI from 'openai';
import { LlmError, parseRetryAfter, type LlmErrorKind } from './errors';
import { ConversationError, stripStopWords, type ConversationFormatter } from './formatters';
import { ChatTemplateError, formatterForProfile } from './chatTemplate';
import { listTritonModels, queryTriton } from './triton';
import { PRESETS, isPresetName, redactSecrets } from './presets';
import { SseAggregator, SseError } from './sse';
import type { ChatMessage, Choice, EndpointProfile, LlmClient, ModelParams, ModelResponse, RequestOptions, RewardScores } from './types';

type Undici = typeof import('undici');
let undiciModule: Undici | undefined;
/**
 * undici loads with the first client, not with this module: the extension host imports this
 * file at activation, and undici is half of the bundle.
 */
function undici(): Undici {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (undiciModule ??= require('undici') as Undici);
}

export interface ClientOptions {
  /** Sent as `Authorization: Bearer <apiKey>`; never logged, never in error messages. */
  apiKey?: string;
  /** Sockets to the server. Default: the profile's maxConcurrency (or 128). Keep it >= the engine's concurrency. */
  connections?: number;
  /** Overrides the profile's time-out (ms) for every request. */
  timeoutMs?: number;
  /** Sent as User-Agent. */
  userAgent?: string;
  /**
   * HTTP(S) proxy URL (e.g. VS Code's `http.proxy`), or false for none. Default: from
   * HTTPS_PROXY / HTTP_PROXY / NO_PROXY like curl, never for loopback addresses.
   */
  proxy?: string | false;
  /**
   * Largest answer body accepted, in bytes (streamed answers: the text kept plus the line being
   * read). Default: the profile's `maxResponseBytes`, else 64 MiB. A larger answer fails that
   * request (not retried) without reading the rest, so memory stays bounded.
   */
  maxResponseBytes?: number;
}

/**
 * The proxy the environment asks for to reach `target` (curl conventions: HTTPS_PROXY or
 * HTTP_PROXY by scheme, lower case too, ALL_PROXY as fallback, NO_PROXY exclusions), or undefined.
 * Loopback is never proxied: local GPU servers must not go through a corporate proxy.
 */
export function proxyFromEnv(target: URL, env: Record<string, string | undefined> = process.env): string | undefined {
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return undefined;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  for (const raw of noProxy.split(/[\s,]+/)) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return undefined;
    const [name, entryPort] = entry.split(/:(?=\d+$)/);
    if (entryPort && entryPort !== port) continue;
    const bare = name.replace(/^\*?\./, '');
    if (host === bare || host.endsWith('.' + bare)) return undefined;
  }
  const byScheme = target.protocol === 'https:' ? env.HTTPS_PROXY ?? env.https_proxy : env.HTTP_PROXY ?? env.http_proxy;
  const proxy = (byScheme ?? env.ALL_PROXY ?? env.all_proxy ?? '').trim();
  return proxy || undefined;
}

/** One entry of the server's model list. */
export interface ModelInfo {
  id: string;
  ownedBy?: string;
  /** Tokens of context (prompt + completion) when the server says (vLLM `max_model_len`, llama.cpp `meta`). */
  contextLength?: number;
}

/** Used when neither the profile, its preset nor the options give a time-out. */
export const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_CONNECTIONS = 128;
/** Answers larger than this fail (unless the profile or options say otherwise): memory stays bounded. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Error bodies are read up to this size: enough for any server message. */
const MAX_ERROR_BODY = 64 * 1024;

/** Errors from the server that mean "prompt + max_tokens do not fit the model's context". */
const CONTEXT_LENGTH = new RegExp([
  'maximum context length',            // OpenAI, vLLM
  'context_length_exceeded',           // OpenAI code
  'context length',                    // SGLang, TGI, many others
  'exceeds the available context size', // llama.cpp
  'exceed_context_size',               // llama.cpp type
  'max_seq_len',                       // TensorRT-LLM
  'max_num_tokens',                    // TensorRT-LLM
  'prompt is too long',                // Anthropic-style proxies
  'too many tokens',
  'context window',
  'exceeds token limit',
  'input is too long',
  'max_input_len',                     // TensorRT-LLM
  '`inputs` tokens \\+ `max_new_tokens`', // TGI
  'exceeds? (the )?(model\'?s? )?(maximum|max)\\b[^.]{0,30}(length|tokens|context)',
].join('|'), 'i');

const NETWORK_MESSAGES: Record<string, string> = {
  ECONNREFUSED: 'connection refused (is the server running and listening on this port?)',
  ECONNRESET: 'connection reset by the server',
  EPIPE: 'connection closed by the server while sending',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'temporary DNS failure',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'response body stalled',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response shorter than announced',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'request body length mismatch',
};

/** Thrown inside an exchange when the answer outgrows the size limit. */
class TooLarge extends Error {
  constructor(readonly what: string) {
    super(what);
  }
}

/** Marks an error body cut at MAX_ERROR_BODY (the exchange then ends with what it has). */
const ERROR_BODY_CUT = new Error('error body cut');

/**
 * One request/response as an undici dispatch handler. The answer is collected straight from
 * undici's callbacks: no response stream, no AbortController, no per-request listener on the run's
 * signal. Those cost more CPU than everything else in the client (measured in `npm run bench`,
 * product path). Sizes are checked as bytes arrive, so a huge answer is dropped, not buffered.
 */
class Exchange {
  readonly done: Promise<RawResponse>;
  /** Why the exchange was aborted by us, if it was. */
  abortedBy: 'timeout' | 'cancel' | null = null;
  /** Set for a 2xx server-sent-event answer: the events are folded in as they arrive. */
  sse: SseAggregator | null = null;
  private resolve!: (r: RawResponse) => void;
  private reject!: (e: unknown) => void;
  private settled = false;
  private abortUndici: ((err?: Error) => void) | null = null;
  private status = 0;
  private headers: Record<string, string> = {};
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes kept at most: the answer limit, or MAX_ERROR_BODY for an error status. */
  private limit: number;

  constructor(private readonly maxBytes: number, private readonly stream: 'chat' | 'completions' | undefined) {
    this.limit = maxBytes;
    this.done = new Promise<RawResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Cancels the request (time-out or the caller's signal); the promise rejects at once. */
  abort(by: 'timeout' | 'cancel' = 'cancel'): void {
    if (this.settled) return;
    this.abortedBy = by;
    this.fail(new Error(`request ${by === 'timeout' ? 'timed out' : 'cancelled'}`));
  }

  private fail(e: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.chunks = [];
    this.sse = null;
    this.reject(e);
    this.abortUndici?.(e instanceof Error ? e : undefined);
  }

  onConnect(abort: (err?: Error) => void): void {
    // Aborted while waiting for a connection: undici learns it now.
    if (this.settled) abort(new Error('request cancelled'));
    else this.abortUndici = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[], _resume: () => void): boolean {
    if (this.settled) return false;
    this.status = statusCode;
    const headers = this.headers;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i].toString().toLowerCase();
      if (headers[name] === undefined) headers[name] = rawHeaders[i + 1].toString();
    }
    if (statusCode < 200 || statusCode >= 300) {
      this.limit = MAX_ERROR_BODY;
      return true;
    }
    // A server that ignores `stream` answers plain JSON: fine, it is read as such.
    if (this.stream && (headers['content-type'] ?? '').includes('text/event-stream')) this.sse = new SseAggregator(this.maxBytes);
    const announced = Number(headers['content-length']);
    if (announced > this.maxBytes) this.fail(new TooLarge(`announces ${formatBytes(announced)}`));
    return !this.settled;
  }

  onData(chunk: Buffer): boolean {
    if (this.settled) return false;
    if (this.sse) {
      try {
        this.sse.pushBytes(chunk);
      } catch (e) {
        this.fail(e);
      }
      return !this.settled;
    }
    this.size += chunk.length;
    if (this.size > this.limit) {
      if (this.limit === MAX_ERROR_BODY) {
        // Enough of an error body for any message: end with what we have.
        this.chunks.push(chunk.subarray(0, chunk.length - (this.size - this.limit)));
        this.complete();
        this.abortUndici?.(ERROR_BODY_CUT);
        return false;
      }
      this.fail(new TooLarge(`is over ${formatBytes(this.limit)}`));
      return false;
    }
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    this.complete();
  }

  onError(err: Error): void {
    if (err === ERROR_BODY_CUT) return;
    this.fail(err);
  }

  private complete(): void {
    if (this.settled) return;
    this.settled = true;
    const chunks = this.chunks;
    this.chunks = [];
    const text = chunks.length === 0 ? '' : chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8');
    this.resolve({ status: this.status, headers: this.headers, text });
  }
}

/**
 * Requests in flight per caller signal: one listener per signal (not per request) aborts them
 * all. A WeakMap, so a finished run's signal and its set are collected.
 */
const inFlightBySignal = new WeakMap<AbortSignal, Set<Exchange>>();

function trackRequest(signal: AbortSignal, request: Exchange): void {
  let set = inFlightBySignal.get(signal);
  if (!set) {
    const requests = (set = new Set());
    inFlightBySignal.set(signal, requests);
    signal.addEventListener('abort', () => {
      for (const r of requests) r.abort();
      requests.clear();
    }, { once: true });
  }
  set.add(request);
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** A streamed answer, already reassembled into the non-streamed shape. */
  json?: unknown;
}

type ChatBody = ChatCompletionCreateParamsNonStreaming & { top_k?: number; [extra: string]: unknown };
type CompletionBody = CompletionCreateParamsNonStreaming & { top_k?: number; [extra: string]: unknown };

function header(headers: RawResponse['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The server's own error message, from the shapes OpenAI, vLLM, SGLang, TGI, FastAPI and llama.cpp use. */
export function serverMessage(text: string): string {
  return parseErrorBody(text).message;
}

/** Message plus the machine-readable `code` / `type` some servers add (e.g. "context_length_exceeded"). */
function parseErrorBody(text: string): { message: string; full: string; tags: string } {
  let msg: unknown;
  let tags = '';
  try {
    const j = JSON.parse(text);
    const err = typeof j?.error === 'object' && j.error ? j.error : j;
    tags = [err?.code, err?.type].filter((t) => typeof t === 'string').join(' ');
    msg = err?.message ?? j?.message ?? j?.detail ?? j?.error ?? j;
    // FastAPI validation errors: a list of {loc, msg, input}; keep only the messages.
    if (Array.isArray(msg)) msg = msg.map((d) => (typeof d === 'object' && d ? d.msg ?? JSON.stringify(d) : String(d))).join('; ');
    if (typeof msg !== 'string') msg = JSON.stringify(msg);
  } catch {
    // Not JSON (a proxy's HTML page, plain text): keep the readable part.
    msg = text.replace(/<[^>]*>/g, ' ');
  }
  const clean = String(msg).replace(/\s+/g, ' ').trim();
  return { message: clean.length > 300 ? clean.slice(0, 297) + '...' : clean, full: clean, tags };
}

/** Maps an HTTP error status (and body) to an error kind. */
export function kindForStatus(status: number, message: string): LlmErrorKind {
  if (CONTEXT_LENGTH.test(message) && (status === 400 || status === 413 || status === 422 || status >= 500)) return 'context_length';
  if (status === 429) return 'rate_limit';
  if (status === 408) return 'request_timeout';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  if (status >= 500) return 'server';
  return 'bad_request';
}

/** undici and Node put the system error code on the error or its cause. */
function networkCode(e: unknown): string | undefined {
  let cur: any = e;
  for (let i = 0; i < 4 && cur; i++) {
    if (typeof cur.code === 'string' && cur.code !== 'UND_ERR_ABORTED') {
      // undici wraps a system error in UND_ERR_SOCKET; prefer the system code when there is one.
      const inner = cur.cause?.code;
      return typeof inner === 'string' && /^E[A-Z]+$/.test(inner) ? inner : cur.code;
    }
    if (Array.isArray(cur.errors) && cur.errors[0]) cur = cur.errors[0]; // AggregateError (happy eyeballs)
    else cur = cur.cause;
  }
  return undefined;
}

export class OpenAiCompatibleClient implements LlmClient {
  readonly endpoint: EndpointProfile;
  /** A Pool to the server's origin, or a ProxyAgent when a proxy is in the way. */
  private readonly pool: Dispatcher;
  /** Credentials of the proxy URL, redacted from messages like the key. */
  private readonly proxySecrets: string[] = [];
  private readonly origin: string;
  private readonly pathPrefix: string;
  /** The base URL's query (e.g. Azure's `?api-version=`), appended to every request path. */
  private readonly query: string;
  /** "http://host:port/v1" without query or credentials: safe for messages. */
  private readonly where: string;
  private readonly headers: Record<string, string>;
  private readonly apiKey: string | undefined;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly formatter: ConversationFormatter | undefined;
  /** OpenAI's newer models reject max_tokens on chat; it wants max_completion_tokens. */
  private readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** False for servers that refuse `top_k` (OpenAI): it is then left out of requests. */
  private readonly acceptsTopK: boolean;
  private sdk: OpenAI | undefined;
  private closed = false;

  constructor(profile: EndpointProfile, opts: ClientOptions = {}) {
    this.endpoint = profile;
    let url: URL;
    try {
      url = new URL(profile.baseUrl);
    } catch {
      throw new LlmError('bad_request', `endpoint "${profile.name}": baseUrl "${profile.baseUrl}" is not a valid URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new LlmError('bad_request', `endpoint "${profile.name}": baseUrl must be http:// or https://`);
    }
    this.origin = url.origin;
    this.pathPrefix = url.pathname.replace(/\/+$/, '');
    this.query = url.search;
    this.where = this.origin + this.pathPrefix;
    this.apiKey = opts.apiKey || undefined;
    const presetTimeout = profile.preset && isPresetName(profile.preset) ? PRESETS[profile.preset].timeoutMs : undefined;
    this.timeoutMs = opts.timeoutMs ?? profile.timeoutMs ?? presetTimeout ?? DEFAULT_TIMEOUT_MS;
    const maxBytes = opts.maxResponseBytes ?? profile.maxResponseBytes;
    this.maxResponseBytes = typeof maxBytes === 'number' && maxBytes > 0 ? maxBytes : DEFAULT_MAX_RESPONSE_BYTES;
    try {
      this.formatter = formatterForProfile(profile);
    } catch (e) {
      if (e instanceof ConversationError || e instanceof ChatTemplateError) throw new LlmError('bad_request', `endpoint "${profile.name}": ${e.message}`, undefined, undefined, undefined, false);
      throw e;
    }
    const openAi = profile.preset === 'openai' || url.hostname === 'api.openai.com';
    this.maxTokensField = openAi ? 'max_completion_tokens' : 'max_tokens';
    // OpenAI rejects the whole request for a parameter it does not know ("Unrecognized request argument").
    this.acceptsTopK = !openAi;

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(profile.headers ?? {})) headers[k.toLowerCase()] = v;
    headers['content-type'] = 'application/json';
    headers['accept'] = 'application/json';
    if (opts.userAgent) headers['user-agent'] = opts.userAgent;
    if (this.apiKey) {
      const keyHeader = (profile.apiKeyHeader ?? 'authorization').toLowerCase();
      headers[keyHeader] = keyHeader === 'authorization' ? `Bearer ${this.apiKey}` : this.apiKey;
    }
    this.headers = headers;

    const poolOptions = {
      connections: Math.max(1, opts.connections ?? profile.maxConcurrency ?? DEFAULT_CONNECTIONS),
      pipelining: 1,
      // Our own timer bounds the whole request; undici's per-phase time-outs (300 s) would
      // cut long generations on busy self-hosted servers.
      headersTimeout: 0,
      bodyTimeout: 0,
    };
    const proxy = opts.proxy === false ? undefined : opts.proxy || proxyFromEnv(url);
    if (proxy) {
      let proxyUrl: URL;
      try {
        proxyUrl = new URL(proxy);
      } catch {
        throw new LlmError('bad_request', `proxy "${redactSecrets(proxy)}" is not a valid URL`);
      }
      for (const part of [proxyUrl.password, decodeURIComponent(proxyUrl.password)]) if (part) this.proxySecrets.push(part);
      // Plain-HTTP targets go through the proxy as absolute-URL requests (many proxies refuse
      // CONNECT to non-TLS ports); HTTPS targets are tunnelled with CONNECT.
      this.pool = new (undici().ProxyAgent)({ uri: proxy, proxyTunnel: url.protocol === 'https:', ...poolOptions });
    } else {
      this.pool = new (undici().Pool)(this.origin, poolOptions);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  async queryModel(messages: ChatMessage[], params: ModelParams = {}, options: RequestOptions = {}): Promise<ModelResponse> {
    if (this.formatter && this.endpoint.apiKind === 'triton') return queryTriton(this, this.formatter, this.formatPrompt(this.formatter, messages), params, options);
    if (this.formatter) return this.queryCompletions(this.formatter, messages, params, options);
    const body = this.samplingBody(params) as ChatBody;
    body.model = this.endpoint.model;
    body.messages = messages as ChatCompletionMessageParam[];
    const json = await this.postJson<ChatCompletion>('/chat/completions', body, options, this.endpoint.stream ? 'chat' : undefined);
    const choices = this.checkChoices(json);
    return {
      choices: choices.map((c): Choice => {
        const msg = c?.message as (ChatCompletion.Choice['message'] & { reasoning_content?: string | null; reasoning?: string | null }) | undefined;
        if (!msg || typeof msg !== 'object') throw this.badResponse(`choice ${c?.index ?? '?'} has no message`);
        const out: Choice = { text: typeof msg.content === 'string' ? msg.content : '', finishReason: c.finish_reason ?? null };
        const reasoning = msg.reasoning_content ?? msg.reasoning;
        if (typeof reasoning === 'string' && reasoning) out.reasoning = reasoning;
        return out;
      }),
      usage: this.usage(json),
      model: typeof json.model === 'string' && json.model ? json.model : this.endpoint.model,
    };
  }

  async queryRewardModel(messages: ChatMessage[], options: RequestOptions = {}): Promise<RewardScores> {
    if (this.endpoint.apiKind !== 'chat') {
      throw new LlmError('bad_request', `endpoint "${this.endpoint.name}": reward models are queried through chat completions; set apiKind to "chat"`, undefined, undefined, undefined, false);
    }
    const body = { model: this.endpoint.model, messages } as ChatBody;
    const json = await this.postJson<ChatCompletion>('/chat/completions', body, options);
    const entries = json?.choices?.[0]?.logprobs?.content;
    if (!Array.isArray(entries) || entries.length === 0) {
      throw new LlmError('bad_response', `model ${this.endpoint.model} at ${this.where} returned no reward scores (is it a reward model?)`, 200, undefined, undefined, false);
    }
    const scores: RewardScores = {};
    for (const e of entries) {
      if (!e || typeof e.token !== 'string' || typeof e.logprob !== 'number' || !Number.isFinite(e.logprob)) {
        throw new LlmError('bad_response', `model ${this.endpoint.model} returned a malformed reward entry ${JSON.stringify(e).slice(0, 100)}`, 200, undefined, undefined, false);
      }
      scores[e.token.trim()] = e.logprob;
    }
    return scores;
  }

  async listModels(options: RequestOptions = {}): Promise<string[]> {
    return (await this.listModelInfo(options)).map((m) => m.id);
  }

  /** `/models` with what servers add beyond the id: the context length (vLLM, SGLang, llama.cpp). */
  async listModelInfo(options: RequestOptions = {}): Promise<ModelInfo[]> {
    if (this.endpoint.apiKind === 'triton') return listTritonModels(this, options);
    const res = await this.send('GET', '/models', undefined, options);
    const json = this.parse<{ data?: Array<Model & { max_model_len?: unknown; meta?: { n_ctx_train?: unknown; n_ctx?: unknown } }> }>(res);
    if (!json || !Array.isArray(json.data)) throw this.badResponse('/models did not return a "data" list');
    const out: ModelInfo[] = [];
    for (const m of json.data) {
      if (typeof m?.id !== 'string') continue;
      const info: ModelInfo = { id: m.id };
      if (typeof m.owned_by === 'string') info.ownedBy = m.owned_by;
      const ctx = m.max_model_len ?? m.meta?.n_ctx ?? m.meta?.n_ctx_train;
      if (typeof ctx === 'number' && ctx > 0) info.contextLength = ctx;
      out.push(info);
    }
    return out;
  }

  /**
   * An openai SDK client on this client's connection pool, for endpoints this class does not
   * wrap. It does no retries (the engine retries) and throws the SDK's own errors.
   */
  openaiSdk(): OpenAI {
    if (!this.sdk) {
      // Loaded on first use only: the SDK is not needed on the hot path.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { OpenAI: Sdk } = require('openai') as typeof import('openai');
      const pool = this.pool;
      const poolFetch = ((input: any, init?: any) => undici().fetch(input, { ...init, dispatcher: pool })) as unknown as typeof fetch;
      const extraHeaders: Record<string, string> = { ...this.endpoint.headers };
      const keyHeader = this.endpoint.apiKeyHeader?.toLowerCase();
      if (this.apiKey && keyHeader && keyHeader !== 'authorization') extraHeaders[keyHeader] = this.apiKey;
      this.sdk = new Sdk({
        apiKey: this.apiKey ?? 'no-key',
        baseURL: this.where,
        fetch: poolFetch,
        maxRetries: 0,
        timeout: this.timeoutMs,
        defaultHeaders: extraHeaders,
        defaultQuery: this.query ? Object.fromEntries(new URLSearchParams(this.query)) : undefined,
      });
    }
    return this.sdk;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Requests

  private async queryCompletions(formatter: ConversationFormatter, messages: ChatMessage[], params: ModelParams, options: RequestOptions): Promise<ModelResponse> {
    const prompt = this.formatPrompt(formatter, messages);
    const stop = [...formatter.stopWords, ...(params.stop ?? [])];
    const body = this.samplingBody({ ...params, stop: stop.length ? [...new Set(stop)] : undefined }) as CompletionBody;
    body.model = this.endpoint.model;
    body.prompt = prompt;
    // /completions takes max_tokens everywhere, including OpenAI.
    if (body.max_completion_tokens !== undefined && params.max_tokens !== undefined) {
      body.max_tokens = body.max_completion_tokens as number;
      delete body.max_completion_tokens;
    }
    const json = await this.postJson<Completion>('/completions', body, options, this.endpoint.stream ? 'completions' : undefined);
    const choices = this.checkChoices(json);
    return {
      choices: choices.map((c): Choice => ({
        text: stripStopWords(typeof c?.text === 'string' ? c.text : '', stop),
        finishReason: c?.finish_reason ?? null,
      })),
      usage: this.usage(json),
      model: typeof json.model === 'string' && json.model ? json.model : this.endpoint.model,
    };
  }

  /** The formatter's prompt; a conversation it refuses fails before anything is sent. */
  private formatPrompt(formatter: ConversationFormatter, messages: ChatMessage[]): string {
    try {
      return formatter.format(messages);
    } catch (e) {
      if (e instanceof ConversationError) throw new LlmError('bad_request', `endpoint "${this.endpoint.name}": ${e.message} (nothing was sent to the server)`, undefined, undefined, undefined, false);
      throw e;
    }
  }

  /** POSTs a JSON body to a path under the base URL (Triton's endpoints); errors mapped like every request. */
  postJsonTo<T>(path: string, body: Record<string, unknown>, options: RequestOptions): Promise<T> {
    return this.postJson<T>(path, body, options);
  }

  /** The sampling fields of a request body; `extra` first so explicit params win. */
  private samplingBody(p: ModelParams): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    if (p.extra) {
      for (const k in p.extra) if (k !== 'stream' && k !== 'model' && k !== 'messages' && k !== 'prompt') body[k] = p.extra[k];
    }
    if (p.n !== undefined) body.n = p.n;
    if (p.seed !== undefined) body.seed = p.seed;
    if (p.temperature !== undefined) body.temperature = p.temperature;
    if (p.top_p !== undefined) body.top_p = p.top_p;
    if (p.top_k !== undefined && this.acceptsTopK) body.top_k = p.top_k;
    if (p.max_tokens !== undefined) body[this.maxTokensField] = p.max_tokens;
    if (p.stop !== undefined && p.stop.length) body.stop = p.stop;
    return body;
  }

  /** POSTs a JSON body; with `stream`, asks for server-sent events and reassembles them. */
  private async postJson<T>(path: string, body: Record<string, unknown>, options: RequestOptions, stream?: 'chat' | 'completions'): Promise<T> {
    if (stream) {
      body.stream = true;
      body.stream_options = { include_usage: true };
    }
    return this.parse<T>(await this.send('POST', path, JSON.stringify(body), options, stream));
  }

  /** One HTTP exchange. Throws LlmError for anything but a 2xx answer. */
  private async send(method: 'GET' | 'POST', path: string, body: string | undefined, options: RequestOptions, stream?: 'chat' | 'completions'): Promise<RawResponse> {
    const url = this.where + path;
    if (this.closed) throw new LlmError('aborted', `client for ${url} is closed`);
    const signal = options.signal;
    if (signal?.aborted) throw new LlmError('aborted', `request to ${url} cancelled`);
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const exchange = new Exchange(this.maxResponseBytes, stream);
    const timer = setTimeout(() => exchange.abort('timeout'), timeoutMs);
    if (signal) trackRequest(signal, exchange);
    try {
      this.pool.dispatch({ origin: this.origin, method, path: this.pathPrefix + path + this.query, headers: this.headers, body }, exchange);
      const res = await exchange.done;
      if (res.status >= 200 && res.status < 300) {
        if (exchange.sse) return { status: res.status, headers: res.headers, text: '', json: exchange.sse.finish(stream!) };
        return res;
      }
      throw this.httpError(method, url, res.status, res.headers, res.text);
    } catch (e) {
      if (e instanceof LlmError) throw e;
      if (exchange.abortedBy === 'cancel' || signal?.aborted) throw new LlmError('aborted', `request to ${url} cancelled`);
      if (exchange.abortedBy === 'timeout') throw new LlmError('timeout', `no answer from ${url} within ${formatMs(timeoutMs)} (timeoutMs)`);
      if (e instanceof TooLarge) throw this.tooLarge(method, url, e.what);
      if (e instanceof SseError) {
        if (e.reason === 'too_large') throw this.tooLarge(method, url, `is over ${formatBytes(this.maxResponseBytes)} (streamed)`);
        if (e.reason === 'error_event') {
          const message = this.redact(e.message);
          const status = e.status ?? 500;
          throw new LlmError(kindForStatus(status, message), `error event in the stream from ${method} ${url}: ${message}`, e.status);
        }
        throw this.badResponse(this.redact(e.message));
      }
      const code = networkCode(e);
      const what = code ? NETWORK_MESSAGES[code] ?? code : this.redact((e as Error)?.message ?? String(e));
      if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
        throw new LlmError('timeout', `${method} ${url}: ${what}`, undefined, undefined, code);
      }
      throw new LlmError('network', `${method} ${url}: ${what}${code && NETWORK_MESSAGES[code] ? ` (${code})` : ''}`, undefined, undefined, code);
    } finally {
      clearTimeout(timer);
      if (signal) inFlightBySignal.get(signal)?.delete(exchange);
    }
  }

  private tooLarge(method: string, url: string, what: string): LlmError {
    // Not retryable: the same request would most likely get the same huge answer.
    return new LlmError('bad_response', `the answer to ${method} ${url} ${what}, above the ${formatBytes(this.maxResponseBytes)} limit ` +
      '(maxResponseBytes in the endpoint profile, --max-response-mb on the command line); lower max_tokens or raise the limit',
    200, undefined, 'RESPONSE_TOO_LARGE', false);
  }

  private httpError(method: string, url: string, status: number, headers: RawResponse['headers'], text: string): LlmError {
    const parsed = parseErrorBody(text);
    const message = this.redact(parsed.message);
    const kind = kindForStatus(status, `${parsed.full} ${parsed.tags}`);
    const retryAfterMsHeader = Number(header(headers, 'retry-after-ms'));
    const retryAfterMs = Number.isFinite(retryAfterMsHeader) && retryAfterMsHeader >= 0 && header(headers, 'retry-after-ms') !== undefined
      ? retryAfterMsHeader
      : parseRetryAfter(header(headers, 'retry-after'), serverNow(headers));
    let hint = '';
    if (kind === 'not_found') hint = ` (check the base URL ${this.where} and the model name "${this.endpoint.model}")`;
    else if (kind === 'auth') hint = this.apiKey ? ' (the API key was rejected)' : ' (no API key was sent)';
    return new LlmError(kind, `HTTP ${status} from ${method} ${url}: ${message || '(empty body)'}${hint}`, status, retryAfterMs);
  }

  private parse<T>(res: RawResponse): T {
    if (res.json !== undefined) return res.json as T;
    try {
      return JSON.parse(res.text) as T;
    } catch {
      const start = res.text.slice(0, 80).replace(/\s+/g, ' ');
      throw this.badResponse(`invalid JSON in a ${res.status} answer (${res.text.length} bytes, starting "${this.redact(start)}")`);
    }
  }

  private checkChoices<C>(json: { choices?: C[] } | null | undefined): C[] {
    if (!json || typeof json !== 'object') throw this.badResponse('the answer is not a JSON object');
    if (Array.isArray(json.choices) && json.choices.length > 1) {
      // The contract is "in index order"; servers almost always comply, so check before sorting.
      const list = json.choices as Array<C & { index?: number }>;
      for (let i = 1; i < list.length; i++) {
        if ((list[i - 1].index ?? 0) > (list[i].index ?? 0)) {
          list.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
          break;
        }
      }
    }
    if (!Array.isArray(json.choices) || json.choices.length === 0) {
      // Some gateways answer 200 with an error object instead of an error status.
      const err = (json as { error?: unknown; object?: unknown }).error ?? ((json as { object?: unknown }).object === 'error' ? json : undefined);
      const said = err ? `; the server said: ${this.redact(serverMessage(JSON.stringify({ error: err })))}` : '';
      throw this.badResponse(`the answer has no choices${said}`);
    }
    return json.choices;
  }

  private usage(json: { usage?: { prompt_tokens?: number; completion_tokens?: number } | null }): ModelResponse['usage'] {
    const u = json.usage;
    return {
      promptTokens: typeof u?.prompt_tokens === 'number' ? u.prompt_tokens : 0,
      completionTokens: typeof u?.completion_tokens === 'number' ? u.completion_tokens : 0,
    };
  }

  private badResponse(what: string): LlmError {
    return new LlmError('bad_response', `bad answer from ${this.where} (model ${this.endpoint.model}): ${what}`, 200);
  }

  private redact(text: string): string {
    return redactSecrets(text, [this.apiKey, ...this.proxySecrets]);
  }
}

/**
 * "Now" on the server's clock, from its `Date` header, so that a `Retry-After` HTTP-date is read
 * relative to the clock that wrote it (a client whose clock is an hour behind must not wait an
 * hour). Falls back to the local clock when the header is missing or unreadable.
 */
function serverNow(headers: RawResponse['headers']): number {
  const date = header(headers, 'date');
  const t = date ? Date.parse(date) : NaN;
  return Number.isFinite(t) ? t : Date.now();
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MiB`;
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${ms} ms`;
}

/**
 * Creates the client for a profile. The key comes from SecretStorage (extension) or `resolveApiKey` (CLI).
 * Profiles listing several `servers` need `createEndpointClient` (src/core/llm/pool.ts) to get a pool.
 */
export function createClient(profile: EndpointProfile, opts: ClientOptions = {}): OpenAiCompatibleClient {
  return new OpenAiCompatibleClient(profile, opts);
}
