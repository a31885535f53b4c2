/**
 * Early stop: when the first requests of a run all fail the same way for a reason no retry will
 * fix (bad key, wrong model, server down), stop with one clear message instead of writing
 * thousands of identical error rows.
 */
import { isLlmError, type LlmError } from '../llm/errors';
import type { EndpointProfile } from '../llm/types';

export type EndpointHint = Partial<Pick<EndpointProfile, 'name' | 'baseUrl' | 'model' | 'apiKeyEnv'>>;

/** Failure kinds that, if every one of the first requests hits them, mean the setup is wrong. */
// rate_limit counts only because these are failures after all retries: an exhausted quota
// (OpenAI answers 429 insufficient_quota) never recovers by waiting.
const SETUP_KINDS = new Set(['auth', 'not_found', 'network', 'bad_request', 'timeout', 'server', 'bad_response', 'rate_limit']);

/**
 * A grouping signature when this failure may justify an early stop, else null.
 * Non-LLM errors (a template that cannot render, a bug in a job) group by their message.
 */
export function earlyStopSignature(err: unknown): string | null {
  if (isLlmError(err)) return SETUP_KINDS.has(err.kind) ? err.signature : null;
  if (err instanceof Error) return err.name === 'AbortError' ? null : `${err.name}: ${err.message}`;
  return `error: ${String(err)}`;
}

/**
 * Failure kinds that, when every recent item of a run that worked fails with them, mean the
 * server (or the account) stopped working: the circuit breaker stops the run. Item-specific
 * failures (400 for one prompt, an answer too large, a template error) never trip it.
 */
const BREAKER_KINDS = new Set(['auth', 'not_found', 'network', 'timeout', 'server', 'rate_limit']);

/** A grouping signature when this failure says the server broke (circuit breaker), else null. */
export function breakerSignature(err: unknown): string | null {
  return isLlmError(err) && BREAKER_KINDS.has(err.kind) ? err.signature : null;
}

/** The one message shown when a run stops early. */
export function describeEarlyStop(err: unknown, count: number, endpoint?: EndpointHint): string {
  const firstN = count === 1 ? 'the first request' : `all of the first ${count} requests`;
  if (!isLlmError(err)) {
    return `Stopped: ${firstN} failed with the same error: ${err instanceof Error ? err.message : String(err)}`;
  }
  return `Stopped: ${describeFailure(err, endpoint)}. (${firstN} failed the same way: ${err.message})`;
}

/**
 * The one message shown when the circuit breaker stops a run that worked: the last `count`
 * items all failed the same way after `succeeded` items had succeeded.
 */
export function describeBreakerStop(err: unknown, count: number, succeeded: number, endpoint?: EndpointHint): string {
  const what = isLlmError(err) ? describeFailure(err, endpoint) : String(err);
  return `Stopped: ${what}. The last ${count} items all failed the same way after ${succeeded} had succeeded ` +
    `(${errorText(err)}). Finished items are kept and nothing was written for the failed ones: ` +
    'run the same command again to resume once the server works.';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** What went wrong, in words a user can act on (no trailing period). */
function describeFailure(err: LlmError, endpoint?: EndpointHint): string {
  const where = endpoint?.baseUrl ? ` from ${endpoint.baseUrl}` : '';
  let hint: string;
  switch (err.kind) {
    case 'auth':
      hint = `${err.status ?? 401} ${err.status === 403 ? 'Forbidden' : 'Unauthorized'}${where}: check the API key` +
        (endpoint?.apiKeyEnv ? ` in ${endpoint.apiKeyEnv}` : endpoint?.name ? ` of endpoint "${endpoint.name}"` : '');
      break;
    case 'not_found':
      hint = `404 Not Found${where}: ` + (endpoint?.model ? `check the model name "${endpoint.model}" and the base URL` : 'check the model name and the base URL');
      break;
    case 'network':
      hint = err.code === 'ECONNREFUSED'
        ? `connection refused${where}: is the server running and listening on that port?`
        : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
          ? `host not found${where}: check the base URL`
          : `network error${where} (${err.code ?? 'no code'}) after retries`;
      break;
    case 'timeout':
      hint = `no answer${where} within the time-out after retries: is the server overloaded, or is the time-out too short for max_tokens?`;
      break;
    case 'bad_request':
      // No status: the client refused to build the request (e.g. a formatter refusing the
      // conversation); nothing reached the server, so blaming the server would mislead.
      hint = err.status === undefined
        ? 'the request could not be built, so nothing was sent to the server'
        : `the server rejected the request (${err.status})${where}: check the sampling parameters and the API kind (chat/completions)`;
      break;
    case 'bad_response':
      hint = `the server${where} answered with something that is not an OpenAI-compatible response: check the base URL (usually ends in /v1)`;
      break;
    case 'server':
      hint = `the server${where} keeps answering ${err.status ?? '5xx'} after retries`;
      break;
    case 'rate_limit':
      hint = `429 Too Many Requests${where} on every retry: check the account's quota, or lower the requests/tokens per minute and the concurrency`;
      break;
    default:
      hint = err.kind;
  }
  return hint;
}
