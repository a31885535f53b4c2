import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gradeFile, gradeRow } from '../../src/core/math/grade';
import { computeMetrics, passAtK, kValues, formatMetrics } from '../../src/core/math/metrics';
import { voteFile } from '../../src/core/math/vote';
import { readJsonl } from '../../src/core/math/jsonl';
import { AnswerClusters } from '../../src/core/math/clusters';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'sdg-math-'));
}
function writeJsonl(file: string, rows: unknown[]): void {
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
}
async function readAll(file: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for await (const { row } of readJsonl(file)) out.push(row);
  return out;
}
function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let r = 1;
  for (let i = 0; i < k; i++) r = (r * (n - i)) / (i + 1);
  return r;
}

describe('math grading: sdg grade', () => {
  it('adds predicted_answer and is_correct; failed rows are null/false', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    const output = join(dir, 'graded.jsonl');
    writeJsonl(input, [
      { input_index: 0, problem: 'p0', expected_answer: '\\frac{14}{3}', generation: 'so \\boxed{\\dfrac{14}{3}}', seed: 0, error: null },
      { input_index: 0, problem: 'p0', expected_answer: '\\frac{14}{3}', generation: 'so \\boxed{4}', seed: 1, error: null },
      { input_index: 1, problem: 'p1', expected_answer: '18', generation: 'She makes 18 dollars.\n#### 18', seed: 0, error: null },
      { input_index: 1, problem: 'p1', expected_answer: '18', generation: null, seed: 1, error: 'timeout' },
      { input_index: 1, problem: 'p1', expected_answer: '18', generation: '\\boxed{18}', seed: 2, error: 'length' },
      { input_index: 2, problem: 'p2', expected_answer: '5', generation: 'I could not decide.', seed: 0, error: null, finish_reason: 'length' },
      { input_index: 3, problem: 'p3', generation: '\\boxed{5}', seed: 0, error: null },
    ]);
    const warnings: string[] = [];
    const s = await gradeFile({ input, output, onWarning: (m) => warnings.push(m) });
    assert.deepEqual(s, { rows: 7, correct: 2, noAnswer: 1, failed: 2, noReference: 1, truncated: 1 });
    const rows = await readAll(output);
    assert.deepEqual(rows.map((r) => [r.predicted_answer, r.is_correct]), [
      ['\\dfrac{14}{3}', true], ['4', false], ['18', true], [null, false], [null, false], [null, false], ['5', false],
    ]);
    assert.equal(rows[0].problem, 'p0', 'other fields are kept');
    assert.equal(existsSync(output + '.partial'), false);
  });

  it('skips a torn last line with a warning but rejects a bad line in the middle', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    writeFileSync(input, JSON.stringify({ expected_answer: '1', generation: '\\boxed{1}' }) + '\n{"expected_answer": "2", "genera');
    const warnings: string[] = [];
    const s = await gradeFile({ input, output: join(dir, 'out.jsonl'), onWarning: (m) => warnings.push(m) });
    assert.equal(s.rows, 1);
    assert.match(warnings.join('\n'), /gen\.jsonl:2: skipped a torn last line/);
    writeFileSync(input, '{"a": 1}\n{oops}\n{"a": 2}\n');
    await assert.rejects(gradeFile({ input, output: join(dir, 'out2.jsonl') }), /gen\.jsonl:2: invalid JSON/);
    assert.equal(existsSync(join(dir, 'out2.jsonl')), false, 'no half-written output on error');
    await assert.rejects(gradeFile({ input: join(dir, 'missing.jsonl'), output: join(dir, 'o.jsonl') }), /missing\.jsonl: file not found/);
  });

  it('uses custom answer field and regex extraction', () => {
    const row = gradeRow({ gold: '7', generation: 'RESULT=7 and RESULT=8' }, { answerField: 'gold', extract: { mode: 'regex', regex: /RESULT=(\d+)/ } });
    assert.equal(row.predicted_answer, '8');
    assert.equal(row.is_correct, false);
  });
});

