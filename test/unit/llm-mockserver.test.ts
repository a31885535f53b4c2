import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { choiceUnit, lastUserText, startMockServer, type MockServer } from '../support/mockServer';

// The mock server is what every other suite tests against: its own behaviour must be right.

async function post(server: MockServer, path: string, body: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(server.url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await r.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: r.status, headers: r.headers, text, json };
}

const chat = (content: string, extra: Record<string, unknown> = {}) => ({ model: 'mock-model', messages: [{ role: 'user', content }], ...extra });

describe('mock server', () => {
  let server: MockServer;
  afterEach(async () => { await server?.close(); });

  it('answers chat with n distinct choices, stable per seed, and counts usage', async () => {
    server = await startMockServer();
    const a = await post(server, '/chat/completions', chat('hello there', { n: 3, seed: 7 }));
    assert.equal(a.status, 200);
    const texts = a.json.choices.map((c: any) => c.message.content);
    assert.equal(texts.length, 3);
    assert.equal(new Set(texts).size, 3, 'choices differ');
    const b = await post(server, '/chat/completions', chat('hello there', { n: 3, seed: 7 }));
    assert.deepEqual(b.json.choices.map((c: any) => c.message.content), texts, 'same seed, same texts');
    const c = await post(server, '/chat/completions', chat('hello there', { n: 3, seed: 8 }));
    assert.notDeepEqual(c.json.choices.map((x: any) => x.message.content), texts);
    assert.equal(a.json.usage.prompt_tokens, Math.ceil('hello there'.length / 4));
    assert.equal(a.json.usage.completion_tokens, 3 * 24);
    assert.equal(server.stats.byKey.size, 2);
    assert.equal(server.stats.byPath['/v1/chat/completions'], 3);
  });

  it('cuts at max_tokens with finish_reason length, and at stop strings', async () => {
    server = await startMockServer({ respond: () => 'one two three END four five' });
    const a = await post(server, '/chat/completions', chat('x', { max_tokens: 2 }));
    assert.equal(a.json.choices[0].message.content, 'one two');
    assert.equal(a.json.choices[0].finish_reason, 'length');
    const b = await post(server, '/completions', { model: 'm', prompt: 'p', stop: ['END'] });
    assert.equal(b.json.choices[0].text, 'one two three ');
    assert.equal(b.json.choices[0].finish_reason, 'stop');
    assert.equal(b.json.object, 'text_completion');
  });

  it('scripts answers per choice with an array and per request with a function', async () => {
    server = await startMockServer({ respond: (r) => (r.seed === 1 ? ['a', { text: 'b', finishReason: 'length' }] : `seed ${r.seed}`) });
    const a = await post(server, '/chat/completions', chat('x', { n: 3, seed: 1 }));
    assert.deepEqual(a.json.choices.map((c: any) => [c.message.content, c.finish_reason]), [['a', 'stop'], ['b', 'length'], ['a', 'stop']]);
    const b = await post(server, '/chat/completions', chat('x', { seed: 5 }));
    assert.equal(b.json.choices[0].message.content, 'seed 5');
  });

  it('scripts right/wrong answers per sample reproducibly with choiceUnit and lastUserText', async () => {
    const respond = (r: Parameters<typeof choiceUnit>[0]) => (choiceUnit(r) < 0.7 ? `\\boxed{${lastUserText(r).length}}` : '\\boxed{-1}');
    server = await startMockServer({ respond });
    const texts = async () => (await post(server, '/chat/completions', chat('12345', { n: 64, seed: 9 }))).json.choices.map((c: any) => c.message.content);
    const a = await texts();
    const right = a.filter((t: string) => t === '\\boxed{5}').length;
    assert.ok(right > 30 && right < 60, `about 70% right, got ${right}/64`);
    assert.equal(right + a.filter((t: string) => t === '\\boxed{-1}').length, 64);
    assert.deepEqual(await texts(), a);
  });

  it('streams deltas, usage and [DONE] when asked', async () => {
    server = await startMockServer({ respond: () => 'a b c d e', streamChunkWords: 2 });
    const r = await fetch(server.url + '/chat/completions', { method: 'POST', body: JSON.stringify(chat('x', { stream: true, stream_options: { include_usage: true } })) });
    assert.equal(r.headers.get('content-type'), 'text/event-stream');
    const events = (await r.text()).split('\n\n').filter(Boolean).map((e) => e.replace(/^data: /, ''));
    assert.equal(events.at(-1), '[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), 'a b c d e');
    assert.deepEqual(chunks.map((c) => c.choices[0]?.delta?.content).filter((t) => t), ['a b ', 'c d ', 'e']);
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1).usage, { prompt_tokens: 1, completion_tokens: 5, total_tokens: 6 });
  });

  it('injects 429 to a deterministic share of first attempts only, with Retry-After', async () => {
    const faults = [{ fault: 'rate_limit' as const, rate: 0.3, attempts: 'first' as const, retryAfterSeconds: 2 }];
    server = await startMockServer({ faults });
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await post(server, '/chat/completions', chat('q' + i, { seed: 1 }))).status);
    const limited = statuses.filter((s) => s === 429).length;
    assert.ok(limited > 10 && limited < 55, `about 30% limited, got ${limited}`);
    assert.equal(server.stats.faults.rate_limit, limited);
    // Retries of the limited keys all succeed, and the decision repeats on a fresh server.
    for (let i = 0; i < 100; i++) if (statuses[i] === 429) assert.equal((await post(server, '/chat/completions', chat('q' + i, { seed: 1 }))).status, 200);
    await server.close();
    server = await startMockServer({ faults });
    const again: number[] = [];
    for (let i = 0; i < 100; i++) again.push((await post(server, '/chat/completions', chat('q' + i, { seed: 1 }))).status);
    assert.deepEqual(again, statuses);
    const r = await post(server, '/chat/completions', chat('q' + statuses.indexOf(429), { seed: 1 }));
    assert.equal(r.status, 200);
  });

  it('sends Retry-After as an HTTP-date when asked', async () => {
    server = await startMockServer({ faults: [{ fault: 'server_error', status: 503, retryAfterSeconds: 3, retryAfterFormat: 'http-date' }] });
    const r = await post(server, '/chat/completions', chat('x'));
    assert.equal(r.status, 503);
    const when = Date.parse(r.headers.get('retry-after') ?? '');
    assert.ok(when > Date.now() && when <= Date.now() + 4000);
  });

  it('checks the API key, the model and the context length', async () => {
    server = await startMockServer({ apiKey: 'sk-test', models: ['good'], contextLength: 100, contextErrorStyle: 'openai' });
    assert.equal((await post(server, '/chat/completions', { ...chat('x'), model: 'good' })).status, 401);
    assert.equal((await post(server, '/chat/completions', { ...chat('x'), model: 'good' }, { authorization: 'Bearer wrong' })).status, 401);
    const auth = { authorization: 'Bearer sk-test' };
    assert.equal((await post(server, '/chat/completions', { ...chat('x'), model: 'good' }, auth)).status, 200);
    const nf = await post(server, '/chat/completions', { ...chat('x'), model: 'other' }, auth);
    assert.equal(nf.status, 404);
    assert.match(nf.json.error.message, /other/);
    const cl = await post(server, '/chat/completions', { ...chat('x'), model: 'good', max_tokens: 200 }, auth);
    assert.equal(cl.status, 400);
    assert.match(cl.json.error.message, /maximum context length is 100 tokens/);
    assert.equal(cl.json.error.code, 'context_length_exceeded');
  });

  it('answers reward models with per-category logprobs', async () => {
    server = await startMockServer({ reward: () => ({ helpfulness: 1.5, correctness: 2, coherence: 3.25, complexity: 0.5, verbosity: 0.25 }) });
    const r = await post(server, '/chat/completions', { model: 'nvidia/nemotron-4-340b-reward', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }] });
    assert.deepEqual(r.json.choices[0].logprobs.content.map((e: any) => [e.token, e.logprob]),
      [['helpfulness', 1.5], ['correctness', 2], ['coherence', 3.25], ['complexity', 0.5], ['verbosity', 0.25]]);
  });

  it('delivers broken bodies, resets, hangs, and pauses', async () => {
    server = await startMockServer({ fault: (r) => (r.messages?.[0].content as any) });
    const bad = await post(server, '/chat/completions', chat('invalid_json'));
    assert.equal(bad.status, 200);
    assert.equal(bad.json, undefined);
    assert.deepEqual((await post(server, '/chat/completions', chat('no_choices'))).json.choices, []);
    assert.equal((await post(server, '/chat/completions', chat('empty_completion'))).json.choices[0].message.content, '');
    await assert.rejects(post(server, '/chat/completions', chat('reset_before_headers')));
    await assert.rejects(post(server, '/chat/completions', chat('reset_mid_body')));
    const hung = post(server, '/chat/completions', chat('hang'), {}).then(() => 'answered', () => 'failed');
    const first = await Promise.race([hung, new Promise((r) => setTimeout(() => r('pending'), 300))]);
    assert.equal(first, 'pending');
    await server.pause();
    assert.equal(await hung, 'failed', 'pause drops hanging requests');
    await assert.rejects(fetch(server.url + '/models'));
    await server.resume();
    assert.equal((await fetch(server.url + '/models')).status, 200);
    assert.equal(server.stats.faults.hang, 1);
    assert.equal(server.stats.faults.reset_mid_body, 1);
  });

  it('runs standalone and prints its URL', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../support/mockServerMain.ts'), '--words', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          const m = /MOCK_SERVER_URL=(\S+)/.exec(out);
          if (m) resolve(m[1]);
        });
        child.on('exit', (code) => reject(new Error(`launcher exited ${code}`)));
      });
      const r = await fetch(url + '/chat/completions', { method: 'POST', body: JSON.stringify(chat('x')) });
      const json: any = await r.json();
      assert.equal(json.choices[0].message.content.split(' ').length, 3);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
