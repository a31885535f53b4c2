/**
 * Acceptance of the labeling chain on real data over loopback HTTP:
 *   sdg generate (core) -> sdg grade -> sdg metrics --json -> sdg export-sft (CLI, in process),
 *   and sdg vote over the same generations
 * on the first 40 problems of GSM8K test and of MATH-500, against the mock server whose scripted
 * `respond` answers each (problem, seed) with a known-right or known-wrong final answer.
 *
 * Problem i follows pattern i % 4 over seeds 0..3 (C = right answer, W1/W2 = two wrong ones,
 * N = no final answer):
 *   0: C  C  C  C     1: W1 C  W1 C     2: C  W1 W2 W1     3: W1 N  W2 W1
 * which fixes every metric (10 problems per pattern):
 *   greedy 1/2; pass@1 (1 + 1/2 + 1/4 + 0)/4; pass@2 (1 + 5/6 + 1/2 + 0)/4; pass@4 3/4;
 *   maj@1 1/2; maj@2 1/2 (ties go to the earliest answer); maj@4 1/4; any correct 3/4.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDataset } from '../../src/core/datasets';
import { generateSolutions } from '../../src/core/generate';
import { resolveEndpoint } from '../../src/core/llm/presets';
import { isEquivalent } from '../../src/core/math/equivalence';
import { runSdg as sdg } from '../fixtures/math/sdg';
import { startMockServer, lastUserText, type MockServer, type MockRequest } from '../support/mockServer';
import { datasetFile } from '../support/datasets';

const GSM8K_TEST = datasetFile('gsm8k/test.jsonl');
const MATH500 = datasetFile('math500/test.jsonl');
const PROBLEMS = 40;
const SEEDS = 4;

type Kind = 'C' | 'W1' | 'W2' | 'N';
const PATTERNS: Kind[][] = [
  ['C', 'C', 'C', 'C'],
  ['W1', 'C', 'W1', 'C'],
  ['C', 'W1', 'W2', 'W1'],
  ['W1', 'N', 'W2', 'W1'],
];

interface Problem { text: string; expected: string }

function answerFor(i: number, kind: Kind, expected: string): string | null {
  if (kind === 'C') return expected;
  if (kind === 'W1') return `98765${i}`;
  if (kind === 'W2') return `-4321${i}`;
  return null;
}

/** The generation the scripted model writes for problem i (of a dataset) and a seed. */
function generationFor(dataset: 'gsm8k' | 'math', i: number, seed: number, expected: string): string {
  const ans = answerFor(i, PATTERNS[i % 4][seed], expected);
  const body = `Working through problem ${i} carefully, seed ${seed}.`;
  if (ans === null) return `${body} I could not finish.`;
  // GSM8K odd seeds answer in the `#### N` style, everything else with \boxed.
  if (dataset === 'gsm8k' && seed % 2 === 1) return `${body}\n#### ${ans}`;
  return `${body} So the final answer is $\\boxed{${ans}}$.`;
}

async function loadProblems(file: string): Promise<Problem[]> {
  const out: Problem[] = [];
  for await (const r of readDataset(file, { limit: PROBLEMS })) out.push({ text: r.problem, expected: String(r.expected_answer) });
  return out;
}

/** Which problem a request is about: the one whose text appears last in the prompt (after the few-shot examples). */
function problemOf(req: MockRequest, problems: Problem[]): number {
  const prompt = lastUserText(req);
  let best = -1;
  let at = -1;
  problems.forEach((p, i) => {
    const k = prompt.lastIndexOf(p.text);
    if (k > at) { at = k; best = i; }
  });
  if (best < 0) throw new Error(`mock: request for an unknown problem: ${prompt.slice(-120)}`);
  return best;
}

function readRows(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
}

