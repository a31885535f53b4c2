import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectMasked, revealsAnswer, answerForms } from '../../src/core/math/masked';
import { readDataset } from '../../src/core/datasets';
import { datasetFile } from '../support/datasets';

const GSM8K_TRAIN = datasetFile('gsm8k/train.jsonl');

function writeJsonl(file: string, rows: unknown[]): void {
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
function readRows(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

describe('masked solutions: answer leak check', () => {
  it('finds numbers as whole tokens and LaTeX answers as text', () => {
    assert.equal(revealsAnswer('so x = 72 in total', '72'), true);
    assert.equal(revealsAnswer('she has 172 apples', '72'), false);
    assert.equal(revealsAnswer('a share of 0.72', '72'), false);
    assert.equal(revealsAnswer('7.2 meters', '72'), false);
    assert.equal(revealsAnswer('costs $1,600 now', '1600'), true);
    assert.equal(revealsAnswer('we get $-5$', '-5'), true);
    assert.equal(revealsAnswer('the ratio is 14/3', '\\frac{14}{3}'), true);
    assert.equal(revealsAnswer('the ratio is $\\frac{14}{3}$', '\\frac{14}{3}'), true);
    assert.equal(revealsAnswer('the ratio is $\\frac{M}{N}$', '\\frac{14}{3}'), false);
    assert.equal(revealsAnswer('answer \\boxed{M}', '\\frac{14}{3}'), true, 'a box is never allowed');
    assert.equal(revealsAnswer('the point is $(3, \\frac{\\pi}{2})$', '\\left( 3, \\frac{\\pi}{2} \\right)'), true);
    assert.ok(answerForms('\\$1,\\!600').includes('1600'));
  });
});

describe('masked solutions: sdg select-masked', () => {
  it('picks the qualifying candidate with fewest digits and falls back to the reference (flagged)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-masked-'));
    const dataset = join(dir, 'gsm8k-train-3.jsonl');
    writeFileSync(dataset, readFileSync(GSM8K_TRAIN, 'utf8').split('\n').slice(0, 3).join('\n') + '\n');
    const problems: Record<string, unknown>[] = [];
    for await (const r of readDataset(dataset)) problems.push({ input_index: r.input_index, problem: r.problem, expected_answer: r.expected_answer, reference_solution: r.reference_solution });
    assert.equal(problems[0].expected_answer, '72');
    const gen = (i: number, seed: number, generation: string | null, extra: Record<string, unknown> = {}) =>
      ({ ...problems[i], generation, seed, sample_index: 0, finish_reason: 'stop', error: null, ...extra });
    const few = 'Natalia sold 48/2 = M clips in May.\nNatalia sold 48+M = N clips altogether in April and May.';
    const more = 'Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = N clips altogether in April and May.';
    const run1 = join(dir, 'masked-rs0.jsonl');
    const run2 = join(dir, 'masked-rs1.jsonl');
    writeJsonl(run1, [
      gen(0, 0, more),
      gen(0, 1, 'Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May.'),
      gen(0, 2, 'Add them.'),
      gen(0, 3, null, { error: 'timeout', finish_reason: null }),
      gen(0, 4, 'Natalia sold 48/2 = M clips in May. Natalia sold 48+M', { finish_reason: 'length' }),
      gen(1, 0, 'Weng earns 12/60 = $0.2 per minute.\nWorking 50 minutes, she earned 0.2 x 50 = $10.'),
      gen(2, 0, "In the beginning, Betty has only 100 / 2 = $50.\nBetty's grandparents gave her 15 * 2 = $30.\nThis means, Betty needs 100 - 50 - 30 - 15 = $X more."),
      { input_index: 99, problem: 'not in the dataset', generation: 'x', seed: 0, error: null },
    ]);
    writeJsonl(run2, [
      gen(0, 5, `Masked solution: ${few}`),
      gen(2, 1, "In the beginning, Betty has only 100 / 2 = $X.\nBetty's grandparents gave her 15 * 2 = $Y.\nThis means, Betty needs 100 - X - Y - 15 = $Z more."),
    ]);
    const warnings: string[] = [];
    const output = join(dir, 'gsm8k-masked.jsonl');
    const s = await selectMasked({ inputs: [run1, run2], dataset, output, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(s, {
      problems: 3, selected: 2, fallback: 1, missing: 0, candidates: 9,
      rejected: { failed: 1, truncated: 1, revealsAnswer: 2, length: 1 }, unmatched: 1,
    });
    assert.match(warnings.join('\n'), /input_index 99 does not match/);
    const rows = readRows(output);
    assert.equal(rows.length, 3);
    assert.deepEqual(Object.keys(rows[0]).slice(0, 2), ['question', 'answer'], 'original fields kept');
    assert.equal(rows[0].masked_solution, few);
    assert.equal(rows[0].masked_solution_fallback, false);
    assert.equal(rows[1].masked_solution, problems[1].reference_solution);
    assert.equal(rows[1].masked_solution_fallback, true);
    assert.match(String(rows[2].masked_solution), /Betty needs 100 - X - Y - 15 = \$Z more/);
    // The output reads back as a dataset whose masked_solution is picked up by `sdg generate`.
    const again: string[] = [];
    for await (const r of readDataset(output)) again.push(String(r.masked_solution));
    assert.equal(again[0], few);
  });

  it('rejects rows without input_index', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-masked-'));
    const dataset = join(dir, 'd.jsonl');
    writeFileSync(dataset, readFileSync(GSM8K_TRAIN, 'utf8').split('\n').slice(0, 1).join('\n') + '\n');
    const input = join(dir, 'm.jsonl');
    writeJsonl(input, [{ problem: 'x', generation: 'y' }]);
    await assert.rejects(selectMasked({ inputs: [input], dataset, output: join(dir, 'o.jsonl') }), /m\.jsonl:1: row has no numeric "input_index"/);
  });
});
