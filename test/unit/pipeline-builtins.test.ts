import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/core/llm/client';
import type { LlmClient } from '../../src/core/llm/types';
import { listPipelines, resolveParameters, resolvePipeline, runPipeline, dryRun, type PipelineResult } from '../../src/core/pipeline';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel, lastUser } from '../fixtures/pipelines/fakeModel';

const FIX = join(__dirname, '../fixtures/pipelines');

function rows(file: string): any[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('pipeline built-ins end to end (loopback fake model)', () => {
  let server: MockServer;
  let client: LlmClient;
  let reward: LlmClient;
  let dir: string;
  const seen: string[] = [];

  before(async () => {
    server = await startMockServer({
      respond: (req) => { seen.push(lastUser(req)); return fakeModel({ notMath: (e) => e.endsWith('-2') })(req); },
    });
    client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
    reward = createClient({ name: 'reward_model', baseUrl: server.url, model: 'nvidia/nemotron-4-340b-reward', apiKind: 'chat' });
    dir = mkdtempSync(join(tmpdir(), 'sdg-pipe-'));
  });
  after(async () => {
    await client.close();
    await reward.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(name: string, sets: Record<string, string>): Promise<{ r: PipelineResult; out: any[]; dir: string }> {
    const { def, templates } = resolvePipeline(name);
    const params = resolveParameters(def, sets);
    const out = join(dir, name);
    const r = await runPipeline({ def, params, templates, outputDir: out, client: (role) => (role === 'reward_model' ? reward : client), concurrency: 4 });
    assert.equal(r.status, 'completed', r.error ?? '');
    return { r, out: rows(r.output), dir: out };
  }

  it('lists every built-in as valid', () => {
    const cat = listPipelines();
    const names = cat.pipelines.map((p) => p.name);
    for (const n of ['open_qa', 'writing', 'closed_qa', 'math', 'coding', 'dialogue', 'two_turn', 'preference', 'rewrite_wikipedia', 'rewrite_diverse_qa', 'rewrite_distill', 'rewrite_extract_knowledge', 'rewrite_knowledge_list']) {
      assert.ok(names.includes(n), `missing built-in ${n}`);
    }
    for (const p of cat.pipelines) assert.deepEqual(p.errors, [], `${p.name}: ${JSON.stringify(p.errors)}`);
  });

  it('open_qa: topics x subtopics x questions x revisions, with user topics and combined levels', async () => {
    const { out, dir: d } = await run('open_qa', { n_macro_topics: '2', n_subtopics: '2', n_openlines: '2', n_revisions: '2', additional_macro_topics: 'Chess', additional_subtopics: 'Sourdough baking' });
    // macro: 2 generated + 1 user = 3; subtopics: 3*2 + 1 = 7; subjects (combined) = 10; questions 20; revisions 40.
    assert.equal(out.length, 40);
    assert.ok(out.every((r) => typeof r.prompt === 'string' && r.provenance.pipeline === 'open_qa' && r.provenance.stage === 'output'));
    assert.ok(out.some((r) => r.subject === 'Chess'));
    assert.ok(out.some((r) => r.subject === 'Sourdough baking'));
    const withSub = out.find((r) => r.provenance.parents.subtopic && r.provenance.parents.topic);
    assert.ok(withSub, 'provenance keeps topic and subtopic');
    assert.equal(withSub.provenance.template, 'open_qa/revise');
    assert.equal(typeof withSub.provenance.seed, 'number', 'the seed sent is recorded');
    assert.ok(readdirSync(join(d, 'stages')).includes('revisions_raw.jsonl'));
    const manifest = JSON.parse(readFileSync(join(d, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.equal(manifest.kind, 'pipeline');
  });

  it('open_qa without combine_topics asks only about subtopics', async () => {
    const { def, templates } = resolvePipeline('open_qa');
    const params = resolveParameters(def, { n_macro_topics: '1', n_subtopics: '2', n_openlines: '1', n_revisions: '1', combine_topics: 'false' });
    const r = await runPipeline({ def, params, templates, outputDir: join(dir, 'open_qa_sub'), client: () => client });
    assert.equal(r.status, 'completed', r.error ?? '');
    assert.equal(rows(r.output).length, 2);
  });

  it('writing: topics x material types -> tasks -> revisions', async () => {
    const { out } = await run('writing', { topics: 'Rain,Trains', text_material_types: 'Poems,Emails,Essays', n_openlines: '2', n_revisions: '2' });
    assert.equal(out.length, 2 * 3 * 2 * 2);
    assert.deepEqual(new Set(out.map((r) => r.material_type)), new Set(['Poems', 'Emails', 'Essays']));
    assert.ok(seen.some((p) => p.includes('write Poems related to the topic "Rain"')));
  });

  it('closed_qa: questions per document with the document index (JSONL and text files)', async () => {
    const { out } = await run('closed_qa', { documents: `${join(FIX, 'docs.jsonl')},${join(FIX, 'docs')}`, n_openlines: '3' });
    assert.equal(out.length, 4 * 3);
    assert.deepEqual([...new Set(out.map((r) => r.document_index))].sort(), [0, 1, 2, 3]);
    assert.ok(out.every((r) => r.provenance.parents.document_index === r.document_index));
    assert.ok(seen.some((p) => p.includes('Photosynthesis turns light')));
  });

  it('math: classification drops non-math subtopics; beginner template by parameter', async () => {
    const { out, dir: d } = await run('math', { n_macro_topics: '2', n_subtopics: '2', n_openlines: '2', level: 'beginner', school_level: 'primary school', classify_topics: 'true' });
    // Subtopics whose item ends in -2 are classified "no": (2 topics x 1 kept subtopic + the 2 topics) x 2 problems.
    assert.equal(out.length, 8);
    assert.ok(seen.some((p) => p.includes('for a beginner who has just learned')));
    assert.ok(seen.some((p) => p.includes('at the primary school level')));
    const stage = rows(join(d, 'stages', 'math_subtopics.jsonl'));
    assert.equal(stage.filter((r) => r._empty).length, 2, 'filtered items are recorded as done');
  });

  it('coding: any language, problems at three levels', async () => {
    const { out } = await run('coding', { language: 'Rust', n_macro_topics: '1', n_subtopics: '1', n_openlines: '2', levels: 'beginner,intermediate,advanced', combine_topics: 'false' });
    assert.equal(out.length, 3 * 2);
    assert.deepEqual(new Set(out.map((r) => r.level)), new Set(['beginner', 'intermediate', 'advanced']));
    assert.ok(out.every((r) => r.language === 'Rust'));
    assert.ok(seen.some((p) => p.includes('Rust programming problems') && p.includes('experienced programmer')));
  });

  it('dialogue: alternating user simulator and assistant for N user turns', async () => {
    const { out } = await run('dialogue', { openings: 'Hello there,How do tides work?', turns: '3', persona: 'concise' });
    assert.equal(out.length, 2);
    for (const r of out) {
      assert.deepEqual(r.conversation.map((m: any) => m.role), ['user', 'assistant', 'user', 'assistant', 'user', 'assistant']);
    }
    assert.ok(seen.some((p) => p.includes('busy user who types very briefly')));
  });

  it('two_turn: user -> assistant -> follow-up user turn', async () => {
    const { out } = await run('two_turn', { prompts: 'Plan a picnic' });
    assert.equal(out.length, 1);
    assert.deepEqual(out[0].conversation.map((m: any) => m.role), ['user', 'assistant', 'user']);
    assert.match(out[0].conversation[2].content, /^Follow-up/);
  });

  it('preference: K responses, reward scores, chosen/rejected', async () => {
    const { out, dir: d } = await run('preference', { prompts: join(FIX, 'prompts.jsonl'), k: '3' });
    assert.equal(out.length, 2);
    for (const r of out) {
      assert.ok(r.chosen_score >= r.rejected_score);
      assert.notEqual(r.chosen, r.rejected);
    }
    const scored = rows(join(d, 'stages', 'scored.jsonl'));
    assert.equal(scored.length, 6);
    assert.ok(scored.every((r) => typeof r.reward_helpfulness === 'number' && typeof r.rewards === 'object'));
  });

  it('document rewriting: all five styles, with the reference post-processing (prefix cut, passage lines dropped, Q&A pairs, bullets stripped)', async () => {
    const docs = join(FIX, 'docs.jsonl');
    for (const style of ['wikipedia', 'distill', 'extract_knowledge']) {
      const { out } = await run(`rewrite_${style}`, { documents: docs });
      assert.equal(out.length, 2);
      assert.ok(out.every((r) => /^Rewritten \w+ text\.$/.test(r.text) && r.style === style), 'prefix and passage lines removed');
    }
    const qa = (await run('rewrite_diverse_qa', { documents: docs, max_pairs: '3' })).out;
    assert.equal(qa.length, 2);
    for (const r of qa) {
      const pairs = (r.text.match(/^Question:/gm) ?? []).length;
      assert.ok(pairs >= 1 && pairs <= 3, `1 to max_pairs pairs (${pairs})`);
      assert.ok(r.text.startsWith(rows(docs).find((d: any) => r.text.startsWith(d.text))!.text + '\n\nQuestion:'), 'the document, then the pairs');
    }
    const kl = (await run('rewrite_knowledge_list', { documents: docs })).out;
    assert.ok(kl.every((r) => !/^- /m.test(r.text) && r.text.split('\n').length === 3));
  });

  it('--dry-run renders the first prompt of every stage without a model', () => {
    const before = server.stats?.total;
    const { def, templates } = resolvePipeline('writing');
    const stages = dryRun(def, resolveParameters(def, { topics: 'Rain' }), templates);
    const tasks = stages.find((s) => s.stage === 'tasks_raw')!;
    assert.match(tasks.messages![0]!.content, /write Poems related to the topic "Rain"/);
    const revise = stages.find((s) => s.stage === 'revisions_raw')!;
    assert.match(revise.messages![0]!.content, /<task>/);
    assert.equal(server.stats?.total, before);
  });
});
