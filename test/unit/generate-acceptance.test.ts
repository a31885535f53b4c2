/**
 * THE acceptance test of the labeling job, over real HTTP against the fault-injecting mock server:
 *  1. 50 GSM8K test problems x 4 seeds, with 429 (Retry-After: 1) on 10% of first attempts and
 *     500 on 5% of requests: exactly 200 rows, each (problem, seed) once, none with an error.
 *  2. The built CLI, killed with SIGKILL when about half the rows are written, then started again
 *     with the same command: exactly 200 rows, and the server never saw a request again for an
 *     item that was already written.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { readDataset } from '../../src/core/datasets';
import { generateSolutions } from '../../src/core/generate';
import { resolveEndpoint } from '../../src/core/llm/presets';
import { startMockServer, type FaultRule, type MockServer } from '../support/mockServer';
import { datasetFile } from '../support/datasets';

const REPO = resolve(__dirname, '../..');
const GSM8K_TEST = datasetFile('gsm8k/test.jsonl');
const PROBLEMS = 50;
const SEEDS = 4;
const FAULTS: FaultRule[] = [
  { fault: 'rate_limit', rate: 0.1, attempts: 'first', retryAfterSeconds: 1 },
  { fault: 'server_error', rate: 0.05 },
];

interface OutRow { input_index: number; seed: number; problem: string; generation: string | null; error: string | null; sample_index: number }

function readRows(file: string): { rows: OutRow[]; torn: boolean } {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const rows: OutRow[] = [];
  let torn = false;
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      rows.push(JSON.parse(line) as OutRow);
    } catch {
      // Only the very last line may be torn (killed mid-write).
      assert.equal(i, lines.length - 1, `line ${i + 1} of ${file} is not JSON but is not the last line`);
      torn = true;
    }
  });
  return { rows, torn };
}

function assertComplete(rows: OutRow[]): void {
  assert.equal(rows.length, PROBLEMS * SEEDS, `expected ${PROBLEMS * SEEDS} rows, got ${rows.length}`);
  const seen = new Set<string>();
  for (const r of rows) {
    const key = `${r.input_index}:${r.seed}`;
    assert.ok(!seen.has(key), `(problem ${r.input_index}, seed ${r.seed}) appears twice`);
    seen.add(key);
    assert.equal(r.error, null, `row ${key} has an error: ${r.error}`);
    assert.equal(typeof r.generation, 'string');
    assert.ok(r.input_index >= 0 && r.input_index < PROBLEMS && r.seed >= 0 && r.seed < SEEDS, `unexpected item ${key}`);
  }
  assert.equal(seen.size, PROBLEMS * SEEDS);
}

/** (input_index, seed) of a logged chat request, found from the problem text ending its prompt. */
function itemOfRequest(body: { messages?: Array<{ content: string }>; seed?: number }, problems: string[]): string {
  const content = body.messages?.[body.messages.length - 1]?.content ?? '';
  const tail = content.slice(content.lastIndexOf('Question:\n') + 'Question:\n'.length);
  const idx = problems.findIndex((p) => tail.startsWith(p + '\n'));
  assert.ok(idx >= 0, `request for an unknown problem: ${tail.slice(0, 80)}`);
  return `${idx}:${body.seed}`;
}

