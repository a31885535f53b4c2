import type { ServerStats } from '../llm/types';

/**
 * Progress of a job, as the CLI progress bar, the extension and manifest.json see it.
 * Emitted on a timer (default every 250 ms) and once at the end, never per request.
 */
export interface ProgressEvent {
  /** Time since the job started (ms). */
  elapsedMs: number;
  /** Items in the input, when known (it may be counted while the job runs). */
  total: number | null;
  /** Items complete and successful, including those done before this session (`resumed`). */
  done: number;
  /** Items that failed in this session (their error rows are written; a resume retries them). */
  failed: number;
  /** Items that were already done when this session started. */
  resumed: number;
  /** Items currently being processed. */
  inFlight: number;
  /** Current concurrency limit (adaptive, <= maxConcurrency). */
  concurrency: number;
  maxConcurrency: number;
  /** Model requests started in this session, retries included. */
  requests: number;
  retries: number;
  /** Requests waiting for a rate-limit slot. */
  rateLimited: number;
  tokens: { prompt: number; completion: number };
  /** Over the last ~10 s. */
  requestsPerSec: number;
  tokensPerSec: number;
  itemsPerSec: number;
  /** Estimated time left (ms), null when unknown. */
  etaMs: number | null;
  /** The most recent distinct error messages, newest last (at most 5). */
  lastErrors: string[];
  /** True for the last event of a job. */
  final: boolean;
  /** Per-server counters when the job's client is an endpoint pool (src/core/llm/pool.ts). */
  servers?: ServerStats[];
}

/** Bounded list of recent distinct error messages. */
export class RecentErrors {
  private readonly items: string[] = [];
  constructor(private readonly max = 5) {}

  add(message: string): void {
    // Bounded: a server may answer with a whole HTML page.
    if (message.length > 500) message = message.slice(0, 497) + '...';
    const i = this.items.indexOf(message);
    if (i >= 0) this.items.splice(i, 1);
    this.items.push(message);
    if (this.items.length > this.max) this.items.shift();
  }

  list(): string[] {
    return this.items.slice();
  }
}

/** Rates over a sliding window, from periodic snapshots of cumulative counters. */
export class RateWindow {
  private readonly times: Float64Array;
  private readonly values: Float64Array[];
  private head = 0;
  private count = 0;

  constructor(private readonly series: number, private readonly size = 41) {
    this.times = new Float64Array(size);
    this.values = Array.from({ length: series }, () => new Float64Array(size));
  }

  /** Records cumulative counters at `now`; returns per-second rates since the oldest snapshot kept. */
  push(now: number, counters: readonly number[], out: number[]): void {
    const idx = (this.head + this.count) % this.size;
    if (this.count === this.size) this.head = (this.head + 1) % this.size;
    else this.count++;
    this.times[idx] = now;
    for (let s = 0; s < this.series; s++) this.values[s][idx] = counters[s];
    const dt = (now - this.times[this.head]) / 1000;
    for (let s = 0; s < this.series; s++) out[s] = dt > 0 ? (counters[s] - this.values[s][this.head]) / dt : 0;
  }
}
