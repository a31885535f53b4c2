/**
 * The product path, measured from outside (issue 18): whole-process CPU per request of
 * `sdg generate` and `sdg run` (a pipeline with list stages) as a user runs them (the bundled
 * CLI, a real run folder, the mock server in its own process with the lognormal 200 ms latency),
 * beside the client-only figure and the undici floor at the same C, latency and N; the split of
 * that CPU by phase from a V8 profile; and the sliding window at C = 1024 / 2048 against a perfect
 * scheduler simulated over the very latencies the server drew.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fmt, mockStats, runWorker, startMockProcess, type Figure, type MockProcess } from './lib';
import { splitProfile, type Phase } from './profileSplit';

export interface GroupContext {
  quick: boolean;
  flags: Record<string, string | boolean>;
  add(f: Figure): void;
  judge(ok: boolean): boolean | undefined;
  log(...a: unknown[]): void;
}

const LATENCY = { medianMs: 200, sigma: 0.8 };
const GSM8K = join(ROOT, 'datasets/gsm8k/test.jsonl');
const work = join(tmpdir(), `sdg-bench-product-${process.pid}`);

/** The CLI bundle as shipped (minified) for CPU figures, and unminified (module markers) for profiles. */
async function buildCli(minify: boolean): Promise<string> {
  const esbuild = await import('esbuild');
  const outfile = join(work, minify ? 'cli.min.js' : 'cli.js');
  await esbuild.build({ entryPoints: [join(ROOT, 'src/cli/index.ts')], outfile, bundle: true, platform: 'node', format: 'cjs', target: 'node20', minify, logLevel: 'error', legalComments: 'none' });
  return outfile;
}

interface Timed { cpuS: number; userS: number; sysS: number; maxRssMb: number; elapsedS: number; stdout: string; stderr: string }

/** Runs `node args...` under /usr/bin/time: user + system CPU of the whole process, start-up included. */
function timedNode(args: string[]): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-f', 'TIMED %U %S %M %e', process.execPath, ...args], {
      cwd: ROOT,
      // The bundle lives in a temp folder: point it at the built-in prompts.
      env: { ...process.env, SDG_PROMPTS_DIR: join(ROOT, 'prompts') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = /TIMED (\S+) (\S+) (\S+) (\S+)\s*$/.exec(stderr);
      if (code !== 0 || !m) return reject(new Error(`${args.slice(0, 3).join(' ')} failed (exit ${code}): ${stderr.slice(-600)}`));
      const [userS, sysS, rssKb, elapsedS] = m.slice(1).map(Number);
      resolve({ cpuS: userS + sysS, userS, sysS, maxRssMb: rssKb / 1024, elapsedS, stdout, stderr });
    });
  });
}

/** Items of `sdg generate`: GSM8K rows x seeds. */
function generateShape(n: number): { limit: number; seeds: number } {
  return { limit: Math.max(1, Math.round(n / 3)), seeds: 3 };
}

function generateArgs(cli: string, url: string, c: number, n: number, out: string): string[] {
  const { limit, seeds } = generateShape(n);
  return [cli, 'generate', '--input', GSM8K, '--limit', String(limit), '--num-seeds', String(seeds), '--output', out,
    '--prompt', 'gsm8k_text', '--base-url', url, '--model', 'bench-model', '--concurrency', String(c), '--no-progress', '--overwrite'];
}

/** open_qa: one list request, then subtopic lists, question lists, revisions (about N requests in all). */
function runArgs(cli: string, url: string, c: number, quick: boolean, dir: string): string[] {
  const sets = quick ? ['n_macro_topics=5', 'n_subtopics=6', 'n_openlines=10', 'n_revisions=1'] : ['n_macro_topics=20', 'n_subtopics=12', 'n_openlines=10', 'n_revisions=1'];
  return [cli, 'run', 'open_qa', '--base-url', url, '--model', 'bench-model', ...sets.flatMap((s) => ['--set', s]), '--concurrency', String(c), '--output-dir', dir, '--quiet', '--overwrite'];
}

