/**
 * Time as the engine sees it. Injectable so tests of rate limits and back-off run on a fake
 * clock (no real waiting, no timing-dependent assertions).
 */
export interface Clock {
  /** Milliseconds, monotonic enough for rate windows. */
  now(): number;
  /** Resolves after `ms` (early, without throwing, when `signal` aborts). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (ms <= 0 || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};
