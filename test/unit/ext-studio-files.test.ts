import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc';
import type { StudioHostNotifications, StudioRequests } from '../../src/protocol/studio';
import { createHandlers, registerHandlers, type StudioBackend } from '../../src/extension/studio/handlers';
import { setFewShotExamples, setTextField } from '../../src/extension/studio/yamlEdit';
import { contentSecurityPolicy, makeNonce, webviewHtml } from '../../src/extension/studio/html';

const BUILTIN = join(__dirname, '../../prompts');

function backend(root: string, over: Partial<StudioBackend> = {}): StudioBackend {
  return {
    roots: [root],
    builtinDir: BUILTIN,
    trusted: () => true,
    defaultConcurrency: () => 8,
    listDatasets: async () => ['data/rows.jsonl'],
    openFile: async () => undefined,
    endpoints: { list: async () => [], save: async () => undefined, remove: async () => undefined, test: async () => ({ ok: true, latencyMs: 1, models: ['m'], error: null }) },
    pipelines: { available: () => false, list: async () => [], listTemplates: async () => [], copyToWorkspace: async () => 'x' },
    runs: { available: () => false, list: async () => [], start: async () => '/d', label: async () => '/l', cancel: async () => undefined, resume: async () => undefined, openOutput: async () => undefined },
    ...over,
  };
}

/** A host channel wired to a webview channel in memory, like the real panel. */
function connect(b: StudioBackend) {
  let toWebview: (m: WireMessage) => void = () => undefined;
  const host = new MessageChannel<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>((m) => toWebview(m), { waitForReady: true });
  const webview = new MessageChannel<Record<string, never>, StudioRequests, StudioHostNotifications, Record<string, never>>((m) => void host.receive(JSON.parse(JSON.stringify(m))));
  toWebview = (m) => void webview.receive(JSON.parse(JSON.stringify(m)));
  const logged: string[] = [];
  registerHandlers(host, createHandlers(b), (m) => logged.push(m));
  webview.sendReady();
  return { host, webview, logged };
}

