/** SFT export: filters, contamination check and record formats (`sdg export-sft`). See docs/math-labeling.md. */
export { exportSft, formatSftSummary, lengthBounds, quantile, distinctBoxedAnswers, FILTER_NAMES } from './export';
export type { ExportSftOptions, ExportSftSummary, FilterName, LengthFilter, LengthScope } from './export';
export { ContaminationIndex, ngramHashes, words } from './contamination';
export type { ContaminationSource } from './contamination';
export { SftRenderer, SFT_FORMATS } from './format';
export type { SftFormat, SftFormatOptions } from './format';
