/**
 * The `sdg` CLI (dist/cli.js, as users run it) against a real llama-server: `sdg generate`
 * (counts, seeds, usage, SIGKILL then resume with nothing lost or duplicated) and `sdg run`
 * (a built-in pipeline on the sample data). The tiny model's text is gibberish: these check
 * structure, not content.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLlamaServer, type LlamaServer } from '../../scripts/real-parts/llamaServer';
import { spawnTracked } from '../../scripts/real-parts/processes';
import { REPO_ROOT } from '../../scripts/real-parts/setup';

const CLI = join(REPO_ROOT, 'dist', 'cli.js');
const GSM8K_20 = join(REPO_ROOT, 'sample', 'data', 'gsm8k-test-20.jsonl');

interface Row {
  input_index: number;
  seed: number;
  sample_index: number;
  num_samples: number;
  generation: string | null;
  finish_reason: string | null;
  usage: { prompt_tokens: number; completion_tokens: number };
  error: string | null;
  problem: string;
  expected_answer: string | null;
  model: string;
}

/** Complete lines only: a line torn by a kill has no newline yet. */
function readRows(file: string): Row[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  return complete.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
}

const key = (r: Row) => `${r.input_index}:${r.seed}:${r.sample_index}`;

/**
 * Runs `node dist/cli.js ARGS` without blocking the event loop (mocha's time-outs keep working),
 * tracked so it is killed if the test process ends first. `output`: stdout and stderr together.
 */
async function sdg(args: string[]): Promise<{ status: number | null; output: string }> {
  const proc = spawnTracked(process.execPath, [CLI, ...args], { cwd: REPO_ROOT });
  const status = await proc.exited;
  return { status, output: readFileSync(proc.logFile, 'utf8') };
}