describe('extension: YAML edits keep comments', () => {
  it('replaces one field and leaves comments and other fields alone', () => {
    const text = '# header\ndescription: d # why\n# about the user message\nuser: |\n  old {{problem}}\nsystem: "s"\n';
    const out = setTextField(text, ['user'], 'new {{problem}}\nsecond line');
    assert.match(out, /^# header\n/);
    assert.match(out, /description: d # why/);
    assert.match(out, /# about the user message\nuser: \|-?\n  new \{\{problem\}\}\n  second line/);
    assert.match(out, /system: "s"/);
  });

  it('reorders few-shot examples keeping their comments, and writes new ones as block text', () => {
    const text = '# my set\nexamples:\n  - problem: one # first\n    solution: a\n  - problem: two\n    solution: b\n';
    const out = setFewShotExamples(text, [{ problem: 'two', solution: 'b' }, { problem: 'one', solution: 'a' }, { problem: 'three\nlines', solution: 'c' }]);
    assert.match(out, /^# my set/);
    assert.ok(out.indexOf('two') < out.indexOf('one'));
    assert.match(out, /problem: one # first/);
    assert.match(out, /problem: \|-?\n\s+three\n\s+lines/);
  });

  it('refuses broken YAML with its line', () => {
    assert.throws(() => setTextField('a: [1,\nb: 2\n', ['a'], 'x'), /YAML syntax error/);
  });
});

describe('extension: webview HTML and CSP', () => {
  it('has a strict policy: nonce scripts, no unsafe-inline or unsafe-eval, no network', () => {
    const nonce = makeNonce();
    assert.match(nonce, /^[A-Za-z0-9]{16,}$/);
    assert.notEqual(nonce, makeNonce());
    const csp = contentSecurityPolicy('https://x.vscode-cdn.net', nonce);
    assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'));
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, new RegExp(`script-src 'nonce-${nonce}'`));
    assert.match(csp, /connect-src 'none'/);
    const html = webviewHtml({ cspSource: 'https://x', nonce, scriptUri: 'https://x/studio.js?a=1&b="2"', title: 'T<', rootElement: 'sdg-studio' });
    assert.match(html, new RegExp(`<script type="module" nonce="${nonce}" src="https://x/studio.js\\?a=1&amp;b=&quot;2&quot;"></script>`));
    assert.match(html, /<title>T&lt;<\/title>/);
    assert.ok(!/<script(?![^>]*nonce=)/.test(html), 'every script carries the nonce');
    assert.throws(() => webviewHtml({ cspSource: 'x', nonce: 'a"b', scriptUri: 'u', title: 't', rootElement: 'sdg-studio' }), /nonce/);
  });
});

describe('extension: Studio handlers over files (template, preview, few-shot, datasets)', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'sdg-ext-studio-'));
    mkdirSync(join(root, 'prompts', 'generation'), { recursive: true });
    mkdirSync(join(root, 'prompts', 'few_shot'), { recursive: true });
    mkdirSync(join(root, 'data'), { recursive: true });
    writeFileSync(join(root, 'prompts', 'few_shot', 'mine.yaml'), '# my examples\nexamples:\n  - problem: "1+1?"\n    solution: "1+1=2. \\\\boxed{2}"\n    expected_answer: "2"\n');
    writeFileSync(
      join(root, 'prompts', 'generation', 'mine.yaml'),
      '# a labeling prompt\ndescription: test\nsystem: ""\n# the user message\nuser: |\n  {{examples}}Question:\n  {{problem}}\n  Answer:\nfew_shot:\n  set: mine\n  count: 1\n  template: "Q: {{problem}}\\nA: {{solution}}"\n  separator: "\\n\\n"\n',
    );
    writeFileSync(join(root, 'data', 'rows.jsonl'), '{"question":"What is 3+4?","answer":"3+4=7\\n#### 7"}\n\n{"question":"What is 5*5?","answer":"#### 25"}\n');
  });

  it('init reports trust, features and the lists', async () => {
    const { webview } = connect(backend(root, { trusted: () => false }));
    const init = await webview.request('init', {});
    assert.equal(init.trusted, false);
    assert.equal(init.features.pipelines, false);
    assert.equal(init.defaultConcurrency, 8);
  });

  it('init still answers when the pipeline list fails, saying why', async () => {
    const { webview } = connect(backend(root, { pipelines: { available: () => true, list: async () => { throw new Error('prompts/pipelines: permission denied'); }, listTemplates: async () => [], copyToWorkspace: async () => 'x' } }));
    const init = await webview.request('init', {});
    assert.equal(init.pipelinesError, 'prompts/pipelines: permission denied');
    assert.deepEqual(init.pipelines, []);
  });

  it('rejects malformed params and paths outside the workspace with a clear error', async () => {
    const { webview, logged } = connect(backend(root));
    await assert.rejects(webview.request('datasets.row', { file: '../etc/passwd', index: 0 }), /"\.\." segment/);
    await assert.rejects(webview.request('datasets.row', { file: '/etc/passwd', index: 0 }), /outside the workspace/);
    await assert.rejects(webview.request('template.get', { ref: { file: 'builtin:../../etc/passwd', field: [], label: 'x' } }), /\.\./);
    await assert.rejects(webview.request('datasets.row', { file: 'data/rows.jsonl' } as never), /params\.index: expected an integer/);
    await assert.rejects(webview.request('nope' as never, {} as never), /unknown request nope/);
    assert.ok(logged.some((l) => l.includes('datasets.row')));
  });

  it('refuses running, resuming and testing endpoints in an untrusted workspace', async () => {
    const { webview } = connect(backend(root, { trusted: () => false }));
    await assert.rejects(webview.request('runs.start', { pipelineId: 'p', endpoint: 'e', params: {} }), /untrusted/);
    await assert.rejects(webview.request('runs.resume', { dir: '/x' }), /untrusted/);
    await assert.rejects(webview.request('endpoints.test', { name: 'e' }), /untrusted/);
  });

  it('reads a dataset row by index (streamed; blank lines skipped)', async () => {
    const { webview } = connect(backend(root));
    const r = await webview.request('datasets.row', { file: 'data/rows.jsonl', index: 1 });
    assert.deepEqual(r.row, { question: 'What is 5*5?', answer: '#### 25' });
    assert.equal(r.count, 2);
    const past = await webview.request('datasets.row', { file: 'data/rows.jsonl', index: 5 });
    assert.equal(past.row, null);
  });

  it('gets a template with its placeholders and few-shot set, previews unsaved text with a real row and unsaved examples', async () => {
    const { webview } = connect(backend(root));
    const ref = { file: 'prompts/generation/mine.yaml', field: ['user'], label: 'mine' };
    const doc = await webview.request('template.get', { ref });
    assert.deepEqual(doc.placeholders, ['examples', 'problem']);
    assert.equal(doc.readonly, false);
    assert.equal(doc.fewShotFile, 'prompts/few_shot/mine.yaml');
    const row = (await webview.request('datasets.row', { file: 'data/rows.jsonl', index: 0 })).row!;
    const pv = await webview.request('template.preview', { ref, text: 'EDITED {{examples}}Q={{problem}}', row, fewShot: [{ problem: 'Draft problem', solution: 'Draft solution' }] });
    assert.deepEqual(pv.errors, []);
    const user = pv.messages.find((m) => m.role === 'user')!.content;
    assert.match(user, /^EDITED Q: Draft problem\nA: Draft solution\n\nQ=What is 3\+4\?/);
    // An unknown placeholder is a validation error from the core, with its line.
    const bad = await webview.request('template.preview', { ref, text: 'Hi {{nope}}', row });
    assert.equal(bad.messages.length, 0);
    assert.ok(bad.errors.some((e) => /unknown placeholder \{\{nope\}\}/.test(e.message) && e.line === 5), JSON.stringify(bad.errors));
  });

  it('previews a pipeline template (system + prompt): row values in, missing ones marked and explained', async () => {
    mkdirSync(join(root, 'prompts', 'templates', 't'), { recursive: true });
    writeFileSync(join(root, 'prompts', 'templates', 't', 'x.yaml'), 'description: d\nsystem: "You write about {{topic}}."\nprompt: "Give {{count}} facts about {{topic}}."\n');
    const { webview } = connect(backend(root));
    const ref = { file: 'prompts/templates/t/x.yaml', field: ['prompt'], label: 't/x' };
    const pv = await webview.request('template.preview', { ref, text: 'List {{count}} facts on {{topic}}.', row: { topic: 'rivers' } });
    assert.deepEqual(pv.errors, []);
    assert.deepEqual(pv.messages, [
      { role: 'system', content: 'You write about rivers.' },
      { role: 'user', content: 'List ⟨count⟩ facts on rivers.' },
    ]);
    assert.match(pv.note ?? '', /no value for \{\{count\}\}/);
    const full = await webview.request('template.preview', { ref, text: 'List {{count}} facts on {{topic}}.', row: { topic: 'rivers', count: 3 } });
    assert.equal(full.note, undefined);
    assert.equal(full.messages[1].content, 'List 3 facts on rivers.');
  });

  it('saves a template into its field, keeping the file comments, and reports validation issues', async () => {
    const { webview } = connect(backend(root));
    const ref = { file: 'prompts/generation/mine.yaml', field: ['user'], label: 'mine' };
    const saved = await webview.request('template.save', { ref, text: '{{examples}}Solve:\n{{problem}}\n' });
    assert.deepEqual(saved.errors, []);
    const text = readFileSync(join(root, 'prompts', 'generation', 'mine.yaml'), 'utf8');
    assert.match(text, /^# a labeling prompt/);
    assert.match(text, /# the user message\nuser: \|\n  \{\{examples\}\}Solve:\n  \{\{problem\}\}\n/);
    const withIssue = await webview.request('template.save', { ref, text: 'no placeholders at all' });
    assert.ok(withIssue.errors.some((e) => /problem/.test(e.message)), JSON.stringify(withIssue.errors));
  });

  it('refuses to save built-in files', async () => {
    const { webview } = connect(backend(root));
    await assert.rejects(webview.request('template.save', { ref: { file: 'builtin:generation/gsm8k_text.yaml', field: ['user'], label: 'x' }, text: 'x {{problem}}' }), /built-in/);
    const doc = await webview.request('template.get', { ref: { file: 'builtin:generation/gsm8k_text.yaml', field: ['user'], label: 'x' } });
    assert.equal(doc.readonly, true);
    assert.equal(doc.fewShotFile, 'builtin:few_shot/gsm8k_text.yaml');
  });

  it('few-shot: get, save (comments kept, bad fields refused), import from JSONL', async () => {
    const { webview } = connect(backend(root));
    const file = 'prompts/few_shot/mine.yaml';
    const got = await webview.request('fewshot.get', { file });
    assert.equal(got.examples.length, 1);
    assert.equal(got.examples[0].expected_answer, '2');
    const imported = await webview.request('fewshot.import', { file: 'data/rows.jsonl', limit: 5 });
    assert.equal(imported.examples.length, 2);
    assert.deepEqual(imported.examples[0], { problem: 'What is 3+4?', solution: '3+4=7', expected_answer: '7' });
    const saved = await webview.request('fewshot.save', { file, examples: [...imported.examples, ...got.examples] });
    assert.deepEqual(saved.errors, []);
    const text = readFileSync(join(root, file), 'utf8');
    assert.match(text, /^# my examples/);
    const again = await webview.request('fewshot.get', { file });
    assert.deepEqual(again.examples.map((e) => e.problem), ['What is 3+4?', 'What is 5*5?', '1+1?']);
    const bad = await webview.request('fewshot.save', { file, examples: [{ problem: 'p', bogus: 'x' }] });
    assert.match(bad.errors[0].message, /unknown field "bogus"/);
    const empty = await webview.request('fewshot.save', { file, examples: [{ problem: '' }] });
    assert.ok(empty.errors.some((e) => e.field === 'examples[0].problem' && /required/.test(e.message)), JSON.stringify(empty));
  });
});
