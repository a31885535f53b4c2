/**
 * `sdg export-sft`: graded generations -> SFT training JSONL, through a chain of filters whose
 * removals are counted one by one (the summary table).
 *
 * Filters, in order (NeMo-Skills' prepare_sft_data names in brackets):
 *   failed        error rows and rows without a generation
 *   code-error    code execution failed: execution flags, Traceback / error output [remove_code_errors]
 *   incorrect     is_correct !== true (kept and flagged with --include-incorrect; --incorrect-only
 *                 keeps only those [add_incorrect])
 *   contaminated  the problem shares an n-gram with a test set (--contamination FILE)
 *   multi-boxed   several different \boxed answers in one solution [drop_multi_boxed]
 *   arithmetic    a wrong `a op b = c` statement (--drop-incorrect-arithmetic) [drop_incorrect_arithmetic]
 *   duplicate     the same solution (whitespace-normalised) already kept for the problem
 *   tokens        solution (or problem) token count outside --min/--max-solution-tokens,
 *                 --max-problem-tokens, with --tokenizer [remove_len_outlier_*]
 *   length        length outliers (IQR or percentiles, per problem or global; characters)
 *   cap           more than --max-per-problem solutions: deterministic seeded downsampling
 *   downsample    more than --max-total solutions in all: fair (round-robin over problems) or
 *                 random [downsampling_method, num_output_samples]
 * --trim-solutions cuts each solution after the line of its final boxed answer first [trim_solutions].
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
import { codeExecutionError, incorrectArithmetic, loadTokenizer, trimAfterFinalAnswer, type SolutionTokenizer } from './filters';
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
  /** Drop solutions whose code execution failed. Default true. */
  dropCodeErrors?: boolean;
  /** Keep only incorrect solutions (for preference / error data). */
  incorrectOnly?: boolean;
  /** Cut each solution after the line holding its final boxed answer. */
  trimSolutions?: boolean;
  /** Drop solutions with a wrong `a op b = c` statement. */
  dropIncorrectArithmetic?: boolean;
  /** A tokenizer.json (or its folder) for the token limits. */
  tokenizer?: string;
  minSolutionTokens?: number;
  maxSolutionTokens?: number;
  maxProblemTokens?: number;
  /** Keep at most this many solutions in all. */
  maxTotal?: number;
  /** How --max-total picks: round-robin over problems (fair, default) or uniformly (random). */
  downsample?: DownsampleMethod;
  /** Constant fields added to every record (e.g. {dataset: "math", generation_type: "text"}). */
  metadata?: Record<string, unknown>;
  onWarning?: (message: string) => void;
}

export type DownsampleMethod = 'fair' | 'random';

