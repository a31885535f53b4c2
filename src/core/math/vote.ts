/**
 * `sdg vote`: labels problems that have no reference answer by majority vote over the
 * predicted answers of their samples (equivalence-aware clusters, ./clusters.ts), with the
 * rules of NeMo-Skills' `fill_majority_answer` made strict by default:
 *
 * - the winning answer needs MORE than `minShare` (default 0.5: a strict majority) of the votes,
 *   counted over all samples of the problem (`shareOf: 'all'`, default: a sample without an
 *   answer is a vote against) or over the answered ones (`shareOf: 'answered'`);
 * - and at least `minVotes` votes (default 1);
 * - a tie for the first place is never labelled;
 * - optionally, labels that are negative or not integers are dropped (GSM8K-style data, where
 *   NeMo-Skills drops them too).
 *
 * A problem left unlabelled gets `expected_answer: null`, `majority_flagged: true` and
 * `majority_reason` saying why. Two streaming passes over the input: the first keeps per row
 * only its problem id and answer id (typed columns, each distinct answer once: ./columns.ts),
 * then each problem is clustered and decided in turn; the second copies every row with the
 * label added.
 */
import { readJsonl, withJsonlWriter, problemKey } from './jsonl';
import { AnswerClusters } from './clusters';
import { Column, Interner, groupRows } from './columns';
import { extractAnswer, type ExtractOptions } from './extract';
import { cleanAnswer, exactNumber } from './equivalence';

export type ShareOf = 'all' | 'answered';

export interface VoteOptions {
  input: string;
  output: string;
  /** The winner needs more than this share of the votes (0..1). Default 0.5: a strict majority. */
  minShare?: number;
  /** The winner needs at least this many votes. Default 1. */
  minVotes?: number;
  /** Share of all samples (unanswered ones vote against; default) or of answered ones. */
  shareOf?: ShareOf;
  /** Leave problems whose winning answer is a negative number unlabelled. */
  dropNegative?: boolean;
  /** Leave problems whose winning answer is not an integer unlabelled. */
  dropNonInteger?: boolean;
  /** Keep a row's existing non-empty expected_answer (NeMo-Skills' ignore_if_not_none). */
  fillMissingOnly?: boolean;
  generationField?: string;
  extract?: ExtractOptions;
  onWarning?: (message: string) => void;
}

export const UNLABELLED_REASONS = ['no-answer', 'tie', 'min-votes', 'min-share', 'negative', 'non-integer'] as const;
export type UnlabelledReason = (typeof UNLABELLED_REASONS)[number];

export interface VoteSummary {
  rows: number;
  problems: number;
  labeled: number;
  flagged: number;
  /** Unlabelled problems per reason. */
  reasons: Record<UnlabelledReason, number>;
}

interface Decision {
  answer: string | null;
  votes: number;
  /** Samples of the problem (rows), answered or not. */
  samples: number;
  answered: number;
  reason: UnlabelledReason | null;
  why: string | null;
}

function predictedOf(row: Record<string, unknown>, options: VoteOptions): string | null {
  if (typeof row.predicted_answer === 'string') return row.predicted_answer;
  if (row.error !== undefined && row.error !== null) return null;
  const gen = row[options.generationField ?? 'generation'];
  return typeof gen === 'string' ? extractAnswer(gen, options.extract) : null;
}

function pct(x: number): string {
  return `${Math.round(x * 1000) / 10}%`;
}

