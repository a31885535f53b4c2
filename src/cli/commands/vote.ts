import type { Command } from 'commander';
import { voteFile } from '../../core/math/vote';
import { extractOptionsFrom } from './grade';
import { EXTRACT_MODES } from '../../core/math/extract';

export function register(program: Command): void {
  program
    .command('vote')
    .description('Label problems without a reference answer by majority vote of their generations (fills expected_answer)')
    .requiredOption('--input <file>', 'generations JSONL (graded or not)')
    .requiredOption('--output <file>', 'JSONL to write, every row kept, with expected_answer, majority_votes, total_votes, majority_flagged')
    .option('--min-share <x>', 'minimum share of votes for the winning answer (0..1)', '0.5')
    .option('--generation-field <name>', 'field with the model output', 'generation')
    .option('--extract <mode>', `answer extraction when predicted_answer is absent: ${EXTRACT_MODES.join(', ')}`, 'auto')
    .option('--answer-regex <regex>', 'custom extraction regex (group 1 is the answer)')
    .action(async (opts: { input: string; output: string; minShare: string; generationField: string; extract: string; answerRegex?: string }) => {
      const minShare = Number(opts.minShare);
      if (!Number.isFinite(minShare)) throw new Error(`--min-share must be a number (got ${JSON.stringify(opts.minShare)})`);
      const s = await voteFile({
        input: opts.input,
        output: opts.output,
        minShare,
        generationField: opts.generationField,
        extract: extractOptionsFrom(opts),
        onWarning: (m) => console.error(`warning: ${m}`),
      });
      console.log(`voted on ${s.problems} problems (${s.rows} rows): ${s.labeled} labeled, ${s.flagged} flagged below ${minShare} -> ${opts.output}`);
    });
}