describe('math grading: pass@k and maj@k', () => {
  it('unbiased pass@k matches the combinatorial definition', () => {
    for (let n = 1; n <= 12; n++) {
      for (let c = 0; c <= n; c++) {
        for (let k = 1; k <= n; k++) {
          const expected = 1 - choose(n - c, k) / choose(n, k);
          assert.ok(Math.abs(passAtK(n, c, k) - expected) < 1e-12, `n=${n} c=${c} k=${k}`);
        }
      }
    }
  });

  it('k values are powers of two up to the sample count', () => {
    assert.deepEqual(kValues(1), [1]);
    assert.deepEqual(kValues(8), [1, 2, 4, 8]);
    assert.deepEqual(kValues(6), [1, 2, 4, 6]);
  });

  it('computes greedy, pass@k, maj@k and any-correct per dataset', async () => {
    const dir = tmp();
    const file = join(dir, 'graded.jsonl');
    // Rows deliberately out of seed order: the greedy sample is the lowest seed.
    const rows = [
      // dataset a, problem 0: answers 5 (T), 6 (F), 5.0 (T), 10/2 (T)
      { dataset: 'a', input_index: 0, seed: 2, predicted_answer: '5.0', is_correct: true },
      { dataset: 'a', input_index: 0, seed: 0, predicted_answer: '5', is_correct: true },
      { dataset: 'a', input_index: 0, seed: 3, predicted_answer: '\\frac{10}{2}', is_correct: true },
      { dataset: 'a', input_index: 0, seed: 1, predicted_answer: '6', is_correct: false },
      // problem 1: all wrong
      ...['1', '2', '2', '3'].map((a, seed) => ({ dataset: 'a', input_index: 1, seed, predicted_answer: a, is_correct: false })),
      // problem 2: 7 (F), 8 (T), 7 (F), null (failed)
      { dataset: 'a', input_index: 2, seed: 0, predicted_answer: '7', is_correct: false },
      { dataset: 'a', input_index: 2, seed: 1, predicted_answer: '8', is_correct: true },
      { dataset: 'a', input_index: 2, seed: 2, predicted_answer: '7', is_correct: false },
      { dataset: 'a', input_index: 2, seed: 3, predicted_answer: null, is_correct: false, error: 'timeout', generation: null },
      // dataset b, one problem: wrong first, then right twice -> maj@1 wrong, maj@4 right
      { dataset: 'b', input_index: 0, seed: 0, predicted_answer: '1', is_correct: false },
      { dataset: 'b', input_index: 0, seed: 1, predicted_answer: '2', is_correct: true },
      { dataset: 'b', input_index: 0, seed: 2, predicted_answer: '2', is_correct: true },
      { dataset: 'b', input_index: 0, seed: 3, predicted_answer: '3', is_correct: false },
    ];
    writeJsonl(file, rows);
    const [a, b] = await computeMetrics({ files: [file] });
    assert.equal(a.dataset, 'a');
    assert.equal(a.problems, 3);
    assert.deepEqual(a.ks, [1, 2, 4]);
    const near = (x: number, y: number) => assert.ok(Math.abs(x - y) < 1e-12, `${x} != ${y}`);
    near(a.greedy, 1 / 3);
    near(a.passAtK['1'], (3 / 4 + 0 + 1 / 4) / 3);
    near(a.passAtK['2'], (1 + 0 + 0.5) / 3);
    near(a.passAtK['4'], 2 / 3);
    near(a.majAtK['1'], 1 / 3);
    near(a.majAtK['2'], 1 / 3); // tie 5 vs 6 -> first (5, right); tie 7 vs 8 -> first (7, wrong)
    near(a.majAtK['4'], 1 / 3);
    near(a.anyCorrect, 2 / 3);
    assert.deepEqual([a.failed, a.noAnswer], [1, 0]);
    assert.equal(b.dataset, 'b');
    near(b.greedy, 0);
    near(b.majAtK['1'], 0);
    near(b.majAtK['2'], 0); // tie 1 vs 2 -> first (1, wrong)
    near(b.majAtK['4'], 1);
    near(b.passAtK['1'], 0.5);
    assert.match(formatMetrics([a, b]), /a: 3 problems, 12 samples \(4 per problem\)[\s\S]*greedy accuracy\s+33\.33%/);
  });

  it('groups by file name without a dataset field and by problem text without input_index', async () => {
    const dir = tmp();
    const file = join(dir, 'gsm.jsonl');
    writeJsonl(file, [
      { problem: 'x', seed: 0, predicted_answer: '1', is_correct: true },
      { problem: 'x', seed: 1, predicted_answer: '2', is_correct: false },
      { problem: 'y', seed: 0, predicted_answer: '1', is_correct: false },
      { problem: 'y', seed: 1, predicted_answer: '1', is_correct: false },
    ]);
    const [m] = await computeMetrics({ files: [file] });
    assert.equal(m.dataset, 'gsm.jsonl');
    assert.equal(m.problems, 2);
    assert.equal(m.greedy, 0.5);
  });

  it('refuses ungraded rows', async () => {
    const dir = tmp();
    const file = join(dir, 'gen.jsonl');
    writeJsonl(file, [{ problem: 'x', generation: '\\boxed{1}' }]);
    await assert.rejects(computeMetrics({ files: [file] }), /gen\.jsonl:1: row has no "is_correct": run `sdg grade` first/);
  });
});

