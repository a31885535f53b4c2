import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runSdg as sdg } from '../fixtures/math/sdg';

describe('math CLI: flags and errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sdg-math-cli-'));
  const gen = join(dir, 'gen.jsonl');
  writeFileSync(gen, `${JSON.stringify({ input_index: 0, problem: 'p', expected_answer: '7', generation: 'ANSWER=7 \\boxed{8}', seed: 0 })}\n`);

  it('grade: --extract regex with --answer-regex, and clear errors for bad values', async () => {
    const out = join(dir, 'g.jsonl');
    assert.match(await sdg(['grade', '--input', gen, '--output', out, '--extract', 'regex', '--answer-regex', 'ANSWER=(\\d+)']), /graded 1 rows: 1 correct/);
    assert.match(await sdg(['grade', '--input', gen, '--output', out]), /graded 1 rows: 0 correct/);
    await assert.rejects(sdg(['grade', '--input', gen, '--output', out, '--extract', 'magic']), /--extract must be one of auto, boxed, gsm8k, answer-is, last-math, regex/);
    await assert.rejects(sdg(['grade', '--input', gen, '--output', out, '--extract', 'regex']), /--extract regex needs --answer-regex/);
    await assert.rejects(sdg(['grade', '--input', gen, '--output', out, '--answer-regex', '(']), /invalid answer regex/);
  });

  it('vote, export-sft, select-masked: bad numbers and formats are named', async () => {
    await assert.rejects(sdg(['vote', '--input', gen, '--output', join(dir, 'v.jsonl'), '--min-share', 'half']), /--min-share must be a number/);
    const graded = join(dir, 'graded.jsonl');
    await sdg(['grade', '--input', gen, '--output', graded]);
    const out = join(dir, 's.jsonl');
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--format', 'csv']), /--format must be one of messages, prompt-completion, text/);
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--percentiles', '5']), /--percentiles must be two numbers/);
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--max-per-problem', '0']), /--max-per-problem must be a positive integer/);
    await assert.rejects(sdg(['export-sft', '--output', out]), /give at least one --input/);
    await assert.rejects(sdg(['select-masked', '--dataset', gen, '--output', out]), /give at least one --input/);
    await assert.rejects(sdg(['select-masked', '--input', gen, '--dataset', gen, '--output', out, '--length-tolerance', '-1']), /--length-tolerance must be a number >= 0/);
    assert.equal(existsSync(out), false);
  });

  it('export-sft --json prints the summary object; metrics prints a table', async () => {
    const graded = join(dir, 'graded2.jsonl');
    await sdg(['grade', '--input', gen, '--output', graded, '--extract', 'regex', '--answer-regex', 'ANSWER=(\\d+)']);
    const s = JSON.parse(await sdg(['export-sft', '--input', graded, '--output', join(dir, 'sft.jsonl'), '--json'])) as { written: number; removed: Record<string, number> };
    assert.equal(s.written, 1);
    assert.equal(s.removed.incorrect, 0);
    assert.match(await sdg(['metrics', graded]), /graded2\.jsonl: 1 problems, 1 samples \(1 per problem\)/);
  });
});

describe('math CLI: every downstream command creates its output folder', () => {
  it('grade, vote, metrics, export-sft and select-masked write into folders that do not exist yet', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-math-dirs-'));
    const gen = join(dir, 'gen.jsonl');
    writeFileSync(gen, `${JSON.stringify({ input_index: 0, problem: 'p', expected_answer: '7', generation: 'so \\boxed{7}', seed: 0 })}\n`);
    const graded = join(dir, 'graded', 'run1', 'g.jsonl');
    assert.match(await sdg(['grade', '--input', gen, '--output', graded]), /graded 1 rows: 1 correct/);
    await sdg(['vote', '--input', graded, '--output', join(dir, 'voted', 'v.jsonl')]);
    assert.ok(existsSync(join(dir, 'voted', 'v.jsonl')));
    await sdg(['metrics', graded, '--json', '--output', join(dir, 'metrics', 'm.json')]);
    assert.ok(existsSync(join(dir, 'metrics', 'm.json')));
    await sdg(['export-sft', '--input', graded, '--output', join(dir, 'sft', 'math.jsonl')]);
    assert.ok(existsSync(join(dir, 'sft', 'math.jsonl')));
    const masked = join(dir, 'masked.jsonl');
    writeFileSync(masked, `${JSON.stringify({ input_index: 0, problem: 'p', generation: 'Add the numbers to get the result.' })}\n`);
    const dataset = join(dir, 'data.jsonl');
    writeFileSync(dataset, `${JSON.stringify({ problem: 'p', expected_answer: '7', reference_solution: 'Add the numbers: 3 + 4 = 7.' })}\n`);
    await sdg(['select-masked', '--input', masked, '--dataset', dataset, '--output', join(dir, 'selected', 's.jsonl')]);
    assert.ok(existsSync(join(dir, 'selected', 's.jsonl')));
  });
});

describe('math CLI: export-sft NeMo-Skills options', () => {
  it('--metadata, --max-total, --incorrect-only, token flags: values checked and applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-math-sft-'));
    const graded = join(dir, 'g.jsonl');
    writeFileSync(graded, [0, 1, 2].map((i) => JSON.stringify({ input_index: i, problem: `p${i}`, expected_answer: '7', generation: `so \\boxed{7} (${i})`, is_correct: true })).join('\n') + '\n');
    const out = join(dir, 'sft.jsonl');
    const s = JSON.parse(await sdg(['export-sft', '--input', graded, '--output', out, '--metadata', 'dataset=math', '--metadata', 'level=3', '--max-total', '2', '--length-filter', 'none', '--json'])) as { written: number; removed: Record<string, number> };
    assert.deepEqual([s.written, s.removed.downsample], [2, 1]);
    const rec = JSON.parse(readFileSync(out, 'utf8').split('\n')[0]) as Record<string, unknown>;
    assert.deepEqual([rec.dataset, rec.level], ['math', 3]);
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--metadata', 'novalue']), /--metadata must be key=value/);
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--max-solution-tokens', '10']), /token limits need --tokenizer/);
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--max-total', '2', '--downsample', 'magic']), /downsampling must be fair or random/);
    await assert.rejects(sdg(['export-sft', '--input', graded, '--output', out, '--incorrect-only', '--include-incorrect']), /exclude each other/);
  });
});
