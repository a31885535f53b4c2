import { strict as assert } from 'node:assert';
import { runItems, type Job } from '../../src/core/engine';
import type { ProgressEvent } from '../../src/core/engine/progress';
import { LlmError } from '../../src/core/llm/errors';
import { JsonlWriteError } from '../../src/core/io/jsonl';
import { existsSync } from 'node:fs';
import { KeySet } from '../../src/core/run/keySet';
import { openRunOutput } from '../../src/core/run/output';
import { FakeClock, FakeLlmClient, MemorySink, countingStream, deferred, range, settle, type Deferred } from '../support/engineFakes';

interface Row {
  id: string;
  text?: string;
  error?: string | null;
}

function baseJob(client: FakeLlmClient, sink: MemorySink<Row>, items: Iterable<number> | AsyncIterable<number>, extra: Partial<Job<number, Row>> = {}): Job<number, Row> {
  return {
    items,
    keyOf: (i) => `item-${i}`,
    async execute(i, ctx) {
      const res = await ctx.query(client, [{ role: 'user', content: `item-${i}` }], { max_tokens: 100 });
      return res.choices.map((c) => ({ id: `item-${i}`, text: c.text, error: null }));
    },
    errorRow: (i, err) => ({ id: `item-${i}`, error: err instanceof Error ? err.message : String(err) }),
    sink,
    concurrency: 4,
    clock: new FakeClock(),
    random: () => 0,
    ...extra,
  };
}

describe('engine: runItems sliding window', () => {
  it('keeps exactly `concurrency` requests in flight and a slow item does not block the others', async () => {
    const gates = new Map<string, Deferred<string>>();
    let completed = 0;
    const slow = deferred<string>();
    const client = new FakeLlmClient((c) => {
      const id = c.messages[0].content;
      if (id === 'item-0') return slow.promise; // stays in flight while everything else runs
      const d = deferred<string>();
      gates.set(id, d);
      return d.promise.then((v) => { completed++; return v; });
    });
    const sink = new MemorySink<Row>();
    const done = runItems(baseJob(client, sink, range(40), { adaptive: false }));
    // Release the fast items one at a time; each release must let exactly one new item in.
    for (let released = 0; released < 39; released++) {
      await settle();
      const open = [...gates.entries()].filter(([, d]) => d !== undefined);
      assert.equal(client.inFlight, Math.min(4, 40 - released), `in flight after ${released} releases`);
      const [id, d] = open[0];
      gates.delete(id);
      d.resolve('ok');
    }
    await settle();
    // Every fast item finished while item-0 was still in flight.
    assert.equal(completed, 39);
    assert.equal(client.inFlight, 1);
    slow.resolve('slow ok');
    const result = await done;
    assert.equal(result.status, 'completed');
    assert.equal(result.done, 40);
    assert.equal(client.maxInFlight, 4);
    assert.equal(sink.rows.length, 40);
    assert.equal(sink.rows.at(-1)!.id, 'item-0'); // written in completion order
  });

  it('pulls items lazily: never more than the window ahead of completions', async () => {
    const stream = countingStream(1000);
    const gates: Deferred<string>[] = [];
    const client = new FakeLlmClient(() => {
      const d = deferred<string>();
      gates.push(d);
      return d.promise;
    });
    const sink = new MemorySink<Row>();
    const done = runItems(baseJob(client, sink, stream.items, { concurrency: 8, adaptive: false }));
    await settle();
    assert.equal(stream.pulled(), 8);
    for (let i = 0; i < 5; i++) gates[i].resolve('x');
    await settle();
    assert.equal(stream.pulled(), 13);
    let next = 5;
    while (sink.items.length < 1000) {
      while (next < gates.length) gates[next++].resolve('x');
      await settle(1);
    }
    const result = await done;
    assert.equal(result.done, 1000);
    assert.equal(client.maxInFlight, 8);
  });

  it('skips done keys and counts them', async () => {
    const keys = new KeySet();
    for (const i of range(10)) keys.add(`item-${i * 2}`);
    const client = new FakeLlmClient();
    const sink = new MemorySink<Row>(keys);
    const result = await runItems(baseJob(client, sink, range(20)));
    assert.equal(result.skipped, 10);
    assert.equal(result.resumed, 10);
    assert.equal(result.done, 10);
    assert.equal(result.progress.done, 20);
    assert.deepEqual(client.log.map((c) => Number(c.messages[0].content.slice(5)) % 2), Array(10).fill(1));
  });

  it('skips an input key that is already in flight (duplicate keys in the input)', async () => {
    const gate = deferred<string>();
    const client = new FakeLlmClient(() => gate.promise);
    const sink = new MemorySink<Row>();
    const done = runItems(baseJob(client, sink, [1, 2, 1, 3]));
    await settle();
    gate.resolve('x');
    const result = await done;
    assert.equal(result.duplicates, 1);
    assert.equal(result.done, 3);
    assert.deepEqual(sink.rows.map((r) => r.id).sort(), ['item-1', 'item-2', 'item-3']);
    assert.match(result.progress.lastErrors.join('\n'), /key "item-1" more than once/);
  });

  it('writes an error row for a failed item and goes on', async () => {
    const client = new FakeLlmClient((c) => {
      if (c.messages[0].content === 'item-3') throw new LlmError('bad_request', '400 bad things', 400);
      return 'fine';
    });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, range(12)));
    assert.equal(result.status, 'completed');
    assert.equal(result.failed, 1);
    assert.equal(result.done, 11);
    const bad = sink.rows.filter((r) => r.error);
    assert.deepEqual(bad, [{ id: 'item-3', error: '400 bad things' }]);
    assert.deepEqual(result.progress.lastErrors, ['400 bad things']);
  });

  it('a fatal write error stops the run with status failed and the message', async () => {
    const client = new FakeLlmClient();
    const sink = new MemorySink<Row>(undefined, 6, new JsonlWriteError('disk full while writing out.jsonl', 'out.jsonl', 'ENOSPC'));
    const result = await runItems(baseJob(client, sink, range(1000)));
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'disk full while writing out.jsonl');
    assert.equal(sink.items.length, 5); // what was written stays
    assert.ok(client.calls < 30, `stopped promptly (${client.calls} calls)`);
  });

  it('a full disk (real ENOSPC from /dev/full) fails the run with a clear message', async function () {
    if (!existsSync('/dev/full')) this.skip();
    const out = await openRunOutput<Row>({ path: '/dev/full', keyOf: (r) => r.id });
    const client = new FakeLlmClient();
    const result = await runItems(baseJob(client, out as unknown as MemorySink<Row>, range(500)));
    await out.close().catch(() => undefined);
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'disk full while writing /dev/full');
  });

  it('input stream errors stop the run cleanly', async () => {
    async function* items() {
      yield 1;
      yield 2;
      throw new Error('in.jsonl line 3: invalid JSON');
    }
    const client = new FakeLlmClient();
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, items()));
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'in.jsonl line 3: invalid JSON');
  });
});

