/**
 * `runItems`: the one executor every job uses.
 *
 * A sliding window over a lazily pulled item stream: a new item starts the moment one finishes
 * (never fixed batches), up to the current (adaptive) concurrency. Each item runs the job's
 * `execute(item, ctx)`; model requests go through `ctx.call` / `ctx.query`, which apply the rate
 * limits, retries with back-off, the context-length shrink and token accounting. Finished items
 * are written to the sink as one write per item (completion order, not input order).
 *
 * CPU per item is kept small: one shared ctx object, no per-item closures in the engine, O(1)
 * bookkeeping, progress computed on a timer rather than per request.
 */
import { setMaxListeners } from 'node:events';
import { LlmError, isLlmError } from '../llm/errors';
import type { ChatMessage, LlmClient, ModelParams, ModelResponse, RequestOptions, RewardScores, Usage } from '../llm/types';
import type { ManifestWriter, RunCounts } from '../run/manifest';
import type { ItemSink } from '../run/output';
import { AdaptiveConcurrency, type AdaptiveOptions } from './adaptive';
import { systemClock, type Clock } from './clock';
import { breakerSignature, describeBreakerStop, describeEarlyStop, earlyStopSignature, type EndpointHint } from './fatal';
import { RecentErrors, RateWindow, type ProgressEvent } from './progress';
import { RateLimiter } from './rateLimiter';
import { DEFAULT_RETRY, backoffDelay, shrinkMaxTokens, type RetryPolicy } from './retry';

/** What one attempt of a model request gets from `ctx.call`. */
export interface CallAttempt {
  signal: AbortSignal;
  /** 1 for the first try. */
  attempt: number;
  /** The max_tokens to send: the caller's value, or a smaller one after a context-length error. */
  maxTokens: number | undefined;
}

export interface CallOptions<T> {
  /** Estimated prompt tokens (for the tokens/minute limit before usage is known). */
  promptTokens?: number;
  /** max_tokens of the request (estimate, and what a context-length error shrinks). */
  maxTokens?: number;
  /** Completions the request asks for (`n`): the token reservation is prompt + n x max_tokens. Default 1. */
  choices?: number;
  /** Token usage of a result. Default: `result.usage` when it looks like `Usage`. */
  usage?(result: T): Usage | undefined;
}

/** Handed to `execute` for every item. One object shared by all items of a run. */
export interface ItemContext {
  /** Aborted when the run is cancelled or stops (early stop, write failure). */
  readonly signal: AbortSignal;
  /** Runs one model request with rate limits, retries, back-off and token accounting. */
  call<T>(fn: (attempt: CallAttempt) => Promise<T>, options?: CallOptions<T>): Promise<T>;
  /** `client.queryModel` through `call` (max_tokens shrinks after a context-length error). */
  query(client: LlmClient, messages: ChatMessage[], params?: ModelParams, options?: RequestOptions): Promise<ModelResponse>;
  /** `client.queryRewardModel` through `call`. */
  queryReward(client: LlmClient, messages: ChatMessage[], options?: RequestOptions): Promise<RewardScores>;
}

export interface Job<I, R> {
  /** Items, pulled lazily (never materialised). */
  items: AsyncIterable<I> | Iterable<I>;
  /** Stable unique key of an item (rows written for it must carry the same key). */
  keyOf(item: I): string;
  /** Produces the rows of one item. Throwing makes the item fail (`errorRow`). */
  execute(item: I, ctx: ItemContext): Promise<R[]>;
  /** The single row recorded for a failed item (must carry the item's key and `error != null`). */
  errorRow(item: I, error: unknown): R;
  /** Where rows go; its `doneKeys` are skipped. */
  sink: ItemSink<R>;
  /** Maximum items in flight. */
  concurrency: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  retry?: Partial<RetryPolicy>;
  /** Adaptive concurrency (AIMD) below `concurrency`. Default on. */
  adaptive?: boolean | AdaptiveOptions;
  /**
   * Stop the run when the first K completed items all failed with the same setup error
   * (401, 404, connection refused...). Default 8; `false` disables.
   */
  earlyStop?: number | false;
  /**
   * Circuit breaker: once the run has worked, stop it when the last K completed items all failed
   * with the same server-side error (5xx, time-out, 401/403, 404, 429 past the tolerance) after
   * their retries: the server stopped working, and going on would only write error rows.
   * Those K items are held (not written), so a resume redoes them. Default 32; `false` disables.
   */
  circuitBreaker?: number | false;
  /** Input size when known, or a promise of it (e.g. a line count running alongside). */
  total?: number | null | Promise<number | null>;
  /** Cancels the run: in-flight requests are aborted, finished items are kept. */
  signal?: AbortSignal;
  onProgress?(event: ProgressEvent): void;
  /** Default 250 ms. */
  progressIntervalMs?: number;
  /** Keeps manifest.json up to date (counts, tokens, throughput, final status). */
  manifest?: ManifestWriter;
  /** With `manifest`: update this stage's entry instead of the top-level status/counts. */
  stage?: string;
  /** Names the endpoint in early-stop messages. */
  endpoint?: EndpointHint;
  /** Injectable time and randomness (tests). */
  clock?: Clock;
  random?: () => number;
}

