/**
 * Adaptive concurrency (AIMD). The configured concurrency is a ceiling; the current limit halves
 * on a burst of 429s / time-outs (hosted APIs) or when request latency stays well above its
 * baseline (self-hosted vLLM/SGLang do not 429, they queue and slow down), and grows back by a
 * constant step per window of successful requests.
 *
 * Latency is judged robustly because real latencies are heavy-tailed: per window (>= 32
 * requests) the median is compared with a baseline that follows healthy windows slowly (EWMA),
 * and only two overloaded windows in a row count. A mean/minimum-based rule spirals down on
 * log-normal latencies without any overload (checked in the unit tests with a simulation).
 */
export interface AdaptiveOptions {
  /** Lower bound of the limit. Default 1. */
  min?: number;
  /** Congestion signals within `burstMs` that count as a burst. Default 3 (or the limit when smaller). */
  burst?: number;
  burstMs?: number;
  /** Latency above `latencyFactor` x baseline counts as overload. Default 3. */
  latencyFactor?: number;
  /** Completions per evaluation window (at least; the window is also >= the current limit). Default 32. */
  window?: number;
  /** Minimum time between two decreases (ms). Default 2000. */
  cooldownMs?: number;
}

export class AdaptiveConcurrency {
  private current: number;
  private readonly min: number;
  private readonly burst: number;
  private readonly burstMs: number;
  private readonly latencyFactor: number;
  private readonly windowMin: number;
  private readonly cooldownMs: number;
  private readonly step: number;
  private winCount = 0;
  private readonly winSamples: Float64Array;
  private readonly scratch: Float64Array;
  private winCongested = false;
  private baseline = 0;
  private overloadedWindows = 0;
  private lastDecrease = -Infinity;
  private signals = 0;
  private signalsSince = 0;
  /** Number of decreases so far (for progress / tests). */
  decreases = 0;
  /** Lowest limit reached so far. */
  minReached: number;

  constructor(readonly max: number, private readonly enabled: boolean, options: AdaptiveOptions = {}) {
    this.current = max;
    this.minReached = max;
    this.min = Math.max(1, Math.min(max, options.min ?? 1));
    this.burst = options.burst ?? 3;
    this.burstMs = options.burstMs ?? 2000;
    this.latencyFactor = options.latencyFactor ?? 3;
    this.windowMin = options.window ?? 32;
    this.winSamples = new Float64Array(Math.max(this.windowMin, max));
    this.scratch = new Float64Array(this.winSamples.length);
    this.cooldownMs = options.cooldownMs ?? 2000;
    this.step = Math.max(1, Math.ceil(max / 32));
  }

  /** Current concurrency limit (integer, 1..max). */
  get limit(): number {
    return this.current;
  }

  onSuccess(latencyMs: number, now: number): void {
    if (!this.enabled) return;
    if (this.winCount < this.winSamples.length) this.winSamples[this.winCount] = latencyMs;
    this.winCount++;
    if (this.winCount < Math.max(this.windowMin, this.current)) return;
    const median = this.windowMedian();
    const congested = this.winCongested;
    this.winCount = 0;
    this.winCongested = false;
    if (this.baseline === 0) {
      this.baseline = median;
      return;
    }
    if (median > this.latencyFactor * this.baseline) {
      // Overload must persist: one slow window is usually a few long generations.
      if (++this.overloadedWindows >= 2) {
        this.overloadedWindows = 0;
        this.decrease(now);
      }
      return;
    }
    this.overloadedWindows = 0;
    if (median < 1.5 * this.baseline) {
      // Healthy window: let the baseline follow slow drift (longer answers later in a dataset).
      this.baseline = 0.9 * this.baseline + 0.1 * median;
      if (!congested) this.grow();
    }
  }

  /** Median latency of the current window (samples beyond the buffer are ignored). */
  private windowMedian(): number {
    const n = Math.min(this.winCount, this.winSamples.length);
    const sorted = this.scratch.subarray(0, n);
    sorted.set(this.winSamples.subarray(0, n));
    sorted.sort();
    return n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** A 429 or a time-out. */
  onCongestion(now: number): void {
    if (!this.enabled) return;
    this.winCongested = true;
    if (now - this.signalsSince > this.burstMs) {
      this.signals = 0;
      this.signalsSince = now;
    }
    this.signals++;
    if (this.signals >= Math.min(this.burst, this.current)) {
      this.signals = 0;
      this.signalsSince = now;
      this.decrease(now);
    }
  }

  private grow(): void {
    this.current = Math.min(this.max, this.current + this.step);
  }

  private decrease(now: number): void {
    if (now - this.lastDecrease < this.cooldownMs || this.current <= this.min) return;
    this.current = Math.max(this.min, Math.floor(this.current / 2));
    this.lastDecrease = now;
    this.decreases++;
    this.minReached = Math.min(this.minReached, this.current);
    // Latency measured at the old limit says nothing about the new one.
    this.winCount = 0;
  }
}
