import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc';
import { ProtocolError, validateGroupsParams, validateQueryParams, validateRowsParams, type ViewerHostNotifications, type ViewerRequests } from '../../src/protocol/viewer';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { viewerHtml } from '../../src/extension/viewer/html';

describe('viewer protocol validation', () => {
  it('accepts well-formed rows params and rejects bad types and ranges', () => {
    assert.deepEqual(validateRowsParams({ view: { kind: 'all' }, start: 0, count: 100, columns: ['a'] }), { view: { kind: 'all' }, start: 0, count: 100, columns: ['a'] });
    const bad: unknown[] = [
      null,
      { view: { kind: 'all' }, start: -1, count: 10, columns: [] },
      { view: { kind: 'all' }, start: 0, count: 501, columns: [] },
      { view: { kind: 'all' }, start: 1.5, count: 10, columns: [] },
      { view: { kind: 'all' }, start: '0', count: 10, columns: [] },
      { view: { kind: 'nope' }, start: 0, count: 10, columns: [] },
      { view: { kind: 'query', queryId: 0 }, start: 0, count: 10, columns: [] },
      { view: { kind: 'all' }, start: 0, count: 10, columns: [1] },
      { view: { kind: 'all' }, start: 0, count: 10, columns: 'a' },
      { view: { kind: 'all' }, start: 0, count: 10, columns: Array(65).fill('a') },
      { view: { kind: 'all' }, start: 0, count: 10, columns: ['x'.repeat(201)] },
    ];
    for (const b of bad) assert.throws(() => validateRowsParams(b), ProtocolError, JSON.stringify(b));
  });

  it('checks query params', () => {
    assert.deepEqual(validateQueryParams({ search: { text: 'a', regex: false, caseSensitive: true, field: '' }, filter: 'x', groupBy: null }), { search: { text: 'a', regex: false, caseSensitive: true }, filter: 'x' });
    assert.throws(() => validateQueryParams({ search: { text: 'a', regex: 'yes', caseSensitive: true } }), /search.regex/);
    assert.throws(() => validateQueryParams({ filter: 'x'.repeat(5000) }), /longer than/);
    assert.deepEqual(validateGroupsParams({ queryId: 1, start: 0, count: 5 }), { queryId: 1, start: 0, count: 5, sort: 'first' });
    assert.throws(() => validateGroupsParams({ queryId: 1, start: 0, count: 5, sort: 'random' }), /sort must be one of/);
  });
});

