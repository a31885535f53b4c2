/**
 * The viewer's safety limits in the engine: group-by memory stays bounded (long keys hashed,
 * distinct groups capped with a message) and a query scanned in a worker thread can be
 * cancelled mid-regex with its results so far kept.
 */
import { strict as assert } from 'node:assert';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlFile } from '../../src/core/viewer/jsonlFile';
import { GROUP_KEY_DISPLAY_CHARS, QueryRun } from '../../src/core/viewer/query';
import { WorkerQuery } from '../../src/core/viewer/workerQuery';

describe('viewer limits: group-by memory', () => {
  let dir: string;
  let path: string;
  const LINES = 4000;
  const DISTINCT = 1000;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-lim-'));
    path = join(dir, 'gen.jsonl');
    // Group by `generation`: every value ~3 KB, DISTINCT of them, each four times (a 12 MB file).
    const out = createWriteStream(path);
    for (let i = 0; i < LINES; i++) {
      const v = i % DISTINCT;
      const generation = `Solution ${v}: ` + 'step by step reasoning '.repeat(130) + `answer ${v}`;
      if (!out.write(JSON.stringify({ input_index: v, generation, is_correct: i % 2 === 0 }) + '\n')) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('keys long values by hash: equal values meet, only a display prefix is kept', async () => {
    const f = await JsonlFile.open(path);
    try {
      const q = new QueryRun(f, { groupBy: 'generation' });
      const p = await q.advance();
      assert.equal(p.groups, DISTINCT);
      assert.equal(p.warning, undefined);
      const gs = q.groupSlice(0, DISTINCT);
      assert.ok(gs.every((g) => g.count === 4 && g.correct + g.incorrect === 4));
      assert.ok(gs.every((g) => g.key.length === GROUP_KEY_DISPLAY_CHARS + 1 && g.key.endsWith('…')));
      assert.deepEqual(q.groupLines(7, 0, 10), [7, 1007, 2007, 3007]);
    } finally {
      await f.close();
    }
  });

  it('caps distinct groups with a clear message and counts the rest together', async () => {
    const f = await JsonlFile.open(path);
    try {
      const q = new QueryRun(f, { groupBy: 'generation' }, { maxGroups: 50 });
      const p = await q.advance();
      assert.equal(p.groups, 51);
      assert.match(p.warning ?? '', /Group by generation: more than 50 distinct values; the rest are counted together in the last group/);
      const gs = q.groupSlice(0, 100);
      assert.equal(gs.reduce((n, g) => n + g.count, 0), LINES, 'no line lost');
      const other = gs[50];
      assert.equal(other.key, '(other values: more than 50 distinct)');
      assert.equal(other.count, LINES - 50 * 4);
      // Values seen before the cap keep collecting their later lines.
      assert.deepEqual(q.groupLines(0, 0, 10), [0, 1000, 2000, 3000]);
    } finally {
      await f.close();
    }
  });
});

describe('viewer limits: queries in a worker thread', () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-wq-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives the same results as an in-thread scan, and follows growth', async () => {
    const p = join(dir, 'a.jsonl');
    writeFileSync(p, Array.from({ length: 300 }, (_v, i) => JSON.stringify({ k: i % 7, seed: i, is_correct: i % 3 === 0 })).join('\n') + '\n');
    const f = await JsonlFile.open(p, { chunkBytes: 2048 });
    try {
      await f.indexAll();
      const spec = { filter: 'seed % 2 == 0', groupBy: 'k' };
      const local = new QueryRun(f, spec);
      await local.advance();
      const w = new WorkerQuery(f, spec);
      const done = await w.whenDone();
      assert.equal(done.matches, 150);
      assert.deepEqual(w.groupSlice(0, 10, 'count'), local.groupSlice(0, 10, 'count'));
      assert.deepEqual(w.matchSlice(0, 500), local.matchSlice(0, 500));
      writeFileSync(p, JSON.stringify({ k: 99, seed: 1000 }) + '\n', { flag: 'a' });
      const grown = await w.advance();
      assert.equal(grown.matches, 151);
      assert.equal(w.groupSlice(0, 10).pop()?.key, '99');
      w.cancel();
    } finally {
      await f.close();
    }
  });

  it('splits a file over several workers by line ranges and merges their results in file order', async () => {
    const p = join(dir, 'parallel.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(i % 97 === 5 ? `broken line ${i}` : JSON.stringify({ k: (i * 7) % 61, seed: i % 5, is_correct: i % 4 === 0, text: `row ${i} boxed{${i % 13}}` }));
    writeFileSync(p, lines.join('\n') + '\n' + '{"k":999,"seed":1');
    const f = await JsonlFile.open(p, { chunkBytes: 4096 });
    try {
      await f.indexAll();
      const specs = [
        { search: { text: 'boxed{7}', regex: false, caseSensitive: true } },
        { search: { text: 'row \\d+5 ', regex: true, caseSensitive: false } },
        { filter: 'seed == 3 && !is_correct' },
        { groupBy: 'k' },
        { groupBy: 'k', filter: 'seed > 1' },
      ];
      for (const spec of specs) {
        for (const maxGroups of [1000, 20]) {
          const local = new QueryRun(f, spec, { maxGroups });
          await local.advance();
          const w = new WorkerQuery(f, spec, { maxGroups, workers: 3, minParallelBytes: 0 });
          try {
            const done = await w.whenDone();
            const what = `${JSON.stringify(spec)} cap ${maxGroups}`;
            assert.equal(done.matches, local.matches.length, what);
            assert.equal(done.scannedLines, f.lineCount, what);
            assert.deepEqual(w.matchSlice(0, 5000), local.matchSlice(0, 5000), what);
            assert.deepEqual(w.groupSlice(0, 2000), local.groupSlice(0, 2000), what);
            assert.equal(w.warning, local.warning, what);
            for (let g = 0; g < w.groupCount; g += 7) assert.deepEqual(w.groupLines(g, 0, 5000), local.groupLines(g, 0, 5000), what);
          } finally {
            w.cancel();
          }
        }
      }
      // Growth continues in the last range's worker (the unterminated last line is redone).
      const w = new WorkerQuery(f, { groupBy: 'k' }, { workers: 2, minParallelBytes: 0 });
      const before = await w.whenDone();
      writeFileSync(p, ',"is_correct":true}\n{"k":999}\n', { flag: 'a' });
      const after = await w.advance();
      assert.equal(after.matches, before.matches + 1);
      assert.deepEqual(w.groupSlice(0, 1000).find((g) => g.key === '999'), { index: w.groupCount - 1, key: '999', count: 2, correct: 1, incorrect: 0 });
      w.cancel();
    } finally {
      await f.close();
    }
  });

  it('starts from a partly built line index and indexes the rest itself', async () => {
    const p = join(dir, 'partial.jsonl');
    writeFileSync(p, Array.from({ length: 2000 }, (_v, i) => JSON.stringify({ k: i % 3, n: i })).join('\n') + '\n');
    const f = await JsonlFile.open(p, { chunkBytes: 1024 });
    try {
      await f.ensureLines(10);
      assert.equal(f.indexComplete, false);
      const w = new WorkerQuery(f, { groupBy: 'k', filter: 'n % 2 == 0' });
      const done = await w.whenDone();
      assert.equal(done.matches, 1000);
      assert.deepEqual(w.groupSlice(0, 5).map((g) => [g.key, g.count]), [['0', 334], ['2', 333], ['1', 333]]);
      assert.deepEqual(w.groupLines(1, 0, 3), [2, 8, 14]);
      w.cancel();
    } finally {
      await f.close();
    }
  });

  it('cancels mid-regex at once and keeps the matches found before', async () => {
    const p = join(dir, 'redos.jsonl');
    // 50 matching lines (raw text, not records: search looks at the line as written), then the
    // line that makes a backtracking regex run for minutes (2^29 ways to split the x's into words).
    const good = Array.from({ length: 50 }, (_v, i) => `"text":"word ${i}"`);
    writeFileSync(p, good.join('\n') + '\n{"text":"' + 'x'.repeat(30) + '\n');
    const f = await JsonlFile.open(p, { chunkBytes: 512 });
    try {
      const w = new WorkerQuery(f, { search: { text: '"text":"(\\w+\\s?)+"$', regex: true, caseSensitive: true } });
      let stuck = false;
      // The first chunk of good lines arrives; a later one holds the pathological line.
      await new Promise<void>((resolve) => w.onProgress((pr) => { if (pr.matches > 0) resolve(); }));
      const done = w.whenDone().then(() => 'done', (e: Error) => e.name);
      await new Promise((r) => setTimeout(r, 50));
      stuck = w.running;
      assert.equal(stuck, true, 'still in the regex');
      w.cancel();
      assert.equal(await done, 'AbortError');
      assert.equal(w.running, false);
      const kept = w.matchSlice(0, 100);
      assert.ok(kept.length > 0 && kept.length <= 50);
      assert.deepEqual(kept, kept.map((_v, i) => i), 'the good lines found before, in order');
    } finally {
      await f.close();
    }
  });
});