describe('sdg CLI against llama-server (real-llm)', function () {
  let server: LlamaServer;
  let dir: string;

  before(async function () {
    this.timeout(45 * 60_000);
    if (!existsSync(CLI)) throw new Error('dist/cli.js is missing: run `npm run build` first');
    // 8192 context over 4 slots: room for a few-shot prompt plus the answer.
    server = await startLlamaServer({ parallel: 4, ctx: 8192 });
    dir = mkdtempSync(join(tmpdir(), 'sdg-real-cli-'));
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const endpoint = () => ['--base-url', server.baseUrl, '--model', server.model, '--preset', 'llamacpp'];

  describe('sdg generate', () => {
    const common = () => [
      'generate', '--input', GSM8K_20, '--prompt', 'gsm8k_text', ...endpoint(),
      '--few-shot-count', '1', '--temperature', '0.8', '--max-tokens', '24', '--concurrency', '4', '--no-progress',
    ];

    it('writes problems x seeds x samples rows, with seeds, finish reasons and usage', async () => {
      const out = join(dir, 'labels.jsonl');
      const r = await sdg([...common(), '--output', out, '--limit', '5', '--num-seeds', '2', '--num-samples', '3']);
      assert.equal(r.status, 0, r.output);
      const rows = readRows(out);
      assert.equal(rows.length, 5 * 2 * 3);
      assert.equal(new Set(rows.map(key)).size, rows.length, 'no duplicate (problem, seed, sample)');
      for (const row of rows) {
        assert.equal(row.error, null, row.error ?? '');
        assert.equal(typeof row.generation, 'string');
        assert.ok(['stop', 'length'].includes(row.finish_reason ?? ''), `finish_reason ${row.finish_reason}`);
        assert.ok([0, 1].includes(row.seed));
        assert.ok(row.sample_index >= 0 && row.sample_index < 3);
        assert.equal(row.num_samples, 3);
        assert.ok(row.usage.prompt_tokens > 20, `prompt tokens ${row.usage.prompt_tokens}`);
        assert.ok(row.usage.completion_tokens >= 1 && row.usage.completion_tokens <= 24, `completion tokens ${row.usage.completion_tokens}`);
      }
      const first = rows.find((x) => x.input_index === 0)!;
      assert.ok(first.problem.startsWith('Janet'), first.problem);
      assert.equal(first.expected_answer, '18');
      assert.ok(existsSync(join(`${out}.run`, 'manifest.json')), 'run folder with a manifest');
    });

    // One request at a time: batching changes float rounding, which can flip a sampled token of
    // this random model (its logits are nearly flat), so concurrent runs are not bit-identical.
    it('the same seeds give the same generations in a second run', async () => {
      const a = join(dir, 'seed-a.jsonl');
      const b = join(dir, 'seed-b.jsonl');
      for (const out of [a, b]) assert.equal((await sdg([...common(), '--output', out, '--limit', '3', '--num-seeds', '2', '--start-seed', '40', '--concurrency', '1'])).status, 0);
      const byKey = new Map(readRows(a).map((r) => [key(r), r.generation]));
      const rowsB = readRows(b);
      assert.equal(rowsB.length, 6);
      for (const r of rowsB) assert.equal(r.generation, byKey.get(key(r)), `generation of ${key(r)}`);
      // And another seed range gives other text.
      const c = join(dir, 'seed-c.jsonl');
      assert.equal((await sdg([...common(), '--output', c, '--limit', '3', '--num-seeds', '2', '--start-seed', '90', '--concurrency', '1'])).status, 0);
      const same = readRows(c).filter((r) => r.generation === byKey.get(`${r.input_index}:${r.seed - 50}:${r.sample_index}`)).length;
      assert.ok(same < 6, 'other seeds should not reproduce the same texts');
    });

    it('raw-completions servers: --api-kind completions with a formatter', async () => {
      const out = join(dir, 'raw.jsonl');
      const r = await sdg([...common(), '--output', out, '--limit', '2', '--num-samples', '2', '--api-kind', 'completions', '--formatter', 'chatml']);
      assert.equal(r.status, 0, r.output);
      const rows = readRows(out);
      assert.equal(rows.length, 4);
      for (const row of rows) {
        assert.equal(row.error, null);
        assert.equal(typeof row.generation, 'string');
        assert.ok(!row.generation!.includes('<|im_end|>'), 'the formatter\'s stop word is cut from the text');
      }
    });

    it('generate -> grade -> metrics on the server\'s output: every row graded, counted per problem', async () => {
      const out = join(dir, 'chain.jsonl');
      const graded = join(dir, 'chain.graded.jsonl');
      assert.equal((await sdg([...common(), '--output', out, '--limit', '4', '--num-seeds', '2', '--num-samples', '2'])).status, 0);
      const g = await sdg(['grade', '--input', out, '--output', graded]);
      assert.equal(g.status, 0, g.output);
      const rows = readRows(graded) as unknown as Array<Row & { is_correct: unknown; predicted_answer: unknown }>;
      assert.equal(rows.length, 16);
      for (const row of rows) assert.equal(typeof row.is_correct, 'boolean', JSON.stringify(row).slice(0, 300));
      // stdout only: the JSON report (warnings go to stderr).
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'metrics', '--json', graded], { cwd: REPO_ROOT });
      const [report] = JSON.parse(stdout) as Array<{ problems: number; samples: number; anyCorrect: number }>;
      assert.equal(report.problems, 4);
      assert.equal(report.samples, 16);
      assert.equal(report.anyCorrect, new Set(rows.filter((x) => x.is_correct === true).map((x) => x.input_index)).size / 4);
    });

    it('SIGKILL mid-run, then the same command: nothing lost, nothing duplicated', async function () {
      this.timeout(10 * 60_000);
      const out = join(dir, 'killed.jsonl');
      // 20 problems x 4 seeds x 2 samples, 48 tokens each: long enough to kill in the middle.
      const args = [CLI, ...common(), '--output', out, '--num-seeds', '4', '--num-samples', '2', '--max-tokens', '48'];
      const first = spawnTracked(process.execPath, args, { cwd: REPO_ROOT });
      const child = first.child;
      // Kill once some rows are on disk (at least 8 items' worth).
      const deadline = Date.now() + 5 * 60_000;
      while (Date.now() < deadline && child.exitCode === null) {
        if (existsSync(out) && statSync(out).size > 0 && readRows(out).length >= 16) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(child.exitCode, null, 'the run finished before it could be killed; make it longer');
      process.kill(first.pid, 'SIGKILL');
      await first.exited;
      const before = readRows(out);
      assert.ok(before.length >= 16 && before.length < 160, `rows at the kill: ${before.length}`);

      const r = await sdg(args.slice(1));
      assert.equal(r.status, 0, r.output);
      const after = readRows(out);
      assert.equal(after.length, 20 * 4 * 2, 'every row once');
      assert.equal(new Set(after.map(key)).size, after.length, 'no duplicates');
      const afterByKey = new Map(after.map((x) => [key(x), x]));
      for (const row of before) assert.deepEqual(afterByKey.get(key(row)), row, `row ${key(row)} written before the kill is kept as it was`);
      // The second run only generated what was missing.
      const m = /\((\d+) generated now, (\d+) already done before\)/.exec(r.output);
      assert.ok(m, `resume summary in: ${r.output}`);
      assert.equal(Number(m[1]) + Number(m[2]), 80);
      assert.ok(Number(m[2]) >= before.length / 2 - 1, `resumed ${m[2]} items; ${before.length} rows were on disk`);
    });
  });

  describe('sdg run (pipelines)', () => {
    const PIPELINE = join(REPO_ROOT, 'sample', 'prompts', 'pipelines', 'gsm8k_explain.yaml');
    const runArgs = (out: string, extra: string[] = []) => [
      'run', PIPELINE, ...endpoint(), '--output-dir', out, '--quiet',
      '--set', `documents=${GSM8K_20}`, ...extra,
    ];
    const source = readFileSync(GSM8K_20, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { question: string; answer: string });

    function checkOutput(out: string): void {
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { status?: string };
      assert.equal(manifest.status, 'completed', JSON.stringify(manifest).slice(0, 500));
      const rows = readRows(join(out, 'output.jsonl')) as unknown as Array<{ problem_index: number; question: string; explanation: string; reference_answer: string }>;
      assert.equal(rows.length, 20, 'one explanation per problem');
      assert.deepEqual(rows.map((r) => r.problem_index).sort((a, b) => a - b), [...Array(20).keys()]);
      for (const r of rows) {
        assert.equal(r.question, source[r.problem_index].question);
        assert.equal(r.reference_answer, source[r.problem_index].answer);
        assert.equal(typeof r.explanation, 'string');
        assert.ok(r.explanation.length > 0, `empty explanation for problem ${r.problem_index}`);
      }
    }

    it('runs the sample workspace pipeline over the sample problems into a complete run folder', async () => {
      const out = join(dir, 'explain-run');
      const r = await sdg(runArgs(out, ['--concurrency', '4', '--set', 'max_tokens=32']));
      assert.equal(r.status, 0, r.output);
      checkOutput(out);
    });

    it('SIGKILL mid-run, then the same command: every problem once', async function () {
      this.timeout(10 * 60_000);
      const out = join(dir, 'explain-killed');
      // One request at a time and long answers: slow enough to be killed in the middle.
      const args = runArgs(out, ['--concurrency', '1', '--set', 'max_tokens=400', '--set', 'temperature=1.2']);
      const first = spawnTracked(process.execPath, [CLI, ...args], { cwd: REPO_ROOT });
      const stage = join(out, 'stages', 'explanations_raw.jsonl');
      const deadline = Date.now() + 5 * 60_000;
      while (Date.now() < deadline && first.child.exitCode === null && readRows(stage).length < 3) await new Promise((r) => setTimeout(r, 50));
      assert.equal(first.child.exitCode, null, `the run ended before it could be killed:\n${first.tail()}`);
      process.kill(first.pid, 'SIGKILL');
      await first.exited;
      const before = readRows(stage).length;
      assert.ok(before >= 3 && before < 20, `stage rows at the kill: ${before}`);
      const r = await sdg(args);
      assert.equal(r.status, 0, r.output);
      checkOutput(out);
    });
  });
});