export type RunStatusResult = 'completed' | 'cancelled' | 'failed';

export interface RunResult {
  status: RunStatusResult;
  /** One clear message when status is "failed" (early stop, write failure, input error). */
  error: string | null;
  /** True when the run stopped because the first requests all failed the same way. */
  earlyStopped: boolean;
  /** True when the circuit breaker stopped a run that had worked (the last K items all failed the same way). */
  circuitBroken: boolean;
  /** Items written successfully in this session. */
  done: number;
  /** Items written as error rows in this session. */
  failed: number;
  /** Items skipped because they were already done. */
  skipped: number;
  /** Items skipped because another item with the same key was in flight (an input error). */
  duplicates: number;
  /** Done before this session (sink.doneKeys.size at start). */
  resumed: number;
  requests: number;
  retries: number;
  tokens: { prompt: number; completion: number };
  elapsedMs: number;
  /** Lowest adaptive concurrency limit reached (== max when it never had to back off). */
  minConcurrency: number;
  /** The last progress event. */
  progress: ProgressEvent;
}

const EMPTY_KEYS = { has: () => false, size: 0 };
const FAST_FAIL_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);
/** Connection errors in a row (across all requests) before the server counts as down. */
const OUTAGE_AFTER_FAILURES = 3;

function estimateTokens(messages: ChatMessage[]): number {
  let chars = 0;
  for (let i = 0; i < messages.length; i++) chars += messages[i].content.length;
  return Math.ceil(chars / 4) + 4 * messages.length;
}

