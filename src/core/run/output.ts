/**
 * The output JSONL of a job, opened for resume.
 *
 * On open the existing file is streamed once: rows are grouped into items (consecutive rows with
 * the same key; `rowsPerItem(firstRow)` says how many rows a complete item has), and
 *  - a torn last line and an incomplete last item are cut off (truncate),
 *  - failed items (any row with `error != null`), incomplete items in the middle and duplicate
 *    items are dropped by streaming the kept byte ranges to a temp file + atomic rename,
 *    so they are requested again without leaving duplicates,
 *  - the keys of complete, successful items go into a compact `KeySet` (`doneKeys`).
 * Then the file is opened for append through a `JsonlWriter` (always append, never 'w': a
 * second writer that slipped past the lock could only add rows, never overwrite them), under the
 * lock of lock.ts; `close()` reads the file once more and fails if any item is there twice.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { JsonlWriter, JsonlWriteError, describeFsError, parseLine, readLineBatches } from '../io/jsonl';
import { KeySet } from './keySet';
import { isPidAlive } from './manifest';
import { makeDirs, renameReplacing, sameFile } from '../io/fsUtil';
import { FileLock, LockHeldError, acquireLock, removeLockLeftovers } from './lock';

export interface RunOutputOptions<R> {
  path: string;
  /** Item key of a row. Must equal the job's `keyOf(item)` for the rows that item produced. */
  keyOf(row: R): string;
  /** Rows a complete item has, read from its first row (e.g. `row.n`). Failed rows always count as 1. Default 1. */
  rowsPerItem?(row: R): number;
  /** Whether a row records a failure to retry. Default: `row.error != null`. */
  isFailed?(row: R): boolean;
  /** Start from an empty file (existing rows are discarded). */
  overwrite?: boolean;
  /** Writer back-pressure threshold. */
  highWaterMark?: number;
  /** Files the job reads: the output must not be one of them (same path, symlink or hard link). */
  inputs?: readonly string[];
  /** The output lock, when the caller took it first (`openRun` does, before touching config.json). */
  lock?: OutputLock;
}

/** What `openRunOutput` found and repaired. */
export interface RunOutputRecovery {
  /** Complete, successful items kept (== doneKeys.size). */
  items: number;
  /** Rows kept. */
  rows: number;
  /** Failed items removed so they are retried. */
  failedRemoved: number;
  /** Incomplete items removed (the torn tail item, or ones in the middle). */
  incompleteRemoved: number;
  /** Items whose key appeared again after a complete item with the same key (later copies removed). */
  duplicatesRemoved: number;
  /** Bytes cut off at the end (torn line or incomplete last item). */
  truncatedBytes: number;
  /** True when the file was rewritten through a temp file. */
  compacted: boolean;
  /** True when the file did not exist (or was overwritten). */
  fresh: boolean;
}

/** Where the engine writes finished items. `RunOutput` implements it; tests may use an array. */
export interface ItemSink<R> {
  /** Keys already done: the engine skips these items. */
  readonly doneKeys?: { has(key: string): boolean; readonly size: number };
  writeItem(rows: readonly R[]): Promise<void>;
  /** Back-pressure: true when the engine should wait for `drain()` before starting more items. */
  readonly needsDrain?: boolean;
  drain?(): Promise<void>;
}

export class RunOutput<R = unknown> implements ItemSink<R> {
  private readonly keyOf: (row: R) => string;
  private readonly isFailed: (row: R) => boolean;

  constructor(
    readonly path: string,
    /** Keys of complete, successful items: those found on open plus those written since. */
    readonly doneKeys: KeySet,
    readonly recovery: RunOutputRecovery,
    private readonly writer: JsonlWriter,
    private readonly options: Pick<RunOutputOptions<R>, 'keyOf' | 'isFailed' | 'rowsPerItem'>,
    private readonly held?: OutputLock,
  ) {
    this.keyOf = options.keyOf;
    this.isFailed = options.isFailed ?? defaultIsFailed;
  }

  /** Appends one item's rows in one write; a successful item's key joins `doneKeys`. */
  writeItem(rows: readonly R[]): Promise<void> {
    const lost = this.held?.lock.lost;
    if (lost) return Promise.reject(new JsonlWriteError(lost.message, this.path, 'ELOCKLOST'));
    if (rows.length > 0) {
      let failed = false;
      for (let i = 0; i < rows.length; i++) if (this.isFailed(rows[i])) failed = true;
      if (!failed) this.doneKeys.add(this.keyOf(rows[0]));
    }
    return this.writer.writeItem(rows);
  }

