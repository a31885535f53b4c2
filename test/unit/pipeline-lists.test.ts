import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/core/llm/client';
import type { LlmClient } from '../../src/core/llm/types';
import {
  ListConversionError, convertResponseToList, parseListLocally, checkList, MinHashDeduper, jaccard, shingles,
  loadPipelineSource, runPipeline, resolveParameters, templateStore,
} from '../../src/core/pipeline';
import { YamlSource } from '../../src/core/config/yamlSource';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel, type FakeModelOptions } from '../fixtures/pipelines/fakeModel';

describe('pipeline list conversion', () => {
  it('parses numbered, bulleted and YAML lists locally, ignoring preambles', () => {
    assert.deepEqual(parseListLocally('Sure! Here they are:\n1. Alpha\n2) **Beta**\n3. "Gamma"\nThanks.'), ['Alpha', 'Beta', 'Gamma']);
    assert.deepEqual(parseListLocally('Topics:\n- one\n* two\n• three'), ['one', 'two', 'three']);
    assert.deepEqual(parseListLocally('```yaml\n- "a: b"\n- c\n```'), ['a: b', 'c']);
    assert.deepEqual(parseListLocally('1. A long item\n   that wraps\n2. B'), ['A long item that wraps', 'B']);
    assert.equal(parseListLocally('Just a sentence with no list.'), undefined);
  });

  it('rejects a count mismatch, or trims a longer list when asked', () => {
    const text = '1. a\n2. b\n3. c';
    assert.throws(() => checkList(['a', 'b', 'c'], text, { expectedCount: 2 }), (e: unknown) => e instanceof ListConversionError && e.reason === 'count_mismatch' && e.expected === 2 && e.got === 3);
    assert.deepEqual(checkList(['a', 'b', 'c'], text, { expectedCount: 2, trim: true }), ['a', 'b']);
    assert.throws(() => checkList(['a'], text, { expectedCount: 2, trim: true }), /expected 2 list elements, got 1/);
  });

  it('rejects an element that does not appear in the response (hallucination)', () => {
    assert.throws(() => checkList(['Paris', 'Atlantis'], 'Cities: Paris and Rome', {}), (e: unknown) => e instanceof ListConversionError && e.reason === 'hallucination' && e.element === 'Atlantis');
    assert.deepEqual(checkList(['Paris.'], 'I love “paris”', {}), ['Paris.']);
  });

  describe('with a model rewrite', () => {
    let server: MockServer;
    let client: LlmClient;
    let opts: FakeModelOptions = {};
    before(async () => {
      server = await startMockServer({ respond: (req) => fakeModel(opts)(req) });
      client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
    });
    after(async () => { await client.close(); await server.close(); });
    afterEach(() => { opts = {}; });

    it('asks the model for a YAML list when the local parser finds none', async () => {
      const r = await convertResponseToList(client, 'Sure. Red is one item. Also\nBlue is one item.', { expectedCount: 2 });
      assert.deepEqual(r, { items: ['Red', 'Blue'], method: 'model' });
    });

    it('a rewrite that invents an element fails with ListConversionError', async () => {
      opts = { inventInRewrite: 'Green' };
      await assert.rejects(convertResponseToList(client, 'Sure. Red is one item. Also\nBlue is one item.', {}), (e: unknown) => e instanceof ListConversionError && e.reason === 'hallucination');
    });

    const PIPE = `
name: lists
parameters:
  on_failure: { type: string, default: error }
  trim: { type: bool, default: false }
stages:
  - name: topics_raw
    kind: generate
    template: open_qa/macro_topics
    vars: { count: 2 }
  - name: topic_lists
    kind: parse_list
    count: 2
    output: topics
  - name: topics
    kind: expand
    field: topics
    as: topic
  - name: subs_raw
    kind: generate
    template: open_qa/subtopics
    vars: { count: 3 }
  - name: sub_lists
    kind: parse_list
    count: 3
    on_failure: "{{on_failure}}"
    trim: "{{trim}}"
    output: subtopics
  - name: subs
    kind: expand
    field: subtopics
    as: subtopic
`;
    const def = () => {
      const r = loadPipelineSource(YamlSource.fromText('lists.yaml', PIPE), { templates: templateStore() });
      assert.deepEqual(r.errors, []);
      return r.def!;
    };
    let dir: string;
    beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-lists-')); });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));
    const run = (sets: Record<string, string>) => {
      const d = def();
      return runPipeline({ def: d, params: resolveParameters(d, sets), templates: templateStore(), outputDir: dir, client: () => client, concurrency: 2 });
    };
    const outRows = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

    it('a failure in the first stage with on_failure: error (the default) stops the run with ListConversionError', async () => {
      opts = { wrongCount: (p) => (p.includes('broad topics') ? 3 : undefined) };
      const r = await run({ on_failure: 'ignore' });
      assert.equal(r.status, 'failed');
      assert.ok(r.listError instanceof ListConversionError);
      assert.equal(r.listError!.reason, 'count_mismatch');
      assert.match(r.error!, /stage topic_lists: ListConversionError \(count_mismatch\)/);
    });

    it('on_failure ignore drops the failing rows of a later stage', async () => {
      // One of the two topics gets 4 subtopics instead of 3.
      opts = { wrongCount: (p) => (/topic is: Item .*-1\b/.test(p) ? 4 : undefined) };
      const r = await run({ on_failure: 'ignore' });
      assert.equal(r.status, 'completed', r.error ?? '');
      assert.equal(outRows(r.output).length, 3);
      const stage = outRows(join(dir, 'stages', 'sub_lists.jsonl'));
      assert.equal(stage.filter((x) => x._empty && /count_mismatch/.test(x._reason)).length, 1);
    });

    it('trim keeps the first N of a longer list instead of dropping it', async () => {
      opts = { wrongCount: (p) => (/topic is: Item .*-1\b/.test(p) ? 4 : undefined) };
      const r = await run({ on_failure: 'ignore', trim: 'true' });
      assert.equal(r.status, 'completed', r.error ?? '');
      assert.equal(outRows(r.output).length, 6);
    });

    it('on_failure error stops a later stage with the typed error', async () => {
      opts = { wrongCount: (p) => (/topic is: Item .*-1\b/.test(p) ? 1 : undefined) };
      const r = await run({ on_failure: 'error' });
      assert.equal(r.status, 'failed');
      assert.equal(r.listError?.reason, 'count_mismatch');
      assert.match(r.error!, /stage sub_lists/);
    });
  });
});