describe('engine: retries', () => {
  it('retries retryable errors with back-off and honours Retry-After', async () => {
    const clock = new FakeClock();
    const times: number[] = [];
    const client = new FakeLlmClient((c) => {
      times.push(clock.now());
      if (c.attempt === 1) throw new LlmError('rate_limit', '429 Too Many Requests', 429, 7000);
      if (c.attempt === 2) throw new LlmError('server', '503 Service Unavailable', 503);
      return 'ok';
    });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, [0], { clock, random: () => 0.999, concurrency: 1 }));
    assert.equal(result.status, 'completed');
    assert.equal(result.retries, 2);
    assert.equal(result.requests, 3);
    assert.equal(times.length, 3);
    // At least the 7 s Retry-After before attempt 2 (jitter ceiling for attempt 1 is only 1 s).
    assert.ok(times[1] - times[0] >= 7000, `waited ${times[1] - times[0]} ms`);
    // Attempt 3: full jitter under a 2 s ceiling (random 0.999 -> just under 2 s), no Retry-After.
    assert.ok(times[2] - times[1] >= 1990 && times[2] - times[1] <= 2000, `waited ${times[2] - times[1]} ms`);
  });

  it('full jitter uses the random source (random 0 -> no wait without Retry-After)', async () => {
    const clock = new FakeClock();
    const client = new FakeLlmClient((c) => {
      if (c.attempt < 3) throw new LlmError('network', 'ECONNRESET', undefined, undefined, 'ECONNRESET');
      return 'ok';
    });
    const result = await runItems(baseJob(client, new MemorySink<Row>(), [0], { clock, random: () => 0 }));
    assert.equal(result.done, 1);
    assert.equal(clock.now(), 0);
  });

  it('gives up after maxAttempts and fails the item', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('server', '500 Internal Server Error', 500); });
    const sink = new MemorySink<Row>();
    // Two items so a success elsewhere is not needed; early stop off to see the error rows.
    const result = await runItems(baseJob(client, sink, [0, 1], { retry: { maxAttempts: 3 }, earlyStop: false }));
    assert.equal(client.calls, 6);
    assert.equal(result.failed, 2);
    assert.equal(sink.rows.length, 2);
  });

  it('does not retry non-retryable errors', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('bad_request', '400 unknown field', 400); });
    const result = await runItems(baseJob(client, new MemorySink<Row>(), [0], { earlyStop: false }));
    assert.equal(client.calls, 1);
    assert.equal(result.failed, 1);
  });

  it('retries a context-length error once with a smaller max_tokens from the server message', async () => {
    const seen: Array<number | undefined> = [];
    const client = new FakeLlmClient((c) => {
      seen.push(c.params.max_tokens);
      if ((c.params.max_tokens ?? 0) + 100 > 1024) {
        throw new LlmError('context_length', "This model's maximum context length is 1024 tokens. However, you requested 1100 tokens (100 in the messages, 1000 in the completion).", 400);
      }
      return 'short';
    });
    const job = baseJob(client, new MemorySink<Row>(), [0], {
      async execute(i, ctx) {
        const res = await ctx.query(client, [{ role: 'user', content: `item-${i}` }], { max_tokens: 1000, temperature: 0.5 });
        return [{ id: `item-${i}`, text: res.choices[0].text, error: null }];
      },
    });
    const result = await runItems(job);
    assert.equal(result.done, 1);
    assert.deepEqual(seen, [1000, 1024 - 100 - 8]);
    assert.equal(client.log[1].params.temperature, 0.5);
  });

  it('a second context-length error fails the item', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('context_length', 'the request exceeds the available context size', 400); });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, [0], { earlyStop: false }));
    assert.equal(client.calls, 2);
    assert.deepEqual(client.log.map((c) => c.params.max_tokens), [100, 50]);
    assert.equal(result.failed, 1);
  });
});

