import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSolutions, itemKey, itemsOf, prepareGeneration, rowKey, seedsOf, successRows, type GenerateOptions, type GenerationRow } from '../../src/core/generate';
import type { DatasetRow } from '../../src/core/datasets';
import { resolveEndpoint } from '../../src/core/llm/presets';
import type { LlmClient, ModelResponse } from '../../src/core/llm/types';
import type { ProgressEvent } from '../../src/core/engine';
import { startMockServer, type MockServer } from '../support/mockServer';

const tmp = mkdtempSync(join(tmpdir(), 'sdg-generate-core-'));
let fileNo = 0;
function input(rows: object[]): string {
  const p = join(tmp, `in-${++fileNo}.jsonl`);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
}
function out(): string {
  return join(tmp, `out-${++fileNo}.jsonl`);
}
function rowsOf(file: string): GenerationRow[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as GenerationRow);
}

const PROBLEMS = [
  { question: 'Ann has 3 apples and buys 4 more. How many apples does she have?', answer: 'She has 3 + 4 = <<3+4=7>>7.\n#### 7' },
  { question: 'A box holds 6 eggs. How many eggs are in 5 boxes?', answer: '6 * 5 = <<6*5=30>>30 eggs.\n#### 30' },
  { question: 'Tim had 20 marbles and lost 8. How many are left?', answer: '20 - 8 = <<20-8=12>>12.\n#### 12' },
];

describe('generate: item model', () => {
  it('keys items by input_index and seed, seeds in order per row', async () => {
    assert.deepEqual(seedsOf(5, 3), [5, 6, 7]);
    async function* rows(): AsyncGenerator<DatasetRow> {
      for (let i = 0; i < 2; i++) yield { input_index: i, line: i + 1, problem: `p${i}`, expected_answer: null, reference_solution: null, masked_solution: null, fields: {} };
    }
    const keys: string[] = [];
    for await (const item of itemsOf(rows(), [0, 1])) keys.push(item.key);
    assert.deepEqual(keys, ['0:0', '0:1', '1:0', '1:1']);
    assert.equal(itemKey(3, 9), rowKey({ input_index: 3, seed: 9 }));
    assert.throws(() => rowKey({} as GenerationRow), /no numeric input_index and seed/);
  });
});

