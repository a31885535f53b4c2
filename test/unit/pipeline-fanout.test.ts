/**
 * `math` and `coding` fan out like the reference's run_math_pipeline / run_python_pipeline
 * (NeMo Curator, nemo_curator/synthetic/async_nemotron.py):
 *
 *   macro_topics = generated (n_macro_topics) + additional_macro_topics
 *   topics       = n_subtopics per macro topic + additional_subtopics + (combine_topics ? macro_topics : [])
 *   problems     = n_openlines per topic
 *
 * Counted on the requests the loopback mock server receives and on the output rows.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/core/llm/client';
import type { LlmClient } from '../../src/core/llm/types';
import { resolveParameters, resolvePipeline, runPipeline, templateStore } from '../../src/core/pipeline';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel, lastUser } from '../fixtures/pipelines/fakeModel';

/** The reference's numbers of subtopic requests, problem requests and problems. */
function referenceFanOut(o: { nMacro: number; nSub: number; nOpen: number; addMacro: number; addSub: number; combine: boolean }) {
  const macro = o.nMacro + o.addMacro;
  const topics = macro * o.nSub + o.addSub + (o.combine ? macro : 0);
  return { subtopicRequests: macro, problemRequests: topics, problems: topics * o.nOpen };
}

describe('math and coding fan out like the reference', function () {
  this.timeout(60_000);
  let server: MockServer;
  let client: LlmClient;
  let dir: string;
  before(async () => {
    server = await startMockServer({ respond: fakeModel() });
    client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
  });
  after(async () => { await client.close(); await server.close(); });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-fanout-')); server.resetStats(); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const prompts = () => server.requests.filter((r) => r.path.endsWith('/chat/completions')).map((r) => lastUser({ messages: r.body.messages } as never));
  const outRows = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

  const cases = [
    { combine: true, addMacro: 0, addSub: 0 },
    { combine: false, addMacro: 0, addSub: 0 },
    { combine: true, addMacro: 2, addSub: 1 },
    { combine: false, addMacro: 1, addSub: 3 },
  ];
  for (const c of cases) {
    it(`math: combine_topics ${c.combine}, ${c.addMacro} additional topic(s), ${c.addSub} additional subtopic(s)`, async () => {
      const { def } = resolvePipeline('math');
      const o = { nMacro: 2, nSub: 3, nOpen: 2, ...c };
      const sets: Record<string, string> = {
        n_macro_topics: '2', n_subtopics: '3', n_openlines: '2', combine_topics: String(c.combine),
        additional_macro_topics: JSON.stringify(['Probability', 'Number theory', 'Logic'].slice(0, c.addMacro)),
        additional_subtopics: JSON.stringify(['Prime factorisation', 'Bayes rule', 'Vectors'].slice(0, c.addSub)),
      };
      const r = await runPipeline({ def, params: resolveParameters(def, sets), templates: templateStore(), outputDir: join(dir, 'run'), client: () => client, concurrency: 4 });
      assert.equal(r.status, 'completed', r.error ?? '');
      const want = referenceFanOut(o);
      const seen = prompts();
      assert.equal(seen.filter((p) => /narrower subtopics/.test(p)).length, want.subtopicRequests);
      assert.equal(seen.filter((p) => /math problems that practise/.test(p)).length, want.problemRequests);
      const out = outRows(r.output);
      assert.equal(out.length, want.problems);
      if (c.addSub) assert.ok(out.some((x) => x.subject === 'Prime factorisation'));
      if (c.addMacro) assert.equal(out.filter((x) => x.subject === 'Probability').length, c.combine ? o.nOpen : 0);
      assert.equal(seen.filter((p) => /Answer with one word: yes or no/.test(p)).length, 0, 'no classification by default (the reference has none)');
    });
  }

  it('coding: the same fan-out, times the number of levels (one level by default, as the reference)', async () => {
    const { def } = resolvePipeline('coding');
    const sets = { language: 'Go', n_macro_topics: '2', n_subtopics: '2', n_openlines: '3', additional_macro_topics: 'Goroutines', additional_subtopics: 'Channels' };
    const r = await runPipeline({ def, params: resolveParameters(def, sets), templates: templateStore(), outputDir: join(dir, 'run'), client: () => client, concurrency: 4 });
    assert.equal(r.status, 'completed', r.error ?? '');
    const want = referenceFanOut({ nMacro: 2, nSub: 2, nOpen: 3, addMacro: 1, addSub: 1, combine: true });
    assert.equal(prompts().filter((p) => /Go programming problems/.test(p)).length, want.problemRequests);
    assert.equal(outRows(r.output).length, want.problems);

    rmSync(join(dir, 'run'), { recursive: true, force: true });
    server.resetStats();
    const three = await runPipeline({ def, params: resolveParameters(def, { ...sets, levels: 'beginner,intermediate,advanced', combine_topics: 'false' }), templates: templateStore(), outputDir: join(dir, 'run'), client: () => client, concurrency: 4 });
    assert.equal(three.status, 'completed', three.error ?? '');
    const w3 = referenceFanOut({ nMacro: 2, nSub: 2, nOpen: 3, addMacro: 1, addSub: 1, combine: false });
    assert.equal(outRows(three.output).length, w3.problems * 3);
  });
});
