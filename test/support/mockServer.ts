/**
 * A fault-injecting, OpenAI-compatible model server on loopback, for tests and benchmarks.
 *
 *   const server = await startMockServer({ faults: [{ fault: 'rate_limit', rate: 0.1, attempts: 'first', retryAfterSeconds: 1 }] });
 *   const client = createClient({ name: 'mock', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' }, {});
 *   ...
 *   await server.close();
 *
 * Endpoints: GET /v1/models, POST /v1/chat/completions, POST /v1/completions, GET /health.
 *
 * Conventions (documented because tests rely on them):
 * - A "token" is a whitespace-separated word. `max_tokens` cuts the text after that many words
 *   (finish_reason "length"); prompt_tokens is ceil(prompt characters / 4).
 * - The "key" of a request is `<hash of model + messages or prompt>:<seed>`; `attempt` counts
 *   how many times that key was seen (1 = first attempt). Retries of the same request share a key.
 * - Answers come from `respond` (default: deterministic words from a hash of key, choice index,
 *   and, when there is no seed and temperature != 0, a request counter, like a sampling server).
 * - Fault rules are evaluated in order; the first that fires decides. "rate" is decided by a
 *   hash of (server seed, rule index, key, attempt), so the same requests get the same faults
 *   whatever order they arrive in.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

// ---------------------------------------------------------------------------------------------
// Public types

export type MockEndpoint = 'chat' | 'completions' | 'models' | 'health';

export interface MockChatMessage {
  role: string;
  content: string;
}

/** What `respond` and fault hooks see about one request (and one choice of it). */
export interface MockRequest {
  endpoint: MockEndpoint;
  model: string;
  /** Chat requests only. */
  messages?: MockChatMessage[];
  /** Completions requests only. */
  prompt?: string;
  seed?: number;
  n: number;
  /** 0-based index of the choice being produced (always 0 for fault hooks). */
  choiceIndex: number;
  /** `<prompt hash>:<seed>`: identical for retries of the same request. */
  key: string;
  /** 1 on the first request with this key, 2 on the second, ... */
  attempt: number;
  /** The parsed JSON body as received. */
  body: Record<string, any>;
  headers: http.IncomingHttpHeaders;
}

export type MockAnswer = string | { text: string; finishReason?: string };
/** A string or object answers this choice; an array gives one answer per choice index (cycled). */
export type MockRespond = (req: MockRequest) => MockAnswer | MockAnswer[];

export type FaultKind =
  | 'rate_limit'           // 429, optional Retry-After
  | 'server_error'         // 500 (or `status`: 502, 503, ...)
  | 'request_timeout'      // 408
  | 'http_error'           // any `status` with an OpenAI-style error body
  | 'unauthorized'         // 401
  | 'context_length'       // 400 with a context-length message in `contextErrorStyle`
  | 'reset_before_headers' // socket destroyed before any byte is written
  | 'reset_mid_body'       // headers and half a body, then the socket is destroyed
  | 'hang'                 // never answers (until the server closes)
  | 'invalid_json'         // 200 with a body that is not JSON
  | 'no_choices'           // 200 with `choices: []`
  | 'empty_completion'     // 200 with empty text in every choice
  | 'stream_error';        // streamed requests: an error event after the first chunk (others: 500)

export interface FaultRule {
  fault: FaultKind;
  /** Fraction of matching requests that get the fault (deterministic per key + attempt). Default 1. */
  rate?: number;
  /** Which attempts of each key: 'first', 'retries' (2nd and later), 'all' (default), or a list of 1-based attempt numbers. */
  attempts?: 'first' | 'retries' | 'all' | number[];
  /** Endpoints the rule applies to. Default: chat and completions. */
  endpoints?: MockEndpoint[];
  /** Only requests for this model. */
  model?: string;
  /** Only requests this predicate accepts. */
  match?: (req: MockRequest) => boolean;
  /** Fire at most this many times in total. */
  limit?: number;
  /** Status for 'server_error' (default 500) and 'http_error' (default 400). */
  status?: number;
  /** Sends `Retry-After` with 'rate_limit', 'server_error' and 'http_error'. */
  retryAfterSeconds?: number;
  /** 'seconds' (default) or 'http-date' (now + retryAfterSeconds, RFC 7231 IMF-fixdate). */
  retryAfterFormat?: 'seconds' | 'http-date';
  /** Error message in the body. */
  message?: string;
  /** Extra delay before this fault is delivered. */
  delayMs?: number;
}

