/**
 * Messages between the JSONL viewer webview and the extension host (see src/protocol/ipc.ts).
 * The webview never holds the file: it asks for pages of rows of a "view" (all lines, the
 * matches of a query, or one group of a grouped query) and for one record's detail.
 * Everything the webview sends is checked by the `validate*` functions below before use.
 */
import type { FileStats, RecordDetail, RowData } from '../core/viewer/jsonlFile';
import type { GroupSort, GroupSummary, QueryProgress, SearchSpec } from '../core/viewer/query';
import type { ColumnProfile, FileProfile, ProblemShare, ProfilePlot } from '../core/viewer/profile';
import type { DatasetMetrics } from '../core/math/metrics';

export type { FileStats, RecordDetail, RowData, GroupSort, GroupSummary, QueryProgress, SearchSpec };
export type { ColumnProfile, FileProfile, ProblemShare, ProfilePlot, DatasetMetrics };

/** Metrics of a graded file (the numbers of `sdg metrics`), or why there are none. */
export type MetricsResult = { ok: true; metrics: DatasetMetrics[] } | { ok: false; message: string };

/** Kept here (not imported from core) so the webview bundle stays free of engine code. */
export const GROUP_SORT_NAMES: readonly GroupSort[] = ['first', 'count', 'correct', 'key'];

export type ViewRef = { kind: 'all' } | { kind: 'query'; queryId: number } | { kind: 'group'; queryId: number; group: number } | { kind: 'sorted'; sortId: number };

/** Sort all lines (no queryId) or a query's matches by one field. */
export interface SortParams {
  queryId?: number;
  column: string;
  desc: boolean;
}

export interface RowsParams {
  view: ViewRef;
  start: number;
  count: number;
  columns: string[];
}

export interface QueryParams {
  search?: SearchSpec;
  filter?: string;
  groupBy?: string;
}

export type QueryResult = { ok: true; queryId: number } | { ok: false; part: 'search' | 'filter' | 'groupBy'; message: string; column?: number };

export type ViewerRequests = {
  rows: { params: RowsParams; result: { rows: RowData[]; total: number; generation: number } };
  record: { params: { line: number }; result: RecordDetail };
  query: { params: QueryParams; result: QueryResult };
  cancelQuery: { params: { queryId: number }; result: void };
  groups: { params: { queryId: number; start: number; count: number; sort?: GroupSort }; result: { groups: GroupSummary[]; total: number } };
  openInEditor: { params: { line: number }; result: void };
  /** Column profile of the whole file (kept per file version: asking again returns the kept result). */
  profile: { params: Record<string, never>; result: FileProfile };
  /** A sorted snapshot of a view: its rows are read with `{ kind: 'sorted', sortId }`. */
  sort: { params: SortParams; result: { ok: true; sortId: number; total: number } | { ok: false; message: string } };
  /** accuracy, pass@k and maj@k of a graded file (kept per file version). */
  metrics: { params: Record<string, never>; result: MetricsResult };
};

/** Columns shown until the user picks some: the first keys seen in the file. */
export const AUTO_COLUMNS = 6;
/** Rows per page the webview requests (and the host sends ahead with the first `file` message). */
export const ROWS_PAGE = 100;

export interface FileInfo {
  fileName: string;
  stats: FileStats;
  /** Changes when the file was truncated or rewritten: drop every cached row. */
  generation: number;
  /**
   * Sent with the first message after `ready`: the first page of all lines with the automatic
   * columns, so the first rows are on screen without another round trip.
   */
  firstPage?: { columns: string[]; rows: RowData[] };
}

export type ViewerHostNotifications = {
  file: FileInfo;
  queryProgress: QueryProgress & { queryId: number; error?: string; cancelled?: boolean };
  /** The file could not be opened at all. */
  fatal: { message: string };
};

// The webview sends no notifications; the map exists for the MessageChannel type parameters.
export type ViewerWebviewNotifications = Record<string, never>;

/** Limits on what a webview may ask for in one message. */
export const VIEWER_LIMITS = {
  maxPage: 500,
  maxColumns: 64,
  maxColumnChars: 200,
  maxSearchChars: 2000,
  maxFilterChars: 4000,
} as const;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ProtocolError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function int(v: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw new ProtocolError(`${what} must be an integer in [${min}, ${max}]`);
  return v;
}

