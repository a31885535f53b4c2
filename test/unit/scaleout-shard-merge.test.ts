import { strict as assert } from 'node:assert';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { generateSolutions } from '../../src/core/generate';
import { resolveEndpoint } from '../../src/core/llm/presets';
import { formatCommand, withOptions, type CommandRecord, writeCommandRecord } from '../../src/core/scale/command';
import { expandPattern, mergeChunks } from '../../src/core/scale/merge';
import { chunkOutputPath, chunkSize, inChunk, validateChunk } from '../../src/core/scale/shard';
import { startMockServer, type MockServer } from '../support/mockServer';

const PROBLEMS = Array.from({ length: 11 }, (_, i) => ({ problem: `What is ${i} + ${i}?`, expected_answer: String(2 * i) }));

function lines(file: string): any[] {
  return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('sharding and merge (scale-out)', function () {
  this.timeout(60_000);
  let server: MockServer;
  let dir: string;
  let input: string;
  before(async () => {
    server = await startMockServer({});
  });
  after(async () => server.close());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-shard-'));
    input = join(dir, 'in.jsonl');
    writeFileSync(input, PROBLEMS.map((p) => JSON.stringify(p)).join('\n') + '\n\n');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const endpoint = () => resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' });
  async function runChunk(out: string, chunkId: number, numChunks: number, extra: { startSeed?: number; numSeeds?: number } = {}) {
    const output = chunkOutputPath(out, chunkId);
    const r = await generateSolutions({ input, output, prompt: 'generic_math', endpoint: endpoint(), numSeeds: extra.numSeeds ?? 2, startSeed: extra.startSeed, numSamples: 2, chunk: { numChunks, chunkId } });
    assert.equal(r.status, 'completed');
    return output;
  }

  it('names chunk outputs and validates chunk flags', () => {
    assert.equal(chunkOutputPath('labels/out.jsonl', 3), join('labels', 'out-chunk3.jsonl'));
    assert.equal(chunkOutputPath('out.jsonl', 0), 'out-chunk0.jsonl');
    assert.equal(chunkOutputPath('/a/b/data', 2), '/a/b/data-chunk2');
    assert.equal(chunkOutputPath('parts/{chunk}/rows.jsonl', 7), 'parts/7/rows.jsonl');
    assert.throws(() => validateChunk({ numChunks: 4 }), /--num-chunks needs --chunk-id \(0\.\.3\)/);
    assert.throws(() => validateChunk({ chunkId: 1 }), /--chunk-id needs --num-chunks/);
    assert.throws(() => validateChunk({ numChunks: 4, chunkId: 4 }), /--chunk-id must be a whole number in 0\.\.3, got 4/);
    assert.deepEqual(validateChunk({ numChunks: 1, chunkId: 0 }), { numChunks: 1, chunkId: 0 });
  });

  it('chunks partition the input: union is the whole, no overlap, sizes as announced', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 40 }), (total, n) => {
      const owner = new Array(total).fill(-1);
      for (let c = 0; c < n; c++) {
        let size = 0;
        for (let i = 0; i < total; i++) {
          if (!inChunk(i, { numChunks: n, chunkId: c })) continue;
          assert.equal(owner[i], -1, `row ${i} in two chunks`);
          owner[i] = c;
          size++;
        }
        assert.equal(chunkSize(total, { numChunks: n, chunkId: c }), size);
      }
      assert.ok(owner.every((o) => o >= 0), 'every row has a chunk');
    }));
  });

  it('generated chunks hold exactly the items of the whole job; merge joins them (complete)', async () => {
    const out = join(dir, 'out.jsonl');
    const whole = join(dir, 'whole.jsonl');
    await generateSolutions({ input, output: whole, prompt: 'generic_math', endpoint: endpoint(), numSeeds: 2, numSamples: 2 });
    const files = [];
    for (let c = 0; c < 3; c++) files.push(await runChunk(out, c, 3));
    const keys = (f: string) => lines(f).map((r) => `${r.input_index}:${r.seed}:${r.sample_index}`);
    const chunkKeys = files.flatMap(keys);
    assert.equal(new Set(chunkKeys).size, chunkKeys.length, 'no item in two chunks');
    assert.deepEqual([...chunkKeys].sort(), keys(whole).sort());
    for (const [c, f] of files.entries()) assert.ok(lines(f).every((r) => r.input_index % 3 === c));
    // The chunk is frozen in the run config: another chunk id on the same output is refused.
    await assert.rejects(generateSolutions({ input, output: files[0], prompt: 'generic_math', endpoint: endpoint(), numSeeds: 2, numSamples: 2, chunk: { numChunks: 3, chunkId: 1 } }), /chunk\.chunk_id/);

    const merged = join(dir, 'merged.jsonl');
    const r = await mergeChunks({ files: expandPattern(join(dir, 'out-chunk*.jsonl')), output: merged });
    assert.equal(r.complete, true);
    assert.equal(r.written, true);
    assert.equal(r.problems, 11);
    assert.equal(r.expectedItems, 22);
    assert.equal(r.mergedItems, 22);
    assert.equal(r.rows, 44);
    assert.deepEqual(r.shards.map((s) => [s.chunkId, s.expected, s.merged, s.missing]), [[0, 8, 8, 0], [1, 8, 8, 0], [2, 6, 6, 0]]);
    assert.deepEqual(lines(merged).map((x) => `${x.input_index}:${x.seed}:${x.sample_index}`).sort(), keys(whole).sort());
    assert.equal(readFileSync(merged, 'utf8'), files.map((f) => readFileSync(f, 'utf8')).join(''), 'rows copied byte for byte, chunk by chunk');
  });

  it('reports missing chunks and items, failed items and duplicates; writes nothing unless allowed', async () => {
    const out = join(dir, 'out.jsonl');
    const f0 = await runChunk(out, 0, 4);
    const f2 = await runChunk(out, 2, 4);
    const record: CommandRecord = { version: 1, launcher: ['sdg'], argv: ['generate', '--input', 'in.jsonl', '--output', 'out.jsonl', '--model', "it's", '--num-chunks', '4', '--chunk-id', '0', '--overwrite'], cwd: dir };
    await writeCommandRecord(`${f0}.run`, record);
    // Chunk 2: the rows of one item lost (as if cut before a resume), one item duplicated, one failed.
    const rows = readFileSync(f2, 'utf8').trim().split('\n');
    const items = new Map<string, string[]>();
    for (const l of rows) {
      const v = JSON.parse(l);
      const k = `${v.input_index}:${v.seed}`;
      if (!items.has(k)) items.set(k, []);
      items.get(k)!.push(l);
    }
    const [lost, dup, fail, ...rest] = [...items.values()];
    const failRow = { ...JSON.parse(fail[0]), generation: null, error: 'HTTP 500', sample_index: 0 };
    writeFileSync(f2, [...dup, ...rest.flat(), ...dup, JSON.stringify(failRow)].join('\n') + '\n' + lost[0] + '\n');
    const merged = join(dir, 'merged.jsonl');
    const r = await mergeChunks({ files: [f0, f2, join(dir, 'out-chunk3.jsonl')], output: merged });
    assert.equal(r.complete, false);
    assert.equal(r.written, false);
    assert.equal(existsSync(merged), false);
    assert.ok(!expandPattern(join(dir, '*merge-tmp*')).length, 'no temp file left');
    // 11 problems x 2 seeds; chunks 0, 1, 2 expect 6 items each, chunk 3 expects 4.
    assert.equal(r.expectedItems, 22);
    assert.equal(r.duplicateItems, 1);
    assert.equal(r.failedItems, 1);
    assert.equal(r.incompleteItems, 1);
    // Chunk 2 keeps 3 whole items + the duplicated one; the lost and the failed one are missing.
    assert.equal(r.mergedItems, 6 + 4);
    assert.equal(r.missingItems, 22 - 10);
    const by = Object.fromEntries(r.shards.map((s) => [s.chunkId, s]));
    assert.deepEqual([by[0].missing, by[1].missing, by[2].missing, by[3].missing], [0, 6, 2, 4]);
    assert.equal(by[1].found, false);
    assert.equal(by[1].output, join(dir, 'out-chunk1.jsonl'));
    assert.equal(by[2].failed, 1);
    // Commands: chunk 2 from chunk 0's record with its id; never --overwrite; quoting kept.
    assert.equal(by[2].command, `cd ${dir} && sdg generate --input in.jsonl --output out.jsonl --model 'it'\\''s' --num-chunks 4 --chunk-id 2 --start-seed 0 --num-seeds 2`);
    assert.equal(r.rerun.length, 3);
    assert.ok(r.rerun.every((c) => !c.includes('--overwrite')));
    assert.ok(r.missingExamples.length > 0);

    const partial = await mergeChunks({ files: [f0, f2], output: merged, allowMissing: true });
    assert.equal(partial.written, true);
    assert.equal(lines(merged).length, 10 * 2);
    const ids = lines(merged).map((x) => `${x.input_index}:${x.seed}:${x.sample_index}`);
    assert.equal(new Set(ids).size, ids.length, 'duplicates kept once');
    assert.ok(lines(merged).every((x) => x.error === null));
  });

  it('expects the seeds asked for, and refuses chunks from different jobs', async () => {
    const out = join(dir, 'out.jsonl');
    const a = await runChunk(out, 0, 1, { startSeed: 0, numSeeds: 2 });
    const r = await mergeChunks({ files: [a], output: join(dir, 'm.jsonl'), startSeed: 0, numSeeds: 4 });
    assert.equal(r.complete, false);
    assert.deepEqual(r.uncoveredSeeds, [{ from: 2, to: 3 }]);
    assert.equal(r.missingItems, 22);
    assert.match(r.rerun.join('\n'), /seeds 2\.\.3: no chunk output covers them/);

    const other = join(dir, 'other.jsonl');
    await generateSolutions({ input, output: chunkOutputPath(other, 1), prompt: 'generic_math', endpoint: endpoint(), numSeeds: 2, numSamples: 3, chunk: { numChunks: 2, chunkId: 1 } });
    const b = await runChunk(join(dir, 'two.jsonl'), 0, 2);
    await assert.rejects(mergeChunks({ files: [b, chunkOutputPath(other, 1)], output: join(dir, 'm.jsonl') }), /generated with other settings .*num_samples \(2 vs 3\)/);
    await assert.rejects(mergeChunks({ files: [a, b], output: join(dir, 'm.jsonl') }), /disagree on the number of chunks/);
    await assert.rejects(mergeChunks({ files: [input], output: join(dir, 'm.jsonl') }), /no in\.jsonl\.run\/config\.json beside it/);
    await assert.rejects(mergeChunks({ files: [b], output: b }), /is the merge output/);
    appendFileSync(input, JSON.stringify({ problem: 'new', expected_answer: '1' }) + '\n');
    const grown = await mergeChunks({ files: [a], output: join(dir, 'm.jsonl') });
    assert.equal(grown.problems, 12, 'expectations follow the input as it is now');
  });

  it('rewrites options in recorded commands', () => {
    assert.deepEqual(withOptions(['generate', '--chunk-id=1', '--output', 'o', '--overwrite'], { '--chunk-id': '5', '--seed': '2' }, ['--overwrite']), ['generate', '--chunk-id', '5', '--output', 'o', '--seed', '2']);
    assert.equal(formatCommand({ version: 1, launcher: ['node', '/x y/cli.js'], argv: ['generate', '--stop', '\n'], cwd: '/w' }), `cd /w && node '/x y/cli.js' generate --stop '\n'`);
  });
});
