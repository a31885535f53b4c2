/**
 * Code execution for solutions with code blocks: a local pool of Python workers (default) or a
 * remote server speaking NeMo-Skills' sandbox protocol. See docs/generate.md (Code mode).
 */
import { LocalSandbox, type LocalSandboxOptions } from './local';
import { RemoteSandbox } from './remote';
import type { Sandbox } from './types';

export * from './types';
export { LocalSandbox, SandboxSetupError, type LocalSandboxOptions } from './local';
export { RemoteSandbox, type RemoteSandboxOptions } from './remote';

export interface SandboxSpec extends LocalSandboxOptions {
  /** A NeMo-Skills-compatible sandbox server; local workers when absent. */
  url?: string;
  /** Remote only: `ipython` (stateful, default) or `python3`. */
  language?: string;
  /** Remote only: executions in flight. */
  concurrency?: number;
}

export function createSandbox(spec: SandboxSpec): Sandbox {
  if (spec.url) {
    return new RemoteSandbox({ url: spec.url, language: spec.language, timeoutSeconds: spec.timeoutSeconds, maxOutputChars: spec.maxOutputChars, concurrency: spec.concurrency, errorLines: spec.errorLines });
  }
  return new LocalSandbox(spec);
}
