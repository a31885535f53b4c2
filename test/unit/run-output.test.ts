import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runItems } from '../../src/core/engine';
import { CorruptOutputError, OutputInUseError, openRunOutput } from '../../src/core/run/output';
import { spawn, spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { KeySet } from '../../src/core/run/keySet';
import fc from 'fast-check';
import { FakeClock, FakeLlmClient, range } from '../support/engineFakes';

interface Row { id: string; n?: number; c?: number; text?: string; error?: string | null }

const line = (r: Row) => JSON.stringify(r) + '\n';
const item = (id: string, n: number) => range(n).map((c) => line({ id, n, c, text: `t${c}` })).join('');

function open(path: string, extra: { overwrite?: boolean } = {}) {
  return openRunOutput<Row>({ path, keyOf: (r) => r.id, rowsPerItem: (r) => r.n ?? 1, ...extra });
}

function rowsOf(path: string): Row[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
}

describe('run output: resume and repair', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-run-'));
    file = join(dir, 'out.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a missing file starts fresh', async () => {
    const out = await open(file);
    assert.equal(out.recovery.fresh, true);
    assert.equal(out.doneKeys.size, 0);
    await out.writeItem([{ id: 'a' }]);
    await out.close();
    assert.deepEqual(rowsOf(file), [{ id: 'a' }]);
  });

  it('collects done keys of complete items and leaves a clean file untouched', async () => {
    const text = item('a', 2) + item('b', 3) + item('c', 1);
    writeFileSync(file, text);
    const out = await open(file);
    await out.close();
    assert.equal(out.doneKeys.size, 3);
    assert.ok(out.doneKeys.has('a') && out.doneKeys.has('b') && out.doneKeys.has('c'));
    assert.equal(out.recovery.rows, 6);
    assert.equal(out.recovery.compacted, false);
    assert.equal(out.recovery.truncatedBytes, 0);
    assert.equal(readFileSync(file, 'utf8'), text);
  });

  it('repairs a torn last line', async () => {
    const good = item('a', 1) + item('b', 1);
    writeFileSync(file, good + '{"id":"c","n":1,"te');
    const out = await open(file);
    assert.equal(out.doneKeys.has('c'), false);
    await out.writeItem([{ id: 'c', n: 1, text: 'again' }]);
    // Written items count as done from then on (a later duplicate in the input is skipped).
    assert.equal(out.doneKeys.has('c'), true);
    await out.writeItem([{ id: 'd', error: 'failed' }]);
    assert.equal(out.doneKeys.has('d'), false);
    await out.close();
    assert.equal(out.recovery.truncatedBytes, '{"id":"c","n":1,"te'.length);
    assert.deepEqual(rowsOf(file).map((r) => r.id), ['a', 'b', 'c', 'd']);
  });

  it('removes an incomplete last item (2 of 3 rows) and a torn row inside it', async () => {
    const good = item('a', 3);
    const partial = item('b', 3).split('\n').slice(0, 2).join('\n') + '\n{"id":"b","n":3,"c"';
    writeFileSync(file, good + partial);
    const out = await open(file);
    await out.close();
    assert.equal(out.recovery.incompleteRemoved, 1);
    assert.equal(readFileSync(file, 'utf8'), good);
    assert.equal(out.doneKeys.has('b'), false);
  });

  it('keeps a whole last line that only lacks its newline, and adds the newline', async () => {
    writeFileSync(file, item('a', 1) + JSON.stringify({ id: 'b', n: 1 }));
    const out = await open(file);
    await out.writeItem([{ id: 'c' }]);
    await out.close();
    assert.ok(out.doneKeys.has('b'));
    assert.deepEqual(rowsOf(file).map((r) => r.id), ['a', 'b', 'c']);
  });

  it('compacts failed rows away (atomically) so they are retried without duplicates', async () => {
    writeFileSync(file, item('a', 2) + line({ id: 'b', error: '500 boom' }) + item('c', 2) + line({ id: 'd', error: 'x' }) + line({ id: 'e', error: 'y' }) + item('f', 1));
    const out = await open(file);
    await out.close();
    assert.equal(out.recovery.failedRemoved, 3);
    assert.equal(out.recovery.compacted, true);
    assert.deepEqual(rowsOf(file).map((r) => r.id), ['a', 'a', 'c', 'c', 'f']);
    assert.deepEqual(['a', 'b', 'c', 'd', 'e', 'f'].map((k) => out.doneKeys.has(k)), [true, false, true, false, false, true]);
    assert.deepEqual(readdirSync(dir), ['out.jsonl']); // no temp file left behind
  });

  it('removes the temp file of a compaction killed half-way', async () => {
    writeFileSync(file, item('a', 1));
    writeFileSync(join(dir, 'out.jsonl.compact-999999999.tmp'), 'half a copy');
    writeFileSync(join(dir, 'out.jsonl.compact-notapid.tmp'), 'not ours');
    const out = await open(file);
    await out.close();
    assert.deepEqual(readdirSync(dir).sort(), ['out.jsonl', 'out.jsonl.compact-notapid.tmp']);
  });

  it('drops a failed last item by truncating (no rewrite needed)', async () => {
    writeFileSync(file, item('a', 1) + line({ id: 'b', error: 'x' }));
    const out = await open(file);
    await out.close();
    assert.equal(out.recovery.compacted, false);
    assert.equal(readFileSync(file, 'utf8'), item('a', 1));
  });

  it('drops incomplete items in the middle and later duplicates of a done item', async () => {
    const bPartial = item('b', 3).split('\n').slice(0, 1).join('\n') + '\n';
    writeFileSync(file, item('a', 2) + bPartial + item('c', 1) + item('a', 2) + item('d', 1));
    const out = await open(file);
    await out.close();
    assert.equal(out.recovery.incompleteRemoved, 1);
    assert.equal(out.recovery.duplicatesRemoved, 1);
    assert.deepEqual(rowsOf(file).map((r) => r.id), ['a', 'a', 'c', 'd']);
  });

  it('refuses a malformed line in the middle, naming file and line', async () => {
    writeFileSync(file, item('a', 1) + 'garbage\n' + item('b', 1));
    await assert.rejects(open(file), (e: unknown) => e instanceof CorruptOutputError && e.line === 2 && /out\.jsonl line 2: invalid JSON/.test(e.message) && /--overwrite/.test(e.message));
  });

  it('tolerates BOM, CRLF and blank lines written by other tools', async () => {
    writeFileSync(file, '\uFEFF{"id":"a"}\r\n\r\n{"id":"b"}\r\n');
    const out = await open(file);
    await out.close();
    assert.equal(out.doneKeys.size, 2);
  });

  it('overwrite starts from an empty file', async () => {
    writeFileSync(file, item('a', 1));
    const out = await open(file, { overwrite: true });
    await out.close();
    assert.equal(out.doneKeys.size, 0);
    assert.equal(readFileSync(file, 'utf8'), '');
  });

  it('end to end: a resumed job requests only missing and failed items and leaves each key once', async () => {
    // Session 1 left: 0-9 done, 10 failed, 11 torn.
    let text = '';
    for (const i of range(10)) text += item(`k${i}`, 2);
    text += line({ id: 'k10', error: '503' }) + '{"id":"k11","n":2,"c":0';
    writeFileSync(file, text);
    const out = await open(file);
    const client = new FakeLlmClient();
    const result = await runItems<number, Row>({
      items: range(15),
      keyOf: (i) => `k${i}`,
      async execute(i, ctx) {
        const res = await ctx.query(client, [{ role: 'user', content: `k${i}` }], { n: 2 });
        return res.choices.map((c, j) => ({ id: `k${i}`, n: 2, c: j, text: c.text }));
      },
      errorRow: (i, e) => ({ id: `k${i}`, error: String(e) }),
      sink: out,
      concurrency: 3,
      clock: new FakeClock(),
    });
    await out.close();
    assert.equal(result.skipped, 10);
    assert.deepEqual(client.log.map((c) => c.messages[0].content).sort(), ['k10', 'k11', 'k12', 'k13', 'k14']);
    const counts = new Map<string, number>();
    for (const r of rowsOf(file)) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    assert.equal(counts.size, 15);
    for (const [k, n] of counts) assert.equal(n, 2, k);
  });
});

