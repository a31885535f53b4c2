import { strict as assert } from 'node:assert';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc';
import type { ViewerHostNotifications, ViewerRequests } from '../../src/protocol/viewer';
import { JsonlFile } from '../../src/core/viewer/jsonlFile';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { binOf, MAX_DISTINCT, PROFILE_BIN_EDGES, ProfileBuilder, profileFile } from '../../src/core/viewer/profile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { sortLines } from '../../src/core/viewer/sort';
import { validateSortParams, validateViewRef } from '../../src/protocol/viewer';

/** 3 problems x 4 samples; problem p has p+1 correct samples (1/4, 2/4, 3/4). */
function gradedRows(): Array<Record<string, unknown>> {
  const rows: Array<Record<string, unknown>> = [];
  for (let p = 0; p < 3; p++)
    for (let s = 0; s < 4; s++)
      rows.push({ input_index: p, seed: s, generation: 'x'.repeat(5 + 50 * s), predicted_answer: s <= p ? '1' : String(s + 10), is_correct: s <= p, usage: { completion_tokens: 20 * (s + 1), prompt_tokens: 7 } });
  return rows;
}

describe('viewer column profile (back end)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-profile-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('counts types, missing share, distinct and top values, and bins lengths', () => {
    const b = new ProfileBuilder();
    b.addLine({ a: 'hello', b: 1 });
    b.addLine({ a: 'hello', b: null, c: [1, 2] });
    b.addLine({ a: 'x'.repeat(150), b: 2.5 });
    b.addLine('not an object');
    b.addLine(undefined); // a malformed line
    const p = b.result();
    assert.equal(p.lines, 5);
    assert.equal(p.records, 3);
    const a = p.columns.find((c) => c.name === 'a')!;
    assert.deepEqual(a.types, { string: 3 });
    assert.equal(a.missing, 0);
    assert.equal(a.distinct, 2);
    assert.deepEqual(a.top[0], { value: 'hello', count: 2 });
    assert.equal(a.length.min, 5);
    assert.equal(a.length.max, 150);
    assert.equal(a.length.bins[binOf(5)], 2);
    assert.equal(a.length.bins[binOf(150)], 1);
    assert.equal(a.length.bins.reduce((x, y) => x + y, 0), 3);
    const bcol = p.columns.find((c) => c.name === 'b')!;
    assert.deepEqual(bcol.types, { number: 2, null: 1 });
    assert.equal(bcol.missing, 1, 'null counts as missing');
    assert.deepEqual(bcol.numeric, { min: 1, max: 2.5, mean: 1.75 });
    const c = p.columns.find((x) => x.name === 'c')!;
    assert.equal(c.missing, 2, 'absent before and after it first appears');
    assert.deepEqual(c.types, { array: 1 });
    assert.equal(p.problems, undefined, 'not graded');
    assert.equal(p.tokens, undefined);
  });

  it('bins are fixed and cover every length', () => {
    assert.equal(binOf(0), 0);
    assert.equal(binOf(1), 1);
    assert.equal(binOf(9), 1);
    assert.equal(binOf(10), 2);
    assert.equal(binOf(10_000_000), PROFILE_BIN_EDGES.length - 1);
  });

  it('keeps memory bounded: the distinct-value sketch stops at its cap', () => {
    const b = new ProfileBuilder();
    for (let i = 0; i < MAX_DISTINCT + 500; i++) b.addRecord({ id: `v${i}`, k: i % 3 });
    b.addRecord({ id: 'v0', k: 0 });
    const p = b.result();
    const id = p.columns.find((c) => c.name === 'id')!;
    assert.equal(id.distinct, MAX_DISTINCT);
    assert.equal(id.distinctCapped, true);
    assert.deepEqual(id.top[0], { value: 'v0', count: 2 });
    const k = p.columns.find((c) => c.name === 'k')!;
    assert.equal(k.distinct, 3);
    assert.equal(k.distinctCapped, false);
  });

  it('a graded file: correct share per problem and tokens per row', () => {
    const b = new ProfileBuilder();
    for (const r of gradedRows()) b.addRecord(r);
    const p = b.result();
    assert.ok(p.problems);
    assert.equal(p.problems.by, 'input_index');
    assert.equal(p.problems.problems, 3);
    // shares 0.25, 0.5, 0.75 -> bins 2, 5, 7
    assert.deepEqual(p.problems.bins, [0, 0, 1, 0, 0, 1, 0, 1, 0, 0]);
    assert.equal(p.problems.allCorrect, 0);
    assert.equal(p.problems.noneCorrect, 0);
    assert.ok(p.tokens);
    assert.equal(p.tokens.field, 'usage.completion_tokens');
    assert.equal(p.tokens.rows, 12);
    assert.equal(p.tokens.min, 20);
    assert.equal(p.tokens.max, 80);
    assert.equal(p.tokens.bins[binOf(20)] + p.tokens.bins[binOf(80)], 12);
  });

  it('profiles a file from disk, malformed lines included, in one pass', async () => {
    const path = join(dir, 'g.jsonl');
    writeFileSync(path, gradedRows().map((r) => JSON.stringify(r)).join('\n') + '\n{"broken\n');
    const f = await JsonlFile.open(path);
    try {
      const p = await profileFile(f);
      assert.equal(p.lines, 13);
      assert.equal(p.records, 12);
      assert.equal(p.columns.find((c) => c.name === 'generation')!.length.max, 155);
    } finally {
      await f.close();
    }
  });

  it('the session answers profile and metrics, keeps them per file version, and recomputes after the file grows', async () => {
    const path = join(dir, 'runs.jsonl');
    writeFileSync(path, gradedRows().map((r) => JSON.stringify(r) + '\n').join(''));
    const live = await LiveJsonlFile.open(path, { pollMs: 0, throttleMs: 0 });
    const clone = (m: WireMessage): unknown => JSON.parse(JSON.stringify(m));
    let webview: MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, Record<string, never>>;
    const session = new ViewerSession(live, 'runs.jsonl', (m) => void webview.receive(clone(m)), {});
    webview = new MessageChannel((m) => void session.receive(clone(m)));
    try {
      webview.sendReady();
      const p1 = await webview.request('profile', {});
      assert.equal(p1.records, 12);
      const m = await webview.request('metrics', {});
      assert.ok(m.ok);
      const d = m.metrics[0];
      assert.equal(d.problems, 3);
      assert.equal(d.samples, 12);
      // The first sample (seed 0) is correct for every problem; pass@4 = 1; pass@1 = mean share = 0.5.
      assert.equal(d.greedy, 1);
      assert.equal(d.passAtK['4'], 1);
      assert.ok(Math.abs(d.passAtK['1'] - 0.5) < 1e-9);
      assert.ok('4' in d.majAtK);
      // Kept: the same object comes back (the session did not scan again).
      const kept = (session as unknown as { keptResults: Map<string, { result: Promise<unknown> }> }).keptResults;
      const before = kept.get('profile')!.result;
      await webview.request('profile', {});
      assert.equal(kept.get('profile')!.result, before);
      appendFileSync(path, JSON.stringify({ input_index: 3, seed: 0, generation: 'y', is_correct: true }) + '\n');
      await live.file.refresh();
      const p2 = await webview.request('profile', {});
      assert.equal(p2.records, 13);
      assert.equal(p2.problems!.problems, 4);
    } finally {
      session.dispose();
      await live.dispose();
    }
  });

  it('metrics of an ungraded file say why there are none', async () => {
    const path = join(dir, 'plain.jsonl');
    writeFileSync(path, '{"a":1}\n');
    const live = await LiveJsonlFile.open(path, { pollMs: 0, throttleMs: 0 });
    const clone = (m: WireMessage): unknown => JSON.parse(JSON.stringify(m));
    let webview: MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, Record<string, never>>;
    const session = new ViewerSession(live, 'plain.jsonl', (m) => void webview.receive(clone(m)), {});
    webview = new MessageChannel((m) => void session.receive(clone(m)));
    try {
      webview.sendReady();
      const m = await webview.request('metrics', {});
      assert.equal(m.ok, false);
      assert.match((m as { message: string }).message, /is_correct/);
    } finally {
      session.dispose();
      await live.dispose();
    }
  });
});

