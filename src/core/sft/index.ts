/** SFT export: filters, contamination check and record formats (`sdg export-sft`). See docs/math-labeling.md. */
export { exportSft, formatSftSummary, lengthBounds, quantile, distinctBoxedAnswers, FILTER_NAMES } from './export';
export type { ExportSftOptions, ExportSftSummary, FilterName, LengthFilter, LengthScope, DownsampleMethod } from './export';
export { codeExecutionError, trimAfterFinalAnswer, incorrectArithmetic, arithmeticExpressions, evaluateArithmetic, loadTokenizer, CODE_ERROR_PATTERNS } from './filters';
export type { SolutionTokenizer } from './filters';
export { ContaminationIndex, ngramHashes, words } from './contamination';
export type { ContaminationSource } from './contamination';
export { SftRenderer, SFT_FORMATS } from './format';
export type { SftFormat, SftFormatOptions } from './format';