export type ContextErrorStyle = 'openai' | 'vllm' | 'sglang' | 'tensorrt-llm' | 'llamacpp';

export type LatencySpec = number | { fixedMs: number } | { medianMs: number; sigma: number };

export interface MockServerOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401. */
  apiKey?: string;
  /** Expect the bare key in this header instead (e.g. 'api-key', Azure style). */
  apiKeyHeader?: string;
  /** When set, requests for other models get 404 (reward models are always known). Default: any model accepted. */
  models?: string[];
  /** Models answered like nvidia/nemotron-4-340b-reward. Default: ['nvidia/nemotron-4-340b-reward']. */
  rewardModels?: string[];
  /** Reward scores for a conversation. Default: deterministic scores from its hash. */
  reward?: (req: MockRequest) => Record<string, number>;
  respond?: MockRespond;
  /** Words in the default answer. Default 24. */
  defaultWords?: number;
  /** Streamed answers (`stream: true`) send this many words per chunk. Default 4. */
  streamChunkWords?: number;
  faults?: FaultRule[];
  /** Per-request fault decided by code; runs before `faults`. */
  fault?: (req: MockRequest) => FaultRule | FaultKind | null | undefined;
  /** Seed of the fault and latency RNG. Default 1. */
  seed?: number;
  /** Delay before each answer: ms, { fixedMs }, or lognormal { medianMs, sigma }. */
  latency?: LatencySpec;
  /** When set, prompt_tokens + max_tokens above it gives a 400 context-length error. */
  contextLength?: number;
  contextErrorStyle?: ContextErrorStyle;
  /** How many request bodies `requests` keeps (the most recent). Default 1000; 0 disables. */
  logLimit?: number;
  /** Count attempts per key (needed for `attempts` rules). Default true; turn off for huge benchmarks. */
  trackKeys?: boolean;
  /**
   * Keep every latency drawn for a completion request, in arrival order (`stats.latencies`, and
   * `GET /mock/stats` for a server in another process): lets a benchmark compare its throughput
   * with a perfect scheduler over the very same latencies. Default false.
   */
  recordLatencies?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body (undefined for GET or unparsable bodies). */
  body: any;
  key?: string;
  attempt?: number;
  /** The fault delivered, if any. */
  fault?: FaultKind;
  at: number;
}

export interface MockStats {
  /** All HTTP requests. */
  total: number;
  /** Requests per URL path ("/v1/chat/completions", ...). */
  byPath: Record<string, number>;
  /** Requests per key (`<prompt hash>:<seed>`); empty when trackKeys is false. */
  byKey: Map<string, number>;
  /** Injected faults per kind (including 401/404/context-length answers). */
  faults: Record<string, number>;
  /** Successful completions answered. */
  completed: number;
  promptTokens: number;
  completionTokens: number;
  inFlight: number;
  maxInFlight: number;
  /** TCP connections accepted (keep-alive clients reuse them). */
  connections: number;
  /** With `recordLatencies`: the latency drawn for each completion request (ms), in arrival order. */
  latencies?: number[];
}