async function withMock<T>(script: string | undefined, fn: (mock: MockProcess) => Promise<T>): Promise<T> {
  const mock = await startMockProcess({ latency: LATENCY, seed: 7, recordLatencies: true }, script);
  try {
    return await fn(mock);
  } finally {
    await mock.stop();
  }
}

const PHASE_NOTES: Partial<Record<Phase, string>> = {
  'start-up': 'loading and compiling the bundle; the profiler inflates it (the unprofiled start-up is the first figure)',
  render: 'src/core/prompts (templates, few-shot block)',
  client: 'src/core/llm and undici, including the socket writes they make',
  engine: 'src/core/engine (window, retries, progress, manifest)',
  'rows+write': 'building output rows (src/core/generate/rows.ts), JSON, the run folder and the JSONL writer',
  input: 'reading and mapping the input dataset',
  gc: 'V8 garbage collection',
  runtime: 'samples with no product frame on the stack: event loop, socket reads, timers, microtasks',
};

interface ReqResult { elapsedMs: number; cpuMs: number; ok: number; loopDelay: { p50Ms: number; p99Ms: number; maxMs: number } }

export async function productPath(g: GroupContext): Promise<void> {
  mkdirSync(work, { recursive: true });
  try {
    const n = Number(g.flags['product-requests'] ?? (g.quick ? 600 : 3000));
    const levels = typeof g.flags['product-concurrency'] === 'string' ? g.flags['product-concurrency'].split(',').map(Number) : g.quick ? [64, 256] : [64, 256, 1024];
    const [cliMin, cliPlain] = await Promise.all([buildCli(true), buildCli(false)]);
    // Start-up alone (load the bundle, parse flags): part of every whole-process figure below.
    const starts: number[] = [];
    for (let i = 0; i < 3; i++) starts.push((await timedNode([cliMin, '--version'])).cpuS);
    starts.sort((a, b) => a - b);
    const startupS = starts[1];
    g.add({ group: 'product', name: 'CLI start-up (sdg --version, whole process)', value: startupS * 1000, unit: 'ms', note: 'included in every whole-process figure below; per request it is this divided by N' });

    for (const c of levels) {
      const out = join(work, `gen-${c}.jsonl`);
      const gen = await withMock(undefined, async (mock) => {
        const t = await timedNode(generateArgs(cliMin, mock.url, c, n, out));
        return { t, stats: await mockStats(mock) };
      });
      if (gen.stats.completed !== n) throw new Error(`sdg generate C=${c}: the server answered ${gen.stats.completed} requests, expected ${n}`);
      const genPer = (gen.t.cpuS * 1000) / n;
      // Client alone and the undici floor: same latency, C and N, CPU measured inside the process (no start-up).
      const client = await withMock(undefined, (mock) => runWorker<ReqResult>('requests.ts', ['--strategy', 'product', '--url', mock.url, '--concurrency', String(c), '--requests', String(n)]));
      const floor = await withMock(undefined, (mock) => runWorker<ReqResult>('requests.ts', ['--strategy', 'undici-raw', '--url', mock.url, '--concurrency', String(c), '--requests', String(n)]));
      const clientPer = client.cpuMs / n;
      const floorPer = floor.cpuMs / n;
      g.add({
        group: 'product', name: `sdg generate, whole process, C=${c}`, value: genPer, unit: 'ms/req', reference: { name: 'undici floor', value: floorPer }, ratio: genPer / floorPer,
        target: c === 256 ? '<= 0.3 ms' : undefined, pass: c === 256 ? g.judge(genPer <= 0.3) : undefined,
        note: `${n} requests (gsm8k_text, ${generateShape(n).limit} problems x 3 seeds, few-shot prompt ~2 KB), user ${fmt(gen.t.userS)} s + sys ${fmt(gen.t.sysS)} s, ${fmt(gen.t.elapsedS)} s wall, peak RSS ${fmt(gen.t.maxRssMb)} MB; without start-up ${fmt(((gen.t.cpuS - startupS) * 1000) / n)} ms/req`,
      });
      g.add({ group: 'product', name: `client only (engine + client, in-process), C=${c}`, value: clientPer, unit: 'ms/req', reference: { name: 'undici floor', value: floorPer }, ratio: clientPer / floorPer, note: 'bench/workers/requests.ts: CPU of the run itself, start-up excluded; the floor is undici Pool.request with a prebuilt body, same latency and N' });

      const dir = join(work, `run-${c}`);
      const run = await withMock('bench/workers/pipelineMock.ts', async (mock) => {
        const t = await timedNode(runArgs(cliMin, mock.url, c, g.quick, dir));
        return { t, stats: await mockStats(mock) };
      });
      const runPer = (run.t.cpuS * 1000) / run.stats.completed;
      g.add({ group: 'product', name: `sdg run open_qa (list stages), whole process, C=${c}`, value: runPer, unit: 'ms/req', reference: { name: 'undici floor', value: floorPer }, ratio: runPer / floorPer, note: `${run.stats.completed} requests, user ${fmt(run.t.userS)} s + sys ${fmt(run.t.sysS)} s, ${fmt(run.t.elapsedS)} s wall, peak RSS ${fmt(run.t.maxRssMb)} MB` });
      rmSync(out, { force: true });
      rmSync(`${out}.run`, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });

      if (c === 256) {
        // Where the CPU goes: a profile of the same generate run (unminified bundle, so every
        // sample maps to its source module), scaled to the measured whole-process CPU.
        const profDir = join(work, 'prof');
        rmSync(profDir, { recursive: true, force: true });
        await withMock(undefined, (mock) => timedNode(['--cpu-prof', '--cpu-prof-dir', profDir, ...generateArgs(cliPlain, mock.url, c, n, out)]));
        const split = splitProfile(profDir, cliPlain);
        const phases: Phase[] = ['start-up', 'render', 'client', 'engine', 'rows+write', 'input', 'gc', 'runtime'];
        for (const p of phases) {
          const share = split.ms[p] / split.totalMs;
          g.add({ group: 'product', name: `sdg generate C=${c}, phase ${p} (${Math.round(share * 100)}% of the profile)`, value: share * genPer, unit: 'ms/req', note: PHASE_NOTES[p] });
        }
        rmSync(out, { force: true });
        rmSync(`${out}.run`, { recursive: true, force: true });
      }
    }
  } finally {
    if (!g.flags['keep-files']) rmSync(work, { recursive: true, force: true });
  }
}

