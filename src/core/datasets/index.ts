/**
 * Streaming readers for problem sets used by the labeling job (`sdg generate`).
 *
 * Every reader yields `DatasetRow`s one at a time: the original record is kept (`fields`), and
 * the parts the job needs are lifted out under fixed names (`problem`, `expected_answer`,
 * `reference_solution`, `masked_solution`). `input_index` is the 0-based position of the record
 * among the non-blank lines of the file, so it is stable across runs and used in item keys.
 */
import { isUtf8 } from 'node:buffer';
import { readLines as readRawLines } from '../io/jsonl';
import { JsonTooDeepError, parseJsonKeepingNumbers } from '../io/jsonSafety';
import { extractBoxed } from '../math/extract';

export type DatasetFormat = 'gsm8k' | 'math' | 'jsonl';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['gsm8k', 'math', 'jsonl'];

/** The canonical fields a row can carry; `--field canonical=source` maps input keys onto them. */
export const CANONICAL_FIELDS = ['problem', 'expected_answer', 'reference_solution', 'masked_solution'] as const;
export type CanonicalField = (typeof CANONICAL_FIELDS)[number];
export type FieldMapping = Partial<Record<CanonicalField, string>>;

export interface DatasetRow {
  /** 0-based index among the records (non-blank lines) of the input file. */
  input_index: number;
  /** 1-based line number in the file, for error messages. */
  line: number;
  problem: string;
  expected_answer: string | null;
  reference_solution: string | null;
  masked_solution: string | null;
  /** The record exactly as read. */
  fields: Record<string, unknown>;
}

export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  constructor(readonly file: string, readonly line: number | undefined, detail: string) {
    super(`${file}${line ? `:${line}` : ''}: ${detail}`);
  }
}

