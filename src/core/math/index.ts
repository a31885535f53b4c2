/**
 * Math labeling engine: answer extraction and equivalence, grading, metrics, majority voting
 * and masked-solution selection. Plain Node (no `vscode`); the CLI commands grade, metrics, vote
 * and select-masked are thin wrappers over these functions. See docs/math-labeling.md.
 */
export { extractAnswer, extractBoxed, lastBoxRun, allBoxed, extractGsm8k, extractAnswerIs, extractLastMath, compileAnswerRegex, EXTRACT_MODES } from './extract';
export type { ExtractMode, ExtractOptions } from './extract';
export { isEquivalent, answerKey, cleanAnswer, parseAnswer, clearEquivalenceCache, exactNumber, numbersEqual, NUMERIC_REL_TOL, EXACT_REL_TOL } from './equivalence';
export { AnswerClusters } from './clusters';
export { gradeFile, gradeRow } from './grade';
export type { GradeOptions, GradeSummary } from './grade';
export { computeMetrics, formatMetrics, passAtK, kValues } from './metrics';
export type { DatasetMetrics, MetricsOptions } from './metrics';
export { voteFile, decide, UNLABELLED_REASONS } from './vote';
export type { VoteOptions, VoteSummary, ShareOf, UnlabelledReason } from './vote';
export { selectMasked, revealsAnswer } from './masked';
export type { SelectMaskedOptions, SelectMaskedSummary } from './masked';
export { readJsonl, JsonlError, JsonlWriter, withJsonlWriter } from './jsonl';
