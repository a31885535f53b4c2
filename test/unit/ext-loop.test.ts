/**
 * Extension-side pieces of the edit -> try -> estimate -> launch -> grade loop (issue 17), in
 * plain Node against real files in a temporary workspace.
 */
import { strict as assert } from 'node:assert';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listFewShotSets } from '../../src/extension/studio/files';
import { datasetParamNames, resolveDatasetParams, PipelineCatalog } from '../../src/extension/pipelines';
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
});