describe('run output: lock', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-lock-'));
    file = join(dir, 'out.jsonl');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('one writer per file in this process; the lock goes away on close', async () => {
    const a = await open(file);
    await assert.rejects(open(file), (e: unknown) => e instanceof OutputInUseError && /another job in this process/.test(e.message));
    await a.close();
    assert.deepEqual(readdirSync(dir), ['out.jsonl']);
    const b = await open(file);
    await b.close();
  });

  it('refuses while another live process holds the lock, takes over a dead one', async () => {
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      writeFileSync(`${file}.lock`, JSON.stringify({ pid: sleeper.pid, host: hostname() }));
      await assert.rejects(open(file), (e: unknown) => e instanceof OutputInUseError && e.pid === sleeper.pid && /delete .*out\.jsonl\.lock/.test(e.message));
    } finally {
      sleeper.kill('SIGKILL');
    }
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString());
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: dead, host: hostname() }));
    const out = await open(file);
    assert.equal(JSON.parse(readFileSync(`${file}.lock`, 'utf8')).pid, process.pid);
    await out.close();
    // A lock from another host, or a garbled one, is live while its heartbeat is fresh...
    writeFileSync(`${file}.lock`, JSON.stringify({ pid: 4242, host: 'elsewhere' }));
    await assert.rejects(open(file), (e: unknown) => e instanceof OutputInUseError && e.pid === 4242 && /pid 4242 on host elsewhere/.test(e.message));
    // ...and stale once it has missed its heartbeats (here: last touched 10 minutes ago).
    const old = new Date(Date.now() - 600_000);
    utimesSync(`${file}.lock`, old, old);
    await (await open(file)).close();
    writeFileSync(`${file}.lock`, '{"pid":');
    await assert.rejects(open(file), OutputInUseError);
    utimesSync(`${file}.lock`, old, old);
    await (await open(file)).close();
  });
});

