/**
 * Splits a V8 CPU profile (`node --cpu-prof`) of the unminified CLI bundle into the phases of the
 * product path. esbuild marks each module's code in the bundle with a `// src/...` comment line,
 * so every profiled line maps back to its source module. A sample counts for the first phase
 * found walking up its stack (a socket write called by the client is client time); samples with
 * no product frame on their stack are the runtime's own (event loop, socket reads, timers) or GC.
 *
 *   npx tsx bench/profileSplit.ts <profile dir or .cpuprofile> <bundle.js>
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] }

export type Phase = 'start-up' | 'render' | 'client' | 'engine' | 'rows+write' | 'input' | 'pipeline' | 'gc' | 'runtime' | 'idle';

/** Which phase a source module belongs to. */
function phaseOfModule(mod: string): Phase | null {
  if (mod.startsWith('src/core/prompts/') || mod === 'src/core/pipeline/templates.ts') return 'render';
  if (mod.startsWith('src/core/llm/') || mod.startsWith('node_modules/undici/')) return 'client';
  if (mod.startsWith('src/core/engine/')) return 'engine';
  if (mod.startsWith('src/core/io/') || mod.startsWith('src/core/run/') || mod === 'src/core/generate/rows.ts' || mod === 'src/core/pipeline/rows.ts') return 'rows+write';
  if (mod.startsWith('src/core/datasets/')) return 'input';
  if (mod.startsWith('src/core/pipeline/')) return 'pipeline';
  return null;
}

export interface PhaseSplit {
  /** Milliseconds of CPU per phase (idle excluded from the total). */
  ms: Record<Phase, number>;
  totalMs: number;
}

export function splitProfile(profilePath: string, bundlePath: string): PhaseSplit {
  const file = statSync(profilePath).isDirectory()
    ? join(profilePath, readdirSync(profilePath).find((f) => f.endsWith('.cpuprofile'))!)
    : profilePath;
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const marks: Array<[number, string]> = [];
  readFileSync(bundlePath, 'utf8').split('\n').forEach((l, i) => {
    const m = /^\/\/ ((?:src|node_modules)\/\S+)$/.exec(l);
    if (m) marks.push([i, m[1]]);
  });
  const bundleName = bundlePath.split('/').pop()!;
  const moduleAt = (line: number): string => {
    let lo = 0;
    let hi = marks.length - 1;
    let found = '?';
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= line) { found = marks[mid][1]; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  };
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of prof.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const phaseCache = new Map<number, Phase>();
  const phaseOf = (id: number): Phase => {
    const cached = phaseCache.get(id);
    if (cached) return cached;
    const n = byId.get(id)!;
    const name = n.callFrame.functionName;
    let phase: Phase;
    if (name === '(idle)') phase = 'idle';
    else if (name === '(garbage collector)') phase = 'gc';
    else {
      phase = 'runtime';
      // Walk up: the nearest product frame decides; module loading is start-up.
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const cf = byId.get(cur)!.callFrame;
        if (cf.url.startsWith('node:internal/modules/') || cf.functionName === 'compileForInternalLoader') { phase = 'start-up'; break; }
        if (cf.url.endsWith(bundleName)) {
          const p = phaseOfModule(moduleAt(cf.lineNumber));
          if (p) { phase = p; break; }
        }
      }
    }
    phaseCache.set(id, phase);
    return phase;
  };
  const ms = { 'start-up': 0, render: 0, client: 0, engine: 0, 'rows+write': 0, input: 0, pipeline: 0, gc: 0, runtime: 0, idle: 0 } as Record<Phase, number>;
  for (let i = 0; i < prof.samples.length; i++) ms[phaseOf(prof.samples[i])] += (prof.timeDeltas[i] ?? 0) / 1000;
  const totalMs = Object.entries(ms).reduce((s, [k, v]) => (k === 'idle' ? s : s + v), 0);
  return { ms, totalMs };
}

if (require.main === module) {
  const [profile, bundle] = process.argv.slice(2);
  const { ms, totalMs } = splitProfile(profile, bundle);
  for (const [k, v] of Object.entries(ms).sort((a, b) => b[1] - a[1])) {
    if (k !== 'idle') console.log(`${k.padEnd(11)} ${v.toFixed(0).padStart(6)} ms  ${((100 * v) / totalMs).toFixed(1).padStart(5)}%`);
  }
  console.log(`busy total  ${totalMs.toFixed(0).padStart(6)} ms (idle ${ms.idle.toFixed(0)} ms)`);
}
