/** The JSONL viewer engine (plain Node): what the extension and the benchmarks use. */
export { LineIndex } from './lineIndex';
export { JsonlFile, DEFAULT_LIMITS, parseLine } from './jsonlFile';
export type { ViewerLimits, RowData, RecordDetail, FieldDetail, FileStats, LineStatus, KeyCount, RefreshResult } from './jsonlFile';
export { LiveJsonlFile } from './liveFile';
export type { LiveFileOptions } from './liveFile';
export { QueryRun, QueryResults, QueryScanner, QueryError, compileQuery, LineList, DEFAULT_MAX_GROUPS } from './query';
export type { QuerySpec, SearchSpec, QueryProgress, GroupSummary, QueryDelta, QueryOptions } from './query';
export { WorkerQuery } from './workerQuery';
export type { WorkerQueryOptions } from './workerQuery';
export { KeyScan } from './fieldScan';
// The filter language is the shared expression language (src/core/expr); old names kept.
export { parseExpr as parseFilter, evaluate, ExprSyntaxError as FilterSyntaxError, exprFields as filterFields } from '../expr';
export type { ExprNode as FilterNode, ExprContext as FilterContext } from '../expr';
export { parseFieldPath, getPath } from './fieldPath';
