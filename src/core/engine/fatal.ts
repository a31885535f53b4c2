/**
 * Early stop: when the first requests of a run all fail the same way for a reason no retry will
 * fix (bad key, wrong model, server down), stop with one clear message instead of writing
 * thousands of identical error rows.
 */
import { isLlmError } from '../llm/errors';
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

/** The one message shown when a run stops early. */
export function describeEarlyStop(err: unknown, count: number, endpoint?: EndpointHint): string {
  const where = endpoint?.baseUrl ? ` from ${endpoint.baseUrl}` : '';
  const firstN = count === 1 ? 'the first request' : `all of the first ${count} requests`;
  if (!isLlmError(err)) {
    return `Stopped: ${firstN} failed with the same error: ${err instanceof Error ? err.message : String(err)}`;
  }
  const detail = err.message;
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
      hint = `the server rejected the request (${err.status ?? 400})${where}: check the sampling parameters and the API kind (chat/completions)`;
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
  return `Stopped: ${hint}. (${firstN} failed the same way: ${detail})`;
}
