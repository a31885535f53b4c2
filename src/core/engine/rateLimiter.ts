/**
 * Requests-per-minute and tokens-per-minute limits.
 *
 * Requests: a sliding-window log (a ring of the last `rpm` start times) guarantees that no
 * 60-second window ever holds more than `rpm` starts, which is how hosted APIs count. A small
 * token bucket (a few seconds' worth) on top spreads starts out instead of firing the whole
 * minute's budget in the first second.
 * Tokens: a sliding window of (time, tokens) entries. Each request reserves an estimate
 * (prompt length + max_tokens) before it starts and `settle` replaces it with the real usage.
 * A single request larger than the whole budget still runs when the window is empty (else it
 * could never run).
 * Waiters are served first-come first-served by one pump, so there is one timer, not one per waiter.
 */
import type { Clock } from './clock';

export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Window length; 60 000 ms unless testing. */
  windowMs?: number;
  /** Seconds of smoothing burst for requests. Default 3. */
  burstSeconds?: number;
}

interface Waiter {
  tokens: number;
  resolve: (ticket: number) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  done: boolean;
}

export class RateLimiter {
  private readonly windowMs: number;
  /**
   * The request window with a 1% margin: requests reach the server a little after they leave
   * here, and uneven delivery must not put rpm + 1 of them in one of the server's minutes.
   */
  private readonly startWindowMs: number;
  private readonly rpm: number;
  private readonly tpm: number;
  // Request start log (ring of the last `rpm` start times).
  private readonly starts: Float64Array | null;
  private startCount = 0;
  private startHead = 0;
  // Smoothing bucket.
  private bucket = 0;
  private readonly bucketCap: number;
  private bucketAt = 0;
  // Token window: ring of entries addressed by absolute sequence numbers.
  private tokTimes = new Float64Array(64);
  private tokAmounts = new Float64Array(64);
  private tokHeadSeq = 0;
  private tokTailSeq = 0;
  private tokSum = 0;
  private readonly queue: Waiter[] = [];
  private queueHead = 0;
  private pumping = false;
  /** Aborts the pump's sleep when `settle` frees tokens earlier than it planned for. */
  private wakeSleep: AbortController | null = null;

  constructor(limits: RateLimits, private readonly clock: Clock) {
    this.windowMs = limits.windowMs ?? 60_000;
    this.startWindowMs = this.windowMs * 1.01;
    this.rpm = limits.requestsPerMinute && limits.requestsPerMinute > 0 ? Math.floor(limits.requestsPerMinute) : 0;
    this.tpm = limits.tokensPerMinute && limits.tokensPerMinute > 0 ? limits.tokensPerMinute : 0;
    this.starts = this.rpm > 0 ? new Float64Array(this.rpm) : null;
    const perMs = this.rpm / this.windowMs;
    this.bucketCap = Math.max(1, Math.ceil(perMs * 1000 * (limits.burstSeconds ?? 3)));
    this.bucket = this.bucketCap;
    this.bucketAt = clock.now();
  }

  /** True when any limit is set (otherwise callers can skip the limiter entirely). */
  get enabled(): boolean {
    return this.rpm > 0 || this.tpm > 0;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.queue.length - this.queueHead;
  }