function str(v: unknown, what: string, maxLen: number): string {
  if (typeof v !== 'string') throw new ProtocolError(`${what} must be a string`);
  if (v.length > maxLen) throw new ProtocolError(`${what} is longer than ${maxLen} characters`);
  return v;
}

function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') throw new ProtocolError(`${what} must be true or false`);
  return v;
}

export function validateViewRef(v: unknown): ViewRef {
  const o = obj(v, 'view');
  switch (o.kind) {
    case 'all':
      return { kind: 'all' };
    case 'query':
      return { kind: 'query', queryId: int(o.queryId, 'view.queryId', 1) };
    case 'group':
      return { kind: 'group', queryId: int(o.queryId, 'view.queryId', 1), group: int(o.group, 'view.group', 0) };
    case 'sorted':
      return { kind: 'sorted', sortId: int(o.sortId, 'view.sortId', 1) };
    default:
      throw new ProtocolError('view.kind must be "all", "query", "group" or "sorted"');
  }
}

export function validateRowsParams(v: unknown): RowsParams {
  const o = obj(v, 'rows params');
  if (!Array.isArray(o.columns)) throw new ProtocolError('columns must be an array of strings');
  if (o.columns.length > VIEWER_LIMITS.maxColumns) throw new ProtocolError(`at most ${VIEWER_LIMITS.maxColumns} columns`);
  return {
    view: validateViewRef(o.view),
    start: int(o.start, 'start', 0),
    count: int(o.count, 'count', 0, VIEWER_LIMITS.maxPage),
    columns: o.columns.map((c, i) => str(c, `columns[${i}]`, VIEWER_LIMITS.maxColumnChars)),
  };
}

export function validateLineParams(v: unknown): { line: number } {
  return { line: int(obj(v, 'params').line, 'line', 0) };
}

export function validateQueryIdParams(v: unknown): { queryId: number } {
  return { queryId: int(obj(v, 'params').queryId, 'queryId', 1) };
}

export function validateGroupsParams(v: unknown): { queryId: number; start: number; count: number; sort: GroupSort } {
  const o = obj(v, 'groups params');
  let sort: GroupSort = 'first';
  if (o.sort !== undefined) {
    if (typeof o.sort !== 'string' || !(GROUP_SORT_NAMES as readonly string[]).includes(o.sort)) throw new ProtocolError(`sort must be one of ${GROUP_SORT_NAMES.join(', ')}`);
    sort = o.sort as GroupSort;
  }
  return { queryId: int(o.queryId, 'queryId', 1), start: int(o.start, 'start', 0), count: int(o.count, 'count', 0, VIEWER_LIMITS.maxPage), sort };
}

export function validateQueryParams(v: unknown): QueryParams {
  const o = obj(v, 'query params');
  const out: QueryParams = {};
  if (o.search !== undefined && o.search !== null) {
    const s = obj(o.search, 'search');
    out.search = {
      text: str(s.text, 'search.text', VIEWER_LIMITS.maxSearchChars),
      regex: bool(s.regex, 'search.regex'),
      caseSensitive: bool(s.caseSensitive, 'search.caseSensitive'),
    };
    if (s.field !== undefined && s.field !== null && s.field !== '') out.search.field = str(s.field, 'search.field', VIEWER_LIMITS.maxColumnChars);
  }
  if (o.filter !== undefined && o.filter !== null) out.filter = str(o.filter, 'filter', VIEWER_LIMITS.maxFilterChars);
  if (o.groupBy !== undefined && o.groupBy !== null) out.groupBy = str(o.groupBy, 'groupBy', VIEWER_LIMITS.maxColumnChars);
  return out;
}

export function validateSortParams(v: unknown): SortParams {
  const o = obj(v, 'sort params');
  const out: SortParams = { column: str(o.column, 'column', VIEWER_LIMITS.maxColumnChars), desc: bool(o.desc, 'desc') };
  if (o.queryId !== undefined && o.queryId !== null) out.queryId = int(o.queryId, 'queryId', 1);
  return out;
}
