/**
 * Validation and messages of pipelines (issue 14): model `params` type-checked with file, line and
 * field (in the file and after --set), a reward stage on a model without scores, stage prefixes
 * written once.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YamlSource } from '../../src/core/config/yamlSource';
import { createClient } from '../../src/core/llm/client';
import { loadPipelineSource, resolveParameters, resolvePipeline, runPipeline, templateStore, type PipelineDef } from '../../src/core/pipeline';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel } from '../fixtures/pipelines/fakeModel';

function load(text: string) {
  return loadPipelineSource(YamlSource.fromText('pipes/p.yaml', text), { templates: templateStore() });
}

describe('pipeline model params are type-checked', () => {
  it('in the file: temperature, top_p, n, max_tokens, seed, stop, with file:line:field', () => {
    const r = load(`
name: p
parameters:
  temp: { type: string, default: hot }
  tokens: { type: int, default: 0 }
stages:
  - name: a
    kind: generate
    template: open_qa/macro_topics
    vars: { count: 2 }
    params:
      temperature: 5
      top_p: 1.5
      n: 0
      max_tokens: 2.5
      seed: "x"
      stop: [1]
      repetition_penalty: 1.1
  - name: b
    kind: generate
    template: open_qa/macro_topics
    vars: { count: 2 }
    params: { temperature: "{{temp}}", max_tokens: "{{tokens}}" }
`);
    const by = new Map(r.errors.map((e) => [e.field, e]));
    assert.match(by.get('stages[0].params.temperature')!.message, /must be a number from 0 to 2, got 5/);
    assert.equal(by.get('stages[0].params.temperature')!.line, 12);
    assert.equal(by.get('stages[0].params.temperature')!.file, 'pipes/p.yaml');
    assert.match(by.get('stages[0].params.top_p')!.message, /from 0 to 1/);
    assert.match(by.get('stages[0].params.n')!.message, /whole number >= 1, got 0/);
    assert.equal(by.get('stages[0].params.n')!.line, 14);
    assert.match(by.get('stages[0].params.max_tokens')!.message, /whole number >= 1, got 2.5/);
    assert.match(by.get('stages[0].params.seed')!.message, /whole number/);
    assert.match(by.get('stages[0].params.stop')!.message, /string or a list of strings/);
    assert.ok(!by.has('stages[0].params.repetition_penalty'), 'server-specific keys pass through');
    // After placeholder substitution (the parameters' defaults).
    assert.match(by.get('stages[1].params.temperature')!.message, /got "hot" \(the default of parameter temp\)/);
    assert.match(by.get('stages[1].params.max_tokens')!.message, /got 0 \(the default of parameter tokens\)/);
    assert.equal(r.errors.length, 8);
  });

  it('after --set: a run with an out-of-range value is refused before anything is sent', async () => {
    const { def } = resolvePipeline('open_qa');
    const dir = mkdtempSync(join(tmpdir(), 'sdg-params-'));
    try {
      const params = resolveParameters(def, { temperature: '7', max_tokens: '0' });
      await assert.rejects(
        runPipeline({ def, params, templates: templateStore(), outputDir: dir, client: () => { throw new Error('no client should be made'); } }),
        (e: Error) => /open_qa\.yaml:\d+: stages\[0\]\.params\.temperature: must be a number from 0 to 2, got 7 \(parameter temperature\)/.test(e.message)
          && /stages\[0\]\.params\.max_tokens: must be a whole number >= 1, got 0/.test(e.message),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pipeline messages', function () {
  this.timeout(30_000);
  let server: MockServer;
  let dir: string;
  before(async () => { server = await startMockServer({ respond: fakeModel() }); });
  after(async () => { await server.close(); });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-msg-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (def: PipelineDef, model = 'mock-model') => {
    const client = createClient({ name: 'default', baseUrl: server.url, model, apiKind: 'chat' });
    try {
      return await runPipeline({ def, params: resolveParameters(def, {}), templates: templateStore(), outputDir: join(dir, 'run'), client: () => client, concurrency: 2 });
    } finally {
      await client.close();
    }
  };

  it('a reward stage on a model that returns no scores says so (not "check the base URL")', async () => {
    const r = load(`
name: rw
stages:
  - name: prompts
    kind: source
    values: [Say hi, Say bye]
    as: prompt
  - name: answers
    kind: generate
    template: chat/prompt
    vars: { prompt: "{{prompt}}" }
  - name: scores
    kind: reward
    prompt_field: prompt
    response_field: response
`);
    assert.deepEqual(r.errors, []);
    const res = await run(r.def!);
    assert.equal(res.status, 'failed');
    assert.match(res.error!, /^stage scores: /);
    assert.match(res.error!, /mock-model answered without reward scores: it is not a reward model/);
    assert.doesNotMatch(res.error!, /base URL/);
    assert.doesNotMatch(res.error!, /stage scores: stage scores/);
  });

  it('a stage error is prefixed with its stage once ("stage documents: ...", not twice)', async () => {
    const r = load(`
name: docs
stages:
  - name: documents
    kind: source
    documents: [${JSON.stringify(join(tmpdir(), 'no-such-file-sdg.txt'))}]
`);
    assert.deepEqual(r.errors, []);
    const res = await run(r.def!);
    assert.equal(res.status, 'failed');
    assert.match(res.error!, /^stage documents: cannot read document .*no-such-file-sdg\.txt \(ENOENT\)$/);
    assert.doesNotMatch(res.error!, /stage documents: stage documents/);
  });
});
