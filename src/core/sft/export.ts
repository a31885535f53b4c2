/**
 * `sdg export-sft`: graded generations -> SFT training JSONL, through a chain of filters whose
 * removals are counted one by one (the summary table).
 *
 * Filters, in order:
 *   failed        error rows and rows without a generation
 *   incorrect     is_correct !== true (kept and flagged with --include-incorrect)
 *   contaminated  the problem shares an n-gram with a test set (--contamination FILE)
 *   multi-boxed   several different \boxed answers in one solution
 *   duplicate     the same solution (whitespace-normalised) already kept for the problem
 *   length        length outliers (IQR or percentiles, per problem or global; characters)
 *   cap           more than --max-per-problem solutions: deterministic seeded downsampling
 *
 * Two streaming passes over the inputs, no ordering assumed: the first builds a compact index
 * (per row: problem id, length, rank, verdict; per problem: its surviving row ids) and decides;
 * the second re-reads the files and writes the rows that survived. Rows are never held in memory.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { readJsonl, withJsonlWriter, problemKey } from '../math/jsonl';
import { allBoxed } from '../math/extract';
import { AnswerClusters } from '../math/clusters';
import { ContaminationIndex, type ContaminationSource } from './contamination';
import { SftRenderer, type SftFormatOptions } from './format';

export type LengthFilter = 'none' | 'iqr' | 'percentile';
export type LengthScope = 'problem' | 'global';

export interface ExportSftOptions extends Partial<SftFormatOptions> {
  inputs: string[];
  output: string;
  includeIncorrect?: boolean;
  dedup?: boolean;
  dropMultipleBoxed?: boolean;
  lengthFilter?: LengthFilter;
  lengthScope?: LengthScope;
  /** IQR fences: [Q1 - k*IQR, Q3 + k*IQR]. Default 1.5. */
  iqrFactor?: number;
  /** Percentile window kept, inclusive. Default [1, 99]. */
  percentiles?: [number, number];
  /** Per-problem length filtering only applies to problems with at least this many solutions. Default 4. */
  minGroupForLength?: number;
  contamination?: ContaminationSource[];
  ngram?: number;
  maxPerProblem?: number;
  seed?: number;
  onWarning?: (message: string) => void;
}

export const FILTER_NAMES = ['failed', 'incorrect', 'contaminated', 'multi-boxed', 'duplicate', 'length', 'cap'] as const;
export type FilterName = (typeof FILTER_NAMES)[number];

export interface ExportSftSummary {
  inputRows: number;
  problems: number;
  removed: Record<FilterName, number>;
  contaminatedProblems: number;
  /** Incorrect solutions written (flagged), with --include-incorrect. */
  incorrectKept: number;
  written: number;
  problemsWritten: number;
}

const KEPT = 0;
/** Verdict codes: index in FILTER_NAMES + 1. */
const CODE: Record<FilterName, number> = Object.fromEntries(FILTER_NAMES.map((n, i) => [n, i + 1])) as Record<FilterName, number>;

function hash52(s: string): number {
  return bits52(createHash('sha1').update(s).digest(), 0);
}

function bits52(d: Buffer, at: number): number {
  return (d.readUInt32BE(at) & 0xfffff) * 0x100000000 + d.readUInt32BE(at + 4);
}

/** A 32-bit integer mix (murmur3 finaliser): spreads (hash bits, seed) into a rank. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** How many different (non-equivalent) answers the solution's boxes hold. */
export function distinctBoxedAnswers(text: string): number {
  const boxes = allBoxed(text);
  if (boxes.length < 2) return boxes.length;
  const clusters = new AnswerClusters();
  for (const b of boxes) clusters.add(b);
  return clusters.clusters.length;
}

/** Linear-interpolated quantile (numpy's default) of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

/** [min, max] kept lengths for a group, or null to keep all. */
export function lengthBounds(lengths: number[], filter: LengthFilter, iqrFactor: number, percentiles: [number, number]): [number, number] | null {
  if (filter === 'none' || lengths.length === 0) return null;
  const sorted = [...lengths].sort((a, b) => a - b);
  if (filter === 'iqr') {
    const q1 = quantile(sorted, 0.25);
    const q3 = quantile(sorted, 0.75);
    const iqr = q3 - q1;
    return [q1 - iqrFactor * iqr, q3 + iqrFactor * iqr];
  }
  return [quantile(sorted, percentiles[0] / 100), quantile(sorted, percentiles[1] / 100)];
}

type TypedArray = Float64Array | Uint32Array | Uint8Array;

