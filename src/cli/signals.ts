/**
 * Ctrl-C / SIGTERM handling shared by long-running commands (generate, run): the first signal
 * aborts the run gracefully (finished items are already on disk, the same command resumes);
 * a second one quits at once. Commands set `process.exitCode = CANCELLED_EXIT_CODE` when the
 * run reports it was cancelled.
 */

/** Exit code of a cancelled command (128 + SIGINT, as shells report it). */
export const CANCELLED_EXIT_CODE = 130;

export interface SignalCancellation {
  /** Aborted by the first SIGINT/SIGTERM: pass it to the run. */
  readonly signal: AbortSignal;
  /** Remove the handlers (call in `finally`, so later signals get Node's default behaviour). */
  dispose(): void;
}

export function cancelOnSignals(options: { message?: string; signals?: NodeJS.Signals[] } = {}): SignalCancellation {
  const message = options.message ?? '\nsdg: cancelling (finished items are kept; Ctrl-C again to quit at once)\n';
  const signals = options.signals ?? ['SIGINT', 'SIGTERM'];
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts++;
    if (interrupts > 1) process.exit(CANCELLED_EXIT_CODE);
    process.stderr.write(message);
    controller.abort();
  };
  for (const s of signals) process.on(s, onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of signals) process.off(s, onSignal);
    },
  };
}
