/**
 * Column profile of a JSONL file: per top-level field its types, missing share, distinct values,
 * top values and a length histogram; plus the plots the viewer draws (tokens per row, correct
 * share per problem). One streaming pass over the file with bounded memory: each column keeps
 * a capped distinct-value sketch (MAX_DISTINCT values, then counting stops growing), lengths go
 * into fixed bins, and problems are counted up to MAX_PROBLEMS.
 */
import type { JsonlFile } from './jsonlFile';
import { parseLine } from './jsonlFile';
import { groupKeyOf } from './fieldPath';
import { problemKey } from '../math/jsonl';

/** Histogram bins: bin i holds values v with EDGES[i] <= v < EDGES[i + 1] (the last is open). */
export const PROFILE_BIN_EDGES: readonly number[] = [0, 1, 10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000];
/** Distinct values tracked per column; past this, `distinctCapped` is set and new values are not counted. */
export const MAX_DISTINCT = 1000;
/** Problems tracked for the correct-share plot. */
export const MAX_PROBLEMS = 200_000;
/** Columns profiled (the first ones seen). */
export const MAX_PROFILE_COLUMNS = 200;
const MAX_VALUE_CHARS = 120;
const TOP_VALUES = 5;
/** Fields holding a row's generated token count, in order of preference. */
export const TOKEN_FIELDS = ['usage.completion_tokens', 'num_generated_tokens', 'completion_tokens', 'num_tokens', 'tokens'];

export type ValueType = 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';

export interface ColumnProfile {
  name: string;
  /** Records where the field is absent or null. */
  missing: number;
  types: Partial<Record<ValueType, number>>;
  /** Distinct values seen (exact unless distinctCapped, then "more than"). */
  distinct: number;
  distinctCapped: boolean;
  /** Most frequent values (exact counts unless distinctCapped: values first seen after the cap are not counted). */
  top: Array<{ value: string; count: number }>;
  /** Length in characters of the value (strings as is, others as JSON), over present values. */
  length: { min: number; max: number; mean: number; bins: number[] };
  /** Numeric values only. */
  numeric?: { min: number; max: number; mean: number };
}

export interface ProfilePlot {
  field: string;
  rows: number;
  min: number;
  max: number;
  mean: number;
  bins: number[];
}

export interface ProblemShare {
  /** Field the problems were told apart by (`input_index`, else `problem`). */
  by: string;
  problems: number;
  capped: boolean;
  /** bins[i]: problems whose share correct is in [i/10, (i+1)/10) (the last bin includes 1). */
  bins: number[];
  allCorrect: number;
  noneCorrect: number;
}

export interface FileProfile {
  /** Lines scanned and records (JSON objects) among them. */
  lines: number;
  records: number;
  columns: ColumnProfile[];
  columnsCapped: boolean;
  binEdges: readonly number[];
  tokens?: ProfilePlot;
  /** Present when rows carry a boolean `is_correct`. */
  problems?: ProblemShare;
}

export function binOf(v: number): number {
  let i = 0;
  while (i + 1 < PROFILE_BIN_EDGES.length && v >= PROFILE_BIN_EDGES[i + 1]) i++;
  return i;
}

function typeOf(v: unknown): ValueType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  return t === 'string' || t === 'number' || t === 'boolean' ? t : 'object';
}

class ColumnAcc {
  missing = 0;
  present = 0;
  types: Partial<Record<ValueType, number>> = {};
  values = new Map<string, number>();
  capped = false;
  lenMin = Infinity;
  lenMax = 0;
  lenSum = 0;
  bins = new Array<number>(PROFILE_BIN_EDGES.length).fill(0);
  num?: { min: number; max: number; sum: number; n: number };
  constructor(readonly name: string, missingSoFar: number) {
    this.missing = missingSoFar;
  }

  add(v: unknown): void {
    const t = typeOf(v);
    this.types[t] = (this.types[t] ?? 0) + 1;
    if (v === null) {
      this.missing++;
      return;
    }
    this.present++;
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    const len = text.length;
    this.lenMin = Math.min(this.lenMin, len);
    this.lenMax = Math.max(this.lenMax, len);
    this.lenSum += len;
    this.bins[binOf(len)]++;
    if (typeof v === 'number' && Number.isFinite(v)) {
      const n = (this.num ??= { min: Infinity, max: -Infinity, sum: 0, n: 0 });
      n.min = Math.min(n.min, v);
      n.max = Math.max(n.max, v);
      n.sum += v;
      n.n++;
    }
    const key = groupKeyOf(v).slice(0, MAX_VALUE_CHARS);
    const c = this.values.get(key);
    if (c !== undefined) this.values.set(key, c + 1);
    else if (this.values.size < MAX_DISTINCT) this.values.set(key, 1);
    else this.capped = true;
  }

