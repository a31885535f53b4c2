/**
 * Extension-side pieces of the edit -> try -> estimate -> launch -> grade loop (issue 17), in
 * plain Node against real files in a temporary workspace.
 */
import { strict as assert } from 'node:assert';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFewShotSets } from '../../src/extension/studio/files';
import { detailsFromConfig, measuredRate, withDetails, writeRunLabel } from '../../src/extension/run/details';
import type { RunView } from '../../src/protocol/studio';
import { compareRuns } from '../../src/extension/run/compare';
import { generateSolutions } from '../../src/core/generate';
import { defaultLabelForm, labelRequest } from '../../webview/studio/logic/state';
import { codeOptionsOf } from '../../src/extension/labeling';
import { paramSchemas } from '../../src/extension/studio/handlers';
import { tryOnRows } from '../../src/extension/studio/tryRows';
import { lastUserText, startMockServer } from '../support/mockServer';
import { loadPromptConfig } from '../../src/core/prompts/promptConfig';
import { postprocessRun, readRunMetrics } from '../../src/extension/run/postprocess';
import { datasetParamNames, estimatePipelineRun, resolveDatasetParams, PipelineCatalog } from '../../src/extension/pipelines';
import { REPO_ROOT } from '../../scripts/real-parts/setup';

describe('extension: the Studio loop (ext)', () => {
  let ws: string;
  before(() => {
    ws = mkdtempSync(join(tmpdir(), 'sdg-ext-loop-'));
  });
  after(() => rmSync(ws, { recursive: true, force: true }));

  it('lists every few-shot set: the workspace\'s first, then built-ins it does not replace', () => {
    mkdirSync(join(ws, 'prompts', 'few_shot'), { recursive: true });
    writeFileSync(join(ws, 'prompts', 'few_shot', 'mine.yaml'), 'examples: []\n');
    writeFileSync(join(ws, 'prompts', 'few_shot', 'gsm8k_text.yaml'), 'examples: []\n');
    const sets = listFewShotSets({ roots: [ws], builtinDir: join(REPO_ROOT, 'prompts') });
    assert.deepEqual(sets.slice(0, 2), [
      { file: 'prompts/few_shot/gsm8k_text.yaml', name: 'gsm8k_text', source: 'workspace' },
      { file: 'prompts/few_shot/mine.yaml', name: 'mine', source: 'workspace' },
    ]);
    const builtins = sets.filter((s) => s.source === 'builtin').map((s) => s.file);
    assert.ok(builtins.includes('builtin:few_shot/math_text.yaml'), builtins.join(', '));
    assert.ok(!builtins.includes('builtin:few_shot/gsm8k_text.yaml'), 'the workspace copy replaces the built-in of the same name');
  });

  it('dataset parameters (a source stage\'s documents) resolve against the workspace folder', () => {
    const def = { stages: [{ kind: 'source', options: { documents: '{{documents}}' } }, { kind: 'generate', options: { template: '{{other}}' } }] };
    assert.deepEqual([...datasetParamNames(def)], ['documents']);
    const params = resolveDatasetParams(def, { documents: ['data/gsm8k-test-20.jsonl', '/abs/x.jsonl'], other: 'data/not-a-dataset' }, ws);
    assert.deepEqual(params.documents, [join(ws, 'data', 'gsm8k-test-20.jsonl'), '/abs/x.jsonl']);
    assert.equal(params.other, 'data/not-a-dataset');
    assert.deepEqual(resolveDatasetParams(def, { documents: ['data/a.jsonl'] }, undefined).documents, ['data/a.jsonl'], 'no folder open: left as given');
  });

  it('the sample pipeline\'s documents parameter is offered with the dataset picker', async () => {
    mkdirSync(join(ws, 'prompts'), { recursive: true });
    cpSync(join(REPO_ROOT, 'sample', 'prompts'), join(ws, 'prompts'), { recursive: true });
    const catalog = new PipelineCatalog(join(REPO_ROOT, 'prompts'), () => [ws]);
    const info = (await catalog.list()).find((p) => p.id === 'gsm8k_explain');
    assert.ok(info, 'the sample pipeline is listed');
    assert.equal(info.parameters.find((p) => p.name === 'documents')?.dataset, true);
    assert.equal(info.parameters.find((p) => p.name === 'text_field')?.dataset, undefined);
  });

  it('run details from a labeling config.json and a label file; duration and averages of an ended run; the measured rate of an endpoint', () => {
    const dir = join(ws, 'gsm.jsonl.run');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ kind: 'generate', input: '/d/gsm.jsonl', prompt: { name: 'gsm8k_text', context_type: 'empty', few_shot: { set: 'gsm8k_text', count: 4 } }, endpoint: { name: 'local', model: 'tiny' }, params: { temperature: 0.3, max_tokens: 256, top_p: null }, num_samples: 2, num_seeds: 8, dataset: { limit: 50 } }));
    const view: RunView = { dir, name: 'gsm', kind: 'generate', status: 'completed', live: false, counts: { total: 400, done: 390, failed: 10, pending: 0 }, tokens: { prompt: 1000, completion: 9000 }, throughput: { requestsPerSec: 0, tokensPerSec: 0 }, stages: [], recentErrors: [], currentStage: null, etaSeconds: null, startedAt: '2026-12-04T10:00:00Z', updatedAt: null, endedAt: '2026-12-04T10:01:40Z', output: null, error: null };
    let [r] = withDetails([view]);
    assert.deepEqual(r.details, { source: 'prompt gsm8k_text', input: '/d/gsm.jsonl', endpoint: 'local', model: 'tiny', params: { seeds: 8, samples: 2, temperature: 0.3, max_tokens: 256, limit: 50, few_shot: 4 } });
    assert.deepEqual(r.finished, { durationSeconds: 100, requestsPerSec: 4, tokensPerSec: 100 });
    writeRunLabel(dir, 'baseline');
    [r] = withDetails([view]);
    assert.equal(r.details?.label, 'baseline');
    assert.equal(measuredRate([r], 'local'), 4);
    assert.equal(measuredRate([r], 'other'), null);
    assert.equal(withDetails([{ ...view, status: 'running' }])[0].finished, undefined, 'a running run has no averages yet');
    assert.deepEqual(detailsFromConfig({ kind: 'pipeline', pipeline: 'gsm8k_explain', parameters: { documents: ['/a/b.jsonl'], temperature: 0.7 }, endpoints: { default: { name: 'local', model: 'tiny' } } }).params, { documents: '/a/b.jsonl', temperature: 0.7 });
  });

  it('Grade, Metrics, Vote and Export SFT on a labeling output: files beside it, metrics kept in the run folder', async () => {
    const out = join(ws, 'labels.jsonl');
    const runDir = `${out}.run`;
    mkdirSync(runDir, { recursive: true });
    const rows: string[] = [];
    // Two problems, 4 samples each: problem 0 right 3 times of 4, problem 1 right once.
    const answers = [['7', '7', '8', '7'], ['3', '5', '5', '5']];
    const expected = ['7', '3'];
    answers.forEach((list, p) => list.forEach((a, i) => rows.push(JSON.stringify({ input_index: p, problem: `problem ${p}`, expected_answer: expected[p], generation: `We add the numbers step by step and get \\boxed{${a}}.`, seed: i, sample_index: 0, error: null, finish_reason: 'stop' }))));
    writeFileSync(out, rows.join('\n') + '\n');
    const graded = await postprocessRun(runDir, out, 'grade');
    assert.equal(graded.file, join(ws, 'labels.graded.jsonl'));
    assert.match(graded.lines[0], /^8 rows graded: 4 correct \(50\.0%\)/);
    assert.deepEqual({ problems: graded.metrics?.problems, samples: graded.metrics?.samples, k: graded.metrics?.k }, { problems: 2, samples: 8, k: 4 });
    assert.equal(graded.metrics?.accuracy, 1, 'the first sample of each problem is right');
    assert.equal(graded.metrics?.passAtK, 1);
    assert.equal(graded.metrics?.majAtK, 0.5, 'problem 1\'s majority (5) is wrong');
    assert.deepEqual(readRunMetrics(runDir)?.majAtK, 0.5, 'kept in metrics.json for the card');
    const voted = await postprocessRun(runDir, out, 'vote');
    assert.equal(voted.file, join(ws, 'labels.voted.jsonl'));
    assert.match(voted.lines[0], /^2 problems: 2 labeled by majority vote/);
    const sft = await postprocessRun(runDir, out, 'exportSft');
    assert.equal(sft.file, join(ws, 'labels.sft.jsonl'));
    const written = readFileSync(sft.file, 'utf8').split('\n').filter(Boolean);
    assert.match(sft.lines[0], new RegExp(`^${written.length} SFT examples`));
    assert.ok(written.length >= 1 && written.length <= 4, 'only correct solutions (deduplicated)');
    await assert.rejects(postprocessRun(runDir, join(ws, 'missing.jsonl'), 'grade'), /no output file yet/);
  });

  it('Try on N rows: the edited prompt config rendered for real rows, sent with its parameters, answers graded', async () => {
    const seen: Array<{ messages: unknown; body: Record<string, unknown> }> = [];
    const server = await startMockServer({
      respond: (req) => {
        seen.push({ messages: req.messages, body: req.body });
        // Right for Janet's ducks (18), wrong for the rest.
        return lastUserText(req).includes('Janet') ? 'She sells 9 eggs at $2: \\boxed{18}' : 'I think \\boxed{1}';
      },
    });
    try {
      mkdirSync(join(ws, 'data'), { recursive: true });
      cpSync(join(REPO_ROOT, 'sample', 'data', 'gsm8k-test-20.jsonl'), join(ws, 'data', 'g.jsonl'));
      const ref = { file: 'builtin:generation/gsm8k_text.yaml', field: ['user'], label: 'gsm8k_text' };
      const text = 'EDITED. {{examples}}Question: {{problem}}\n{{context}}My solution:';
      const profile = { name: 'mock', baseUrl: server.url, model: 'mock', apiKind: 'chat' as const };
      const results = await tryOnRows({ roots: [ws], builtinDir: join(REPO_ROOT, 'prompts'), resolveEndpoint: async () => ({ profile, apiKey: undefined }) }, { ref, text, file: 'data/g.jsonl', indices: [0, 1], endpoint: 'mock', maxTokens: 64 });
      assert.equal(results.length, 2);
      assert.deepEqual(results.map((r) => [r.index, r.error, r.grade?.correct, r.grade?.expected]), [[0, null, true, '18'], [1, null, false, '3']]);
      assert.ok(results[0].messages.some((m) => m.content.startsWith('EDITED.') && m.content.includes('Question: Janet')), 'the unsaved text, rendered for the row');
      assert.ok(results.every((r) => r.promptTokens > 0 && r.latencyMs >= 0 && r.text !== null));
      assert.equal(seen[0].body.max_tokens, 64, 'the override');
      assert.equal(seen[0].body.temperature, loadPromptConfig('gsm8k_text').params.temperature, 'the config\'s own temperature');
    } finally {
      await server.close();
    }
  });

  it('code mode: a *_with_code prompt config takes the sandbox choice and limits, which reach the core as its options', () => {
    const form = { ...defaultLabelForm, prompt: 'builtin:generation/gsm8k_text_with_code.yaml', input: 'data/g.jsonl', codeSandbox: 'local' as const, maxExecutions: '3', codeTimeout: '2.5', memoryMb: '512' };
    const local = labelRequest(form, 'local', null);
    assert.deepEqual(local.params?.code, { maxExecutions: 3, memoryMb: 512, timeoutSeconds: 2.5 });
    assert.deepEqual(codeOptionsOf(local.params?.code), { sandbox: { memoryMb: 512, timeoutSeconds: 2.5 }, codeExecution: { maxExecutions: 3, timeoutSeconds: 2.5 } });
    assert.deepEqual(labelRequest({ ...form, codeSandbox: 'remote', sandboxUrl: 'not a url' }, 'local', null).problems, ['sandbox URL: an http(s) URL of a NeMo-Skills-compatible sandbox server']);
    const remote = labelRequest({ ...form, codeSandbox: 'remote', sandboxUrl: 'http://sandbox:6000' }, 'local', null);
    assert.deepEqual(codeOptionsOf(remote.params?.code).sandbox, { url: 'http://sandbox:6000', timeoutSeconds: 2.5 });
    assert.equal(labelRequest({ ...form, prompt: 'builtin:generation/gsm8k_text.yaml' }, 'local', null).params?.code, undefined, 'text-only configs send no code options');
    // The host's schema takes them, and refuses a bad URL.
    const check = paramSchemas['runs.label'];
    assert.deepEqual(check({ ...remote.params }, 'params').code, { sandboxUrl: 'http://sandbox:6000', maxExecutions: 3, timeoutSeconds: 2.5 });
    assert.throws(() => check({ ...remote.params, code: { sandboxUrl: 'file:///etc' } }, 'params'), /params\.code\.sandboxUrl/);
  });

  it('Compare runs: two outputs of the same inputs side by side per input, graded output preferred, parameter differences', async () => {
    const mk = (name: string, rows: Array<Record<string, unknown>>, temperature: number): RunView => {
      const out = join(ws, `${name}.jsonl`);
      writeFileSync(out, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
      return { dir: `${out}.run`, name, kind: 'generate', status: 'completed', live: false, counts: { total: 2, done: 2, failed: 0, pending: 0 }, tokens: { prompt: 0, completion: 0 }, throughput: { requestsPerSec: 0, tokensPerSec: 0 }, stages: [], recentErrors: [], currentStage: null, etaSeconds: null, startedAt: null, updatedAt: null, endedAt: null, output: out, error: null,
        details: { source: 'prompt gsm8k_text', input: '/d/g.jsonl', endpoint: 'local', model: 'tiny', params: { seeds: 2, temperature } } };
    };
    const a = mk('cmp-a', [{ input_index: 0, problem: 'p0', generation: 'aaaa' }, { input_index: 0, problem: 'p0', generation: 'aa' }, { input_index: 1, problem: 'p1', generation: 'x' }], 0.7);
    const b = mk('cmp-b', [{ input_index: 1, problem: 'p1', generation: 'yyyy', is_correct: true }, { input_index: 0, problem: 'p0', generation: 'bb', is_correct: false }], 0.2);
    writeFileSync(join(ws, 'cmp-b.graded.jsonl'), readFileSync(b.output!, 'utf8'));
    const r = await compareRuns(a, b);
    assert.deepEqual(r.files, [a.output, join(ws, 'cmp-b.graded.jsonl')]);
    assert.deepEqual(r.differences, [{ name: 'temperature', a: '0.7', b: '0.2' }]);
    assert.deepEqual(r.inputs.map((x) => [x.key, x.problem, x.a?.samples, x.a?.meanChars, x.a?.correct, x.b?.first, x.b?.correct]), [
      ['0', 'p0', 2, 3, null, 'bb', 0],
      ['1', 'p1', 1, 1, null, 'yyyy', 1],
    ]);
  });

  it('tokens accumulate across resumes: the manifest of a resumed labeling run counts every session', async () => {
    const server = await startMockServer({});
    try {
      cpSync(join(REPO_ROOT, 'sample', 'data', 'gsm8k-test-20.jsonl'), join(ws, 'resume.jsonl'));
      const output = join(ws, 'resume-out.jsonl');
      const endpoint = { name: 'mock', baseUrl: server.url, model: 'mock', apiKind: 'chat' as const };
      const first = await generateSolutions({ input: join(ws, 'resume.jsonl'), output, prompt: 'gsm8k_text', endpoint, limit: 2, concurrency: 2 });
      assert.equal(first.status, 'completed');
      const m1 = JSON.parse(readFileSync(join(`${output}.run`, 'manifest.json'), 'utf8')) as { tokens: { prompt: number; completion: number } };
      assert.ok(m1.tokens.prompt > 0);
      const second = await generateSolutions({ input: join(ws, 'resume.jsonl'), output, prompt: 'gsm8k_text', endpoint, limit: 4, concurrency: 2 });
      assert.equal(second.resumed, 2);
      const m2 = JSON.parse(readFileSync(join(`${output}.run`, 'manifest.json'), 'utf8')) as { tokens: { prompt: number; completion: number } };
      const rows = readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { usage: { prompt_tokens: number; completion_tokens: number } });
      assert.equal(rows.length, 4);
      assert.deepEqual(m2.tokens, { prompt: rows.reduce((a, r) => a + r.usage.prompt_tokens, 0), completion: rows.reduce((a, r) => a + r.usage.completion_tokens, 0) }, 'both sessions');
    } finally {
      await server.close();
    }
  });

  it('the pipeline estimate resolves the sample\'s relative dataset against the workspace folder', async () => {
    const catalog = new PipelineCatalog(join(REPO_ROOT, 'prompts'), () => [ws]);
    mkdirSync(join(ws, 'data'), { recursive: true });
    cpSync(join(REPO_ROOT, 'sample', 'data', 'gsm8k-test-20.jsonl'), join(ws, 'data', 'gsm8k-test-20.jsonl'));
    const e = await estimatePipelineRun(catalog, 'gsm8k_explain', { documents: 'data/gsm8k-test-20.jsonl' }, 10);
    assert.equal(e.requests, 20);
    assert.equal(e.confirm, true, '20 > a threshold of 10');
    assert.match(e.lines[0], /^source rows: 20$/);
  });
});

