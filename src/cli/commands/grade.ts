import type { Command } from 'commander';
import { gradeFile } from '../../core/math/grade';
import { compileAnswerRegex, EXTRACT_MODES, type ExtractMode, type ExtractOptions } from '../../core/math/extract';

/** `--extract` / `--answer-regex` flags shared by grade and vote. */
export function extractOptionsFrom(opts: { extract?: string; answerRegex?: string }): ExtractOptions {
  const mode = (opts.extract ?? 'auto') as ExtractMode;
  if (!EXTRACT_MODES.includes(mode)) throw new Error(`--extract must be one of ${EXTRACT_MODES.join(', ')} (got ${JSON.stringify(opts.extract)})`);
  const regex = opts.answerRegex ? compileAnswerRegex(opts.answerRegex) : undefined;
  if (mode === 'regex' && !regex) throw new Error('--extract regex needs --answer-regex');
  return { mode, regex };
}

export function register(program: Command): void {
  program
    .command('grade')
    .description('Extract the final answer of every generation and judge it against expected_answer (adds predicted_answer, is_correct)')
    .requiredOption('--input <file>', 'generations JSONL (from `sdg generate`)')
    .requiredOption('--output <file>', 'graded JSONL to write')
    .option('--answer-field <name>', 'field with the reference answer', 'expected_answer')
    .option('--generation-field <name>', 'field with the model output', 'generation')
    .option('--extract <mode>', `answer extraction: ${EXTRACT_MODES.join(', ')}`, 'auto')
    .option('--answer-regex <regex>', 'custom extraction regex (/.../flags or a pattern; group 1 is the answer, last match wins)')
    .action(async (opts: { input: string; output: string; answerField: string; generationField: string; extract: string; answerRegex?: string }) => {
      const s = await gradeFile({
        input: opts.input,
        output: opts.output,
        answerField: opts.answerField,
        generationField: opts.generationField,
        extract: extractOptionsFrom(opts),
        onWarning: (m) => console.error(`warning: ${m}`),
      });
      const acc = s.rows ? ((s.correct / s.rows) * 100).toFixed(2) : '0.00';
      console.log(`graded ${s.rows} rows: ${s.correct} correct (${acc}%), ${s.noAnswer} without an answer, ${s.failed} failed generations, ${s.noReference} without a reference -> ${opts.output}`);
      if (s.truncated) console.log(`${s.truncated} generations were cut by the token limit (finish_reason "length"): consider a larger --max-tokens`);
    });
}
