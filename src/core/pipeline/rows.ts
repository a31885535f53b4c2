/**
 * Rows of pipeline stages and the bookkeeping of stage files.
 *
 * A row is a flat object of fields plus two reserved ones: `id` (stable, derived from the parent's
 * id, so re-running a stage gives the same ids) and `provenance`. In stages/<stage>.jsonl the rows
 * of a model stage also carry `_key` (the input row's id, the engine's item key) and `_n` (rows the
 * item wrote), and an item that produced no row (filtered out, ignored conversion failure) writes
 * one `{_key, _n: 1, _empty: true, _reason}` marker so a resume knows it is done. output.jsonl has
 * none of the underscore fields.
 */
import { promises as fsp } from 'node:fs';
import { readJsonl } from '../io/jsonl';

export interface Provenance {
  pipeline: string;
  /** The stage that wrote the row. */
  stage: string;
  /** Template of the last model stage on the row's path (if any). */
  template?: string;
  /** Seed sent with that request, when one was set. */
  seed?: number;
  /** Values the row descends from: topic, subtopic, document_index, ... (set by source, expand, cross). */
  parents: Record<string, unknown>;
  /** id of the input row. */
  parent_id?: string;
  /** How the last list conversion was done: `local` parser or `model` rewrite. */
  list_method?: 'local' | 'model';
  /** Set when that list came from a fresh request (1 = the first retry). */
  list_attempt?: number;
  /** Set when a list of another length than requested was kept (`keep_partial`). */
  list_partial?: { expected?: number; got?: number };
}

export interface Row {
  id: string;
  provenance: Provenance;
  [field: string]: unknown;
}

export interface StoredRow extends Row {
  _key?: string;
  _n?: number;
  _empty?: boolean;
  _reason?: string;
  _error?: string;
  /** Requests made for a failed parse_list item (so a rerun continues with the next seed). */
  _attempts?: number;
}

export class StageInputError extends Error {
  override readonly name = 'StageInputError';
}

/** Streams the usable rows of a stage file: markers and error rows skipped, bookkeeping removed. */
export async function* readStageRows(path: string, signal?: AbortSignal): AsyncGenerator<Row> {
  for await (const rec of readJsonl<StoredRow>(path, { signal })) {
    if (rec.error !== undefined || !rec.value || typeof rec.value !== 'object') {
      // A torn last line is repaired when its stage resumes; anywhere else it means corruption.
      if (!rec.terminated) continue;
      throw new StageInputError(`${path} line ${rec.line}: ${rec.error ?? 'not a JSON object'}`);
    }
    const r = rec.value;
    if (r._empty || r._error != null) continue;
    yield stripBookkeeping(r);
  }
}

export function stripBookkeeping(r: StoredRow): Row {
  if (r._key === undefined && r._n === undefined) return r;
  const { _key, _n, _empty, _reason, _error, ...row } = r;
  void _key; void _n; void _empty; void _reason; void _error;
  return row as Row;
}

export async function fileExists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}

/** Rows of one stage file (for progress totals). */
export async function countStageRows(path: string): Promise<number> {
  let n = 0;
  for await (const _ of readStageRows(path)) n++;
  return n;
}

/** A child row: inherits the parent's fields and provenance, with a new id and stage. */
export function childRow(parent: Row, id: string, pipeline: string, stage: string, fields: Record<string, unknown>, parents?: Record<string, unknown>): Row {
  const prov: Provenance = {
    ...parent.provenance,
    pipeline,
    stage,
    parents: parents ? { ...parent.provenance?.parents, ...parents } : { ...parent.provenance?.parents },
    parent_id: parent.id,
  };
  return { ...parent, ...fields, id, provenance: prov };
}

/** Deterministic PRNG (mulberry32) for sampling: same seed, same rows. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