function usageOf(result: unknown): Usage | undefined {
  const u = (result as { usage?: Usage } | null)?.usage;
  return u && typeof u.promptTokens === 'number' ? u : undefined;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs a job to the end (or cancellation / stop) and reports how it went. Never throws for item failures. */
export function runItems<I, R>(job: Job<I, R>): Promise<RunResult> {
  return new Scheduler(job).run();
}

class Scheduler<I, R> implements ItemContext {
  readonly signal: AbortSignal;
  private readonly controller = new AbortController();
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly policy: RetryPolicy;
  private readonly limiter: RateLimiter | null;
  private readonly adaptive: AdaptiveConcurrency;
  private readonly doneKeys: { has(key: string): boolean; readonly size: number };
  private readonly errors = new RecentErrors();
  private readonly rates = new RateWindow(3);
  private readonly rateOut = [0, 0, 0];
  private readonly rateIn = [0, 0, 0];

  private inFlight = 0;
  /** Keys of the items in flight (at most `concurrency`): catches duplicate keys in the input. */
  private readonly running = new Set<string>();
  private duplicates = 0;
  /** A pool client seen in ctx.query: its per-server stats go into progress events. */
  private pool: LlmClient | null = null;
  private requests = 0;
  private retries = 0;
  private promptTokens = 0;
  private completionTokens = 0;
  private done = 0;
  private failed = 0;
  private skipped = 0;
  private readonly resumed: number;
  private total: number | null = null;
  private startedAt = 0;
  /** No request starts before this (set by Retry-After on a 429). */
  private holdUntil = 0;
  /** Connection errors in a row across all requests, and when the first of them happened. */
  private netFailures = 0;
  private netDownSince = 0;
  private outageNoted = false;

  private stopping = false;
  private stopStatus: RunStatusResult = 'completed';
  private stopError: string | null = null;
  private earlyStopped = false;
  private wake: (() => void) | null = null;
  private onStopped: () => void = () => undefined;
  /** Resolves when the run stops (cancel, early stop, write failure). */
  private readonly stopped = new Promise<void>((resolve) => (this.onStopped = resolve));
  private lastWrite: Promise<void> = Promise.resolve();

  // Early stop: outcomes of the first K completed items; failures are held back (not written)
  // until we know the run goes on.
  private readonly earlyK: number;
  private deciding: boolean;
  private completedSeen = 0;
  private held: Array<{ item: I; error: unknown }> = [];
  // Circuit breaker: the current run of consecutive failures sharing one server-side signature,
  // held back until a success (then written) or until it reaches breakerK (then the run stops).
  private readonly breakerK: number;
  private streak: Array<{ item: I; error: unknown }> = [];
  private streakSignature: string | null = null;
  private circuitBroken = false;

  private progressTimer: NodeJS.Timeout | null = null;
  private lastProgress: ProgressEvent | null = null;

  constructor(private readonly job: Job<I, R>) {
    this.signal = this.controller.signal;
    // Every in-flight request listens on this one signal: hundreds of listeners are expected.
    setMaxListeners(0, this.signal);
    this.clock = job.clock ?? systemClock;
    this.random = job.random ?? Math.random;
    this.policy = { ...DEFAULT_RETRY, ...job.retry };
    const max = Math.max(1, Math.floor(job.concurrency || 1));
    const adaptiveOpts = typeof job.adaptive === 'object' ? job.adaptive : {};
    this.adaptive = new AdaptiveConcurrency(max, job.adaptive !== false, adaptiveOpts);
    const limiter = new RateLimiter({ requestsPerMinute: job.requestsPerMinute, tokensPerMinute: job.tokensPerMinute }, this.clock);
    this.limiter = limiter.enabled ? limiter : null;
    this.doneKeys = job.sink.doneKeys ?? EMPTY_KEYS;
    this.resumed = this.doneKeys.size;
    this.earlyK = job.earlyStop === false ? 0 : Math.max(1, job.earlyStop ?? 8);
    this.deciding = this.earlyK > 0;
    this.breakerK = job.circuitBreaker === false ? 0 : Math.max(1, job.circuitBreaker ?? 32);
    // Bound methods once, so `execute` can pass ctx.call around without per-call binds.
    this.call = this.call.bind(this);
    this.query = this.query.bind(this);
    this.queryReward = this.queryReward.bind(this);
  }

  async run(): Promise<RunResult> {
    const { job } = this;
    this.startedAt = this.clock.now();
    const onCancel = () => this.stop('cancelled', null);
    if (job.signal?.aborted) this.stop('cancelled', null);
    else job.signal?.addEventListener('abort', onCancel, { once: true });
    this.resolveTotal();
    this.startProgress();
    if (job.manifest) this.updateManifest(true);

    // The item stream failing (unreadable input, bad line...) stops the run cleanly. A stop does
    // not wait for a pending `next()` of a slow item stream: the pump finishes on its own.
    const pumping = this.pump().catch((e: unknown) => {
      if (!this.stopping) this.stop('failed', errorMessage(e));
    });
    await Promise.race([pumping, this.stopped]);
    // Wait for every in-flight item to settle (aborted ones settle quickly).
    while (this.inFlight > 0) await new Promise<void>((resolve) => (this.wake = resolve));
    if (this.deciding && !this.stopping) this.decideEarlyStop(true);
    // Failures held by the breaker that did not trip it are real failures: record them.
    if (!this.circuitBroken) this.releaseStreak();
    try {
      await this.lastWrite;
    } catch (e) {
      this.stop('failed', errorMessage(e));
    }
    job.signal?.removeEventListener('abort', onCancel);
    this.stopProgress();
    const progress = this.emitProgress(true);
    const result: RunResult = {
      status: this.stopStatus,
      error: this.stopError,
      earlyStopped: this.earlyStopped,
      circuitBroken: this.circuitBroken,
      done: this.done,
      failed: this.failed,
      skipped: this.skipped,
      duplicates: this.duplicates,
      resumed: this.resumed,
      requests: this.requests,
      retries: this.retries,
      tokens: { prompt: this.promptTokens, completion: this.completionTokens },
      elapsedMs: this.clock.now() - this.startedAt,
      minConcurrency: this.adaptive.minReached,
      progress,
    };
    if (job.manifest) await this.finishManifest(result);
    return result;
  }

  /** Pulls items and keeps the window full until the input ends or the run stops. */
  private async pump(): Promise<void> {
    const { job } = this;
    const items = job.items as Partial<Iterable<I> & AsyncIterable<I>>;
    const syncIt = typeof items[Symbol.iterator] === 'function' ? (items as Iterable<I>)[Symbol.iterator]() : null;
    const asyncIt = syncIt ? null : (items as AsyncIterable<I>)[Symbol.asyncIterator]();
    const sink = job.sink;
    try {
      for (;;) {
        while (!this.stopping && this.inFlight < this.adaptive.limit) {
          if (sink.needsDrain && sink.drain) {
            await sink.drain();
            continue;
          }
          const next = syncIt ? syncIt.next() : await asyncIt!.next();
          if (next.done || this.stopping) return;
          const item = next.value;
          const key = job.keyOf(item);
          if (this.doneKeys.has(key)) {
            this.skipped++;
            continue;
          }
          if (this.running.has(key)) {
            // Two items with one key would write two copies; the later one is dropped.
            this.duplicates++;
            this.errors.add(`the input has key "${key}" more than once; later copies are skipped`);
            continue;
          }
          this.running.add(key);
          this.inFlight++;
          void this.runOne(item, key);
        }
        if (this.stopping) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
      }
    } finally {
      // Let a generator close its file handles.
      if (this.stopping) {
        try {
          if (syncIt?.return) syncIt.return();
          else if (asyncIt?.return) await asyncIt.return();
        } catch {
          /* closing is best effort */
        }
      }
    }
  }

  private async runOne(item: I, key: string): Promise<void> {
    let rows: R[] | undefined;
    let error: unknown;
    let ok = false;
    try {
      rows = await this.job.execute(item, this);
      ok = true;
    } catch (e) {
      error = e;
    }
    try {
      if (this.stopping && !ok && this.signal.aborted) {
        // Cut short by cancel / stop: not a failure of the item, nothing to write.
      } else if (ok) {
        this.onItemDone(rows!);
      } else {
        this.onItemFailed(item, error);
      }
    } catch (e) {
      // errorRow or keyOf threw: a bug in the job; stop rather than lose track of items.
      this.stop('failed', `internal error while recording an item: ${errorMessage(e)}`);
    }
    this.running.delete(key);
    this.inFlight--;
    const wake = this.wake;
    if (wake) {
      this.wake = null;
      wake();
    }
  }

  private onItemDone(rows: R[]): void {
    this.done++;
    if (this.streak.length) this.releaseStreak();
    this.write(rows);
    if (this.deciding) {
      // One success is enough to know the setup works: release any held failures.
      this.deciding = false;
      this.releaseHeld();
    }
  }

  private onItemFailed(item: I, error: unknown): void {
    if (!this.signal.aborted) this.errors.add(errorMessage(error));
    if (this.deciding) {
      this.held.push({ item, error });
      this.completedSeen++;
      if (this.held.length >= this.earlyK) this.decideEarlyStop(false);
      return;
    }
    if (this.breakerK > 0 && !this.stopping) {
      const sig = breakerSignature(error);
      if (sig !== null) {
        if (sig !== this.streakSignature) {
          this.releaseStreak();
          this.streakSignature = sig;
        }
        this.streak.push({ item, error });
        if (this.streak.length >= this.breakerK) this.tripBreaker();
        return;
      }
      this.releaseStreak();
    }
    this.writeFailure(item, error);
  }

  /** The last breakerK items all failed the same server-side way: stop, writing none of them. */
  private tripBreaker(): void {
    const streak = this.streak;
    this.streak = [];
    this.streakSignature = null;
    this.circuitBroken = true;
    this.stop('failed', describeBreakerStop(streak[streak.length - 1].error, streak.length, this.resumed + this.done, this.job.endpoint));
  }

  private releaseStreak(): void {
    const streak = this.streak;
    if (streak.length === 0) return;
    this.streak = [];
    this.streakSignature = null;
    for (const h of streak) this.writeFailure(h.item, h.error);
  }

  private writeFailure(item: I, error: unknown): void {
    this.failed++;
    this.write([this.job.errorRow(item, error)]);
  }

  /** Decides once the first K items failed (or the input ended before K). */
  private decideEarlyStop(endOfInput: boolean): void {
    this.deciding = false;
    const held = this.held;
    if (held.length === 0) return;
    if (held.length >= this.earlyK || endOfInput) {
      const sig = earlyStopSignature(held[0].error);
      if (sig !== null && held.every((h) => earlyStopSignature(h.error) === sig)) {
        this.held = [];
        this.earlyStopped = true;
        this.stop('failed', describeEarlyStop(held[0].error, held.length, this.job.endpoint));
        return;
      }
    }
    this.releaseHeld();
  }

  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    for (const h of held) this.writeFailure(h.item, h.error);
  }

  private write(rows: readonly R[]): void {
    const p = this.job.sink.writeItem(rows);
    this.lastWrite = p;
    p.catch(this.onWriteError);
  }

  private readonly onWriteError = (e: unknown): void => this.stop('failed', errorMessage(e));

  /** Stops the run: no new items start, in-flight requests are aborted. First reason wins. */
  private stop(status: RunStatusResult, error: string | null): void {
    if (this.stopping) {
      // A write failure after a cancel still makes the run failed.
      if (status === 'failed' && this.stopStatus !== 'failed') {
        this.stopStatus = status;
        this.stopError = error;
      }
      return;
    }
    this.stopping = true;
    this.stopStatus = status;
    this.stopError = error;
    if (error) this.errors.add(error);
    this.controller.abort(new LlmError('aborted', status === 'cancelled' ? 'cancelled' : `stopped: ${error ?? status}`));
    this.onStopped();
    const wake = this.wake;
    if (wake) {
      this.wake = null;
      wake();
    }
  }

  // ---- requests ---------------------------------------------------------------------------

  async call<T>(fn: (attempt: CallAttempt) => Promise<T>, options?: CallOptions<T>): Promise<T> {
    const signal = this.signal;
    const clock = this.clock;
    let maxTokens = options?.maxTokens;
    let shrunk = false;
    const promptEstimate = options?.promptTokens ?? 0;
    /** When this request first got a 429 (0: never). */
    let limitedSince = 0;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw signal.reason;
      if (this.holdUntil > 0) {
        const wait = this.holdUntil - clock.now();
        if (wait > 0) {
          await clock.sleep(wait, signal);
          if (signal.aborted) throw signal.reason;
        }
      }
      const ticket = this.limiter ? await this.limiter.acquire(promptEstimate + (maxTokens ?? 0) * (options?.choices ?? 1), signal) : -1;
      this.requests++;
      const t0 = clock.now();
      try {
        const result = await fn({ signal, attempt, maxTokens });
        const usage = options?.usage ? options.usage(result) : usageOf(result);
        if (usage) {
          this.promptTokens += usage.promptTokens;
          this.completionTokens += usage.completionTokens;
          if (this.limiter) this.limiter.settle(ticket, usage.promptTokens + usage.completionTokens);
        }
        const t1 = clock.now();
        this.adaptive.onSuccess(t1 - t0, t1);
        this.serverReachable();
        return result;
      } catch (e) {
        if (this.limiter) this.limiter.settle(ticket, promptEstimate);
        if (signal.aborted) throw signal.reason;
        if (!isLlmError(e)) throw e;
        if (e.kind !== 'network') this.serverReachable();
        else if (await this.waitOutOutage(e)) {
          // The server is down: this try does not count against the request's attempts.
          attempt--;
          continue;
        }
        if (e.kind === 'context_length' && !shrunk) {
          const smaller = shrinkMaxTokens(maxTokens, e);
          if (smaller !== undefined) {
            shrunk = true;
            maxTokens = smaller;
            this.retries++;
            continue;
          }
        }
        // Before anything has succeeded, a refused connection or unknown host is most likely a
        // wrong URL or a server that is not up: give up sooner so the early stop comes quickly.
        const maxAttempts = this.deciding && e.kind === 'network' && FAST_FAIL_CODES.has(e.code ?? '')
          ? Math.min(3, this.policy.maxAttempts)
          : this.policy.maxAttempts;
        const now = clock.now();
        if (e.kind === 'rate_limit' && limitedSince === 0) limitedSince = now;
        // A 429 asks us to slow down, it does not say the item is bad: past its attempts a
        // rate-limited request keeps backing off (up to the outage tolerance) instead of failing.
        const stillLimited = e.kind === 'rate_limit' && now - limitedSince < this.policy.outageToleranceMs;
        if (!e.retryable || (attempt >= maxAttempts && !stillLimited)) throw e;
        if (e.kind === 'rate_limit' || e.kind === 'timeout' || e.kind === 'request_timeout') this.adaptive.onCongestion(now);
        if (e.kind === 'rate_limit' && e.retryAfterMs !== undefined) {
          this.holdUntil = Math.max(this.holdUntil, now + Math.min(e.retryAfterMs, this.policy.maxRetryAfterMs));
        }
        this.retries++;
        this.errors.add(`retrying: ${e.message}`);
        await clock.sleep(backoffDelay(attempt, e, this.policy, this.random), signal);
      }
    }
  }

  /** Any answer from the server ends an outage. */
  private serverReachable(): void {
    if (this.netFailures === 0) return;
    if (this.outageNoted) {
      this.errors.add(`server reachable again after ${Math.round((this.clock.now() - this.netDownSince) / 1000)} s`);
      this.outageNoted = false;
    }
    this.netFailures = 0;
  }

  /**
   * After the run has worked, every request failing with connection errors means the server is
   * restarting or down: rather than burn each request's retries (and fail items), requests pause
   * and probe every `outageProbeMs` until it answers, up to `outageToleranceMs`; then the run
   * stops with one message (nothing is written for the items in flight, so a resume redoes them).
   * Returns true when the caller should try again without using an attempt.
   */
  private async waitOutOutage(e: LlmError): Promise<boolean> {
    const { outageToleranceMs, outageProbeMs } = this.policy;
    if (this.deciding || !(outageToleranceMs > 0)) return false;
    const now = this.clock.now();
    if (this.netFailures++ === 0) this.netDownSince = now;
    // One or two connection errors can be a blip: ordinary retries handle those.
    if (this.netFailures < OUTAGE_AFTER_FAILURES) return false;
    const where = this.job.endpoint?.baseUrl ? ` at ${this.job.endpoint.baseUrl}` : '';
    if (now - this.netDownSince >= outageToleranceMs) {
      this.stop('failed', `Stopped: the server${where} has been unreachable for ${formatDuration(now - this.netDownSince)} ` +
        `(outage tolerance ${formatDuration(outageToleranceMs)}; last error: ${e.message}). Nothing written is lost: ` +
        'run the same command again to resume once the server is back.');
      throw this.signal.reason;
    }
    if (!this.outageNoted) {
      this.outageNoted = true;
      this.errors.add(`server${where} unreachable (${e.message}): pausing and probing every ${formatDuration(outageProbeMs)} ` +
        `for up to ${formatDuration(outageToleranceMs)}`);
    }
    // Jittered so the paused requests do not probe in lockstep.
    await this.clock.sleep(Math.max(1, Math.floor(outageProbeMs * (0.5 + this.random() / 2))), this.signal);
    if (this.signal.aborted) throw this.signal.reason;
    return true;
  }

  query(client: LlmClient, messages: ChatMessage[], params?: ModelParams, options?: RequestOptions): Promise<ModelResponse> {
    if (client.serverStats && !this.pool) this.pool = client;
    return this.call(
      (a) => {
        const p = a.maxTokens === params?.max_tokens ? params : { ...params, max_tokens: a.maxTokens };
        return client.queryModel(messages, p, { ...options, signal: a.signal });
      },
      { promptTokens: estimateTokens(messages), maxTokens: params?.max_tokens, choices: params?.n },
    );
  }

  queryReward(client: LlmClient, messages: ChatMessage[], options?: RequestOptions): Promise<RewardScores> {
    if (client.serverStats && !this.pool) this.pool = client;
    return this.call((a) => client.queryRewardModel(messages, { ...options, signal: a.signal }), {
      promptTokens: estimateTokens(messages),
      usage: () => undefined,
    });
  }

  // ---- progress and manifest -------------------------------------------------------------

  private resolveTotal(): void {
    const t = this.job.total;
    if (typeof t === 'number') this.total = t;
    else if (t && typeof (t as Promise<number | null>).then === 'function') {
      (t as Promise<number | null>).then(
        (n) => { if (typeof n === 'number') this.total = n; },
        () => undefined, // an uncountable input just means "total unknown"
      );
    }
  }

  private startProgress(): void {
    if (!this.job.onProgress && !this.job.manifest) return;
    const every = this.job.progressIntervalMs ?? 250;
    this.progressTimer = setInterval(() => {
      this.emitProgress(false);
      if (this.job.manifest) this.updateManifest(false);
    }, every);
    this.progressTimer.unref?.();
  }

  private stopProgress(): void {
    if (this.progressTimer) clearInterval(this.progressTimer);
    this.progressTimer = null;
  }

  private emitProgress(final: boolean): ProgressEvent {
    const now = this.clock.now();
    const done = this.resumed + this.done;
    const rateIn = this.rateIn;
    rateIn[0] = this.requests;
    rateIn[1] = this.promptTokens + this.completionTokens;
    rateIn[2] = this.done + this.failed;
    this.rates.push(now, rateIn, this.rateOut);
    let [requestsPerSec, tokensPerSec, itemsPerSec] = this.rateOut;
    if (final) {
      // The last event summarises the whole session rather than its last seconds.
      const secs = (now - this.startedAt) / 1000;
      requestsPerSec = secs > 0 ? rateIn[0] / secs : 0;
      tokensPerSec = secs > 0 ? rateIn[1] / secs : 0;
      itemsPerSec = secs > 0 ? rateIn[2] / secs : 0;
    }
    const remaining = this.total === null ? null : Math.max(0, this.total - done - this.failed);
    const event: ProgressEvent = {
      elapsedMs: now - this.startedAt,
      total: this.total,
      done,
      failed: this.failed,
      resumed: this.resumed,
      inFlight: this.inFlight,
      concurrency: this.adaptive.limit,
      maxConcurrency: this.adaptive.max,
      requests: this.requests,
      retries: this.retries,
      rateLimited: this.limiter?.waiting ?? 0,
      tokens: { prompt: this.promptTokens, completion: this.completionTokens },
      requestsPerSec,
      tokensPerSec,
      itemsPerSec,
      etaMs: remaining === null ? null : remaining === 0 ? 0 : itemsPerSec > 0 ? (remaining / itemsPerSec) * 1000 : null,
      lastErrors: this.errors.list(),
      final,
    };
    if (this.pool) event.servers = this.pool.serverStats!();
    this.lastProgress = event;
    try {
      this.job.onProgress?.(event);
    } catch {
      // A broken progress renderer must not break the run.
    }
    return event;
  }

  private counts(): RunCounts {
    const done = this.resumed + this.done;
    return {
      total: this.total,
      done,
      failed: this.failed,
      pending: this.total === null ? null : Math.max(0, this.total - done - this.failed),
    };
  }

  private updateManifest(initial: boolean): void {
    const m = this.job.manifest!;
    const p = this.lastProgress;
    if (this.job.stage) {
      m.updateStage(this.job.stage, { status: 'running', counts: this.counts() });
      return;
    }
    m.update({
      ...(initial ? { status: 'running' as const, error: null, endedAt: null } : {}),
      counts: this.counts(),
      tokens: { prompt: this.promptTokens, completion: this.completionTokens },
      throughput: { requestsPerSec: round2(p?.requestsPerSec ?? 0), tokensPerSec: round2(p?.tokensPerSec ?? 0) },
    });
  }

  private async finishManifest(result: RunResult): Promise<void> {
    const m = this.job.manifest!;
    if (this.job.stage) {
      m.updateStage(this.job.stage, { status: result.status, counts: this.counts() });
      await m.flush();
      return;
    }
    m.update({
      counts: this.counts(),
      tokens: { prompt: this.promptTokens, completion: this.completionTokens },
      throughput: {
        requestsPerSec: round2(result.elapsedMs > 0 ? (this.requests * 1000) / result.elapsedMs : 0),
        tokensPerSec: round2(result.elapsedMs > 0 ? ((this.promptTokens + this.completionTokens) * 1000) / result.elapsedMs : 0),
      },
    });
    await m.finish(result.status, result.error).catch(() => undefined);
  }
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