export interface ReadDatasetOptions {
  /** Omitted: detected from the first record's keys. */
  format?: DatasetFormat;
  /** Canonical field -> input key; only for (or implying) the `jsonl` format. */
  fields?: FieldMapping;
  /** Stop after this many records. */
  limit?: number;
  /** Stops reading (quietly) when aborted. */
  signal?: AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Field helpers

/** `<<48/2=24>>` calculator annotations in GSM8K reference solutions. */
const CALCULATOR_ANNOTATION = /<<[^<>]*>>/g;

export function stripCalculatorAnnotations(text: string): string {
  return text.replace(CALCULATOR_ANNOTATION, '');
}

/**
 * Split a GSM8K `answer` into the reasoning before `####` and the number after it.
 * Thousands separators are removed from the number (`1,600` -> `1600`) so it compares as a number.
 */
export function parseGsm8kAnswer(answer: string): { solution: string; expected: string } | null {
  const at = answer.lastIndexOf('####');
  if (at < 0) return null;
  const expected = answer.slice(at + 4).trim().replace(/(\d),(?=\d{3}\b)/g, '$1');
  if (!expected) return null;
  return { solution: stripCalculatorAnnotations(answer.slice(0, at)).trim(), expected };
}

/** The content of the last `\boxed{...}` / `\fbox{...}` (the graders' extractor, one implementation). */
export { extractBoxed as extractLastBoxed } from '../math/extract';

/** Parse `k=v` pairs (the `--field` flag) into a mapping, rejecting unknown canonical names. */
export function parseFieldMapping(pairs: readonly string[]): FieldMapping {
  const out: FieldMapping = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw new Error(`--field ${JSON.stringify(pair)}: expected NAME=INPUT_KEY, e.g. problem=question`);
    const name = pair.slice(0, eq).trim();
    const source = pair.slice(eq + 1).trim();
    if (!(CANONICAL_FIELDS as readonly string[]).includes(name)) {
      throw new Error(`--field ${JSON.stringify(pair)}: unknown field ${JSON.stringify(name)}; use one of ${CANONICAL_FIELDS.join(', ')}`);
    }
    out[name as CanonicalField] = source;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Format detection and row conversion

/** Default keys of the generic `jsonl` format, tried in order (first present wins). */
const JSONL_DEFAULTS: Record<CanonicalField, string[]> = {
  problem: ['problem', 'question'],
  expected_answer: ['expected_answer', 'answer'],
  reference_solution: ['reference_solution', 'solution'],
  masked_solution: ['masked_solution', 'reference_masked_solution'],
};

/** Which format a record looks like, or null. Explicit field mappings always mean `jsonl`. */
export function detectFormat(record: Record<string, unknown>, fields?: FieldMapping): DatasetFormat | null {
  if (fields && Object.keys(fields).length) return 'jsonl';
  if (typeof record.question === 'string' && typeof record.answer === 'string' && record.answer.includes('####')) return 'gsm8k';
  if (typeof record.problem === 'string' && (typeof record.solution === 'string' || typeof record.answer === 'string')) return 'math';
  if (typeof record.problem === 'string' || typeof record.question === 'string') return 'jsonl';
  return null;
}

function describeKeys(record: Record<string, unknown>): string {
  const keys = Object.keys(record);
  return keys.length ? keys.map((k) => JSON.stringify(k)).join(', ') : '(none)';
}

function scalarText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Turn one parsed record into a row; throws a message (the caller adds file:line). */
export function toRow(format: DatasetFormat, record: Record<string, unknown>, fields: FieldMapping = {}): Omit<DatasetRow, 'input_index' | 'line'> {
  switch (format) {
    case 'gsm8k': {
      if (typeof record.question !== 'string') throw new Error(`gsm8k record needs a string "question"; keys found: ${describeKeys(record)}`);
      if (typeof record.answer !== 'string') throw new Error(`gsm8k record needs a string "answer"; keys found: ${describeKeys(record)}`);
      const parsed = parseGsm8kAnswer(record.answer);
      if (!parsed) throw new Error('gsm8k "answer" has no "#### <number>" line');
      return { problem: record.question, expected_answer: parsed.expected, reference_solution: parsed.solution, masked_solution: scalarText(record.masked_solution), fields: record };
    }
    case 'math': {
      if (typeof record.problem !== 'string') throw new Error(`math record needs a string "problem"; keys found: ${describeKeys(record)}`);
      const solution = typeof record.solution === 'string' ? record.solution : null;
      let expected = scalarText(record.answer ?? record.expected_answer);
      if (expected === null && solution !== null) expected = extractBoxed(solution);
      if (expected === null) throw new Error(solution === null ? 'math record has neither "answer" nor "solution"' : 'math record has no "answer" and its "solution" has no \\boxed{...}');
      return { problem: record.problem, expected_answer: expected, reference_solution: solution, masked_solution: scalarText(record.masked_solution ?? record.reference_masked_solution), fields: record };
    }
    case 'jsonl': {
      const pick = (name: CanonicalField): { key: string | undefined; value: unknown } => {
        const mapped = fields[name];
        if (mapped !== undefined) return { key: mapped, value: record[mapped] };
        const key = JSONL_DEFAULTS[name].find((k) => record[k] !== undefined && record[k] !== null);
        return { key, value: key === undefined ? undefined : record[key] };
      };
      const problem = pick('problem');
      if (typeof problem.value !== 'string') {
        const wanted = fields.problem ? JSON.stringify(fields.problem) : JSONL_DEFAULTS.problem.map((k) => JSON.stringify(k)).join(' or ');
        throw new Error(`no string problem field ${wanted} (map one with --field problem=KEY); keys found: ${describeKeys(record)}`);
      }
      for (const name of ['expected_answer', 'reference_solution', 'masked_solution'] as const) {
        const mapped = fields[name];
        if (mapped !== undefined && (record[mapped] === undefined || record[mapped] === null)) {
          throw new Error(`mapped field ${name}=${mapped}: the record has no ${JSON.stringify(mapped)}; keys found: ${describeKeys(record)}`);
        }
      }
      return {
        problem: problem.value,
        expected_answer: scalarText(pick('expected_answer').value),
        reference_solution: scalarText(pick('reference_solution').value),
        masked_solution: scalarText(pick('masked_solution').value),
        fields: record,
      };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Non-blank lines of a text file with their 1-based line numbers, streamed through the engine's
 * byte-level reader (BOM and CRLF stripped); bytes that are not UTF-8 are an error naming the line.
 */
export async function* readLines(file: string, signal?: AbortSignal): AsyncGenerator<{ line: number; text: string }> {
  let line = 0;
  try {
    for await (const raw of readRawLines(file, { signal })) {
      line = raw.line;
      if (!isUtf8(raw.bytes)) throw new DatasetError(file, line, 'invalid UTF-8: the file must be UTF-8 text');
      const text = raw.bytes.toString('utf8');
      if (text.trim() === '') continue;
      yield { line, text };
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    if (signal?.aborted) return;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a folder, not a JSONL file' : `cannot read file (${code ?? (e as Error).message})`;
    throw new DatasetError(file, line || undefined, why);
  }
}

/**
 * One record. Lines nested deeper than MAX_JSON_DEPTH are refused (they parse, but crash later
 * recursion); numbers JSON cannot hold exactly (1e400, 1e-400, 30-digit integers) keep their
 * original text as a string, so an expected answer is never changed to "Infinity", 0 or a
 * rounded integer.
 */
function parseRecord(file: string, line: number, text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseJsonKeepingNumbers(text).value;
  } catch (e) {
    if (e instanceof JsonTooDeepError) throw new DatasetError(file, line, `invalid JSON: ${e.message}`);
    throw new DatasetError(file, line, `invalid JSON (${(e as Error).message}): ${text.length > 80 ? text.slice(0, 77) + '...' : text}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DatasetError(file, line, `expected a JSON object, found ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Stream the rows of a JSONL problem set. The format is detected from the first record when not
 * given. Any bad record stops the read with a `DatasetError` naming the file and line.
 */
export async function* readDataset(file: string, options: ReadDatasetOptions = {}): AsyncGenerator<DatasetRow> {
  const limit = options.limit ?? Infinity;
  if (limit <= 0) return;
  let format = options.format;
  if (format === 'jsonl' || (options.fields && Object.keys(options.fields).length)) {
    if (format && format !== 'jsonl') throw new DatasetError(file, undefined, `--field mappings apply to the jsonl format only, not ${format}`);
  }
  let index = 0;
  for await (const { line, text } of readLines(file, options.signal)) {
    const record = parseRecord(file, line, text);
    if (!format) {
      const detected = detectFormat(record, options.fields);
      if (!detected) {
        throw new DatasetError(file, line, `cannot tell the dataset format from the first record; keys found: ${describeKeys(record)}. ` +
          'Expected gsm8k (question, answer with "####"), math (problem, solution/answer) or a problem/question field; ' +
          'or pass --dataset-format jsonl --field problem=KEY');
      }
      format = detected;
    }
    let row: Omit<DatasetRow, 'input_index' | 'line'>;
    try {
      row = toRow(format, record, options.fields);
    } catch (e) {
      throw new DatasetError(file, line, `${(e as Error).message} (format ${format})`);
    }
    yield { input_index: index, line, ...row };
    index++;
    if (index >= limit) return;
  }
}

/** The format the file's first record implies (for messages and run configs); null for an empty file. */
export async function detectFileFormat(file: string, fields?: FieldMapping): Promise<DatasetFormat | null> {
  for await (const { line, text } of readLines(file)) {
    const record = parseRecord(file, line, text);
    const f = detectFormat(record, fields);
    if (!f) throw new DatasetError(file, line, `cannot tell the dataset format; keys found: ${describeKeys(record)}`);
    return f;
  }
  return null;
}

/**
 * Reads the whole file once and throws the first `DatasetError` (bad JSON, too deep, not an
 * object, missing fields), so a bad line anywhere stops a job before its first request.
 * Returns the number of records checked.
 */
export async function validateDataset(file: string, options: ReadDatasetOptions = {}): Promise<number> {
  let n = 0;
  for await (const _ of readDataset(file, options)) n++;
  return n;
}