describe('engine: early stop', () => {
  it('stops with one clear message when the first requests all get 401, writing nothing', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('auth', '401 Unauthorized from http://127.0.0.1:9/v1: invalid key', 401); });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, range(10_000), { endpoint: client.endpoint, concurrency: 4 }));
    assert.equal(result.status, 'failed');
    assert.equal(result.earlyStopped, true);
    assert.match(result.error!, /^Stopped: 401 Unauthorized from http:\/\/127\.0\.0\.1:9\/v1: check the API key in FAKE_API_KEY/);
    assert.equal(sink.writes, 0);
    assert.equal(result.failed, 0);
    assert.ok(client.calls <= 8 + 4, `only the first requests were sent (${client.calls})`);
  });

  it('names connection refused after (fewer) retries', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('network', 'connect ECONNREFUSED 127.0.0.1:9', undefined, undefined, 'ECONNREFUSED'); });
    const result = await runItems(baseJob(client, new MemorySink<Row>(), range(100), { endpoint: client.endpoint, concurrency: 1 }));
    assert.equal(result.earlyStopped, true);
    // Before any success, refused connections get 3 attempts instead of 6: 8 items x 3.
    assert.equal(client.calls, 8 * 3);
    assert.match(result.error!, /connection refused from http:\/\/127\.0\.0\.1:9\/v1: is the server running/);
  });

  it('stops when the first requests stay rate limited past the tolerance (exhausted quota)', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('rate_limit', '429 You exceeded your current quota', 429); });
    // 429s keep backing off for outageToleranceMs; 0 here so the fake clock need not advance.
    const result = await runItems(baseJob(client, new MemorySink<Row>(), range(100), { endpoint: client.endpoint, retry: { maxAttempts: 2, outageToleranceMs: 0 } }));
    assert.equal(result.earlyStopped, true);
    assert.match(result.error!, /429 Too Many Requests from http:\/\/127\.0\.0\.1:9\/v1 on every retry: check the account's quota/);
  });

  it('also stops when the whole input is smaller than K and all failed the same way', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('not_found', '404 model "nope" not found', 404); });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, range(3), { endpoint: { ...client.endpoint, model: 'nope' } }));
    assert.equal(result.earlyStopped, true);
    assert.match(result.error!, /404 Not Found.*check the model name "nope"/);
    assert.equal(sink.writes, 0);
  });

  it('does not stop when one of the first requests succeeds; held failures are then written', async () => {
    let n = 0;
    const client = new FakeLlmClient(() => {
      n++;
      if (n === 6) return 'ok';
      throw new LlmError('auth', '401 Unauthorized', 401);
    });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, range(20), { concurrency: 1 }));
    assert.equal(result.status, 'completed');
    assert.equal(result.earlyStopped, false);
    assert.equal(result.failed, 19);
    assert.equal(result.done, 1);
    assert.equal(sink.rows.length, 20);
  });

  it('does not stop when the first failures differ', async () => {
    let n = 0;
    const client = new FakeLlmClient(() => {
      n++;
      throw n % 2 ? new LlmError('auth', '401', 401) : new LlmError('not_found', '404', 404);
    });
    const sink = new MemorySink<Row>();
    const result = await runItems(baseJob(client, sink, range(10), { concurrency: 1 }));
    assert.equal(result.status, 'completed');
    assert.equal(result.failed, 10);
    assert.equal(sink.rows.length, 10);
  });

  it('does not stop on data-dependent errors (context length)', async () => {
    const client = new FakeLlmClient(() => { throw new LlmError('context_length', 'prompt is too long', 400); });
    const result = await runItems(baseJob(client, new MemorySink<Row>(), range(10)));
    assert.equal(result.earlyStopped, false);
    assert.equal(result.failed, 10);
  });
});

