/**
 * The engine over real HTTP: createClient against the fault-injecting loopback mock server.
 * Retry delays are shrunk (retry.baseDelayMs) so the suite stays quick; assertions are on
 * counts and contents, never on timings.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runItems, type Job } from '../../src/core/engine';
import { createClient } from '../../src/core/llm/client';
import type { EndpointProfile, LlmClient } from '../../src/core/llm/types';
import { openRun, readManifest } from '../../src/core/run';
import { lastUserText, startMockServer, type MockServer } from '../support/mockServer';
import { range } from '../support/engineFakes';

interface Row { id: string; text?: string; error?: string | null }

function profile(url: string, extra: Partial<EndpointProfile> = {}): EndpointProfile {
  return { name: 'mock', baseUrl: url, model: 'mock-model', apiKind: 'chat', apiKeyEnv: 'MOCK_API_KEY', ...extra };
}

function job(client: LlmClient, items: Iterable<number>, sink: Job<number, Row>['sink'], extra: Partial<Job<number, Row>> = {}): Job<number, Row> {
  return {
    items,
    keyOf: (i) => `q${i}`,
    async execute(i, ctx) {
      const res = await ctx.query(client, [{ role: 'user', content: `question q${i}` }], { max_tokens: 64, seed: i });
      return [{ id: `q${i}`, text: res.choices[0].text, error: null }];
    },
    errorRow: (i, e) => ({ id: `q${i}`, error: e instanceof Error ? e.message : String(e) }),
    sink,
    concurrency: 8,
    retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 8 },
    endpoint: client.endpoint,
    ...extra,
  };
}

function idsIn(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Row).id);
}

async function freePortThatRefuses(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('engine over HTTP (mock server)', function () {
  this.timeout(60_000);
  let dir: string;
  let server: MockServer | undefined;
  let client: LlmClient | undefined;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-engine-http-')); });
  afterEach(async () => {
    await client?.close();
    await server?.close();
    client = undefined;
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('survives 429s, 5xx, resets and invalid JSON: every item exactly once, concurrency respected', async () => {
    server = await startMockServer({
      latency: { fixedMs: 2 },
      faults: [
        { fault: 'rate_limit', rate: 0.15, attempts: 'first', retryAfterSeconds: 0 },
        { fault: 'server_error', status: 503, rate: 0.1, attempts: [1, 2] },
        { fault: 'reset_mid_body', rate: 0.05, attempts: 'first' },
        { fault: 'reset_before_headers', rate: 0.05, attempts: 'first' },
        { fault: 'invalid_json', rate: 0.05, attempts: 'first' },
      ],
    });
    client = createClient(profile(server.url), { connections: 16 });
    const run = await openRun<Row>({ runDir: join(dir, 'run'), kind: 'generate', name: 'http', config: {}, keyOf: (r) => r.id });
    const result = await runItems(job(client, range(300), run.output, { manifest: run.manifest, total: 300 }));
    await run.close();
    assert.equal(result.status, 'completed', result.error ?? '');
    assert.equal(result.done, 300);
    assert.equal(result.failed, 0);
    assert.ok(result.retries > 0, 'faults were injected and retried');
    assert.ok(server.stats.maxInFlight <= 8, `server saw ${server.stats.maxInFlight} at once`);
    const ids = idsIn(join(dir, 'run', 'output.jsonl'));
    assert.equal(ids.length, 300);
    assert.equal(new Set(ids).size, 300);
    const m = (await readManifest(join(dir, 'run')))!;
    assert.deepEqual(m.counts, { total: 300, done: 300, failed: 0, pending: 0 });
    assert.ok(m.tokens.completion > 0);
  });

  it('401 from the server: early stop naming the key variable, nothing written', async () => {
    server = await startMockServer({ apiKey: 'right-key' });
    client = createClient(profile(server.url), { apiKey: 'wrong-key' });
    const run = await openRun<Row>({ runDir: join(dir, 'run'), kind: 'generate', name: 'auth', config: {}, keyOf: (r) => r.id });
    const result = await runItems(job(client, range(1000), run.output, { manifest: run.manifest }));
    await run.close();
    assert.equal(result.status, 'failed');
    assert.equal(result.earlyStopped, true);
    assert.match(result.error!, new RegExp(`^Stopped: 401 Unauthorized from ${server.url.replace(/[/.]/g, '\\$&')}: check the API key in MOCK_API_KEY`));
    assert.doesNotMatch(result.error!, /wrong-key/);
    assert.ok(server.stats.total <= 16, `${server.stats.total} requests sent`);
    assert.equal(readFileSync(join(dir, 'run', 'output.jsonl'), 'utf8'), '');
    assert.equal((await readManifest(join(dir, 'run')))!.status, 'failed');
  });

  it('connection refused: early stop after retries with one clear message', async () => {
    const port = await freePortThatRefuses();
    client = createClient(profile(`http://127.0.0.1:${port}/v1`));
    const rows: Row[] = [];
    const result = await runItems(job(client, range(100), { writeItem: async (r) => { rows.push(...r); } }, { retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 } }));
    assert.equal(result.earlyStopped, true);
    assert.match(result.error!, new RegExp(`connection refused from http://127\\.0\\.0\\.1:${port}/v1: is the server running`));
    assert.equal(rows.length, 0);
  });

  it('404 model not found: early stop naming the model', async () => {
    server = await startMockServer({ models: ['served-model'] });
    client = createClient(profile(server.url, { model: 'typo-model' }));
    const result = await runItems(job(client, range(50), { writeItem: async () => undefined }));
    assert.equal(result.earlyStopped, true);
    assert.match(result.error!, /404 Not Found from .*: check the model name "typo-model"/);
  });

  it('context length: retried once with a smaller max_tokens, then succeeds', async () => {
    server = await startMockServer({ contextLength: 80, contextErrorStyle: 'vllm' });
    client = createClient(profile(server.url));
    const rows: Row[] = [];
    const result = await runItems(job(client, range(5), { writeItem: async (r) => { rows.push(...r); } }, {
      async execute(i, ctx) {
        const res = await ctx.query(client!, [{ role: 'user', content: `question q${i}` }], { max_tokens: 200 });
        return [{ id: `q${i}`, text: res.choices[0].text, error: null }];
      },
    }));
    assert.equal(result.done, 5, result.progress.lastErrors.join('; '));
    assert.equal(server.stats.faults.context_length, 5);
    const maxTokens = server.requests.filter((r) => r.body?.max_tokens !== undefined).map((r) => r.body.max_tokens as number);
    assert.ok(maxTokens.filter((t) => t === 200).length === 5 && maxTokens.filter((t) => t < 80).length === 5, `max_tokens sent: ${maxTokens}`);
  });

  it('cancellation aborts hanging requests promptly and keeps finished rows', async () => {
    server = await startMockServer({ fault: (req) => (lastUserText(req).endsWith('q0') || lastUserText(req).endsWith('q1') ? null : 'hang') });
    client = createClient(profile(server.url));
    const ac = new AbortController();
    const rows: Row[] = [];
    const running = runItems(job(client, range(20), {
      writeItem: async (r) => {
        rows.push(...r);
        if (rows.length === 2) setTimeout(() => ac.abort(), 50);
      },
    }, { signal: ac.signal, concurrency: 4 }));
    const result = await running;
    assert.equal(result.status, 'cancelled');
    assert.deepEqual(rows.map((r) => r.id).sort(), ['q0', 'q1']);
    assert.equal(result.failed, 0);
  });
  it('circuit breaker: a server that turns to 500 for good stops the run with one message, no error rows; a resume finishes', async () => {
    let answered = 0;
    let broken = false;
    server = await startMockServer({ fault: () => (broken ? { fault: 'server_error', status: 500, message: 'CUDA error: device lost' } : (++answered >= 60 ? ((broken = true), null) : null)) });
    client = createClient(profile(server.url), { connections: 8 });
    const runDir = join(dir, 'run');
    const open = () => openRun<Row>({ runDir, kind: 'generate', name: 'breaker', config: {}, keyOf: (r) => r.id });
    let run = await open();
    const result = await runItems(job(client, range(2000), run.output, { manifest: run.manifest, retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 6 } }));
    await run.close();
    assert.equal(result.status, 'failed');
    assert.equal(result.circuitBroken, true);
    assert.equal(result.earlyStopped, false);
    assert.match(result.error!, /^Stopped: the server from http:\/\/127\.0\.0\.1:\d+\/v1 keeps answering 500 after retries\. The last 32 items all failed the same way after 60 had succeeded \(HTTP 500 .*CUDA error: device lost\)\. .*run the same command again to resume/);
    const ids = idsIn(join(runDir, 'output.jsonl'));
    assert.equal(ids.length, 60, 'the successes are kept, no error rows are written');
    assert.equal(result.failed, 0);
    // 32 failed items x 6 attempts, plus the ones in flight when it stopped: not 2,000 x 6.
    assert.ok(server.stats.total < 60 + (32 + 8) * 6 + 8, `${server.stats.total} requests sent`);
    assert.equal((await readManifest(runDir))!.status, 'failed');

    // The server comes back: the same command resumes and finishes, every item once.
    broken = false;
    answered = -1e9;
    run = await open();
    const again = await runItems(job(client, range(2000), run.output, { manifest: run.manifest }));
    await run.close();
    assert.equal(again.status, 'completed');
    assert.equal(again.resumed, 60);
    const all = idsIn(join(runDir, 'output.jsonl'));
    assert.equal(all.length, 2000);
    assert.equal(new Set(all).size, 2000);
  });

  it('circuit breaker: failures of some items among successes never trip it and are all written', async () => {
    // Every third item always gets 500 (a server that cannot handle those prompts); the rest work.
    server = await startMockServer({ fault: (req) => (Number(lastUserText(req).slice('question q'.length)) % 3 === 2 ? 'server_error' : null) });
    client = createClient(profile(server.url), { connections: 8 });
    const rows: Row[] = [];
    // With 8 in flight and items pulled in key order, at most ~13 failures can complete with no
    // success between them (1 in 3 keys fails), whatever the timing: a window of 16 never trips.
    const result = await runItems(job(client, range(300), { writeItem: async (r) => { rows.push(...r); } }, { circuitBreaker: 16, retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 2 } }));
    assert.equal(result.status, 'completed');
    assert.equal(result.circuitBroken, false);
    assert.equal(result.failed, 100);
    assert.equal(rows.filter((r) => r.error).length, 100);
    assert.equal(new Set(rows.map((r) => r.id)).size, 300);
  });
});
