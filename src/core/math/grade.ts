/**
 * `sdg grade`: adds `predicted_answer` and `is_correct` to every generation row, streaming.
 * Rows with an error or no generation get `predicted_answer: null, is_correct: false`.
 */
import { readJsonl, withJsonlWriter } from './jsonl';
import { extractAnswer, type ExtractOptions } from './extract';
import { isEquivalent } from './equivalence';

export interface GradeOptions {
  input: string;
  output: string;
  /** Field holding the model output. Default `generation`. */
  generationField?: string;
  /** Field holding the reference answer. Default `expected_answer`. */
  answerField?: string;
  extract?: ExtractOptions;
  /** Non-fatal notices (torn last line, no reference answers). */
  onWarning?: (message: string) => void;
}

export interface GradeSummary {
  rows: number;
  correct: number;
  /** Rows whose generation had no extractable answer. */
  noAnswer: number;
  /** Rows with `error` set or a null generation. */
  failed: number;
  /** Rows without a reference answer (cannot be correct). */
  noReference: number;
  /** Generations cut by the token limit (`finish_reason: "length"`): raise max_tokens if many. */
  truncated: number;
}

/** Grades one row in place (returns the same object, with the two fields added). */
export function gradeRow(row: Record<string, unknown>, options: Pick<GradeOptions, 'generationField' | 'answerField' | 'extract'> = {}): Record<string, unknown> {
  const gen = row[options.generationField ?? 'generation'];
  const expected = row[options.answerField ?? 'expected_answer'];
  const failed = (row.error !== undefined && row.error !== null) || typeof gen !== 'string';
  const predicted = failed ? null : extractAnswer(gen as string, options.extract);
  row.predicted_answer = predicted;
  row.is_correct = predicted !== null && expected !== null && expected !== undefined && isEquivalent(predicted, String(expected));
  return row;
}

export async function gradeFile(options: GradeOptions): Promise<GradeSummary> {
  const summary: GradeSummary = { rows: 0, correct: 0, noAnswer: 0, failed: 0, noReference: 0, truncated: 0 };
  const genField = options.generationField ?? 'generation';
  const ansField = options.answerField ?? 'expected_answer';
  await withJsonlWriter(options.output, async (out) => {
    for await (const { row } of readJsonl(options.input, {
      onTornLine: (f, l) => options.onWarning?.(`${f}:${l}: skipped a torn last line (interrupted writer)`),
    })) {
      summary.rows++;
      const gen = row[genField];
      if ((row.error !== undefined && row.error !== null) || typeof gen !== 'string') summary.failed++;
      const expected = row[ansField];
      if (expected === null || expected === undefined || expected === '') summary.noReference++;
      gradeRow(row, { generationField: genField, answerField: ansField, extract: options.extract });
      if (row.predicted_answer === null && typeof gen === 'string' && (row.error === undefined || row.error === null)) summary.noAnswer++;
      if (row.is_correct) summary.correct++;
      if (row.finish_reason === 'length') summary.truncated++;
      await out.write(row);
    }
  });
  if (summary.rows > 0 && summary.noReference === summary.rows) {
    options.onWarning?.(`no row of ${options.input} has a "${ansField}" field: nothing can be graded correct (use --answer-field, or label with \`sdg vote\`)`);
  }
  return summary;
}
