/**
 * A real llama.cpp `llama-server` on a free loopback port, serving the tiny random-weight model
 * (gibberish text, real server: batching, n, seed, usage, finish reasons). See
 * docs/testing.md and scripts/setup-real-parts.sh.
 */
import { ensureRealPart } from './setup';
import { freePort, spawnTracked, stopTracked, waitForHttpOk, type Tracked } from './processes';

export interface LlamaServerOptions {
  /** Parallel slots (-np). Each gets ctx / parallel tokens of context. */
  parallel?: number;
  ctx?: number;
  threads?: number;
  extraArgs?: string[];
}

export interface LlamaServer {
  /** OpenAI-compatible base URL, e.g. http://127.0.0.1:PORT/v1 */
  baseUrl: string;
  origin: string;
  port: number;
  pid: number;
  /** The model id the server answers to (--alias). */
  model: string;
  tail(): string;
  stop(): Promise<void>;
}

export const TINY_MODEL_ALIAS = 'tiny';

export async function startLlamaServer(options: LlamaServerOptions = {}): Promise<LlamaServer> {
  const { LLAMA_SERVER, TINY_MODEL } = ensureRealPart('llama');
  // A port picked free can be taken by another process before the server binds it: retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const args = [
      '-m', TINY_MODEL,
      '--host', '127.0.0.1',
      '--port', String(port),
      '-np', String(options.parallel ?? 4),
      '-c', String(options.ctx ?? 4096),
      // One thread: with two on a shared 2-core machine its throughput collapses.
      '-t', String(options.threads ?? 1),
      '--alias', TINY_MODEL_ALIAS,
      ...(options.extraArgs ?? []),
    ];
    const proc: Tracked = spawnTracked(LLAMA_SERVER, args);
    const origin = `http://127.0.0.1:${port}`;
    try {
      await waitForHttpOk(`${origin}/health`, proc, 60_000);
    } catch (e) {
      await stopTracked(proc);
      if (attempt < 3 && /bind|address already in use/i.test(proc.tail())) continue;
      throw e;
    }
    return {
      baseUrl: `${origin}/v1`,
      origin,
      port,
      pid: proc.pid,
      model: TINY_MODEL_ALIAS,
      tail: proc.tail,
      stop: () => stopTracked(proc),
    };
  }
}
