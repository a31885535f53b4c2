/**
 * Adaptive concurrency (AIMD). The configured concurrency is a ceiling; the current limit halves
 * on a burst of 429s / time-outs (hosted APIs) or when request latency climbs well above the
 * best latency seen so far (self-hosted vLLM/SGLang do not 429, they queue and slow down), and
 * grows back by a constant step per window of successful requests.
 */
export interface AdaptiveOptions {
  /** Lower bound of the limit. Default 1. */
  min?: number;
  /** Congestion signals within `burstMs` that count as a burst. Default 3 (or the limit when smaller). */
  burst?: number;
  burstMs?: number;
  /** Latency above `latencyFactor` x baseline counts as overload. Default 3. */
  latencyFactor?: number;
  /** Completions per evaluation window (at least). Default 16. */
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
  private winLatency = 0;
  private winCongested = false;
  private baseline = 0;
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
    this.windowMin = options.window ?? 16;
    this.cooldownMs = options.cooldownMs ?? 2000;
    this.step = Math.max(1, Math.ceil(max / 32));
  }

  /** Current concurrency limit (integer, 1..max). */
  get limit(): number {
    return this.current;
  }

  onSuccess(latencyMs: number, now: number): void {
    if (!this.enabled) return;
    this.winCount++;
    this.winLatency += latencyMs;
    if (this.winCount < Math.max(this.windowMin, this.current)) return;
    const mean = this.winLatency / this.winCount;
    const congested = this.winCongested;
    this.winCount = 0;
    this.winLatency = 0;
    this.winCongested = false;
    if (this.baseline === 0 || mean < this.baseline) {
      this.baseline = mean;
      if (!congested) this.grow();
      return;
    }
    if (mean > this.latencyFactor * this.baseline) {
      this.decrease(now);
      return;
    }
    if (!congested && mean < 1.5 * this.baseline) this.grow();
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
    this.winLatency = 0;
  }
}
