/**
 * The ranges of the numbers a user can set (CLI flags, endpoint profiles in settings and files,
 * the Studio), in one place so every entry point refuses the same values with the same words.
 *
 * Why upper bounds: Node timers overflow above 2^31-1 ms (a longer time-out fires after 1 ms, so
 * every request "times out"); the rate limiter keeps one slot per request of the minute; the
 * engine and the client size buffers and connection pools by concurrency; `n` samples of one
 * request are held in memory together.
 */
export interface Limit {
  min: number;
  max: number;
  integer: boolean;
  /** Unit shown in messages. */
  unit?: string;
}

export const LIMITS = {
  /** Requests in flight (per process; use more processes or --num-chunks beyond that). */
  concurrency: { min: 1, max: 10_000, integer: true },
  requestsPerMinute: { min: 1, max: 1_000_000, integer: false },
  tokensPerMinute: { min: 1, max: 1e10, integer: false },
  /** One day: far below Node's timer limit of ~24.8 days. */
  timeoutMs: { min: 1, max: 86_400_000, integer: false, unit: 'ms' },
  timeoutSeconds: { min: 0.001, max: 86_400, integer: false, unit: 's' },
  /** Samples per request (n): rows of one request live in memory together. */
  numSamples: { min: 1, max: 1024, integer: true },
  numSeeds: { min: 1, max: 100_000, integer: true },
  maxTokens: { min: 1, max: 10_000_000, integer: true },
} as const satisfies Record<string, Limit>;

export type LimitName = keyof typeof LIMITS;

/** A problem message ("must be at most 10000, got 1000000000") or null when the value is in range. */
export function checkLimit(name: LimitName, value: number): string | null {
  const l: Limit = LIMITS[name];
  const unit = l.unit ? ` ${l.unit}` : '';
  if (typeof value !== 'number' || Number.isNaN(value)) return `must be a number, got ${JSON.stringify(value)}`;
  if (!Number.isFinite(value)) return `must be a finite number, got ${value}`;
  if (l.integer && !Number.isInteger(value)) return `must be a whole number, got ${value}`;
  if (value < l.min) return `must be at least ${l.min}${unit}, got ${value}`;
  if (value > l.max) return `must be at most ${l.max}${unit}, got ${value}`;
  return null;
}
