/** Shared helpers of the benchmark suite: child processes, the mock server, formatting. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..');

/** `node [--import tsx] <file> args...` (plain Node for .cjs), resolving with the last JSON line it prints. */
export async function runWorker<T>(file: string, args: string[], env: Record<string, string> = {}): Promise<T> {
  const loader = file.endsWith('.cjs') ? [] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...loader, join(ROOT, 'bench/workers', file), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  const [code] = await once(child, 'exit');
  const last = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (code !== 0 || !last) throw new Error(`bench worker ${file} ${args.join(' ')} failed (exit ${code}): ${out.slice(-500)}`);
  return JSON.parse(last) as T;
}

export interface MockProcess {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** The loopback mock model server in its own process, so its CPU is not the client's. */
export async function startMockProcess(options: Record<string, unknown>, script = 'test/support/mockServerMain.ts'): Promise<MockProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), '--json', JSON.stringify({ logLimit: 0, trackKeys: false, ...options })], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      const m = /MOCK_SERVER_URL=(\S+)/.exec(buf);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`mock server exited (${code}) before it was ready`)));
  });
  return {
    url,
    child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** One printed figure: what we measured, what it is compared with, and the target. */
export interface Figure {
  group: string;
  name: string;
  value: number;
  unit: string;
  /** The limit or peer measured in the same run. */
  reference?: { name: string; value: number };
  /** value / reference.value (or as defined by the figure). */
  ratio?: number;
  target?: string;
  pass?: boolean;
  note?: string;
}

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return n.toFixed(0);
  if (a >= 100) return n.toFixed(1);
  if (a >= 1) return n.toFixed(2);
  return n.toFixed(3);
}

export function printTable(figures: Figure[]): void {
  const rows = figures.map((f) => [
    f.group,
    f.name,
    `${fmt(f.value)} ${f.unit}`,
    f.reference ? `${f.reference.name}: ${fmt(f.reference.value)} ${f.unit}` : '',
    f.ratio !== undefined ? fmt(f.ratio) : '',
    f.target ?? '',
    f.pass === undefined ? '' : f.pass ? 'ok' : 'MISS',
  ]);
  const head = ['group', 'figure', 'measured', 'peer / limit (same run)', 'ratio', 'target', ''];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  for (const f of figures.filter((x) => x.note)) console.log(`  note (${f.name}): ${f.note}`);
}

export function parseFlags(argv: string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[a.slice(2)] = next;
      i++;
    } else out[a.slice(2)] = true;
  }
  return out;
}

/** The mock's stats (`GET /mock/stats`), with the latencies it drew when started with `recordLatencies`. */
export async function mockStats(mock: MockProcess): Promise<{ completed: number; connections: number; maxInFlight: number; latencies?: number[] }> {
  const res = await fetch(new URL('/mock/stats', mock.url));
  return (await res.json()) as { completed: number; connections: number; maxInFlight: number; latencies?: number[] };
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}
