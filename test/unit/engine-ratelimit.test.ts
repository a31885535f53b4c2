import { strict as assert } from 'node:assert';
import { runItems } from '../../src/core/engine';
import { RateLimiter } from '../../src/core/engine/rateLimiter';
import { AdaptiveConcurrency } from '../../src/core/engine/adaptive';
import { backoffDelay, DEFAULT_RETRY, shrinkMaxTokens } from '../../src/core/engine/retry';
import { LlmError } from '../../src/core/llm/errors';
import { FakeClock, FakeLlmClient, MemorySink, deferred, range, settle } from '../support/engineFakes';

/** Max number of events inside any half-open window [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while (sorted[hi] - sorted[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

interface Row { id: string; error?: string | null }

describe('engine: rate limits', () => {
  it('never starts more than requestsPerMinute requests in any 60 s window', async () => {
    const clock = new FakeClock();
    const starts: number[] = [];
    const client = new FakeLlmClient(() => {
      starts.push(clock.now());
      return 'ok';
    });
    const result = await runItems<number, Row>({
      items: range(500),
      keyOf: (i) => String(i),
      execute: async (i, ctx) => {
        await ctx.query(client, [{ role: 'user', content: String(i) }]);
        return [{ id: String(i) }];
      },
      errorRow: (i) => ({ id: String(i), error: 'x' }),
      sink: new MemorySink<Row>(),
      concurrency: 32,
      requestsPerMinute: 120,
      clock,
    });
    assert.equal(result.done, 500);
    assert.equal(starts.length, 500);
    assert.ok(maxInWindow(starts, 60_000) <= 120, `max ${maxInWindow(starts, 60_000)} in a minute`);
    // Spread out, not 120 in the first instant: a few seconds' worth of burst at most.
    assert.ok(maxInWindow(starts, 1000) <= 8, `max ${maxInWindow(starts, 1000)} in a second`);
    // And not needlessly slow: 500 requests at 120/min take a bit over 4 minutes of (fake) time.
    assert.ok(clock.now() < 5 * 60_000, `took ${clock.now()} ms`);
  });

  it('limits tokens per minute using the reported usage, not just the estimate', async () => {
    const clock = new FakeClock();
    const starts: number[] = [];
    // Each request: estimate = prompt estimate + max_tokens (~ 300), real usage 10 + 5 = 15.
    const client = new FakeLlmClient(() => {
      starts.push(clock.now());
      return 'ok';
    });
    await runItems<number, Row>({
      items: range(300),
      keyOf: (i) => String(i),
      execute: async (i, ctx) => {
        await ctx.query(client, [{ role: 'user', content: String(i) }], { max_tokens: 290 });
        return [{ id: String(i) }];
      },
      errorRow: (i) => ({ id: String(i), error: 'x' }),
      sink: new MemorySink<Row>(),
      concurrency: 16,
      tokensPerMinute: 1500,
      clock,
    });
    // Settled usage: 15 tokens each -> at most 100 per minute by usage (1500 / 15).
    assert.ok(maxInWindow(starts, 60_000) <= 100, `max ${maxInWindow(starts, 60_000)}`);
    // The estimate alone (~300) would only allow ~5 per minute; correction lets far more through.
    assert.ok(maxInWindow(starts, 60_000) > 20, `max ${maxInWindow(starts, 60_000)}`);
  });

  it('reserves prompt + n x max_tokens before a request, so n choices count n times', async () => {
    // tpm 1000; each request reserves ~105 prompt tokens + n x 200. With n = 1 two requests fit
    // in the budget at once; with n = 4 (905 tokens) the second waits for the first reservation
    // to leave the 60 s window (the first request is still running, so nothing corrects it).
    for (const n of [1, 4]) {
      const clock = new FakeClock();
      const gate = deferred<string>();
      const starts: number[] = [];
      const client = new FakeLlmClient((c) => {
        starts.push(clock.now());
        return c.messages[0].content.startsWith('0') ? gate.promise : 'ok';
      });
      const done = runItems<number, Row>({
        items: [0, 1],
        keyOf: String,
        execute: async (i, ctx) => {
          await ctx.query(client, [{ role: 'user', content: String(i) + 'x'.repeat(400) }], { n, max_tokens: 200 });
          return [{ id: String(i) }];
        },
        errorRow: (i) => ({ id: String(i), error: 'x' }),
        sink: new MemorySink<Row>(),
        concurrency: 2,
        clock,
        tokensPerMinute: 1000,
      });
      await settle(20);
      assert.equal(starts.length, 2, `n = ${n}`);
      if (n === 1) assert.deepEqual(starts, [0, 0]);
      else assert.ok(starts[1] >= 60_000, `second request started at ${starts[1]} ms`);
      gate.resolve('ok');
      assert.equal((await done).done, 2);
    }
  });

  it('a 429 with Retry-After holds back other requests too', async () => {
    const clock = new FakeClock();
    const starts: Array<[string, number]> = [];
    const client = new FakeLlmClient((c) => {
      const id = c.messages[0].content;
      starts.push([id, clock.now()]);
      if (id === '0' && c.attempt === 1) throw new LlmError('rate_limit', '429', 429, 10_000);
      return 'ok';
    });
    await runItems<number, Row>({
      items: range(6),
      keyOf: String,
      execute: async (i, ctx) => {
        await ctx.query(client, [{ role: 'user', content: String(i) }]);
        return [{ id: String(i) }];
      },
      errorRow: (i) => ({ id: String(i), error: 'x' }),
      sink: new MemorySink<Row>(),
      concurrency: 1,
      clock,
      random: () => 0,
    });
    // Items after the 429 start only once the Retry-After has passed.
    const later = starts.filter(([id]) => id !== '0');
    assert.equal(later.length, 5);
    for (const [, t] of later) assert.ok(t >= 10_000, `started at ${t}`);
  });

  it('RateLimiter: a request bigger than the whole budget still runs when the window is empty', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ tokensPerMinute: 100 }, clock);
    const t1 = await limiter.acquire(500);
    limiter.settle(t1, 500);
    const before = clock.now();
    await limiter.acquire(500);
    assert.ok(clock.now() - before >= 60_000, 'waited for the big one to leave the window');
  });

  it('RateLimiter: waiters are served in order and an aborted waiter is skipped', async () => {
    const clock = new FakeClock();
    const limiter = new RateLimiter({ requestsPerMinute: 1, burstSeconds: 1 }, clock);
    await limiter.acquire(0);
    const order: string[] = [];
    const ac = new AbortController();
    const a = limiter.acquire(0).then(() => order.push('a'));
    const b = limiter.acquire(0, ac.signal).then(() => order.push('b'), () => order.push('b aborted'));
    const c = limiter.acquire(0).then(() => order.push('c'));
    ac.abort();
    await Promise.all([a, b, c]);
    assert.deepEqual(order, ['b aborted', 'a', 'c']);
    assert.equal(limiter.waiting, 0);
  });
});

describe('engine: back-off and context shrink', () => {
  it('backoffDelay: full jitter under an exponential ceiling, at least Retry-After', () => {
    const p = { ...DEFAULT_RETRY, baseDelayMs: 1000, maxDelayMs: 8000 };
    const err = new LlmError('server', '503', 503);
    assert.equal(backoffDelay(1, err, p, () => 0.5), 500);
    assert.equal(backoffDelay(3, err, p, () => 0.5), 2000);
    assert.equal(backoffDelay(10, err, p, () => 0.5), 4000); // capped at 8000 * 0.5
    assert.equal(backoffDelay(1, err, p, () => 0), 0);
    const limited = new LlmError('rate_limit', '429', 429, 30_000);
    assert.equal(backoffDelay(1, limited, p, () => 0.5), 30_000);
    assert.equal(backoffDelay(1, new LlmError('rate_limit', '429', 429, 10 * 3600_000), p, () => 0), DEFAULT_RETRY.maxRetryAfterMs);
  });

  it('shrinkMaxTokens reads OpenAI/vLLM, SGLang and TensorRT-LLM messages and halves otherwise', () => {
    const e = (m: string) => new LlmError('context_length', m, 400);
    assert.equal(shrinkMaxTokens(4000, e("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (1000 in the messages, 4000 in the completion).")), 4096 - 1000 - 8);
    assert.equal(shrinkMaxTokens(4000, e("Requested token count exceeds the model's maximum context length of 4096 tokens. You requested a total of 5000 tokens: 1000 tokens from the input messages and 4000 tokens for the completion.")), 4096 - 1000 - 8);
    assert.equal(shrinkMaxTokens(4000, e('The sum of prompt length (1000) and max_tokens (4000) should not exceed max_seq_len (4096)')), 4096 - 1000 - 8);
    assert.equal(shrinkMaxTokens(4000, e("'max_tokens' or 'max_completion_tokens' is too large: 4000. This model's maximum context length is 4096 tokens and your request has 1000 input tokens (4000 > 4096 - 1000).")), 4096 - 1000 - 8);
    assert.equal(shrinkMaxTokens(4000, e('the request exceeds the available context size, try increasing it')), 2000);
    assert.equal(shrinkMaxTokens(undefined, e('x')), undefined);
    assert.equal(shrinkMaxTokens(1, e('x')), undefined);
    // The prompt alone is over the limit: shrinking cannot help.
    assert.equal(shrinkMaxTokens(100, e("maximum context length is 4096 tokens. However, you requested 5000 tokens (4990 in the messages, 10 in the completion)")), undefined);
  });
});

describe('engine: adaptive concurrency', () => {
  it('halves on a burst of 429s, not on a single one, and never goes above max', () => {
    const a = new AdaptiveConcurrency(64, true);
    a.onCongestion(0);
    assert.equal(a.limit, 64);
    a.onCongestion(10);
    a.onCongestion(20);
    assert.equal(a.limit, 32);
    // Within the cooldown another burst does not halve again.
    a.onCongestion(30); a.onCongestion(40); a.onCongestion(50);
    assert.equal(a.limit, 32);
    a.onCongestion(5000); a.onCongestion(5001); a.onCongestion(5002);
    assert.equal(a.limit, 16);
    // Steady good latency grows it back additively, up to max and no further.
    for (let i = 0; i < 100_000; i++) a.onSuccess(100, 10_000 + i);
    assert.equal(a.limit, 64);
  });

  it('halves when latency stays well above the baseline (a server that queues instead of 429)', () => {
    const a = new AdaptiveConcurrency(32, true);
    let now = 0;
    for (let i = 0; i < 96; i++) a.onSuccess(100, (now += 10));
    assert.equal(a.limit, 32);
    // One slow window (a few long generations) is not overload...
    for (let i = 0; i < 32; i++) a.onSuccess(500, (now += 10));
    assert.equal(a.limit, 32);
    for (let i = 0; i < 32; i++) a.onSuccess(100, (now += 10));
    // ...two in a row are.
    for (let i = 0; i < 64; i++) a.onSuccess(500, (now += 10));
    assert.equal(a.limit, 16);
    assert.equal(a.decreases, 1);
    // A few outliers do not move the median.
    const b = new AdaptiveConcurrency(32, true);
    for (let i = 0; i < 320; i++) b.onSuccess(i % 8 === 0 ? 5000 : 100, (now += 10));
    assert.equal(b.decreases, 0);
  });

  it('does not spiral down on heavy-tailed (log-normal) latencies without overload', () => {
    // Deterministic PRNG (mulberry32) so the test is reproducible.
    let seed = 12345;
    const rand = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const lognormal = () => 200 * Math.exp(0.8 * Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
    for (const max of [4, 16, 64]) {
      const a = new AdaptiveConcurrency(max, true);
      let now = 0;
      for (let i = 0; i < 50_000; i++) a.onSuccess(lognormal(), (now += 5));
      assert.equal(a.decreases, 0, `max ${max}`);
      assert.equal(a.limit, max);
    }
  });

  it('disabled: the limit stays at max', () => {
    const a = new AdaptiveConcurrency(8, false);
    for (let i = 0; i < 10; i++) a.onCongestion(i);
    assert.equal(a.limit, 8);
  });

  it('the scheduler lowers its window under 429 bursts', async () => {
    const clock = new FakeClock();
    const gates: Array<() => void> = [];
    const client = new FakeLlmClient((c) => {
      const i = Number(c.messages[0].content);
      if (c.attempt === 1 && i < 40) throw new LlmError('rate_limit', '429', 429);
      if (i < 40) return 'ok';
      return new Promise<string>((resolve) => gates.push(() => resolve('ok')));
    });
    const done = runItems<number, Row>({
      items: range(200),
      keyOf: (i) => String(i),
      execute: async (i, ctx) => {
        await ctx.query(client, [{ role: 'user', content: String(i) }]);
        return [{ id: String(i) }];
      },
      errorRow: (i) => ({ id: String(i), error: 'x' }),
      sink: new MemorySink<Row>(),
      concurrency: 16,
      clock,
      random: () => 0,
    });
    await settle(20);
    // Items 0-39 are done; the later ones hang: as many are in flight as the adaptive limit allows.
    assert.ok(client.inFlight >= 8 && client.inFlight < 16, `in flight ${client.inFlight}`);
    while (gates.length > 0 || client.inFlight > 0) {
      gates.splice(0).forEach((g) => g());
      await settle(1);
    }
    const result = await done;
    assert.equal(result.done, 200);
    assert.equal(result.minConcurrency, 8);
  });
});
