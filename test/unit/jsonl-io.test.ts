import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { JsonlWriter, JsonlWriteError, countJsonlLines, describeFsError, readJsonl, readJsonlBatches, readLineBatches, readLines } from '../../src/core/io/jsonl';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('jsonl: line reader', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-jsonl-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('gives exact byte offsets and lengths across chunk boundaries (any chunk size)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[\n]/g, '')), { maxLength: 30 }),
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      async (lines, chunkSize, trailingNewline) => {
        const text = lines.join('\n') + (trailingNewline && lines.length > 0 ? '\n' : '');
        const file = join(dir, 'p.txt');
        writeFileSync(file, text);
        const buf = Buffer.from(text, 'utf8');
        const got = await collect(readLines(file, { chunkSize }));
        let offset = 0;
        const expected = text === '' ? [] : (trailingNewline ? lines : lines).map((l, i) => {
          const bytes = Buffer.byteLength(l);
          const last = i === lines.length - 1;
          const terminated = !last || trailingNewline;
          const rec = { line: i + 1, offset, length: bytes + (terminated ? 1 : 0), terminated };
          offset += rec.length;
          return rec;
        }).filter((r) => r.length > 0);
        assert.deepEqual(got.map(({ line, offset: o, length, terminated }) => ({ line, offset: o, length, terminated })), expected);
        for (const l of got) {
          // Content = the bytes at [offset, offset + length) minus the terminator (and a BOM / CR).
          const raw = buf.subarray(l.offset, l.offset + l.length).toString('utf8').replace(/\n$/, '').replace(/\r$/, '');
          assert.equal(l.bytes.toString('utf8'), l.offset === 0 ? raw.replace(/^\uFEFF/, '') : raw);
        }
      },
    ), { numRuns: 150 });
  });

  it('can start at an offset and stop at an end', async () => {
    const file = join(dir, 'a.jsonl');
    writeFileSync(file, '{"a":1}\n{"a":2}\n{"a":3}\n');
    const got = await collect(readLines(file, { start: 8, startLine: 2, end: 16 }));
    assert.deepEqual(got.map((l) => [l.line, l.offset, l.bytes.toString()]), [[2, 8, '{"a":2}']]);
  });
});

