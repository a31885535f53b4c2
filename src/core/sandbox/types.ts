/**
 * What the generation loop needs from a code sandbox: sessions (one per solution, so a later
 * block sees the variables of an earlier one) that run Python blocks and say how it went.
 */

export type ExecutionStatus = 'completed' | 'error' | 'timeout';

export interface ExecutionResult {
  status: ExecutionStatus;
  /** What goes into the output block: stdout, then the error's last lines; cut to the size limit. */
  output: string;
  /** True when the output was longer than the limit and was cut. */
  truncated: boolean;
  durationMs: number;
}

export interface SandboxSession {
  execute(code: string): Promise<ExecutionResult>;
  /** Frees the session's state and working folder. Safe to call twice. */
  close(): Promise<void>;
}

/** What the sandbox actually gives, for the CLI to print and the run's config to record. */
export interface SandboxInfo {
  kind: 'local' | 'remote';
  /** Local: the interpreter and its version; remote: the URL. */
  description: string;
  /** Local: 'none' when the workers run in their own network namespace, 'host' otherwise. */
  network: 'none' | 'host' | 'remote';
  /** Set when an isolation asked for could not be applied (printed as a warning). */
  warning: string | null;
}

export interface Sandbox {
  /** Starts workers / checks the server; throws a clear error when it cannot run code at all. */
  start(): Promise<SandboxInfo>;
  session(): SandboxSession;
  close(): Promise<void>;
}

/** Text shown when an output is cut (the reference implementation's marker). */
export const OUTPUT_CUT_MARKER = '<output cut>';

/** Cuts `text` to `max` characters plus the marker. */
export function truncateOutput(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  return { text: text.slice(0, max) + OUTPUT_CUT_MARKER, truncated: true };
}

/** A FIFO semaphore: executions have their own concurrency limit, apart from model requests. */
export class Semaphore {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(readonly limit: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiting.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
  get inFlight(): number {
    return this.active;
  }
}
