/**
 * `sdg metrics`: accuracy of graded generations, per dataset.
 *
 * Samples are grouped per problem (by `input_index`, else the problem text) and ordered by
 * (seed, sample_index, position in the file): the first one is the "greedy" sample and maj@k
 * votes over the first k. pass@k uses the unbiased estimator of Chen et al. (2021),
 * 1 - C(n-c, k) / C(n, k), averaged over problems. Only a few numbers per sample are kept in
 * memory, in typed columns (./columns.ts), and each distinct answer once: millions of rows fit.
 */
import { basename } from 'node:path';
import { readJsonl, problemKey } from './jsonl';
import { AnswerClusters } from './clusters';
import { Column, Interner, groupRows } from './columns';

interface Sample {
  correct: boolean;
  answer: string | null;
}

export interface DatasetMetrics {
  dataset: string;
  problems: number;
  samples: number;
  /** Fewest and most samples of any problem. */
  minSamples: number;
  maxSamples: number;
  /** Accuracy of the first sample (lowest seed / sample_index) per problem. */
  greedy: number;
  ks: number[];
  passAtK: Record<string, number>;
  majAtK: Record<string, number>;
  /** Share of problems with at least one correct sample. */
  anyCorrect: number;
  /** Samples that failed to generate (`error` set or no generation). */
  failed: number;
  /** Generated samples without an extractable answer. */
  noAnswer: number;
}

/** Unbiased pass@k for one problem with n samples, c correct. */
export function passAtK(n: number, c: number, k: number): number {
  if (k > n) k = n;
  if (n - c < k) return 1;
  // 1 - prod_{i=n-c+1}^{n} (1 - k/i), numerically stable.
  let prod = 1;
  for (let i = n - c + 1; i <= n; i++) prod *= 1 - k / i;
  return 1 - prod;
}

/** k = 1, 2, 4, ... up to n, plus n itself when it is not a power of two. */
export function kValues(n: number): number[] {
  const ks: number[] = [];
  for (let k = 1; k <= n; k *= 2) ks.push(k);
  if (n > 0 && ks[ks.length - 1] !== n) ks.push(n);
  return ks;
}