describe('generate: acceptance (mock server over HTTP, faults, SIGKILL + resume)', function () {
  this.timeout(240_000);
  let server: MockServer;
  let problems: string[];
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-generate-acceptance-'));

  before(async () => {
    problems = [];
    for await (const row of readDataset(GSM8K_TEST, { limit: PROBLEMS })) problems.push(row.problem);
    server = await startMockServer({ faults: FAULTS, latency: { fixedMs: 20 }, logLimit: 100_000 });
  });
  after(async () => {
    await server?.close();
  });

  it('50 problems x 4 seeds with 429/500 faults: exactly 200 rows, each (problem, seed) once, no errors', async () => {
    server.resetStats();
    const output = join(tmp, 'core.jsonl');
    const result = await generateSolutions({
      input: GSM8K_TEST,
      output,
      prompt: 'gsm8k_text',
      endpoint: resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' }),
      numSeeds: SEEDS,
      limit: PROBLEMS,
      concurrency: 16,
      params: { max_tokens: 64 },
    });
    assert.equal(result.status, 'completed', result.error ?? '');
    assert.equal(result.done, PROBLEMS * SEEDS);
    assert.equal(result.failed, 0);
    assert.equal(result.total, PROBLEMS * SEEDS);
    const { rows, torn } = readRows(output);
    assert.ok(!torn);
    assertComplete(rows);
    // The faults really happened, and were retried.
    assert.ok((server.stats.faults.rate_limit ?? 0) >= 5, `only ${server.stats.faults.rate_limit ?? 0} 429s injected`);
    assert.ok((server.stats.faults.server_error ?? 0) >= 2, `only ${server.stats.faults.server_error ?? 0} 500s injected`);
    assert.equal(server.stats.completed, PROBLEMS * SEEDS);
    // Row fields downstream steps rely on.
    const r = rows[0] as unknown as Record<string, unknown>;
    for (const k of ['question', 'answer', 'input_index', 'problem', 'expected_answer', 'generation', 'seed', 'sample_index', 'num_samples', 'finish_reason', 'usage', 'error', 'prompt_name', 'context_type', 'model']) {
      assert.ok(k in r, `row has no ${k}`);
    }
    assert.equal(r.prompt_name, 'gsm8k_text');
    // Re-running the finished job requests nothing.
    server.resetStats();
    const again = await generateSolutions({
      input: GSM8K_TEST, output, prompt: 'gsm8k_text', numSeeds: SEEDS, limit: PROBLEMS, concurrency: 16, params: { max_tokens: 64 },
      endpoint: resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' }),
    });
    assert.equal(again.status, 'completed');
    assert.equal(again.resumed, PROBLEMS * SEEDS);
    assert.equal(server.stats.byPath['/v1/chat/completions'] ?? 0, 0);
    assertComplete(readRows(output).rows);
  });

  it('the built CLI killed with SIGKILL halfway and run again: exactly 200 rows, written items never requested again', async () => {
    // Build the CLI as shipped (one bundle); built-in prompts come from the repository.
    const cli = join(tmp, 'cli.js');
    await build({ entryPoints: [join(REPO, 'src/cli/index.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    const output = join(tmp, 'cli-out.jsonl');
    const args = [cli, 'generate', '--input', GSM8K_TEST, '--output', output, '--prompt', 'gsm8k_text',
      '--base-url', server.url, '--model', 'teacher', '--num-seeds', String(SEEDS), '--limit', String(PROBLEMS),
      '--concurrency', '4', '--max-tokens', '64', '--api-key-env', 'SDG_TEST_KEY'];
    const env = { ...process.env, SDG_PROMPTS_DIR: join(REPO, 'prompts'), SDG_TEST_KEY: 'test-key-not-secret' };
    // Slow answers so the kill lands mid-run.
    server.configure({ latency: { fixedMs: 120 } });
    server.resetStats();

    const first: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr1 = '';
    first.stderr!.on('data', (d) => (stderr1 += d));
    const exited1 = new Promise<number | null>((res) => first.on('exit', (code) => res(code)));
    // Kill when about half of the rows are on disk.
    const killedAt = await new Promise<number>((res, rej) => {
      const timer = setInterval(() => {
        const lines = existsSync(output) ? readFileSync(output, 'utf8').split('\n').length - 1 : 0;
        if (lines >= PROBLEMS * SEEDS / 2) {
          clearInterval(timer);
          first.kill('SIGKILL');
          res(lines);
        }
      }, 10);
      first.on('exit', () => {
        clearInterval(timer);
        rej(new Error(`the CLI exited before it could be killed (stderr: ${stderr1})`));
      });
    });
    await exited1;
    const before = readRows(output);
    assert.ok(before.rows.length >= PROBLEMS * SEEDS / 2 && before.rows.length < PROBLEMS * SEEDS, `killed at ${killedAt} lines, ${before.rows.length} rows`);
    const written = new Set(before.rows.filter((r) => r.error === null).map((r) => `${r.input_index}:${r.seed}`));
    assert.ok(existsSync(join(`${output}.run`, 'config.json')), 'no frozen config in the run folder');
    const frozen = readFileSync(join(`${output}.run`, 'config.json'), 'utf8');
    assert.ok(!frozen.includes('test-key-not-secret'), 'the API key reached the run folder');

    // Same command again.
    server.configure({ latency: { fixedMs: 20 } });
    server.resetStats();
    const second = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr2 = '';
    second.stderr!.on('data', (d) => (stderr2 += d));
    const code = await new Promise<number | null>((res) => second.on('exit', (c) => res(c)));
    assert.equal(code, 0, `second run exited ${code}: ${stderr2}`);

    const after = readRows(output);
    assert.ok(!after.torn);
    assertComplete(after.rows);
    const requested = server.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => itemOfRequest(r.body, problems));
    const again = requested.filter((k) => written.has(k));
    assert.deepEqual(again, [], `items already written were requested again: ${again.join(', ')}`);
    // Everything not written before was requested (at least once) in the second run.
    const missing = [...Array(PROBLEMS * SEEDS).keys()].map((i) => `${Math.floor(i / SEEDS)}:${i % SEEDS}`).filter((k) => !written.has(k) && !requested.includes(k));
    assert.deepEqual(missing, []);
    const manifest = JSON.parse(readFileSync(join(`${output}.run`, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.equal(manifest.counts.done, PROBLEMS * SEEDS);
    assert.ok(statSync(output).size > 0);
  });
});
