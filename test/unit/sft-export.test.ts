import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSft, formatSftSummary, lengthBounds, quantile, distinctBoxedAnswers } from '../../src/core/sft/export';
import { ContaminationIndex, words } from '../../src/core/sft/contamination';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sdg-sft-'));
}
function writeJsonl(file: string, rows: unknown[]): void {
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
function readRows(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}
const g = (input_index: number, problem: string, generation: string | null, is_correct: boolean, extra: Record<string, unknown> = {}) =>
  ({ input_index, problem, generation, is_correct, error: generation === null ? 'timeout' : null, expected_answer: '2', ...extra });

const LONG_TEST_PROBLEM = 'A train leaves the station at noon traveling at sixty miles per hour toward a city that is three hundred miles away. When does it arrive?';

describe('sft export: filters', () => {
  it('removes failed, incorrect, contaminated, multi-boxed, duplicate, length outliers and over-cap rows, counting each', async () => {
    const dir = tmp();
    const test = join(dir, 'test.jsonl');
    writeJsonl(test, [{ question: LONG_TEST_PROBLEM }, { question: 'Short one?' }]);
    const p0 = 'What is 1+1?';
    const p1 = `Rephrased: ${LONG_TEST_PROBLEM.slice(0, 90)} and then some more words here`;
    const p2 = 'Pick any three.';
    const p3 = 'Lengths.';
    const rows = [
      g(0, p0, 'One plus one is \\boxed{2}.', true),
      g(0, p0, 'One  plus one is\n\\boxed{2}.  ', true), // duplicate after whitespace normalisation
      g(0, p0, 'Counting: 1, 2. So \\boxed{2}.', true),
      g(0, p0, 'It is \\boxed{3}.', false), // incorrect
      g(0, p0, null, false), // failed
      g(0, p0, 'Either \\boxed{2} or \\boxed{3}.', true), // multi-boxed
      g(0, p0, 'First \\boxed{2}, i.e. \\boxed{2.0}.', true), // equivalent boxes: kept
      g(1, p1, 'Five hours: \\boxed{5}.', true), // contaminated problem
      g(1, p1, 'Also \\boxed{5}.', true),
      ...['a', 'b', 'c', 'd', 'e', 'f'].map((s) => g(2, p2, `Solution ${s}: \\boxed{2}`, true)), // cap 3
      ...[0, 1, 2, 3].map((k) => g(3, p3, `${'x'.repeat(100 + k)} \\boxed{2}`, true)),
      g(3, p3, `${'y'.repeat(5000)} \\boxed{2}`, true), // length outlier in its problem
    ];
    const input = join(dir, 'graded.jsonl');
    writeJsonl(input, rows);
    const output = join(dir, 'sft.jsonl');
    const s = await exportSft({ inputs: [input], output, contamination: [{ file: test }], ngram: 13, maxPerProblem: 3, seed: 7 });
    assert.deepEqual(s.removed, { failed: 1, 'code-error': 0, incorrect: 1, contaminated: 2, 'multi-boxed': 1, arithmetic: 0, duplicate: 1, tokens: 0, length: 1, cap: 3 + 1, downsample: 0 });
    assert.equal(s.inputRows, rows.length);
    assert.equal(s.problems, 4);
    assert.equal(s.contaminatedProblems, 1);
    assert.equal(s.written, 3 + 3 + 3);
    assert.equal(s.problemsWritten, 3);
    const out = readRows(output);
    assert.equal(out.length, s.written);
    const texts = out.map((r) => (r.messages as Array<{ role: string; content: string }>)[1].content);
    assert.ok(!texts.some((t) => t.includes('y'.repeat(100))), 'length outlier removed');
    assert.ok(texts.includes('First \\boxed{2}, i.e. \\boxed{2.0}.'), 'equivalent boxed answers are one answer');
    const table = formatSftSummary(s);
    assert.match(table, /contaminated\s+2\s+/);
    assert.match(table, /9 solutions for 3 of 4 problems written; 1 problems overlap the test set/);

    // Deterministic downsampling, independent of the input order.
    const shuffled = join(dir, 'shuffled.jsonl');
    writeJsonl(shuffled, [...rows].reverse());
    const out2 = join(dir, 'sft2.jsonl');
    await exportSft({ inputs: [shuffled], output: out2, contamination: [{ file: test }], maxPerProblem: 3, seed: 7 });
    const pick = (f: string) => readRows(f).map((r) => (r.messages as Array<{ content: string }>)[1].content).filter((t) => t.startsWith('Solution')).sort();
    assert.deepEqual(pick(out2), pick(output));
    const out3 = join(dir, 'sft3.jsonl');
    const picks = new Set<string>();
    for (let seed = 0; seed < 6; seed++) {
      await exportSft({ inputs: [input], output: out3, maxPerProblem: 3, seed });
      picks.add(pick(out3).join('|'));
    }
    assert.ok(picks.size > 1, 'other seeds pick other solutions');
  });

  it('keeps incorrect solutions flagged when asked, and can disable dedup/multi-boxed/length filters', async () => {
    const dir = tmp();
    const input = join(dir, 'graded.jsonl');
    writeJsonl(input, [
      g(0, 'p', 'a \\boxed{2}', true),
      g(0, 'p', 'a \\boxed{2}', true),
      g(0, 'p', 'b \\boxed{3}', false),
      g(0, 'p', '\\boxed{2} \\boxed{3}', true),
    ]);
    const output = join(dir, 'o.jsonl');
    const s = await exportSft({ inputs: [input], output, includeIncorrect: true, dedup: false, dropMultipleBoxed: false, lengthFilter: 'none' });
    assert.equal(s.written, 4);
    assert.equal(s.incorrectKept, 1);
    assert.deepEqual(readRows(output).map((r) => r.is_correct), [true, true, false, true]);
  });

  it('global percentile length filter', async () => {
    const dir = tmp();
    const input = join(dir, 'graded.jsonl');
    writeJsonl(input, Array.from({ length: 101 }, (_, i) => g(i, `p${i}`, 'z'.repeat(10 + i), true)));
    const s = await exportSft({ inputs: [input], output: join(dir, 'o.jsonl'), lengthFilter: 'percentile', lengthScope: 'global', percentiles: [5, 95] });
    assert.equal(s.removed.length, 10);
  });

  it('rejects ungraded input and bad options with clear messages', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    writeJsonl(input, [{ problem: 'p', generation: 'x' }]);
    await assert.rejects(exportSft({ inputs: [input], output: join(dir, 'o.jsonl') }), /gen\.jsonl:1: row has no "is_correct"/);
    await assert.rejects(exportSft({ inputs: [input], output: join(dir, 'o.jsonl'), format: 'text' }), /--format text needs --formatter/);
    await assert.rejects(exportSft({ inputs: [input], output: join(dir, 'o.jsonl'), format: 'text', formatter: 'nope' }), /unknown conversation formatter "nope"/);
    await assert.rejects(exportSft({ inputs: [input], output: join(dir, 'o.jsonl'), maxPerProblem: 0 }), /positive integer/);
    await assert.rejects(exportSft({ inputs: [input], output: input }), /is also an input/);
    const graded = join(dir, 'graded.jsonl');
    writeJsonl(graded, [g(0, 'p', '\\boxed{2}', true)]);
    await assert.rejects(exportSft({ inputs: [graded], output: join(dir, 'o.jsonl'), promptTemplate: 'Solve {{question}}' }), /prompt template: no value for placeholder \{\{question\}\}/);
  });
});