export interface MockServer {
  /** Base URL ending in /v1, e.g. http://127.0.0.1:41234/v1 */
  readonly url: string;
  readonly port: number;
  readonly stats: MockStats;
  /** Recent requests, oldest first. */
  readonly requests: LoggedRequest[];
  readonly options: MockServerOptions;
  /** Replace options at run time (e.g. switch faults off); merges shallowly. */
  configure(patch: Partial<MockServerOptions>): void;
  /** Zero the stats and the request log. */
  resetStats(): void;
  /** Stop accepting connections and drop open ones (clients see ECONNREFUSED / ECONNRESET). */
  pause(): Promise<void>;
  /** Listen again on the same port. */
  resume(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Hashing and deterministic randomness (cheap: these run on every request)

/** 53-bit string hash (cyrb53). */
export function hashString(str: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < str.length; i++) {
    const ch = str.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Mix integers into a uniform number in [0, 1). */
function unit(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h ^= Math.imul((p | 0) ^ ((p / 4294967296) | 0), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return (h >>> 0) / 4294967296;
}

/** Small fast PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'alpha beta gamma delta tensor gradient batch token layer vector matrix kernel sample prompt ' +
  'answer reason step value proof number series graph model train data check result method ' +
  'first then next so thus hence because given let compute solve sum product total each'
).split(' ');

/** The default answer: `words` pseudo-random words determined by `h`. */
export function defaultText(h: number, words = 24): string {
  const next = rng(h);
  const out: string[] = new Array(words);
  for (let i = 0; i < words; i++) out[i] = WORDS[(next() * WORDS.length) | 0];
  return out.join(' ');
}

/** The text a scripted `respond` usually keys on: the last user message (chat) or the prompt. */
export function lastUserText(req: MockRequest): string {
  if (req.prompt !== undefined) return req.prompt;
  const msgs = req.messages ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].role === 'user') return String(msgs[i].content);
  return '';
}

/**
 * A number in [0, 1) fixed by the request's key (prompt + seed) and choice index: lets a script
 * answer e.g. "right for 70% of samples" reproducibly, whatever order requests arrive in.
 */
export function choiceUnit(req: MockRequest): number {
  return unit(hashString(req.key), req.choiceIndex, 0x5eed);
}

/** Cut `text` after `max` whitespace-separated words; returns null if it has at most `max`. */
function cutWords(text: string, max: number): string | null {
  const re = /\S+/g;
  let count = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    count++;
    if (count === max) {
      const end = m.index + m[0].length;
      return /\S/.test(text.slice(end)) ? text.slice(0, end) : null;
    }
  }
  if (max === 0 && /\S/.test(text)) return '';
  return null;
}

function countWords(text: string): number {
  let n = 0;
  const re = /\S+/g;
  while (re.exec(text)) n++;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Error bodies in the styles real servers use

function openAiError(message: string, type: string, code: string | number | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

function contextErrorBody(style: ContextErrorStyle, limit: number, promptTokens: number, maxTokens: number): unknown {
  const total = promptTokens + maxTokens;
  switch (style) {
    case 'openai':
      return openAiError(
        `This model's maximum context length is ${limit} tokens. However, you requested ${total} tokens ` +
          `(${promptTokens} in the messages, ${maxTokens} in the completion). Please reduce the length of the messages or completion.`,
        'invalid_request_error', 'context_length_exceeded', 'messages');
    case 'vllm':
      // Recent vLLM (older releases said "However, you requested N tokens (...)").
      return {
        error: {
          message: `'max_tokens' or 'max_completion_tokens' is too large: ${maxTokens}. This model's maximum context length is ${limit} tokens ` +
            `and your request has ${promptTokens} input tokens (${maxTokens} > ${limit} - ${promptTokens}).`,
          type: 'BadRequestError', param: null, code: 400,
        },
      };
    case 'sglang':
      return {
        object: 'error',
        message: `Requested token count exceeds the model's maximum context length of ${limit} tokens. You requested a total of ` +
          `${total} tokens: ${promptTokens} tokens from the input messages and ${maxTokens} tokens for the completion.`,
        type: 'BadRequestError', param: null, code: 400,
      };
    case 'tensorrt-llm':
      return {
        object: 'error',
        message: `The sum of prompt length (${promptTokens}) and max_tokens (${maxTokens}) should not exceed max_seq_len (${limit})`,
        type: 'BadRequestError', param: null, code: 400,
      };
    case 'llamacpp':
      return {
        error: {
          code: 400,
          message: 'the request exceeds the available context size, try increasing it',
          type: 'exceed_context_size_error', n_prompt_tokens: promptTokens, n_ctx: limit,
        },
      };
  }
}

// ---------------------------------------------------------------------------------------------
// The server

const DEFAULT_REWARD_MODELS = ['nvidia/nemotron-4-340b-reward'];
const REWARD_CATEGORIES = ['helpfulness', 'correctness', 'coherence', 'complexity', 'verbosity'];
const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' };

interface StreamableChoice {
  index: number;
  message?: { content: string };
  text?: string;
  finish_reason: string;
}

function emptyStats(): MockStats {
  return { total: 0, byPath: {}, byKey: new Map(), faults: {}, completed: 0, promptTokens: 0, completionTokens: 0, inFlight: 0, maxInFlight: 0, connections: 0 };
}

function latencyMs(spec: LatencySpec | undefined, next: () => number): number {
  if (spec === undefined) return 0;
  if (typeof spec === 'number') return spec;
  if ('fixedMs' in spec) return spec.fixedMs;
  // Lognormal: median * exp(sigma * z), z ~ N(0, 1) by Box-Muller.
  const u1 = Math.max(next(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * next());
  return spec.medianMs * Math.exp(spec.sigma * z);
}

function attemptMatches(rule: FaultRule, attempt: number): boolean {
  const a = rule.attempts ?? 'all';
  if (a === 'all') return true;
  if (a === 'first') return attempt === 1;
  if (a === 'retries') return attempt > 1;
  return a.includes(attempt);
}

export async function startMockServer(initial: MockServerOptions = {}): Promise<MockServer> {
  let options: MockServerOptions = { ...initial };
  let stats = emptyStats();
  let requests: LoggedRequest[] = [];
  let ruleFired: number[] = [];
  let latencyRng = rng(options.seed ?? 1);
  let requestCounter = 0;
  const sockets = new Set<Socket>();
  const hanging = new Set<http.ServerResponse>();
  let rewardModels = new Set(options.rewardModels ?? DEFAULT_REWARD_MODELS);
  let knownModels = options.models ? new Set(options.models) : null;

  function applyOptions(): void {
    rewardModels = new Set(options.rewardModels ?? DEFAULT_REWARD_MODELS);
    knownModels = options.models ? new Set(options.models) : null;
    ruleFired = (options.faults ?? []).map(() => 0);
  }
  applyOptions();

  function log(entry: LoggedRequest): void {
    const limit = options.logLimit ?? 1000;
    if (limit <= 0) return;
    requests.push(entry);
    if (requests.length > limit * 2) requests = requests.slice(-limit); // amortised trimming
  }

  function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { ...JSON_HEADERS, 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  function authorized(headers: http.IncomingHttpHeaders): boolean {
    if (options.apiKey === undefined) return true;
    if (options.apiKeyHeader) return headers[options.apiKeyHeader.toLowerCase()] === options.apiKey;
    return headers.authorization === `Bearer ${options.apiKey}`;
  }

  function countFault(kind: string): void {
    stats.faults[kind] = (stats.faults[kind] ?? 0) + 1;
  }

  function pickFault(req: MockRequest): FaultRule | null {
    if (options.fault) {
      const f = options.fault(req);
      if (f) return typeof f === 'string' ? { fault: f } : f;
    }
    const rules = options.faults;
    if (!rules) return null;
    const keyHash = hashString(req.key);
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      const endpoints = r.endpoints ?? ['chat', 'completions'];
      if (!endpoints.includes(req.endpoint)) continue;
      if (r.model !== undefined && r.model !== req.model) continue;
      if (!attemptMatches(r, req.attempt)) continue;
      if (r.limit !== undefined && ruleFired[i] >= r.limit) continue;
      if (r.match && !r.match(req)) continue;
      const rate = r.rate ?? 1;
      if (rate < 1 && unit(options.seed ?? 1, i, keyHash, req.attempt) >= rate) continue;
      ruleFired[i]++;
      return r;
    }
    return null;
  }

  function retryAfterHeader(rule: FaultRule): Record<string, string> {
    if (rule.retryAfterSeconds === undefined) return {};
    if (rule.retryAfterFormat === 'http-date') {
      return { 'retry-after': new Date(Date.now() + rule.retryAfterSeconds * 1000).toUTCString() };
    }
    return { 'retry-after': String(rule.retryAfterSeconds) };
  }

  /** Delivers a fault. Returns after the response is ended (or abandoned). */
  function deliverFault(res: http.ServerResponse, rule: FaultRule, endpoint: MockEndpoint, promptTokens: number, maxTokens: number, streaming = false): void {
    countFault(rule.fault);
    if (streaming && (rule.fault === 'reset_mid_body' || rule.fault === 'stream_error')) {
      res.writeHead(200, SSE_HEADERS);
      const first = endpoint === 'chat'
        ? { id: 'mock-s', object: 'chat.completion.chunk', model: 'mock', choices: [{ index: 0, delta: { role: 'assistant', content: 'partial ' }, finish_reason: null }] }
        : { id: 'mock-s', object: 'text_completion', model: 'mock', choices: [{ index: 0, text: 'partial ', finish_reason: null }] };
      res.write(`data: ${JSON.stringify(first)}\n\n`);
      if (rule.fault === 'stream_error') {
        res.end(`data: ${JSON.stringify(openAiError(rule.message ?? 'generation failed mid-stream', 'server_error', rule.status ?? 500))}\n\n`);
      } else {
        res.write('', () => setImmediate(() => res.socket?.destroy()));
      }
      return;
    }
    switch (rule.fault) {
      case 'rate_limit':
        return send(res, 429, openAiError(rule.message ?? 'Rate limit reached for requests', 'rate_limit_error', 'rate_limit_exceeded'), retryAfterHeader(rule));
      case 'server_error':
        return send(res, rule.status ?? 500, openAiError(rule.message ?? 'The server had an error while processing your request', 'server_error', null), retryAfterHeader(rule));
      case 'request_timeout':
        return send(res, 408, openAiError(rule.message ?? 'Request timed out', 'timeout', null));
      case 'http_error':
        return send(res, rule.status ?? 400, openAiError(rule.message ?? `Mock error ${rule.status ?? 400}`, 'invalid_request_error', null), retryAfterHeader(rule));
      case 'unauthorized':
        return send(res, 401, openAiError(rule.message ?? 'Incorrect API key provided', 'invalid_request_error', 'invalid_api_key'));
      case 'context_length':
        return send(res, 400, contextErrorBody(options.contextErrorStyle ?? 'vllm', options.contextLength ?? 4096, promptTokens, maxTokens));
      case 'reset_before_headers':
        res.socket?.destroy();
        return;
      case 'reset_mid_body': {
        const text = JSON.stringify({ id: 'cmpl-mock', object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: 'partial answer that never ends' } }] });
        res.writeHead(200, { ...JSON_HEADERS, 'content-length': String(text.length * 2) });
        res.write(text.slice(0, text.length >> 1), () => setImmediate(() => res.socket?.destroy()));
        return;
      }
      case 'hang':
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      case 'invalid_json':
        return send(res, 200, '{"id": "cmpl-mock", "choices": [ {"index": 0, "mess');
      case 'no_choices':
        return send(res, 200, { id: 'cmpl-mock', object: endpoint === 'chat' ? 'chat.completion' : 'text_completion', created: 0, model: 'mock', choices: [], usage: { prompt_tokens: promptTokens, completion_tokens: 0, total_tokens: promptTokens } });
      case 'stream_error':
        return send(res, rule.status ?? 500, openAiError(rule.message ?? 'generation failed', 'server_error', null));
      case 'empty_completion':
        // handled by the caller (it needs the normal response shape)
        return;
    }
  }

  function answerText(req: MockRequest, respond: MockRespond | undefined, cache: { arr?: MockAnswer[] }): { text: string; finishReason?: string } {
    let a: MockAnswer;
    if (cache.arr) a = cache.arr[req.choiceIndex % cache.arr.length];
    else if (respond) {
      const r = respond(req);
      if (Array.isArray(r)) {
        if (r.length === 0) throw new Error('mock respond() returned an empty array');
        cache.arr = r;
        a = r[req.choiceIndex % r.length];
      } else a = r;
    } else {
      const sampled = req.seed === undefined && req.body.temperature !== 0;
      const h = hashString(req.key, req.choiceIndex * 7919 + (sampled ? requestCounter * 104729 : 0));
      a = defaultText(h, options.defaultWords ?? 24);
    }
    return typeof a === 'string' ? { text: a } : a;
  }

  async function handleCompletion(req: http.IncomingMessage, res: http.ServerResponse, endpoint: 'chat' | 'completions', path: string, raw: string): Promise<void> {
    let body: Record<string, any>;
    try {
      body = JSON.parse(raw);
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
    } catch {
      log({ method: req.method!, path, headers: req.headers, body: undefined, at: Date.now() });
      return send(res, 400, openAiError('Request body is not valid JSON', 'invalid_request_error', null));
    }
    const model = String(body.model ?? '');
    let promptKeyText: string;
    let promptChars = 0;
    let messages: MockChatMessage[] | undefined;
    let prompt: string | undefined;
    if (endpoint === 'chat') {
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        log({ method: req.method!, path, headers: req.headers, body, at: Date.now() });
        return send(res, 400, openAiError('`messages` must be a non-empty array', 'invalid_request_error', null, 'messages'));
      }
      messages = body.messages;
      promptKeyText = model + '\u0000';
      for (const m of body.messages) {
        const content = typeof m?.content === 'string' ? m.content : JSON.stringify(m?.content ?? '');
        promptKeyText += m?.role + '\u0001' + content + '\u0002';
        promptChars += content.length;
      }
    } else {
      if (typeof body.prompt !== 'string') {
        log({ method: req.method!, path, headers: req.headers, body, at: Date.now() });
        return send(res, 400, openAiError('`prompt` must be a string (the mock does not batch prompts)', 'invalid_request_error', null, 'prompt'));
      }
      prompt = body.prompt;
      promptKeyText = model + '\u0000' + body.prompt;
      promptChars = body.prompt.length;
    }
    const seed: number | undefined = typeof body.seed === 'number' ? body.seed : undefined;
    const key = `${hashString(promptKeyText).toString(36)}:${seed ?? '-'}`;
    let attempt = 1;
    if (options.trackKeys !== false) {
      attempt = (stats.byKey.get(key) ?? 0) + 1;
      stats.byKey.set(key, attempt);
    }
    const n = body.n === undefined ? 1 : body.n;
    const mreq: MockRequest = { endpoint, model, messages, prompt, seed, n, choiceIndex: 0, key, attempt, body, headers: req.headers };
    const entry: LoggedRequest = { method: req.method!, path, headers: req.headers, body, key, attempt, at: Date.now() };
    log(entry);

    const promptTokens = Math.ceil(promptChars / 4);
    const maxTokensRaw = body.max_tokens ?? body.max_completion_tokens;
    const maxTokens: number | undefined = typeof maxTokensRaw === 'number' ? maxTokensRaw : undefined;

    // Checks real servers make, in their usual order.
    if (!authorized(req.headers)) {
      entry.fault = 'unauthorized';
      countFault('unauthorized');
      return send(res, 401, openAiError('Incorrect API key provided', 'invalid_request_error', 'invalid_api_key'));
    }
    const isReward = endpoint === 'chat' && rewardModels.has(model);
    if (knownModels && !knownModels.has(model) && !isReward) {
      countFault('not_found');
      return send(res, 404, openAiError(`The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'));
    }
    if (!Number.isInteger(n) || n < 1 || n > 1024) {
      return send(res, 400, openAiError(`n must be an integer between 1 and 1024, got ${JSON.stringify(body.n)}`, 'invalid_request_error', null, 'n'));
    }
    if (options.contextLength !== undefined && promptTokens + (maxTokens ?? 0) > options.contextLength) {
      entry.fault = 'context_length';
      countFault('context_length');
      return send(res, 400, contextErrorBody(options.contextErrorStyle ?? 'vllm', options.contextLength, promptTokens, maxTokens ?? 0));
    }

    const fault = pickFault(mreq);
    const delay = latencyMs(options.latency, latencyRng) + (fault?.delayMs ?? 0);
    if (options.recordLatencies) (stats.latencies ??= []).push(delay);
    if (delay > 0) {
      await new Promise((r) => setTimeout(r, delay));
      if (res.destroyed || res.socket?.destroyed) return;
    }
    if (fault && fault.fault !== 'empty_completion') {
      entry.fault = fault.fault;
      return deliverFault(res, fault, endpoint, promptTokens, maxTokens ?? 0, body.stream === true);
    }
    if (fault) {
      entry.fault = fault.fault;
      countFault(fault.fault);
    }

    const created = Math.floor(Date.now() / 1000);
    const id = `mock-${++requestCounter}`;

    if (isReward) {
      const scores = options.reward ? options.reward(mreq) : defaultRewardScores(key);
      const content = Object.entries(scores).map(([k, v]) => `${k}:${v}`).join(',');
      stats.completed++;
      stats.promptTokens += promptTokens;
      stats.completionTokens += 1;
      return send(res, 200, {
        id, object: 'chat.completion', created, model,
        choices: [{
          index: 0,
          message: { role: 'assistant', content },
          logprobs: { content: Object.entries(scores).map(([token, logprob]) => ({ token, logprob, bytes: null, top_logprobs: [] })) },
          finish_reason: 'length',
        }],
        usage: { prompt_tokens: promptTokens, completion_tokens: 1, total_tokens: promptTokens + 1 },
      });
    }

    const stops: string[] = Array.isArray(body.stop) ? body.stop : typeof body.stop === 'string' ? [body.stop] : [];
    const cache: { arr?: MockAnswer[] } = {};
    const choices: unknown[] = new Array(n);
    let completionTokens = 0;
    for (let i = 0; i < n; i++) {
      mreq.choiceIndex = i;
      let { text, finishReason } = fault ? { text: '', finishReason: 'stop' } : answerText(mreq, options.respond, cache);
      let reason = finishReason ?? 'stop';
      for (const s of stops) {
        const at = s ? text.indexOf(s) : -1;
        if (at >= 0) { text = text.slice(0, at); reason = 'stop'; }
      }
      if (maxTokens !== undefined) {
        const cut = cutWords(text, maxTokens);
        if (cut !== null) { text = cut; reason = 'length'; }
      }
      completionTokens += countWords(text);
      choices[i] = endpoint === 'chat'
        ? { index: i, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: reason }
        : { index: i, text, logprobs: null, finish_reason: reason };
    }
    stats.completed++;
    stats.promptTokens += promptTokens;
    stats.completionTokens += completionTokens;
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
    if (body.stream === true) return sendStream(res, endpoint, id, created, model, choices as StreamableChoice[], body.stream_options?.include_usage ? usage : undefined);
    send(res, 200, { id, object: endpoint === 'chat' ? 'chat.completion' : 'text_completion', created, model, choices, usage });
  }

  /** Server-sent events the way vLLM / OpenAI send them: deltas per choice, then usage, then [DONE]. */
  function sendStream(res: http.ServerResponse, endpoint: 'chat' | 'completions', id: string, created: number, model: string, choices: StreamableChoice[], usage: object | undefined): void {
    const object = endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    const per = Math.max(1, options.streamChunkWords ?? 4);
    let out = '';
    const event = (choice: object) => { out += `data: ${JSON.stringify({ id, object, created, model, choices: [choice] })}\n\n`; };
    for (const c of choices) {
      const text = endpoint === 'chat' ? (c.message?.content ?? '') : (c.text ?? '');
      // Pieces of `per` words, keeping the whitespace, so the deltas add up to the exact text.
      const pieces = text.match(new RegExp(`(?:\\s*\\S+){1,${per}}\\s*|\\s+`, 'g')) ?? [];
      if (endpoint === 'chat') event({ index: c.index, delta: { role: 'assistant', content: '' }, finish_reason: null });
      for (const p of pieces) event(endpoint === 'chat' ? { index: c.index, delta: { content: p }, finish_reason: null } : { index: c.index, text: p, finish_reason: null });
      event(endpoint === 'chat' ? { index: c.index, delta: {}, finish_reason: c.finish_reason } : { index: c.index, text: '', finish_reason: c.finish_reason });
    }
    if (usage) out += `data: ${JSON.stringify({ id, object, created, model, choices: [], usage })}\n\n`;
    out += 'data: [DONE]\n\n';
    res.writeHead(200, SSE_HEADERS);
    res.end(out);
  }

  function defaultRewardScores(key: string): Record<string, number> {
    const next = rng(hashString(key));
    const out: Record<string, number> = {};
    // Multiples of 1/64, like the bf16-rounded scores the real model returns.
    for (const c of REWARD_CATEGORIES) out[c] = Math.round((next() * 4.5 - 0.5) * 64) / 64;
    return out;
  }

  function endpointOf(path: string): MockEndpoint | null {
    switch (path) {
      case '/v1/chat/completions': return 'chat';
      case '/v1/completions': return 'completions';
      case '/v1/models': return 'models';
      case '/health': case '/v1/health': return 'health';
      default: return null;
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q >= 0 ? url.slice(0, q) : url;
    stats.total++;
    stats.byPath[path] = (stats.byPath[path] ?? 0) + 1;
    const endpoint = endpointOf(path);
    if (path === '/mock/stats' && req.method === 'GET') {
      // For benchmarks running this server in another process (not part of any real API).
      req.resume();
      const { byKey, ...rest } = stats;
      return send(res, 200, { ...rest, keys: byKey.size });
    }
    if (endpoint === null) {
      log({ method: req.method!, path, headers: req.headers, body: undefined, at: Date.now() });
      req.resume();
      return send(res, 404, openAiError(`Unknown path ${path}`, 'invalid_request_error', null));
    }
    if (endpoint === 'chat' || endpoint === 'completions') {
      if (req.method !== 'POST') {
        req.resume();
        return send(res, 405, openAiError(`Use POST for ${path}`, 'invalid_request_error', null));
      }
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      return handleCompletion(req, res, endpoint, path, chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    }
    req.resume();
    log({ method: req.method!, path, headers: req.headers, body: undefined, at: Date.now() });
    if (endpoint === 'health') return send(res, 200, { status: 'ok' });
    // /v1/models: the auth check and fault rules apply here too.
    if (!authorized(req.headers)) {
      countFault('unauthorized');
      return send(res, 401, openAiError('Incorrect API key provided', 'invalid_request_error', 'invalid_api_key'));
    }
    const mreq: MockRequest = { endpoint, model: '', n: 1, choiceIndex: 0, key: 'models', attempt: 1, body: {}, headers: req.headers };
    const fault = pickFault(mreq);
    if (fault) return deliverFault(res, fault, endpoint, 0, 0);
    const ids = [...(options.models ?? ['mock-model']), ...rewardModels];
    const maxLen = options.contextLength !== undefined ? { max_model_len: options.contextLength } : {};
    send(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 0, owned_by: 'mock', ...maxLen })) });
  }

  const server = http.createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    stats.inFlight++;
    if (stats.inFlight > stats.maxInFlight) stats.maxInFlight = stats.inFlight;
    let counted = true;
    const done = () => { if (counted) { counted = false; stats.inFlight--; } };
    res.once('close', done);
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) send(res, 500, openAiError(`mock server bug: ${(e as Error)?.message ?? e}`, 'server_error', null));
      else res.destroy();
    });
  });
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    stats.connections++;
    s.setNoDelay(true);
    s.once('close', () => sockets.delete(s));
  });
  // A client that resets its own connection is normal here (tests do it on purpose).
  server.on('clientError', (_e, socket) => socket.destroy());

  const listen = (port: number) => new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    // A deep accept queue: a client opening 1,000+ connections at once must not see SYNs dropped
    // (the default backlog of 511 made some connections wait for the 1 s SYN retry).
    server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => { server.off('error', onError); resolve(); });
  });
  await listen(options.port ?? 0);
  const port = (server.address() as AddressInfo).port;

  let listening = true;
  const stopListening = async () => {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const res of hanging) res.destroy();
    hanging.clear();
    for (const s of sockets) s.destroy();
    await closed;
  };

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    get stats() { return stats; },
    get requests() { return requests.length > (options.logLimit ?? 1000) ? requests.slice(-(options.logLimit ?? 1000)) : requests; },
    get options() { return options; },
    configure(patch) {
      options = { ...options, ...patch };
      if (patch.seed !== undefined) latencyRng = rng(patch.seed);
      applyOptions();
    },
    resetStats() {
      stats = emptyStats();
      requests = [];
      ruleFired = (options.faults ?? []).map(() => 0);
    },
    pause: stopListening,
    async resume() {
      if (listening) return;
      // The port was ours a moment ago; another process may grab it in between, so retry briefly.
      for (let i = 0; ; i++) {
        try { await listen(port); break; } catch (e) {
          if (i >= 50) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      listening = true;
    },
    close: stopListening,
  };
}
