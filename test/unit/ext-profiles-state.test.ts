import { strict as assert } from 'node:assert';
import { checkProfile, parseProfiles, removeEntry, secretKeyFor, upsertEntry } from '../../src/extension/endpoints/profiles';
import { redact, registerSecret } from '../../src/extension/util/redact';
import { coerceParams, defaultLabelForm, initialState, labelRequest, moveItem, paramProblems, paramValues, reduce, refKey } from '../../webview/studio/logic/state';
import type { InitResult, PipelineInfo } from '../../src/protocol/studio';

describe('extension: endpoint profiles from settings', () => {
  const good = { name: 'gpu box', baseUrl: 'http://10.0.0.5:8000/v1', model: 'llama', apiKind: 'chat' };

  it('accepts a good profile and defaults apiKind to chat', () => {
    const r = checkProfile({ name: 'a', baseUrl: ' http://127.0.0.1:8000/v1 ', model: 'm' });
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.profile, { name: 'a', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', apiKind: 'chat' });
  });

  it('refuses keys in settings (fields or headers), bad names and bad URLs, naming each field', () => {
    const r = checkProfile({ ...good, apiKey: 'sk-123', headers: { Authorization: 'Bearer x' } });
    assert.equal(r.profile, undefined);
    assert.ok(r.problems.some((p) => p.startsWith('apiKey:')));
    assert.ok(r.problems.some((p) => p.startsWith('headers.Authorization:')));
    assert.ok(checkProfile({ ...good, name: '../etc' }).problems.some((p) => p.startsWith('name:')));
    assert.ok(checkProfile({ ...good, baseUrl: 'ftp://x' }).problems.some((p) => p.startsWith('baseUrl:')));
    assert.ok(checkProfile({ ...good, apiKind: 'completions' }).problems.some((p) => p.startsWith('formatter:')));
    assert.ok(checkProfile({ ...good, maxConcurrency: -2 }).problems.some((p) => p.startsWith('maxConcurrency:')));
  });

  it('keeps the good entries of a setting, reports the bad ones and duplicate names', () => {
    const { profiles, issues } = parseProfiles([good, { name: 'x' }, { ...good, model: 'other' }]);
    assert.deepEqual(profiles.map((p) => p.model), ['llama']);
    assert.ok(issues.some((i) => i.index === 1 && i.message.startsWith('baseUrl')));
    assert.ok(issues.some((i) => i.index === 2 && /used by an earlier endpoint/.test(i.message)));
    assert.deepEqual(parseProfiles('nope').issues[0].index, -1);
  });

  it('upserts, renames and removes settings entries', () => {
    const entries = [good];
    assert.throws(() => upsertEntry(entries, checkProfile(good).profile!), /already exists/);
    const renamed = upsertEntry(entries, { ...checkProfile(good).profile!, name: 'renamed' }, 'gpu box');
    assert.deepEqual(renamed.map((e) => (e as { name: string }).name), ['renamed']);
    assert.deepEqual(removeEntry(renamed, 'renamed'), []);
    assert.equal(secretKeyFor('gpu box'), 'sdg.apiKey.gpu box');
  });
});

describe('extension: redaction', () => {
  it('scrubs registered keys, bearer tokens and key-shaped strings', () => {
    registerSecret('my-very-secret-key-123');
    const out = redact('failed with my-very-secret-key-123; Authorization: Bearer abcdefghijkl; key sk-abcdefghijklmnop; {"api_key":"zzz"}');
    assert.ok(!out.includes('my-very-secret-key-123'));
    assert.ok(!out.includes('abcdefghijkl'));
    assert.ok(!out.includes('sk-abcdefghijklmnop'));
    assert.ok(!out.includes('zzz'));
  });
});

const pipeline: PipelineInfo = {
  id: 'p1', name: 'p1', description: '', source: 'builtin', file: 'builtin:pipelines/p1.yaml',
  parameters: [
    { name: 'n', type: 'integer', default: 5, min: 1, max: 10 },
    { name: 'mode', type: 'enum', options: ['a', 'b'], default: 'a' },
    { name: 'topic', type: 'string', required: true },
    { name: 'flag', type: 'boolean', default: false },
  ],
  stages: [], templates: [], fewShotSets: [], errors: [],
};
const init: InitResult = {
  trusted: true, hasWorkspace: true, defaultConcurrency: 4, pipelines: [pipeline],
  endpoints: [{ profile: { name: 'e1', baseUrl: 'http://x', model: 'm', apiKind: 'chat' }, hasKey: false }],
  runs: [], features: { pipelines: true, preview: true, endpointsTest: true, runs: true },
};

describe('extension: Studio webview state', () => {
  it('init selects the first pipeline and endpoint; a vanished selection is replaced', () => {
    let s = reduce(initialState({ pipelineId: 'gone', endpoint: 'gone' }), { type: 'init', result: init });
    assert.equal(s.persisted.pipelineId, 'p1');
    assert.equal(s.persisted.endpoint, 'e1');
    s = reduce(s, { type: 'endpoints', endpoints: [] });
    assert.equal(s.persisted.endpoint, null);
  });

  it('parameter values overlay defaults, are checked, and coerced for the host', () => {
    let s = reduce(initialState(), { type: 'init', result: init });
    assert.deepEqual(paramValues(s, pipeline), { n: 5, mode: 'a', topic: undefined, flag: false });
    assert.deepEqual(paramProblems(pipeline.parameters, paramValues(s, pipeline)), ['topic: required']);
    s = reduce(s, { type: 'param', pipelineId: 'p1', name: 'n', value: '11' });
    s = reduce(s, { type: 'param', pipelineId: 'p1', name: 'topic', value: 'rivers' });
    assert.deepEqual(paramProblems(pipeline.parameters, paramValues(s, pipeline)), ['n: must be at most 10']);
    s = reduce(s, { type: 'param', pipelineId: 'p1', name: 'n', value: '7' });
    assert.deepEqual(coerceParams(pipeline.parameters, paramValues(s, pipeline)), { n: 7, mode: 'a', topic: 'rivers', flag: false });
    s = reduce(s, { type: 'resetParams', pipelineId: 'p1' });
    assert.equal(paramValues(s, pipeline).n, 5);
  });

  it('keeps unsaved template drafts across reloads and drops them on save or revert', () => {
    const ref = { file: 'a.yaml', field: ['user'], label: 'a' };
    let s = reduce(initialState(), { type: 'openTemplate', ref });
    assert.equal(s.persisted.tab, 'templates');
    s = reduce(s, { type: 'templateLoaded', ref, text: 'saved', placeholders: [], readonly: false });
    s = reduce(s, { type: 'templateEdit', text: 'draft' });
    assert.equal(s.persisted.drafts[refKey(ref)], 'draft');
    // The panel is reloaded: the draft comes back over the file's text.
    let r = reduce(initialState(s.persisted), { type: 'templateLoaded', ref, text: 'saved', placeholders: [], readonly: false });
    assert.equal(r.template!.text, 'draft');
    r = reduce(r, { type: 'templateSaved', errors: [] });
    assert.equal(r.persisted.drafts[refKey(ref)], undefined);
    s = reduce(s, { type: 'templateEdit', text: 'saved' });
    assert.equal(s.persisted.drafts[refKey(ref)], undefined, 'editing back to the saved text is no draft');
    // A late answer for another template is ignored.
    const other = reduce(s, { type: 'templateLoaded', ref: { ...ref, file: 'b.yaml' }, text: 'x', placeholders: [], readonly: false });
    assert.equal(other, s);
  });

  it('edits few-shot lists: move, drafts per file', () => {
    assert.deepEqual(moveItem([1, 2, 3], 0, 2), [2, 3, 1]);
    assert.deepEqual(moveItem([1, 2, 3], 0, 5), [1, 2, 3]);
    let s = reduce(initialState(), { type: 'openFewShot', file: 'f.yaml' });
    s = reduce(s, { type: 'fewShotLoaded', file: 'f.yaml', examples: [{ problem: 'a' }], readonly: false });
    s = reduce(s, { type: 'fewShotEdit', examples: [{ problem: 'a' }, { problem: 'b' }] });
    assert.equal(s.persisted.fewShotDrafts['f.yaml'].length, 2);
    s = reduce(s, { type: 'fewShotSaved', errors: [] });
    assert.equal(s.persisted.fewShotDrafts['f.yaml'], undefined);
    assert.equal(s.fewShot!.saved.length, 2);
  });
});

describe('extension: Studio labeling form', () => {
  it('lists what is missing, then builds the request with numbers', () => {
    const empty = labelRequest(defaultLabelForm, null, null);
    assert.deepEqual(empty.problems, ['prompt config: choose one', 'dataset: choose a JSONL file', 'endpoint: add or choose one']);
    const form = { ...defaultLabelForm, prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/x.jsonl', numSeeds: '8', numSamples: '4', limit: '10', temperature: '0.7', contextType: 'masked_solution' as const };
    const ok = labelRequest(form, 'e1', 16);
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.params, { prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/x.jsonl', endpoint: 'e1', numSeeds: 8, numSamples: 4, contextType: 'masked_solution', limit: 10, temperature: 0.7, concurrency: 16 });
    assert.deepEqual(labelRequest({ ...form, numSeeds: '1.5', temperature: '-1' }, 'e1', null).problems, ['seeds: a whole number >= 1', 'temperature: a number >= 0']);
  });

  it('keeps the form across reloads, merged over new defaults', () => {
    let s = reduce(initialState(), { type: 'label', patch: { numSeeds: '16' } });
    s = reduce(s, { type: 'runMode', mode: 'label' });
    const again = initialState(JSON.parse(JSON.stringify(s.persisted)));
    assert.equal(again.persisted.label.numSeeds, '16');
    assert.equal(again.persisted.runMode, 'label');
    assert.equal(initialState({ label: { numSeeds: '2' } as never }).persisted.label.numSamples, '1');
  });
});
