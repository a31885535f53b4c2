/**
 * Network holes of issue 15: an answer too large to hold (15.3), a server that turns to 500 for
 * good in the middle of a run (15.10), and a Retry-After date from a server whose clock is an hour
 * ahead of ours (15.11). Real HTTP on loopback, real run folders; assertions on counts and bounds.
 */
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockServer } from '../support/mockServer';
import { describeSection, record } from './report';
import { exactlyOnce, readRows, runJob, type Row } from './support';

const SECTION_SIZE = 'Answers too large to hold';
const SECTION_BREAKER = 'A server that turns to 500 for good mid-run';
const SECTION_SKEW = 'Retry-After dates under clock skew';
const MB = 1024 * 1024;

/** A loopback server answering chat requests with `answer(item)`; `null` floods a 700 MB body. */
async function rawServer(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      (req as http.IncomingMessage & { body?: string }).body = body;
      handler(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

function itemOf(req: http.IncomingMessage): string {
  const body = JSON.parse((req as http.IncomingMessage & { body?: string }).body ?? '{}') as { messages?: Array<{ content: string }> };
  return body.messages?.[0]?.content ?? '';
}

function answer(res: http.ServerResponse, text: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ model: 'mock-model', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: text } }], usage: { prompt_tokens: 3, completion_tokens: 1 } });
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

