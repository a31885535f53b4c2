/** Shared pieces of the reliability suite: a labeling-style job against a real client and run folder. */
import { existsSync, readFileSync } from 'node:fs';
import { runItems, type RunResult } from '../../src/core/engine';
import type { ProgressEvent } from '../../src/core/engine/progress';
import type { RetryPolicy } from '../../src/core/engine/retry';
import { createClient } from '../../src/core/llm/client';
import { openRun } from '../../src/core/run';

export interface Row { id: string; text?: string; error?: string | null }

export interface JobOptions {
  runDir: string;
  url: string;
  count: number;
  concurrency: number;
  requestsPerMinute?: number;
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?(p: ProgressEvent): void;
}

/** Items item-0..item-(count-1), one request each (seed = index), one row each, resumable. */
export async function runJob(o: JobOptions): Promise<RunResult> {
  const client = createClient({ name: 'mock', baseUrl: o.url, model: 'mock-model', apiKind: 'chat', timeoutMs: o.timeoutMs });
  const run = await openRun<Row>({
    runDir: o.runDir, kind: 'generate', name: 'reliability', config: { model: 'mock-model' },
    compare: { ignore: ['concurrency'] },
    keyOf: (r) => r.id,
  });
  try {
    return await runItems<number, Row>({
      items: (function* () { for (let i = 0; i < o.count; i++) yield i; })(),
      keyOf: (i) => `item-${i}`,
      async execute(i, ctx) {
        const res = await ctx.query(client, [{ role: 'user', content: `item-${i}` }], { max_tokens: 16, seed: i });
        return [{ id: `item-${i}`, text: res.choices[0]?.text ?? '', error: null }];
      },
      errorRow: (i, e) => ({ id: `item-${i}`, error: e instanceof Error ? e.message : String(e) }),
      sink: run.output,
      concurrency: o.concurrency,
      requestsPerMinute: o.requestsPerMinute,
      retry: o.retry,
      total: o.count,
      manifest: run.manifest,
      endpoint: { baseUrl: o.url },
      signal: o.signal,
      onProgress: o.onProgress,
      progressIntervalMs: 200,
    });
  } finally {
    await run.close();
    await client.close();
  }
}

export function readRows<T = Row>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
}

/** Checks every item 0..count-1 is in `rows` exactly once and without error; returns problems found. */
export function exactlyOnce(rows: Row[], count: number): { missing: number; duplicated: number; errors: number } {
  const seen = new Map<string, number>();
  let errors = 0;
  for (const r of rows) {
    seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
    if (r.error != null) errors++;
  }
  let missing = 0;
  let duplicated = 0;
  for (let i = 0; i < count; i++) {
    const n = seen.get(`item-${i}`) ?? 0;
    if (n === 0) missing++;
    if (n > 1) duplicated++;
  }
  return { missing, duplicated, errors };
}

/** Most timestamps in any window of `windowMs` (sliding, both ends inclusive of the start). */
export function maxInWindow(times: number[], windowMs: number): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < t.length; hi++) {
    while (t[hi] - t[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor(cond: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A deterministic PRNG (mulberry32) so "random" moments are reproducible from a seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
