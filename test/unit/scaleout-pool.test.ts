import { strict as assert } from 'node:assert';
import { isLlmError } from '../../src/core/llm/errors';
import { PoolClient, createEndpointClient, parseServerSpecs, validatePoolServers } from '../../src/core/llm/pool';
import type { EndpointProfile, PoolServer } from '../../src/core/llm/types';
import { runItems } from '../../src/core/engine';
import type { ProgressEvent } from '../../src/core/engine/progress';
import { startMockServer, type MockServer } from '../support/mockServer';

const USER = [{ role: 'user' as const, content: 'hi' }];

function poolProfile(servers: PoolServer[], over: Partial<EndpointProfile> = {}): EndpointProfile {
  return { name: 'pool', baseUrl: servers[0].baseUrl, model: 'm', apiKind: 'chat', servers, ...over };
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('endpoint pools (scale-out)', function () {
  this.timeout(30_000);
  let servers: MockServer[] = [];
  let pool: PoolClient | null = null;
  afterEach(async () => {
    await pool?.close();
    pool = null;
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
  });
  async function start(n: number, latency = 150): Promise<MockServer[]> {
    servers = await Promise.all(Array.from({ length: n }, () => startMockServer({ latency })));
    return servers;
  }

  it('sends each request to the server with the fewest outstanding requests', async () => {
    const [a, b] = await start(2);
    pool = new PoolClient(poolProfile([{ baseUrl: a.url }, { baseUrl: b.url }]));
    const calls = Array.from({ length: 20 }, (_, i) => pool!.queryModel(USER, { seed: i }));
    assert.deepEqual(pool.serverStats().map((s) => s.outstanding), [10, 10]);
    await Promise.all(calls);
    const stats = pool.serverStats();
    assert.deepEqual(stats.map((s) => [s.done, s.failed, s.outstanding, s.healthy]), [[10, 0, 0, true], [10, 0, 0, true]]);
    assert.ok(stats.every((s) => typeof s.latencyMs === 'number' && s.latencyMs >= 100));
    assert.equal(a.stats.completed + b.stats.completed, 20);
    // A late request goes to the idle server, not to the one still busy.
    const slow = pool.queryModel(USER, { seed: 100 });
    const next = pool.queryModel(USER, { seed: 101 });
    assert.deepEqual(pool.serverStats().map((s) => s.outstanding), [1, 1]);
    await Promise.all([slow, next]);
  });

  it('weights share the load in proportion', async () => {
    const [a, b] = await start(2);
    pool = new PoolClient(poolProfile([{ baseUrl: a.url, weight: 3 }, { baseUrl: b.url }]));
    const calls = Array.from({ length: 20 }, (_, i) => pool!.queryModel(USER, { seed: i }));
    assert.deepEqual(pool.serverStats().map((s) => s.outstanding), [15, 5]);
    await Promise.all(calls);
    assert.deepEqual([a.stats.completed, b.stats.completed], [15, 5]);
  });

  it('per-server limits hold: requests wait for a free slot', async () => {
    const [a, b] = await start(2, 80);
    pool = new PoolClient(poolProfile([{ baseUrl: a.url, maxConcurrency: 2 }, { baseUrl: b.url, maxConcurrency: 3 }]));
    const calls = Array.from({ length: 25 }, (_, i) => pool!.queryModel(USER, { seed: i }));
    assert.deepEqual(pool.serverStats().map((s) => s.outstanding), [2, 3]);
    assert.equal(pool.waiting, 20);
    const results = await Promise.all(calls);
    assert.equal(results.length, 25);
    assert.ok(a.stats.maxInFlight <= 2, `server a had ${a.stats.maxInFlight} in flight`);
    assert.ok(b.stats.maxInFlight <= 3, `server b had ${b.stats.maxInFlight} in flight`);
    assert.equal(a.stats.completed + b.stats.completed, 25);
    assert.equal(pool.waiting, 0);
  });

  it('a waiting request can be cancelled', async () => {
    const [a] = await start(1, 300);
    pool = new PoolClient(poolProfile([{ baseUrl: a.url, maxConcurrency: 1 }]));
    const first = pool.queryModel(USER, { seed: 1 });
    const ac = new AbortController();
    const second = pool.queryModel(USER, { seed: 2 }, { signal: ac.signal });
    assert.equal(pool.waiting, 1);
    ac.abort();
    await assert.rejects(second, (e: unknown) => isLlmError(e) && e.kind === 'aborted');
    assert.equal(pool.waiting, 0);
    await first;
    assert.equal(a.stats.completed, 1);
  });

  it('fails over from a stopped server and probes it back into rotation', async () => {
    const [a, b, c] = await start(3, 20);
    pool = new PoolClient(poolProfile([{ baseUrl: a.url }, { baseUrl: b.url }, { baseUrl: c.url }]), { probeIntervalMs: 50, maxProbeIntervalMs: 200, failureThreshold: 2 });
    await b.pause();
    // Connection refused never reaches the server: every request is answered by another one.
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => pool!.queryModel(USER, { seed: i })));
    assert.equal(results.length, 30);
    let stats = pool.serverStats();
    assert.equal(stats[1].healthy, false, 'b is out of rotation');
    assert.match(stats[1].lastError ?? '', /refused/);
    assert.equal(a.stats.completed + c.stats.completed, 30);
    assert.equal(b.stats.completed, 0);
    // While b is out, nothing is sent to it.
    const failedBefore = stats[1].failed;
    await Promise.all(Array.from({ length: 10 }, (_, i) => pool!.queryModel(USER, { seed: 100 + i })));
    assert.equal(pool.serverStats()[1].failed, failedBefore);
    await b.resume();
    await until(() => pool!.serverStats()[1].healthy);
    await Promise.all(Array.from({ length: 30 }, (_, i) => pool!.queryModel(USER, { seed: 200 + i })));
    stats = pool.serverStats();
    assert.ok(b.stats.completed >= 5, `b answered ${b.stats.completed} after coming back`);
  });

  it('5xx in a row take a server out; it comes back when its probe answers', async () => {
    const [a, b] = await start(2, 10);
    b.configure({ faults: [{ fault: 'server_error', status: 503, endpoints: ['chat', 'completions', 'models'] }] });
    pool = new PoolClient(poolProfile([{ baseUrl: a.url }, { baseUrl: b.url }]), { probeIntervalMs: 30, maxProbeIntervalMs: 100, failureThreshold: 3 });
    const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, i) => pool!.queryModel(USER, { seed: i })));
    const failures = outcomes.filter((o) => o.status === 'rejected');
    // 5xx reach the caller (the engine retries them), but at most until the threshold.
    assert.ok(failures.length >= 3 && failures.length <= 20, `failures: ${failures.length}`);
    assert.ok(failures.every((f) => isLlmError((f as PromiseRejectedResult).reason) && (f as PromiseRejectedResult).reason.kind === 'server'));
    assert.equal(pool.serverStats()[1].healthy, false);
    const after = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => pool!.queryModel(USER, { seed: 100 + i })));
    assert.ok(after.every((o) => o.status === 'fulfilled'), 'a healthy server answers everything');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(pool.serverStats()[1].healthy, false, 'probes still failing keep it out');
    b.configure({ faults: [] });
    await until(() => pool!.serverStats()[1].healthy);
  });

  it('a flapping server (probes pass, requests fail) is probed with growing delays', async () => {
    const [a, b] = await start(2, 5);
    b.configure({ faults: [{ fault: 'server_error', status: 503 }] }); // chat fails, /models answers
    pool = new PoolClient(poolProfile([{ baseUrl: a.url }, { baseUrl: b.url }]), { probeIntervalMs: 10, maxProbeIntervalMs: 400, failureThreshold: 2 });
    const delays: number[] = [];
    let wasHealthy = true;
    const slotB = (pool as unknown as { slots: Array<{ healthy: boolean; probeDelayMs: number }> }).slots[1];
    for (let i = 0; delays.length < 4 && i < 4000; i++) {
      await pool.queryModel(USER, { seed: i }).catch(() => undefined);
      if (wasHealthy && !slotB.healthy) delays.push(slotB.probeDelayMs);
      wasHealthy = slotB.healthy;
      if (!slotB.healthy) await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual(delays, [10, 20, 40, 80]);
  });

  it('all servers down: a retryable network error naming every server', async () => {
    const [a, b] = await start(2, 0);
    await a.pause();
    await b.pause();
    pool = new PoolClient(poolProfile([{ baseUrl: a.url }, { baseUrl: b.url }]), { failureThreshold: 1, probeIntervalMs: 10_000 });
    const first = await pool.queryModel(USER).catch((e) => e);
    assert.ok(isLlmError(first) && first.kind === 'network' && first.retryable, String(first));
    const second = await pool.queryModel(USER).catch((e) => e);
    assert.ok(isLlmError(second) && second.retryable);
    assert.match(second.message, /all 2 servers of endpoint "pool" are out of rotation/);
    assert.ok(second.message.includes(a.url) && second.message.includes(b.url));
    assert.equal(second.code, 'ECONNREFUSED');
  });

  it('the engine reports per-server stats in its progress events', async () => {
    const [a, b] = await start(2, 5);
    const client = createEndpointClient(poolProfile([{ baseUrl: a.url }, { baseUrl: b.url, weight: 2 }]));
    assert.ok(client instanceof PoolClient);
    pool = client as PoolClient;
    const events: ProgressEvent[] = [];
    const written: unknown[] = [];
    const doneKeys = new Set<string>();
    const result = await runItems<number, { k: number; error: null }>({
      items: Array.from({ length: 60 }, (_, i) => i),
      keyOf: (i) => String(i),
      execute: async (i, ctx) => {
        await ctx.query(client, USER, { seed: i });
        return [{ k: i, error: null }];
      },
      errorRow: (i) => ({ k: i, error: null }),
      sink: { doneKeys, writeItem: async (rows: unknown[]) => void written.push(...rows), needsDrain: false, drain: async () => undefined, flush: async () => undefined, close: async () => undefined } as any,
      concurrency: 12,
      onProgress: (e) => events.push(e),
      progressIntervalMs: 20,
    });
    assert.equal(result.status, 'completed');
    const last = events.at(-1)!;
    assert.ok(last.final && last.servers, 'final event has servers');
    assert.deepEqual(last.servers!.map((s) => s.baseUrl), [a.url, b.url]);
    assert.equal(last.servers!.reduce((n, s) => n + s.done, 0), 60);
    assert.ok(last.servers![1].done > last.servers![0].done, 'the weight-2 server did more');
  });

  it('parses --base-url values and validates server lists', () => {
    assert.deepEqual(parseServerSpecs(['http://a:8000/v1,http://b:8000/v1#weight=2&max=64', ' http://c/v1 ']), [
      { baseUrl: 'http://a:8000/v1' }, { baseUrl: 'http://b:8000/v1', weight: 2, maxConcurrency: 64 }, { baseUrl: 'http://c/v1' },
    ]);
    assert.throws(() => parseServerSpecs(['http://a/v1#weight=0']), /weight must be a positive number/);
    assert.throws(() => parseServerSpecs(['http://a/v1#max=1.5']), /max must be a whole number/);
    assert.throws(() => parseServerSpecs(['http://a/v1#speed=3']), /unknown option "speed"/);
    assert.deepEqual(validatePoolServers([{ baseUrl: 'http://a/v1' }, { baseUrl: 'http://b/v1', weight: 1, maxConcurrency: 4 }]), []);
    const problems = validatePoolServers([{ baseUrl: 'nope' }, { baseUrl: 'http://a/v1/chat/completions' }, { baseUrl: 'http://b/v1', weight: -1, maxConcurrency: 0 }, { baseUrl: 'http://b/v1/' }, { baseUrl: 'http://c/v1', extra: 1 }], 'ep');
    assert.equal(problems.length, 6, problems.join('\n'));
    assert.match(problems.join('\n'), /servers\[0\]\.baseUrl: "nope" is not a valid URL/);
    assert.match(problems.join('\n'), /servers\[1\]\.baseUrl: should be the API root/);
    assert.match(problems.join('\n'), /servers\[2\]\.weight/);
    assert.match(problems.join('\n'), /servers\[2\]\.maxConcurrency/);
    assert.match(problems.join('\n'), /servers\[3\]\.baseUrl: http:\/\/b\/v1\/ is listed twice/);
    assert.match(problems.join('\n'), /servers\[4\]: unknown field "extra"/);
    assert.throws(() => new PoolClient(poolProfile([{ baseUrl: 'http://a/v1', weight: 0 }])), /weight/);
    assert.deepEqual(validatePoolServers([]), ['endpoint: servers must be a non-empty list of { baseUrl, weight?, maxConcurrency? }']);
  });
});
