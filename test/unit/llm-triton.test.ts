/**
 * `apiKind: triton` against a loopback server written from Triton's protocol documentation
 * (triton-inference-server/server docs/protocol/extension_generate.md):
 *
 *   POST v2/models/${MODEL_NAME}/generate   { "text_input": $string, "parameters": $parameters #optional }
 *     "Any additional properties in the request object are passed either as parameters or
 *      tensors based on model specification."
 *   200 { "model_name": $string, "model_version": $string, "text_output": $string }
 *   error: "a failed generate request must be indicated by an HTTP error status (typically 400)"
 *          with { "error": <error message string> }
 *
 * and the model repository extension's `POST v2/repository/index` ([{ name, version, state }]).
 * The mock's model has the inputs of TensorRT-LLM's ensemble; an input it lacks is refused the
 * way Triton refuses it. Also here: which parameters each server kind is sent.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { build } from 'esbuild';
import { endpointFromFlags } from '../../src/cli/commands/generate';
import { readEndpointFile } from '../../src/cli/commands/run';
import { createClient, type OpenAiCompatibleClient } from '../../src/core/llm/client';
import { LlmError } from '../../src/core/llm/errors';
import { resolveEndpoint, validateEndpoint } from '../../src/core/llm/presets';
import type { ChatMessage, EndpointProfile } from '../../src/core/llm/types';
import { startMockServer, type MockServer } from '../support/mockServer';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'chat-templates');

/** The inputs of TensorRT-LLM's `ensemble` model (all but text_input optional). */
const ENSEMBLE_INPUTS = new Set(['text_input', 'max_tokens', 'bad_words', 'stop_words', 'end_id', 'pad_id', 'top_k', 'top_p', 'temperature', 'length_penalty', 'repetition_penalty', 'min_length', 'presence_penalty', 'frequency_penalty', 'random_seed', 'return_log_probs', 'beam_width', 'stream', 'parameters']);

interface TritonCall { path: string; body: Record<string, any> }

interface TritonMock {
  url: string;
  calls: TritonCall[];
  /** Answer for one request: the generated text (after the prompt). */
  answer: (body: Record<string, any>) => string;
  /** Echo the prompt before the answer, as some TensorRT-LLM builds do. */
  echo: boolean;
  /** Next answers: raw HTTP replies instead of generating. */
  faults: Array<{ status: number; body: string }>;
  close(): Promise<void>;
}