/**
 * A perfect sliding window over given latencies: C lanes, each starts the next request the
 * moment its previous one ends, requests taken in the order the server received them. Returns
 * the makespan (ms).
 */
export function perfectWindowMakespan(latencies: number[], c: number): number {
  // A binary heap of lane end times.
  const heap = new Float64Array(Math.min(c, latencies.length));
  let size = 0;
  const push = (v: number) => {
    let i = size++;
    heap[i] = v;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p] <= heap[i]) break;
      [heap[p], heap[i]] = [heap[i], heap[p]];
      i = p;
    }
  };
  const popPush = (v: number): number => {
    const top = heap[0];
    heap[0] = v;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && heap[l] < heap[m]) m = l;
      if (r < size && heap[r] < heap[m]) m = r;
      if (m === i) break;
      [heap[m], heap[i]] = [heap[i], heap[m]];
      i = m;
    }
    return top;
  };
  let makespan = 0;
  for (const lat of latencies) {
    const end = size < heap.length ? (push(lat), lat) : popPush(heap[0] + lat) + lat;
    if (end > makespan) makespan = end;
  }
  return makespan;
}

/** CPU time (ms) a process has used so far, from /proc (Linux); NaN elsewhere. */
function procCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    // utime and stime are fields 14 and 15 of the line (12 and 13 after the command), in clock ticks (100 Hz).
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

