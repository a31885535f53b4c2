/**
 * Server faults, all scenarios at once (they use separate servers and run folders, so they do not
 * interfere; running them together keeps the 30 s 429 burst and the 60 s outage within a few
 * minutes of wall time). Assertions are on counts and invariants, never on speed.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunResult } from '../../src/core/engine';
import { hashString, startMockServer, type FaultRule, type MockRequest, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';
import { exactlyOnce, maxInWindow, readRows, runJob, sleep, waitFor, type Row } from './support';

const SECTION_429 = 'Rate limits (429)';
const SECTION_5XX = 'Server errors, bad answers, restarts';
const SECTION_OUTAGE = 'Server outage (60 s) and outage tolerance';
const SECTION_SLOW = 'A server that slows down instead of answering 429';

interface Scenario {
  result: RunResult;
  rows: Row[];
  server: MockServer;
  [k: string]: unknown;
}

/** Picks one of `n` choices from a request's key and attempt (same request, same fault). */
function pick(req: MockRequest, salt: number, n: number): number {
  return hashString(`${req.key}#${req.attempt}#${salt}`) % n;
}

let dir: string;
const servers: MockServer[] = [];
async function server(opts: Parameters<typeof startMockServer>[0]): Promise<MockServer> {
  const s = await startMockServer({ logLimit: 1_000_000, ...opts });
  servers.push(s);
  return s;
}

// ---- 429: random 429s, then every request 429 for 30 s; three Retry-After styles ---------------
const RPM = 150;
async function rateLimitScenario(): Promise<Scenario> {
  const COUNT = 260;
  let burstStart = 0;
  let burstEnd = 0;
  const style = (req: MockRequest): FaultRule => {
    switch (pick(req, 1, 3)) {
      case 0: return { fault: 'rate_limit', retryAfterSeconds: 2 };
      case 1: return { fault: 'rate_limit', retryAfterSeconds: 2, retryAfterFormat: 'http-date' };
      default: return { fault: 'rate_limit' };
    }
  };
  let s!: MockServer;
  s = await server({
    latency: { fixedMs: 20 },
    fault(req) {
      const now = Date.now();
      // The burst starts once 40 items are done, so it hits a run at full speed.
      if (burstStart === 0 && s.stats.completed >= 40) { burstStart = now; burstEnd = now + 30_000; }
      if (burstStart > 0 && now < burstEnd) return style(req);
      return pick(req, 2, 100) < 15 ? style(req) : null;
    },
  });
  const runDir = join(dir, 'rate');
  const result = await runJob({ runDir, url: s.url, count: COUNT, concurrency: 16, requestsPerMinute: RPM });
  const rows = readRows(join(runDir, 'output.jsonl'));
  // Retry-After honoured: the next attempt of a key answered 429 with "Retry-After: 2" (seconds form).
  const log = s.requests.filter((r) => r.key);
  let earliestRetryGap = Infinity;
  let checkedRetryAfter = 0;
  const byKey = new Map<string, typeof log>();
  for (const r of log) byKey.set(r.key!, [...(byKey.get(r.key!) ?? []), r]);
  for (const reqs of byKey.values()) {
    for (let i = 0; i + 1 < reqs.length; i++) {
      const r = reqs[i];
      if (r.fault !== 'rate_limit') continue;
      const m = { key: r.key!, attempt: r.attempt! } as MockRequest;
      const inBurst = r.at >= burstStart && r.at < burstEnd;
      if (!inBurst && pick(m, 2, 100) >= 15) continue;
      if (pick(m, 1, 3) !== 0) continue;
      checkedRetryAfter++;
      earliestRetryGap = Math.min(earliestRetryGap, reqs[i + 1].at - r.at);
    }
  }
  const chatTimes = log.map((r) => r.at);
  return {
    result, rows, server: s, count: COUNT,
    maxPer60s: maxInWindow(chatTimes, 60_000),
    burstMs: burstEnd - burstStart,
    checkedRetryAfter, earliestRetryGap,
  };
}

