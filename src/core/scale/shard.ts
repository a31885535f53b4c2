/**
 * Sharding a labeling job over several processes or cluster tasks.
 *
 * Chunk `I` of `N` holds the input rows whose `input_index % N === I` (input_index is the 0-based
 * position among the non-blank input lines, so it is stable across runs and machines). Modulo
 * rather than contiguous ranges: no chunk needs the input's size to know its rows, chunks stay
 * balanced whatever `--limit` is, and a row's chunk never changes when the input grows.
 *
 * A chunk's output is `OUT-chunkI.jsonl` beside `--output OUT.jsonl`, or the output path with
 * `{chunk}` replaced by I when it contains that placeholder. Its run folder (`.run/`) is its own,
 * so rerunning a chunk's command resumes that chunk, and nothing else.
 */
import { basename, dirname, join } from 'node:path';

export interface Chunk {
  numChunks: number;
  chunkId: number;
}

export const CHUNK_PLACEHOLDER = '{chunk}';

/** Throws a message naming the flag when the chunk is not usable. */
export function validateChunk(c: Partial<Chunk>): Chunk {
  const { numChunks, chunkId } = c;
  if (numChunks === undefined && chunkId === undefined) throw new Error('internal: no chunk');
  if (numChunks === undefined) throw new Error('--chunk-id needs --num-chunks');
  if (!Number.isInteger(numChunks) || numChunks < 1) throw new Error(`--num-chunks must be a whole number >= 1, got ${numChunks}`);
  if (chunkId === undefined) throw new Error(`--num-chunks needs --chunk-id (0..${numChunks - 1})`);
  if (!Number.isInteger(chunkId) || chunkId < 0 || chunkId >= numChunks) throw new Error(`--chunk-id must be a whole number in 0..${numChunks - 1}, got ${chunkId}`);
  return { numChunks, chunkId };
}

export function inChunk(inputIndex: number, c: Chunk): boolean {
  return inputIndex % c.numChunks === c.chunkId;
}

/** Rows of a chunk among `total` input rows. */
export function chunkSize(total: number, c: Chunk): number {
  return total > c.chunkId ? Math.floor((total - c.chunkId - 1) / c.numChunks) + 1 : 0;
}

/** Only the rows of the chunk, streamed. */
export async function* chunkRows<R extends { input_index: number }>(rows: AsyncIterable<R>, c: Chunk): AsyncGenerator<R> {
  for await (const row of rows) if (inChunk(row.input_index, c)) yield row;
}

/** `OUT.jsonl` -> `OUT-chunk3.jsonl`; `parts/{chunk}.jsonl` -> `parts/3.jsonl`. */
export function chunkOutputPath(output: string, chunkId: number): string {
  if (output.includes(CHUNK_PLACEHOLDER)) return output.split(CHUNK_PLACEHOLDER).join(String(chunkId));
  const base = basename(output);
  const m = /^(.*?)(\.jsonl|\.json|\.ndjson)?$/i.exec(base)!;
  const stem = m[1] || base;
  const name = `${stem}-chunk${chunkId}${m[2] ?? ''}`;
  const dir = dirname(output);
  return dir === '.' && !output.startsWith('.') ? name : join(dir, name);
}

/** The frozen-config form of a chunk (snake_case like the rest of config.json). */
export function chunkConfig(c: Chunk): { num_chunks: number; chunk_id: number } {
  return { num_chunks: c.numChunks, chunk_id: c.chunkId };
}
