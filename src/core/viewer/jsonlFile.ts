/**
 * One JSONL file opened for viewing: an incrementally built line index, paged reads of any line
 * range with positional reads (the file is never held in memory), a background analysis pass
 * (records, malformed and blank lines, keys, share correct) and live-tail refresh.
 *
 * Plain Node; the extension's custom editor and the benchmarks drive it the same way:
 *   const f = await JsonlFile.open(path);
 *   await f.ensureLines(100); const rows = await f.rows(0, 100, ['question']);
 *   await f.indexAll(); await f.analyzeAll(); f.stats();
 */
import { isUtf8 } from 'node:buffer';
import { open as openFile, stat, type FileHandle } from 'node:fs/promises';
import { LineIndex, trimCr } from './lineIndex';
import { displayValue, getPath, parseFieldPath, safeStringify, type PathSegment } from './fieldPath';

export interface ViewerLimits {
  /**
   * Read buffer memory per open file: two buffers of half this size, so the next chunk is read
   * while the current one is scanned. Each indexing/search step covers half of it.
   */
  chunkBytes: number;
  /** Characters of a cell sent to the table. */
  cellChars: number;
  /** Lines longer than this are not parsed (shown as a raw prefix, status `tooLong`). */
  parseLimitBytes: number;
  /** Characters of one field sent to the detail pane. */
  detailFieldChars: number;
  /** Characters of pretty JSON / raw text sent to the detail pane. */
  detailTextChars: number;
}

export const DEFAULT_LIMITS: ViewerLimits = {
  chunkBytes: 4 << 20,
  cellChars: 400,
  parseLimitBytes: 64 << 20,
  detailFieldChars: 200_000,
  detailTextChars: 1_000_000,
};

/** ok: a JSON value; bad: not JSON; blank: whitespace only; partial: last line, no newline yet, not JSON (a writer is mid-line); tooLong: above parseLimitBytes. */
export type LineStatus = 'ok' | 'bad' | 'blank' | 'partial' | 'tooLong';

export interface ParsedLine {
  status: LineStatus;
  value?: unknown;
  error?: string;
}

/** Classify one decoded line. */
export function parseLine(text: string, unterminated: boolean, invalidUtf8 = false): ParsedLine {
  if (text.length === 0 || /^\s*$/.test(text)) return { status: 'blank' };
  // An unterminated last line may be a writer cut mid-character: partial, like torn JSON.
  if (invalidUtf8) return { status: unterminated ? 'partial' : 'bad', error: 'invalid UTF-8 (shown with replacement characters)' };
  try {
    return { status: 'ok', value: JSON.parse(text) };
  } catch (e) {
    return { status: unterminated ? 'partial' : 'bad', error: (e as Error).message };
  }
}

/** One row of the table, as sent to the webview. `line` is 0-based; the UI shows line + 1. */
export interface RowData {
  line: number;
  status: LineStatus;
  /** One entry per requested column: display text (cut to cellChars, with a trailing …) or null when missing. */
  cells: Array<string | null>;
  /** For rows that are not JSON objects: a prefix of the raw text or the compact value. */
  preview?: string;
  error?: string;
  /** `is_correct` when the record has a boolean one. */
  correct?: boolean;
  bytes: number;
}

export interface FieldDetail {
  name: string;
  kind: 'string' | 'number' | 'boolean' | 'null' | 'object' | 'array';
  text: string;
  totalChars: number;
  truncated: boolean;
}

export interface RecordDetail {
  line: number;
  status: LineStatus;
  bytes: number;
  error?: string;
  /** Pretty JSON of a record, or the raw text of a line that is not JSON; cut to detailTextChars. */
  text: string;
  textTruncated: boolean;
  fields: FieldDetail[];
  note?: string;
}

export interface KeyCount {
  name: string;
  count: number;
}