// ---- 5xx, resets, hangs, invalid JSON, empty answers, server restarts ---------------------------
async function serverErrorScenario(): Promise<Scenario> {
  const COUNT = 240;
  const kinds: FaultRule[] = [
    { fault: 'server_error', status: 500 }, { fault: 'server_error', status: 502 }, { fault: 'server_error', status: 503 },
    { fault: 'reset_before_headers' }, { fault: 'reset_mid_body' }, { fault: 'hang' },
    { fault: 'invalid_json' }, { fault: 'no_choices' }, { fault: 'empty_completion' },
  ];
  const s = await server({
    latency: { fixedMs: 10 },
    // 40% of first, second and third attempts get a fault (6 attempts per request by default).
    fault: (req) => (req.attempt <= 3 && pick(req, 3, 100) < 40 ? kinds[pick(req, 4, kinds.length)] : null),
  });
  const runDir = join(dir, 'errors');
  let restarts = 0;
  const job = runJob({ runDir, url: s.url, count: COUNT, concurrency: 12, timeoutMs: 1500, retry: { baseDelayMs: 200, maxDelayMs: 2000 } });
  // Three restarts mid-run: connections refused (and in-flight ones reset) for 1.5 s each.
  const restarter = (async () => {
    for (const at of [60, 120, 180]) {
      await waitFor(() => s.stats.completed >= at, `${at} answers`, 240_000).catch(() => undefined);
      await s.pause();
      await sleep(1500);
      await s.resume();
      restarts++;
    }
  })();
  const result = await job;
  await restarter;
  return { result, rows: readRows(join(runDir, 'output.jsonl')), server: s, count: COUNT, restarts };
}

// ---- the server dies for 60 s mid-run and comes back --------------------------------------------
async function outageScenario(): Promise<Scenario> {
  const COUNT = 200;
  const s = await server({ latency: { fixedMs: 200 } });
  const runDir = join(dir, 'outage');
  const messages = new Set<string>();
  let outageMs = 0;
  let completedAtOutage = 0;
  const job = runJob({
    runDir, url: s.url, count: COUNT, concurrency: 8,
    onProgress: (p) => p.lastErrors.forEach((e) => messages.add(e)),
  });
  const killer = (async () => {
    await waitFor(() => s.stats.completed >= 60, '60 answers');
    completedAtOutage = s.stats.completed;
    const t0 = Date.now();
    await s.pause();
    await sleep(60_000);
    await s.resume();
    outageMs = Date.now() - t0;
  })();
  const result = await job;
  await killer;
  return { result, rows: readRows(join(runDir, 'output.jsonl')), server: s, count: COUNT, outageMs, completedAtOutage, messages: [...messages] };
}

// ---- control: the same outage with the outage handling off (the engine before this suite) ------
async function outageControlScenario(): Promise<Scenario> {
  const COUNT = 200;
  const s = await server({ latency: { fixedMs: 200 } });
  const runDir = join(dir, 'outage-control');
  const job = runJob({ runDir, url: s.url, count: COUNT, concurrency: 8, retry: { outageToleranceMs: 0 } });
  await waitFor(() => s.stats.completed >= 60, '60 answers');
  await s.pause();
  await sleep(60_000);
  await s.resume();
  const result = await job;
  return { result, rows: readRows(join(runDir, 'output.jsonl')), server: s, count: COUNT };
}

// ---- the server stays down longer than the tolerance: a clear stop, then a clean resume ----------
async function toleranceScenario(): Promise<Scenario> {
  const COUNT = 120;
  const s = await server({ latency: { fixedMs: 50 } });
  const runDir = join(dir, 'tolerance');
  const job = runJob({ runDir, url: s.url, count: COUNT, concurrency: 8, retry: { outageToleranceMs: 4000, outageProbeMs: 500 } });
  await waitFor(() => s.stats.completed >= 30, '30 answers');
  await s.pause();
  const result = await job;
  const rowsAtStop = readRows(join(runDir, 'output.jsonl'));
  await s.resume();
  const resumed = await runJob({ runDir, url: s.url, count: COUNT, concurrency: 8 });
  return { result, rows: readRows(join(runDir, 'output.jsonl')), server: s, count: COUNT, rowsAtStop, resumed };
}

// ---- latency x5 (self-hosted servers queue instead of answering 429) ------------------------------
async function slowdownScenario(): Promise<Scenario> {
  const COUNT = 2000;
  const CONCURRENCY = 32;
  // Latencies large against event-loop jitter: every scenario shares this process and 2 cores.
  const s = await server({ latency: { fixedMs: 300 } });
  const runDir = join(dir, 'slow');
  const controller = new AbortController();
  const samples: Array<{ t: number; inFlight: number }> = [];
  let slowAt = 0;
  const sampler = setInterval(() => samples.push({ t: Date.now(), inFlight: s.stats.inFlight }), 50);
  const job = runJob({ runDir, url: s.url, count: COUNT, concurrency: CONCURRENCY, signal: controller.signal });
  await waitFor(() => s.stats.completed >= 400, '400 answers');
  s.configure({ latency: { fixedMs: 1500 } });
  slowAt = Date.now();
  await sleep(20_000);
  controller.abort();
  const result = await job;
  clearInterval(sampler);
  const before = samples.filter((x) => x.t < slowAt);
  const late = samples.filter((x) => x.t >= slowAt + 12_000);
  const mean = (xs: typeof samples) => xs.reduce((a, x) => a + x.inFlight, 0) / Math.max(1, xs.length);
  return {
    result, rows: readRows(join(runDir, 'output.jsonl')), server: s, count: COUNT, concurrency: CONCURRENCY,
    meanBefore: mean(before), maxBefore: Math.max(...before.map((x) => x.inFlight)),
    meanLate: mean(late), maxLate: Math.max(...late.map((x) => x.inFlight)),
  };
}

