/**
 * Code mode figures (issue 16): sandbox executions per second for a trivial block and a sympy
 * block on this machine's cores (beside one `python3` process per block, the naive way), and the
 * whole-run throughput of a code-mode `generateSolutions` against the loopback mock with 200 ms
 * latency, beside a text-only run of the same size (the engine's request rate).
 *   npm run bench -- --only code [--python /usr/bin/python3]
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSolutions } from '../src/core/generate';
import { resolveEndpoint } from '../src/core/llm/presets';
import { LocalSandbox } from '../src/core/sandbox';
import { startMockServer } from '../test/support/mockServer';
import { codeProblems, codeWritingModel } from '../test/unit/generate-code-model';
import type { GroupContext } from './product';

const work = join(tmpdir(), `sdg-bench-code-${process.pid}`);

/** Blocks per second through the sandbox: `sessions` solutions at once, `blocks` blocks each. */
async function sandboxRate(python: string, blockOf: (i: number) => string, sessions: number, blocks: number): Promise<{ rate: number; workers: number }> {
  const sandbox = new LocalSandbox({ python, timeoutSeconds: 60 });
  await sandbox.start();
  try {
    // Warm-up: every worker imports what the blocks import once, as in a real run.
    await Promise.all(Array.from({ length: sandbox.options.workers * 2 }, async (_, i) => {
      const s = sandbox.session();
      await s.execute(blockOf(i));
      await s.close();
    }));
    const started = process.hrtime.bigint();
    await Promise.all(Array.from({ length: sessions }, async (_, i) => {
      const s = sandbox.session();
      for (let b = 0; b < blocks; b++) {
        const r = await s.execute(blockOf(i * blocks + b));
        if (r.status !== 'completed') throw new Error(`bench block failed: ${r.output}`);
      }
      await s.close();
    }));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { rate: (sessions * blocks) / seconds, workers: sandbox.options.workers };
  } finally {
    await sandbox.close();
  }
}

/** The naive way: one `python3 -c` process per block, as many at once as there are cores. */
async function processPerBlockRate(python: string, blockOf: (i: number) => string, n: number): Promise<number> {
  // The interpreter itself, not a launcher shim (pyenv's costs a shell per start).
  const exe = spawnSync(python, ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim() || python;
  const started = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: availableParallelism() }, async () => {
    while (next < n) {
      const code = blockOf(next++);
      const child = spawn(exe, ['-c', code], { stdio: 'ignore' });
      await once(child, 'exit');
    }
  }));
  return n / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function run(prompt: string, n: number, concurrency: number, python: string, respond?: typeof codeWritingModel) {
  const server = await startMockServer({ latency: { fixedMs: 200 }, respond, logLimit: 0, trackKeys: false });
  const input = join(work, `${prompt}.jsonl`);
  writeFileSync(input, codeProblems(n).map((r) => JSON.stringify(r)).join('\n') + '\n');
  try {
    const started = process.hrtime.bigint();
    const res = await generateSolutions({
      input, output: join(work, `${prompt}.out.jsonl`), prompt, overwrite: true, concurrency,
      endpoint: resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'm', apiKind: 'chat' }),
      sandbox: { python },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (res.status !== 'completed' || res.done !== n) throw new Error(`${prompt} run: ${res.status} ${res.error ?? ''} (${res.done}/${n})`);
    return { itemsPerS: n / seconds, requestsPerS: server.stats.completed / seconds, requests: server.stats.completed };
  } finally {
    await server.close();
  }
}

export async function codeExecution(g: GroupContext): Promise<void> {
  const python = typeof g.flags.python === 'string' ? g.flags.python : 'python3';
  mkdirSync(work, { recursive: true });
  try {
    const trivial = (i: number) => `x = ${i} * 2\nx + 1`;
    const t = await sandboxRate(python, trivial, 32, g.quick ? 8 : 60);
    const tPeer = await processPerBlockRate(python, trivial, g.quick ? 20 : 100);
    g.add({ group: 'code', name: `sandbox: trivial block (${t.workers} workers)`, value: t.rate, unit: 'exec/s', reference: { name: 'one python3 per block', value: tPeer }, ratio: t.rate / tPeer });

    const hasSympy = spawnSync(python, ['-c', 'import sympy'], { stdio: 'ignore' }).status === 0;
    if (hasSympy) {
      const sym = (i: number) => `from sympy import symbols, solve\nx = symbols('x')\nsolve(x**2 - ${(i % 7) + 5}*x + 6, x)`;
      const s = await sandboxRate(python, sym, 16, g.quick ? 2 : 20);
      const sPeer = await processPerBlockRate(python, sym, g.quick ? 4 : 20);
      g.add({ group: 'code', name: `sandbox: sympy solve block (${s.workers} workers)`, value: s.rate, unit: 'exec/s', reference: { name: 'one python3 per block', value: sPeer }, ratio: s.rate / sPeer });
    } else {
      g.log(`  (no sympy in ${python}: sympy figure skipped; apt-get install python3-sympy or --python)`);
    }

    // Whole runs, 200 ms per request: code mode needs 3-4 requests per solution one after the
    // other, so compare request rates; the sandbox is not the bottleneck when they are close.
    const n = g.quick ? 40 : 1000;
    const c = 64;
    const text = await run('gsm8k_text', n, c, python);
    const code = await run('gsm8k_text_with_code', n, c, python, codeWritingModel);
    g.add({ group: 'code', name: `text-only run, ${n} problems, C=${c}, 200 ms latency`, value: text.requestsPerS, unit: 'req/s', reference: { name: 'ideal C / latency', value: c / 0.2 }, ratio: text.requestsPerS / (c / 0.2) });
    g.add({
      group: 'code', name: `code-mode run (${(code.requests / n).toFixed(1)} requests per solution, a block between each), same size`, value: code.requestsPerS, unit: 'req/s',
      reference: { name: 'text-only run', value: text.requestsPerS }, ratio: code.requestsPerS / text.requestsPerS,
      target: '>= 0.8 of the text-only request rate', pass: g.judge(code.requestsPerS >= 0.8 * text.requestsPerS),
      note: `${code.itemsPerS.toFixed(1)} solutions/s`,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
