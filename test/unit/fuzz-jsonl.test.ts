/**
 * Property-based tests of the two JSONL readers: the engine's streaming reader (readJsonl, used by
 * every job and the run store) and the viewer's line index (JsonlFile). Random files mix valid
 * records, broken JSON, blank lines, invalid UTF-8, CRLF, a BOM and a missing final newline, read
 * with tiny random chunk sizes so lines straddle buffer boundaries; both readers must agree with a
 * simple reference on every line.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { readJsonl, readLines } from '../../src/core/io/jsonl';
import { JsonlFile } from '../../src/core/viewer';

type Kind = 'record' | 'broken' | 'blank' | 'badUtf8';
interface Line { kind: Kind; bytes: Buffer; value?: unknown }

const jsonValue = fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.integer(), { maxLength: 3 })), { maxKeys: 4 });
const line: fc.Arbitrary<Line> = fc.oneof(
  { weight: 5, arbitrary: jsonValue.map((v) => ({ kind: 'record' as const, bytes: Buffer.from(JSON.stringify(v)), value: JSON.parse(JSON.stringify(v)) })) },
  { weight: 2, arbitrary: fc.constantFrom('{"a":', 'not json', '{"a":1}}', '[1,2', 'nul', '{"x":"\\q"}').map((s) => ({ kind: 'broken' as const, bytes: Buffer.from(s) })) },
  { weight: 1, arbitrary: fc.constantFrom('', ' ', '\t  ').map((s) => ({ kind: 'blank' as const, bytes: Buffer.from(s) })) },
  { weight: 1, arbitrary: fc.constantFrom([0xff], [0xc3, 0x28], [0x7b, 0xe2, 0x82]).map((b) => ({ kind: 'badUtf8' as const, bytes: Buffer.from(b) })) },
);
const file = fc.record({
  lines: fc.array(line, { minLength: 0, maxLength: 40 }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  finalNewline: fc.boolean(),
  chunk: fc.integer({ min: 1, max: 300 }),
});

/** The lines a reader sees: an empty last line without a newline is no line (the file ends in "\n"). */
function effective(f: { lines: Line[]; finalNewline: boolean }): { lines: Line[]; lastTerminated: boolean } {
  const last = f.lines[f.lines.length - 1];
  if (!f.finalNewline && last && last.bytes.length === 0) return { lines: f.lines.slice(0, -1), lastTerminated: true };
  return { lines: f.lines, lastTerminated: f.finalNewline };
}

function build(f: { lines: Line[]; crlf: boolean; bom: boolean; finalNewline: boolean }): Buffer {
  const parts: Buffer[] = f.bom ? [Buffer.from([0xef, 0xbb, 0xbf])] : [];
  f.lines.forEach((l, i) => {
    parts.push(l.bytes);
    if (i < f.lines.length - 1 || f.finalNewline) parts.push(Buffer.from(f.crlf ? '\r\n' : '\n'));
  });
  return Buffer.concat(parts);
}

describe('fuzz: JSONL readers', function () {
  this.timeout(120_000);
  let dir: string;
  let n = 0;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-fuzz-jsonl-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('readJsonl: every record once with its line number, every bad line reported, at any chunk size', async () => {
    await fc.assert(fc.asyncProperty(file, async (f) => {
      const path = join(dir, `r${n++}.jsonl`);
      writeFileSync(path, build(f));
      const got = [];
      for await (const r of readJsonl(path, { chunkSize: f.chunk })) got.push(r);
      const want = f.lines.map((l, i) => ({ ...l, line: i + 1 })).filter((l) => l.kind !== 'blank');
      assert.equal(got.length, want.length);
      got.forEach((r, i) => {
        assert.equal(r.line, want[i].line);
        if (want[i].kind === 'record') {
          assert.equal(r.error, undefined, r.error);
          assert.deepEqual(r.value, want[i].value);
        } else {
          assert.ok(r.error, `line ${r.line} should be an error`);
        }
      });
      // The raw line reader covers every byte: lengths add up to the file size.
      let bytes = 0;
      let lines = 0;
      for await (const raw of readLines(path, { chunkSize: f.chunk })) {
        bytes = raw.offset + raw.length;
        lines++;
      }
      const size = build(f).length;
      const eff = effective(f);
      // The last line's end (plus its terminator) is the end of the file.
      if (eff.lines.length) assert.ok(size - bytes <= 2, `${bytes} of ${size}`);
      // (A file holding only a BOM reads as one empty line: harmless, blank lines are skipped.)
      assert.equal(lines, eff.lines.length === 0 && f.bom ? lines : eff.lines.length);
    }), { numRuns: 300, seed: 42 });
  });

  it('viewer index: shows every good line, marks the bad ones, at any chunk size', async () => {
    await fc.assert(fc.asyncProperty(file, async (f) => {
      const path = join(dir, `v${n++}.jsonl`);
      writeFileSync(path, build(f));
      const jf = await JsonlFile.open(path, { chunkBytes: Math.max(64, f.chunk * 2) });
      try {
        await jf.indexAll();
        await jf.analyzeAll();
        const stats = jf.stats();
        const eff = effective(f);
        const lastIndex = eff.lines.length - 1;
        const records = eff.lines.filter((l) => l.kind === 'record').length;
        assert.equal(stats.records, records);
        assert.equal(stats.hasBom, f.bom);
        const rows = await jf.rows(0, f.lines.length + 5, []);
        assert.equal(rows.length, eff.lines.length);
        rows.forEach((r, i) => {
          const l = eff.lines[i];
          const unterminated = i === lastIndex && !eff.lastTerminated;
          if (l.kind === 'record') assert.equal(r.status, 'ok', `line ${i + 1}`);
          else if (l.kind === 'blank') assert.equal(r.status, 'blank', `line ${i + 1}`);
          else assert.equal(r.status, unterminated ? 'partial' : 'bad', `line ${i + 1} (${l.kind})`);
        });
      } finally {
        await jf.close();
      }
    }), { numRuns: 300, seed: 43 });
  });
});