describe('engine: cancellation', () => {
  it('aborts in-flight requests, keeps finished items, writes nothing for the aborted ones', async () => {
    const controller = new AbortController();
    let started = 0;
    const client = new FakeLlmClient(() => {
      started++;
      if (started <= 5) return 'quick';
      return new Promise<string>(() => undefined); // hangs until aborted
    });
    const sink = new MemorySink<Row>();
    const events: ProgressEvent[] = [];
    const done = runItems(baseJob(client, sink, range(100), { signal: controller.signal, onProgress: (e) => events.push(e) }));
    while (sink.items.length < 5 || client.inFlight < 4) await settle(1);
    controller.abort();
    const result = await done;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.done, 5);
    assert.equal(result.failed, 0);
    assert.equal(sink.rows.length, 5);
    assert.equal(client.inFlight, 0);
    assert.equal(events.at(-1)!.final, true);
    assert.equal(events.at(-1)!.inFlight, 0);
  });

  it('cancel does not wait for a slow item stream', async () => {
    const controller = new AbortController();
    const stuck = deferred<void>();
    async function* items() {
      yield 1;
      yield 2;
      await stuck.promise; // e.g. an upstream that has nothing more for now
      yield 3;
    }
    const client = new FakeLlmClient();
    const sink = new MemorySink<Row>();
    const done = runItems(baseJob(client, sink, items(), { signal: controller.signal }));
    while (sink.items.length < 2) await settle(1);
    controller.abort();
    const result = await done;
    assert.equal(result.status, 'cancelled');
    assert.equal(result.done, 2);
    stuck.resolve();
    await settle();
    assert.equal(client.calls, 2); // item 3 never started
  });

  it('an already-aborted signal starts nothing', async () => {
    const client = new FakeLlmClient();
    const result = await runItems(baseJob(client, new MemorySink<Row>(), range(10), { signal: AbortSignal.abort() }));
    assert.equal(result.status, 'cancelled');
    assert.equal(client.calls, 0);
  });
});

describe('engine: progress', () => {
  it('reports done, failed, total (from a promise), tokens and a final event', async () => {
    const client = new FakeLlmClient((c) => {
      if (c.messages[0].content === 'item-2') throw new LlmError('bad_request', '400 no', 400);
      return 'x';
    });
    const events: ProgressEvent[] = [];
    const result = await runItems(baseJob(client, new MemorySink<Row>(), range(10), {
      total: Promise.resolve(10),
      onProgress: (e) => events.push(e),
      earlyStop: false,
    }));
    const last = events.at(-1)!;
    assert.equal(last.final, true);
    assert.equal(last.total, 10);
    assert.equal(last.done, 9);
    assert.equal(last.failed, 1);
    assert.equal(last.etaMs, 0);
    assert.deepEqual(last.tokens, { prompt: 90, completion: 45 });
    assert.equal(last.maxConcurrency, 4);
    assert.deepEqual(result.tokens, { prompt: 90, completion: 45 });
  });
});
