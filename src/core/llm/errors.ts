/**
 * Every failure of a model request is an `LlmError` with a `kind` the engine decides on:
 * retry (with backoff, honouring `retryAfterMs`), shrink `max_tokens`, or fail the item.
 * Messages never contain API keys or Authorization headers.
 */
export type LlmErrorKind =
  | 'rate_limit'      // 429
  | 'server'          // 5xx
  | 'request_timeout' // 408
  | 'timeout'         // no answer within the client time-out
  | 'network'         // connection refused / reset / DNS
  | 'auth'            // 401 / 403
  | 'not_found'       // 404 (usually: model not found or wrong base URL)
  | 'context_length'  // prompt + max_tokens over the model's context
  | 'bad_request'     // other 4xx
  | 'bad_response'    // 200 with invalid JSON, no choices, or a missing field
  | 'aborted';        // cancelled by the caller's AbortSignal

const RETRYABLE: ReadonlySet<LlmErrorKind> = new Set(['rate_limit', 'server', 'request_timeout', 'timeout', 'network', 'bad_response']);

export class LlmError extends Error {
  override readonly name = 'LlmError';
  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    readonly status?: number,
    /** From a `Retry-After` header (seconds or HTTP-date), in milliseconds. */
    readonly retryAfterMs?: number,
    /** Network error code (ECONNREFUSED, ECONNRESET, ...). */
    readonly code?: string,
    /** Overrides the kind's default, e.g. a reward request to a model that is not a reward model. */
    readonly retryableOverride?: boolean,
  ) {
    super(message);
  }

  get retryable(): boolean {
    return this.retryableOverride ?? RETRYABLE.has(this.kind);
  }

  /** A short stable string for grouping identical failures ("401 auth", "ECONNREFUSED"). */
  get signature(): string {
    return `${this.kind}${this.status ? ' ' + this.status : ''}${this.code ? ' ' + this.code : ''}`;
  }
}

export function isLlmError(e: unknown): e is LlmError {
  return e instanceof LlmError;
}

/** Parse `Retry-After` (delta-seconds or HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(parseFloat(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (!Number.isNaN(date)) return Math.max(0, date - now);
  return undefined;
}