describe('math: acceptance generate -> grade -> metrics -> export-sft (GSM8K test, MATH-500, loopback model)', function () {
  this.timeout(240_000);
  let server: MockServer;
  let gsm: Problem[];
  let math: Problem[];
  let mathLevels: number[];
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-math-acceptance-'));
  const files = { gsm: join(tmp, 'gsm8k.jsonl'), math: join(tmp, 'math500.jsonl') };
  const graded = { gsm: join(tmp, 'gsm8k.graded.jsonl'), math: join(tmp, 'math500.graded.jsonl') };

  before(async () => {
    gsm = await loadProblems(GSM8K_TEST);
    math = await loadProblems(MATH500);
    mathLevels = readFileSync(MATH500, 'utf8').split('\n').slice(0, PROBLEMS).map((l) => (JSON.parse(l) as { level: number }).level);
    // Preconditions of the script: the wrong answers really are wrong.
    for (const [set, ps] of [['gsm8k', gsm], ['math', math]] as const) {
      ps.forEach((p, i) => {
        for (const k of ['W1', 'W2'] as const) assert.equal(isEquivalent(answerFor(i, k, p.expected), p.expected), false, `${set} ${i}: ${k} equals the answer`);
      });
    }
    server = await startMockServer({
      respond: (req) => {
        const prompt = lastUserText(req);
        const isGsm = gsm.some((p) => prompt.includes(p.text));
        const ps = isGsm ? gsm : math;
        const i = problemOf(req, ps);
        return generationFor(isGsm ? 'gsm8k' : 'math', i, req.seed ?? 0, ps[i].expected);
      },
    });
    const endpoint = resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' });
    for (const [input, output, prompt] of [[GSM8K_TEST, files.gsm, 'gsm8k_text'], [MATH500, files.math, 'math_text']] as const) {
      const r = await generateSolutions({ input, output, prompt, endpoint, numSeeds: SEEDS, limit: PROBLEMS, concurrency: 8, params: { max_tokens: 512 } });
      assert.equal(r.status, 'completed', r.error ?? '');
      assert.equal(r.done, PROBLEMS * SEEDS);
    }
  });
  after(async () => {
    await server?.close();
  });

  it('grade: every row judged exactly as scripted', async () => {
    for (const [key, ps] of [['gsm', gsm], ['math', math]] as const) {
      const out = await sdg(['grade', '--input', files[key], '--output', graded[key]]);
      assert.match(out, new RegExp(`graded ${PROBLEMS * SEEDS} rows: ${(PROBLEMS / 4) * 7} correct`));
      const rows = readRows(graded[key]);
      assert.equal(rows.length, PROBLEMS * SEEDS);
      for (const r of rows) {
        const i = r.input_index as number;
        const kind = PATTERNS[i % 4][r.seed as number];
        assert.equal(r.is_correct, kind === 'C', `${key} problem ${i} seed ${r.seed}: ${String(r.generation)}`);
        const want = answerFor(i, kind, ps[i].expected);
        assert.equal(r.predicted_answer, want, `${key} problem ${i} seed ${r.seed}`);
      }
    }
  });

  it('metrics: exact greedy accuracy, pass@k, maj@k and any-correct per dataset', async () => {
    const json = JSON.parse(await sdg(['metrics', graded.gsm, graded.math, '--json'])) as Array<Record<string, any>>;
    assert.deepEqual(json.map((m) => m.dataset), ['gsm8k.graded.jsonl', 'math500.graded.jsonl']);
    const near = (x: number, y: number, what: string) => assert.ok(Math.abs(x - y) < 1e-12, `${what}: ${x} != ${y}`);
    for (const m of json) {
      assert.equal(m.problems, PROBLEMS);
      assert.equal(m.samples, PROBLEMS * SEEDS);
      assert.deepEqual(m.ks, [1, 2, 4]);
      near(m.greedy, 0.5, `${m.dataset} greedy`);
      near(m.passAtK['1'], (1 + 0.5 + 0.25 + 0) / 4, `${m.dataset} pass@1`);
      near(m.passAtK['2'], (1 + 5 / 6 + 0.5 + 0) / 4, `${m.dataset} pass@2`);
      near(m.passAtK['4'], 0.75, `${m.dataset} pass@4`);
      near(m.majAtK['1'], 0.5, `${m.dataset} maj@1`);
      near(m.majAtK['2'], 0.5, `${m.dataset} maj@2`);
      near(m.majAtK['4'], 0.25, `${m.dataset} maj@4`);
      near(m.anyCorrect, 0.75, `${m.dataset} any correct`);
      assert.deepEqual([m.failed, m.noAnswer], [0, PROBLEMS / 4], `${m.dataset}: the N samples have no answer`);
    }
    // Per MATH-500 level: every group's figures follow from its problems' patterns.
    const byLevel = JSON.parse(await sdg(['metrics', graded.math, '--json', '--group-by', 'level'])) as Array<Record<string, any>>;
    const levels = new Map<string, number[]>();
    math.forEach((_p, i) => {
      const level = String(mathLevels[i]);
      levels.set(level, [...(levels.get(level) ?? []), i]);
    });
    assert.deepEqual(byLevel.map((m) => m.dataset).sort(), [...levels.keys()].sort());
    for (const m of byLevel) {
      const ids = levels.get(m.dataset)!;
      assert.equal(m.problems, ids.length);
      near(m.greedy, ids.filter((i) => i % 4 === 0 || i % 4 === 2).length / ids.length, `level ${m.dataset} greedy`);
      near(m.majAtK['4'], ids.filter((i) => i % 4 === 0).length / ids.length, `level ${m.dataset} maj@4`);
    }
    const table = await sdg(['metrics', graded.gsm]);
    assert.match(table, /greedy accuracy\s+50\.00%/);
  });

  it('vote: majority labels with a minimum share, on the MATH-500 generations', async () => {
    const voted = join(tmp, 'math500.voted.jsonl');
    const out = await sdg(['vote', '--input', files.math, '--output', voted, '--min-share', '0.6']);
    // Shares of the winning answer per pattern: C 4/4, W1 2/4 (a tie), W1 2/4, W1 2 of 4 samples (N has no
    // answer and votes against): only the first is more than 0.6.
    assert.match(out, new RegExp(`voted on ${PROBLEMS} problems \\(${PROBLEMS * SEEDS} rows\\): ${PROBLEMS / 4} labeled, ${(3 * PROBLEMS) / 4} flagged`));
    const rows = readRows(voted);
    assert.equal(rows.length, PROBLEMS * SEEDS);
    for (const r of rows) {
      const i = r.input_index as number;
      const want = [
        { label: math[i].expected, votes: 4, total: 4 },
        { label: null, votes: 2, total: 4 },
        { label: null, votes: 2, total: 4 },
        { label: null, votes: 2, total: 4 },
      ][i % 4];
      assert.deepEqual([r.expected_answer, r.majority_votes, r.total_votes, r.majority_flagged], [want.label, want.votes, want.total, want.label === null], `problem ${i}`);
      assert.equal(r.original_expected_answer, math[i].expected);
    }
  });

  it('export-sft: exactly the right solutions, contaminated GSM8K problems removed, capped per problem', async () => {
    const sft = join(tmp, 'sft.jsonl');
    const out = JSON.parse(await sdg([
      'export-sft', '--input', graded.gsm, '--input', graded.math, '--output', sft,
      '--contamination', GSM8K_TEST, '--max-per-problem', '2', '--keep-fields', 'input_index', '--json',
    ])) as Record<string, any>;
    const perPattern = PROBLEMS / 4;
    assert.equal(out.inputRows, 2 * PROBLEMS * SEEDS);
    assert.deepEqual(out.removed, {
      failed: 0,
      'code-error': 0,
      incorrect: 2 * perPattern * (0 + 2 + 3 + 4),
      contaminated: perPattern * (4 + 2 + 1), // every right GSM8K solution: the problems are the test set
      'multi-boxed': 0,
      arithmetic: 0,
      duplicate: 0,
      tokens: 0,
      length: 0,
      cap: perPattern * 2, // MATH pattern-0 problems: 4 right solutions, 2 kept
      downsample: 0,
    });
    assert.equal(out.contaminatedProblems, PROBLEMS);
    assert.equal(out.written, perPattern * (2 + 2 + 1));
    const rows = readRows(sft);
    assert.equal(rows.length, out.written);
    const perProblem = new Map<number, string[]>();
    for (const r of rows) {
      const msgs = r.messages as Array<{ role: string; content: string }>;
      const i = r.input_index as number;
      assert.equal(msgs[0].role, 'user');
      assert.equal(msgs[0].content, math[i].text, 'the user turn is the MATH-500 problem');
      assert.equal(msgs[1].role, 'assistant');
      const seed = Number(/seed (\d)/.exec(msgs[1].content)![1]);
      assert.equal(PATTERNS[i % 4][seed], 'C', `problem ${i} seed ${seed} is not a right solution`);
      assert.equal(msgs[1].content, generationFor('math', i, seed, math[i].expected));
      perProblem.set(i, [...(perProblem.get(i) ?? []), String(seed)]);
    }
    for (let i = 0; i < PROBLEMS; i++) {
      const expectedCount = [2, 2, 1, 0][i % 4];
      assert.equal(perProblem.get(i)?.length ?? 0, expectedCount, `problem ${i}`);
    }
    for (let i = 1; i < PROBLEMS; i += 4) assert.deepEqual(perProblem.get(i)!.sort(), ['1', '3']);
    for (let i = 2; i < PROBLEMS; i += 4) assert.deepEqual(perProblem.get(i), ['0']);
  });
});