export interface FileStats {
  size: number;
  indexedBytes: number;
  indexing: boolean;
  lines: number;
  analyzedLines: number;
  records: number;
  malformed: number;
  blank: number;
  tooLong: number;
  /** The last line has no newline and is not JSON (a writer may be mid-line). */
  partialLastLine: boolean;
  /** Up to 1000 0-based line numbers of malformed lines, in file order. */
  malformedLines: number[];
  /** Counts of boolean `is_correct` values among analyzed records (graded files). */
  correct: number;
  incorrect: number;
  /** Top-level keys seen, in first-seen order (at most 500). */
  keys: KeyCount[];
  hasBom: boolean;
  /** Something about the file as a whole the user should know (e.g. it is UTF-16). */
  warning?: string;
}

export type RefreshResult = 'unchanged' | 'grown' | 'reset';

const MAX_KEYS = 500;
const MAX_MALFORMED_LISTED = 1000;
const GRADE_FIELD = 'is_correct';

/** A decoded line handed to chunk visitors. */
export interface LineText {
  line: number;
  text: string;
  unterminated: boolean;
  bytes: number;
  /** Only a prefix was read (line above parseLimitBytes). */
  cut: boolean;
  /** The bytes are not valid UTF-8 (the text holds U+FFFD replacements): the line is marked bad. */
  invalidUtf8?: boolean;
}

/** The raw bytes of a run of whole lines (see forEachRawChunk). Positions are relative to `buf`. */
export interface RawChunk {
  buf: Buffer;
  /** First line number in the chunk and how many lines it holds. */
  first: number;
  count: number;
  lineStart(i: number): number;
  /** End of line i including its newline. */
  lineEnd(i: number): number;
  /** The line (relative index) holding byte `pos`. */
  lineOf(pos: number): number;
  /** Line i decoded as UTF-8 without its line terminator. */
  text(i: number): string;
  /** The whole chunk decoded (cached). */
  decoded(): string;
  /** True when the chunk is one line above parseLimitBytes, of which only a prefix was read. */
  cut: boolean;
}

export class JsonlFile {
  readonly index = new LineIndex();
  readonly limits: ViewerLimits;
  /** Bumped on every reset (truncation/rewrite) so callers can drop stale results. */
  generation = 0;
  /** The two read buffers (see chunkBytes); `prefetch` may be filling one of them. */
  private readonly bufs: [Buffer, Buffer];
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private ino = 0;
  private headSample = Buffer.alloc(0);
  private analysis = emptyAnalysis();
  private keyMap = new Map<string, KeyCount>();
  private prefetch: { pos: number; want: number; buf: Buffer; done: Promise<number> } | undefined;
  private tail: { line: number; end: number; counts: Analysis; keys: string[] } | undefined;