describe('viewer session (host side)', () => {
  let dir: string;
  let live: LiveJsonlFile;
  let session: ViewerSession;
  let webview: MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, Record<string, never>>;
  const files: ViewerHostNotifications['file'][] = [];
  const progress: ViewerHostNotifications['queryProgress'][] = [];
  let path: string;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-s-'));
    path = join(dir, 'runs.jsonl');
    writeFileSync(path, [0, 1, 2, 3, 4, 5].map((i) => JSON.stringify({ input_index: i % 2, is_correct: i % 3 === 0, seed: i })).join('\n') + '\nbroken\n');
    live = await LiveJsonlFile.open(path, { pollMs: 0, throttleMs: 0 });
    files.length = 0;
    progress.length = 0;
    // Wire both ends directly, as the provider does through postMessage (structured clone).
    const clone = (m: WireMessage): unknown => JSON.parse(JSON.stringify(m));
    session = new ViewerSession(live, 'runs.jsonl', (m) => void webview.receive(clone(m)), {});
    webview = new MessageChannel((m) => void session.receive(clone(m)));
    webview.on('file', (f) => files.push(f));
    webview.on('queryProgress', (p) => progress.push(p));
    webview.sendReady();
    await live.ready;
  });
  afterEach(async () => {
    session.dispose();
    await live.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends file stats after ready and serves pages of rows', async () => {
    assert.ok(files.length > 0);
    const last = files[files.length - 1];
    assert.equal(last.fileName, 'runs.jsonl');
    assert.equal(last.stats.lines, 7);
    assert.equal(last.stats.malformed, 1);
    const r = await webview.request('rows', { view: { kind: 'all' }, start: 5, count: 10, columns: ['seed'] });
    assert.equal(r.total, 7);
    assert.deepEqual(r.rows.map((x) => [x.line, x.status, x.cells[0]]), [[5, 'ok', '5'], [6, 'bad', null]]);
    const d = await webview.request('record', { line: 2 });
    assert.equal(d.fields.find((f) => f.name === 'seed')?.text, '2');
  });

  it('answers ready with the first page of rows in the automatic columns (no round trip for it)', async () => {
    for (let i = 0; i < 200 && !files.some((f) => f.firstPage); i++) await new Promise((r) => setTimeout(r, 10));
    const first = files.find((f) => f.firstPage);
    assert.ok(first?.firstPage, 'a file message with the first page');
    assert.deepEqual(first.firstPage.columns, ['input_index', 'is_correct', 'seed']);
    assert.deepEqual(first.firstPage.rows.map((r) => [r.line, r.status, r.cells[2]]), [[0, 'ok', '0'], [1, 'ok', '1'], [2, 'ok', '2'], [3, 'ok', '3'], [4, 'ok', '4'], [5, 'ok', '5'], [6, 'bad', null]]);
  });

  it('sends the file state again when a reloaded webview says ready again', async () => {
    for (let i = 0; i < 200 && !files.some((f) => f.firstPage); i++) await new Promise((r) => setTimeout(r, 10));
    const before = files.length;
    webview.sendReady();
    for (let i = 0; i < 50 && files.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(files.length, before + 1);
  });

  it('rejects invalid requests with a clear error and keeps working', async () => {
    await assert.rejects(webview.request('rows', { view: { kind: 'all' }, start: -5, count: 10, columns: [] } as never), /start must be an integer/);
    await assert.rejects(webview.request('record', { line: 'x' } as never), /line must be an integer/);
    await assert.rejects(webview.request('record', { line: 99 }), /past the end/);
    await assert.rejects(webview.request('rows', { view: { kind: 'query', queryId: 42 }, start: 0, count: 10, columns: [] }), /query 42 is gone/);
    const r = await webview.request('rows', { view: { kind: 'all' }, start: 0, count: 1, columns: [] });
    assert.equal(r.rows.length, 1);
  });

  it('runs a grouped, filtered query and serves its groups and their rows', async () => {
    const q = await webview.request('query', { filter: 'seed >= 1', groupBy: 'input_index' });
    assert.ok(q.ok);
    const id = (q as { queryId: number }).queryId;
    for (let i = 0; i < 100 && !progress.some((p) => p.queryId === id && p.done); i++) await new Promise((r) => setTimeout(r, 10));
    const g = await webview.request('groups', { queryId: id, start: 0, count: 10 });
    assert.deepEqual(g.groups.map((x) => [x.key, x.count, x.correct]), [['1', 3, 1], ['0', 2, 0]]);
    const rows = await webview.request('rows', { view: { kind: 'group', queryId: id, group: 0 }, start: 0, count: 10, columns: ['seed'] });
    assert.deepEqual(rows.rows.map((x) => x.cells[0]), ['1', '3', '5']);
  });

  it('returns filter errors with their column instead of failing', async () => {
    const q = await webview.request('query', { filter: 'seed >' });
    assert.deepEqual(q, { ok: false, part: 'filter', message: 'expression ends too early: expected a value at column 7', column: 7 });
  });

  it('continues a query over lines appended to the file', async () => {
    const q = await webview.request('query', { search: { text: 'seed', regex: false, caseSensitive: true } });
    const id = (q as { queryId: number }).queryId;
    const waitFor = async (pred: () => boolean): Promise<void> => {
      for (let i = 0; i < 300 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(pred());
    };
    await waitFor(() => progress.some((p) => p.queryId === id && p.done && p.matches === 6));
    appendFileSync(path, JSON.stringify({ input_index: 9, seed: 9 }) + '\n');
    await live.check();
    await waitFor(() => progress.some((p) => p.queryId === id && p.done && p.matches === 7));
    await waitFor(() => files.some((f) => f.stats.lines === 8));
  });
  it('runs a catastrophic regex in a worker: the event loop stays free and Cancel returns at once', async () => {
    // 33 bytes, no closing quote: a backtracking engine tries every split of the x's into words
    // (2^23 ways) before it fails; seconds of CPU.
    const line = '{"text":"' + 'x'.repeat(24);
    assert.equal(Buffer.byteLength(line), 33);
    appendFileSync(path, line + '\n');
    await live.check();
    await live.ready;
    const q = await webview.request('query', { search: { text: '"text":"(\\w+\\s?)+"$', regex: true, caseSensitive: true } });
    assert.ok(q.ok);
    const id = (q as { queryId: number }).queryId;
    const finished = (): boolean => progress.some((p) => p.queryId === id && p.done);
    // Timers fire while the regex runs: the thread that runs the session is not blocked. (Before,
    // the regex ran here and no timer could fire until it ended, 24 s later.)
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      while (ticks < 5) await new Promise((r) => setTimeout(r, 5));
      assert.equal(finished(), false, 'the regex is still running in its worker');
      // Cancel answers now (the worker is terminated) and keeps the results so far.
      await webview.request('cancelQuery', { queryId: id });
      const ticksAtCancel = ticks;
      const last = progress.filter((p) => p.queryId === id).pop();
      assert.equal(last?.cancelled, true);
      assert.equal(last?.done, false);
      while (ticks < ticksAtCancel + 3) await new Promise((r) => setTimeout(r, 5));
      assert.ok(!progress.some((p) => p.queryId === id && p.done && !p.cancelled), 'nothing arrives from a cancelled worker');
    } finally {
      clearInterval(timer);
    }
    // The session keeps working.
    const rows = await webview.request('rows', { view: { kind: 'query', queryId: id }, start: 0, count: 10, columns: [] });
    assert.equal(rows.total, rows.rows.length);
    const again = await webview.request('query', { search: { text: 'seed', regex: false, caseSensitive: true } });
    const id2 = (again as { queryId: number }).queryId;
    for (let i = 0; i < 300 && !progress.some((p) => p.queryId === id2 && p.done); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(progress.filter((p) => p.queryId === id2 && p.done).pop()?.matches, 6);
  });

  it('keeps a finished result: the same query again (the tab shown again) is not redone', async () => {
    const spec = { filter: 'seed >= 1', groupBy: 'input_index' };
    const q1 = (await webview.request('query', spec)) as { queryId: number };
    for (let i = 0; i < 300 && !progress.some((p) => p.queryId === q1.queryId && p.done); i++) await new Promise((r) => setTimeout(r, 10));
    const before = progress.length;
    const q2 = (await webview.request('query', { ...spec, filter: ' seed >= 1 ' })) as { queryId: number };
    assert.equal(q2.queryId, q1.queryId);
    // It reports the kept result at once, done.
    await new Promise((r) => setTimeout(r, 20));
    const since = progress.slice(before);
    assert.deepEqual(since.map((p) => [p.queryId, p.done, p.matches, p.groups]), [[q1.queryId, true, 5, 2]]);
    // A different query is new; a cancelled one is not reused.
    const q3 = (await webview.request('query', { filter: 'seed >= 2' })) as { queryId: number };
    assert.notEqual(q3.queryId, q1.queryId);
    await webview.request('cancelQuery', { queryId: q3.queryId });
    const q4 = (await webview.request('query', { filter: 'seed >= 2' })) as { queryId: number };
    assert.notEqual(q4.queryId, q3.queryId);
  });
});

