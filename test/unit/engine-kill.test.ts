/**
 * Kill test: a job process is SIGKILLed mid-run (twice), a torn line is added at the tail for
 * good measure, and the job is restarted. Every item must end up exactly once, and no item that
 * was complete on disk at a kill may be requested again.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../src/core/run';
import { lastUserText, startMockServer, type MockServer } from '../support/mockServer';

const CHILD = join(__dirname, '..', 'support', 'engineKillChild.ts');
const COUNT = 400;
const CONCURRENCY = 8;

interface Row { id: string; n: number; c?: number; error?: string | null }

function startChild(runDir: string, url: string, count = COUNT, concurrency = CONCURRENCY): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', CHILD, runDir, url, String(count), String(concurrency)], {
    cwd: join(__dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

/** Complete items (both rows present, consecutive) in the file as it is now. */
function completeItems(file: string): Set<string> {
  const done = new Set<string>();
  if (!existsSync(file)) return done;
  const lines = readFileSync(file, 'utf8').split('\n');
  let prev: Row | null = null;
  for (const l of lines) {
    let row: Row;
    try {
      row = JSON.parse(l) as Row;
    } catch {
      prev = null;
      continue;
    }
    if (row.error == null && prev && prev.id === row.id && prev.c === 0 && row.c === 1) done.add(row.id);
    prev = row;
  }
  return done;
}

/** What a kill left: every line whole and parseable, the file ending with a newline (no torn row). */
function assertNoTornRow(file: string, when: string): void {
  const text = readFileSync(file, 'utf8');
  if (text.length === 0) return;
  assert.ok(text.endsWith('\n'), `${when}: the file ends in a torn row: ...${JSON.stringify(text.slice(-80))}`);
  const lines = text.split('\n').filter(Boolean);
  for (let i = 0; i < lines.length; i++) {
    assert.doesNotThrow(() => JSON.parse(lines[i]), `${when}: line ${i + 1} is not whole JSON: ${lines[i].slice(0, 80)}`);
  }
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('engine: SIGKILL and resume', function () {
  this.timeout(120_000);
  let dir: string;
  let server: MockServer;
  const requests = new Map<string, number>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-kill-'));
    server = await startMockServer({
      latency: { fixedMs: 15 },
      respond: (req) => {
        if (req.choiceIndex === 0) {
          const id = lastUserText(req);
          requests.set(id, (requests.get(id) ?? 0) + 1);
        }
        return `answer ${lastUserText(req)} choice ${req.choiceIndex}`;
      },
    });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('items end up exactly once and none complete on disk is requested again', async () => {
    const runDir = join(dir, 'run');
    const file = join(runDir, 'output.jsonl');
    // Items complete on disk after a kill, with how many requests they had got by then.
    const protectedAt = new Map<string, number>();

    for (const fraction of [0.25, 0.6]) {
      const { child, output, exited } = startChild(runDir, server.url);
      const target = Math.floor(COUNT * fraction);
      await waitFor(() => existsSync(file) && statSync(file).size > 0 && completeItems(file).size >= target, `${target} items (${output()})`);
      child.kill('SIGKILL');
      await exited;
      const m = await readManifest(runDir);
      assert.equal(m!.status, 'interrupted');
      assertNoTornRow(file, `after the kill at ${fraction}`);
      // A torn write at the tail, as a crash mid-write would leave.
      appendFileSync(file, '{"id":"item-99999","n":2,"c":0,"te');
      for (const id of completeItems(file)) if (!protectedAt.has(id)) protectedAt.set(id, requests.get(id) ?? 0);
    }

    const last = startChild(runDir, server.url);
    const code = await last.exited;
    assert.equal(code, 0, last.output());
    assert.match(last.output(), /"status":"completed"/);

    // Exactly once each.
    const rows = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
    const perId = new Map<string, number>();
    for (const r of rows) {
      assert.equal(r.error ?? null, null);
      perId.set(r.id, (perId.get(r.id) ?? 0) + 1);
    }
    assert.equal(perId.size, COUNT);
    for (const [id, n] of perId) assert.equal(n, 2, `${id} has ${n} rows`);

    // Nothing complete on disk at a kill was requested again afterwards.
    assert.ok(protectedAt.size >= COUNT * 0.6);
    for (const [id, n] of protectedAt) {
      assert.ok(n >= 1);
      assert.equal(requests.get(id), n, `${id} was requested again after it was on disk`);
    }
    // Re-requests are bounded by what was in flight at the two kills.
    const repeated = [...requests.values()].filter((n) => n > 1).length;
    assert.ok(repeated <= 2 * CONCURRENCY, `${repeated} items requested more than once`);
    const m = (await readManifest(runDir))!;
    assert.equal(m.status, 'completed');
    assert.deepEqual(m.counts, { total: COUNT, done: COUNT, failed: 0, pending: 0 });
  });
  it('at high concurrency (many items per write): a kill never leaves a torn row, and a resume ends with every item once', async () => {
    // Items finish in bursts here, so one write carries many items: the kill lands between writes.
    server.configure({ latency: { fixedMs: 1 } });
    try {
      const runDir = join(dir, 'run-burst');
      const file = join(runDir, 'output.jsonl');
      const count = 1500;
      for (const fraction of [0.3, 0.7]) {
        const { child, output, exited } = startChild(runDir, server.url, count, 128);
        const target = Math.floor(count * fraction);
        await waitFor(() => existsSync(file) && statSync(file).size > 0 && completeItems(file).size >= target, `${target} items (${output()})`);
        child.kill('SIGKILL');
        await exited;
        assertNoTornRow(file, `after the kill at ${fraction}`);
      }
      const last = startChild(runDir, server.url, count, 128);
      assert.equal(await last.exited, 0, last.output());
      const perId = new Map<string, number>();
      for (const l of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(l) as Row;
        perId.set(r.id, (perId.get(r.id) ?? 0) + 1);
      }
      assert.equal(perId.size, count);
      for (const [id, n] of perId) assert.equal(n, 2, `${id} has ${n} rows`);
    } finally {
      server.configure({ latency: { fixedMs: 15 } });
    }
  });
});
