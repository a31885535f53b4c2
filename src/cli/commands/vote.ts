import type { Command } from 'commander';
import { voteFile, UNLABELLED_REASONS, type ShareOf } from '../../core/math/vote';
import { extractOptionsFrom } from './grade';
import { EXTRACT_MODES } from '../../core/math/extract';

interface VoteCliOptions {
  input: string; output: string; minShare: string; minVotes: string; shareOf: string; dropNegative?: boolean; dropNonInteger?: boolean;
  fillMissingOnly?: boolean; generationField: string; extract: string; answerRegex?: string;
}

export function register(program: Command): void {
  program
    .command('vote')
    .description('Label problems without a reference answer by majority vote of their generations (fills expected_answer)')
    .requiredOption('--input <file>', 'generations JSONL (graded or not)')
    .requiredOption('--output <file>', 'JSONL to write, every row kept, with expected_answer, majority_votes, total_votes, majority_flagged, majority_reason')
    .option('--min-share <x>', 'the winning answer needs MORE than this share of the votes (0..1; 0.5 = strict majority)', '0.5')
    .option('--min-votes <n>', 'the winning answer needs at least n votes', '1')
    .option('--share-of <base>', 'share of all samples (unanswered ones vote against) or of answered ones: all, answered', 'all')
    .option('--drop-negative', 'leave problems whose winning answer is negative unlabelled')
    .option('--drop-non-integer', 'leave problems whose winning answer is not an integer unlabelled')
    .option('--fill-missing-only', 'keep existing non-empty expected_answer values (label only problems without one)')
    .option('--generation-field <name>', 'field with the model output', 'generation')
    .option('--extract <mode>', `answer extraction when predicted_answer is absent: ${EXTRACT_MODES.join(', ')}`, 'auto')
    .option('--answer-regex <regex>', 'custom extraction regex (group 1 is the answer)')
    .action(async (opts: VoteCliOptions) => {
      const minShare = Number(opts.minShare);
      if (!Number.isFinite(minShare)) throw new Error(`--min-share must be a number (got ${JSON.stringify(opts.minShare)})`);
      const minVotes = Number(opts.minVotes);
      if (!Number.isInteger(minVotes) || minVotes < 1) throw new Error(`--min-votes must be a positive integer (got ${JSON.stringify(opts.minVotes)})`);
      if (opts.shareOf !== 'all' && opts.shareOf !== 'answered') throw new Error(`--share-of must be all or answered (got ${JSON.stringify(opts.shareOf)})`);
      const s = await voteFile({
        input: opts.input,
        output: opts.output,
        minShare,
        minVotes,
        shareOf: opts.shareOf as ShareOf,
        dropNegative: opts.dropNegative === true,
        dropNonInteger: opts.dropNonInteger === true,
        fillMissingOnly: opts.fillMissingOnly === true,
        generationField: opts.generationField,
        extract: extractOptionsFrom(opts),
        onWarning: (m) => console.error(`warning: ${m}`),
      });
      const why = UNLABELLED_REASONS.filter((r) => s.reasons[r] > 0).map((r) => `${s.reasons[r]} ${r}`).join(', ');
      console.log(`voted on ${s.problems} problems (${s.rows} rows): ${s.labeled} labeled, ${s.flagged} flagged${why ? ` (${why})` : ''} -> ${opts.output}`);
    });
}
