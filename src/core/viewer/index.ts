/** The JSONL viewer engine (plain Node): what the extension and the benchmarks use. */
export { LineIndex } from './lineIndex';
export { JsonlFile, DEFAULT_LIMITS, parseLine } from './jsonlFile';
export type { ViewerLimits, RowData, RecordDetail, FieldDetail, FileStats, LineStatus, KeyCount, RefreshResult } from './jsonlFile';
export { LiveJsonlFile } from './liveFile';
export type { LiveFileOptions } from './liveFile';
export { QueryRun, QueryError, compileQuery, LineList } from './query';
export type { QuerySpec, SearchSpec, QueryProgress, GroupSummary } from './query';
export { parseFilter, evaluate, FilterSyntaxError, filterFields } from './filterExpr';
export type { FilterNode, FilterContext } from './filterExpr';
export { parseFieldPath, getPath } from './fieldPath';