describe('viewer webview HTML', () => {
  it('has a strict CSP with a nonce on the only script and no inline styles', () => {
    const h = viewerHtml({ scriptUri: 'https://x/viewer.js', styleUri: 'https://x/viewer.css', cspSource: 'https://x', nonce: 'abc123' });
    const csp = /http-equiv="Content-Security-Policy" content="([^"]*)"/.exec(h)?.[1] ?? '';
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(' ')]));
    assert.equal(directives.get('default-src'), "'none'");
    assert.equal(directives.get('script-src'), "'nonce-abc123'");
    assert.match(directives.get('style-src') ?? '', /^https:\/\/x( 'nonce-abc123')?$/);
    assert.equal(directives.get('font-src'), 'https://x');
    assert.match(h, /<script type="module" nonce="abc123" src="https:\/\/x\/viewer.js">/);
    assert.match(h, /<link rel="stylesheet"[^>]*href="https:\/\/x\/viewer.css"/);
    assert.match(h, /<sdg-jsonl-viewer><\/sdg-jsonl-viewer>/);
    assert.doesNotMatch(h, /unsafe-inline|unsafe-eval|style="/);
  });
});

describe('viewer live file (watcher)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-w-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const waitFor = async (pred: () => boolean, what: string): Promise<void> => {
    for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(pred(), `timed out waiting for ${what}`);
  };

  it('a query started right after opening (index and analysis under way) gives the full result, then the analysis finishes', async () => {
    const p = join(dir, 'fresh.jsonl');
    // Line 1500 is malformed inside a string (a raw tab): never grouped by its key.
    const lines = Array.from({ length: 3000 }, (_, i) => (i === 1500 ? `{"input_index":${i % 7},"text":"a\tb"}` : JSON.stringify({ input_index: i % 7, text: 'y'.repeat(30) })));
    writeFileSync(p, lines.join('\n') + '\n');
    const live = await LiveJsonlFile.open(p, { pollMs: 0, throttleMs: 0, watch: false, limits: { chunkBytes: 4096 } });
    const progress: ViewerHostNotifications['queryProgress'][] = [];
    const clone = (m: WireMessage): unknown => JSON.parse(JSON.stringify(m));
    let view!: MessageChannel<Record<string, never>, ViewerRequests, ViewerHostNotifications, Record<string, never>>;
    const session = new ViewerSession(live, 'fresh.jsonl', (m) => void view.receive(clone(m)), {});
    view = new MessageChannel((m) => void session.receive(clone(m)));
    view.on('queryProgress', (x) => progress.push(x));
    view.sendReady();
    try {
      assert.equal(live.file.index.complete, false, 'the test needs a query before the index is complete');
      const q = await view.request('query', { groupBy: 'input_index' });
      assert.ok(q.ok);
      const id = (q as { queryId: number }).queryId;
      for (let i = 0; i < 500 && !progress.some((x) => x.queryId === id && x.done); i++) await new Promise((r) => setTimeout(r, 10));
      const g = await view.request('groups', { queryId: id, start: 0, count: 10 });
      const counts = new Map(g.groups.map((x) => [x.key, x.count]));
      assert.equal(counts.get('(missing)'), 1);
      assert.equal([...counts.values()].reduce((a, b) => a + b, 0), 3000);
      await live.ready;
      assert.equal(live.file.stats().analyzedLines, 3000);
      assert.equal(live.file.stats().malformed, 1);
    } finally {
      session.dispose();
      await live.dispose();
    }
  });

  it('a hold pauses the background analysis (a query runs meanwhile) until it is released; indexing goes on', async () => {
    const p = join(dir, 'held.jsonl');
    writeFileSync(p, Array.from({ length: 2000 }, (_, i) => JSON.stringify({ i, text: 'x'.repeat(40) })).join('\n') + '\n');
    const live = await LiveJsonlFile.open(p, { pollMs: 0, throttleMs: 0, watch: false, limits: { chunkBytes: 2048 } });
    try {
      const release = live.holdAnalysis();
      await waitFor(() => live.file.index.complete, 'the index');
      await new Promise((r) => setTimeout(r, 300));
      const during = live.file.stats().analyzedLines;
      assert.ok(during < 2000, `analysis went on while held: ${during} of 2000 lines`);
      release();
      release(); // a second call is a no-op
      await live.ready;
      assert.equal(live.file.stats().analyzedLines, 2000);
    } finally {
      await live.dispose();
    }
  });

  for (const mode of ['fs.watch', 'polling'] as const) {
    it(`notices appended lines and a truncation by itself (${mode})`, async () => {
      const p = join(dir, 'live.jsonl');
      writeFileSync(p, '{"a":1}\n');
      const live = await LiveJsonlFile.open(p, mode === 'polling' ? { useFsWatch: false, pollMs: 50, throttleMs: 0 } : { pollMs: 0, throttleMs: 0 });
      let grown = 0;
      let resets = 0;
      live.onGrown(() => grown++);
      live.onReset(() => resets++);
      try {
        await live.ready;
        assert.equal(live.file.lineCount, 1);
        appendFileSync(p, '{"a":2}\n{"a":3}\n');
        await waitFor(() => live.file.lineCount === 3 && grown > 0, 'growth');
        writeFileSync(p, '{"b":1}\n');
        await waitFor(() => resets > 0 && live.file.lineCount === 1 && live.file.stats().keys[0]?.name === 'b', 'reset');
      } finally {
        await live.dispose();
      }
    });
  }
});