describe('generate: generateSolutions against the mock server', function () {
  this.timeout(60_000);
  let server: MockServer;
  before(async () => {
    server = await startMockServer({ logLimit: 10_000 });
  });
  after(async () => server?.close());
  beforeEach(() => server.configure({ faults: [], fault: undefined }));

  function opts(extra: Partial<GenerateOptions> & Pick<GenerateOptions, 'input' | 'output'>): GenerateOptions {
    return {
      prompt: 'gsm8k_text',
      endpoint: resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' }),
      concurrency: 4,
      ...extra,
    };
  }

  it('writes one row per sample with the input fields, seed, sample_index, usage and prompt metadata', async () => {
    server.resetStats();
    const output = out();
    const events: ProgressEvent[] = [];
    const r = await generateSolutions(opts({ input: input(PROBLEMS), output, numSeeds: 2, startSeed: 10, numSamples: 3, params: { temperature: 0.5, max_tokens: 32 }, onProgress: (e) => events.push(e) }));
    assert.equal(r.status, 'completed');
    assert.equal(r.done, 6);
    assert.equal(r.datasetFormat, 'gsm8k');
    const rows = rowsOf(output);
    assert.equal(rows.length, 3 * 2 * 3);
    const byItem = new Map<string, GenerationRow[]>();
    for (const row of rows) byItem.set(rowKey(row), [...(byItem.get(rowKey(row)) ?? []), row]);
    assert.deepEqual([...byItem.keys()].sort(), ['0:10', '0:11', '1:10', '1:11', '2:10', '2:11']);
    for (const [, item] of byItem) {
      assert.deepEqual(item.map((x) => x.sample_index), [0, 1, 2]);
      assert.equal(new Set(item.map((x) => x.generation)).size, 3, 'samples of one request should differ');
      for (const x of item) {
        assert.equal(x.error, null);
        assert.equal(x.num_samples, 3);
        assert.equal(x.prompt_name, 'gsm8k_text');
        assert.equal(x.context_type, 'empty');
        assert.equal(x.model, 'teacher');
        assert.ok(x.usage && x.usage.prompt_tokens > 0);
        assert.ok(typeof x.finish_reason === 'string');
      }
    }
    const first = rows.find((x) => x.input_index === 1)!;
    assert.equal(first.expected_answer, '30');
    assert.equal(first.question, PROBLEMS[1]!.question);
    assert.equal(first.answer, PROBLEMS[1]!.answer);
    // Each request carried its seed, n and the sampling parameters.
    const bodies = server.requests.filter((q) => q.path === '/v1/chat/completions').map((q) => q.body);
    assert.deepEqual(bodies.map((b) => b.seed).sort(), [10, 10, 10, 11, 11, 11]);
    for (const b of bodies) {
      assert.equal(b.n, 3);
      assert.equal(b.temperature, 0.5);
      assert.equal(b.max_tokens, 32);
      assert.equal(b.top_p, 0.95);
      assert.deepEqual(b.stop, ['\nQuestion:']);
    }
    assert.ok(events.length > 0 && events[events.length - 1]!.final);
    assert.equal(events[events.length - 1]!.total, 6);
  });

  it('talks to raw-prompt servers through a conversation formatter (--api-kind completions)', async () => {
    server.resetStats();
    const output = out();
    const r = await generateSolutions(opts({
      input: input(PROBLEMS.slice(0, 2)), output, prompt: 'generic_math', numSeeds: 2,
      endpoint: resolveEndpoint({ name: 'raw', baseUrl: server.url, model: 'base', apiKind: 'completions', formatter: 'chatml' }),
    }));
    assert.equal(r.status, 'completed');
    assert.equal(rowsOf(output).length, 4);
    const reqs = server.requests.filter((q) => q.path === '/v1/completions');
    assert.equal(reqs.length, 4);
    assert.match(reqs[0]!.body.prompt, /<\|im_start\|>system\nYou are a careful mathematician/);
    assert.match(reqs[0]!.body.prompt, /Problem:\n(Ann has 3 apples|A box holds 6 eggs)/);
    assert.equal(server.stats.byPath['/v1/chat/completions'] ?? 0, 0);
  });

  it('records a failed item as one error row and retries it on the next run', async () => {
    const output = out();
    const file = input(PROBLEMS);
    // Problem 1 is rejected with a 400 (not retryable) on every attempt.
    server.configure({ faults: [{ fault: 'http_error', status: 400, message: 'bad things', match: (q) => JSON.stringify(q.messages).includes('A box holds 6 eggs') }] });
    const r1 = await generateSolutions(opts({ input: file, output, numSeeds: 2, earlyStop: false }));
    assert.equal(r1.status, 'completed');
    assert.equal(r1.done, 4);
    assert.equal(r1.failed, 2);
    const errors = rowsOf(output).filter((x) => x.error !== null);
    assert.equal(errors.length, 2);
    for (const e of errors) {
      assert.equal(e.input_index, 1);
      assert.equal(e.generation, null);
      assert.match(e.error!, /bad things/);
    }
    server.configure({ faults: [] });
    server.resetStats();
    const r2 = await generateSolutions(opts({ input: file, output, numSeeds: 2 }));
    assert.equal(r2.status, 'completed');
    assert.equal(r2.resumed, 4);
    assert.equal(r2.done, 2);
    assert.equal(server.stats.completed, 2);
    const rows = rowsOf(output);
    assert.equal(rows.length, 6);
    assert.ok(rows.every((x) => x.error === null));
  });

  it('extends a finished run with more seeds, requesting only the new ones', async () => {
    const output = out();
    const file = input(PROBLEMS);
    await generateSolutions(opts({ input: file, output, numSeeds: 1 }));
    server.resetStats();
    const r = await generateSolutions(opts({ input: file, output, numSeeds: 3 }));
    assert.equal(r.resumed, 3);
    assert.equal(r.done, 6);
    const seeds = server.requests.filter((q) => q.path === '/v1/chat/completions').map((q) => q.body.seed as number);
    assert.deepEqual([...new Set(seeds)].sort(), [1, 2]);
    assert.equal(rowsOf(output).length, 9);
  });

  it('refuses to resume with different generation settings, naming them', async () => {
    const output = out();
    const file = input(PROBLEMS);
    await generateSolutions(opts({ input: file, output, params: { temperature: 0.2 } }));
    await assert.rejects(generateSolutions(opts({ input: file, output, params: { temperature: 0.9 } })), /params\.temperature \(was 0\.2, now 0\.9\)/);
    await assert.rejects(generateSolutions(opts({ input: file, output, params: { temperature: 0.2 }, prompt: 'generic_math' })), /prompt\.name/);
    const r = await generateSolutions(opts({ input: file, output, params: { temperature: 0.9 }, overwrite: true }));
    assert.equal(r.done, 3);
    assert.equal(rowsOf(output).length, 3);
  });

  it('stops on cancel keeping finished rows; the next run completes the rest', async () => {
    const output = out();
    const file = input(Array.from({ length: 20 }, (_, i) => ({ problem: `What is ${i} + ${i}?`, answer: String(2 * i) })));
    server.configure({ latency: { fixedMs: 50 } });
    const controller = new AbortController();
    let seen = 0;
    const r1 = await generateSolutions(opts({
      input: file, output, prompt: 'generic_math', concurrency: 2, signal: controller.signal,
      onProgress: (e) => { seen = e.done; if (e.done >= 4) controller.abort(); },
    }));
    server.configure({ latency: 0 });
    assert.equal(r1.status, 'cancelled');
    assert.ok(seen >= 4);
    const kept = rowsOf(output).length;
    assert.ok(kept >= 4 && kept < 20, `kept ${kept}`);
    const r2 = await generateSolutions(opts({ input: file, output, prompt: 'generic_math' }));
    assert.equal(r2.status, 'completed');
    assert.equal(r2.resumed, kept);
    assert.equal(rowsOf(output).length, 20);
  });

  it('fails the item clearly when the server returns fewer choices than n', async () => {
    const fake: LlmClient = {
      endpoint: resolveEndpoint({ name: 'fake', baseUrl: 'http://127.0.0.1:9/v1', model: 'm', apiKind: 'chat' }),
      async queryModel(): Promise<ModelResponse> {
        return { choices: [{ text: 'one', finishReason: 'stop' }], usage: { promptTokens: 1, completionTokens: 1 }, model: 'm' };
      },
      async queryRewardModel() { return {}; },
      async listModels() { return []; },
      async close() {},
    };
    const output = out();
    const r = await generateSolutions({ ...opts({ input: input(PROBLEMS), output, numSamples: 4 }), client: fake, earlyStop: false });
    assert.equal(r.failed, 3);
    assert.match(rowsOf(output)[0]!.error!, /returned 1 choice for n=4; .*--num-samples 1/);
  });

  it('keeps a reasoning model\'s separate chain of thought in `reasoning`', async () => {
    const fake: LlmClient = {
      endpoint: resolveEndpoint({ name: 'fake', baseUrl: 'http://127.0.0.1:9/v1', model: 'r1', apiKind: 'chat' }),
      async queryModel(): Promise<ModelResponse> {
        return { choices: [{ text: 'The answer is \\boxed{7}.', finishReason: 'stop', reasoning: 'Three plus four is seven.' }], usage: { promptTokens: 5, completionTokens: 9 }, model: 'r1-served' };
      },
      async queryRewardModel() { return {}; },
      async listModels() { return []; },
      async close() {},
    };
    const output = out();
    const r = await generateSolutions({ ...opts({ input: input(PROBLEMS.slice(0, 1)), output }), client: fake });
    assert.equal(r.done, 1);
    const [row] = rowsOf(output);
    assert.equal(row!.reasoning, 'Three plus four is seven.');
    assert.equal(row!.generation, 'The answer is \\boxed{7}.');
    assert.equal(row!.model, 'r1-served');
    assert.deepEqual(row!.usage, { prompt_tokens: 5, completion_tokens: 9 });
    // Field order: input fields, then the job's fields.
    assert.deepEqual(Object.keys(row!).slice(0, 6), ['question', 'answer', 'input_index', 'problem', 'expected_answer', 'generation']);
  });

  it('prepares the first prompt without an endpoint for dry runs, and rejects bad numbers', async () => {
    const p = await prepareGeneration({ input: input(PROBLEMS), prompt: 'gsm8k_generate_masked', endpoint: resolveEndpoint({}), skipEndpointCheck: true, numSamples: 2 });
    assert.equal(p.first!.row.expected_answer, '7');
    assert.match(p.first!.messages[0]!.content, /Reference solution:\nShe has 3 \+ 4 = 7\.\n\nMasked solution:$/);
    assert.equal(p.params.n, 2);
    await assert.rejects(prepareGeneration({ input: input(PROBLEMS), prompt: 'gsm8k_text', endpoint: resolveEndpoint({}) }), /baseUrl is required/);
    await assert.rejects(prepareGeneration({ input: input(PROBLEMS), prompt: 'gsm8k_text', endpoint: resolveEndpoint({}), skipEndpointCheck: true, numSeeds: 0 }), /num_seeds must be a whole number >= 1/);
  });
});

describe('generate: output rows', () => {
  it('input fields first, the job fields win over same-named input keys in place, "__proto__" stays data', () => {
    const fields = JSON.parse('{"question":"q?","seed":99,"__proto__":{"polluted":true},"answer":"#### 4"}') as Record<string, unknown>;
    const row: DatasetRow = { input_index: 3, problem: 'q?', expected_answer: '4', fields } as DatasetRow;
    const response: ModelResponse = { choices: [{ text: 'four', finishReason: 'stop', reasoning: 'think' }], usage: { promptTokens: 5, completionTokens: 1 }, model: 'm' };
    const [out] = successRows({ key: '3:1', row, seed: 1 }, response, { promptName: 'p', contextType: 'empty', model: 'm', numSamples: 1 });
    const text = JSON.stringify(out);
    assert.equal(text, '{"question":"q?","seed":1,"__proto__":{"polluted":true},"answer":"#### 4","input_index":3,"problem":"q?","expected_answer":"4",' +
      '"generation":"four","sample_index":0,"num_samples":1,"finish_reason":"stop","usage":{"prompt_tokens":5,"completion_tokens":1},"error":null,' +
      '"prompt_name":"p","context_type":"empty","model":"m","reasoning":"think"}');
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