async function startTritonMock(models = ['ensemble']): Promise<TritonMock> {
  const mock: TritonMock = {
    url: '', calls: [], echo: false, faults: [],
    answer: (body) => `answer to ${JSON.stringify(String(body.text_input).slice(-20))} seed ${body.random_seed ?? '-'}<|eot_id|>trailing junk`,
    close: async () => undefined,
  };
  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, any> = {};
      try { body = raw ? JSON.parse(raw) : {}; } catch { return send(res, 400, { error: 'failed to parse the request JSON buffer' }); }
      mock.calls.push({ path: req.url ?? '', body });
      if (req.method === 'POST' && req.url === '/v2/repository/index') {
        return send(res, 200, [...models.map((name) => ({ name, version: '1', state: 'READY' })), { name: 'preprocessing', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' }]);
      }
      const m = /^\/v2\/models\/([^/]+)\/generate$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) return send(res, 404, { error: 'Not Found' });
      const fault = mock.faults.shift();
      if (fault) {
        res.writeHead(fault.status, { 'content-type': 'application/json' });
        return res.end(fault.body);
      }
      const name = decodeURIComponent(m[1]);
      if (!models.includes(name)) return send(res, 400, { error: `Request for unknown model: '${name}' is not found` });
      for (const key of Object.keys(body)) {
        if (!ENSEMBLE_INPUTS.has(key)) return send(res, 400, { error: `[request id: <id_unknown>] unexpected inference input '${key}' for model '${name}'` });
      }
      if (typeof body.text_input !== 'string') return send(res, 400, { error: `expected 1 inputs but got 0 inputs for model '${name}'. Got input(s) [], but missing required input(s) ['text_input']` });
      if (body.text_input.length > 4000) return send(res, 400, { error: `Prompt length (${body.text_input.length}) exceeds maximum input length (4000).` });
      const text = (mock.echo ? body.text_input : '') + mock.answer(body);
      return send(res, 200, { model_name: name, model_version: '1', sequence_end: false, sequence_id: 0, sequence_start: false, text_output: text });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  mock.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  mock.close = () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return mock;
}

async function rejects(p: Promise<unknown>, kind: string, message?: RegExp): Promise<LlmError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof LlmError, `expected an LlmError, got ${e}`);
    assert.equal(e.kind, kind, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected an LlmError of kind ${kind}, but the call succeeded`);
}

const SYS: ChatMessage = { role: 'system', content: 'You are terse.' };
const USER: ChatMessage = { role: 'user', content: 'Name a prime.' };

describe('triton generate endpoint (apiKind: triton)', () => {
  let mock: TritonMock;
  let client: OpenAiCompatibleClient;
  const profile = (over: Partial<EndpointProfile> = {}): EndpointProfile => ({
    name: 'trt', baseUrl: mock.url, model: 'ensemble', apiKind: 'triton',
    formatter: 'chat-template', chatTemplateFile: path.join(FIXTURES, 'llama-3.1-8b-instruct', 'tokenizer_config.json'), ...over,
  });
  beforeEach(async () => { mock = await startTritonMock(); });
  afterEach(async () => { await client?.close(); await mock.close(); });

  it('posts the formatted prompt as text_input with the ensemble\'s sampling inputs; cuts the answer at the end-of-turn marker', async () => {
    client = createClient(profile());
    const res = await client.queryModel([SYS, USER], { max_tokens: 64, temperature: 0.7, top_p: 0.9, top_k: 40, seed: 5, stop: ['\n\n\n'] });
    assert.equal(mock.calls.length, 1);
    const { path: url, body } = mock.calls[0];
    assert.equal(url, '/v2/models/ensemble/generate');
    assert.equal(body.text_input,
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are terse.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    assert.deepEqual({ ...body, text_input: undefined }, { text_input: undefined, max_tokens: 64, temperature: 0.7, top_p: 0.9, top_k: 40, random_seed: 5, stop_words: ['<|eot_id|>', '\n\n\n'] });
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].text, 'answer to "t<|end_header_id|>\\n\\n" seed 5');
    assert.equal(res.choices[0].finishReason, 'stop');
    assert.equal(res.model, 'ensemble');
    assert.deepEqual(res.usage, { promptTokens: 0, completionTokens: 0 });
  });

  it('n choices are n requests with seeds seed, seed+1, ... (from 0 without a seed), in order', async () => {
    client = createClient(profile({ formatter: 'nemotron', chatTemplateFile: undefined }));
    const res = await client.queryModel([USER], { n: 3, seed: 10 });
    assert.deepEqual(mock.calls.map((c) => c.body.random_seed).sort(), [10, 11, 12]);
    assert.deepEqual(res.choices.map((c) => c.text.replace(/.* seed (\d+).*/, '$1')), ['10', '11', '12']);
    mock.calls.length = 0;
    await client.queryModel([USER], { n: 2 });
    assert.deepEqual(mock.calls.map((c) => c.body.random_seed).sort(), [0, 1]);
    mock.calls.length = 0;
    await client.queryModel([USER], {});
    assert.equal('random_seed' in mock.calls[0].body, false);
  });

  it('a server that echoes the prompt: the prompt is cut off the answer; no stop word means finishReason null', async () => {
    client = createClient(profile({ formatter: 'nemotron', chatTemplateFile: undefined }));
    mock.echo = true;
    mock.answer = () => ' Seven';
    const res = await client.queryModel([USER], {});
    assert.equal(res.choices[0].text, 'Seven');
    assert.equal(res.choices[0].finishReason, null);
  });

  it('extra fields pass through (e.g. repetition_penalty); an input the model lacks is a bad_request naming it', async () => {
    client = createClient(profile());
    await client.queryModel([USER], { extra: { repetition_penalty: 1.1 } });
    assert.equal(mock.calls[0].body.repetition_penalty, 1.1);
    await rejects(client.queryModel([USER], { extra: { min_p: 0.1 } }), 'bad_request', /unexpected inference input 'min_p'.*this model has no input "min_p"/);
  });

  it('maps the server\'s errors to LlmError kinds', async () => {
    client = createClient(profile({ model: 'llama' }));
    const e = await rejects(client.queryModel([USER]), 'not_found', /unknown model: 'llama' is not found.*check the model name "llama"/);
    assert.equal(e.retryable, false);
    await client.close();
    client = createClient(profile());
    await rejects(client.queryModel([{ role: 'user', content: 'x'.repeat(5000) }]), 'context_length', /exceeds maximum input length/);
    mock.faults.push({ status: 500, body: JSON.stringify({ error: 'Executor failed: out of memory' }) });
    assert.equal((await rejects(client.queryModel([USER]), 'server', /HTTP 500.*out of memory/)).retryable, true);
    mock.faults.push({ status: 400, body: JSON.stringify({ error: "Request for unknown model: 'ensemble' has no available versions" }) });
    assert.equal((await rejects(client.queryModel([USER]), 'server', /no available versions.*loading or unavailable/)).retryable, true);
    mock.faults.push({ status: 200, body: JSON.stringify({ error: 'generation failed' }) });
    await rejects(client.queryModel([USER]), 'bad_response', /the server said: generation failed/);
    mock.faults.push({ status: 200, body: '{"model_name": "ensemble", "text_out' });
    await rejects(client.queryModel([USER]), 'bad_response', /invalid JSON/);
    mock.faults.push({ status: 200, body: JSON.stringify({ model_name: 'ensemble', model_version: '1' }) });
    await rejects(client.queryModel([USER]), 'bad_response', /no text_output/);
    mock.faults.push({ status: 429, body: JSON.stringify({ error: 'busy' }) });
    await rejects(client.queryModel([USER]), 'rate_limit');
  });

  it('a connection refused is a network error', async () => {
    client = createClient(profile());
    await mock.close();
    await rejects(client.queryModel([USER]), 'network', /ECONNREFUSED/);
  });

  it('a conversation the template refuses fails before anything is sent, and says so', async () => {
    client = createClient(profile({ chatTemplateFile: path.join(FIXTURES, 'gemma-2', 'tokenizer_config.json') }));
    await rejects(client.queryModel([SYS, USER]), 'bad_request', /refused the conversation: System role not supported \(nothing was sent to the server\)/);
    assert.equal(mock.calls.length, 0);
  });

  it('lists the ready models of the repository index', async () => {
    client = createClient(profile());
    assert.deepEqual(await client.listModels(), ['ensemble']);
    assert.deepEqual(mock.calls[0], { path: '/v2/repository/index', body: { ready: true } });
  });
});

describe('endpoint profiles for triton and chat templates', () => {
  const base = { name: 't', model: 'ensemble' };

  it('apiKind triton needs a formatter; a template alone means formatter chat-template', () => {
    const bare = resolveEndpoint({ ...base, baseUrl: 'http://h:8000', apiKind: 'triton' });
    assert.match(validateEndpoint(bare).map((p) => `${p.field}: ${p.message}`).join('\n'), /formatter: .*apiKind "triton" needs a conversation formatter/);
    const withTemplate = resolveEndpoint({ ...base, baseUrl: 'http://h:8000', apiKind: 'triton', chatTemplateFile: path.join(FIXTURES, 'qwen2.5-3b-instruct', 'tokenizer_config.json') });
    assert.equal(withTemplate.formatter, 'chat-template');
    assert.deepEqual(validateEndpoint(withTemplate), []);
  });

  it('a preset\'s /v1 base URL becomes the server root for triton; a /v2 path is refused', () => {
    assert.equal(resolveEndpoint({ ...base, preset: 'tensorrt-llm', apiKind: 'triton', formatter: 'llama3' }).baseUrl, 'http://127.0.0.1:8000');
    const problems = validateEndpoint(resolveEndpoint({ ...base, baseUrl: 'http://h:8000/v2/models/ensemble', apiKind: 'triton', formatter: 'llama3' }));
    assert.deepEqual(problems.map((p) => p.field), ['baseUrl']);
    assert.match(problems[0].message, /server root \(e\.g\. http:\/\/h:8000\)/);
  });

  it('a missing or broken template is reported on its field before the run', () => {
    const missing = validateEndpoint(resolveEndpoint({ ...base, baseUrl: 'http://h:8000/v1', apiKind: 'completions', chatTemplateFile: '/nonexistent/tokenizer_config.json' }));
    assert.deepEqual(missing.map((p) => p.field), ['chatTemplateFile']);
    assert.match(missing[0].message, /\/nonexistent\/tokenizer_config\.json: not found/);
    const broken = validateEndpoint(resolveEndpoint({ ...base, baseUrl: 'http://h:8000/v1', apiKind: 'completions', chatTemplate: '{% if %}' }));
    assert.deepEqual(broken.map((p) => p.field), ['chatTemplate']);
    const none = validateEndpoint(resolveEndpoint({ ...base, baseUrl: 'http://h:8000/v1', apiKind: 'completions', formatter: 'chat-template' }));
    assert.match(none[0].message, /needs chatTemplateFile/);
  });
});

describe('parameters a server kind does not accept are not sent', () => {
  let server: MockServer;
  let client: OpenAiCompatibleClient;
  afterEach(async () => { await client?.close(); await server?.close(); });

  it('top_k is left out for the OpenAI preset (it rejects unknown arguments), sent to vLLM', async () => {
    server = await startMockServer();
    client = createClient({ name: 'oa', baseUrl: server.url, model: 'mock-model', apiKind: 'chat', preset: 'openai' });
    await client.queryModel([USER], { top_k: 40, temperature: 0.5, max_tokens: 8 });
    const sent = server.requests.at(-1)?.body;
    assert.equal('top_k' in sent, false);
    assert.equal(sent.temperature, 0.5);
    assert.equal(sent.max_completion_tokens, 8);
    await client.close();
    client = createClient({ name: 'v', baseUrl: server.url, model: 'mock-model', apiKind: 'chat', preset: 'vllm' });
    await client.queryModel([USER], { top_k: 40 });
    assert.equal(server.requests.at(-1)?.body.top_k, 40);
  });

  it('a /completions endpoint with a chat template: the refusal says nothing was sent', async () => {
    server = await startMockServer();
    client = createClient({ name: 'c', baseUrl: server.url, model: 'mock-model', apiKind: 'completions', formatter: 'chat-template', chatTemplateFile: path.join(FIXTURES, 'mistral-7b-instruct-v0.3', 'tokenizer_config.json') });
    await rejects(client.queryModel([USER, USER]), 'bad_request', /conversation roles must alternate.*\(nothing was sent to the server\)/);
    assert.equal(server.stats.total, 0);
    const ok = await client.queryModel([USER], { max_tokens: 4 });
    assert.equal(server.requests.at(-1)?.body.prompt, '<s>[INST] Name a prime.[/INST]');
    assert.deepEqual(server.requests.at(-1)?.body.stop, ['</s>']);
    assert.equal(ok.choices.length, 1);
  });
});

describe('CLI: --api-kind triton and --chat-template', function () {
  this.timeout(60_000);
  const REPO = path.resolve(__dirname, '../..');
  let tmp: string;
  before(() => { tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'sdg-triton-cli-')); });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('generate flags: --chat-template resolves to an absolute chatTemplateFile and means formatter chat-template', () => {
    const rel = path.relative(process.cwd(), path.join(FIXTURES, 'gemma-2', 'tokenizer_config.json'));
    const p = endpointFromFlags({ baseUrl: ['http://h:8000'], model: 'ensemble', apiKind: 'triton', chatTemplate: rel } as Parameters<typeof endpointFromFlags>[0]);
    assert.equal(p.apiKind, 'triton');
    assert.equal(p.formatter, 'chat-template');
    assert.equal(p.chatTemplateFile, path.join(FIXTURES, 'gemma-2', 'tokenizer_config.json'));
    assert.throws(() => endpointFromFlags({ baseUrl: ['http://h:8000/v1'], model: 'm', chatTemplate: rel } as Parameters<typeof endpointFromFlags>[0]), /--chat-template needs --api-kind completions or triton/);
    assert.throws(() => endpointFromFlags({ baseUrl: ['http://h:8000'], model: 'm', apiKind: 'triton' } as Parameters<typeof endpointFromFlags>[0]), /--api-kind triton needs --formatter .* or --chat-template/);
  });

  it('run --endpoint-file: a chatTemplateFile is found next to the file', () => {
    fs.mkdirSync(path.join(tmp, 'models'), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, 'qwen2.5-3b-instruct', 'tokenizer_config.json'), path.join(tmp, 'models', 'qwen.json'));
    const file = path.join(tmp, 'endpoints.yaml');
    fs.writeFileSync(file, 'endpoints:\n  writer:\n    baseUrl: http://h:8000\n    model: ensemble\n    apiKind: triton\n    chatTemplateFile: models/qwen.json\n');
    const { endpoints } = readEndpointFile(file);
    assert.equal(endpoints.writer.chatTemplateFile, path.join(tmp, 'models', 'qwen.json'));
    assert.equal(endpoints.writer.formatter, 'chat-template');
    fs.writeFileSync(file, 'endpoints:\n  writer:\n    baseUrl: http://h:8000\n    model: ensemble\n    apiKind: triton\n    chatTemplateFile: models/missing.json\n');
    assert.throws(() => readEndpointFile(file), /endpoints\.writer|missing\.json: not found/);
  });

  it('sdg generate (built CLI) against a Triton server with the model\'s chat template', async () => {
    const cli = path.join(tmp, 'cli.js');
    await build({ entryPoints: [path.join(REPO, 'src/cli/index.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    const input = path.join(tmp, 'in.jsonl');
    fs.writeFileSync(input, JSON.stringify({ problem: 'What is $2+2$?', expected_answer: '4' }) + '\n');
    const mock = await startTritonMock();
    mock.answer = () => 'It is $\\boxed{4}$.<|eot_id|><|start_header_id|>user';
    try {
      const output = path.join(tmp, 'out.jsonl');
      const args = ['generate', '--input', input, '--output', output, '--prompt', 'generic_math', '--base-url', mock.url, '--model', 'ensemble',
        '--api-kind', 'triton', '--chat-template', path.join(FIXTURES, 'llama-3.1-8b-instruct', 'tokenizer_config.json'), '--num-samples', '2', '--no-progress'];
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, SDG_PROMPTS_DIR: path.join(REPO, 'prompts') }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (code) => resolve({ code, stderr }));
      });
      assert.equal(r.code, 0, r.stderr);
      const generate = mock.calls.filter((c) => c.path === '/v2/models/ensemble/generate');
      assert.equal(generate.length, 2);
      // generic_math sends a system message: the template puts it after the date lines.
      assert.match(generate[0].body.text_input, /^<\|begin_of_text\|><\|start_header_id\|>system<\|end_header_id\|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n[\s\S]+<\|eot_id\|><\|start_header_id\|>user<\|end_header_id\|>\n\n[\s\S]*What is \$2\+2\$\?[\s\S]*<\|eot_id\|><\|start_header_id\|>assistant<\|end_header_id\|>\n\n$/);
      assert.deepEqual(generate[0].body.stop_words, ['<|eot_id|>']);
      assert.deepEqual(generate.map((c) => c.body.random_seed).sort(), [0, 1]);
      const rows = fs.readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(rows.length, 2);
      for (const row of rows) assert.equal(row.generation, 'It is $\\boxed{4}$.');
    } finally {
      await mock.close();
    }
  });
});