  /**
   * Waits for a slot for one request that may use `tokens` tokens. Resolves with a ticket for
   * `settle`. Rejects with the signal's reason if aborted while waiting.
   */
  acquire(tokens: number, signal?: AbortSignal): Promise<number> {
    if (this.waiting === 0 && this.delayFor(tokens) <= 0) return Promise.resolve(this.take(tokens));
    return new Promise<number>((resolve, reject) => {
      const w: Waiter = { tokens, resolve, reject, signal, done: false };
      if (signal) {
        if (signal.aborted) return reject(signal.reason);
        w.onAbort = () => {
          if (!w.done) {
            w.done = true;
            reject(signal.reason);
          }
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      if (!this.pumping) void this.pump();
    });
  }

  /** Replaces a request's reserved token estimate with what it really used. */
  settle(ticket: number, actualTokens: number): void {
    if (this.tpm <= 0 || ticket < this.tokHeadSeq || ticket >= this.tokTailSeq) return;
    const i = ticket & (this.tokAmounts.length - 1);
    const delta = actualTokens - this.tokAmounts[i];
    this.tokSum += delta;
    this.tokAmounts[i] = actualTokens;
    if (delta < 0 && this.wakeSleep) {
      this.wakeSleep.abort();
      this.wakeSleep = null;
    }
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    try {
      while (this.queueHead < this.queue.length) {
        const w = this.queue[this.queueHead];
        if (w.done) {
          this.dequeue();
          continue;
        }
        const wait = this.delayFor(w.tokens);
        if (wait > 0) {
          // Token waits can end early (a finished request reports fewer tokens than reserved).
          const wake = this.tpm > 0 ? (this.wakeSleep = new AbortController()) : null;
          await this.clock.sleep(wait, wake?.signal);
          this.wakeSleep = null;
          continue;
        }
        this.dequeue();
        w.done = true;
        if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
        w.resolve(this.take(w.tokens));
      }
    } finally {
      this.pumping = false;
    }
  }

  private dequeue(): void {
    this.queueHead++;
    // Compact now and then so the queue array does not grow without bound.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Milliseconds until a request of `tokens` may start (0 = now). */
  private delayFor(tokens: number): number {
    const now = this.clock.now();
    let wait = 0;
    if (this.rpm > 0) {
      this.refill(now);
      if (this.bucket < 1) wait = Math.max(wait, ((1 - this.bucket) * this.windowMs) / this.rpm);
      if (this.startCount >= this.rpm) {
        const oldest = this.starts![this.startHead];
        wait = Math.max(wait, oldest + this.startWindowMs - now);
      }
    }
    if (this.tpm > 0) {
      this.expireTokens(now);
      if (this.tokTailSeq > this.tokHeadSeq && this.tokSum + tokens > this.tpm) {
        // Walk from the oldest entry until enough tokens would have expired.
        let sum = this.tokSum;
        const mask = this.tokAmounts.length - 1;
        for (let s = this.tokHeadSeq; s < this.tokTailSeq; s++) {
          sum -= this.tokAmounts[s & mask];
          const t = this.tokTimes[s & mask] + this.windowMs - now;
          if (sum + tokens <= this.tpm || s === this.tokTailSeq - 1) {
            wait = Math.max(wait, t);
            break;
          }
        }
      }
    }
    // Sleep at least 1 ms so a fake clock that advances by the slept time always makes progress.
    return wait > 0 ? Math.max(1, Math.ceil(wait)) : 0;
  }

  private refill(now: number): void {
    const elapsed = now - this.bucketAt;
    if (elapsed > 0) {
      this.bucket = Math.min(this.bucketCap, this.bucket + (elapsed * this.rpm) / this.windowMs);
      this.bucketAt = now;
    }
  }

  private expireTokens(now: number): void {
    const mask = this.tokAmounts.length - 1;
    while (this.tokHeadSeq < this.tokTailSeq && this.tokTimes[this.tokHeadSeq & mask] + this.windowMs <= now) {
      this.tokSum -= this.tokAmounts[this.tokHeadSeq & mask];
      this.tokHeadSeq++;
    }
    if (this.tokHeadSeq === this.tokTailSeq) this.tokSum = 0; // drop float drift
  }

  private take(tokens: number): number {
    const now = this.clock.now();
    if (this.rpm > 0) {
      this.bucket -= 1;
      const starts = this.starts!;
      if (this.startCount < this.rpm) {
        starts[(this.startHead + this.startCount) % this.rpm] = now;
        this.startCount++;
      } else {
        starts[this.startHead] = now;
        this.startHead = (this.startHead + 1) % this.rpm;
      }
    }
    if (this.tpm <= 0) return -1;
    if (this.tokTailSeq - this.tokHeadSeq >= this.tokAmounts.length) this.growTokens();
    const seq = this.tokTailSeq++;
    const i = seq & (this.tokAmounts.length - 1);
    this.tokTimes[i] = now;
    this.tokAmounts[i] = tokens;
    this.tokSum += tokens;
    return seq;
  }

  private growTokens(): void {
    const oldT = this.tokTimes;
    const oldA = this.tokAmounts;
    const oldMask = oldA.length - 1;
    const size = oldA.length * 2;
    this.tokTimes = new Float64Array(size);
    this.tokAmounts = new Float64Array(size);
    const mask = size - 1;
    for (let s = this.tokHeadSeq; s < this.tokTailSeq; s++) {
      this.tokTimes[s & mask] = oldT[s & oldMask];
      this.tokAmounts[s & mask] = oldA[s & oldMask];
    }
  }
}
