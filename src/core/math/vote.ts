/**
 * `sdg vote`: labels problems that have no reference answer by majority vote over the
 * predicted answers of their samples (equivalence-aware clusters, ./clusters.ts).
 *
 * Two streaming passes over the input: the first counts votes per problem (keeping only the
 * distinct answers), the second copies every row with the label added. Rows whose problem's
 * winning share is below `minShare` (or that had no votes) get `expected_answer: null` and
 * `majority_flagged: true`.
 */
import { readJsonl, withJsonlWriter, problemKey } from './jsonl';
import { AnswerClusters } from './clusters';
import { extractAnswer, type ExtractOptions } from './extract';

export interface VoteOptions {
  input: string;
  output: string;
  /** Minimum share of votes the winning answer needs (0..1). Default 0.5. */
  minShare?: number;
  generationField?: string;
  extract?: ExtractOptions;
  onWarning?: (message: string) => void;
}

export interface VoteSummary {
  rows: number;
  problems: number;
  labeled: number;
  flagged: number;
}

interface Decision {
  answer: string | null;
  votes: number;
  total: number;
}

function predictedOf(row: Record<string, unknown>, options: VoteOptions): string | null {
  if (typeof row.predicted_answer === 'string') return row.predicted_answer;
  if (row.error !== undefined && row.error !== null) return null;
  const gen = row[options.generationField ?? 'generation'];
  return typeof gen === 'string' ? extractAnswer(gen, options.extract) : null;
}

export async function voteFile(options: VoteOptions): Promise<VoteSummary> {
  const minShare = options.minShare ?? 0.5;
  if (!(minShare >= 0 && minShare <= 1)) throw new Error(`--min-share must be between 0 and 1 (got ${minShare})`);
  const torn = (f: string, l: number) => options.onWarning?.(`${f}:${l}: skipped a torn last line`);
  const perProblem = new Map<string, AnswerClusters>();
  for await (const { row } of readJsonl(options.input, { onTornLine: torn })) {
    const key = problemKey(row);
    let c = perProblem.get(key);
    if (!c) perProblem.set(key, (c = new AnswerClusters()));
    c.add(predictedOf(row, options));
  }
  const decisions = new Map<string, Decision>();
  let labeled = 0;
  for (const [key, c] of perProblem) {
    const w = c.winner();
    const ok = w !== null && w.cluster.votes / c.total >= minShare;
    if (ok) labeled++;
    decisions.set(key, { answer: ok ? w!.cluster.representative : null, votes: w ? w.cluster.votes : 0, total: c.total });
  }
  perProblem.clear();
  let rows = 0;
  await withJsonlWriter(options.output, async (out) => {
    for await (const { row } of readJsonl(options.input, { onTornLine: () => undefined })) {
      rows++;
      const d = decisions.get(problemKey(row))!;
      const prev = row.expected_answer;
      if (prev !== undefined && prev !== null && prev !== '') row.original_expected_answer = prev;
      row.predicted_answer = predictedOf(row, options);
      row.expected_answer = d.answer;
      row.majority_votes = d.votes;
      row.total_votes = d.total;
      row.majority_flagged = d.answer === null;
      await out.write(row);
    }
  });
  return { rows, problems: decisions.size, labeled, flagged: decisions.size - labeled };
}
