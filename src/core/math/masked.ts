/**
 * `sdg select-masked`: picks, per problem, the best masked reference solution among candidates
 * generated with a masked-generation prompt (see docs/generate.md), and writes the original
 * dataset with a `masked_solution` field added, ready for `sdg generate --context-type masked_solution`.
 *
 * A candidate qualifies when it is a complete generation (no error, not cut by the length
 * limit), does not reveal the final answer (no `\boxed`, no occurrence of the answer: see
 * `revealsAnswer`), and its length is within +-`lengthTolerance` of the reference solution's.
 * Among qualifying candidates the one with the fewest digits wins (fewer leaked intermediate
 * results); ties: length closest to the reference, then lowest seed, sample_index, input order.
 * No qualifying candidate: the reference solution itself is used and the row is flagged.
 *
 * Memory: per problem a few numbers (reference length, answer, the best candidate's byte
 * position), never the candidate texts; the chosen ones are read back by position.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { readDataset, type DatasetFormat, type FieldMapping } from '../datasets';
import { readJsonl, withJsonlWriter, JsonlRandomAccess, JsonlError } from './jsonl';
import { cleanAnswer, quickNumber } from './equivalence';

export interface SelectMaskedOptions {
  /** Masked-generation outputs of `sdg generate` (one or more runs). */
  inputs: string[];
  /** The original dataset the generations were made from (same file, same order). */
  dataset: string;
  output: string;
  datasetFormat?: DatasetFormat;
  fields?: FieldMapping;
  /** Allowed relative length difference to the reference solution. Default 0.5 (+-50%). */
  lengthTolerance?: number;
  generationField?: string;
  onWarning?: (message: string) => void;
}

export interface SelectMaskedSummary {
  problems: number;
  /** Problems that got a generated masked solution. */
  selected: number;
  /** Problems that fell back to their reference solution (flagged). */
  fallback: number;
  /** Problems with neither a qualifying candidate nor a reference solution. */
  missing: number;
  candidates: number;
  rejected: { failed: number; truncated: number; revealsAnswer: number; length: number };
  /** Candidate rows whose input_index/problem do not match the dataset (ignored). */
  unmatched: number;
}

const NUMBER = /^\d+(?:\.\d+)?$/;

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Textual forms of an answer worth searching for in a solution. */
export function answerForms(expected: string): string[] {
  const forms = new Set<string>();
  const raw = expected.trim();
  if (raw) forms.add(raw);
  const cleaned = cleanAnswer(raw).text;
  if (cleaned) forms.add(cleaned);
  const frac = /^-?\\frac\{(\d+)\}\{(\d+)\}$/.exec(cleaned);
  if (frac) forms.add(`${frac[1]}/${frac[2]}`);
  const q = quickNumber(cleaned);
  if (q !== null && Number.isFinite(q) && !frac) {
    const abs = Math.abs(q);
    forms.add(String(abs));
    if (Number.isInteger(abs)) forms.add(abs.toLocaleString('en-US'));
  }
  // A negative number is revealed by its magnitude as well.
  return [...forms].map((f) => (/^-\d/.test(f) ? f.slice(1) : f)).filter((f) => f.length > 0);
}

/** Does `text` show the final answer? Numbers count as whole tokens (`5` is not in `15` or `0.5`). */
export function revealsAnswer(text: string, expected: string | null): boolean {
  if (/\\boxed|\\fbox/.test(text)) return true;
  if (expected === null || !expected.trim()) return false;
  const compact = text.replace(/\s+/g, '');
  for (const form of answerForms(expected)) {
    if (NUMBER.test(form) || /^\d{1,3}(,\d{3})+$/.test(form)) {
      const re = new RegExp(`(?<![\\d.,])${escapeRegex(form)}(?!\\d|[.,]\\d)`);
      if (re.test(text)) return true;
    } else if (compact.includes(form.replace(/\s+/g, ''))) return true;
  }
  return false;
}

