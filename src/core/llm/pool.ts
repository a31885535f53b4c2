/**
 * Endpoint pools: one logical endpoint over several servers that serve the same model (for
 * example 8 vLLM replicas, one per GPU node). Every request goes to the healthy server with the
 * fewest requests outstanding relative to its weight; a server that fails several times in a row
 * (connection errors, 5xx, time-outs) is taken out of rotation and probed (GET /models, with
 * back-off) until it answers again. Per-server concurrency limits hold: when every server is
 * full, a request waits for the first free slot.
 *
 *   const client = createPoolClient({ ...profile, servers: [{ baseUrl: 'http://a:8000/v1' }, { baseUrl: 'http://b:8000/v1', weight: 2 }] });
 *   client.serverStats(); // [{ baseUrl, outstanding, done, failed, healthy, latencyMs, ... }]
 *
 * One attempt per call, like the single-server client: retries belong to the engine. The one
 * exception is a connection that could not even be opened (refused, unreachable): the request
 * never reached that server, so it is sent to another healthy server at once.
 */
import { parseServerList } from './serverSpec';
import { LlmError, isLlmError } from './errors';
import { OpenAiCompatibleClient, type ClientOptions, type ModelInfo } from './client';
import type { ChatMessage, EndpointProfile, LlmClient, ModelParams, ModelResponse, PoolServer, RequestOptions, RewardScores, ServerStats } from './types';
import type OpenAI from 'openai';

export interface PoolOptions extends ClientOptions {
  /** Consecutive connection errors / 5xx / time-outs that take a server out of rotation. Default 3. */
  failureThreshold?: number;
  /** First probe of a server out of rotation after this delay (ms); doubles up to `maxProbeIntervalMs`. Default 1000. */
  probeIntervalMs?: number;
  /** Default 30 000. */
  maxProbeIntervalMs?: number;
  /** Time-out of one probe (ms). Default 5000. */
  probeTimeoutMs?: number;
}

/** Failures that say something about the server's health (not about the request). */
const HEALTH_KINDS = new Set(['network', 'timeout', 'server', 'request_timeout', 'bad_response']);
/** Connection-level failures: the request never reached the server, so another may take it at once. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

/** Everything wrong with a pool's server list, each message naming the server. */
export function validatePoolServers(servers: unknown, where = 'endpoint'): string[] {
  if (!Array.isArray(servers) || servers.length === 0) return [`${where}: servers must be a non-empty list of { baseUrl, weight?, maxConcurrency? }`];
  const problems: string[] = [];
  const seen = new Set<string>();
  servers.forEach((s: Partial<PoolServer>, i) => {
    const at = `${where}: servers[${i}]`;
    if (!s || typeof s !== 'object') return void problems.push(`${at}: expected { baseUrl, weight?, maxConcurrency? }`);
    for (const k of Object.keys(s)) if (k !== 'baseUrl' && k !== 'weight' && k !== 'maxConcurrency') problems.push(`${at}: unknown field "${k}" (baseUrl, weight, maxConcurrency)`);
    let url: URL | undefined;
    try { url = new URL(String(s.baseUrl)); } catch { /* below */ }
    if (typeof s.baseUrl !== 'string' || !url) problems.push(`${at}.baseUrl: ${JSON.stringify(s.baseUrl)} is not a valid URL (e.g. http://gpu-node-1:8000/v1)`);
    else if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push(`${at}.baseUrl: must start with http:// or https://`);
    else if (url.username || url.password) problems.push(`${at}.baseUrl: must not contain credentials`);
    else if (/\/(chat\/)?completions\/?$/.test(url.pathname)) problems.push(`${at}.baseUrl: should be the API root (e.g. ${url.origin}/v1), not ${url.pathname}`);
    else if (seen.has(s.baseUrl.replace(/\/+$/, ''))) problems.push(`${at}.baseUrl: ${s.baseUrl} is listed twice`);
    if (typeof s.baseUrl === 'string') seen.add(s.baseUrl.replace(/\/+$/, ''));
    if (s.weight !== undefined && !(typeof s.weight === 'number' && Number.isFinite(s.weight) && s.weight > 0)) problems.push(`${at}.weight: must be a positive number, got ${JSON.stringify(s.weight)}`);
    if (s.maxConcurrency !== undefined && !(Number.isInteger(s.maxConcurrency) && (s.maxConcurrency as number) > 0)) problems.push(`${at}.maxConcurrency: must be a whole number >= 1, got ${JSON.stringify(s.maxConcurrency)}`);
  });
  return problems;
}