describe('jsonl: tolerant parser', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-jsonl-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('handles BOM, CRLF, blank lines, malformed JSON and invalid UTF-8 with line numbers', async () => {
    const file = join(dir, 'mixed.jsonl');
    const parts = [
      Buffer.from('\uFEFF{"id":1}\r\n'),
      Buffer.from('\r\n'),
      Buffer.from('   \n'),
      Buffer.from('{"id":2,"text":"caf\u00e9"}\n'),
      Buffer.from('{"id":3,\n'),
      Buffer.concat([Buffer.from('{"id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]),
      Buffer.from('{"id":5}'),
    ];
    writeFileSync(file, Buffer.concat(parts));
    const recs = await collect(readJsonl(file));
    assert.deepEqual(recs.map((r) => r.line), [1, 4, 5, 6, 7]);
    assert.deepEqual(recs[0].value, { id: 1 });
    assert.deepEqual(recs[1].value, { id: 2, text: 'café' });
    assert.match(recs[2].error!, /^invalid JSON/);
    assert.equal(recs[3].error, 'invalid UTF-8');
    assert.deepEqual(recs[4].value, { id: 5 });
    assert.equal(recs[4].terminated, false);
    assert.equal(recs[3].offset, parts.slice(0, 5).reduce((n, p) => n + p.length, 0));
    assert.equal(await countJsonlLines(file), 5);
    const withBlank = await collect(readJsonl(file, { includeBlank: true }));
    assert.equal(withBlank.length, 7);
  });

  it('batch readers give the same lines and records, one array per chunk', async () => {
    const file = join(dir, 'many.jsonl');
    const text = Array.from({ length: 500 }, (_, i) => (i % 50 === 7 ? 'bad line' : JSON.stringify({ i, pad: 'é'.repeat(i % 13) }))).join('\r\n') + '\n\n';
    writeFileSync(file, text);
    for (const chunkSize of [7, 100, 4096, 1 << 20]) {
      const flatLines = await collect(readLines(file, { chunkSize }));
      const batches = await collect(readLineBatches(file, { chunkSize }));
      assert.deepEqual(batches.flat().map((l) => [l.line, l.offset, l.length]), flatLines.map((l) => [l.line, l.offset, l.length]));
      assert.ok(batches.length <= Math.ceil(Buffer.byteLength(text) / chunkSize) + 1);
      const recs = await collect(readJsonl(file, { chunkSize }));
      const recBatches = (await collect(readJsonlBatches(file, { chunkSize }))).flat();
      assert.deepEqual(recBatches, recs);
      assert.equal(recs.length, 500);
      assert.equal(recs.filter((r) => r.error).length, 10);
    }
  });

  it('a missing file is a clear error', async () => {
    await assert.rejects(collect(readJsonl(join(dir, 'nope.jsonl'))), /file not found: .*nope\.jsonl/);
  });
});

describe('jsonl: writer', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-jsonl-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends items as whole lines, coalesces, and reads back identically', async () => {
    const file = join(dir, 'out.jsonl');
    writeFileSync(file, '{"pre":true}\n');
    const w = await JsonlWriter.open(file);
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 1000; i++) writes.push(w.writeItem([{ id: i, c: 0, text: 'line\nbreak' }, { id: i, c: 1 }]));
    await Promise.all(writes);
    await w.close();
    const recs = await collect(readJsonl<{ id: number; c: number }>(file));
    assert.equal(recs.length, 2001);
    assert.deepEqual(recs[0].value, { pre: true });
    assert.deepEqual(recs.slice(1).map((r) => `${r.value!.id}:${r.value!.c}`), Array.from({ length: 2000 }, (_, k) => `${k >> 1}:${k & 1}`));
  });

  it('one write per item: a short write never splits an item except at the end', async () => {
    // Write through the real writer, then check that every write boundary falls on an item boundary.
    const file = join(dir, 'w.jsonl');
    const w = await JsonlWriter.open(file, { truncate: true });
    const sizes: number[] = [];
    const writer = w as unknown as { writeChunk: (buf: Buffer, offset: number, length: number) => number };
    const realWrite = writer.writeChunk.bind(w);
    writer.writeChunk = (buf, offset, length) => {
      const n = realWrite(buf, offset, length);
      sizes.push(n);
      return n;
    };
    for (let i = 0; i < 50; i++) void w.writeItem([{ id: i, a: 1 }, { id: i, a: 2 }, { id: i, a: 3 }]);
    await w.close();
    const text = readFileSync(file, 'utf8');
    let pos = 0;
    for (const s of sizes) {
      pos += s;
      const before = text.slice(0, pos);
      // Each write ends right after the 3rd row of some item.
      assert.equal(before.endsWith('"a":3}\n'), true);
    }
    assert.equal(pos, Buffer.byteLength(text));
  });

  it('reports a full disk clearly and fails every later write the same way', async function () {
    if (!existsSync('/dev/full')) this.skip();
    const w = await JsonlWriter.open('/dev/full');
    await assert.rejects(w.writeItem([{ a: 1 }]), (e: unknown) => e instanceof JsonlWriteError && e.message === 'disk full while writing /dev/full' && e.code === 'ENOSPC');
    await assert.rejects(w.writeItem([{ a: 2 }]), /disk full while writing \/dev\/full/);
    assert.ok(w.error);
    await assert.rejects(w.close(), /disk full/);
  });

  it('names permission and missing-folder errors', async () => {
    assert.equal(describeFsError(Object.assign(new Error('x'), { code: 'EACCES' }), '/x/out.jsonl').message, 'permission denied writing /x/out.jsonl');
    assert.equal(describeFsError(Object.assign(new Error('x'), { code: 'EROFS' }), '/x/out.jsonl').message, 'read-only file system: cannot write /x/out.jsonl');
    await assert.rejects(JsonlWriter.open(join(dir, 'no', 'such', 'dir', 'out.jsonl')), /folder or file does not exist/);
  });

  it('back-pressure: needsDrain above the high-water mark, drain() resolves after the flush', async () => {
    const w = await JsonlWriter.open(join(dir, 'bp.jsonl'), { highWaterMark: 1000 });
    for (let i = 0; i < 100; i++) void w.writeItem([{ i, pad: 'x'.repeat(50) }]);
    assert.equal(w.needsDrain, true);
    await w.drain();
    assert.equal(w.needsDrain, false);
    await w.close();
    assert.equal(readFileSync(join(dir, 'bp.jsonl'), 'utf8').split('\n').length, 101);
  });
});