describe('math grading: sdg vote', () => {
  it('labels by equivalence-aware strict majority of all samples; failed rows vote against', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    const output = join(dir, 'voted.jsonl');
    writeJsonl(input, [
      { input_index: 0, problem: 'a', generation: '\\boxed{\\frac{1}{2}}' },
      { input_index: 0, problem: 'a', generation: '\\boxed{0.5}' },
      { input_index: 0, problem: 'a', generation: '\\boxed{3}' },
      { input_index: 1, problem: 'b', generation: '\\boxed{1}' },
      { input_index: 1, problem: 'b', generation: '\\boxed{2}' },
      { input_index: 1, problem: 'b', generation: '\\boxed{3}' },
      { input_index: 2, problem: 'c', generation: 'no answer', expected_answer: '9' },
      { input_index: 3, problem: 'd', generation: '\\boxed{4}' },
      { input_index: 3, problem: 'd', generation: '\\boxed{4}' },
      { input_index: 3, problem: 'd', generation: null, error: 'timeout' },
      { input_index: 3, problem: 'd', generation: 'no box' },
    ]);
    const s = await voteFile({ input, output });
    assert.deepEqual(s, { rows: 11, problems: 4, labeled: 1, flagged: 3, reasons: { 'no-answer': 1, tie: 1, 'min-votes': 0, 'min-share': 1, negative: 0, 'non-integer': 0 } });
    const rows = await readAll(output);
    assert.equal(rows.length, 11);
    assert.deepEqual(rows.slice(0, 3).map((r) => [r.expected_answer, r.majority_votes, r.total_votes, r.majority_flagged, r.majority_reason]), Array(3).fill(['\\frac{1}{2}', 2, 3, false, null]));
    assert.deepEqual(rows.slice(3, 6).map((r) => [r.expected_answer, r.majority_flagged, r.majority_reason]), Array(3).fill([null, true, 'tie: 3 answers have 1 votes each']));
    assert.deepEqual([rows[6].expected_answer, rows[6].original_expected_answer, rows[6].total_votes, rows[6].majority_flagged, rows[6].majority_reason], [null, '9', 1, true, 'none of the 1 samples has an answer']);
    // 2 of 4 samples: the failed and the unanswered rows vote against.
    assert.deepEqual([rows[7].expected_answer, rows[7].majority_votes, rows[7].total_votes, rows[7].answered_votes, rows[7].majority_reason], [null, 2, 4, 2, 'the winner has 2 of 4 samples (50%), not more than 50%']);
    assert.equal(rows[1].predicted_answer, '0.5');
    // Of the answered samples only, 2/2 passes.
    const answered = await voteFile({ input, output: join(dir, 'v2.jsonl'), shareOf: 'answered' });
    assert.equal(answered.labeled, 2);
    await assert.rejects(voteFile({ input, output: join(dir, 'v3.jsonl'), minShare: 2 }), /--min-share must be at least 0 and below 1/);
    await assert.rejects(voteFile({ input, output: join(dir, 'v3.jsonl'), minVotes: 0 }), /--min-votes must be a positive integer/);
    assert.ok(readFileSync(output, 'utf8').endsWith('\n'));
  });

  it('never labels a tie or a half: 5,5,7,7 and 1 answered of 4', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    writeJsonl(input, [
      ...['5', '5', '7', '7'].map((a) => ({ input_index: 0, problem: 'p', generation: `\\boxed{${a}}` })),
      { input_index: 1, problem: 'q', generation: '\\boxed{8}' },
      ...[1, 2, 3].map(() => ({ input_index: 1, problem: 'q', generation: 'I could not solve it' })),
    ]);
    for (const shareOf of ['all', 'answered'] as const) {
      const s = await voteFile({ input, output: join(dir, `${shareOf}.jsonl`), shareOf, minShare: 0 });
      const rows = await readAll(join(dir, `${shareOf}.jsonl`));
      assert.equal(rows[0].expected_answer, null, 'a tie is never labelled, whatever the share');
      assert.equal(rows[0].majority_reason, 'tie: 2 answers have 2 votes each');
      assert.equal(s.reasons.tie, 1);
    }
    const strict = await voteFile({ input, output: join(dir, 'strict.jsonl') });
    assert.equal(strict.labeled, 0, '1 of 4 samples is no majority');
    const rows = await readAll(join(dir, 'strict.jsonl'));
    assert.equal(rows[4].majority_reason, 'the winner has 1 of 4 samples (25%), not more than 50%');
    const minVotes = await voteFile({ input, output: join(dir, 'mv.jsonl'), shareOf: 'answered', minVotes: 2 });
    assert.equal(minVotes.reasons['min-votes'], 1, '1/1 answered passes the share but not --min-votes 2');
  });

  it('keeps 69999, 70000, 70001, 70002 apart (4 clusters, no label)', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    writeJsonl(input, ['69999', '70000', '70001', '70002', '70,001'].map((a) => ({ input_index: 0, problem: 'p', generation: `\\boxed{${a}}` })));
    const c = new AnswerClusters();
    for (const a of ['69999', '70000', '70001', '70002']) c.add(a);
    assert.equal(c.clusters.length, 4);
    const s = await voteFile({ input, output: join(dir, 'v.jsonl'), minShare: 0.3 });
    assert.equal(s.labeled, 1);
    assert.equal((await readAll(join(dir, 'v.jsonl')))[0].expected_answer, '70001');
    assert.equal((await readAll(join(dir, 'v.jsonl')))[0].majority_votes, 2);
  });

  it('drops negative or non-integer labels on request; fills only missing labels on request', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    writeJsonl(input, [
      ...['-3', '-3', '-3'].map((a) => ({ input_index: 0, problem: 'p', generation: `\\boxed{${a}}` })),
      ...['2.5', '5/2', '\\frac52'].map((a) => ({ input_index: 1, problem: 'q', generation: `\\boxed{${a}}` })),
      ...['12', '12', '12'].map((a) => ({ input_index: 2, problem: 'r', generation: `\\boxed{${a}}`, expected_answer: '13' })),
    ]);
    const plain = await voteFile({ input, output: join(dir, 'a.jsonl') });
    assert.equal(plain.labeled, 3);
    const s = await voteFile({ input, output: join(dir, 'b.jsonl'), dropNegative: true, dropNonInteger: true, fillMissingOnly: true });
    assert.deepEqual([s.labeled, s.reasons.negative, s.reasons['non-integer']], [1, 1, 1]);
    const rows = await readAll(join(dir, 'b.jsonl'));
    assert.deepEqual(rows.map((r) => r.expected_answer), [null, null, null, null, null, null, '13', '13', '13']);
    assert.equal(rows[0].majority_reason, 'the winner -3 is negative');
    assert.equal(rows[3].majority_reason, 'the winner 2.5 is not an integer');
  });

  it('creates the output folder', async () => {
    const dir = tmp();
    const input = join(dir, 'gen.jsonl');
    writeJsonl(input, [{ input_index: 0, problem: 'p', generation: '\\boxed{1}' }]);
    const output = join(dir, 'new', 'deeper', 'voted.jsonl');
    await voteFile({ input, output });
    assert.equal((await readAll(output)).length, 1);
  });
});

describe('math grading: answer clusters', () => {
  it('groups equivalent answers, ignores empty ones, ties go to the first cluster', () => {
    const c = new AnswerClusters();
    for (const a of ['3', '1/2', '0.5', '\\frac12', '', null, '3', '0.5', '$3$']) c.add(a);
    assert.equal(c.total, 7);
    assert.deepEqual(c.clusters.map((k) => [k.representative, k.votes]), [['3', 3], ['1/2', 4]]);
    assert.equal(c.winner()!.cluster.representative, '1/2');
    const tie = new AnswerClusters();
    for (const a of ['7', '8', '8', '7']) tie.add(a);
    assert.equal(tie.winner()!.cluster.representative, '7');
    assert.equal(new AnswerClusters().winner(), null);
  });
});