/**
 * Servers from `--base-url` values, in the one server-list syntax (serverSpec.ts: several URLs
 * separated by commas, each optionally ending in `#weight=2&max=64`). Throws on the first
 * value with a problem, naming it.
 */
export function parseServerSpecs(values: readonly string[]): PoolServer[] {
  const out: PoolServer[] = [];
  for (const value of values) {
    if (!value.trim()) continue;
    const list = parseServerList(value);
    if (list.problems.length) throw new Error(`--base-url ${value}: ${list.problems.join('; ')}`);
    out.push(...list.servers);
  }
  return out;
}

/** Per-server state. */
class ServerSlot {
  outstanding = 0;
  done = 0;
  failed = 0;
  healthy = true;
  consecutiveFailures = 0;
  latencyMs: number | null = null;
  lastError: string | null = null;
  lastErrorCode: string | undefined;
  probeDelayMs = 0;
  probeTimer: NodeJS.Timeout | null = null;
  /** When a probe last brought the server back (ms, performance.now()); 0: never. */
  backAt = 0;
  readonly max: number;

  constructor(readonly index: number, readonly baseUrl: string, readonly weight: number, max: number | undefined, readonly client: OpenAiCompatibleClient) {
    this.max = max ?? Infinity;
  }

  get hasCapacity(): boolean {
    return this.outstanding < this.max;
  }
}