export async function windowScaling(g: GroupContext): Promise<void> {
  const n = Number(g.flags['window-requests'] ?? (g.quick ? 3000 : 20000));
  const levels = typeof g.flags['window-concurrency'] === 'string' ? g.flags['window-concurrency'].split(',').map(Number) : g.quick ? [1024] : [1024, 2048];
  for (const c of levels) {
    // The window alone (engine + run output, in-process model with the same latency model).
    const w = await runWorker<ReqResult & { latencies: number[] }>('window.ts', ['--concurrency', String(c), '--requests', String(n)]);
    const wIdeal = n / (perfectWindowMakespan(w.latencies, c) / 1000);
    const wAchieved = w.ok / (w.elapsedMs / 1000);
    g.add({ group: 'window', name: `engine alone C=${c} vs a perfect sliding window on the same latencies`, value: wAchieved, unit: 'req/s', reference: { name: 'perfect window', value: wIdeal }, ratio: wAchieved / wIdeal, target: '>= 0.97', pass: g.judge(wAchieved / wIdeal >= 0.97), note: `${n} items through runItems into a real run output, in-process model (timers), no HTTP; event-loop delay p99 ${fmt(w.loopDelay.p99Ms)} ms, max ${fmt(w.loopDelay.maxMs)} ms; CPU ${fmt(w.cpuMs / n)} ms/item` });

    let mockCpuMs = NaN;
    const { r, stats } = await withMock(undefined, async (mock) => {
      const r = await runWorker<ReqResult>('requests.ts', ['--strategy', 'product', '--url', mock.url, '--concurrency', String(c), '--requests', String(n)]);
      mockCpuMs = procCpuMs(mock.child.pid);
      return { r, stats: await mockStats(mock) };
    });
    const lat = stats.latencies ?? [];
    if (lat.length !== n || r.ok !== n) throw new Error(`window C=${c}: ${r.ok} answered, ${lat.length} latencies recorded, expected ${n}`);
    const ideal = n / (perfectWindowMakespan(lat, c) / 1000);
    const achieved = r.ok / (r.elapsedMs / 1000);
    const cores = (r.cpuMs + mockCpuMs) / r.elapsedMs;
    g.add({ group: 'window', name: `product over loopback HTTP C=${c} vs a perfect sliding window on the latencies the server drew`, value: achieved, unit: 'req/s', reference: { name: 'perfect window, same latencies', value: ideal }, ratio: achieved / ideal, target: '>= 0.97', pass: g.judge(achieved / ideal >= 0.97), note: `${n} requests; client ${fmt(r.cpuMs / n)} ms CPU/req, mock server ${fmt(mockCpuMs / n)} ms CPU/req: together ${fmt(cores)} cores of the machine's ${cpus().length} (load average ${loadavg().map((x) => x.toFixed(1)).join(' / ')} now): with other work on the cores, event-loop delay (below) is time spent waiting for a core` });
    // The same run with undici alone (Pool.request, no engine): what this machine allows over HTTP.
    const raw = await withMock(undefined, async (mock) => {
      const rr = await runWorker<ReqResult>('requests.ts', ['--strategy', 'undici-raw', '--url', mock.url, '--concurrency', String(c), '--requests', String(n)]);
      return { rr, stats: await mockStats(mock) };
    });
    const rawIdeal = n / (perfectWindowMakespan(raw.stats.latencies ?? [], c) / 1000);
    const rawAchieved = raw.rr.ok / (raw.rr.elapsedMs / 1000);
    g.add({ group: 'window', name: `undici alone over loopback HTTP C=${c} vs a perfect sliding window on its drawn latencies`, value: rawAchieved, unit: 'req/s', reference: { name: 'perfect window, same latencies', value: rawIdeal }, ratio: rawAchieved / rawIdeal, note: `the peer of the figure above, same run: event-loop delay p99 ${fmt(raw.rr.loopDelay.p99Ms)} ms, max ${fmt(raw.rr.loopDelay.maxMs)} ms` });
    g.add({ group: 'window', name: `connections opened, C=${c}`, value: stats.connections, unit: 'sockets', reference: { name: 'C', value: c }, ratio: stats.connections / c, note: `server saw at most ${stats.maxInFlight} requests in flight` });
    g.add({ group: 'window', name: `client event-loop delay p99, C=${c}`, value: r.loopDelay.p99Ms, unit: 'ms', reference: { name: 'p50', value: r.loopDelay.p50Ms }, note: `max ${fmt(r.loopDelay.maxMs)} ms (perf_hooks.monitorEventLoopDelay, 10 ms resolution); client CPU ${fmt(r.cpuMs / n)} ms/req` });
  }
}