  private constructor(readonly path: string, private fh: FileHandle, limits: Partial<ViewerLimits>) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    const half = Math.max(1, this.limits.chunkBytes >>> 1);
    this.bufs = [Buffer.allocUnsafe(half), Buffer.allocUnsafe(half)];
  }

  static async open(path: string, limits: Partial<ViewerLimits> = {}): Promise<JsonlFile> {
    const fh = await openFile(path, 'r');
    const f = new JsonlFile(path, fh, limits);
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      throw new Error(`${path} is not a regular file`);
    }
    f.ino = st.ino;
    f.index.setFileSize(st.size);
    return f;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.locked(async () => {
      await this.prefetch?.done.catch(() => 0);
      this.prefetch = undefined;
      await this.fh.close();
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get lineCount(): number {
    return this.index.lineCount;
  }

  get indexComplete(): boolean {
    return this.index.complete;
  }

  get analysisComplete(): boolean {
    return this.index.complete && this.analysis.analyzedLines >= this.terminatedLines && !this.tailPending();
  }

  /** Run `fn` alone: index mutation and reads never interleave (a reset moves every offset). */
  locked<T>(fn: () => Promise<T> | T): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Scan one chunk of not-yet-indexed bytes. Returns false when the index is complete. */
  indexStep(): Promise<boolean> {
    return this.locked(async () => {
      if (this.closed || this.index.complete) return false;
      const pos = this.index.scannedBytes;
      const chunk = this.bufs[0].length;
      const want = Math.min(chunk, this.index.fileSize - pos);
      // Two buffers: the read of the next chunk runs (on the thread pool) while this one is scanned.
      let buf: Buffer;
      let bytesRead: number;
      const pre = this.prefetch;
      this.prefetch = undefined;
      if (pre && pre.pos === pos && pre.want === want) {
        buf = pre.buf;
        bytesRead = await pre.done;
      } else {
        if (pre) await pre.done.catch(() => 0); // never read into a buffer a stale read still fills
        buf = this.bufs[0];
        bytesRead = (await this.fh.read(buf, 0, want, pos)).bytesRead;
      }
      if (bytesRead === 0) {
        // The file shrank under us; the next refresh() notices and resets.
        this.index.setFileSize(pos);
        return false;
      }
      const nextPos = pos + bytesRead;
      const nextWant = Math.min(chunk, this.index.fileSize - nextPos);
      if (nextWant > 0) {
        const other = buf === this.bufs[0] ? this.bufs[1] : this.bufs[0];
        this.prefetch = { pos: nextPos, want: nextWant, buf: other, done: this.fh.read(other, 0, nextWant, nextPos).then((r) => r.bytesRead) };
        this.prefetch.done.catch(() => undefined);
      }
      if (pos === 0) this.headSample = Buffer.from(buf.subarray(0, Math.min(bytesRead, 4096)));
      this.index.scan(buf, bytesRead);
      if (this.index.complete) this.index.compact();
      return !this.index.complete;
    });
  }

  /** Index the whole file (as it is now), reporting progress after each chunk. */
  async indexAll(onProgress?: (scannedBytes: number, size: number) => void, signal?: AbortSignal): Promise<void> {
    while (await this.indexStep()) {
      signal?.throwIfAborted();
      onProgress?.(this.index.scannedBytes, this.index.fileSize);
    }
    onProgress?.(this.index.scannedBytes, this.index.fileSize);
  }

  /** Index until at least `n` lines are known or the file ends. */
  async ensureLines(n: number): Promise<void> {
    while (this.index.lineCount < n && (await this.indexStep()));
  }

  /**
   * Visit the decoded lines [from, to) in chunks of about chunkBytes (each chunk read with one
   * positional read under the lock). Lines above parseLimitBytes arrive as a prefix with cut=true.
   * The visitor may return false to stop.
   */
  async forEachChunk(from: number, to: number, visit: (lines: LineText[]) => boolean | void | Promise<boolean | void>, signal?: AbortSignal): Promise<void> {
    let line = from;
    while (line < to) {
      signal?.throwIfAborted();
      const gen = this.generation;
      const batch = await this.locked(() => (gen === this.generation ? this.readLinesLocked(line, to) : undefined));
      if (!batch || batch.length === 0) return;
      line = batch[batch.length - 1].line + 1;
      if ((await visit(batch)) === false) return;
      // Let page requests and UI messages in between chunks (not after the last one).
      if (line < to) await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Visit raw chunks of lines [from, to): the bytes of whole lines (about chunkBytes, at least one
   * line) with helpers to map byte positions to lines and decode single lines. The visitor runs
   * under the lock and must be synchronous (the buffer is reused afterwards).
   */
  async forEachRawChunk(from: number, to: number, visit: (chunk: RawChunk) => void, signal?: AbortSignal): Promise<void> {
    let line = from;
    while (line < to) {
      signal?.throwIfAborted();
      const gen = this.generation;
      const next = await this.locked(async () => {
        if (gen !== this.generation || this.closed) return to;
        const chunk = await this.readRawLocked(line, to, true);
        if (!chunk) return to;
        visit(chunk);
        return chunk.first + chunk.count;
      });
      line = next;
      if (line < to) await new Promise((r) => setImmediate(r));
    }
  }

  /** The lines [from, end) of the raw chunk that starts at line `from` (at most `to`), and its bytes. */
  private planRaw(from: number, to: number): { end: number; base: number; total: number; cutLine: boolean } {
    const idx = this.index;
    const chunkBytes = this.bufs[0].length;
    const base = idx.start(from);
    let end = from;
    while (end < to && (end === from || idx.rawEnd(end) - base <= chunkBytes)) end++;
    let total = idx.rawEnd(end - 1) - base;
    let cutLine = false;
    if (end - from === 1 && total > this.limits.parseLimitBytes) {
      total = Math.min(total, this.limits.detailTextChars);
      cutLine = true;
    }
    return { end, base, total, cutLine };
  }

  /**
   * Read the raw chunk starting at line `from`. With `ahead`, the read of the following chunk is
   * started into the other buffer before returning, so the disk (or page cache copy) works while
   * the caller scans this one: a scan then never waits for a read.
   */
  private async readRawLocked(from: number, to: number, ahead = false): Promise<RawChunk | undefined> {
    const idx = this.index;
    to = Math.min(to, idx.lineCount);
    if (from >= to) return undefined;
    const { end, base, total, cutLine } = this.planRaw(from, to);
    const count = end - from;
    let buf: Buffer;
    const pre = this.prefetch;
    if (pre && pre.pos === base && pre.want === total) {
      this.prefetch = undefined;
      buf = pre.buf.subarray(0, total);
      const got = await pre.done.catch(() => 0);
      if (got < total) await this.readFully(buf.subarray(got), base + got);
    } else {
      const scratch = this.scratch();
      buf = total <= scratch.length ? scratch.subarray(0, total) : Buffer.allocUnsafe(total);
      await this.readFully(buf, base);
    }
    if (ahead && end < to) {
      const next = this.planRaw(end, to);
      const other = buf.buffer === this.bufs[0].buffer && buf.byteOffset === this.bufs[0].byteOffset ? this.bufs[1] : this.bufs[0];
      if (next.total <= other.length) {
        // Never start a read into a buffer an older read may still be filling.
        const stale = this.prefetch;
        if (stale) await stale.done.catch(() => 0);
        this.prefetch = { pos: next.base, want: next.total, buf: other, done: this.fh.read(other, 0, next.total, next.base).then((r) => r.bytesRead) };
        this.prefetch.done.catch(() => undefined);
      }
    }
    const rel = new Float64Array(count + 1);
    for (let i = 0; i < count; i++) rel[i] = idx.start(from + i) - base;
    rel[count] = cutLine ? total : idx.rawEnd(end - 1) - base;
    const lastUnterminated = idx.isUnterminated(end - 1);
    let decoded: string | undefined;
    return {
      buf,
      first: from,
      count,
      lineStart: (i) => rel[i],
      lineEnd: (i) => rel[i + 1],
      lineOf(pos) {
        let a = 0;
        let b = count - 1;
        while (a < b) {
          const mid = (a + b + 1) >>> 1;
          if (rel[mid] <= pos) a = mid;
          else b = mid - 1;
        }
        return a;
      },
      text(i) {
        const s = rel[i];
        let e = rel[i + 1];
        if (!(cutLine || (i === count - 1 && lastUnterminated)) && buf[e - 1] === 10) e--;
        e = trimCr(buf, s, e);
        return buf.toString('utf8', s, e);
      },
      decoded: () => (decoded ??= buf.toString('utf8')),
      cut: cutLine,
    };
  }

  /** Read lines [from, to) but at most one chunk's worth (at least one line). Call under the lock. */
  private async readLinesLocked(from: number, to: number): Promise<LineText[]> {
    const idx = this.index;
    to = Math.min(to, idx.lineCount);
    if (from >= to) return [];
    const scratch = this.scratch();
    const chunk = scratch.length;
    const first = idx.start(from);
    let end = from;
    while (end < to && (end === from || idx.rawEnd(end) - first <= chunk)) end++;
    const out: LineText[] = [];
    if (end === from + 1 && idx.rawEnd(from) - first > chunk) {
      // One long line: read it whole up to the parse limit, else a prefix.
      const len = idx.rawEnd(from) - first;
      const cut = len > this.limits.parseLimitBytes;
      const readLen = cut ? Math.min(len, this.limits.detailTextChars) : len;
      const buf = Buffer.allocUnsafe(readLen);
      await this.readFully(buf, first);
      const unterminated = idx.isUnterminated(from);
      let e = readLen;
      if (!cut) {
        if (!unterminated && buf[e - 1] === 10) e--;
        e = trimCr(buf, 0, e);
      }
      const text = buf.toString('utf8', 0, e);
      const invalidUtf8 = !cut && text.includes('\ufffd') && !isUtf8(buf.subarray(0, e));
      out.push({ line: from, text, unterminated, bytes: len, cut, invalidUtf8 });
      return out;
    }
    const total = idx.rawEnd(end - 1) - first;
    const buf = total <= scratch.length ? scratch.subarray(0, total) : Buffer.allocUnsafe(total);
    await this.readFully(buf, first);
    for (let i = from; i < end; i++) {
      const s = idx.start(i) - first;
      const raw = idx.rawEnd(i) - first;
      const unterminated = idx.isUnterminated(i);
      let e = !unterminated && buf[raw - 1] === 10 ? raw - 1 : raw;
      e = trimCr(buf, s, e);
      const text = buf.toString('utf8', s, e);
      // Decoding hides invalid bytes behind U+FFFD; only then is the (native) check worth it.
      const invalidUtf8 = text.includes('\ufffd') && !isUtf8(buf.subarray(s, e));
      out.push({ line: i, text, unterminated, bytes: raw - s, cut: false, invalidUtf8 });
    }
    return out;
  }

  /** A read buffer no in-flight prefetch is writing into (call under the lock). */
  private scratch(): Buffer {
    return this.prefetch?.buf === this.bufs[0] ? this.bufs[1] : this.bufs[0];
  }

  private async readFully(buf: Buffer, position: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) {
        buf.fill(0x20, done); // file shrank meanwhile: refresh() resets; show blanks for now
        return;
      }
      done += bytesRead;
    }
  }

  /** Decoded lines [from, from+count) (indexing further if needed). */
  async lines(from: number, count: number): Promise<LineText[]> {
    await this.ensureLines(from + count);
    const out: LineText[] = [];
    await this.forEachChunk(from, Math.min(from + count, this.lineCount), (batch) => {
      out.push(...batch);
    });
    return out;
  }

  /** Table rows for lines [from, from+count) with the given column paths. */
  async rows(from: number, count: number, columns: readonly string[]): Promise<RowData[]> {
    const lines = await this.lines(from, count);
    return this.toRows(lines, columns);
  }

  /** Table rows for an arbitrary list of line numbers (a page of search matches or a group). */
  async rowsFor(lineNumbers: readonly number[], columns: readonly string[]): Promise<RowData[]> {
    if (lineNumbers.length === 0) return [];
    await this.ensureLines(Math.max(...lineNumbers) + 1);
    const gen = this.generation;
    // One lock for the whole page; runs of consecutive lines share a read.
    const lines = await this.locked(async () => {
      const out: LineText[] = [];
      let i = 0;
      while (i < lineNumbers.length && gen === this.generation) {
        let j = i + 1;
        while (j < lineNumbers.length && lineNumbers[j] === lineNumbers[j - 1] + 1) j++;
        let from = lineNumbers[i];
        const to = Math.min(lineNumbers[j - 1] + 1, this.lineCount);
        while (from < to) {
          const batch = await this.readLinesLocked(from, to);
          if (batch.length === 0) break;
          out.push(...batch);
          from = batch[batch.length - 1].line + 1;
        }
        i = j;
      }
      return out;
    });
    return this.toRows(lines, columns);
  }

  toRows(lines: readonly LineText[], columns: readonly string[]): RowData[] {
    const paths: Array<PathSegment[] | undefined> = columns.map((c) => {
      try {
        return parseFieldPath(c);
      } catch {
        return undefined;
      }
    });
    const max = this.limits.cellChars;
    return lines.map((l) => {
      if (l.cut) return { line: l.line, status: 'tooLong', cells: columns.map(() => null), preview: cut(l.text, max), bytes: l.bytes, error: `line of ${l.bytes} bytes is above the ${this.limits.parseLimitBytes}-byte parse limit` };
      const p = parseLine(l.text, l.unterminated, l.invalidUtf8);
      const row: RowData = { line: l.line, status: p.status, cells: [], bytes: l.bytes };
      if (p.status !== 'ok') {
        row.cells = columns.map(() => null);
        if (p.status !== 'blank') row.preview = cut(l.text, max);
        if (p.error) row.error = p.error;
        return row;
      }
      const v = p.value;
      const isObject = v !== null && typeof v === 'object' && !Array.isArray(v);
      row.cells = paths.map((segs) => {
        if (!segs || !isObject) return null;
        const got = getPath(v, segs);
        if (got === undefined) return null;
        const d = displayValue(got, max);
        return d.truncated ? d.text + '…' : d.text;
      });
      // Non-objects, and records with none of the chosen columns, show their compact JSON.
      if (!isObject || (row.cells.length > 0 && row.cells.every((c) => c === null)) || row.cells.length === 0) row.preview = cut(safeStringify(v), max);
      else {
        const g = (v as Record<string, unknown>)[GRADE_FIELD];
        if (typeof g === 'boolean') row.correct = g;
      }
      return row;
    });
  }

  /** The detail of one line: pretty JSON, top-level fields (each bounded) or the raw text. */
  async record(line: number): Promise<RecordDetail> {
    if (!Number.isInteger(line) || line < 0) throw new RangeError(`bad line number ${line}`);
    await this.ensureLines(line + 1);
    if (line >= this.lineCount) throw new RangeError(`line ${line + 1} is past the end of the file (${this.lineCount} lines)`);
    const [l] = await this.lines(line, 1);
    const lim = this.limits.detailTextChars;
    if (l.cut) {
      return {
        line, status: 'tooLong', bytes: l.bytes, fields: [], text: l.text.slice(0, lim), textTruncated: true,
        note: `This line is ${l.bytes.toLocaleString('en-US')} bytes, above the ${this.limits.parseLimitBytes.toLocaleString('en-US')}-byte parse limit: showing the first ${Math.min(l.text.length, lim).toLocaleString('en-US')} characters of its raw text.`,
      };
    }
    const p = parseLine(l.text, l.unterminated, l.invalidUtf8);
    if (p.status !== 'ok') {
      const d: RecordDetail = { line, status: p.status, bytes: l.bytes, fields: [], text: l.text.slice(0, lim), textTruncated: l.text.length > lim };
      if (p.error) d.error = p.error;
      if (d.textTruncated) d.note = `Showing the first ${lim.toLocaleString('en-US')} of ${l.text.length.toLocaleString('en-US')} characters.`;
      return d;
    }
    const pretty = safeStringify(p.value, 2);
    const fields: FieldDetail[] = [];
    let anyFieldCut = false;
    if (p.value !== null && typeof p.value === 'object' && !Array.isArray(p.value)) {
      for (const [name, v] of Object.entries(p.value as Record<string, unknown>)) {
        const kind: FieldDetail['kind'] = v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as FieldDetail['kind']);
        const full = typeof v === 'string' ? v : safeStringify(v, 2);
        const truncated = full.length > this.limits.detailFieldChars;
        anyFieldCut ||= truncated;
        fields.push({ name, kind, text: truncated ? full.slice(0, this.limits.detailFieldChars) : full, totalChars: full.length, truncated });
      }
    }
    const d: RecordDetail = { line, status: 'ok', bytes: l.bytes, fields, text: pretty.slice(0, lim), textTruncated: pretty.length > lim };
    if (d.textTruncated || anyFieldCut) d.note = `This record is large (${l.bytes.toLocaleString('en-US')} bytes): long fields show their first ${this.limits.detailFieldChars.toLocaleString('en-US')} characters and the JSON its first ${lim.toLocaleString('en-US')}.`;
    return d;
  }

  /** Lines ended by a newline (the analysis covers only these; the last unterminated one is a "tail"). */
  private get terminatedLines(): number {
    const n = this.index.lineCount;
    return n > 0 && this.index.isUnterminated(n - 1) ? n - 1 : n;
  }

  /** Analyze (parse) up to one chunk of not-yet-analyzed lines. Returns false when caught up. */
  async analyzeStep(): Promise<boolean> {
    const a = this.analysis;
    const upTo = this.terminatedLines;
    if (a.analyzedLines >= upTo) {
      await this.analyzeTail();
      return false;
    }
    const gen = this.generation;
    const batch = await this.locked(() => (gen === this.generation ? this.readLinesLocked(a.analyzedLines, upTo) : []));
    if (gen !== this.generation || batch.length === 0) return false;
    for (const l of batch) {
      if (l.line !== a.analyzedLines) break;
      this.count(a, this.keyMap, l);
      a.analyzedLines++;
    }
    if (a.analyzedLines >= upTo) await this.analyzeTail();
    return a.analyzedLines < upTo;
  }

  private tailPending(): boolean {
    const n = this.index.lineCount;
    return n > this.terminatedLines && !(this.tail && this.tail.line === n - 1 && this.tail.end === this.index.rawEnd(n - 1));
  }

  /** A last line without a newline (complete file, or a writer mid-line): counted separately so growth can redo it. */
  private async analyzeTail(): Promise<void> {
    const n = this.index.lineCount;
    if (n === this.terminatedLines) {
      this.tail = undefined;
      return;
    }
    const end = this.index.rawEnd(n - 1);
    if (this.tail && this.tail.line === n - 1 && this.tail.end === end) return;
    const [l] = await this.lines(n - 1, 1);
    if (!l) return;
    const t: Analysis = emptyAnalysis();
    const keys = new Map<string, KeyCount>();
    this.count(t, keys, l);
    this.tail = { line: n - 1, end, counts: t, keys: [...keys.keys()] };
  }

  private count(a: Analysis, keyMap: Map<string, KeyCount>, l: LineText): void {
    if (l.cut) {
      a.tooLong++;
      return;
    }
    const p = parseLine(l.text, l.unterminated, l.invalidUtf8);
    if (p.status === 'ok') {
      a.records++;
      const v = p.value;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
        for (const k of Object.keys(v)) {
          const kc = keyMap.get(k);
          if (kc) kc.count++;
          else if (keyMap.size < MAX_KEYS) keyMap.set(k, { name: k, count: 1 });
        }
        const g = (v as Record<string, unknown>)[GRADE_FIELD];
        if (g === true) a.correct++;
        else if (g === false) a.incorrect++;
      }
    } else if (p.status === 'blank') a.blank++;
    else if (p.status === 'partial') a.partial++;
    else {
      a.malformed++;
      if (a.malformedLines.length < MAX_MALFORMED_LISTED) a.malformedLines.push(l.line);
    }
  }

  /**
   * What the analysis pass knows about malformed lines, for scans that read fields without
   * parsing whole lines (the key scan): every line in [0, upTo) is JSON (or blank, or above the
   * parse limit) except `lines`. Undefined until some lines are analyzed, or when more malformed
   * lines were found than are listed.
   */
  knownMalformed(): { upTo: number; lines: number[] } | undefined {
    const a = this.analysis;
    if (a.analyzedLines === 0 || a.malformed !== a.malformedLines.length) return undefined;
    return { upTo: a.analyzedLines, lines: [...a.malformedLines] };
  }

  /** Analyze every indexed line (indexing the rest first). */
  async analyzeAll(onProgress?: (analyzedLines: number, lines: number) => void, signal?: AbortSignal): Promise<void> {
    await this.indexAll(undefined, signal);
    while (await this.analyzeStep()) {
      signal?.throwIfAborted();
      onProgress?.(this.analysis.analyzedLines, this.lineCount);
      await new Promise((r) => setImmediate(r));
    }
  }

  stats(): FileStats {
    const a = { ...this.analysis };
    const keys = [...this.keyMap.values()].map((k) => ({ ...k }));
    const t = this.tail;
    const n = this.index.lineCount;
    if (t && n > 0 && t.line === n - 1 && this.index.isUnterminated(n - 1) && t.end === this.index.rawEnd(n - 1)) {
      for (const k of ['records', 'malformed', 'blank', 'tooLong', 'correct', 'incorrect', 'partial'] as const) a[k] += t.counts[k];
      a.malformedLines = [...a.malformedLines, ...t.counts.malformedLines];
      a.analyzedLines++;
      for (const name of t.keys) {
        const kc = keys.find((k) => k.name === name);
        if (kc) kc.count++;
        else if (keys.length < MAX_KEYS) keys.push({ name, count: 1 });
      }
    }
    return {
      size: this.index.fileSize,
      indexedBytes: this.index.scannedBytes,
      indexing: !this.index.complete,
      lines: this.index.lineCount,
      analyzedLines: a.analyzedLines,
      records: a.records,
      malformed: a.malformed,
      blank: a.blank,
      tooLong: a.tooLong,
      partialLastLine: a.partial > 0,
      malformedLines: [...a.malformedLines],
      correct: a.correct,
      incorrect: a.incorrect,
      keys,
      hasBom: this.index.hasBom,
      ...(this.encodingWarning() ? { warning: this.encodingWarning() } : {}),
    };
  }

  private encodingWarning(): string | undefined {
    const h = this.headSample;
    if (h.length >= 2 && ((h[0] === 0xff && h[1] === 0xfe) || (h[0] === 0xfe && h[1] === 0xff))) return 'This file is UTF-16; JSONL is UTF-8, so its lines cannot be read as JSON. Convert it to UTF-8.';
    return undefined;
  }

  /**
   * Look at the file again (after a watcher event): grown -> index the new bytes later;
   * truncated, replaced (new inode) or rewritten (first bytes differ) -> reset everything.
   */
  refresh(): Promise<RefreshResult> {
    return this.locked(async () => {
      if (this.closed) return 'unchanged';
      let st;
      try {
        st = await stat(this.path);
      } catch {
        return 'unchanged'; // deleted: keep showing what we have
      }
      if (st.ino !== this.ino) {
        await this.prefetch?.done.catch(() => 0);
        this.prefetch = undefined;
        await this.fh.close();
        this.fh = await openFile(this.path, 'r');
        this.ino = st.ino;
        this.resetLocked(st.size);
        return 'reset';
      }
      const scanned = this.index.scannedBytes;
      if (st.size < scanned || !(await this.headUnchanged())) {
        this.resetLocked(st.size);
        return 'reset';
      }
      if (st.size === this.index.fileSize) return 'unchanged';
      this.index.setFileSize(st.size);
      return 'grown';
    });
  }

  private async headUnchanged(): Promise<boolean> {
    const n = this.headSample.length;
    if (n === 0) return true;
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await this.fh.read(buf, 0, n, 0);
    return bytesRead === n && buf.equals(this.headSample);
  }

  private resetLocked(size: number): void {
    this.generation++;
    // A read in flight holds the old bytes: never use it, but still wait for it before reusing its buffer.
    if (this.prefetch) this.prefetch.pos = -1;
    this.index.reset();
    this.index.setFileSize(size);
    this.headSample = Buffer.alloc(0);
    this.analysis = emptyAnalysis();
    this.keyMap = new Map();
    this.tail = undefined;
  }
}

interface Analysis {
  analyzedLines: number;
  records: number;
  malformed: number;
  blank: number;
  tooLong: number;
  partial: number;
  correct: number;
  incorrect: number;
  malformedLines: number[];
}

function emptyAnalysis(): Analysis {
  return { analyzedLines: 0, records: 0, malformed: 0, blank: 0, tooLong: 0, partial: 0, correct: 0, incorrect: 0, malformedLines: [] };
}

function cut(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) + '…' : s;
}