interface Waiter {
  exclude: ReadonlySet<ServerSlot> | null;
  resolve(slot: ServerSlot): void;
  reject(err: unknown): void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class PoolClient implements LlmClient {
  readonly endpoint: EndpointProfile;
  private readonly slots: ServerSlot[];
  /** Requests waiting for a free slot, oldest first. */
  private waiters: Waiter[] = [];
  /** Rotates the first candidate so equal servers take turns. */
  private turn = 0;
  private closed = false;
  private readonly threshold: number;
  private readonly probeStartMs: number;
  private readonly probeMaxMs: number;
  private readonly probeTimeoutMs: number;

  constructor(profile: EndpointProfile, opts: PoolOptions = {}) {
    const problems = validatePoolServers(profile.servers, `endpoint "${profile.name}"`);
    if (problems.length) throw new LlmError('bad_request', problems.join('\n'), undefined, undefined, undefined, false);
    const servers = profile.servers!;
    this.endpoint = { ...profile, baseUrl: servers[0].baseUrl };
    this.threshold = Math.max(1, opts.failureThreshold ?? 3);
    this.probeStartMs = opts.probeIntervalMs ?? 1000;
    this.probeMaxMs = Math.max(this.probeStartMs, opts.maxProbeIntervalMs ?? 30_000);
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 5000;
    const { failureThreshold: _a, probeIntervalMs: _b, maxProbeIntervalMs: _c, probeTimeoutMs: _d, ...clientOpts } = opts;
    const built: ServerSlot[] = [];
    try {
      servers.forEach((s, i) => {
        const { servers: _s, ...single } = profile;
        const serverProfile: EndpointProfile = { ...single, baseUrl: s.baseUrl, maxConcurrency: s.maxConcurrency ?? profile.maxConcurrency };
        const client = new OpenAiCompatibleClient(serverProfile, { ...clientOpts, connections: s.maxConcurrency ?? clientOpts.connections });
        built.push(new ServerSlot(i, s.baseUrl, s.weight ?? 1, s.maxConcurrency, client));
      });
    } catch (e) {
      for (const b of built) void b.client.close();
      throw e;
    }
    this.slots = built;
  }

  // -------------------------------------------------------------------------------------------
  // LlmClient

  queryModel(messages: ChatMessage[], params?: ModelParams, options: RequestOptions = {}): Promise<ModelResponse> {
    return this.dispatch((c) => c.queryModel(messages, params, options), options.signal);
  }

  queryRewardModel(messages: ChatMessage[], options: RequestOptions = {}): Promise<RewardScores> {
    return this.dispatch((c) => c.queryRewardModel(messages, options), options.signal);
  }

  async listModels(options: RequestOptions = {}): Promise<string[]> {
    return this.firstAnswer((c) => c.listModels(options));
  }

  /** The model list of the first server that answers (healthy ones first). */
  async listModelInfo(options: RequestOptions = {}): Promise<ModelInfo[]> {
    return this.firstAnswer((c) => c.listModelInfo(options));
  }

  /** An openai SDK instance on the first server (for calls the client does not wrap). */
  openaiSdk(): OpenAI {
    return (this.slots.find((s) => s.healthy) ?? this.slots[0]).client.openaiSdk();
  }

  serverStats(): ServerStats[] {
    return this.slots.map((s) => ({
      baseUrl: s.baseUrl,
      weight: s.weight,
      maxConcurrency: Number.isFinite(s.max) ? s.max : null,
      outstanding: s.outstanding,
      done: s.done,
      failed: s.failed,
      healthy: s.healthy,
      latencyMs: s.latencyMs === null ? null : Math.round(s.latencyMs),
      lastError: s.lastError,
    }));
  }

  /** Requests waiting for a free server slot (all servers at their limit). */
  get waiting(): number {
    return this.waiters.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) if (s.probeTimer) clearTimeout(s.probeTimer);
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) this.dropWaiter(w, new LlmError('aborted', `endpoint "${this.endpoint.name}" was closed`));
    await Promise.all(this.slots.map((s) => s.client.close()));
  }

  // -------------------------------------------------------------------------------------------
  // Dispatch

  private async dispatch<T>(fn: (client: OpenAiCompatibleClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
    let tried: Set<ServerSlot> | null = null;
    for (;;) {
      const slot = await this.acquire(signal, tried);
      const started = performance.now();
      try {
        const result = await fn(slot.client);
        this.succeeded(slot, performance.now() - started);
        return result;
      } catch (e) {
        this.failedOn(slot, e);
        // Not even connected: the request is safe to send elsewhere, and not worth an engine retry.
        if (isLlmError(e) && e.kind === 'network' && e.code && CONNECT_CODES.has(e.code)) {
          (tried ??= new Set()).add(slot);
          if (this.slots.some((s) => s.healthy && !tried!.has(s))) continue;
        }
        throw e;
      } finally {
        this.release(slot);
      }
    }
  }

  /** The best free server now, or a promise of one when all healthy servers are full. */
  private acquire(signal: AbortSignal | undefined, exclude: ReadonlySet<ServerSlot> | null): Promise<ServerSlot> | ServerSlot {
    if (this.closed) throw new LlmError('aborted', `endpoint "${this.endpoint.name}" is closed`);
    if (signal?.aborted) throw new LlmError('aborted', `request to endpoint "${this.endpoint.name}" cancelled`);
    if (!this.slots.some((s) => s.healthy && !exclude?.has(s))) throw this.allDownError();
    const slot = this.pick(exclude);
    if (slot) {
      slot.outstanding++;
      return slot;
    }
    return new Promise<ServerSlot>((resolve, reject) => {
      const waiter: Waiter = { exclude, resolve, reject, signal };
      if (signal) {
        waiter.onAbort = () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new LlmError('aborted', `request to endpoint "${this.endpoint.name}" cancelled while waiting for a free server`));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  /** Least outstanding relative to weight among healthy servers with room; ties take turns. */
  private pick(exclude: ReadonlySet<ServerSlot> | null): ServerSlot | null {
    const n = this.slots.length;
    let best: ServerSlot | null = null;
    let bestScore = Infinity;
    for (let k = 0; k < n; k++) {
      const s = this.slots[(this.turn + k) % n];
      if (!s.healthy || !s.hasCapacity || exclude?.has(s)) continue;
      const score = (s.outstanding + 1) / s.weight;
      if (score < bestScore) {
        best = s;
        bestScore = score;
      }
    }
    if (best) this.turn = (best.index + 1) % n;
    return best;
  }

  private release(slot: ServerSlot): void {
    slot.outstanding--;
    this.serveWaiters();
  }

  /** Hands free slots to waiting requests, oldest first. */
  private serveWaiters(): void {
    if (this.waiters.length === 0) return;
    if (!this.slots.some((s) => s.healthy)) {
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) this.dropWaiter(w, this.allDownError());
      return;
    }
    for (let i = 0; i < this.waiters.length;) {
      const w = this.waiters[i];
      if (!this.slots.some((s) => s.healthy && !w.exclude?.has(s))) {
        this.waiters.splice(i, 1);
        this.dropWaiter(w, this.allDownError());
        continue;
      }
      const slot = this.pick(w.exclude);
      if (!slot) {
        // A later waiter may exclude fewer servers, but keeping FIFO order matters more.
        if (!this.slots.some((s) => s.healthy && s.hasCapacity)) return;
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      slot.outstanding++;
      w.resolve(slot);
    }
  }

  private dropWaiter(w: Waiter, err: unknown): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    w.reject(err);
  }

  // -------------------------------------------------------------------------------------------
  // Health

  private succeeded(slot: ServerSlot, ms: number): void {
    slot.done++;
    slot.consecutiveFailures = 0;
    slot.latencyMs = slot.latencyMs === null ? ms : slot.latencyMs * 0.8 + ms * 0.2;
  }

  private failedOn(slot: ServerSlot, e: unknown): void {
    if (isLlmError(e) && e.kind === 'aborted') return;
    slot.failed++;
    slot.lastError = e instanceof Error ? e.message : String(e);
    if (!isLlmError(e) || !HEALTH_KINDS.has(e.kind)) {
      // The server answered (4xx, 429...): it is alive.
      slot.consecutiveFailures = 0;
      return;
    }
    slot.lastErrorCode = e.code;
    slot.consecutiveFailures++;
    if (slot.healthy && slot.consecutiveFailures >= this.threshold) this.takeOut(slot);
  }

  private takeOut(slot: ServerSlot): void {
    slot.healthy = false;
    // A server that answers probes but fails real requests (model still loading, a broken GPU)
    // flaps: keep doubling the delay instead of starting over each time it comes back.
    const flapping = slot.backAt > 0 && performance.now() - slot.backAt < 2 * this.probeMaxMs;
    slot.probeDelayMs = flapping ? Math.min(this.probeMaxMs, Math.max(this.probeStartMs, slot.probeDelayMs * 2)) : this.probeStartMs;
    this.scheduleProbe(slot);
    // Requests waiting only for this server (or for any, when none is left) must hear about it.
    this.serveWaiters();
  }

  private scheduleProbe(slot: ServerSlot): void {
    if (this.closed) return;
    slot.probeTimer = setTimeout(() => void this.probe(slot), slot.probeDelayMs);
    slot.probeTimer.unref?.();
  }

  /** GET /models: any HTTP answer but a 5xx means the server is back (a 404 or 401 is still a live server). */
  private async probe(slot: ServerSlot): Promise<void> {
    slot.probeTimer = null;
    if (this.closed) return;
    let alive = false;
    try {
      await slot.client.listModels({ timeoutMs: this.probeTimeoutMs });
      alive = true;
    } catch (e) {
      alive = isLlmError(e) && !HEALTH_KINDS.has(e.kind) && e.kind !== 'aborted';
      if (!alive) slot.lastError = e instanceof Error ? e.message : String(e);
    }
    if (this.closed) return;
    if (alive) {
      slot.healthy = true;
      slot.consecutiveFailures = 0;
      slot.backAt = performance.now();
      this.serveWaiters();
      return;
    }
    slot.probeDelayMs = Math.min(this.probeMaxMs, slot.probeDelayMs * 2);
    this.scheduleProbe(slot);
  }

  private allDownError(): LlmError {
    const detail = this.slots.map((s) => `${s.baseUrl}: ${s.lastError ?? 'out of rotation'}`).join('; ');
    const code = this.slots.find((s) => s.lastErrorCode)?.lastErrorCode;
    return new LlmError('network', `all ${this.slots.length} servers of endpoint "${this.endpoint.name}" are out of rotation (probing them): ${detail}`, undefined, undefined, code);
  }

  /** Tries servers (healthy ones first) until one answers. */
  private async firstAnswer<T>(fn: (client: OpenAiCompatibleClient) => Promise<T>): Promise<T> {
    const order = [...this.slots].sort((a, b) => Number(b.healthy) - Number(a.healthy));
    let last: unknown;
    for (const s of order) {
      try {
        return await fn(s.client);
      } catch (e) {
        last = e;
        if (isLlmError(e) && !HEALTH_KINDS.has(e.kind)) throw e;
      }
    }
    throw last;
  }
}

export function createPoolClient(profile: EndpointProfile, opts: PoolOptions = {}): PoolClient {
  return new PoolClient(profile, opts);
}

/**
 * The client for any profile: a pool when it lists `servers`, else the single-server client.
 * Use this instead of `createClient` wherever a profile may come from a user.
 */
export function createEndpointClient(profile: EndpointProfile, opts: PoolOptions = {}): LlmClient & Pick<OpenAiCompatibleClient, 'listModelInfo' | 'openaiSdk'> {
  if (profile.servers?.length) return new PoolClient(profile, opts);
  return new OpenAiCompatibleClient(profile, opts);
}
