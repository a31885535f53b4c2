/**
 * The sliding window alone at high concurrency: `runItems` with an in-process model whose answers
 * take lognormal latencies (median 200 ms, sigma 0.8, seeded), rows written to a real run output.
 * No HTTP, so neither the client's CPU nor the server's competes with the scheduler for the 2
 * cores: the figure isolates how close the window stays to a perfect one.
 *   --concurrency C --requests N
 * Prints one JSON line: elapsed, CPU, the latencies drawn (in start order), event-loop delay.
 */
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { runItems } from '../../src/core/engine';
import { openRunOutput } from '../../src/core/run';
import { parseFlags } from '../lib';

const flags = parseFlags(process.argv.slice(2));
const concurrency = Number(flags.concurrency);
const total = Number(flags.requests);

let seed = 7;
function uniform(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const drawLatency = () => 200 * Math.exp(0.8 * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()));

interface Row { key: string; text: string; error: string | null }

async function main() {
  const out = join(tmpdir(), `sdg-bench-window-${process.pid}.jsonl`);
  rmSync(out, { force: true });
  const sink = await openRunOutput<Row>({ path: out, keyOf: (r) => r.key });
  const latencies: number[] = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  function* items() {
    for (let i = 0; i < total; i++) yield i;
  }
  const result = await runItems<number, Row>({
    items: items(),
    keyOf: (i) => String(i),
    async execute(i, ctx) {
      const text = await ctx.call(() => {
        const ms = drawLatency();
        latencies.push(ms);
        return new Promise<string>((resolve) => setTimeout(resolve, ms, `answer ${i}`));
      });
      return [{ key: String(i), text, error: null }];
    },
    errorRow: (i, e) => ({ key: String(i), text: '', error: String(e) }),
    sink,
    concurrency,
    total,
    progressIntervalMs: 1000,
  });
  await sink.close();
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  loopDelay.disable();
  rmSync(out, { force: true });
  console.log(JSON.stringify({
    concurrency, requests: total, ok: result.done, elapsedMs, cpuMs: (cpu.user + cpu.system) / 1000, latencies,
    loopDelay: { p50Ms: loopDelay.percentile(50) / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 },
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
