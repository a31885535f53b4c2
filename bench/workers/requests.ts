/**
 * One request-throughput measurement in its own process (so CPU and memory are this client's only).
 *   --strategy product | fixed-batch | sdk-semaphore | undici-raw
 *   --url U --concurrency C --requests N [--out FILE] [--rss-samples]
 * Prints one JSON line: elapsed, client CPU, requests answered, peak RSS.
 */
import { rmSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { Pool } from 'undici';
import { runItems } from '../../src/core/engine';
import { createClient } from '../../src/core/llm';
import { openRunOutput } from '../../src/core/run';
import { countJsonlLines } from '../../src/core/io/jsonl';
import { parseFlags, peakRssMb } from '../lib';

const flags = parseFlags(process.argv.slice(2));
const strategy = String(flags.strategy);
const url = String(flags.url);
const concurrency = Number(flags.concurrency);
const total = Number(flags.requests);
const MODEL = 'bench-model';
const messagesFor = (i: number) => [{ role: 'user' as const, content: `Problem ${i}: what is ${i} plus one?` }];
const PARAMS = { max_tokens: 16, temperature: 0.7 };

interface Row { key: string; text: string | null; error: string | null }

async function product(): Promise<{ ok: number; errors: number; rows?: number }> {
  const out = String(flags.out ?? join(tmpdir(), `sdg-bench-${process.pid}.jsonl`));
  rmSync(out, { force: true });
  const client = createClient({ name: 'bench', baseUrl: url, model: MODEL, apiKind: 'chat', maxConcurrency: concurrency }, { connections: concurrency });
  const sink = await openRunOutput<Row>({ path: out, keyOf: (r) => r.key });
  function* items() {
    for (let i = 0; i < total; i++) yield i;
  }
  const result = await runItems<number, Row>({
    items: items(),
    keyOf: (i) => String(i),
    async execute(i, ctx) {
      const res = await ctx.query(client, messagesFor(i), { ...PARAMS, seed: i });
      return [{ key: String(i), text: res.choices[0].text, error: null }];
    },
    errorRow: (i, e) => ({ key: String(i), text: null, error: String(e) }),
    sink,
    concurrency,
    total,
    progressIntervalMs: 1000,
  });
  await sink.close();
  await client.close();
  const rows = flags['count-rows'] ? await countJsonlLines(out) : undefined;
  rmSync(out, { force: true });
  return { ok: result.done, errors: result.failed, rows };
}

async function fixedBatch(): Promise<{ ok: number; errors: number }> {
  const client = createClient({ name: 'bench', baseUrl: url, model: MODEL, apiKind: 'chat', maxConcurrency: concurrency }, { connections: concurrency });
  let ok = 0;
  let errors = 0;
  for (let start = 0; start < total; start += concurrency) {
    const batch: Promise<unknown>[] = [];
    for (let i = start; i < Math.min(total, start + concurrency); i++) batch.push(client.queryModel(messagesFor(i), { ...PARAMS, seed: i }).then(() => ok++, () => errors++));
    await Promise.all(batch);
  }
  await client.close();
  return { ok, errors };
}

async function slidingWindow(one: (i: number) => Promise<unknown>): Promise<{ ok: number; errors: number }> {
  let next = 0;
  let ok = 0;
  let errors = 0;
  async function lane() {
    while (next < total) {
      const i = next++;
      try {
        await one(i);
        ok++;
      } catch {
        errors++;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { ok, errors };
}

async function sdkSemaphore() {
  // The plain SDK as most scripts use it: default fetch, default retries, a semaphore of C.
  const sdk = new OpenAI({ baseURL: url, apiKey: 'bench' });
  return slidingWindow((i) => sdk.chat.completions.create({ model: MODEL, messages: messagesFor(i), ...PARAMS, seed: i }));
}

async function undiciRaw() {
  // The floor: undici Pool.request with a prebuilt body, no parsing beyond JSON.
  const origin = new URL(url).origin;
  const path = new URL(url).pathname.replace(/\/$/, '') + '/chat/completions';
  const pool = new Pool(origin, { connections: concurrency });
  const r = await slidingWindow(async (i) => {
    const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: MODEL, messages: messagesFor(i), ...PARAMS, seed: i }) });
    const body = (await res.body.json()) as { choices: unknown[] };
    if (res.statusCode !== 200 || !body.choices) throw new Error(`status ${res.statusCode}`);
  });
  await pool.close();
  return r;
}

async function main() {
  // Event-loop delay while the run goes on: how late callbacks run (a busy loop delays responses).
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const rssSamples: number[] = [];
  const sampler = flags['rss-samples'] ? setInterval(() => rssSamples.push(process.memoryUsage.rss() / 1048576), 500) : undefined;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const fn = { product, 'fixed-batch': fixedBatch, 'sdk-semaphore': sdkSemaphore, 'undici-raw': undiciRaw }[strategy];
  if (!fn) throw new Error(`unknown strategy ${strategy}`);
  const r = await fn();
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (sampler) clearInterval(sampler);
  loopDelay.disable();
  const loop = { p50Ms: loopDelay.percentile(50) / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
  console.log(JSON.stringify({ strategy, concurrency, requests: total, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000, peakRssMb: peakRssMb(), rssSamples, loopDelay: loop, ...r }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