describe('reliability: network (answer size, circuit breaker, clock skew)', function () {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-rel-net-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('700 MB answers at concurrency 4: those items fail with the size limit, memory stays bounded, the rest is written', async () => {
    const HUGE = new Set(['item-3', 'item-7', 'item-11', 'item-15']);
    let sentToHuge = 0;
    const piece = Buffer.alloc(64 * 1024, 'x');
    const srv = await rawServer((req, res) => {
      const id = itemOf(req);
      if (!HUGE.has(id)) return answer(res, `answer to ${id}`);
      // A chunked answer that would be 700 MB: the client must hang up long before the end.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"');
      let sent = 0;
      let closed = false;
      res.on('close', () => (closed = true));
      const pump = () => {
        while (!closed && sent < 700 * MB) {
          sent += piece.length;
          sentToHuge += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        if (!closed) res.end('"}}]}');
      };
      pump();
    });
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    try {
      const runDir = join(dir, 'size');
      const result = await runJob({ runDir, url: srv.url, count: 40, concurrency: 4, retry: { baseDelayMs: 5, maxDelayMs: 20 } });
      const rows = readRows<Row>(join(runDir, 'output.jsonl'));
      const failed = rows.filter((r) => r.error);
      assert.equal(result.status, 'completed');
      assert.deepEqual(failed.map((r) => r.id).sort(), [...HUGE].sort());
      for (const r of failed) assert.match(r.error!, /above the 64 MiB limit \(maxResponseBytes/);
      assert.equal(rows.length, 40);
      const growthMb = (rssPeak - rssBefore) / MB;
      assert.ok(growthMb < 700, `RSS grew by ${Math.round(growthMb)} MB`);
      describeSection(SECTION_SIZE, 'A loopback server answers 4 of 40 items with a chunked body that would be 700 MB (no Content-Length), at concurrency 4; the client has the default 64 MiB limit (`maxResponseBytes`, `--max-response-mb`).');
      record(SECTION_SIZE, 'items answered 700 MB / failed with the size limit (not retried)', `${HUGE.size} / ${failed.length}`);
      record(SECTION_SIZE, 'bytes the server got to send to them before the client hung up', `${Math.round(sentToHuge / MB)} MB`);
      record(SECTION_SIZE, 'peak RSS growth of the process during the run', `${Math.round(growthMb)} MB (was 3.2 GB before the limit)`);
      record(SECTION_SIZE, 'other items written', rows.length - failed.length);
    } finally {
      clearInterval(sampler);
      await srv.close();
    }
  });

  it('a server that turns to 500 for good: one message, no error rows, a bounded number of requests; a resume finishes', async () => {
    let answered = 0;
    let broken = false;
    const server = await startMockServer({
      latency: { fixedMs: 2 },
      fault: () => (broken ? { fault: 'server_error', status: 500, message: 'CUDA error: an illegal memory access was encountered' } : (++answered >= 150 ? ((broken = true), null) : null)),
    });
    try {
      const runDir = join(dir, 'breaker');
      const result = await runJob({ runDir, url: server.url, count: 3000, concurrency: 16, retry: { baseDelayMs: 2, maxDelayMs: 10 } });
      const rows = readRows<Row>(join(runDir, 'output.jsonl'));
      assert.equal(result.status, 'failed');
      assert.equal(result.circuitBroken, true);
      assert.match(result.error!, /keeps answering 500 after retries\. The last 32 items all failed the same way after 150 had succeeded/);
      assert.equal(rows.filter((r) => r.error).length, 0);
      assert.equal(rows.length, 150);
      const sent = server.stats.byPath['/v1/chat/completions'] ?? 0;
      assert.ok(sent < 150 + (32 + 16) * 6, `${sent} requests`);
      describeSection(SECTION_BREAKER, 'The mock answers 150 requests, then 500 to everything (3,000 items, concurrency 16, 6 attempts per request). Then the server heals and the same job runs again.');
      record(SECTION_BREAKER, 'run status / message', `${result.status}: ${result.error!.slice(0, 120)}...`);
      record(SECTION_BREAKER, 'requests sent (without the breaker: ~17,000 and 2,850 error rows)', sent);
      record(SECTION_BREAKER, 'rows written / error rows', `${rows.length} / 0`);
      broken = false;
      answered = -1e9;
      const again = await runJob({ runDir, url: server.url, count: 3000, concurrency: 16 });
      const check = exactlyOnce(readRows<Row>(join(runDir, 'output.jsonl')), 3000);
      assert.equal(again.status, 'completed');
      assert.deepEqual(check, { missing: 0, duplicated: 0, errors: 0 });
      record(SECTION_BREAKER, 'after the server heals, the same job: items lost / duplicated / failed', `${check.missing} / ${check.duplicated} / ${check.errors}`);
    } finally {
      await server.close();
    }
  });

  it('a Retry-After HTTP-date from a server an hour ahead: the retry comes after ~2 s, not the 300 s cap', async () => {
    const skewMs = 3600_000;
    const firstSeen = new Map<string, number>();
    const gaps: number[] = [];
    const srv = await rawServer((req, res) => {
      const id = itemOf(req);
      const now = Date.now();
      const first = firstSeen.get(id);
      if (first === undefined) {
        firstSeen.set(id, now);
        const serverNow = now + skewMs;
        res.sendDate = false;
        res.writeHead(429, { date: new Date(serverNow).toUTCString(), 'retry-after': new Date(serverNow + 2000).toUTCString(), 'content-type': 'application/json' });
        return void res.end('{"error":{"message":"slow down"}}');
      }
      gaps.push(now - first);
      answer(res, `answer to ${id}`);
    });
    try {
      const runDir = join(dir, 'skew');
      const result = await runJob({ runDir, url: srv.url, count: 4, concurrency: 4 });
      assert.equal(result.status, 'completed');
      assert.equal(gaps.length, 4);
      // Whole-second dates: 2 s on the server's clock is 1-3 s here; the cap would be 300 s.
      for (const g of gaps) assert.ok(g >= 900 && g < 10_000, `retried after ${g} ms`);
      describeSection(SECTION_SKEW, 'A loopback server whose clock is one hour ahead answers the first attempt of each item 429 with `Retry-After: <its now + 2 s>` as an HTTP-date and its own `Date` header.');
      record(SECTION_SKEW, 'wait before the retry (4 items)', `${Math.min(...gaps)}-${Math.max(...gaps)} ms (was the 300 s cap)`);
    } finally {
      await srv.close();
    }
  });
});
