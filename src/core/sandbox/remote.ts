/**
 * A remote sandbox speaking NeMo-Skills' sandbox server protocol
 * (nemo_skills/code_execution/local_sandbox/local_sandbox_server.py), for clusters:
 *
 *   POST {url}/execute  {"generated_code", "std_input", "timeout" (s), "language",
 *                        "max_output_characters", "traceback_verbosity", "session_id"}
 *     -> {"process_status": "completed" | "error" | "timeout", "stdout", "stderr"}
 *   DELETE {url}/sessions/{session_id}   (ipython sessions, at the end of a solution)
 *
 * Language `ipython` (default) keeps state per `session_id` on the server, like the local
 * sandbox's sessions; `python3` runs every block on its own (no state across blocks).
 */
import { randomUUID } from 'node:crypto';
import { Semaphore, truncateOutput, type ExecutionResult, type Sandbox, type SandboxInfo, type SandboxSession } from './types';
import { SandboxSetupError } from './local';

export interface RemoteSandboxOptions {
  /** Server root, e.g. http://sandbox-host:6000 (the `/execute` path is added). */
  url: string;
  /** `ipython` (stateful sessions, default) or `python3` / `python` (one block at a time). */
  language?: string;
  timeoutSeconds?: number;
  maxOutputChars?: number;
  /** Executions in flight to the server. Default 16. */
  concurrency?: number;
  /** Traceback lines kept when a block fails. Default 5. */
  errorLines?: number;
}

interface ServerReply {
  process_status?: string;
  stdout?: string;
  stderr?: string;
}

/** Time beyond the block's limit before the request itself is abandoned as timed out. */
const HTTP_GRACE_MS = 5000;

export class RemoteSandbox implements Sandbox {
  readonly url: string;
  readonly options: Required<Omit<RemoteSandboxOptions, 'url'>>;
  private readonly limit: Semaphore;

  constructor(options: RemoteSandboxOptions) {
    let u: URL;
    try {
      u = new URL(options.url);
    } catch {
      throw new Error(`sandbox URL ${JSON.stringify(options.url)} is not a valid URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`sandbox URL must be http:// or https://, got ${options.url}`);
    this.url = options.url.replace(/\/+$/, '').replace(/\/execute$/, '');
    this.options = {
      language: options.language ?? 'ipython',
      timeoutSeconds: options.timeoutSeconds ?? 10,
      maxOutputChars: options.maxOutputChars ?? 1000,
      concurrency: options.concurrency ?? 16,
      errorLines: options.errorLines ?? 5,
    };
    this.limit = new Semaphore(this.options.concurrency);
  }

  async start(): Promise<SandboxInfo> {
    // One real execution: a wrong URL or a server that is down fails here, before any model request.
    let r: ExecutionResult;
    try {
      r = await this.post('print(6 * 7)', null);
    } catch (e) {
      throw new SandboxSetupError(`sandbox server ${this.url} is not usable: ${(e as Error).message}`);
    }
    if (r.status !== 'completed' || r.output.trim() !== '42') {
      throw new SandboxSetupError(`sandbox server ${this.url} did not run a test block correctly (status ${r.status}, output ${JSON.stringify(r.output.slice(0, 200))})`);
    }
    return { kind: 'remote', description: `${this.url}/execute (${this.options.language})`, network: 'remote', warning: null };
  }

  /** One POST /execute. */
  async post(code: string, sessionId: string | null): Promise<ExecutionResult> {
    const started = Date.now();
    const body = {
      generated_code: code,
      std_input: '',
      timeout: this.options.timeoutSeconds,
      language: this.options.language,
      max_output_characters: this.options.maxOutputChars,
      traceback_verbosity: 'Plain',
      session_id: sessionId,
    };
    let reply: ServerReply;
    try {
      const res = await fetch(`${this.url}/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutSeconds * 1000 + HTTP_GRACE_MS),
      });
      // The reference client treats a 502 from its load balancer as a time-out.
      if (res.status === 502) return { status: 'timeout', output: 'Timed out', truncated: false, durationMs: Date.now() - started };
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
      reply = (await res.json()) as ServerReply;
    } catch (e) {
      if ((e as Error).name === 'TimeoutError') return { status: 'timeout', output: 'Timed out', truncated: false, durationMs: Date.now() - started };
      throw e;
    }
    const status = reply.process_status === 'completed' ? 'completed' : reply.process_status === 'timeout' ? 'timeout' : 'error';
    const stdout = (reply.stdout ?? '').replace(/\s+$/, '');
    const stderrLines = (reply.stderr ?? '').trim().split('\n').filter((l) => l.trim());
    const stderr = stderrLines.slice(-this.options.errorLines).join('\n');
    // The server marks a block with stderr as failed only for ipython; for the others stderr alone says so.
    const failed = status === 'error' || (status === 'completed' && stderr !== '' && this.options.language !== 'ipython');
    const tail = status === 'timeout' ? 'Timed out' : failed ? stderr : '';
    const text = tail ? (stdout ? `${stdout}\n${tail}` : tail) : stdout;
    const cut = truncateOutput(text.trim(), this.options.maxOutputChars);
    return { status: failed ? 'error' : status, output: cut.text, truncated: cut.truncated, durationMs: Date.now() - started };
  }

  session(): SandboxSession {
    const stateful = this.options.language === 'ipython';
    const id = stateful ? randomUUID() : null;
    let used = false;
    return {
      execute: (code) => {
        used = true;
        // A server that cannot be reached fails the item (retried on resume), not the solution's code.
        return this.limit.run(() => this.post(code, id)).catch((e: Error) => {
          throw new Error(`sandbox server ${this.url}: ${e.message}`);
        });
      },
      close: async () => {
        if (!id || !used) return;
        used = false;
        await fetch(`${this.url}/sessions/${id}`, { method: 'DELETE', signal: AbortSignal.timeout(10_000) }).then((r) => r.body?.cancel(), () => undefined);
      },
    };
  }

  async close(): Promise<void> {
    /* nothing held: each request is its own */
  }
}
