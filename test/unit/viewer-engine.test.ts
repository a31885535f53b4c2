import { strict as assert } from 'node:assert';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LineIndex } from '../../src/core/viewer/lineIndex';
import { JsonlFile } from '../../src/core/viewer/jsonlFile';
import { QueryRun, QueryError, compileQuery, requiredLiteral, filterNeedle } from '../../src/core/viewer/query';
import { parseExpr as parseFilter } from '../../src/core/expr';

/** Offsets computed the slow, obvious way: every byte after a \n starts a line. */
function naiveStarts(buf: Buffer): number[] {
  const bom = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0;
  const starts = [bom];
  for (let i = bom; i < buf.length; i++) if (buf[i] === 10) starts.push(i + 1);
  if (starts[starts.length - 1] === buf.length && starts.length > 1) starts.pop();
  else if (buf.length === bom) starts.pop();
  return starts;
}

function indexOf(buf: Buffer, chunk: number): LineIndex {
  const idx = new LineIndex();
  idx.setFileSize(buf.length);
  for (let p = 0; p < buf.length; p += chunk) idx.scan(buf.subarray(p, Math.min(buf.length, p + chunk)));
  return idx;
}

describe('viewer line index', () => {
  const cases: Array<[string, string]> = [
    ['empty file', ''],
    ['trailing newline', '{"a":1}\n{"a":2}\n'],
    ['no trailing newline', '{"a":1}\n{"a":2}'],
    ['CRLF', '{"a":1}\r\n{"a":2}\r\n'],
    ['BOM', '\ufeff{"a":1}\n{"a":2}\n'],
    ['BOM only', '\ufeff'],
    ['blank lines', '\n\n{"a":1}\n\n'],
    ['single newline', '\n'],
  ];
  for (const [name, text] of cases) {
    it(`offsets match a naive scan: ${name}, in chunks of 1, 3 and whole`, () => {
      const buf = Buffer.from(text, 'utf8');
      for (const chunk of [1, 3, Math.max(1, buf.length)]) {
        const idx = indexOf(buf, chunk);
        const expected = naiveStarts(buf);
        assert.equal(idx.lineCount, expected.length, `${name} chunk ${chunk}`);
        for (let i = 0; i < expected.length; i++) assert.equal(idx.start(i), expected[i]);
      }
    });
  }

  it('counts only newline-terminated lines while the scan is incomplete', () => {
    const idx = new LineIndex();
    idx.setFileSize(100);
    idx.scan(Buffer.from('{"a":1}\n{"a"'));
    assert.equal(idx.lineCount, 1);
    assert.equal(idx.complete, false);
  });

  it('finds the line holding a byte offset', () => {
    const idx = indexOf(Buffer.from('ab\ncd\nef\n'), 4);
    assert.equal(idx.lineAt(0), 0);
    assert.equal(idx.lineAt(2), 0);
    assert.equal(idx.lineAt(3), 1);
    assert.equal(idx.lineAt(8), 2);
  });

  it('stays within 8 bytes per line plus one block of slack', () => {
    const lines = 200_000;
    const idx = new LineIndex();
    const buf = Buffer.from('x\n'.repeat(lines));
    idx.setFileSize(buf.length);
    idx.scan(buf);
    assert.ok(idx.memoryBytes <= (lines + 65536) * 8, `memory ${idx.memoryBytes}`);
    for (const i of [0, 1, 65535, 65536, 65537, 131072, lines - 1]) assert.equal(idx.start(i), i * 2);
  });
});

