/**
 * Failures that must not stop a run (issue 14): `on_failure` at every list stage, the first list
 * continuing with a short list, fresh requests for answers that cannot be converted (in the same
 * run and on a rerun), and token usage in manifest.json. All against the loopback mock server.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YamlSource } from '../../src/core/config/yamlSource';
import { createClient } from '../../src/core/llm/client';
import type { LlmClient } from '../../src/core/llm/types';
import { readManifest } from '../../src/core/run';
import {
  ATTEMPT_SEED_STRIDE, loadPipelineSource, parseListLocally, resolveParameters, resolvePipeline, runPipeline, templateStore, type PipelineDef,
} from '../../src/core/pipeline';
import { startMockServer, type MockRequest, type MockServer } from '../support/mockServer';
import { fakeModel, lastUser, type FakeModelOptions } from '../fixtures/pipelines/fakeModel';

const rowsOf = (file: string): any[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const DOCS = join(__dirname, '../fixtures/pipelines/docs.jsonl');

/** True for the first request of an item (not a fresh retry request with an attempt seed). */
const original = (req: MockRequest) => (req.seed ?? 0) < ATTEMPT_SEED_STRIDE;

describe('pipeline failures never stop a run', function () {
  this.timeout(60_000);
  let server: MockServer;
  let client: LlmClient;
  // The answer of the current test: a fakeModel hook that may look at the whole request (its seed).
  let answer: (req: MockRequest) => FakeModelOptions = () => ({});
  let dir: string;
  before(async () => {
    server = await startMockServer({ respond: (req) => fakeModel(answer(req))(req) });
    client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
  });
  after(async () => { await client.close(); await server.close(); });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-fail-')); server.resetStats(); });
  afterEach(() => { answer = () => ({}); rmSync(dir, { recursive: true, force: true }); });

  const run = (def: PipelineDef, sets: Record<string, string>, extra: { templates?: ReturnType<typeof templateStore> } = {}) =>
    runPipeline({ def, params: resolveParameters(def, sets), templates: extra.templates ?? templateStore(), outputDir: join(dir, 'run'), client: () => client, concurrency: 4 });

  describe('on_failure at every list stage', () => {
    it('writing: a task list one item short is dropped (on_failure ignore), the run completes and records why', async () => {
      const { def } = resolvePipeline('writing');
      // Every task list about "Friendship" is one item short, whatever the seed.
      answer = () => ({ wrongCount: (p) => (/Friendship/.test(p) && /Create 3 writing tasks/.test(p) ? 2 : undefined) });
      const r = await run(def, { topics: 'Space,Friendship', text_material_types: 'Poems', n_openlines: '3', n_revisions: '2', list_retries: '0', trim_lists: 'false' });
      assert.equal(r.status, 'completed', r.error ?? '');
      assert.equal(rowsOf(r.output).length, 1 * 3 * 2, 'only the Space tasks remain');
      const dropped = rowsOf(join(dir, 'run', 'stages', 'task_lists.jsonl')).filter((x) => x._empty);
      assert.equal(dropped.length, 1);
      assert.match(dropped[0]._reason, /ListConversionError \(count_mismatch\): expected 3 list elements, got 2/);
    });

    it('closed_qa takes on_failure: ignore drops a document\'s questions, error stops the run', async () => {
      const { def } = resolvePipeline('closed_qa');
      assert.ok(def.parameters.some((p) => p.name === 'on_failure'), 'closed_qa has on_failure');
      answer = () => ({ wrongCount: (p) => (/Photosynthesis/.test(p) ? 1 : undefined) });
      const ok = await run(def, { documents: DOCS, n_openlines: '2', list_retries: '0' });
      assert.equal(ok.status, 'completed', ok.error ?? '');
      const docs = rowsOf(DOCS).length;
      assert.equal(rowsOf(ok.output).length, (docs - 1) * 2);
      rmSync(join(dir, 'run'), { recursive: true, force: true });
      const stop = await run(def, { documents: DOCS, n_openlines: '2', list_retries: '0', on_failure: 'error' });
      assert.equal(stop.status, 'failed');
      assert.match(stop.error!, /^stage question_lists: ListConversionError \(count_mismatch\)/);
    });

    it('the first list conversion honours on_failure ignore: a short first list continues with what it got', async () => {
      const { def } = resolvePipeline('open_qa');
      // 3 broad topics asked, 2 given (every time).
      answer = () => ({ wrongCount: (p) => (/broad topics/.test(p) ? 2 : undefined) });
      const r = await run(def, { n_macro_topics: '3', n_subtopics: '1', n_openlines: '1', n_revisions: '1', combine_topics: 'false', list_retries: '0' });
      assert.equal(r.status, 'completed', r.error ?? '');
      const first = rowsOf(join(dir, 'run', 'stages', 'macro_topic_lists.jsonl'));
      assert.equal(first.length, 1);
      assert.equal(first[0].topics.length, 2);
      assert.deepEqual(first[0].provenance.list_partial, { expected: 3, got: 2 });
      assert.equal(rowsOf(r.output).length, 2);
    });

    it('the first list stops the run with a clear message only when it has nothing usable; a rerun asks again', async () => {
      const pipe = `
name: first
parameters:
  on_failure: { type: string, default: ignore }
stages:
  - name: topics_raw
    kind: generate
    template: open_qa/macro_topics
    vars: { count: 2 }
    params: { seed: 7 }
  - name: topic_lists
    kind: parse_list
    count: 2
    on_failure: "{{on_failure}}"
    output: topics
  - name: topics
    kind: expand
    field: topics
    as: topic
`;
      const r0 = loadPipelineSource(YamlSource.fromText('first.yaml', pipe), { templates: templateStore() });
      assert.deepEqual(r0.errors, []);
      // Prose the local parser cannot read, and a model rewrite that invents an item.
      answer = () => ({ prose: () => true, inventInRewrite: 'Atlantis' });
      const r = await run(r0.def!, {});
      assert.equal(r.status, 'failed');
      assert.match(r.error!, /^stage topic_lists: ListConversionError \(hallucination\)/);
      assert.match(r.error!, /first list of the pipeline gave nothing usable/);
      assert.match(r.error!, /run the same command again to retry it with a fresh request/);
      assert.doesNotMatch(r.error!, /stage topic_lists: stage topic_lists/);
      // The model behaves now: the same command again sends a fresh request (a new seed).
      answer = () => ({});
      const again = await run(r0.def!, {});
      assert.equal(again.status, 'completed', again.error ?? '');
      const list = rowsOf(join(dir, 'run', 'stages', 'topic_lists.jsonl'));
      assert.equal(list.length, 1);
      assert.equal(list[0].provenance.list_attempt, 1);
      assert.equal(list[0].provenance.seed, list[0].provenance.seed % ATTEMPT_SEED_STRIDE + ATTEMPT_SEED_STRIDE);
    });
  });

  describe('fresh requests for answers that cannot be converted', () => {
    const WRITING = { topics: 'Space,Friendship', text_material_types: 'Poems', n_openlines: '3', n_revisions: '1', trim_lists: 'false' };
    // Task lists about Friendship are short on the original request only: a retry (new seed) fixes them.
    const shortFirstTime = (req: MockRequest): FakeModelOptions => ({
      wrongCount: (p) => (/Friendship/.test(p) && /Create 3 writing tasks/.test(p) && original(req) ? 2 : undefined),
    });

    it('retries: N sends the generate request again with a new seed instead of parsing the stored answer again', async () => {
      const { def } = resolvePipeline('writing');
      answer = shortFirstTime;
      const r = await run(def, { ...WRITING, list_retries: '1' });
      assert.equal(r.status, 'completed', r.error ?? '');
      assert.equal(rowsOf(r.output).length, 2 * 3);
      const fixed = rowsOf(join(dir, 'run', 'stages', 'task_lists.jsonl')).filter((x) => x.provenance.list_attempt === 1);
      assert.equal(fixed.length, 1);
      assert.equal(fixed[0].topic, 'Friendship');
      assert.ok(fixed[0].provenance.seed >= ATTEMPT_SEED_STRIDE, 'sent with an attempt seed');
      const seeds = server.requests.map((q) => q.body?.seed).filter((s) => typeof s === 'number');
      assert.ok(seeds.includes(fixed[0].provenance.seed), 'the recorded seed is the one sent');
    });

    it('a rerun of a run whose items failed retries them with a fresh request, no settings change needed', async () => {
      const { def } = resolvePipeline('writing');
      answer = shortFirstTime;
      const sets = { ...WRITING, list_retries: '0', on_failure: 'error' };
      const first = await run(def, sets);
      assert.equal(first.status, 'failed');
      assert.match(first.error!, /stage task_lists: ListConversionError \(count_mismatch\)/);
      const failedRow = rowsOf(join(dir, 'run', 'stages', 'task_lists.jsonl')).find((x) => x._error);
      assert.equal(failedRow._attempts, 1);
      // Same command, same settings.
      const second = await run(def, sets);
      assert.equal(second.status, 'completed', second.error ?? '');
      assert.equal(rowsOf(second.output).length, 2 * 3);
    });

    it('each rerun of a still-failing item sends one fresh request (retries: 0), with the next attempt seed', async () => {
      const { def } = resolvePipeline('writing');
      answer = () => ({ wrongCount: (p) => (/Friendship/.test(p) && /Create 3 writing tasks/.test(p) ? 2 : undefined) });
      const sets = { ...WRITING, list_retries: '0', on_failure: 'error' };
      const taskSeeds = () => server.requests
        .filter((q) => /Friendship/.test(JSON.stringify(q.body?.messages ?? '')) && /Create 3 writing tasks/.test(JSON.stringify(q.body?.messages ?? '')))
        .map((q) => q.body.seed as number);
      for (let run_ = 1; run_ <= 3; run_++) {
        const r = await run(def, sets);
        assert.equal(r.status, 'failed');
        const failed = rowsOf(join(dir, 'run', 'stages', 'task_lists.jsonl')).find((x) => x._error);
        assert.equal(failed._attempts, run_, `run ${run_}`);
      }
      const seeds = taskSeeds();
      assert.equal(seeds.length, 3, 'the original request, then one per rerun');
      assert.deepEqual(seeds.map((x) => Math.floor(x / ATTEMPT_SEED_STRIDE)), [0, 1, 2]);
      assert.equal(new Set(seeds.map((x) => x % ATTEMPT_SEED_STRIDE)).size, 1, 'the same item seed plus an attempt stride');
    });

    it('dropped items stay in the stage file with the reason and the number of requests', async () => {
      const { def } = resolvePipeline('writing');
      answer = () => ({ wrongCount: (p) => (/Friendship/.test(p) && /Create 3 writing tasks/.test(p) ? 2 : undefined) });
      const r = await run(def, { ...WRITING, list_retries: '2' });
      assert.equal(r.status, 'completed', r.error ?? '');
      const dropped = rowsOf(join(dir, 'run', 'stages', 'task_lists.jsonl')).filter((x) => x._empty);
      assert.equal(dropped.length, 1);
      assert.match(dropped[0]._reason, /count_mismatch.*\(after 3 requests\)/);
      const taskPrompts = server.requests.filter((q) => /Friendship/.test(JSON.stringify(q.body?.messages ?? '')) && /Create 3 writing tasks/.test(JSON.stringify(q.body?.messages ?? '')));
      assert.equal(taskPrompts.length, 3, 'the original request and two retries');
    });
  });

  describe('local list parsing', () => {
    it('nested sub-bullets are dropped, never merged into their parent', () => {
      assert.deepEqual(parseListLocally('Topics:\n1. Algebra\n   - linear equations\n   - quadratics\n2. Geometry\n   * triangles\n3. Calculus'), ['Algebra', 'Geometry', 'Calculus']);
      assert.deepEqual(parseListLocally('- Fruit\n  - apple\n  - pear\n- Vegetables\n    - leek'), ['Fruit', 'Vegetables']);
      // A wrapped line without a marker still continues its item.
      assert.deepEqual(parseListLocally('1. A long item\n   that wraps\n   - a detail\n2. B'), ['A long item that wraps', 'B']);
    });

    it('a numbered list written on one line is split', () => {
      assert.deepEqual(parseListLocally('Here are three: 1. Alpha 2. Beta gamma 3. Delta'), ['Alpha', 'Beta gamma', 'Delta']);
      assert.deepEqual(parseListLocally('1) Red 2) Green'), ['Red', 'Green']);
      // Numbers that do not continue the count stay inside the item.
      assert.deepEqual(parseListLocally('1. Upgrade to version 2.5 today'), ['Upgrade to version 2.5 today']);
    });
  });

  describe('token usage', () => {
    it('manifest.json records the tokens of every request, accumulated across a resume', async () => {
      const { def } = resolvePipeline('writing');
      answer = (req) => ({ wrongCount: (p) => (/Friendship/.test(p) && /Create 2 writing tasks/.test(p) && original(req) ? 1 : undefined) });
      const sets = { topics: 'Space,Friendship', text_material_types: 'Poems', n_openlines: '2', n_revisions: '1', list_retries: '0', on_failure: 'error', trim_lists: 'false' };
      const first = await run(def, sets);
      assert.equal(first.status, 'failed');
      const m1 = await readManifest(join(dir, 'run'));
      assert.equal(m1!.tokens.prompt, server.stats.promptTokens);
      assert.equal(m1!.tokens.completion, server.stats.completionTokens);
      assert.ok(m1!.tokens.prompt > 0);
      const second = await run(def, sets);
      assert.equal(second.status, 'completed', second.error ?? '');
      const m2 = await readManifest(join(dir, 'run'));
      assert.equal(m2!.tokens.prompt, server.stats.promptTokens, 'both sessions counted');
      assert.equal(m2!.tokens.completion, server.stats.completionTokens);
      assert.ok(m2!.tokens.prompt > m1!.tokens.prompt);
    });
  });

  void lastUser;
});