function countDigits(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

/** The candidate text as it will be used: trimmed, without an echoed "Masked solution:" label. */
export function cleanMaskedText(generation: string): string {
  return generation.trim().replace(/^masked solution:\s*/i, '').trim();
}

interface ProblemInfo {
  refLength: number;
  expected: string | null;
  problemHash: string;
  best: Best | null;
}

interface Best {
  file: number;
  offset: number;
  bytes: number;
  digits: number;
  lengthGap: number;
  seed: number;
  sampleIndex: number;
  order: number;
}

function better(a: Best, b: Best): boolean {
  return (a.digits - b.digits || a.lengthGap - b.lengthGap || a.seed - b.seed || a.sampleIndex - b.sampleIndex || a.order - b.order) < 0;
}

function hashText(s: string): string {
  return createHash('sha1').update(s).digest('base64').slice(0, 16);
}

export async function selectMasked(options: SelectMaskedOptions): Promise<SelectMaskedSummary> {
  const tolerance = options.lengthTolerance ?? 0.5;
  if (!(tolerance >= 0)) throw new Error(`length tolerance must be >= 0 (got ${tolerance})`);
  if (options.inputs.length === 0) throw new Error('select-masked needs at least one --input file');
  if ([options.dataset, ...options.inputs].some((f) => resolve(f) === resolve(options.output))) {
    throw new Error(`--output ${options.output} is also an input: write the masked dataset to another file`);
  }
  const genField = options.generationField ?? 'generation';
  const summary: SelectMaskedSummary = {
    problems: 0, selected: 0, fallback: 0, missing: 0, candidates: 0,
    rejected: { failed: 0, truncated: 0, revealsAnswer: 0, length: 0 }, unmatched: 0,
  };

  const problems = new Map<number, ProblemInfo>();
  for await (const row of readDataset(options.dataset, { format: options.datasetFormat, fields: options.fields })) {
    problems.set(row.input_index, {
      refLength: row.reference_solution?.trim().length ?? 0,
      expected: row.expected_answer,
      problemHash: hashText(row.problem),
      best: null,
    });
  }
  summary.problems = problems.size;

  let order = 0;
  let warnedUnmatched = 0;
  for (let fi = 0; fi < options.inputs.length; fi++) {
    const file = options.inputs[fi];
    for await (const { row, line, offset, bytes } of readJsonl(file, { onTornLine: (f, l) => options.onWarning?.(`${f}:${l}: skipped a torn last line`) })) {
      order++;
      const idx = row.input_index;
      if (typeof idx !== 'number') throw new JsonlError(file, line, 'row has no numeric "input_index" (expected rows written by `sdg generate`)');
      const info = problems.get(idx);
      if (!info || (typeof row.problem === 'string' && hashText(row.problem) !== info.problemHash)) {
        summary.unmatched++;
        if (warnedUnmatched++ < 3) options.onWarning?.(`${file}:${line}: input_index ${idx} does not match a problem of ${options.dataset} (wrong --dataset?); ignored`);
        continue;
      }
      summary.candidates++;
      const gen = row[genField];
      if ((row.error !== undefined && row.error !== null) || typeof gen !== 'string' || !gen.trim()) { summary.rejected.failed++; continue; }
      if (row.finish_reason === 'length') { summary.rejected.truncated++; continue; }
      const text = cleanMaskedText(gen);
      if (revealsAnswer(text, info.expected)) { summary.rejected.revealsAnswer++; continue; }
      if (info.refLength > 0 && (text.length < (1 - tolerance) * info.refLength || text.length > (1 + tolerance) * info.refLength)) {
        summary.rejected.length++;
        continue;
      }
      const cand: Best = {
        file: fi, offset, bytes,
        digits: countDigits(text),
        lengthGap: Math.abs(text.length - info.refLength),
        seed: typeof row.seed === 'number' ? row.seed : 0,
        sampleIndex: typeof row.sample_index === 'number' ? row.sample_index : 0,
        order,
      };
      if (!info.best || better(cand, info.best)) info.best = cand;
    }
  }

  const readers = options.inputs.map((f) => new JsonlRandomAccess(f));
  try {
    await withJsonlWriter(options.output, async (out) => {
      for await (const row of readDataset(options.dataset, { format: options.datasetFormat, fields: options.fields })) {
        const info = problems.get(row.input_index)!;
        let masked: string | null = null;
        let fallback = false;
        if (info.best) {
          const cand = readers[info.best.file].read(info.best.offset, info.best.bytes);
          masked = cleanMaskedText(String(cand[genField]));
          summary.selected++;
        } else if (row.reference_solution && row.reference_solution.trim()) {
          masked = row.reference_solution.trim();
          fallback = true;
          summary.fallback++;
        } else {
          fallback = true;
          summary.missing++;
        }
        await out.write({ ...row.fields, masked_solution: masked, masked_solution_fallback: fallback });
      }
    });
  } finally {
    for (const r of readers) r.close();
  }
  return summary;
}
