/** The execution engine every job uses. See docs/engine.md. */
export { runItems } from './scheduler';
export type { Job, ItemContext, CallAttempt, CallOptions, RunResult, RunStatusResult } from './scheduler';
export type { ProgressEvent } from './progress';
export { RateLimiter, type RateLimits } from './rateLimiter';
export { AdaptiveConcurrency, type AdaptiveOptions } from './adaptive';
export { DEFAULT_RETRY, backoffDelay, shrinkMaxTokens, type RetryPolicy } from './retry';
export { systemClock, type Clock } from './clock';
export { describeEarlyStop, earlyStopSignature, type EndpointHint } from './fatal';