describe('viewer sort by a field (back end)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-sort-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const lines = [
    '{"n": 3, "s": "b"}',
    '{"n": 10, "s": "a"}',
    '{"s": "c"}',
    'not json',
    '{"n": -1, "s": "a"}',
    '{"n": "x", "s": null}',
    '{"n": 3, "s": "d"}',
  ];

  it('orders numbers numerically, then strings, missing last; ties keep file order; descending too', async () => {
    const path = join(dir, 's.jsonl');
    writeFileSync(path, lines.join('\n') + '\n');
    const f = await JsonlFile.open(path);
    try {
      await f.indexAll();
      assert.deepEqual(Array.from(await sortLines(f, 'n', false)), [4, 0, 6, 1, 5, 2, 3]);
      assert.deepEqual(Array.from(await sortLines(f, 'n', true)), [5, 1, 0, 6, 4, 2, 3]);
      assert.deepEqual(Array.from(await sortLines(f, 's', false)), [1, 4, 0, 2, 6, 3, 5]);
      // Only some lines (a query's matches).
      assert.deepEqual(Array.from(await sortLines(f, 'n', true, [0, 1, 4])), [1, 0, 4]);
      await assert.rejects(() => sortLines(f, 'a..b', false), /bad field path/);
    } finally {
      await f.close();
    }
  });

  it('the session serves a sorted view of all lines and of a query, and checks the params', async () => {
    assert.throws(() => validateSortParams({ column: 1, desc: false }), /column/);
    assert.throws(() => validateSortParams({ column: 'n', desc: 'yes' }), /desc/);
    assert.deepEqual(validateViewRef({ kind: 'sorted', sortId: 2 }), { kind: 'sorted', sortId: 2 });
    const path = join(dir, 'runs.jsonl');
    writeFileSync(path, lines.join('\n') + '\n');
    const live = await LiveJsonlFile.open(path, { pollMs: 0, throttleMs: 0 });
    const clone = (m: WireMessage): unknown => JSON.parse(JSON.stringify(m));
    let webview: MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, Record<string, never>>;
    const session = new ViewerSession(live, 'runs.jsonl', (m) => void webview.receive(clone(m)), {});
    webview = new MessageChannel((m) => void session.receive(clone(m)));
    try {
      webview.sendReady();
      const s = await webview.request('sort', { column: 'n', desc: false });
      assert.ok(s.ok);
      assert.equal(s.total, 7);
      const page = await webview.request('rows', { view: { kind: 'sorted', sortId: s.sortId }, start: 0, count: 3, columns: ['n'] });
      assert.deepEqual(page.rows.map((r) => r.line), [4, 0, 6]);
      assert.equal(page.total, 7);
      // The same sort again is the kept one.
      const again = await webview.request('sort', { column: 'n', desc: false });
      assert.ok(again.ok && again.sortId === s.sortId);
      const q = await webview.request('query', { filter: 's == "a"' });
      assert.ok(q.ok);
      const sq = await webview.request('sort', { column: 'n', desc: true, queryId: q.queryId });
      assert.ok(sq.ok);
      assert.equal(sq.total, 2);
      const rows = await webview.request('rows', { view: { kind: 'sorted', sortId: sq.sortId }, start: 0, count: 10, columns: ['n'] });
      assert.deepEqual(rows.rows.map((r) => r.line), [1, 4]);
      const bad = await webview.request('sort', { column: 'a..b', desc: false });
      assert.equal(bad.ok, false);
    } finally {
      session.dispose();
      await live.dispose();
    }
  });
});
