/**
 * SDG Studio inside a real extension host (run by test/e2e in code-server; mocha BDD, compiled
 * by esbuild with `vscode` external). The model server is the one in SDG_TEST_LLM_BASE_URL
 * (or SDG_TEST_LLM_URL) with SDG_TEST_LLM_MODEL, else a mock server on loopback.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { Services } from '../../src/extension/services';
import { startMockServer, type MockServer } from '../support/mockServer';

const EXTENSION_ID = 'sdg-studio.sdg-studio';

async function services(): Promise<Services> {
  const ext = vscode.extensions.getExtension<{ services: Services }>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not installed`);
  const api = ext.isActive ? ext.exports : await ext.activate();
  return api.services;
}

function workspaceRoot(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the test window has no workspace folder');
  return folder.uri.fsPath;
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('SDG Studio extension (in the extension host)', function () {
  this.timeout(120_000);
  let mock: MockServer | undefined;
  let baseUrl: string;
  let model: string;
  const endpointName = `host-test-${process.pid}`;

  before(async () => {
    baseUrl = process.env.SDG_TEST_LLM_BASE_URL ?? process.env.SDG_TEST_LLM_URL ?? '';
    model = process.env.SDG_TEST_LLM_MODEL ?? 'mock-model';
    if (!baseUrl) {
      mock = await startMockServer({});
      baseUrl = mock.url;
    }
    await services();
  });

  after(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const s = await services();
    if (s.endpoints.get(endpointName)) await s.endpoints.remove(endpointName);
    await mock?.close();
  });

  it('registers every command it contributes', async () => {
    const ext = vscode.extensions.getExtension(EXTENSION_ID)!;
    const contributed = (ext.packageJSON.contributes.commands as Array<{ command: string; category: string }>);
    assert.ok(contributed.length >= 10);
    for (const c of contributed) assert.equal(c.category, 'SDG', `${c.command} is in category SDG`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.map((c) => c.command).filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  it('reads its settings with their defaults', () => {
    const c = vscode.workspace.getConfiguration('sdg');
    assert.equal(c.inspect('runsFolder')?.defaultValue, '.sdg/runs');
    assert.equal(typeof c.get('defaultConcurrency'), 'number');
    assert.ok(Array.isArray(c.get('endpoints')));
  });

  it('adds an endpoint, stores its key in SecretStorage only, and reads it back', async () => {
    const s = await services();
    const name = await vscode.commands.executeCommand<string>('sdg.addEndpoint', { name: endpointName, baseUrl, model, apiKind: 'chat' });
    assert.equal(name, endpointName);
    await waitFor('the endpoint in settings', () => s.endpoints.get(endpointName));
    const key = `host-test-key-${Date.now()}-abcdef`;
    assert.equal(await vscode.commands.executeCommand('sdg.setApiKey', endpointName, key), true);
    assert.equal(await s.endpoints.getKey(endpointName), key);
    const listed = (await s.endpoints.list()).find((e) => e.profile.name === endpointName);
    assert.equal(listed?.hasKey, true);
    // The key is nowhere in the settings.
    const settingsText = JSON.stringify(vscode.workspace.getConfiguration('sdg').get('endpoints'));
    assert.ok(!settingsText.includes(key), 'the key leaked into settings');
    const ws = join(workspaceRoot(), '.vscode', 'settings.json');
    if (existsSync(ws)) assert.ok(!readFileSync(ws, 'utf8').includes(key), 'the key leaked into .vscode/settings.json');
    // Remove the key again (an empty value deletes it); a local test server needs none.
    await vscode.commands.executeCommand('sdg.setApiKey', endpointName, '');
    assert.equal(await s.endpoints.getKey(endpointName), undefined);
  });

  it('resolves a relative chatTemplateFile in the settings against the workspace folder, not the host\'s working directory', async () => {
    const s = await services();
    const dir = join(workspaceRoot(), '.sdg-test', 'chat-template');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'template.jinja'), '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}<assistant>');
    const name = `${endpointName}-template`;
    await vscode.commands.executeCommand('sdg.addEndpoint', { name, baseUrl, model, apiKind: 'completions', formatter: 'chat-template', chatTemplateFile: '.sdg-test/chat-template/template.jinja' });
    try {
      await waitFor('the endpoint in settings', () => s.endpoints.get(name));
      const { profile } = await s.resolveEndpoint(name);
      assert.equal(profile.chatTemplateFile, join(dir, 'template.jinja'));
      // The settings keep what the user wrote.
      assert.equal(s.endpoints.get(name)?.chatTemplateFile, '.sdg-test/chat-template/template.jinja');
    } finally {
      await s.endpoints.remove(name);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tests the endpoint: latency and the models the server lists', async () => {
    const result = await vscode.commands.executeCommand<{ ok: boolean; latencyMs: number | null; models: string[]; error: string | null }>('sdg.testEndpoint', endpointName);
    assert.ok(result, 'no result');
    assert.equal(result.error, null);
    assert.equal(result.ok, true);
    assert.ok(typeof result.latencyMs === 'number' && result.latencyMs >= 0);
    assert.ok(result.models.length >= 1);
  });

  it('runs a workspace pipeline against the loopback server to completion, then lists it', async () => {
    const s = await services();
    const root = workspaceRoot();
    mkdirSync(join(root, 'prompts', 'pipelines'), { recursive: true });
    mkdirSync(join(root, 'prompts', 'templates', 'hosttest'), { recursive: true });
    writeFileSync(join(root, 'prompts', 'templates', 'hosttest', 'fact.yaml'), 'description: one fact\nprompt: "State one short fact about {{topic}}."\n');
    writeFileSync(
      join(root, 'prompts', 'pipelines', 'hosttest.yaml'),
      [
        'name: hosttest',
        'description: in-host test pipeline (source, then one generation per topic)',
        'parameters:',
        '  topics: { type: list, default: [rivers, bridges, clocks], description: Topics }',
        '  max_tokens: { type: int, default: 16, description: Tokens per answer }',
        'stages:',
        '  - name: topics',
        '    kind: source',
        '    values: "{{topics}}"',
        '    as: topic',
        '  - name: facts',
        '    kind: generate',
        '    template: hosttest/fact',
        '    params: { max_tokens: "{{max_tokens}}", temperature: 0 }',
        '',
      ].join('\n'),
    );
    const listed = await s.catalog.list();
    assert.ok(listed.some((p) => p.id === 'hosttest' && p.errors.length === 0), `pipeline not listed or invalid: ${JSON.stringify(listed.find((p) => p.id === 'hosttest')?.errors)}`);
    const dir = await vscode.commands.executeCommand<string>('sdg.runPipeline', { pipelineId: 'hosttest', endpoint: endpointName, params: { topics: 'rivers\nbridges\nclocks\nmaps' } });
    assert.ok(dir, 'sdg.runPipeline returned no run folder');
    await s.runs.whenIdle();
    const run = s.runs.get(dir)!;
    assert.equal(run.status, 'completed', run.error ?? '');
    const rows = readFileSync(join(dir, 'output.jsonl'), 'utf8').trim().split('\n');
    assert.equal(rows.length, 4);
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.ok(dir.startsWith(join(root, '.sdg', 'runs')), `run folder ${dir} is under the runs folder`);
    const all = await s.listRuns();
    assert.ok(all.some((r) => r.dir === dir && r.status === 'completed'));
  });

  it('labels problems of a workspace dataset (solutions per problem) and resumes the finished run without new requests', async () => {
    const s = await services();
    const root = workspaceRoot();
    const input = join(root, 'hosttest-problems.jsonl');
    writeFileSync(input, ['{"question":"Ann has 3 cats and gets 2 more. How many cats?","answer":"3+2=5\\n#### 5"}', '{"question":"What is 9 - 4?","answer":"#### 5"}'].join('\n') + '\n');
    const promptFile = join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'prompts', 'generation', 'gsm8k_text.yaml');
    const run = await s.runs.start({ kind: 'label', promptFile, input, endpoint: endpointName, numSeeds: 2, numSamples: 1, maxTokens: 16, fewShotCount: 0 }); // short prompts fit a tiny model's context
    await s.runs.whenIdle();
    const v = s.runs.get(run.dir)!;
    assert.equal(v.status, 'completed', v.error ?? '');
    const output = run.dir.slice(0, -'.run'.length);
    const rows = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 4, '2 problems x 2 seeds');
    assert.ok(rows.every((r) => r.error === null || r.error === undefined), JSON.stringify(rows[0]));
    await s.runs.resume(run.dir);
    await s.runs.whenIdle();
    assert.equal(s.runs.get(run.dir)!.status, 'completed');
    assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 4, 'resume adds nothing to a finished run');
  });

  it('shows the core validator problems of a pipeline file in the Problems view, at their line', async () => {
    const root = workspaceRoot();
    mkdirSync(join(root, 'prompts', 'pipelines'), { recursive: true });
    const file = join(root, 'prompts', 'pipelines', 'hosttest_broken.yaml');
    writeFileSync(file, 'name: hosttest_broken\ndescription: x\nstages:\n  - name: a\n    kind: generate\n    template: nowhere/missing\n');
    const uri = vscode.Uri.file(file);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const diags = await waitFor('SDG diagnostics', () => {
      const d = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'SDG');
      return d.length ? d : undefined;
    });
    assert.ok(diags.some((d) => d.range.start.line === 5 && /nowhere\/missing/.test(d.message)), diags.map((d) => `${d.range.start.line}: ${d.message}`).join('\n'));
  });

  it('opens the Studio panel (a webview of type sdg.studio)', async () => {
    await vscode.commands.executeCommand('sdg.openStudio');
    const tab = await waitFor('the Studio tab', () =>
      vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('sdg.studio')),
    );
    assert.equal(tab.label, 'SDG Studio');
  });
});
