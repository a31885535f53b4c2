/**
 * Streaming JSONL reading and writing for the grading / voting / export commands.
 *
 * Files here can hold millions of rows, so nothing reads a whole file: lines come from the
 * engine's chunked reader (src/core/io/jsonl.ts). A bad line is an error naming file and line, except a torn last line
 * (a writer killed mid-line, no trailing newline) which is reported through `onTornLine` and
 * skipped, because `sdg generate` repairs such lines on resume and the data before it is good.
 */
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { readJsonlBatches } from '../io/jsonl';

export class JsonlError extends Error {
  override readonly name = 'JsonlError';
  constructor(readonly file: string, readonly line: number | undefined, detail: string) {
    super(`${file}${line !== undefined ? `:${line}` : ''}: ${detail}`);
  }
}

export interface JsonlRow<T = Record<string, unknown>> {
  row: T;
  /** 1-based line number in the file. */
  line: number;
  /** 0-based ordinal among the non-blank lines. */
  ordinal: number;
  /** Byte position of the line and its length with the line terminator (for `JsonlRandomAccess`). */
  offset: number;
  bytes: number;
}

export interface ReadJsonlOptions {
  /** Called instead of throwing when the final line has no newline and does not parse. */
  onTornLine?: (file: string, line: number) => void;
}

/** Parsed JSON objects of a JSONL file, streamed (over the engine's fast line reader). Blank lines are skipped. */
export async function* readJsonl<T = Record<string, unknown>>(file: string, options: ReadJsonlOptions = {}): AsyncGenerator<JsonlRow<T>> {
  if (!existsSync(file)) throw new JsonlError(file, undefined, 'file not found');
  let ordinal = 0;
  for await (const batch of readJsonlBatches<unknown>(file)) {
    for (const rec of batch) {
      if (rec.error !== undefined) {
        if (!rec.terminated && options.onTornLine) {
          options.onTornLine(file, rec.line);
          return;
        }
        throw new JsonlError(file, rec.line, rec.error);
      }
      const row = rec.value;
      if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new JsonlError(file, rec.line, 'each line must be a JSON object');
      yield { row: row as T, line: rec.line, ordinal: ordinal++, offset: rec.offset, bytes: rec.length };
    }
  }
}

/**
 * Random access to rows remembered by position (`offset`, `bytes` from `readJsonl`), so a
 * selection pass can keep positions instead of row texts. Open once, read many, close.
 */
export class JsonlRandomAccess {
  private fd: number | null = null;
  constructor(readonly file: string) {}

  read(offset: number, bytes: number): Record<string, unknown> {
    if (this.fd === null) this.fd = openSync(this.file, 'r');
    const buf = Buffer.alloc(bytes);
    let got = 0;
    while (got < bytes) {
      const n = readSync(this.fd, buf, got, bytes - got, offset + got);
      if (n === 0) throw new JsonlError(this.file, undefined, `file changed while reading (offset ${offset})`);
      got += n;
    }
    // JSON.parse ignores the trailing newline; a BOM can only start the file.
    return JSON.parse(buf.toString('utf8').replace(/^\uFEFF/, '')) as Record<string, unknown>;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Writes JSONL to `<file>.partial` and renames it over `file` on `close()`, so an interrupted
 * command never leaves a half-written output that looks complete. Honours back-pressure.
 */
export class JsonlWriter {
  private readonly stream: WriteStream;
  private readonly partial: string;
  private failed: Error | null = null;
  rows = 0;

  constructor(readonly file: string) {
    this.partial = `${file}.partial`;
    // `--output sft/math.jsonl` into a folder that does not exist yet: create it, as generate does.
    mkdirSync(dirname(file), { recursive: true });
    this.stream = createWriteStream(this.partial, { encoding: 'utf8' });
    this.stream.on('error', (e) => (this.failed = e));
  }

  private buffer: string[] = [];
  private buffered = 0;

  /** Queues one row; lines are written in ~256 KiB batches (one syscall, one await each). */
  async write(row: unknown): Promise<void> {
    if (this.failed) throw this.failed;
    this.rows++;
    const line = JSON.stringify(row) + '\n';
    this.buffer.push(line);
    this.buffered += line.length;
    if (this.buffered >= 1 << 18) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const chunk = this.buffer.join('');
    this.buffer = [];
    this.buffered = 0;
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => { this.stream.off('error', onError); resolve(); };
        const onError = (e: Error) => { this.stream.off('drain', onDrain); reject(e); };
        this.stream.once('drain', onDrain);
        this.stream.once('error', onError);
      });
    }
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => {
      this.stream.end((e?: Error | null) => (e ? reject(e) : resolve()));
    });
    if (this.failed) throw this.failed;
    renameSync(this.partial, this.file);
  }

  /** Drops the partial file (on error). */
  abort(): void {
    this.stream.destroy();
    try { rmSync(this.partial, { force: true }); } catch { /* best effort */ }
  }
}

/** Runs `body` with a writer, renaming into place on success and removing the partial on error. */
export async function withJsonlWriter<T>(file: string, body: (w: JsonlWriter) => Promise<T>): Promise<T> {
  const writer = new JsonlWriter(file);
  try {
    const result = await body(writer);
    await writer.close();
    return result;
  } catch (e) {
    writer.abort();
    throw e;
  }
}

/** Problem identity used to group samples: `input_index` when present, else the problem text. */
export function problemKey(row: Record<string, unknown>, problemField = 'problem'): string {
  const idx = row.input_index;
  if (typeof idx === 'number' || (typeof idx === 'string' && idx !== '')) return `#${idx}`;
  const p = row[problemField];
  if (typeof p === 'string') return `p:${p}`;
  return 'p:' + JSON.stringify(p ?? null);
}
