/**
 * The math commands as shipped: bundled by esbuild the way dist/cli.js is (CommonJS, node20),
 * run as a child process. Catches what in-process tests cannot: mathjs loading inside a bundle.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

describe('math CLI bundle (esbuild, child process)', function () {
  this.timeout(120_000);
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-math-bundle-'));
  const cli = join(tmp, 'cli.js');

  before(async () => {
    await build({ entryPoints: [join(__dirname, '..', 'fixtures', 'math', 'cliMain.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
  });

  it('grades with the CAS, prints metrics and exports, from the bundle', () => {
    const gen = join(tmp, 'gen.jsonl');
    writeFileSync(gen, [
      { input_index: 0, problem: 'Expand (x+1)^2.', expected_answer: '(x+1)^2', generation: 'So \\boxed{x^2+2x+1}.', seed: 0 },
      { input_index: 0, problem: 'Expand (x+1)^2.', expected_answer: '(x+1)^2', generation: 'So \\boxed{x^2+1}.', seed: 1 },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, `sdg ${args.join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    const graded = join(tmp, 'graded.jsonl');
    assert.match(run('grade', '--input', gen, '--output', graded), /graded 2 rows: 1 correct/);
    const metrics = JSON.parse(run('metrics', graded, '--json')) as Array<{ greedy: number; passAtK: Record<string, number> }>;
    assert.equal(metrics[0].greedy, 1);
    assert.equal(metrics[0].passAtK['2'], 1);
    const sft = join(tmp, 'sft.jsonl');
    run('export-sft', '--input', graded, '--output', sft);
    const rows = readFileSync(sft, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { messages: Array<{ content: string }> });
    assert.deepEqual(rows.map((r) => r.messages[1].content), ['So \\boxed{x^2+2x+1}.']);
    const bad = spawnSync(process.execPath, [cli, 'grade', '--input', join(tmp, 'missing.jsonl'), '--output', join(tmp, 'x.jsonl')], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /missing\.jsonl: file not found/);
  });
});
