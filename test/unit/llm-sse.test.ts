import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { SseAggregator, SseError } from '../../src/core/llm/sse';

const enc = new TextEncoder();

function chatChunk(index: number, delta: object, finish: string | null = null): string {
  return `data: ${JSON.stringify({ model: 'm1', choices: [{ index, delta, finish_reason: finish }] })}\n\n`;
}

/** Feeds `bytes` to a fresh aggregator in pieces cut at `cuts`. */
function feed(bytes: Uint8Array, cuts: number[]): SseAggregator {
  const agg = new SseAggregator();
  let last = 0;
  for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
    if (c <= last || c >= bytes.length) continue;
    agg.pushBytes(bytes.subarray(last, c));
    last = c;
  }
  agg.pushBytes(bytes.subarray(last));
  return agg;
}

describe('SSE reassembly', () => {
  const stream =
    ': keep-alive comment\n\n' +
    chatChunk(0, { role: 'assistant', content: '' }) +
    chatChunk(1, { content: 'Zwei ' }) +
    chatChunk(0, { reasoning_content: 'think ' }) +
    chatChunk(0, { content: 'Ein Öl 🎉 ' }) +
    chatChunk(0, { content: 'end\n' }, null) +
    chatChunk(1, { content: 'zwei' }, 'length') +
    chatChunk(0, {}, 'stop') +
    `data: ${JSON.stringify({ model: 'm1', choices: [], usage: { prompt_tokens: 5, completion_tokens: 7 } })}\n\n` +
    'data: [DONE]\n\n';
  const expected = {
    model: 'm1',
    choices: [
      { index: 0, message: { role: 'assistant', content: 'Ein Öl 🎉 end\n', reasoning_content: 'think ' }, finish_reason: 'stop' },
      { index: 1, message: { role: 'assistant', content: 'Zwei zwei' }, finish_reason: 'length' },
    ],
    usage: { prompt_tokens: 5, completion_tokens: 7 },
  };

  it('gives the same answer however the bytes are split (multi-byte characters included)', () => {
    const bytes = enc.encode(stream);
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
      assert.deepEqual(feed(bytes, cuts).finish('chat'), expected);
    }), { numRuns: 300 });
  });

  it('accepts CRLF and CR line endings, and data: without a space', () => {
    for (const eol of ['\r\n', '\r']) {
      const text = stream.replace(/\n\n/g, eol + eol).replace(/data: /g, 'data:');
      const bytes = enc.encode(text);
      fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 20 }), (cuts) => {
        assert.deepEqual(feed(bytes, cuts).finish('chat'), expected);
      }), { numRuns: 100 });
    }
  });

  it('reassembles completions text', () => {
    const agg = new SseAggregator();
    agg.pushText(`data: {"choices":[{"index":0,"text":"a "}]}\n\ndata: {"choices":[{"index":0,"text":"b","finish_reason":"stop"}]}\n\ndata: [DONE]\n\n`);
    assert.deepEqual(agg.finish('completions'), { model: undefined, usage: undefined, choices: [{ index: 0, text: 'a b', finish_reason: 'stop' }] });
  });

  it('reports an error event with its status, bad JSON, and a stream that ends early', () => {
    const a = new SseAggregator();
    assert.throws(() => a.pushText(chatChunk(0, { content: 'x' }) + 'data: {"error":{"message":"overloaded","code":503}}\n\n'),
      (e: unknown) => e instanceof SseError && e.reason === 'error_event' && e.status === 503 && e.message === 'overloaded');
    const b = new SseAggregator();
    assert.throws(() => b.pushText('data: {not json\n\n'), (e: unknown) => e instanceof SseError && e.reason === 'bad_json');
    const c = new SseAggregator();
    c.pushText(chatChunk(0, { content: 'half' }));
    assert.throws(() => c.finish('chat'), (e: unknown) => e instanceof SseError && e.reason === 'incomplete');
    // Ended cleanly without [DONE] but every choice finished: accepted.
    const d = new SseAggregator();
    d.pushText(chatChunk(0, { content: 'whole' }, 'stop'));
    assert.equal((d.finish('chat').choices[0] as any).message.content, 'whole');
  });
});