describe('run output: repair property', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-run-prop-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('after open: only complete, successful, first copies of items remain, in order, and doneKeys matches', async () => {
    const itemArb = fc.record({
      key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      n: fc.integer({ min: 1, max: 3 }),
      kind: fc.constantFrom('ok', 'ok', 'ok', 'failed', 'partial'),
    });
    let run = 0;
    await fc.assert(fc.asyncProperty(fc.array(itemArb, { maxLength: 12 }), fc.nat({ max: 40 }), async (items, tornBytes) => {
      const file = join(dir, `p${run++}.jsonl`);
      // Build the file and what must survive.
      let text = '';
      const expected: string[] = [];
      const done = new Set<string>();
      items.forEach((it, idx) => {
        let rows: string[];
        if (it.kind === 'failed') rows = [line({ id: it.key, error: 'boom' })];
        else {
          rows = range(it.n).map((c) => line({ id: it.key, n: it.n, c, text: `x${idx}` }));
          if (it.kind === 'partial') rows = rows.slice(0, it.n - 1);
        }
        text += rows.join('');
        // An item only counts if it is complete and not glued to the previous item's rows.
        if (it.kind === 'ok' && !done.has(it.key)) {
          done.add(it.key);
          expected.push(...rows);
        }
      });
      // Glued rows (a partial item followed by rows of the same key) make the oracle ambiguous: skip those cases.
      for (let i = 1; i < items.length; i++) if (items[i].key === items[i - 1].key && items[i - 1].kind === 'partial') return;
      for (let i = 0; i < items.length; i++) if (items[i].kind === 'partial' && items[i].n === 1) return; // 0 rows: nothing written
      const torn = tornBytes > 0 ? `{"id":"z","n":1,"text":"${'y'.repeat(tornBytes)}` : '';
      writeFileSync(file, text + torn);
      const out = await openRunOutput<Row>({ path: file, keyOf: (r) => r.id, rowsPerItem: (r) => r.n ?? 1 });
      await out.close();
      assert.equal(readFileSync(file, 'utf8'), expected.join(''));
      assert.equal(out.doneKeys.size, done.size);
      for (const k of done) assert.ok(out.doneKeys.has(k));
      assert.ok(!out.doneKeys.has('z'));
    }), { numRuns: 300 });
  });
});

describe('run output: KeySet', () => {
  it('has exactly the keys added, across growth', () => {
    const s = new KeySet();
    for (let i = 0; i < 50_000; i++) assert.equal(s.add(`item-${i}#${i % 7}`), true);
    assert.equal(s.add('item-5#5'), false);
    assert.equal(s.size, 50_000);
    for (let i = 0; i < 50_000; i++) assert.ok(s.has(`item-${i}#${i % 7}`));
    let falsePositives = 0;
    for (let i = 0; i < 50_000; i++) if (s.has(`other-${i}`)) falsePositives++;
    assert.equal(falsePositives, 0);
    assert.equal(s.has(''), false);
    s.add('');
    assert.equal(s.has(''), true);
  });

  it('stays compact: 1M keys in a table of at most 32 MB and far less heap than a Set<string>', () => {
    const s = new KeySet();
    for (let i = 0; i < 1_000_000; i++) s.add(`gsm8k-train-${i}#sample-${i & 63}`);
    assert.equal(s.size, 1_000_000);
    assert.ok(s.byteLength <= 32 * 1024 * 1024, `table is ${s.byteLength} bytes`);
  });
});