/** Grows like an array but stores numbers in a typed array (no object per row). */
class NumberColumn<T extends TypedArray> {
  private data: T;
  length = 0;
  constructor(private readonly make: (n: number) => T) {
    this.data = make(1024);
  }
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = this.make(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  get(i: number): number { return this.data[i]; }
  set(i: number, v: number): void { this.data[i] = v; }
}

export async function exportSft(options: ExportSftOptions): Promise<ExportSftSummary> {
  if (options.inputs.length === 0) throw new Error('export-sft needs at least one --input file');
  if (options.inputs.some((f) => resolve(f) === resolve(options.output))) throw new Error(`--output ${options.output} is also an input: write the SFT data to another file`);
  const renderer = new SftRenderer({ format: options.format ?? 'messages', ...options } as SftFormatOptions);
  const genField = options.generationField ?? 'generation';
  const lengthFilter = options.lengthFilter ?? 'iqr';
  const lengthScope = options.lengthScope ?? 'problem';
  const iqrFactor = options.iqrFactor ?? 1.5;
  const percentiles = options.percentiles ?? [1, 99];
  const minGroup = options.minGroupForLength ?? 4;
  const dedup = options.dedup ?? true;
  const dropMulti = options.dropMultipleBoxed ?? true;
  const seed = options.seed ?? 0;
  if (!['none', 'iqr', 'percentile'].includes(lengthFilter)) throw new Error(`length filter must be none, iqr or percentile (got ${JSON.stringify(lengthFilter)})`);
  if (!['problem', 'global'].includes(lengthScope)) throw new Error(`length scope must be problem or global (got ${JSON.stringify(lengthScope)})`);
  if (!(percentiles[0] >= 0 && percentiles[1] <= 100 && percentiles[0] <= percentiles[1])) throw new Error(`percentiles must satisfy 0 <= low <= high <= 100 (got ${percentiles.join(', ')})`);
  if (options.maxPerProblem !== undefined && !(Number.isInteger(options.maxPerProblem) && options.maxPerProblem >= 1)) {
    throw new Error(`max per problem must be a positive integer (got ${options.maxPerProblem})`);
  }

  let contamination: ContaminationIndex | null = null;
  if (options.contamination?.length) {
    contamination = new ContaminationIndex(options.ngram ?? 13);
    for (const src of options.contamination) await contamination.addFile(src);
  }

  const summary: ExportSftSummary = {
    inputRows: 0, problems: 0, removed: Object.fromEntries(FILTER_NAMES.map((n) => [n, 0])) as Record<FilterName, number>,
    contaminatedProblems: 0, incorrectKept: 0, written: 0, problemsWritten: 0,
  };

  // ---- pass 1: index and per-row verdicts
  // 1 + 4 + 8 bytes a row: verdict code, length (chars), downsampling rank (52 bits).
  const verdict = new NumberColumn((n) => new Uint8Array(n));
  const lengths = new NumberColumn((n) => new Uint32Array(n));
  const ranks = new NumberColumn((n) => new Float64Array(n));
  const problemIds = new Map<string, number>();
  const problemContaminated: boolean[] = [];
  const survivors: number[][] = [];
  const seen = new Set<number>();
  const torn = (f: string, l: number) => options.onWarning?.(`${f}:${l}: skipped a torn last line`);
  let lastProblem: string | null = null;
  let lastProblemKey = '';
  let checkedTemplate = false;
  for (const file of options.inputs) {
    for await (const { row, line } of readJsonl(file, { onTornLine: torn })) {
      const id = summary.inputRows++;
      // Same problem text = same problem, across files and runs; hashed so no texts are kept.
      // Rows of one problem usually come together: reuse the previous row's hash.
      let pkey: string;
      if (typeof row.problem === 'string') {
        if (row.problem !== lastProblem) { lastProblem = row.problem; lastProblemKey = `h${hash52(row.problem)}`; }
        pkey = lastProblemKey;
      } else pkey = problemKey(row);
      let pid = problemIds.get(pkey);
      if (pid === undefined) {
        pid = problemIds.size;
        problemIds.set(pkey, pid);
        problemContaminated.push(contamination !== null && typeof row.problem === 'string' && contamination.contains(row.problem));
        survivors.push([]);
      }
      const gen = row[genField];
      const text = typeof gen === 'string' ? gen.trim() : '';
      lengths.push(text.length);
      // One digest per row: its first 52 bits identify the solution (dedup), the next 64 give
      // its downsampling rank, mixed with the seed.
      const digest = createHash('sha1').update(pkey).update('\u0000').update(text.replace(/\s+/g, ' ')).digest();
      const solutionId = bits52(digest, 0);
      ranks.push(mix32(digest.readUInt32BE(8) ^ mix32(seed)) * 0x100000 + (mix32(digest.readUInt32BE(12) ^ seed) & 0xfffff));
      let v: number = KEPT;
      if ((row.error !== undefined && row.error !== null) || !text) v = CODE.failed;
      else if (row.is_correct === undefined) throw new Error(`${file}:${line}: row has no "is_correct": run \`sdg grade\` first`);
      else if (row.is_correct !== true && !options.includeIncorrect) v = CODE.incorrect;
      else if (problemContaminated[pid]) v = CODE.contaminated;
      else if (dropMulti && distinctBoxedAnswers(text) > 1) v = CODE['multi-boxed'];
      else if (dedup) {
        if (seen.has(solutionId)) v = CODE.duplicate;
        else seen.add(solutionId);
      }
      verdict.push(v);
      if (v === KEPT) {
        // Fail on a bad --prompt-template now, not after a whole first pass.
        if (!checkedTemplate) { renderer.render(row); checkedTemplate = true; }
        survivors[pid].push(id);
      }
    }
  }
  seen.clear();
  summary.problems = problemIds.size;
  problemIds.clear();
  summary.contaminatedProblems = problemContaminated.filter(Boolean).length;

  // ---- decisions: length outliers, then the per-problem cap
  const mark = (id: number, v: number) => verdict.set(id, v);
  if (lengthFilter !== 'none') {
    if (lengthScope === 'global') {
      const all: number[] = [];
      for (const ids of survivors) for (const id of ids) all.push(lengths.get(id));
      const b = lengthBounds(all, lengthFilter, iqrFactor, percentiles);
      if (b) for (const ids of survivors) for (const id of ids) if (lengths.get(id) < b[0] || lengths.get(id) > b[1]) mark(id, CODE.length);
    } else {
      for (const ids of survivors) {
        if (ids.length < minGroup) continue;
        const b = lengthBounds(ids.map((id) => lengths.get(id)), lengthFilter, iqrFactor, percentiles);
        if (b) for (const id of ids) if (lengths.get(id) < b[0] || lengths.get(id) > b[1]) mark(id, CODE.length);
      }
    }
  }
  for (let p = 0; p < survivors.length; p++) {
    let ids = survivors[p].filter((id) => verdict.get(id) === KEPT);
    if (options.maxPerProblem !== undefined && ids.length > options.maxPerProblem) {
      // Order by a seeded hash of the solution text: every solution equally likely to stay,
      // the same choice whatever the input order.
      const sorted = [...ids].sort((a, b) => ranks.get(a) - ranks.get(b) || a - b);
      for (const id of sorted.slice(options.maxPerProblem)) mark(id, CODE.cap);
      ids = sorted.slice(0, options.maxPerProblem);
    }
    if (ids.length > 0) summary.problemsWritten++;
    survivors[p] = [];
  }
  for (let id = 0; id < summary.inputRows; id++) {
    const v = verdict.get(id);
    if (v !== KEPT) summary.removed[FILTER_NAMES[v - 1]]++;
  }

  // ---- pass 2: write the survivors in input order
  await withJsonlWriter(options.output, async (out) => {
    let id = 0;
    for (const file of options.inputs) {
      for await (const { row } of readJsonl(file, { onTornLine: () => undefined })) {
        if (id >= summary.inputRows) throw new Error(`${file} grew while exporting; run again on a finished file`);
        if (verdict.get(id++) !== KEPT) continue;
        const record = renderer.render(row);
        if (options.includeIncorrect) {
          record.is_correct = row.is_correct === true;
          if (row.is_correct !== true) summary.incorrectKept++;
        }
        await out.write(record);
        summary.written++;
      }
    }
  });
  return summary;
}

/** The summary as a table: what each filter removed and what remained. */
export function formatSftSummary(s: ExportSftSummary): string {
  const lines = [`${'step'.padEnd(14)}${'removed'.padStart(10)}${'remaining'.padStart(12)}`];
  let remaining = s.inputRows;
  lines.push(`${'input'.padEnd(14)}${''.padStart(10)}${String(remaining).padStart(12)}`);
  for (const name of FILTER_NAMES) {
    remaining -= s.removed[name];
    lines.push(`${name.padEnd(14)}${String(s.removed[name]).padStart(10)}${String(remaining).padStart(12)}`);
  }
  lines.push(`${s.written} solutions for ${s.problemsWritten} of ${s.problems} problems written` +
    (s.contaminatedProblems ? `; ${s.contaminatedProblems} problems overlap the test set` : '') +
    (s.incorrectKept ? `; ${s.incorrectKept} incorrect solutions kept (flagged is_correct: false)` : ''));
  return lines.join('\n');
}