/** The vote of one problem under the options' rules. Exported for tests. */
export function decide(clusters: AnswerClusters, samples: number, options: Pick<VoteOptions, 'minShare' | 'minVotes' | 'shareOf' | 'dropNegative' | 'dropNonInteger'>): Decision {
  const minShare = options.minShare ?? 0.5;
  const minVotes = options.minVotes ?? 1;
  const answered = clusters.total;
  const base = { samples, answered };
  const sorted = [...clusters.clusters].sort((a, b) => b.votes - a.votes || a.first - b.first);
  const top = sorted[0];
  if (!top) return { ...base, answer: null, votes: 0, reason: 'no-answer', why: `none of the ${samples} samples has an answer` };
  const flag = (reason: UnlabelledReason, why: string): Decision => ({ ...base, answer: null, votes: top.votes, reason, why });
  if (sorted[1] && sorted[1].votes === top.votes) {
    const tied = sorted.filter((c) => c.votes === top.votes).length;
    return flag('tie', `tie: ${tied} answers have ${top.votes} votes each`);
  }
  if (top.votes < minVotes) return flag('min-votes', `the winner has ${top.votes} votes, fewer than the ${minVotes} required`);
  const denominator = options.shareOf === 'answered' ? answered : samples;
  const share = top.votes / denominator;
  if (!(share > minShare)) {
    const of = options.shareOf === 'answered' ? `${answered} answered samples` : `${samples} samples`;
    return flag('min-share', `the winner has ${top.votes} of ${of} (${pct(share)}), not more than ${pct(minShare)}`);
  }
  if (options.dropNegative || options.dropNonInteger) {
    const n = exactNumber(cleanAnswer(top.representative).text);
    if (options.dropNegative && n !== null && n.num < 0n) return flag('negative', `the winner ${top.representative} is negative`);
    if (options.dropNonInteger && (n === null || n.den !== 1n)) return flag('non-integer', `the winner ${top.representative} is not an integer`);
  }
  return { ...base, answer: top.representative, votes: top.votes, reason: null, why: null };
}

export async function voteFile(options: VoteOptions): Promise<VoteSummary> {
  const minShare = options.minShare ?? 0.5;
  if (!(minShare >= 0 && minShare < 1)) throw new Error(`--min-share must be at least 0 and below 1 (got ${minShare})`);
  const minVotes = options.minVotes ?? 1;
  if (!(Number.isInteger(minVotes) && minVotes >= 1)) throw new Error(`--min-votes must be a positive integer (got ${minVotes})`);
  if (options.shareOf !== undefined && options.shareOf !== 'all' && options.shareOf !== 'answered') throw new Error(`--share-of must be all or answered (got ${JSON.stringify(options.shareOf)})`);
  const torn = (f: string, l: number) => options.onWarning?.(`${f}:${l}: skipped a torn last line`);
  const problemIds = new Map<string, number>();
  const problemOf = new Column((n) => new Uint32Array(n));
  const answerOf = new Column((n) => new Int32Array(n));
  const answers = new Interner();
  for await (const { row } of readJsonl(options.input, { onTornLine: torn })) {
    const key = problemKey(row);
    let pid = problemIds.get(key);
    if (pid === undefined) problemIds.set(key, (pid = problemIds.size));
    problemOf.push(pid);
    answerOf.push(answers.id(predictedOf(row, options)));
  }
  answers.clear();
  const { rows: grouped, start } = groupRows(problemOf, problemIds.size);
  const decisions: Decision[] = [];
  const reasons = Object.fromEntries(UNLABELLED_REASONS.map((r) => [r, 0])) as Record<UnlabelledReason, number>;
  let labeled = 0;
  for (let p = 0; p < problemIds.size; p++) {
    // Lean clusters: no raw-answer cache; answers arrive in file order.
    const clusters = new AnswerClusters({ rawCache: false });
    for (let k = start[p]; k < start[p + 1]; k++) {
      const a = answerOf.get(grouped[k]);
      clusters.add(a < 0 ? null : answers.values[a]);
    }
    const d = decide(clusters, start[p + 1] - start[p], options);
    if (d.reason) reasons[d.reason]++;
    else labeled++;
    decisions.push(d);
  }
  let rows = 0;
  await withJsonlWriter(options.output, async (out) => {
    for await (const { row } of readJsonl(options.input, { onTornLine: () => undefined })) {
      rows++;
      const d = decisions[problemIds.get(problemKey(row))!];
      const prev = row.expected_answer;
      const hasPrev = prev !== undefined && prev !== null && prev !== '';
      row.predicted_answer = predictedOf(row, options);
      if (!(options.fillMissingOnly && hasPrev)) {
        if (hasPrev) row.original_expected_answer = prev;
        row.expected_answer = d.answer;
      }
      row.majority_votes = d.votes;
      row.total_votes = d.samples;
      row.answered_votes = d.answered;
      row.majority_flagged = d.answer === null;
      row.majority_reason = d.why;
      await out.write(row);
    }
  });
  return { rows, problems: decisions.length, labeled, flagged: decisions.length - labeled, reasons };
}
