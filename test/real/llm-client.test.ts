/**
 * The product's model client (src/core/llm/client.ts) against a real llama.cpp server serving a
 * tiny random-weight model: the text is gibberish, so these check structure — choice counts,
 * seeds, finish reasons, usage, errors — the things the engine relies on with any real server.
 */
import { strict as assert } from 'node:assert';
import { createClient, LlmError } from '../../src/core/llm';
import type { ChatMessage } from '../../src/core/llm';
import { startLlamaServer, type LlamaServer } from '../../scripts/real-parts/llamaServer';

/** The tiny model's end-of-text tokens; banning them makes outputs run to max_tokens. */
const NO_EOS = { logit_bias: { '32000': -100, '32007': -100 } };

const question: ChatMessage[] = [
  { role: 'system', content: 'You are a careful math tutor.' },
  { role: 'user', content: 'Janet has 16 eggs and eats 3. How many are left?' },
];

describe('model client against llama-server (real-llm)', function () {
  let server: LlamaServer;
  let client: ReturnType<typeof createClient>;

  before(async function () {
    this.timeout(45 * 60_000); // a cold machine builds llama-server first
    server = await startLlamaServer();
    client = createClient({ name: 'local-tiny', baseUrl: server.baseUrl, model: server.model, apiKind: 'chat', preset: 'llamacpp' });
  });
  after(async () => {
    await client?.close();
    await server?.stop();
  });

  it('lists the served model', async () => {
    assert.ok((await client.listModels()).includes('tiny'));
  });

  it('returns n distinct choices for one request', async () => {
    const r = await client.queryModel(question, { n: 4, temperature: 1, seed: 7, max_tokens: 16, extra: NO_EOS });
    assert.equal(r.choices.length, 4);
    assert.equal(new Set(r.choices.map((c) => c.text)).size, 4, 'the four samples should differ');
    for (const c of r.choices) assert.equal(c.finishReason, 'length');
  });

  it('same seed gives the same text, another seed another text', async () => {
    const p = { temperature: 1, max_tokens: 24, extra: NO_EOS };
    const a = await client.queryModel(question, { ...p, seed: 1234 });
    const b = await client.queryModel(question, { ...p, seed: 1234 });
    const c = await client.queryModel(question, { ...p, seed: 4321 });
    assert.equal(a.choices[0].text, b.choices[0].text);
    assert.notEqual(a.choices[0].text, c.choices[0].text);
  });

  it('16 requests in flight on 4 slots: each answer belongs to its own request', async () => {
    // Distinct max_tokens per request; end-of-text banned, so each length identifies its request.
    // (Texts are not compared: batching changes float rounding, and this model's near-flat
    // logits let that flip a sampled token, as on any batched server.)
    const lengths = Array.from({ length: 16 }, (_, i) => i + 1);
    const results = await Promise.all(lengths.map((max_tokens) => client.queryModel(question, { max_tokens, temperature: 1, seed: max_tokens, extra: NO_EOS })));
    results.forEach((r, i) => {
      assert.equal(r.usage.completionTokens, lengths[i], `request ${i}`);
      assert.equal(r.choices[0].finishReason, 'length');
    });
  });

  it('max_tokens is exact and reported as finish reason "length", with usage', async () => {
    const r = await client.queryModel(question, { max_tokens: 9, temperature: 0.7, seed: 3, extra: NO_EOS });
    assert.equal(r.choices[0].finishReason, 'length');
    assert.equal(r.usage.completionTokens, 9);
    assert.ok(r.usage.promptTokens > 10, `prompt tokens ${r.usage.promptTokens}`);
    assert.equal(r.model.length > 0, true);
  });

  it('counts the same prompt tokens for the same conversation, more for a longer one', async () => {
    const a = await client.queryModel(question, { max_tokens: 2 });
    const b = await client.queryModel(question, { max_tokens: 2 });
    const longer = await client.queryModel([...question.slice(0, 1), { role: 'user', content: question[1].content + ' Show each step of the work.' }], { max_tokens: 2 });
    assert.equal(a.usage.promptTokens, b.usage.promptTokens);
    assert.ok(longer.usage.promptTokens > a.usage.promptTokens);
  });

  it('stop strings end the output where they first occur', async () => {
    // Greedy output is deterministic: take three characters from its middle as the stop string.
    const free = await client.queryModel(question, { temperature: 0, max_tokens: 32, extra: NO_EOS });
    const text = free.choices[0].text;
    assert.ok(text.length >= 12, `greedy output too short to cut: ${JSON.stringify(text)}`);
    const stop = text.slice(8, 11);
    const cut = await client.queryModel(question, { temperature: 0, max_tokens: 32, stop: [stop], extra: NO_EOS });
    assert.equal(cut.choices[0].finishReason, 'stop');
    assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  });

  it('raw-completions endpoints: a formatter builds the prompt, n and max_tokens work', async () => {
    const raw = createClient({ name: 'local-tiny-raw', baseUrl: server.baseUrl, model: server.model, apiKind: 'completions', formatter: 'chatml' });
    try {
      const r = await raw.queryModel(question, { n: 2, max_tokens: 6, temperature: 1, seed: 5, extra: NO_EOS });
      assert.equal(r.choices.length, 2);
      for (const c of r.choices) assert.equal(c.finishReason, 'length');
      assert.ok(r.usage.promptTokens > 10);
    } finally {
      await raw.close();
    }
  });

  it('a prompt over the context size is a context_length error, not retryable', async () => {
    // 4096 context over 4 slots: 1024 tokens per request.
    const long: ChatMessage[] = [{ role: 'user', content: 'count: ' + Array.from({ length: 1500 }, (_, i) => i).join(' ') }];
    await assert.rejects(client.queryModel(long, { max_tokens: 8 }), (e: unknown) => {
      assert.ok(e instanceof LlmError, String(e));
      assert.equal(e.kind, 'context_length', e.message);
      assert.equal(e.retryable, false);
      return true;
    });
  });

  it('a server that is gone is a retryable network error naming the address', async () => {
    const other = await startLlamaServer({ parallel: 1, ctx: 512 });
    const c = createClient({ name: 'gone', baseUrl: other.baseUrl, model: 'tiny', apiKind: 'chat' });
    try {
      await c.queryModel(question, { max_tokens: 2 });
      await other.stop();
      await assert.rejects(c.queryModel(question, { max_tokens: 2 }), (e: unknown) => {
        assert.ok(e instanceof LlmError, String(e));
        assert.equal(e.kind, 'network', e.message);
        assert.equal(e.retryable, true);
        assert.ok(e.message.includes(`127.0.0.1:${other.port}`), e.message);
        return true;
      });
    } finally {
      await c.close();
      await other.stop();
    }
  });
});