  get needsDrain(): boolean {
    return this.writer.needsDrain;
  }

  drain(): Promise<void> {
    return this.writer.drain();
  }

  get error(): JsonlWriteError | null {
    return this.writer.error;
  }

  /** Waits until every queued row is written. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /**
   * Flushes, fsyncs and closes the file, checks that every item is in it once (still under the
   * lock), and releases the lock. Throws `DuplicateItemsError` when an item is there twice.
   */
  async close(): Promise<void> {
    let duplicates = 0;
    try {
      await this.writer.close();
      duplicates = await countDuplicateItems({ ...this.options, path: this.path });
    } finally {
      await this.held?.release();
    }
    if (duplicates > 0) throw new DuplicateItemsError(this.path, duplicates);
  }
}

/** A line of an existing output file that cannot be parsed, before the last line. */
export class CorruptOutputError extends Error {
  override readonly name = 'CorruptOutputError';
  constructor(readonly path: string, readonly line: number, reason: string) {
    super(`${path} line ${line}: ${reason}. The run cannot resume safely: fix or delete that line, or start over (--overwrite).`);
  }
}

function defaultIsFailed(row: unknown): boolean {
  return (row as { error?: unknown } | null)?.error != null;
}

/** Another process (or another job in this process) is writing the same output file. */
export class OutputInUseError extends Error {
  override readonly name = 'OutputInUseError';
  constructor(readonly path: string, readonly pid: number, readonly lockFile: string, readonly host: string = hostname(), readonly ageMs = 0, readonly staleAfterMs = 0) {
    super(pid === process.pid && host === hostname()
      ? `${path} is already being written by another job in this process; wait for it to finish or cancel it`
      : `${path} is being written by another process (pid ${pid || '?'} on host ${host}, lock refreshed ${seconds(ageMs)} ago); stop it first. ` +
        (host === hostname()
          ? `If no such process is running, delete ${lockFile}`
          : `If it is gone, its lock expires ${seconds(Math.max(0, staleAfterMs - ageMs))} from now (no heartbeat for ${seconds(staleAfterMs)}), or delete ${lockFile}`));
  }
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 1000)} s`;
}

/** `--output` is (a link to) one of the job's inputs: writing it would destroy the input. */
export class OutputIsInputError extends Error {
  override readonly name = 'OutputIsInputError';
  constructor(readonly path: string, readonly input: string) {
    super(`${path} is the input file ${input} (the same file${resolve(path) === resolve(input) ? '' : ' through a link'}): writing it would destroy the input; choose another output`);
  }
}

/** Refuses an output that is the same file as one of `inputs` (same path, symlink or hard link). */
export async function assertNotAnInput(path: string, inputs: readonly string[] | undefined): Promise<void> {
  for (const input of inputs ?? []) {
    if (await sameFile(path, input)) throw new OutputIsInputError(path, input);
  }
}

/** Items found more than once in an output file when it was closed (another writer?). */
export class DuplicateItemsError extends Error {
  override readonly name = 'DuplicateItemsError';
  constructor(readonly path: string, readonly duplicates: number) {
    super(`${path}: ${duplicates} item${duplicates === 1 ? ' was' : 's were'} written more than once (did another process write to this file?). ` +
      'Run the same command again: the resume keeps one copy of each item.');
  }
}

const lockedHere = new Set<string>();

/** The output lock of one file, held by this process. */
export interface OutputLock {
  /** Absolute path of the output file. */
  path: string;
  lock: FileLock;
  release(): Promise<void>;
}

/**
 * Takes `<path>.lock` so two processes (on this host or on others sharing the file system)
 * never append to one file. See lock.ts: atomic creation, heartbeat, safe takeover of stale locks.
 */
export async function lockOutput(path: string): Promise<OutputLock> {
  const abs = resolve(path);
  const lockFile = `${abs}.lock`;
  if (lockedHere.has(abs)) throw new OutputInUseError(abs, process.pid, lockFile);
  lockedHere.add(abs);
  let lock: FileLock;
  try {
    await removeLockLeftovers(lockFile);
    lock = await acquireLock(lockFile);
  } catch (e) {
    lockedHere.delete(abs);
    if (e instanceof LockHeldError) throw new OutputInUseError(abs, e.owner.pid ?? 0, lockFile, e.owner.host ?? 'an unknown host', e.ageMs, e.staleAfterMs);
    throw describeFsError(e, lockFile, 'writing');
  }
  let released = false;
  return {
    path: abs,
    lock,
    async release() {
      if (released) return;
      released = true;
      lockedHere.delete(abs);
      await lock.release();
    },
  };
}

export async function openRunOutput<R = unknown>(options: RunOutputOptions<R>): Promise<RunOutput<R>> {
  const { path } = options;
  await assertNotAnInput(path, options.inputs);
  await makeDirs(dirname(path)).catch((e) => { throw describeFsError(e, dirname(path), 'writing'); });
  const held = options.lock ?? (await lockOutput(path));
  try {
    return await openLocked(options, held);
  } catch (e) {
    await held.release();
    throw e;
  }
}

async function openLocked<R>(options: RunOutputOptions<R>, held: OutputLock): Promise<RunOutput<R>> {
  const { path } = options;
  const recovery: RunOutputRecovery = {
    items: 0, rows: 0, failedRemoved: 0, incompleteRemoved: 0, duplicatesRemoved: 0,
    truncatedBytes: 0, compacted: false, fresh: false,
  };
  const doneKeys = new KeySet();

  let exists = false;
  let size = 0;
  try {
    const st = await fsp.stat(path);
    if (st.isDirectory()) throw new JsonlWriteError(`${path} is a folder, not a file`, path, 'EISDIR');
    exists = true;
    size = st.size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw describeFsError(e, path, 'reading');
  }

  if (!exists || options.overwrite) {
    recovery.fresh = true;
    // Emptied under the lock, then opened for append like any other session.
    if (exists) await fsp.truncate(path, 0).catch((e) => { throw describeFsError(e, path, 'writing'); });
    const writer = await JsonlWriter.open(path, { highWaterMark: options.highWaterMark });
    return new RunOutput<R>(path, doneKeys, recovery, writer, options, held);
  }

  await removeStaleTemps(path);
  const scan = await scanOutput(options, size, doneKeys, recovery);

  if (scan.drops.length > 0) {
    await compact(path, scan.validEnd, scan.drops);
    recovery.compacted = true;
  } else if (scan.validEnd < size) {
    try {
      await fsp.truncate(path, scan.validEnd);
    } catch (e) {
      throw describeFsError(e, path, 'writing');
    }
  }
  recovery.truncatedBytes = size - scan.validEnd;

  const writer = await JsonlWriter.open(path, { highWaterMark: options.highWaterMark });
  if (scan.missingNewline) await writer.writeRaw('\n');
  return new RunOutput<R>(path, doneKeys, recovery, writer, options, held);
}

/** Items found more than once in a complete output file (0 when every key is there once). */
async function countDuplicateItems<R>(options: RunOutputOptions<R>): Promise<number> {
  let size: number;
  try {
    size = (await fsp.stat(options.path)).size;
  } catch {
    return 0;
  }
  const recovery: RunOutputRecovery = {
    items: 0, rows: 0, failedRemoved: 0, incompleteRemoved: 0, duplicatesRemoved: 0,
    truncatedBytes: 0, compacted: false, fresh: false,
  };
  try {
    await scanOutput(options, size, new KeySet(), recovery);
  } catch {
    return 0; // unreadable now: the next open reports it with file and line
  }
  return recovery.duplicatesRemoved;
}

interface ScanResult {
  /** Bytes [0, validEnd) hold whole items (the rest is a torn / incomplete tail). */
  validEnd: number;
  /** Byte ranges [start, end) inside [0, validEnd) to drop, sorted and merged: [s0, e0, s1, e1, ...]. */
  drops: number[];
  /** The last kept line has no "\n" (it parsed, so it is whole): append one before new rows. */
  missingNewline: boolean;
}

async function scanOutput<R>(options: RunOutputOptions<R>, size: number, doneKeys: KeySet, recovery: RunOutputRecovery): Promise<ScanResult> {
  const { path, keyOf } = options;
  const rowsPerItem = options.rowsPerItem ?? (() => 1);
  const isFailed = options.isFailed ?? defaultIsFailed;
  const drops: number[] = [];
  const drop = (start: number, end: number) => {
    const n = drops.length;
    if (n > 0 && drops[n - 1] === start) drops[n - 1] = end; // merge adjacent ranges
    else drops.push(start, end);
  };

  // The item being assembled.
  let open = false;
  let key = '';
  let start = 0;
  let end = 0;
  let rows = 0;
  let expected = 0;
  let failed = false;
  // A line that did not parse: fine if it is the last line (torn write), corrupt otherwise.
  let bad: { line: number; offset: number; reason: string } | null = null;
  let lastTerminated = true;

  const closeItem = () => {
    open = false;
    if (rows < expected) {
      drop(start, end);
      recovery.incompleteRemoved++;
    } else if (failed) {
      drop(start, end);
      recovery.failedRemoved++;
    } else if (!doneKeys.add(key)) {
      drop(start, end);
      recovery.duplicatesRemoved++;
    } else {
      recovery.items++;
      recovery.rows += rows;
    }
  };

  for await (const batch of readLineBatches(path, { end: size })) for (const raw of batch) {
    const rec = parseLine<R>(raw);
    if (rec === null) continue; // blank line: harmless, kept as is
    if (bad) throw new CorruptOutputError(path, bad.line, bad.reason);
    if (rec.error !== undefined || rec.value === null || typeof rec.value !== 'object') {
      bad = { line: raw.line, offset: raw.offset, reason: rec.error ?? 'not a JSON object' };
      continue;
    }
    const row = rec.value as R;
    let k: unknown;
    try {
      k = keyOf(row);
    } catch (e) {
      throw new CorruptOutputError(path, raw.line, `cannot read the item key (${e instanceof Error ? e.message : String(e)})`);
    }
    if (typeof k !== 'string') throw new CorruptOutputError(path, raw.line, 'row has no item key');
    const rowFailed = isFailed(row);
    if (open && k === key && rows < expected) {
      rows++;
      end = raw.offset + raw.length;
      if (rowFailed) failed = true;
    } else {
      if (open) closeItem();
      open = true;
      key = k;
      start = raw.offset;
      end = raw.offset + raw.length;
      rows = 1;
      failed = rowFailed;
      expected = rowFailed ? 1 : Math.max(1, Math.floor(Number(rowsPerItem(row)) || 1));
    }
    lastTerminated = raw.terminated;
    if (rows === expected) closeItem();
  }

  let validEnd = size;
  if (bad) validEnd = bad.offset; // torn last line
  if (open) {
    // The last item is incomplete: cut it (and anything after it) off.
    validEnd = start;
    recovery.incompleteRemoved++;
  }
  // Drops never extend past validEnd; a trailing drop range just moves validEnd back.
  while (drops.length > 0 && drops[drops.length - 1] >= validEnd) {
    const s = drops[drops.length - 2];
    drops.length -= 2;
    validEnd = Math.min(validEnd, s);
  }
  const missingNewline = validEnd === size && !lastTerminated && !bad && !open;
  return { validEnd, drops, missingNewline };
}

/** Temp files of a compaction that was killed half-way (the original file is intact). */
async function removeStaleTemps(path: string): Promise<void> {
  const prefix = `${basename(path)}.compact-`;
  let names: string[];
  try {
    names = await fsp.readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    const m = name.startsWith(prefix) && name.endsWith('.tmp') ? /^(\d+)$/.exec(name.slice(prefix.length, -4)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && isPidAlive(pid)) continue; // another live process is compacting
    await fsp.rm(join(dirname(path), name), { force: true }).catch(() => undefined);
  }
}

/** Copies [0, validEnd) minus the drop ranges to a temp file, fsyncs it and renames it over `path`. */
async function compact(path: string, validEnd: number, drops: number[]): Promise<void> {
  const tmp = `${path}.compact-${process.pid}.tmp`;
  let src: fsp.FileHandle | undefined;
  let dst: fsp.FileHandle | undefined;
  try {
    src = await fsp.open(path, 'r');
    dst = await fsp.open(tmp, 'w');
    const buf = Buffer.allocUnsafe(1 << 20);
    let pos = 0;
    const copy = async (from: number, to: number) => {
      while (from < to) {
        const want = Math.min(buf.length, to - from);
        const { bytesRead } = await src!.read(buf, 0, want, from);
        if (bytesRead === 0) throw Object.assign(new Error('file shrank during compaction'), { code: 'EIO' });
        let off = 0;
        while (off < bytesRead) off += (await dst!.write(buf, off, bytesRead - off)).bytesWritten;
        from += bytesRead;
      }
    };
    for (let i = 0; i < drops.length; i += 2) {
      await copy(pos, drops[i]);
      pos = drops[i + 1];
    }
    await copy(pos, validEnd);
    await dst.sync();
    await dst.close();
    dst = undefined;
    await src.close();
    src = undefined;
    await renameReplacing(tmp, path);
  } catch (e) {
    await dst?.close().catch(() => undefined);
    await src?.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw describeFsError(e, path, 'writing');
  }
}
