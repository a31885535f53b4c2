/**
 * In-process fakes for engine tests: a clock that never really waits, an LlmClient whose answers
 * and failures are decided by a function, an in-memory sink, and deferred promises to control
 * exactly when a fake request finishes (counters, not timings).
 */
import type { Clock } from '../../src/core/engine/clock';
import type { ChatMessage, EndpointProfile, LlmClient, ModelParams, ModelResponse, RequestOptions, RewardScores } from '../../src/core/llm/types';
import { LlmError } from '../../src/core/llm/errors';
import type { ItemSink } from '../../src/core/run/output';

/**
 * Virtual time: `sleep(ms)` registers a timer; when everything else is idle (a setImmediate
 * turn after the microtasks drained) the clock jumps to the earliest timer and fires it.
 * No real waiting, and the order of events is the one real time would give.
 */
export class FakeClock implements Clock {
  t = 0;
  readonly sleeps: number[] = [];
  private timers: Array<{ at: number; resolve: () => void; done: boolean }> = [];
  private scheduled = false;

  now(): number {
    return this.t;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = { at: this.t + ms, resolve, done: false };
      this.timers.push(timer);
      signal?.addEventListener('abort', () => {
        if (!timer.done) {
          timer.done = true;
          resolve();
        }
      }, { once: true });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.advance());
  }

  private advance(): void {
    this.scheduled = false;
    const live = this.timers.filter((x) => !x.done);
    if (live.length === 0) {
      this.timers = [];
      return;
    }
    let at = Infinity;
    for (const x of live) at = Math.min(at, x.at);
    this.t = Math.max(this.t, at);
    for (const x of live) {
      if (x.at <= this.t) {
        x.done = true;
        x.resolve();
      }
    }
    this.timers = live.filter((x) => !x.done);
    if (this.timers.length > 0) this.schedule();
  }
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

export interface FakeCall {
  messages: ChatMessage[];
  params: ModelParams;
  signal?: AbortSignal;
  /** 1-based count of calls with the same first message content. */
  attempt: number;
}

/** Decides one call: return text, or throw (e.g. an LlmError). May be async (await a gate). */
export type FakeBehaviour = (call: FakeCall) => string | Promise<string>;

/** An LlmClient with no HTTP: answers come from `behaviour`; it counts calls and concurrency. */
export class FakeLlmClient implements LlmClient {
  readonly endpoint: EndpointProfile = { name: 'fake', baseUrl: 'http://127.0.0.1:9/v1', model: 'fake-model', apiKind: 'chat', apiKeyEnv: 'FAKE_API_KEY' };
  calls = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly attempts = new Map<string, number>();
  readonly log: FakeCall[] = [];

  constructor(private readonly behaviour: FakeBehaviour = (c) => `answer to ${c.messages[0]?.content}`) {}

  async queryModel(messages: ChatMessage[], params: ModelParams = {}, options: RequestOptions = {}): Promise<ModelResponse> {
    const id = messages[0]?.content ?? '';
    const attempt = (this.attempts.get(id) ?? 0) + 1;
    this.attempts.set(id, attempt);
    const call: FakeCall = { messages, params, signal: options.signal, attempt };
    this.log.push(call);
    this.calls++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (options.signal?.aborted) throw new LlmError('aborted', 'aborted');
      const text = await abortable(Promise.resolve(this.behaviour(call)), options.signal);
      const n = params.n ?? 1;
      return {
        choices: Array.from({ length: n }, (_, i) => ({ text: n > 1 ? `${text} #${i}` : text, finishReason: 'stop' })),
        usage: { promptTokens: 10, completionTokens: 5 * n },
        model: 'fake-model',
      };
    } finally {
      this.inFlight--;
    }
  }

  async queryRewardModel(): Promise<RewardScores> {
    return { helpfulness: 1 };
  }

  async listModels(): Promise<string[]> {
    return ['fake-model'];
  }

  async close(): Promise<void> {}
}

function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new LlmError('aborted', 'aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    p.then((v) => { signal.removeEventListener('abort', onAbort); resolve(v); },
      (e) => { signal.removeEventListener('abort', onAbort); reject(e); });
  });
}

/** Keeps written items in memory; optionally fails from the Nth write on. */
export class MemorySink<R> implements ItemSink<R> {
  readonly items: R[][] = [];
  writes = 0;
  constructor(readonly doneKeys?: { has(key: string): boolean; readonly size: number }, private readonly failFromWrite?: number, private readonly failWith?: Error) {}

  writeItem(rows: readonly R[]): Promise<void> {
    this.writes++;
    if (this.failFromWrite !== undefined && this.writes >= this.failFromWrite) {
      return Promise.reject(this.failWith ?? new Error('write failed'));
    }
    this.items.push([...rows]);
    return Promise.resolve();
  }

  get rows(): R[] {
    return this.items.flat();
  }
}

export function range(n: number, from = 0): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/** A lazily generated async item stream that counts how far it was pulled. */
export function countingStream(n: number): { items: AsyncIterable<number>; pulled: () => number } {
  let pulled = 0;
  return {
    items: (async function* () {
      for (let i = 0; i < n; i++) {
        pulled++;
        yield i;
      }
    })(),
    pulled: () => pulled,
  };
}

/** Lets pending promise callbacks run (a few macrotask turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}