describe('reliability: server faults (all scenarios run at once)', function () {
  let rate: Scenario, errors: Scenario, outage: Scenario, control: Scenario, tolerance: Scenario, slow: Scenario;

  before(async function () {
    this.timeout(280_000);
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-faults-'));
    [rate, errors, outage, control, tolerance, slow] = await Promise.all([
      rateLimitScenario(), serverErrorScenario(), outageScenario(), outageControlScenario(), toleranceScenario(), slowdownScenario(),
    ]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('429s (random, then every request for 30 s): no item given up, requests/minute never exceeded', () => {
    const r = rate;
    const check = exactlyOnce(r.rows, r.count as number);
    describeSection(SECTION_429, `${r.count} items, concurrency 16, --rpm ${RPM}. 15% of requests answered 429, then every request for ` +
      '30 s; each 429 carries "Retry-After: 2", a Retry-After HTTP-date 2 s ahead, or no Retry-After (one third each). ' +
      'Requests per 60 s are counted at the server from its request log (sliding window).');
    record(SECTION_429, 'requests answered 429', r.server.stats.faults.rate_limit ?? 0);
    record(SECTION_429, 'all-429 burst length', `${Math.round((r.burstMs as number) / 1000)} s`);
    record(SECTION_429, 'requests at the server', r.server.stats.byPath['/v1/chat/completions'] ?? 0);
    record(SECTION_429, `max requests in any 60 s window (limit ${RPM})`, r.maxPer60s as number);
    record(SECTION_429, 'lowest adaptive concurrency (of 16)', r.result.minConcurrency);
    record(SECTION_429, 'retries after "Retry-After: 2" checked / earliest retry', `${r.checkedRetryAfter} / ${r.earliestRetryGap} ms`);
    record(SECTION_429, 'run status', r.result.status);
    record(SECTION_429, 'items lost / duplicated / failed', `${check.missing} / ${check.duplicated} / ${check.errors}`);
    assert.equal(r.result.status, 'completed', String(r.result.error));
    assert.deepEqual(check, { missing: 0, duplicated: 0, errors: 0 });
    assert.ok((r.server.stats.faults.rate_limit ?? 0) > 20);
    assert.ok((r.maxPer60s as number) <= RPM, `${r.maxPer60s} requests in one 60 s window`);
    assert.ok(r.result.minConcurrency < 16, 'the run never slowed down');
    assert.ok((r.checkedRetryAfter as number) > 0);
    assert.ok((r.earliestRetryGap as number) >= 1950, `retried ${r.earliestRetryGap} ms after Retry-After: 2`);
  });

  it('5xx, resets, hangs, invalid JSON, empty answers and restarts: every item once, none failed', () => {
    const r = errors;
    const check = exactlyOnce(r.rows, r.count as number);
    const f = r.server.stats.faults;
    const total = Object.values(f).reduce((a, b) => a + b, 0);
    describeSection(SECTION_5XX, `${r.count} items, concurrency 12, time-out 1.5 s. 40% of first, second and third attempts get one of: ` +
      '500, 502, 503, connection reset before the headers, reset mid-body, no answer (time-out), invalid JSON, 200 with ' +
      '`choices: []`, an empty completion. The server also restarts three times (connections refused for 1.5 s).');
    for (const [k, n] of Object.entries(f).sort()) record(SECTION_5XX, `faults injected: ${k}`, n);
    record(SECTION_5XX, 'faults injected (total)', total);
    record(SECTION_5XX, 'server restarts', r.restarts as number);
    record(SECTION_5XX, 'requests / retries (client side)', `${r.result.requests} / ${r.result.retries}`);
    record(SECTION_5XX, 'empty completions kept as rows (text "")', r.rows.filter((x) => x.text === '').length);
    record(SECTION_5XX, 'items lost / duplicated / failed', `${check.missing} / ${check.duplicated} / ${check.errors}`);
    assert.equal(r.result.status, 'completed', String(r.result.error));
    assert.equal(r.restarts, 3);
    assert.ok(total > 50, `${total} faults`);
    assert.deepEqual(check, { missing: 0, duplicated: 0, errors: 0 });
  });

  it('a 60 s outage mid-run: the run pauses, probes, and finishes with nothing lost or failed', () => {
    const r = outage;
    const check = exactlyOnce(r.rows, r.count as number);
    const msgs = r.messages as string[];
    describeSection(SECTION_OUTAGE, 'The server stops listening (connections refused, in-flight ones reset) for 60 s after 60 ' +
      'answers, then comes back on the same port; default retry policy and outage tolerance (15 min). Control: the same ' +
      'outage with the outage handling turned off (`outageToleranceMs: 0`, the engine before this suite), where requests ' +
      'give up after 6 attempts (about 30 s of back-off) and items fail. ' +
      'Second part: the server never comes back within a 4 s tolerance: the run must stop with one clear message, write ' +
      'no error rows, and a later resume must finish the job.');
    record(SECTION_OUTAGE, 'outage length', `${Math.round((r.outageMs as number) / 1000)} s`);
    record(SECTION_OUTAGE, 'answers before the outage', r.completedAtOutage as number);
    record(SECTION_OUTAGE, 'run status after the outage', r.result.status);
    record(SECTION_OUTAGE, 'items lost / duplicated / failed', `${check.missing} / ${check.duplicated} / ${check.errors}`);
    record(SECTION_OUTAGE, 'progress messages', msgs.filter((m) => /unreachable|reachable again/.test(m)).join(' / ').slice(0, 300));
    assert.equal(r.result.status, 'completed', String(r.result.error));
    assert.deepEqual(check, { missing: 0, duplicated: 0, errors: 0 });
    assert.ok(msgs.some((m) => /unreachable .*pausing and probing/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => /reachable again/.test(m)), msgs.join('\n'));
  });

  it('control: the same outage without the outage handling fails items (so the test above can fail)', () => {
    const r = control;
    const check = exactlyOnce(r.rows, r.count as number);
    record(SECTION_OUTAGE, 'control (outage handling off): items failed by the outage', `${r.result.failed} of ${r.count}`);
    assert.equal(check.missing, 0);
    assert.ok(r.result.failed > 0, 'the outage did not fail anything even without the outage handling');
    assert.equal(check.errors, r.result.failed);
  });

  it('an outage longer than the tolerance stops the run with a clear message; a resume completes it', () => {
    const r = tolerance;
    const atStop = r.rowsAtStop as Row[];
    const resumed = r.resumed as RunResult;
    const check = exactlyOnce(r.rows, r.count as number);
    record(SECTION_OUTAGE, 'tolerance test: stop message', String(r.result.error).slice(0, 200));
    record(SECTION_OUTAGE, 'tolerance test: error rows written at the stop', atStop.filter((x) => x.error != null).length);
    record(SECTION_OUTAGE, 'tolerance test: after resume, items lost / duplicated / failed', `${check.missing} / ${check.duplicated} / ${check.errors}`);
    assert.equal(r.result.status, 'failed');
    assert.match(String(r.result.error), /unreachable for \d+ s \(outage tolerance 4 s; last error: .*\).*resume/);
    assert.match(String(r.result.error), /127\.0\.0\.1/);
    assert.equal(atStop.filter((x) => x.error != null).length, 0, 'error rows written during the outage');
    assert.ok(atStop.length >= 30);
    assert.equal(resumed.status, 'completed');
    assert.equal(resumed.resumed, atStop.length);
    assert.deepEqual(check, { missing: 0, duplicated: 0, errors: 0 });
  });

  it('latency x5: concurrency goes down instead of piling requests on the server', () => {
    const r = slow;
    const c = r.concurrency as number;
    const check = exactlyOnce(r.rows, r.count as number);
    describeSection(SECTION_SLOW, `Concurrency ${c}; after 400 answers every answer takes 1.5 s instead of 0.3 s (x5), like a ` +
      'saturated vLLM. In-flight requests are sampled at the server every 50 ms; "late" is from 12 s after the slowdown to ' +
      'the end (20 s), when the run is cancelled.');
    record(SECTION_SLOW, 'in flight at the server before (mean / max)', `${(r.meanBefore as number).toFixed(1)} / ${r.maxBefore}`);
    record(SECTION_SLOW, 'in flight at the server, late in the slow phase (mean / max)', `${(r.meanLate as number).toFixed(1)} / ${r.maxLate}`);
    record(SECTION_SLOW, `lowest adaptive concurrency (of ${c})`, r.result.minConcurrency);
    record(SECTION_SLOW, 'rows on disk after the cancel: duplicated / failed', `${check.duplicated} / ${check.errors}`);
    assert.equal(r.result.status, 'cancelled');
    assert.ok((r.meanBefore as number) > c / 2, `only ${r.meanBefore} in flight before the slowdown`);
    assert.ok((r.maxLate as number) <= c / 2, `${r.maxLate} in flight late in the slow phase`);
    assert.ok(r.result.minConcurrency <= c / 2);
    assert.equal(check.duplicated, 0);
    assert.equal(check.errors, 0);
  });
});
