/**
 * `sdg metrics`: accuracy of graded generations, per dataset.
 *
 * Samples are grouped per problem (by `input_index`, else the problem text) and ordered by
 * (seed, sample_index, position in the file): the first one is the "greedy" sample and maj@k
 * votes over the first k. pass@k uses the unbiased estimator of Chen et al. (2021),
 * 1 - C(n-c, k) / C(n, k), averaged over problems. Only a few numbers per sample are kept in
 * memory (not the rows), so millions of rows fit.
 */
import { basename } from 'node:path';
import { readJsonl, problemKey } from './jsonl';
import { AnswerClusters } from './clusters';

interface Sample {
  seed: number;
  sampleIndex: number;
  ordinal: number;
  correct: boolean;
  answer: string | null;
}

/**
 * One problem's samples, packed: 4 numbers a sample in one array (seed, sample_index, arrival,
 * answer id * 2 + correct) and each distinct answer string once. ~32 bytes a sample instead of
 * an object and a string each, so tens of millions of rows fit.
 */
class ProblemSamples {
  private readonly data: number[] = [];
  private readonly answers: string[] = [];
  private readonly answerIds = new Map<string, number>();

  get length(): number {
    return this.data.length / 4;
  }

  add(seed: number, sampleIndex: number, ordinal: number, correct: boolean, answer: string | null): void {
    let id = 0;
    if (answer !== null) {
      let known = this.answerIds.get(answer);
      if (known === undefined) {
        known = this.answers.length + 1;
        this.answers.push(answer);
        this.answerIds.set(answer, known);
      }
      id = known;
    }
    this.data.push(seed, sampleIndex, ordinal, id * 2 + (correct ? 1 : 0));
  }

  /** The samples as objects, ordered (seed, sample_index, arrival): only one problem at a time. */
  sorted(): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < this.data.length; i += 4) {
      const packed = this.data[i + 3];
      const id = Math.floor(packed / 2);
      out.push({ seed: this.data[i], sampleIndex: this.data[i + 1], ordinal: this.data[i + 2], correct: packed % 2 === 1, answer: id === 0 ? null : this.answers[id - 1] });
    }
    return out.sort((a, b) => a.seed - b.seed || a.sampleIndex - b.sampleIndex || a.ordinal - b.ordinal);
  }
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
  const datasets = new Map<string, Map<string, ProblemSamples>>();
  const failures = new Map<string, { failed: number; noAnswer: number }>();
  let arrival = 0;
  for (const file of options.files) {
    for await (const { row, line } of readJsonl(file, {
      onTornLine: (f, l) => options.onWarning?.(`${f}:${l}: skipped a torn last line`),
    })) {
      const g = row[groupBy];
      const named = (typeof g === 'string' && g !== '') || typeof g === 'number';
      const ds = named ? String(g) : basename(file);
      let problems = datasets.get(ds);
      if (!problems) datasets.set(ds, (problems = new Map()));
      const key = problemKey(row);
      let samples = problems.get(key);
      if (!samples) problems.set(key, (samples = new ProblemSamples()));
      if (row.is_correct === undefined) throw new Error(`${file}:${line}: row has no "is_correct": run \`sdg grade\` first`);
      let f = failures.get(ds);
      if (!f) failures.set(ds, (f = { failed: 0, noAnswer: 0 }));
      if ((row.error !== undefined && row.error !== null) || row.generation === null) f.failed++;
      else if (row.predicted_answer === null || row.predicted_answer === undefined) f.noAnswer++;
      samples.add(num(row.seed, -Infinity), num(row.sample_index, -Infinity), arrival++, row.is_correct === true,
        typeof row.predicted_answer === 'string' ? row.predicted_answer : null);
    }
  }
  const results: DatasetMetrics[] = [];
  for (const [dataset, problems] of datasets) {
    let minN = Infinity;
    let maxN = 0;
    let total = 0;
    for (const s of problems.values()) {
      minN = Math.min(minN, s.length);
      maxN = Math.max(maxN, s.length);
      total += s.length;
    }
    if (minN !== maxN) options.onWarning?.(`${dataset}: problems have between ${minN} and ${maxN} samples; k goes up to ${minN}`);
    const ks = kValues(minN);
    const pass = new Array<number>(ks.length).fill(0);
    const maj = new Array<number>(ks.length).fill(0);
    let greedy = 0;
    let any = 0;
    for (const packed of problems.values()) {
      const samples = packed.sorted();
      const n = samples.length;
      const c = samples.reduce((acc, s) => acc + (s.correct ? 1 : 0), 0);
      if (samples[0].correct) greedy++;
      if (c > 0) any++;
      ks.forEach((k, i) => (pass[i] += passAtK(n, c, k)));
      majorityCorrect(samples, ks).forEach((ok, i) => (maj[i] += ok ? 1 : 0));
    }
    const p = problems.size;
    results.push({
      dataset,
      problems: p,
      samples: total,
      minSamples: minN,
      maxSamples: maxN,
      greedy: greedy / p,
      ks,
      passAtK: Object.fromEntries(ks.map((k, i) => [String(k), pass[i] / p])),
      majAtK: Object.fromEntries(ks.map((k, i) => [String(k), maj[i] / p])),
      anyCorrect: any / p,
      failed: failures.get(dataset)?.failed ?? 0,
      noAnswer: failures.get(dataset)?.noAnswer ?? 0,
    });
  }
  return results;
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
