/**
 * The key scan (src/core/viewer/fieldScan.ts) against JSON.parse: on every line it decides, the
 * wanted top-level values equal the parsed record's; lines it cannot read exactly are left to
 * the full parse (undefined). Queries give the same results with and without it.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyScan } from '../../src/core/viewer/fieldScan';
import { JsonlFile } from '../../src/core/viewer/jsonlFile';
import { QueryRun } from '../../src/core/viewer/query';
import { WorkerQuery } from '../../src/core/viewer/workerQuery';

const KEYS = ['seed', 'input_index', 'is_correct', 'meta', 'é'];

const DECIDED = [
  '{"seed":4,"input_index":12,"is_correct":false,"generation":"a \\"quoted\\" } ] , text"}',
  ' { "seed" : -3 , "meta" : { "a" : [1, {"b": "}"}] } , "is_correct" : true } ',
  '{"seed":1e3,"input_index":0.5,"x":[[],{}],"y":null}',
  '{"seed":4,"seed":5}',
  '{"é":"ü","seed":"text with \\\\"}',
  '{"other":"\\\\\\"","seed":18446744073709551616}',
  '{}',
  '{"input_index":-0,"n":[true,false,null]}',
];

const UNDECIDED = [
  '[1,2]',
  '"text"',
  '{"seed":4,}',
  '{"seed":tru}',
  '{"seed":01}',
  '{"seed":4} x',
  '{"se\\u0065d":5}',
  '{"seed":[1,2}',
  '{"seed":"open}',
  '{"seed":-}',
  // Numbers outside JSON's grammar in values the scan skips.
  '{"seed":4,"x":01}',
  '{"seed":4,"x":1.}',
  '{"seed":4,"x":1e}',
  '{"seed":4,"x":+1}',
  '{"seed":4,"x":1-2}',
  '{"seed":4,"x":.5}',
];

describe('viewer key scan', () => {
  const scan = new KeyScan(KEYS);
  const read = (line: string) => {
    const buf = Buffer.from(line, 'utf8');
    return scan.read(buf, 0, buf.length);
  };

  it('reads the wanted top-level values exactly as JSON.parse does', () => {
    for (const line of DECIDED) {
      const got = read(line);
      assert.ok(got, `decided: ${line}`);
      const rec = JSON.parse(line) as Record<string, unknown>;
      KEYS.forEach((k, i) => assert.deepEqual(got![i], Object.prototype.hasOwnProperty.call(rec, k) ? rec[k] : undefined, `${k} in ${line}`));
    }
  });

  it('leaves non-objects, malformed lines and escaped keys to the full parse', () => {
    for (const line of UNDECIDED) assert.equal(read(line), undefined, line);
  });

  it('never counts a line that is not JSON by its fields, before and after the analysis pass', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'sdg-keyscan-'));
    try {
      // Lines whose only defect is inside a string the queries do not read: the key scan sees a
      // well-formed object, JSON.parse (and the row list) a bad line.
      const defects = [
        // A raw tab inside a string (the escaped \t before it is fine).
        Buffer.from('{"seed":4,"is_correct":false,"input_index":1,"generation":"a\\tb raw tab:\t"}'),
        // An escape JSON does not have (\x); the escaped backslash before it is fine.
        Buffer.from('{"seed":4,"is_correct":false,"input_index":1,"generation":"bad escape \\\\x \\x"}'),
        // Invalid UTF-8.
        Buffer.concat([Buffer.from('{"seed":4,"is_correct":false,"input_index":1,"generation":"bytes '), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]),
        // A raw control character.
        Buffer.from('{"seed":4,"is_correct":false,"input_index":1,"generation":"ctl \\u0001 \u0001"}'),
      ];
      const good = (i: number) => Buffer.from(JSON.stringify({ seed: i % 5, is_correct: i % 3 === 0, input_index: i % 7, generation: `g ${i} \\ "q"` }));
      const parts: Buffer[] = [];
      const expectBad = new Set<number>();
      for (let i = 0; i < 400; i++) {
        if (i % 50 === 7) {
          expectBad.add(i);
          parts.push(defects[Math.floor(i / 50) % defects.length]);
        } else parts.push(good(i));
        parts.push(Buffer.from('\n'));
      }
      const p = join(dir, 'defects.jsonl');
      writeFileSync(p, Buffer.concat(parts));
      const f = await JsonlFile.open(p, { chunkBytes: 2048 });
      try {
        const check = async (when: string) => {
          for (const spec of [{ filter: 'seed == 4 && is_correct == false' }, { filter: 'input_index == 1' }, { groupBy: 'input_index' }, { groupBy: 'seed', filter: 'is_correct == false' }]) {
            const fast = new QueryRun(f, spec);
            const slow = new QueryRun(f, spec, { keyScan: false });
            await fast.advance();
            await slow.advance();
            const label = `${when}: ${JSON.stringify(spec)}`;
            assert.deepEqual(fast.matchSlice(0, 1000), slow.matchSlice(0, 1000), label);
            assert.deepEqual(fast.groupSlice(0, 100), slow.groupSlice(0, 100), label);
            for (const line of expectBad) {
              if (spec.groupBy === 'input_index') {
                const missing = fast.groupSlice(0, 100).find((g) => g.key === '(missing)');
                assert.ok(missing && fast.groupLines(missing.index, 0, 1000).includes(line), `${label}: line ${line + 1} under (missing)`);
              } else assert.ok(!fast.matchSlice(0, 1000).includes(line), `${label}: line ${line + 1} excluded`);
            }
            // The extension's path: worker threads, given what the analysis knows.
            const w = new WorkerQuery(f, spec, { workers: 2, minParallelBytes: 0 });
            await w.whenDone();
            assert.deepEqual(w.matchSlice(0, 1000), slow.matchSlice(0, 1000), `${label} (workers)`);
            assert.deepEqual(w.groupSlice(0, 100), slow.groupSlice(0, 100), `${label} (workers)`);
          }
        };
        await f.indexAll();
        assert.equal(f.knownMalformed(), undefined);
        await check('before the analysis');
        await f.analyzeAll();
        const known = f.knownMalformed();
        assert.deepEqual(known && new Set(known.lines), expectBad);
        await check('after the analysis');
      } finally {
        await f.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('filter and group-by results are the same as with a full parse of every line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-keyscan-'));
    try {
      const lines = [...DECIDED, ...UNDECIDED, 'not json', '', '{"seed":4,"is_correct":"yes"}'];
      for (let i = 0; i < 200; i++) lines.push(JSON.stringify({ input_index: i % 9, seed: i % 5, is_correct: i % 3 === 0, meta: { k: i % 4 }, generation: `g ${i} "q" \\ ]}` }));
      const p = join(dir, 'mix.jsonl');
      writeFileSync(p, lines.join('\n') + '\n');
      const f = await JsonlFile.open(p, { chunkBytes: 1024 });
      try {
        const reference = (spec: { filter?: string; groupBy?: string }) => {
          const matches: number[] = [];
          lines.forEach((l, i) => {
            let rec: unknown;
            let ok = true;
            try {
              rec = JSON.parse(l);
            } catch {
              ok = false;
            }
            void ok;
            const r = rec as Record<string, unknown> | undefined;
            if (spec.filter === 'seed == 4 && is_correct == false' && !(r && typeof r === 'object' && r.seed === 4 && r.is_correct === false)) return;
            if (spec.filter === 'meta.k >= 2' && !(r && typeof r === 'object' && typeof (r.meta as { k?: unknown })?.k === 'number' && ((r.meta as { k: number }).k >= 2))) return;
            matches.push(i);
          });
          return matches;
        };
        for (const filter of ['seed == 4 && is_correct == false', 'meta.k >= 2']) {
          const q = new QueryRun(f, { filter });
          await q.advance();
          assert.deepEqual(q.matchSlice(0, 1000), reference({ filter }), filter);
        }
        // Grouping by the grade field itself reads it twice (key and grade).
        const byGrade = new QueryRun(f, { groupBy: 'is_correct' });
        await byGrade.advance();
        const slow = new QueryRun(f, { groupBy: 'is_correct' }, { keyScan: false });
        await slow.advance();
        assert.deepEqual(byGrade.groupSlice(0, 10), slow.groupSlice(0, 10));
        for (const path of ['meta.k', 'seed']) {
          const a = new QueryRun(f, { groupBy: path });
          const b = new QueryRun(f, { groupBy: path }, { keyScan: false });
          await a.advance();
          await b.advance();
          assert.deepEqual(a.groupSlice(0, 100), b.groupSlice(0, 100), path);
          assert.deepEqual(a.groupLines(1, 0, 500), b.groupLines(1, 0, 500), path);
        }
        const g = new QueryRun(f, { groupBy: 'input_index' });
        await g.advance();
        const groups = new Map<string, number>();
        for (const l of lines) {
          let v: unknown;
          try {
            v = (JSON.parse(l) as Record<string, unknown>)?.input_index;
          } catch {
            v = undefined;
          }
          const key = v === undefined ? '(missing)' : typeof v === 'string' ? v : JSON.stringify(v);
          groups.set(key, (groups.get(key) ?? 0) + 1);
        }
        assert.deepEqual(new Map(g.groupSlice(0, 100).map((x) => [x.key, x.count])), groups);
      } finally {
        await f.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