describe('pipeline dedup', () => {
  it('MinHash finds near-duplicates and keeps different texts', () => {
    const d = new MinHashDeduper({ threshold: 0.7, seed: 3 });
    const a = 'How do I bake a loaf of sourdough bread at home with a simple starter and a dutch oven';
    const b = 'How do I bake a loaf of sourdough bread at home with a simple starter and a dutch oven?';
    const c = 'What are the main causes of inflation in a modern economy with a central bank';
    assert.equal(d.isDuplicate(a), false);
    assert.equal(d.isDuplicate(b), true);
    assert.equal(d.isDuplicate(c), false);
    assert.ok(jaccard(shingles(a, 3), shingles(c, 3)) < 0.1);
  });

  it('dedup stages (exact and minhash) in a pipeline', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-dedup-'));
    mkdirSync(join(dir, 'p'));
    const yaml = `
name: d
parameters:
  items: { type: list, default: ["Alpha beta gamma delta epsilon zeta", "alpha beta gamma delta epsilon zeta!", "Something else entirely here now", "Alpha beta gamma delta epsilon zeta eta"] }
stages:
  - { name: src, kind: source, values: "{{items}}", as: text }
  - { name: exact, kind: dedup, field: text, method: exact }
  - { name: near, kind: dedup, field: text, method: minhash, threshold: 0.5, shingle_size: 2 }
  - { name: long, kind: filter, expr: "words(text) >= 5" }
  - { name: first2, kind: limit, count: 2 }
  - { name: pick, kind: sample, from: src, count: 2, seed: 5 }
  - { name: styles, kind: source, values: [short, long], as: style }
  - { name: crossed, kind: cross, from: first2, with_stage: styles, as: style }
  - { name: shaped, kind: format, fields: { line: "{{style}}: {{text}}", n: "{{id}}" }, keep: [style] }
  - { name: skipped, kind: filter, expr: "false", when: false }
`;
    writeFileSync(join(dir, 'p', 'd.yaml'), yaml);
    const r = loadPipelineSource(YamlSource.fromText('d.yaml', yaml), { templates: templateStore() });
    assert.deepEqual(r.errors, []);
    const opts = { def: r.def!, params: resolveParameters(r.def!), templates: templateStore(), outputDir: join(dir, 'out'), client: () => { throw new Error('no model needed'); } };
    const first = runPipeline(opts);
    await assert.rejects(runPipeline(opts), /already running in this process/);
    const res = await first;
    assert.equal(res.status, 'completed', res.error ?? '');
    const count = (s: string) => readFileSync(join(dir, 'out', 'stages', `${s}.jsonl`), 'utf8').split('\n').filter(Boolean).length;
    assert.equal(count('exact'), 3);
    assert.equal(count('near'), 2);
    assert.equal(count('first2'), 2);
    assert.equal(count('pick'), 2);
    const rowsOf = (st: string) => readFileSync(join(dir, 'out', 'stages', `${st}.jsonl`), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    assert.deepEqual(rowsOf('pick').map((r) => r.id), rowsOf('pick').map((r) => r.id).sort(), 'sample keeps input order');
    const shaped = rowsOf('shaped');
    assert.equal(shaped.length, 4);
    assert.match(shaped[0].line, /^short: Alpha beta/);
    assert.deepEqual(Object.keys(shaped[0]).sort(), ['id', 'line', 'n', 'provenance', 'style']);
    assert.equal(shaped[0].provenance.parents.style, 'short');
    assert.equal(count('skipped'), 4, 'a stage whose when is false passes its input through');
    rmSync(dir, { recursive: true, force: true });
  });

  it('one run per folder across processes: a folder held by another live process is refused before config.json or --overwrite touch it; a dead holder\'s lock is taken over', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'sdg-folder-lock-'));
    const out = join(dir, 'out');
    mkdirSync(out);
    const yaml = 'name: l\nstages:\n  - { name: src, kind: source, values: [a, b], as: text }\n';
    const r = loadPipelineSource(YamlSource.fromText('l.yaml', yaml), { templates: templateStore() });
    const opts = { def: r.def!, params: resolveParameters(r.def!), templates: templateStore(), outputDir: out, client: () => { throw new Error('no model needed'); }, overwrite: true };
    writeFileSync(join(out, 'output.jsonl'), 'kept\n');
    // Another process holds the folder (as a second `sdg run` would).
    const holder = spawn(process.execPath, ['-r', 'tsx/cjs', '-e', `require(${JSON.stringify(join(__dirname, '../../src/core/run/lock'))}).acquireLock(${JSON.stringify(join(out, 'run.lock'))}).then(() => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((res, rej) => {
        holder.stdout!.on('data', (d: Buffer) => d.toString().includes('held') && res());
        holder.once('exit', (c) => rej(new Error(`the lock holder exited (${c})`)));
      });
      await assert.rejects(runPipeline(opts), (e: Error) => e.name === 'RunInUseError' && e.message.includes(`pid ${holder.pid}`));
      assert.equal(readFileSync(join(out, 'output.jsonl'), 'utf8'), 'kept\n', '--overwrite deleted output of a folder in use');
      assert.ok(!existsSync(join(out, 'config.json')), 'config.json written into a folder in use');
    } finally {
      holder.kill('SIGKILL');
      await new Promise((res) => holder.once('exit', res));
    }
    // The holder died without releasing: its lock is stale (dead pid on this host).
    const res = await runPipeline(opts);
    assert.equal(res.status, 'completed', res.error ?? '');
    assert.ok(!existsSync(join(out, 'run.lock')), 'the folder lock is released at the end');
    rmSync(dir, { recursive: true, force: true });
  });
});
