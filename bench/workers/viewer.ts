/**
 * The JSONL viewer back end on a big file, in its own process.
 *   --file F [--pages 200]
 * Prints one JSON line with first-page time, index speed (and a plain read-and-scan peer),
 * index bytes per line, random page times, regex search speed (and GNU grep as the peer).
 */
import { spawnSync } from 'node:child_process';
import { openSync, readSync, closeSync, statSync } from 'node:fs';
import { JsonlFile, QueryRun } from '../../src/core/viewer';
import { parseFlags } from '../lib';

const flags = parseFlags(process.argv.slice(2));
const file = String(flags.file);
const pages = Number(flags.pages ?? 200);
const size = statSync(file).size;
const COLUMNS = ['input_index', 'seed', 'expected_answer', 'predicted_answer', 'is_correct', 'generation'];
/** Selective enough that matches are rare, as a user's search usually is. */
const REGEX = 'boxed\\{1[0-9]{3}\\}';

/** The peer for indexing: read 1 MiB chunks and count newlines with indexOf, nothing else. */
function plainScan(): { ms: number; lines: number } {
  const t0 = performance.now();
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let pos = 0;
  let lines = 0;
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    const view = n === buf.length ? buf : buf.subarray(0, n);
    let i = view.indexOf(10);
    while (i !== -1) {
      lines++;
      i = view.indexOf(10, i + 1);
    }
    pos += n;
  }
  closeSync(fd);
  return { ms: performance.now() - t0, lines };
}

function grepPeer(): { ms: number; matches: number } | null {
  const t0 = performance.now();
  const r = spawnSync('grep', ['-c', '-E', REGEX, file], { encoding: 'utf8' });
  if (r.error) return null;
  return { ms: performance.now() - t0, matches: Number(r.stdout.trim() || 0) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.99))];
}

async function main() {
  plainScan(); // warm the page cache: the targets are "from page cache"
  const peer = plainScan();

  // First rows on screen: open + the first page, before the index is complete.
  let t0 = performance.now();
  const first = await JsonlFile.open(file);
  await first.ensureLines(100);
  const firstRows = await first.rows(0, 100, COLUMNS);
  const firstPageMs = performance.now() - t0;
  const indexedAtFirstPage = first.index.scannedBytes;
  await first.close();

  // Full index, and its memory (the offsets table the index keeps once complete).
  t0 = performance.now();
  const f = await JsonlFile.open(file);
  await f.indexAll();
  const indexMs = performance.now() - t0;
  const indexBytes = f.index.memoryBytes;
  const lines = f.lineCount;

  // Random pages of 100 rows.
  const times: number[] = [];
  let seed = 12345;
  for (let i = 0; i < pages; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const start = seed % Math.max(1, lines - 100);
    const t = performance.now();
    const rows = await f.rows(start, 100, COLUMNS);
    times.push(performance.now() - t);
    if (rows.length !== Math.min(100, lines - start)) throw new Error(`page at ${start} returned ${rows.length} rows`);
  }

  // Regex search over the whole file.
  t0 = performance.now();
  const q = new QueryRun(f, { search: { text: REGEX, regex: true, caseSensitive: true } });
  const progress = await q.advance();
  const searchMs = performance.now() - t0;
  const grep = grepPeer();
  await f.close();

  console.log(JSON.stringify({
    sizeBytes: size, lines, firstRows: firstRows.length, firstPageMs, indexedAtFirstPage,
    indexMs, indexGBps: size / 1e9 / (indexMs / 1000), peerScanMs: peer.ms, peerScanGBps: size / 1e9 / (peer.ms / 1000), peerLines: peer.lines,
    indexBytesPerLine: indexBytes / lines,
    pageMedianMs: median(times), pageP99Ms: p99(times),
    searchMs, searchGBps: size / 1e9 / (searchMs / 1000), searchMatches: progress.matches,
    grepMs: grep?.ms ?? null, grepGBps: grep ? size / 1e9 / (grep.ms / 1000) : null, grepMatches: grep?.matches ?? null,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