describe('viewer JSONL file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string | Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('serves the first page before the whole file is indexed', async () => {
    const body = Array.from({ length: 5000 }, (_, i) => JSON.stringify({ i, text: 'y'.repeat(50) })).join('\n') + '\n';
    const f = await JsonlFile.open(write('big.jsonl', body), { chunkBytes: 4096 });
    try {
      const rows = await f.rows(0, 10, ['i']);
      assert.deepEqual(rows.map((r) => r.cells[0]), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      assert.equal(f.indexComplete, false, 'the index should not have read the whole file for page 1');
      await f.indexAll();
      assert.equal(f.lineCount, 5000);
      const page = await f.rows(4321, 100, ['i']);
      assert.equal(page.length, 100);
      assert.equal(page[0].cells[0], '4321');
      assert.equal(page[99].cells[0], '4420');
      assert.equal((await f.rows(4990, 100, ['i'])).length, 10);
      const picked = await f.rowsFor([4999, 7, 8, 9, 1234, 0], ['i']);
      assert.deepEqual(picked.map((r) => r.cells[0]), ['4999', '7', '8', '9', '1234', '0']);
    } finally {
      await f.close();
    }
  });

  it('reads BOM, CRLF, blank, malformed and invalid UTF-8 lines without losing good ones', async () => {
    const bad = Buffer.concat([
      Buffer.from('\ufeff{"a":1,"is_correct":true}\r\n{"a":2,"is_correct":false}\r\nnot json at all\r\n\r\n'),
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a]), // {"a":"\xff\xfe"}
      Buffer.from('<img src=x onerror=alert(1)>\n{"a":3}'),
    ]);
    const f = await JsonlFile.open(write('mixed.jsonl', bad));
    try {
      const rows = await f.rows(0, 100, ['a']);
      // The invalid UTF-8 line is marked bad (it is still shown, with replacement characters).
      assert.deepEqual(rows.map((r) => r.status), ['ok', 'ok', 'bad', 'blank', 'bad', 'bad', 'ok']);
      assert.equal(rows[0].cells[0], '1');
      assert.equal(rows[0].correct, true);
      assert.match(String(rows[4].preview), /\ufffd\ufffd/);
      assert.equal(rows[2].preview, 'not json at all');
      assert.equal(rows[6].cells[0], '3');
      await f.analyzeAll();
      const s = f.stats();
      assert.equal(s.lines, 7);
      assert.equal(s.records, 3);
      assert.equal(s.malformed, 3);
      assert.deepEqual(s.malformedLines, [2, 4, 5]);
      assert.equal(s.blank, 1);
      assert.equal(s.correct, 1);
      assert.equal(s.incorrect, 1);
      assert.equal(s.hasBom, true);
      assert.deepEqual(s.keys.map((k) => [k.name, k.count]), [['a', 3], ['is_correct', 2]]);
    } finally {
      await f.close();
    }
  });

  it('handles an empty file and a file that is not JSONL at all', async () => {
    const e = await JsonlFile.open(write('empty.jsonl', ''));
    await e.analyzeAll();
    assert.equal(e.lineCount, 0);
    assert.deepEqual(await e.rows(0, 100, ['a']), []);
    await assert.rejects(e.record(0), /past the end/);
    await e.close();
    const t = await JsonlFile.open(write('readme.jsonl', '# Title\n\nSome prose.\n'));
    await t.analyzeAll();
    const s = t.stats();
    assert.equal(s.lines, 3);
    assert.equal(s.malformed, 2);
    assert.equal(s.blank, 1);
    assert.equal(s.records, 0);
    await t.close();
  });

  it('warns about a UTF-16 file', async () => {
    const f = await JsonlFile.open(write('u16.jsonl', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('{"a":1}\n', 'utf16le')])));
    await f.analyzeAll();
    assert.match(f.stats().warning ?? '', /UTF-16/);
    assert.equal(f.stats().malformed, 1);
    await f.close();
  });

  it('marks an unterminated, unparsable last line as partial, not malformed', async () => {
    const f = await JsonlFile.open(write('p.jsonl', '{"a":1}\n{"a":'));
    await f.analyzeAll();
    assert.equal(f.stats().malformed, 0);
    assert.equal(f.stats().partialLastLine, true);
    assert.equal((await f.rows(1, 1, ['a']))[0].status, 'partial');
    await f.close();
  });

  it('cuts long cells and bounds the detail of a huge single line', async () => {
    const long = 'z'.repeat(3_000_000);
    const f = await JsonlFile.open(write('long.jsonl', JSON.stringify({ id: 7, text: long }) + '\n{"id":8}\n'), {
      chunkBytes: 1 << 20,
      detailFieldChars: 10_000,
      detailTextChars: 20_000,
    });
    try {
      const rows = await f.rows(0, 2, ['id', 'text']);
      assert.equal(rows[0].cells[0], '7');
      assert.equal(rows[0].cells[1]!.length, f.limits.cellChars + 1);
      assert.ok(rows[0].cells[1]!.endsWith('…'));
      assert.equal(rows[1].cells[0], '8');
      const d = await f.record(0);
      const text = d.fields.find((x) => x.name === 'text')!;
      assert.equal(text.truncated, true);
      assert.equal(text.text.length, 10_000);
      assert.equal(text.totalChars, 3_000_000);
      assert.ok(d.text.length <= 20_000);
      assert.match(d.note ?? '', /first 10,000 characters/);
    } finally {
      await f.close();
    }
  });

  it('does not parse lines above the parse limit but shows a raw prefix', async () => {
    const f = await JsonlFile.open(write('huge.jsonl', `{"a":"${'q'.repeat(5000)}"}\n{"a":1}\n`), { chunkBytes: 1024, parseLimitBytes: 2000, detailTextChars: 100 });
    try {
      const rows = await f.rows(0, 2, ['a']);
      assert.equal(rows[0].status, 'tooLong');
      assert.ok(rows[0].preview!.startsWith('{"a":"qqq'));
      assert.equal(rows[1].cells[0], '1');
      const d = await f.record(0);
      assert.equal(d.status, 'tooLong');
      assert.equal(d.text.length, 100);
      assert.match(d.note!, /parse limit/);
      await f.analyzeAll();
      assert.equal(f.stats().tooLong, 1);
      assert.equal(f.stats().records, 1);
      const bad = new QueryRun(f, { filter: '$bad || !a' });
      await bad.advance();
      assert.deepEqual(bad.matchSlice(0, 10), [], 'a line too long to parse is neither malformed nor a record');
      const raw = new QueryRun(f, { search: { text: 'qqqq', regex: false, caseSensitive: true } });
      await raw.advance();
      assert.deepEqual(raw.matchSlice(0, 10), [0], 'its prefix is searched');
    } finally {
      await f.close();
    }
  });

  it('follows appended lines, a completed partial line, truncation and a rewrite', async () => {
    const p = write('tail.jsonl', '{"a":1}\n{"a":2}\n');
    const f = await JsonlFile.open(p);
    try {
      await f.analyzeAll();
      assert.equal(f.lineCount, 2);
      appendFileSync(p, '{"a":3}\n{"a"');
      assert.equal(await f.refresh(), 'grown');
      await f.analyzeAll();
      assert.equal(f.lineCount, 4);
      assert.equal(f.stats().records, 3);
      assert.equal(f.stats().partialLastLine, true);
      appendFileSync(p, ':4}\n');
      assert.equal(await f.refresh(), 'grown');
      await f.analyzeAll();
      assert.equal(f.lineCount, 4);
      assert.equal(f.stats().records, 4);
      assert.equal(f.stats().partialLastLine, false);
      assert.equal((await f.rows(3, 1, ['a']))[0].cells[0], '4');
      assert.equal(await f.refresh(), 'unchanged');

      writeFileSync(p, '{"a":9}\n');
      assert.equal(await f.refresh(), 'reset');
      await f.analyzeAll();
      assert.equal(f.lineCount, 1);
      assert.equal(f.stats().records, 1);
      assert.equal((await f.rows(0, 1, ['a']))[0].cells[0], '9');

      // Same size, different content (rewritten in place): the head check catches it.
      writeFileSync(p, '{"a":8}\n');
      assert.equal(await f.refresh(), 'reset');
      await f.analyzeAll();
      assert.equal((await f.rows(0, 1, ['a']))[0].cells[0], '8');

      // Replaced by rename (new inode), as editors and atomic writers do.
      const q = join(dir, 'other.jsonl');
      writeFileSync(q, '{"a":5}\n{"a":6}\n{"a":7}\n');
      renameSync(q, p);
      assert.equal(await f.refresh(), 'reset');
      await f.analyzeAll();
      assert.equal(f.lineCount, 3);
    } finally {
      await f.close();
    }
  });
});

