/**
 * Issue 15.15: the downstream commands stream. `sdg metrics`, `vote` and `export-sft` once took
 * 860 MB, 1.44 GB and 666 MB on 1M graded rows; each now keeps a few numbers per sample. Peak RSS
 * is measured from outside the process (GNU time, or /proc polling), on the bench's generator
 * (8 samples per problem, right / off-by-one / equivalent / missing answers).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeGenerations, measure } from '../../bench/math';
import { describeSection, record } from './report';

const SECTION = 'Memory of the downstream commands on 1M rows';
const ROWS = 1_000_000;
// Well above what streaming needs (~200-330 MB here, mostly the runtime and the graded row in
// flight) and well below the sizes seen before (666 MB to 1.44 GB): a regression to holding rows fails.
const LIMIT_MB = 600;

describe('reliability: downstream commands on 1M rows keep memory bounded', function () {
  this.timeout(20 * 60_000);
  const dir = join(tmpdir(), `sdg-rel-downstream-${process.pid}`);
  let graded: string;
  before(async () => {
    mkdirSync(dir, { recursive: true });
    const gen = join(dir, 'generations.jsonl');
    await makeGenerations(gen, ROWS);
    graded = join(dir, 'graded', 'graded.jsonl');
    const g = await measure(['grade', '--input', gen, '--output', graded]);
    describeSection(SECTION, `A generated file of ${ROWS.toLocaleString('en-US')} solutions (${(statSync(gen).size / 1e6).toFixed(0)} MB, 8 per problem) is graded, then each ` +
      'command runs in its own process; peak resident memory is read from outside the process (GNU time\'s maximum RSS, or /proc). ' +
      `Before the fix: metrics 860 MB, vote 1.44 GB, export-sft 666 MB. Judged: under ${LIMIT_MB} MB.`);
    record(SECTION, 'sdg grade: peak RSS, time', `${g.peakRssMb.toFixed(0)} MB, ${g.elapsedS.toFixed(1)} s`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, args] of [
    ['metrics', (d: string, input: string) => ['metrics', input, '--json', '--output', join(d, 'metrics', 'm.json')]],
    ['vote', (d: string, input: string) => ['vote', '--input', input, '--output', join(d, 'voted', 'v.jsonl')]],
    ['export-sft', (d: string, input: string) => ['export-sft', '--input', input, '--output', join(d, 'sft', 'sft.jsonl'), '--max-per-problem', '4']],
  ] as const) {
    it(`sdg ${name} stays under ${LIMIT_MB} MB`, async () => {
      const m = await measure(args(dir, graded));
      record(SECTION, `sdg ${name}: peak RSS, time`, `${m.peakRssMb.toFixed(0)} MB, ${m.elapsedS.toFixed(1)} s`);
      assert.ok(m.peakRssMb < LIMIT_MB, `sdg ${name} peaked at ${m.peakRssMb.toFixed(0)} MB on ${ROWS} rows`);
    });
  }
});
