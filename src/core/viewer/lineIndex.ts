/**
 * Byte offsets of every line start of a JSONL file, built incrementally from raw chunks.
 *
 * Storage is a list of fixed-size Float64Array blocks (8 bytes per line, exact up to 2^53
 * bytes): growing never copies, and the spare capacity is at most one block (512 KB), so a file
 * of ten million lines costs 80 MB. The index never holds file
 * content: callers feed it chunks (`scan`) in file order and it records where each `\n` ends a
 * line. Line `i` spans `[start(i), end(i))` with the `\n` and a trailing `\r` excluded.
 */
const BLOCK_BITS = 16;
const BLOCK = 1 << BLOCK_BITS;
const BLOCK_MASK = BLOCK - 1;
const FIRST_BLOCK = 1024;

export interface LineIndexState {
  blocks: Float64Array[];
  count: number;
  scanned: number;
  knownSize: number;
  bom: boolean;
  bomMismatch: boolean;
}

export class LineIndex {
  /** Line starts in blocks of BLOCK entries. Entry 0 is the first byte after a UTF-8 BOM (0 or 3); each later one follows a `\n`. */
  private blocks: Float64Array[] = [new Float64Array(FIRST_BLOCK)];
  private count = 1;
  /** Bytes of the file scanned so far. */
  private scanned = 0;
  /** File size when the scan reached it; lines are final only up to here. */
  private knownSize = 0;
  private bom = false;
  private bomMismatch = false;

  /** Clear everything (the file was truncated or rewritten). */
  reset(): void {
    this.blocks = [new Float64Array(FIRST_BLOCK)];
    this.count = 1;
    this.scanned = 0;
    this.knownSize = 0;
    this.bom = false;
    this.bomMismatch = false;
  }

  get scannedBytes(): number {
    return this.scanned;
  }

  get hasBom(): boolean {
    return this.bom;
  }

  /** True when every byte up to the last known file size has been scanned. */
  get complete(): boolean {
    return this.scanned >= this.knownSize;
  }

  /** Tell the index how big the file is now (only growth; shrinking needs `reset`). */
  setFileSize(size: number): void {
    if (size < this.scanned) throw new Error(`file shrank from ${this.scanned} to ${size} bytes: reset the index`);
    this.knownSize = size;
  }

  get fileSize(): number {
    return this.knownSize;
  }

  /**
   * Lines known so far. While the scan is incomplete only lines ended by `\n` count; once the
   * whole file is scanned, a last line without a trailing newline counts too.
   */
  get lineCount(): number {
    const last = this.at(this.count - 1);
    if (this.complete && last < this.scanned) return this.count;
    return this.count - 1;
  }

  /** Whether line `i` is the final line and has no newline after it (yet: a writer may add one). */
  isUnterminated(i: number): boolean {
    return i === this.count - 1;
  }

  /** Feed the next `length` bytes of `chunk`, which start at file offset `scannedBytes`. */
  scan(chunk: Uint8Array, length = chunk.length): void {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, Math.min(length, chunk.length));
    // A UTF-8 BOM may arrive split over tiny chunks (a writer appending byte by byte).
    for (let k = 0; this.scanned + k < 3 && k < buf.length; k++) {
      const at = this.scanned + k;
      if (buf[k] !== [0xef, 0xbb, 0xbf][at] || this.bomMismatch) {
        this.bomMismatch = true;
        break;
      }
      if (at === 2) {
        this.bom = true;
        this.blocks[0][0] = 3;
      }
    }
    const base = this.scanned;
    // Buffer.indexOf is memchr: a few GB/s; the per-line cost is one typed-array store.
    let p = buf.indexOf(10, 0);
    while (p !== -1) {
      this.push(base + p + 1);
      p = buf.indexOf(10, p + 1);
    }
    this.scanned += buf.length;
    if (this.scanned > this.knownSize) this.knownSize = this.scanned;
  }

  /** First byte of line `i`. */
  start(i: number): number {
    this.check(i);
    return this.at(i);
  }

  /** End of line `i` including its line terminator (start of the next line, or the scanned end). */
  rawEnd(i: number): number {
    this.check(i);
    return i + 1 < this.count ? this.at(i + 1) : this.scanned;
  }

  /** The line containing byte `offset` (binary search), clamped to [lo, hi). */
  lineAt(offset: number, lo = 0, hi = this.count): number {
    let a = lo;
    let b = hi - 1;
    while (a < b) {
      const mid = (a + b + 1) >>> 1;
      if (this.at(mid) <= offset) a = mid;
      else b = mid - 1;
    }
    return a;
  }

  /** The whole state, to hand the index to a worker thread (structured clone copies it). */
  snapshot(): LineIndexState {
    return { blocks: this.blocks, count: this.count, scanned: this.scanned, knownSize: this.knownSize, bom: this.bom, bomMismatch: this.bomMismatch };
  }

  /** Take over an index built elsewhere (a snapshot of the same file); scanning continues from it. */
  restore(s: LineIndexState): void {
    this.blocks = s.blocks.length > 0 ? s.blocks : [new Float64Array(FIRST_BLOCK)];
    this.count = s.count;
    this.scanned = s.scanned;
    this.knownSize = Math.max(this.knownSize, s.knownSize);
    this.bom = s.bom;
    this.bomMismatch = s.bomMismatch;
  }

  /** Bytes used by the offset table (for benchmarks and the memory budget). */
  get memoryBytes(): number {
    let n = 0;
    for (const b of this.blocks) n += b.byteLength;
    return n;
  }

  /**
   * Trim the spare capacity of the last block once the scan is complete, so the table costs
   * 8 bytes per line. A file that grows later regrows that block (push handles short blocks).
   */
  compact(): void {
    const last = this.blocks.length - 1;
    const used = this.count - last * BLOCK;
    if (used > 0 && used < this.blocks[last].length) this.blocks[last] = this.blocks[last].slice(0, used);
  }

  private at(i: number): number {
    return this.blocks[i >>> BLOCK_BITS][i & BLOCK_MASK];
  }

  private push(offset: number): void {
    const i = this.count;
    const b = i >>> BLOCK_BITS;
    let block = this.blocks[b];
    if (!block) this.blocks.push((block = new Float64Array(BLOCK)));
    else if ((i & BLOCK_MASK) >= block.length) {
      // Only the first block starts small (small files stay small) and grows to BLOCK entries.
      const next = new Float64Array(Math.min(BLOCK, block.length * 4));
      next.set(block);
      this.blocks[b] = block = next;
    }
    block[i & BLOCK_MASK] = offset;
    this.count++;
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`line ${i} is outside the index (0..${this.count - 1})`);
  }
}

/** Strip one trailing `\r` (CRLF files) from a line's byte range end. */
export function trimCr(buf: Uint8Array, start: number, end: number): number {
  return end > start && buf[end - 1] === 13 ? end - 1 : end;
}
