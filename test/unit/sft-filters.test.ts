/**
 * SFT export filters against NeMo-Skills' prepare_sft_data: the `test_cases` of its
 * nemo_skills/training/data_preparation_utils/config/math_sft.yaml (remove_code_errors,
 * trim_solutions, drop_multi_boxed, drop_incorrect_arithmetic) run through our filters, and each
 * export option end to end.
 */
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportSft, distinctBoxedAnswers } from '../../src/core/sft/export';
import { codeExecutionError, trimAfterFinalAnswer, incorrectArithmetic, arithmeticExpressions, loadTokenizer } from '../../src/core/sft/filters';
import { gradeRow } from '../../src/core/math/grade';

const TOKENIZER = join(__dirname, '..', 'fixtures', 'tokenizers', 'tiny-bpe');

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sdg-sft-filters-'));
}
function writeJsonl(file: string, rows: unknown[]): void {
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
function readRows(file: string): Array<Record<string, any>> {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}
const completion = (r: Record<string, any>) => (r.messages as Array<{ content: string }>)[r.messages.length - 1].content;

describe('sft filters: NeMo-Skills math_sft.yaml test cases', () => {
  it('remove_code_errors', () => {
    const dropped = ['My solution:\n---Traceback (most recent call last)---\nSomething else', 'My solution:\nSome long output<output cut>\nSomething else', 'My solution:\nTimed out\nSomething else', 'My solution:\n\u001b[0;31mSyntaxError\u001b\nSomething else'];
    for (const g of dropped) assert.notEqual(codeExecutionError({}, g), null, g);
    assert.equal(codeExecutionError({}, 'My solution, no errors'), null);
  });
  it('trim_solutions', () => {
    assert.equal(trimAfterFinalAnswer('Solution ends at \\boxed{0}\nThis line is useless.'), 'Solution ends at \\boxed{0}');
    assert.equal(trimAfterFinalAnswer('Solution continues \\boxed{7} after boxed'), 'Solution continues \\boxed{7} after boxed');
    assert.equal(trimAfterFinalAnswer('Solution\n\ncontinues \n\n\\boxed{7} after\n boxed'), 'Solution\n\ncontinues \n\n\\boxed{7} after');
    assert.equal(trimAfterFinalAnswer('Works alright with newlines inside \\boxed{7\n5} and properly\ncuts after'), 'Works alright with newlines inside \\boxed{7\n5} and properly');
  });
  it('drop_multi_boxed', () => {
    assert.equal(distinctBoxedAnswers('He had \\boxed{3} 4090s and \\boxed{2} 4080s'), 2);
    assert.equal(distinctBoxedAnswers('She had \\boxed{6} 4090s'), 1);
    assert.equal(distinctBoxedAnswers('boxed boxed 42'), 0);
  });
  it('drop_incorrect_arithmetic', () => {
    assert.equal(incorrectArithmetic('1 + 2 + 3 + 4 = 10'), null);
    assert.equal(incorrectArithmetic('3 * (1 + 7) / 4 = 3 * 8 / 4 = 100'), '3 * (1 + 7) / 4 = 3 * 8 / 4 = 100');
    assert.deepEqual(arithmeticExpressions('so 2 + 3 * 4 = 14 apples and 7 - 1 = 6.'), ['2 + 3 * 4 = 14']);
    assert.equal(incorrectArithmetic('We have 12 / 4 + 1 = 4 apples.'), null);
    assert.equal(incorrectArithmetic('We have 12 / 4 + 1 = 5 apples.'), '12 / 4 + 1 = 5');
    assert.equal(incorrectArithmetic('Only one op: 2 + 2 = 5'), null, 'the reference only checks statements with two operators or more');
  });
});

describe('sft filters: code execution', () => {
  it('reads the execution flags of code-mode rows and Python errors in output blocks', () => {
    assert.equal(codeExecutionError({ code_execution_failed: true }, 'fine'), 'code_execution_failed');
    assert.equal(codeExecutionError({ code_execution_timed_out: true }, 'fine'), 'code_execution_timed_out');
    assert.equal(codeExecutionError({ code_execution_failed: false }, '<llm-code>\nprint(x)\n</llm-code>\n<llm-code-output>\nNameError: name \'x\' is not defined\n</llm-code-output>\n\\boxed{1}'), 'error in <llm-code-output>');
    assert.equal(codeExecutionError({}, '<llm-code>\nprint(2+2)\n</llm-code>\n<llm-code-output>\n4\n</llm-code-output>\nSo \\boxed{4}'), null);
    assert.equal(codeExecutionError({}, 'An Error: is only an error inside an output block'), null);
  });
  it('grade reads the answer after the last </llm-code-output>', () => {
    const row = gradeRow({ expected_answer: '4', generation: '<llm-code>\nprint("\\\\boxed{5}")\n</llm-code>\n<llm-code-output>\n\\boxed{5}\n</llm-code-output>\nThe sum is \\boxed{4}.' });
    assert.deepEqual([row.predicted_answer, row.is_correct], ['4', true]);
    const none = gradeRow({ expected_answer: '5', generation: 'Let me compute.\n<llm-code>\nprint("\\\\boxed{5}")\n</llm-code>\n<llm-code-output>\n\\boxed{5}\n</llm-code-output>\n' });
    assert.deepEqual([none.predicted_answer, none.is_correct], [null, false], 'a box printed by the code is not the answer');
  });
});

describe('sft filters: tokens with a real tokenizer.json', () => {
  it('counts with @huggingface/tokenizers (byte-level BPE fixture)', () => {
    const t = loadTokenizer(TOKENIZER);
    assert.equal(t.count('the'), 2);
    assert.equal(t.count(' the'), 1);
    assert.equal(t.count('the and the'), 4);
    assert.equal(t.count('\\boxed{7}'), 9);
    assert.throws(() => loadTokenizer(join(TOKENIZER, 'missing.json')), /no such file/);
  });
});

describe('sft export: NeMo-Skills prepare_sft_data options', () => {
  const base = (i: number, extra: Record<string, unknown> = {}) => ({ input_index: i, problem: `problem ${i}`, expected_answer: '4', is_correct: true, ...extra });

  it('drops code errors (flags and text), keeps them with dropCodeErrors: false', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeJsonl(input, [
      base(0, { generation: 'fine \\boxed{4}' }),
      base(0, { generation: 'flagged \\boxed{4}', code_execution_failed: true }),
      base(0, { generation: 'timed out \\boxed{4}', code_execution_timed_out: true }),
      base(0, { generation: '<llm-code-output>\nTraceback (most recent call last):\n  File...\n</llm-code-output>\n\\boxed{4}' }),
    ]);
    const s = await exportSft({ inputs: [input], output: join(dir, 'a.jsonl'), lengthFilter: 'none' });
    assert.deepEqual([s.removed['code-error'], s.written], [3, 1]);
    const keep = await exportSft({ inputs: [input], output: join(dir, 'b.jsonl'), lengthFilter: 'none', dropCodeErrors: false });
    assert.equal(keep.written, 4);
  });

  it('incorrect-only, trim, arithmetic, token limits, metadata', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    writeJsonl(input, [
      base(0, { generation: 'So 2 + 2 * 1 = 4 and \\boxed{4}\nThanks for reading!' }),
      base(1, { generation: 'So 2 + 2 * 1 = 5 and \\boxed{4}' }),
      base(2, { generation: 'wrong \\boxed{3}', is_correct: false }),
      // 129 characters but 41 tokens (" the" is one token of the fixture); the first row trimmed: 27 tokens.
      base(3, { generation: `${'the '.repeat(30)}\\boxed{4}` }),
    ]);
    const wrong = await exportSft({ inputs: [input], output: join(dir, 'w.jsonl'), lengthFilter: 'none', incorrectOnly: true });
    assert.deepEqual([wrong.written, wrong.removed.incorrect], [1, 3]);
    assert.deepEqual(readRows(join(dir, 'w.jsonl')).map((r) => [completion(r), r.is_correct]), [['wrong \\boxed{3}', false]]);

    const out = join(dir, 'o.jsonl');
    const s = await exportSft({
      inputs: [input], output: out, lengthFilter: 'none', trimSolutions: true, dropIncorrectArithmetic: true,
      tokenizer: TOKENIZER, maxSolutionTokens: 30, metadata: { dataset: 'math', generation_type: 'text' },
    });
    assert.deepEqual([s.removed.arithmetic, s.removed.tokens, s.removed.incorrect, s.written], [1, 1, 1, 1]);
    const rows = readRows(out);
    assert.equal(completion(rows[0]), 'So 2 + 2 * 1 = 4 and \\boxed{4}', 'trimmed after the final boxed answer');
    assert.deepEqual([rows[0].dataset, rows[0].generation_type], ['math', 'text']);
    await assert.rejects(exportSft({ inputs: [input], output: join(dir, 'x.jsonl'), maxSolutionTokens: 5 }), /token limits need --tokenizer/);
  });

  it('downsamples to --max-total: fair keeps every problem, random is uniform; both seeded', async () => {
    const dir = tmp();
    const input = join(dir, 'in.jsonl');
    const rows: unknown[] = [];
    // Problem 0 has 20 solutions, problems 1..4 have 2 each.
    for (let k = 0; k < 20; k++) rows.push(base(0, { generation: `solution ${k} \\boxed{4}` }));
    for (let p = 1; p <= 4; p++) for (let k = 0; k < 2; k++) rows.push(base(p, { generation: `p${p} solution ${k} \\boxed{4}` }));
    writeJsonl(input, rows);
    const fair = await exportSft({ inputs: [input], output: join(dir, 'f.jsonl'), lengthFilter: 'none', maxTotal: 10, seed: 3 });
    assert.deepEqual([fair.written, fair.removed.downsample, fair.problemsWritten], [10, 18, 5]);
    const perProblem = new Map<string, number>();
    for (const r of readRows(join(dir, 'f.jsonl'))) perProblem.set(r.messages[0].content, (perProblem.get(r.messages[0].content) ?? 0) + 1);
    assert.deepEqual([...perProblem.values()].sort((a, b) => a - b), [2, 2, 2, 2, 2], 'fair: two rounds over five problems');
    const again = await exportSft({ inputs: [input], output: join(dir, 'f2.jsonl'), lengthFilter: 'none', maxTotal: 10, seed: 3 });
    assert.equal(again.written, 10);
    assert.equal(readFileSync(join(dir, 'f.jsonl'), 'utf8'), readFileSync(join(dir, 'f2.jsonl'), 'utf8'), 'same seed, same choice');

    // Random: over many seeds, problem 0 (20 of 28 solutions) keeps about 20/28 of the picks.
    let fromBig = 0;
    for (let seed = 0; seed < 20; seed++) {
      const out = join(dir, `r${seed}.jsonl`);
      const r = await exportSft({ inputs: [input], output: out, lengthFilter: 'none', maxTotal: 7, downsample: 'random', seed });
      assert.equal(r.written, 7);
      fromBig += readRows(out).filter((x) => x.messages[0].content === 'problem 0').length;
    }
    const share = fromBig / (20 * 7);
    assert.ok(share > 0.55 && share < 0.88, `random share of the big problem ${share}`);
    await assert.rejects(exportSft({ inputs: [input], output: join(dir, 'x.jsonl'), maxTotal: 5, downsample: 'magic' as never }), /downsampling must be fair or random/);
  });
});

