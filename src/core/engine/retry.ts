/**
 * Retry policy for one model request: exponential back-off with full jitter, never shorter than
 * the server's Retry-After; a context-length error is retried once with a smaller max_tokens.
 */
import { LlmError, isLlmError } from '../llm/errors';

export interface RetryPolicy {
  /** Attempts per request, the first included. Default 6. */
  maxAttempts: number;
  /** First back-off ceiling (ms). Default 1000. */
  baseDelayMs: number;
  /** Back-off ceiling (ms). Default 60 000. */
  maxDelayMs: number;
  /** A longer Retry-After is capped to this (ms). Default 300 000. */
  maxRetryAfterMs: number;
  /**
   * Outage tolerance (ms): once a request has succeeded, a server whose every request fails with
   * connection errors (restart, crash, network cut) is waited for, pausing and probing, without
   * failing items, for up to this long; then the run stops with a clear message. Default 15 min.
   * 0 turns it off (connection errors then only get `maxAttempts`). A request answered 429
   * keeps backing off past `maxAttempts` for this long too (rate limits are not item failures).
   */
  outageToleranceMs: number;
  /** Time between probes while the server is unreachable (ms). Default 5000. */
  outageProbeMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  maxAttempts: 6, baseDelayMs: 1000, maxDelayMs: 60_000, maxRetryAfterMs: 300_000,
  outageToleranceMs: 15 * 60_000, outageProbeMs: 5000,
};

/**
 * Delay before attempt `attempt + 1` after `attempt` failed with `err`: full jitter
 * (uniform in [0, min(max, base * 2^(attempt-1))]), but at least the server's Retry-After.
 */
export function backoffDelay(attempt: number, err: unknown, policy: RetryPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(30, attempt - 1));
  const jitter = Math.floor(random() * ceiling);
  const retryAfter = isLlmError(err) && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, policy.maxRetryAfterMs) : 0;
  return Math.max(jitter, retryAfter);
}

/**
 * A smaller max_tokens after a context-length error. Uses the numbers in the server's message
 * when present (OpenAI/vLLM: "maximum context length is 4096 tokens ... (1000 in the messages,
 * 4000 in the completion)"), else halves. Returns undefined when it cannot shrink further.
 */
export function shrinkMaxTokens(maxTokens: number | undefined, err: LlmError): number | undefined {
  if (maxTokens === undefined || maxTokens <= 1) return undefined;
  const msg = err.message;
  const limit = firstNumber(msg, [
    /maximum context length (?:is|of) (\d+)/i, // OpenAI, vLLM, SGLang
    /max_seq_len \((\d+)\)/i,                 // TensorRT-LLM
    /context (?:size|window|length)[^\d]{0,20}(\d+)/i,
  ]);
  const prompt = firstNumber(msg, [
    /(\d+) (?:tokens )?(?:in|from) the (?:input )?messages/i, // OpenAI, older vLLM, SGLang
    /request has (\d+) input tokens/i,                      // newer vLLM
    /prompt length \((\d+)\)/i,
    /prompt[^\d]{0,20}(\d+)/i,
  ]);
  let next = Math.floor(maxTokens / 2);
  if (limit !== undefined && prompt !== undefined) {
    // The prompt alone fills the context: no max_tokens can help.
    if (limit - prompt < 1) return undefined;
    // A small margin when there is room: chat templates add a few tokens the count may miss.
    next = Math.min(maxTokens - 1, limit - prompt > 64 ? limit - prompt - 8 : limit - prompt);
  }
  return next >= 1 ? next : undefined;
}

function firstNumber(text: string, patterns: RegExp[]): number | undefined {
  for (const re of patterns) {
    const m = re.exec(text);
    if (m) return Number(m[1]);
  }
  return undefined;
}