function num(v: unknown, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** maj@k for each k: is the most voted answer among the first k samples correct? */
function majorityCorrect(samples: Sample[], ks: number[]): boolean[] {
  const clusters = new AnswerClusters();
  const clusterCorrect: boolean[] = [];
  const out: boolean[] = [];
  let ki = 0;
  for (let i = 0; i < samples.length && ki < ks.length; i++) {
    const idx = clusters.add(samples[i].answer);
    // A cluster is as correct as its first member (equivalence is graded against the same reference).
    if (idx >= 0 && clusterCorrect[idx] === undefined) clusterCorrect[idx] = samples[i].correct;
    while (ki < ks.length && ks[ki] === i + 1) {
      const w = clusters.winner();
      out.push(w !== null && clusterCorrect[w.index] === true);
      ki++;
    }
  }
  while (out.length < ks.length) out.push(out[out.length - 1] ?? false);
  return out;
}

export interface MetricsOptions {
  files: string[];
  /** Row field that names the group (default `dataset`); rows without it are grouped by file name. */
  groupBy?: string;
  onWarning?: (message: string) => void;
}

export async function computeMetrics(options: MetricsOptions): Promise<DatasetMetrics[]> {
  const groupBy = options.groupBy ?? 'dataset';
  // Per row: its problem, seed, sample_index, answer id, correctness. Per problem: its dataset.
  const problemOf = new Column((n) => new Uint32Array(n));
  const seeds = new Column((n) => new Float64Array(n));
  const sampleIndexes = new Column((n) => new Float64Array(n));
  const answerOf = new Column((n) => new Int32Array(n));
  const correctOf = new Column((n) => new Uint8Array(n));
  const problemIds = new Map<string, number>();
  const datasetOfProblem = new Column((n) => new Uint32Array(n));
  const datasetIds = new Map<string, number>();
  const datasetNames: string[] = [];
  const failures: Array<{ failed: number; noAnswer: number }> = [];
  const answers = new Interner();
  for (const file of options.files) {
    for await (const { row, line } of readJsonl(file, {
      onTornLine: (f, l) => options.onWarning?.(`${f}:${l}: skipped a torn last line`),
    })) {
      const g = row[groupBy];
      const named = (typeof g === 'string' && g !== '') || typeof g === 'number';
      const ds = named ? String(g) : basename(file);
      let dsId = datasetIds.get(ds);
      if (dsId === undefined) {
        dsId = datasetNames.length;
        datasetIds.set(ds, dsId);
        datasetNames.push(ds);
        failures.push({ failed: 0, noAnswer: 0 });
      }
      const key = `${dsId}\u0000${problemKey(row)}`;
      let pid = problemIds.get(key);
      if (pid === undefined) {
        pid = problemIds.size;
        problemIds.set(key, pid);
        datasetOfProblem.push(dsId);
      }
      if (row.is_correct === undefined) throw new Error(`${file}:${line}: row has no "is_correct": run \`sdg grade\` first`);
      const f = failures[dsId];
      if ((row.error !== undefined && row.error !== null) || row.generation === null) f.failed++;
      else if (row.predicted_answer === null || row.predicted_answer === undefined) f.noAnswer++;
      problemOf.push(pid);
      seeds.push(num(row.seed, -Infinity));
      sampleIndexes.push(num(row.sample_index, -Infinity));
      answerOf.push(answers.id(typeof row.predicted_answer === 'string' ? row.predicted_answer : null));
      correctOf.push(row.is_correct === true ? 1 : 0);
    }
  }
  const problemCount = problemIds.size;
  problemIds.clear();
  answers.clear();
  const { rows, start } = groupRows(problemOf, problemCount);
  // Sample counts per dataset: k goes up to the smallest problem's count.
  const minN = datasetNames.map(() => Infinity);
  const maxN = datasetNames.map(() => 0);
  const totals = datasetNames.map(() => 0);
  const problemsPer = datasetNames.map(() => 0);
  for (let p = 0; p < problemCount; p++) {
    const d = datasetOfProblem.get(p);
    const n = start[p + 1] - start[p];
    minN[d] = Math.min(minN[d], n);
    maxN[d] = Math.max(maxN[d], n);
    totals[d] += n;
    problemsPer[d]++;
  }
  const ks = datasetNames.map((name, d) => {
    if (minN[d] !== maxN[d]) options.onWarning?.(`${name}: problems have between ${minN[d]} and ${maxN[d]} samples; k goes up to ${minN[d]}`);
    return kValues(minN[d]);
  });
  const pass = ks.map((k) => new Array<number>(k.length).fill(0));
  const maj = ks.map((k) => new Array<number>(k.length).fill(0));
  const greedy = datasetNames.map(() => 0);
  const any = datasetNames.map(() => 0);
  for (let p = 0; p < problemCount; p++) {
    const d = datasetOfProblem.get(p);
    // The problem's rows ordered (seed, sample_index, arrival): the group is in arrival order already.
    const order = Array.from(rows.subarray(start[p], start[p + 1]));
    order.sort((a, b) => seeds.get(a) - seeds.get(b) || sampleIndexes.get(a) - sampleIndexes.get(b) || a - b);
    const samples: Sample[] = order.map((i) => ({ correct: correctOf.get(i) === 1, answer: answerOf.get(i) < 0 ? null : answers.values[answerOf.get(i)] }));
    const n = samples.length;
    const c = samples.reduce((acc, s) => acc + (s.correct ? 1 : 0), 0);
    if (samples[0].correct) greedy[d]++;
    if (c > 0) any[d]++;
    ks[d].forEach((k, i) => (pass[d][i] += passAtK(n, c, k)));
    majorityCorrect(samples, ks[d]).forEach((ok, i) => (maj[d][i] += ok ? 1 : 0));
  }
  return datasetNames.map((dataset, d) => {
    const p = problemsPer[d];
    return {
      dataset,
      problems: p,
      samples: totals[d],
      minSamples: minN[d],
      maxSamples: maxN[d],
      greedy: greedy[d] / p,
      ks: ks[d],
      passAtK: Object.fromEntries(ks[d].map((k, i) => [String(k), pass[d][i] / p])),
      majAtK: Object.fromEntries(ks[d].map((k, i) => [String(k), maj[d][i] / p])),
      anyCorrect: any[d] / p,
      failed: failures[d].failed,
      noAnswer: failures[d].noAnswer,
    };
  });
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** Human-readable table, one block per dataset. */
export function formatMetrics(results: DatasetMetrics[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const per = r.minSamples === r.maxSamples ? `${r.minSamples}` : `${r.minSamples}-${r.maxSamples}`;
    lines.push(`${r.dataset}: ${r.problems} problems, ${r.samples} samples (${per} per problem)`);
    lines.push(`  greedy accuracy   ${pct(r.greedy).padStart(8)}`);
    lines.push(`  ${'k'.padEnd(6)}${'pass@k'.padStart(10)}${'maj@k'.padStart(10)}`);
    for (const k of r.ks) lines.push(`  ${String(k).padEnd(6)}${pct(r.passAtK[k]).padStart(10)}${pct(r.majAtK[k]).padStart(10)}`);
    lines.push(`  any correct       ${pct(r.anyCorrect).padStart(8)}`);
    if (r.failed || r.noAnswer) lines.push(`  ${r.failed} failed generations, ${r.noAnswer} without an answer (both count as wrong)`);
  }
  return lines.join('\n');
}