describe('viewer search, filter and group-by', () => {
  let dir: string;
  let file: JsonlFile;
  const records = [
    { input_index: 0, problem: 'Add 2+2', generation: 'The answer is \\boxed{4}', predicted_answer: '4', is_correct: true, seed: 1 },
    { input_index: 0, problem: 'Add 2+2', generation: 'I think 5', predicted_answer: '5', is_correct: false, seed: 2 },
    { input_index: 1, problem: 'Café prices', generation: 'Le café coûte 3', predicted_answer: '3', is_correct: true, seed: 3, meta: { source: 'x' } },
    { input_index: 1, problem: 'Café prices', generation: 'say "hi"', predicted_answer: null, is_correct: false, seed: 5 },
  ];
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-q-'));
    const p = join(dir, 'g.jsonl');
    writeFileSync(p, records.map((r) => JSON.stringify(r)).join('\n') + '\nthis line is broken\n' + JSON.stringify({ input_index: 2, generation: 'Caf\\u00e9' }).replace('\\\\u00e9', '\\u00e9') + '\n');
    file = await JsonlFile.open(p, { chunkBytes: 64 });
  });
  after(async () => {
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (spec: ConstructorParameters<typeof QueryRun>[1]): Promise<number[]> => {
    const q = new QueryRun(file, spec);
    await q.advance();
    return q.matchSlice(0, 1000);
  };

  it('plain search in all fields, case sensitive and not', async () => {
    assert.deepEqual(await run({ search: { text: 'answer', regex: false, caseSensitive: true } }), [0, 1, 2, 3]); // key predicted_answer
    assert.deepEqual(await run({ search: { text: 'I THINK', regex: false, caseSensitive: false } }), [1]);
    assert.deepEqual(await run({ search: { text: 'I THINK', regex: false, caseSensitive: true } }), []);
    assert.deepEqual(await run({ search: { text: 'broken', regex: false, caseSensitive: true } }), [4]);
  });

  it('finds non-ASCII text written raw or as \\u escapes, and quotes', async () => {
    assert.deepEqual(await run({ search: { text: 'Café', regex: false, caseSensitive: true } }), [2, 3, 5]);
    assert.deepEqual(await run({ search: { text: 'say "hi"', regex: false, caseSensitive: true } }), [3]);
  });

  it('regex search over the raw line and within one field', async () => {
    assert.deepEqual(await run({ search: { text: '"seed":[35]\\}?', regex: true, caseSensitive: true } }), [2, 3]);
    assert.deepEqual(await run({ search: { text: '^\\{"input_index":1', regex: true, caseSensitive: true } }), [2, 3]);
    assert.deepEqual(await run({ search: { text: '^I', regex: true, caseSensitive: true, field: 'generation' } }), [1]);
    assert.deepEqual(await run({ search: { text: 'boxed', regex: false, caseSensitive: true, field: 'generation' } }), [0]);
    assert.deepEqual(await run({ search: { text: 'boxed', regex: false, caseSensitive: true, field: 'problem' } }), []);
    assert.deepEqual(await run({ search: { text: 'x', regex: false, caseSensitive: true, field: 'meta.source' } }), [2]);
  });

  it('finds the literal every regex match must contain (or none)', () => {
    const cases: Array<[string, string | undefined]> = [
      ['Step 99999[0-9]:', 'Step 99999'],
      ['a|b', undefined],
      ['foo(bar|baz)qux', 'foo'],
      ['colou?r', 'colo'],
      ['x\\.json', 'x.json'],
      ['x{2}abc', 'abc'],
      ['\\u0041BCD', undefined],
      ['hello\\x41world', 'hello'],
      ['[abc]+hello', 'hello'],
      ['ab+cd', undefined],
    ];
    for (const [src, lit] of cases) assert.equal(requiredLiteral(src), lit, src);
  });

  it('case-insensitive search with non-ASCII text and regexes without a literal', async () => {
    assert.deepEqual(await run({ search: { text: 'CAFÉ', regex: false, caseSensitive: false } }), [2, 3, 5]);
    assert.deepEqual(await run({ search: { text: 'le CAF', regex: false, caseSensitive: false, field: 'generation' } }), [2]);
    assert.deepEqual(await run({ search: { text: '\\d\\D\\d', regex: true, caseSensitive: true, field: 'problem' } }), [0, 1]);
    assert.deepEqual(await run({ search: { text: 'i (think|am) \\d', regex: true, caseSensitive: false } }), [1]);
  });

  it('reports a bad regex as a search error', () => {
    assert.throws(() => compileQuery({ search: { text: '(', regex: true, caseSensitive: true } }), (e: unknown) => e instanceof QueryError && e.part === 'search' && /bad regex/.test(e.message));
  });

  it('filters with an expression, including $bad and $line', async () => {
    assert.deepEqual(await run({ filter: 'is_correct == false && seed < 4' }), [1]);
    assert.deepEqual(await run({ filter: '!is_correct' }), [1, 3, 4, 5]);
    assert.deepEqual(await run({ filter: '$bad' }), [4]);
    assert.deepEqual(await run({ filter: '$line >= 5 && !$bad' }), [5]);
    assert.deepEqual(await run({ filter: 'predicted_answer == null && input_index == 1' }), [3]);
    assert.deepEqual(await run({ filter: 'generation =~ /boxed\\{\\d\\}/' }), [0]);
    assert.deepEqual(await run({ search: { text: 'Add', regex: false, caseSensitive: true }, filter: 'is_correct' }), [0]);
  });

  it('derives a raw-text prefilter from a filter only where it is sound', () => {
    const needle = (src: string): string | undefined => filterNeedle(parseFilter(src));
    assert.equal(needle('problem contains "Caf" && seed > 1'), 'Caf');
    assert.equal(needle('problem == "Add 2+2"'), 'Add 2+2');
    assert.equal(needle('seed > 1'), '"seed"');
    assert.equal(needle('generation =~ /boxed\\{4/'), 'boxed{4');
    assert.equal(needle('generation =~ /boxed/i'), '"generation"');
    assert.equal(needle('a == "x" || b == "y"'), undefined);
    assert.equal(needle('!is_correct'), undefined);
    assert.equal(needle('x == null'), undefined);
    assert.equal(needle('x != "a"'), undefined);
    assert.equal(needle('$bad'), undefined);
    assert.equal(needle('x == "say \\"hi\\""'), '"x"');
  });

  it('gives the same results with and without the filter prefilter', async () => {
    assert.deepEqual(await run({ filter: 'problem contains "Caf" && seed > 3' }), [3]);
    assert.deepEqual(await run({ filter: 'generation == "say \\"hi\\""' }), [3]);
    assert.deepEqual(await run({ filter: 'meta.source == "x"' }), [2]);
  });

  it('reports filter errors with their column', () => {
    assert.throws(() => compileQuery({ filter: 'seed < ' }), (e: unknown) => e instanceof QueryError && e.part === 'filter' && e.column === 8);
  });

  it('groups by a key with grade counts, in first-seen order', async () => {
    const q = new QueryRun(file, { groupBy: 'input_index' });
    await q.advance();
    assert.deepEqual(q.groupSlice(0, 10), [
      { index: 0, key: '0', count: 2, correct: 1, incorrect: 1 },
      { index: 1, key: '1', count: 2, correct: 1, incorrect: 1 },
      { index: 2, key: '(missing)', count: 1, correct: 0, incorrect: 0 },
      { index: 3, key: '2', count: 1, correct: 0, incorrect: 0 },
    ]);
    assert.deepEqual(q.groupLines(1, 0, 10), [2, 3]);
    assert.deepEqual(q.groupSlice(0, 10, 'key').map((x) => x.key), ['0', '1', '2', '(missing)']);
    assert.deepEqual(q.groupSlice(0, 10, 'count').map((x) => x.index), [0, 1, 2, 3]);
    assert.deepEqual(q.groupSlice(0, 10, 'correct').map((x) => x.key), ['0', '1', '(missing)', '2']);
    assert.deepEqual(q.groupSlice(1, 2, 'key').map((x) => [x.index, x.key]), [[1, '1'], [3, '2']]);
    const g = new QueryRun(file, { groupBy: 'problem', filter: 'is_correct' });
    await g.advance();
    assert.deepEqual(g.groupSlice(0, 10).map((x) => [x.key, x.count]), [['Add 2+2', 1], ['Café prices', 1]]);
  });

  it('reports progress and stops on abort', async () => {
    const q = new QueryRun(file, { filter: 'seed > 0' });
    const seen: number[] = [];
    await q.advance({ onProgress: (p) => seen.push(p.scannedLines) });
    assert.ok(seen.length >= 2, 'progress reported per chunk');
    assert.equal(seen[seen.length - 1], file.lineCount);
    const ac = new AbortController();
    const r = new QueryRun(file, { filter: 'seed > 0' });
    let calls = 0;
    await assert.rejects(
      r.advance({ signal: ac.signal, onProgress: () => { if (++calls === 2) ac.abort(); } }),
      (e: unknown) => (e as Error).name === 'AbortError',
    );
    assert.ok(r.scannedLines < file.lineCount);
  });

  it('continues a query over appended lines and redoes a completed partial line', async () => {
    const p = join(dir, 'grow.jsonl');
    writeFileSync(p, '{"ok":true}\n{"ok":false}\n');
    const f = await JsonlFile.open(p);
    try {
      const q = new QueryRun(f, { filter: 'ok', groupBy: 'ok' });
      await q.advance();
      assert.deepEqual(q.matchSlice(0, 10), [0]);
      appendFileSync(p, '{"ok":tr');
      await f.refresh();
      await q.advance();
      assert.deepEqual(q.matchSlice(0, 10), [0]);
      appendFileSync(p, 'ue}\n{"ok":true}\n');
      await f.refresh();
      await q.advance();
      assert.deepEqual(q.matchSlice(0, 10), [0, 2, 3]);
      assert.equal(q.groupSlice(0, 10)[0].count, 3);
    } finally {
      await f.close();
    }
  });
});
