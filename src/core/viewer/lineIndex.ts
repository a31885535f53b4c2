/**
 * Byte offsets of every line start of a JSONL file, built incrementally from raw chunks.
 *
 * Storage is one growable Float64Array (8 bytes per line, exact up to 2^53 bytes), so a file of
 * ten million lines costs 80 MB at most and usually much less. The index never holds file
 * content: callers feed it chunks (`scan`) in file order and it records where each `\n` ends a
 * line. Line `i` spans `[start(i), end(i))` with the `\n` and a trailing `\r` excluded.
 */
export class LineIndex {
  /** starts[0] is the first byte after a UTF-8 BOM (0 or 3); each later entry follows a `\n`. */
  private starts = new Float64Array(1024);
  private count = 1;
  /** Bytes of the file scanned so far. */
  private scanned = 0;
  /** File size when the scan reached it; lines are final only up to here. */
  private knownSize = 0;
  private bom = false;
  private bomMismatch = false;

  /** Clear everything (the file was truncated or rewritten). */
  reset(): void {
    this.starts = new Float64Array(1024);
    this.count = 1;
    this.starts[0] = 0;
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
    const last = this.starts[this.count - 1];
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
        this.starts[0] = 3;
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
    return this.starts[i];
  }

  /** End of line `i` including its line terminator (start of the next line, or the scanned end). */
  rawEnd(i: number): number {
    this.check(i);
    return i + 1 < this.count ? this.starts[i + 1] : this.scanned;
  }

  /** The line containing byte `offset` (binary search), clamped to [lo, hi). */
  lineAt(offset: number, lo = 0, hi = this.count): number {
    let a = lo;
    let b = hi - 1;
    while (a < b) {
      const mid = (a + b + 1) >>> 1;
      if (this.starts[mid] <= offset) a = mid;
      else b = mid - 1;
    }
    return a;
  }

  /** Bytes used by the offset table (for benchmarks and the memory budget). */
  get memoryBytes(): number {
    return this.starts.byteLength;
  }

  /** Drop spare capacity once a scan is complete. */
  compact(): void {
    if (this.starts.length > this.count + 1024) this.starts = this.starts.slice(0, this.count + 1024);
  }

  private push(offset: number): void {
    if (this.count === this.starts.length) {
      // Grow by 1.5x rather than 2x to keep the spare capacity (and so bytes/line) lower.
      const next = new Float64Array(Math.ceil(this.starts.length * 1.5) + 1024);
      next.set(this.starts);
      this.starts = next;
    }
    this.starts[this.count++] = offset;
  }

  private check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.count) throw new RangeError(`line ${i} is outside the index (0..${this.count - 1})`);
  }
}

/** Strip one trailing `\r` (CRLF files) from a line's byte range end. */
export function trimCr(buf: Uint8Array, start: number, end: number): number {
  return end > start && buf[end - 1] === 13 ? end - 1 : end;
}