export const FILTER_NAMES = ['failed', 'code-error', 'incorrect', 'contaminated', 'multi-boxed', 'arithmetic', 'duplicate', 'tokens', 'length', 'cap', 'downsample'] as const;
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
  // Listed boxes (`\boxed{3} 4090s and \boxed{2} 4080s`) count as several, as NeMo-Skills'
  // DropMultiBoxed counts them: a solution that boxes parts is not clean SFT data.
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
  for (const [name, v] of [['max total', options.maxTotal], ['min solution tokens', options.minSolutionTokens], ['max solution tokens', options.maxSolutionTokens], ['max problem tokens', options.maxProblemTokens]] as const) {
    if (v !== undefined && !(Number.isInteger(v) && v >= (name === 'min solution tokens' ? 0 : 1))) throw new Error(`${name} must be a positive integer (got ${v})`);
  }
  const downsample = options.downsample ?? 'fair';
  if (downsample !== 'fair' && downsample !== 'random') throw new Error(`downsampling must be fair or random (got ${JSON.stringify(downsample)})`);
  if (options.incorrectOnly && options.includeIncorrect) throw new Error('--incorrect-only and --include-incorrect exclude each other');
  const tokenLimits = options.minSolutionTokens !== undefined || options.maxSolutionTokens !== undefined || options.maxProblemTokens !== undefined;
  if (tokenLimits && !options.tokenizer) throw new Error('token limits need --tokenizer (a tokenizer.json or the folder holding it)');
  const tokenizer: SolutionTokenizer | null = options.tokenizer ? loadTokenizer(options.tokenizer) : null;
  const dropCodeErrors = options.dropCodeErrors ?? true;
  const trim = options.trimSolutions === true;
  const problemTokens = new Map<number, boolean>();

  let contamination: ContaminationIndex | null = null;
  if (options.contamination?.length) {
    contamination = new ContaminationIndex(options.ngram ?? 13);
    for (const src of options.contamination) await contamination.addFile(src);
  }

  const summary: ExportSftSummary = {
    inputRows: 0, problems: 0, removed: Object.fromEntries(FILTER_NAMES.map((n) => [n, 0])) as Record<FilterName, number>,
    contaminatedProblems: 0, incorrectKept: 0, written: 0, problemsWritten: 0,
  };

  /** Solution tokens within [min, max]; the problem's tokens (counted once per problem) within max. */
  const withinTokenLimits = (tok: SolutionTokenizer, text: string, row: Record<string, unknown>, pid: number): boolean => {
    if (options.maxProblemTokens !== undefined) {
      let ok = problemTokens.get(pid);
      if (ok === undefined) problemTokens.set(pid, (ok = tok.count(typeof row.problem === 'string' ? row.problem : '') <= options.maxProblemTokens));
      if (!ok) return false;
    }
    if (options.minSolutionTokens === undefined && options.maxSolutionTokens === undefined) return true;
    const n = tok.count(text);
    return n >= (options.minSolutionTokens ?? 0) && n <= (options.maxSolutionTokens ?? Infinity);
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
      const raw = typeof gen === 'string' ? gen.trim() : '';
      const text = trim ? trimAfterFinalAnswer(raw).trim() : raw;
      lengths.push(text.length);
      // One digest per row: its first 52 bits identify the solution (dedup), the next 64 give
      // its downsampling rank, mixed with the seed.
      const digest = createHash('sha1').update(pkey).update('\u0000').update(text.replace(/\s+/g, ' ')).digest();
      const solutionId = bits52(digest, 0);
      ranks.push(mix32(digest.readUInt32BE(8) ^ mix32(seed)) * 0x100000 + (mix32(digest.readUInt32BE(12) ^ seed) & 0xfffff));
      let v: number = KEPT;
      if ((row.error !== undefined && row.error !== null) || !text) v = CODE.failed;
      else if (dropCodeErrors && codeExecutionError(row, text) !== null) v = CODE['code-error'];
      else if (row.is_correct === undefined) throw new Error(`${file}:${line}: row has no "is_correct": run \`sdg grade\` first`);
      else if (options.incorrectOnly ? row.is_correct === true : row.is_correct !== true && !options.includeIncorrect) v = CODE.incorrect;
      else if (problemContaminated[pid]) v = CODE.contaminated;
      else if (dropMulti && distinctBoxedAnswers(text) > 1) v = CODE['multi-boxed'];
      else if (options.dropIncorrectArithmetic && incorrectArithmetic(text) !== null) v = CODE.arithmetic;
      else if (dedup && seen.has(solutionId)) v = CODE.duplicate;
      else if (tokenizer && tokenLimits && !withinTokenLimits(tokenizer, text, row, pid)) v = CODE.tokens;
      if (dedup && v === KEPT) seen.add(solutionId);
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
    survivors[p] = ids;
  }
  // Global downsampling to --max-total: fair takes each problem's solutions in seeded random
  // order, one per problem per round (problems in a seeded order each round), so every problem
  // keeps min(its count, its fair share); random keeps the N lowest seeded ranks overall.
  if (options.maxTotal !== undefined) {
    let total = 0;
    for (const ids of survivors) total += ids.length;
    if (total > options.maxTotal) {
      const keep = new Set<number>();
      if (downsample === 'random') {
        const all: number[] = [];
        for (const ids of survivors) for (const id of ids) all.push(id);
        all.sort((a, b) => ranks.get(a) - ranks.get(b) || a - b);
        for (const id of all.slice(0, options.maxTotal)) keep.add(id);
      } else {
        const ordered = survivors.map((ids) => [...ids].sort((a, b) => ranks.get(a) - ranks.get(b) || a - b));
        for (let round = 0; keep.size < options.maxTotal; round++) {
          const open: number[] = [];
          for (let p = 0; p < ordered.length; p++) if (ordered[p].length > round) open.push(p);
          if (open.length === 0) break;
          // The problem order of a round: a seeded hash of (problem, round), so no problem is always last.
          open.sort((a, b) => mix32(a ^ mix32(seed + round * 0x9e3779b1)) - mix32(b ^ mix32(seed + round * 0x9e3779b1)) || a - b);
          for (const p of open) {
            if (keep.size >= options.maxTotal) break;
            keep.add(ordered[p][round]);
          }
        }
      }
      for (let p = 0; p < survivors.length; p++) {
        for (const id of survivors[p]) if (!keep.has(id)) mark(id, CODE.downsample);
        survivors[p] = survivors[p].filter((id) => keep.has(id));
      }
    }
  }
  for (let p = 0; p < survivors.length; p++) {
    if (survivors[p].length > 0) summary.problemsWritten++;
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
        if (trim && typeof row[genField] === 'string') row[genField] = trimAfterFinalAnswer((row[genField] as string).trim());
        const record = renderer.render(row);
        if (options.metadata) Object.assign(record, options.metadata);
        if (options.includeIncorrect || options.incorrectOnly) {
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