  result(): ColumnProfile {
    const top = [...this.values.entries()]
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, TOP_VALUES)
      .map(([value, count]) => ({ value, count }));
    return {
      name: this.name,
      missing: this.missing,
      types: this.types,
      distinct: this.values.size,
      distinctCapped: this.capped,
      top,
      length: { min: this.present ? this.lenMin : 0, max: this.lenMax, mean: this.present ? this.lenSum / this.present : 0, bins: this.bins },
      ...(this.num ? { numeric: { min: this.num.min, max: this.num.max, mean: this.num.sum / this.num.n } } : {}),
    };
  }
}

function tokenValue(rec: Record<string, unknown>, field: string): unknown {
  let v: unknown = rec;
  for (const seg of field.split('.')) {
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[seg];
  }
  return v;
}

/** Accumulates a profile record by record (usable without a file). */
export class ProfileBuilder {
  private readonly cols = new Map<string, ColumnAcc>();
  private columnsCapped = false;
  private lines = 0;
  private records = 0;
  private tokenField: string | undefined;
  private tokens = { n: 0, min: Infinity, max: -Infinity, sum: 0, bins: new Array<number>(PROFILE_BIN_EDGES.length).fill(0) };
  private readonly problems = new Map<string, [number, number]>();
  private problemsCapped = false;
  private problemBy = '';

  addLine(value: unknown): void {
    this.lines++;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return;
    this.addRecord(value as Record<string, unknown>);
  }

  addRecord(rec: Record<string, unknown>): void {
    this.records++;
    for (const [k, v] of Object.entries(rec)) {
      let c = this.cols.get(k);
      if (!c) {
        if (this.cols.size >= MAX_PROFILE_COLUMNS) {
          this.columnsCapped = true;
          continue;
        }
        // Records before this one lacked the field.
        c = new ColumnAcc(k, this.records - 1);
        this.cols.set(k, c);
      }
      c.add(v);
    }
    for (const c of this.cols.values()) if (!(c.name in rec)) c.missing++;
    this.tokenField ??= TOKEN_FIELDS.find((f) => typeof tokenValue(rec, f) === 'number');
    if (this.tokenField) {
      const t = tokenValue(rec, this.tokenField);
      if (typeof t === 'number' && Number.isFinite(t)) {
        const a = this.tokens;
        a.n++;
        a.min = Math.min(a.min, t);
        a.max = Math.max(a.max, t);
        a.sum += t;
        a.bins[binOf(t)]++;
      }
    }
    if (typeof rec.is_correct === 'boolean') {
      if (!this.problemBy) this.problemBy = rec.input_index !== undefined ? 'input_index' : 'problem';
      const key = problemKey(rec);
      let p = this.problems.get(key);
      if (!p) {
        if (this.problems.size >= MAX_PROBLEMS) {
          this.problemsCapped = true;
          return;
        }
        p = [0, 0];
        this.problems.set(key, p);
      }
      p[0]++;
      if (rec.is_correct) p[1]++;
    }
  }

  result(): FileProfile {
    const out: FileProfile = {
      lines: this.lines,
      records: this.records,
      columns: [...this.cols.values()].map((c) => c.result()),
      columnsCapped: this.columnsCapped,
      binEdges: PROFILE_BIN_EDGES,
    };
    const t = this.tokens;
    if (this.tokenField && t.n > 0) out.tokens = { field: this.tokenField, rows: t.n, min: t.min, max: t.max, mean: t.sum / t.n, bins: t.bins };
    if (this.problems.size > 0) {
      const bins = new Array<number>(10).fill(0);
      let all = 0;
      let none = 0;
      for (const [n, c] of this.problems.values()) {
        bins[Math.min(9, Math.floor((10 * c) / n))]++;
        if (c === n) all++;
        if (c === 0) none++;
      }
      out.problems = { by: this.problemBy, problems: this.problems.size, capped: this.problemsCapped, bins, allCorrect: all, noneCorrect: none };
    }
    return out;
  }
}

/** Profile lines [0, file.lineCount) of an indexed file, chunk by chunk. */
export async function profileFile(file: JsonlFile, signal?: AbortSignal): Promise<FileProfile> {
  await file.indexAll(undefined, signal);
  const b = new ProfileBuilder();
  await file.forEachChunk(
    0,
    file.lineCount,
    (lines) => {
      for (const l of lines) {
        if (l.cut) {
          b.addLine(undefined);
          continue;
        }
        const p = parseLine(l.text, l.unterminated, l.invalidUtf8);
        b.addLine(p.status === 'ok' ? p.value : undefined);
      }
    },
    signal,
  );
  return b.result();
}