describe('sft export: formats', () => {
  const rows = [g(0, 'What is 1+1?', 'We add. \\boxed{2}', true)];

  it('messages with a system prompt and kept fields', async () => {
    const dir = tmp();
    const input = join(dir, 'graded.jsonl');
    writeJsonl(input, rows);
    const output = join(dir, 'o.jsonl');
    await exportSft({ inputs: [input], output, format: 'messages', systemPrompt: 'Be brief.', keepFields: ['input_index', 'expected_answer'] });
    assert.deepEqual(readRows(output), [{
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'What is 1+1?' }, { role: 'assistant', content: 'We add. \\boxed{2}' }],
      input_index: 0, expected_answer: '2',
    }]);
  });

  it('prompt-completion with a prompt template', async () => {
    const dir = tmp();
    const input = join(dir, 'graded.jsonl');
    writeJsonl(input, rows);
    const output = join(dir, 'o.jsonl');
    await exportSft({ inputs: [input], output, format: 'prompt-completion', promptTemplate: 'Solve: {{problem}}' });
    assert.deepEqual(readRows(output), [{ prompt: 'Solve: What is 1+1?', completion: 'We add. \\boxed{2}' }]);
  });

  it('text through a conversation formatter, ending with its end-of-turn token', async () => {
    const dir = tmp();
    const input = join(dir, 'graded.jsonl');
    writeJsonl(input, rows);
    const output = join(dir, 'o.jsonl');
    await exportSft({ inputs: [input], output, format: 'text', formatter: 'chatml', systemPrompt: 'S' });
    const [r] = readRows(output);
    const text = String(r.text);
    assert.match(text, /^<\|im_start\|>system\nS<\|im_end\|>\n<\|im_start\|>user\nWhat is 1\+1\?<\|im_end\|>\n<\|im_start\|>assistant\n/);
    assert.ok(text.endsWith('We add. \\boxed{2}<|im_end|>'));
  });
});

describe('sft export: helpers', () => {
  it('quantiles and IQR bounds', () => {
    assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
    assert.equal(quantile([10], 0.9), 10);
    assert.deepEqual(lengthBounds([1, 2, 3, 4, 5], 'iqr', 1.5, [1, 99]), [-1, 7]);
    assert.equal(lengthBounds([1, 2], 'none', 1.5, [1, 99]), null);
  });

  it('n-gram contamination: 13 shared words hit, 12 do not; short texts match whole', () => {
    const idx = new ContaminationIndex(13);
    idx.add(LONG_TEST_PROBLEM);
    idx.add('Short one?');
    const w = words(LONG_TEST_PROBLEM);
    assert.equal(idx.contains(`Intro words. ${w.slice(3, 16).join(' ')} ending`), true);
    assert.equal(idx.contains(`Intro words. ${w.slice(3, 15).join(' ')} ending`), false);
    assert.equal(idx.contains('SHORT, one!'), true);
    assert.equal(idx.contains('Short two?'), false);
    assert.throws(() => new ContaminationIndex(0), /positive integer/);
  });

  it('counts distinct boxed answers up to equivalence', () => {
    assert.equal(distinctBoxedAnswers('no box'), 0);
    assert.equal(distinctBoxedAnswers('\\boxed{\\frac12} = \\boxed{0.5}'), 1);
    assert.equal(distinctBoxedAnswers('\\boxed{1} \\boxed{2}'), 2);
  });
});
