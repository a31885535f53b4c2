/**
 * The Studio's loop pieces in the real bundle (dist/webview/studio.js) in headless Chromium under
 * the extension's CSP: the small defects of issue 17 (decimal parameters, the first Template
 * entry, link colours, every few-shot set listed) and the later loop steps.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { InitResult, PipelineInfo, StudioHostNotifications, StudioRequests, StudioWebviewNotifications, TemplateRef } from '../../src/shared/protocol/studio';
import type { MessageChannel } from '../../src/shared/ipc';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { bundleExists, channelHost, STUDIO, WebviewTestHost, type HostedWebview } from './harness';

type Host = MessageChannel<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>;
type Studio = HostedWebview<Host>;

const datasetPipeline: PipelineInfo = {
  id: 'explain', name: 'Explain', description: 'Reads a dataset.', source: 'workspace', file: 'prompts/pipelines/explain.yaml',
  parameters: [{ name: 'documents', type: 'text', required: true, dataset: true, description: 'Problem files (one value per line)' }],
  stages: [{ name: 'problems' }], templates: [], fewShotSets: [], errors: [],
};

export const decimalPipeline: PipelineInfo = {
  id: 'sampling', name: 'Sampling', description: 'A pipeline with a decimal parameter.', source: 'workspace', file: 'prompts/pipelines/sampling.yaml',
  parameters: [
    { name: 'temperature', type: 'number', default: 0.7, min: 0, max: 2, description: 'Sampling temperature' },
    { name: 'n', type: 'integer', default: 2, min: 1, description: 'Items' },
  ],
  stages: [{ name: 'generate' }], templates: [], fewShotSets: ['prompts/few_shot/mine.yaml'], errors: [],
};

export function loopInit(over: Partial<InitResult> = {}): InitResult {
  return {
    trusted: true, hasWorkspace: true, defaultConcurrency: 4, pipelines: [decimalPipeline],
    endpoints: [{ profile: { name: 'local', baseUrl: 'http://127.0.0.1:8080/v1', model: 'tiny', apiKind: 'chat' }, hasKey: false }],
    runs: [], features: { pipelines: true, preview: true, endpointsTest: true, runs: true }, ...over,
  };
}

const REFS: TemplateRef[] = [
  { file: 'builtin:generation/gsm8k_text.yaml', field: ['user'], label: 'gsm8k_text (prompt config)' },
  { file: 'builtin:generation/math_text.yaml', field: ['user'], label: 'math_text (prompt config)' },
];

/** Picks an option of a vscode-single-select as a person does: open the list, click the option. */
export async function pick(page: Page, selectLabel: string, option: string): Promise<void> {
  const select = page.locator(`vscode-single-select[aria-label="${selectLabel}"]`);
  await select.waitFor({ timeout: 20_000 });
  await select.click();
  await select.locator('li.option', { hasText: option }).first().click({ timeout: 10_000 });
}

describe('Studio loop in Chromium (webview)', function () {
  let env: WebviewTestHost;
  let open: Studio | undefined;

  before(async function () {
    if (!existsSync(join(REPO_ROOT, 'webview', 'studio', 'main.ts'))) this.skip();
    if (!bundleExists('studio')) throw new Error('dist/webview/studio.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
  });
  afterEach(async () => {
    await open?.close();
    open = undefined;
  });
  after(async () => env?.close());

  function base(host: Host, init: () => InitResult = () => loopInit()): void {
    host.handle('init', init);
    host.handle('datasets.list', () => [
      { file: 'data/gsm8k-test-20.jsonl', group: 'dataset' as const },
      { file: '.sdg/runs/gsm8k_explain-1/output.jsonl', group: 'run' as const },
      { file: '.sdg/runs/gsm8k_explain-1/stages/problems.jsonl', group: 'run' as const },
    ]);
    host.handle('runs.list', () => []);
    host.handle('templates.list', () => REFS);
    host.handle('fewshot.list', () => [
      { file: 'prompts/few_shot/mine.yaml', name: 'mine', source: 'workspace' as const },
      { file: 'builtin:few_shot/gsm8k_text.yaml', name: 'gsm8k_text', source: 'builtin' as const },
      { file: 'builtin:few_shot/math_text.yaml', name: 'math_text', source: 'builtin' as const },
    ]);
  }

  it('a decimal parameter (0.7) is valid in the form and reaches the launch as a number', async () => {
    const started: Array<Record<string, unknown>> = [];
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host);
      host.handle('runs.start', ({ params }) => (started.push(params), { dir: '/ws/.sdg/runs/x' }));
    })));
    await w.page.locator('[data-pipeline="sampling"]').click({ timeout: 20_000 });
    const field = w.page.locator('#param-temperature');
    await field.locator('input').fill('0.35');
    assert.equal(await field.evaluate((el) => (el as unknown as { checkValidity(): boolean }).checkValidity()), true, 'the decimal field is valid');
    assert.equal(await field.locator('input').evaluate((el) => (el as HTMLInputElement).validity.valid), true);
    await w.page.locator('vscode-button', { hasText: 'Run…' }).click();
    await w.page.getByText('temperature=0.35').waitFor();
    assert.equal(await w.page.locator('ul.issues').count(), 0, 'no parameter problem listed');
    await w.page.locator('vscode-button', { hasText: 'Launch' }).click();
    await waitUntil(() => started.length === 1);
    assert.equal(started[0].temperature, 0.35);
    assert.deepEqual(await w.problems(), []);
  });

  it('dataset parameters: workspace datasets listed, run outputs and stage files in a collapsed group, Browse asks VS Code', async () => {
    let browsed = 0;
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host, () => loopInit({ pipelines: [datasetPipeline, decimalPipeline] }));
      host.handle('datasets.browse', () => (browsed++, { file: 'elsewhere/picked.jsonl' }));
    })));
    await w.page.locator('[data-pipeline="explain"]').click({ timeout: 20_000 });
    const select = w.page.locator('vscode-single-select[aria-label="Dataset for documents"]');
    await select.click();
    const options = (await select.locator('li.option').allInnerTexts()).map((x) => x.trim());
    assert.deepEqual(options, ['(pick a workspace file)', 'data/gsm8k-test-20.jsonl'], 'only datasets in the list');
    await select.locator('li.option', { hasText: 'data/gsm8k-test-20.jsonl' }).click();
    const area = w.page.locator('#param-documents');
    await waitUntilAsync(async () => (await area.evaluate((el) => (el as HTMLTextAreaElement).value)) === 'data/gsm8k-test-20.jsonl');
    const group = w.page.locator('vscode-collapsible.run-files');
    assert.equal(await group.getAttribute('title'), 'Run outputs and stage files (2)');
    assert.equal(await group.evaluate((el) => (el as unknown as { open: boolean }).open), false, 'collapsed');
    await group.click();
    await group.locator('a', { hasText: 'stages/problems.jsonl' }).click();
    await waitUntilAsync(async () => (await area.evaluate((el) => (el as HTMLTextAreaElement).value)) === '.sdg/runs/gsm8k_explain-1/stages/problems.jsonl');
    await w.page.locator('vscode-button[aria-label="Browse for Dataset for documents"]').click();
    await waitUntilAsync(async () => (await area.evaluate((el) => (el as HTMLTextAreaElement).value)) === 'elsewhere/picked.jsonl');
    assert.equal(browsed, 1);
    assert.deepEqual(await w.problems(), []);
  });

  it('the first entry of the Template list can be picked', async () => {
    const asked: TemplateRef[] = [];
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host);
      host.handle('template.get', ({ ref }) => (asked.push(ref), { ref, text: 'Solve {{problem}}', placeholders: ['problem'], readonly: true }));
      host.handle('template.preview', () => ({ messages: [{ role: 'user', content: 'Solve x' }], placeholders: ['problem'], errors: [] }));
    })));
    await w.page.locator('vscode-tab-header', { hasText: 'Template' }).click({ timeout: 20_000 });
    await w.page.locator('vscode-single-select[aria-label="Template"] .combobox-input').click();
    await w.page.locator('vscode-single-select[aria-label="Template"] li.option', { hasText: 'gsm8k_text (prompt config)' }).click();
    await waitUntil(() => asked.length === 1);
    assert.equal(asked[0].file, REFS[0].file);
  });

  it('links use the theme\'s link colour, not the browser\'s blue', async () => {
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => base(host))));
    await w.page.locator('[data-pipeline="sampling"]').click({ timeout: 20_000 });
    const link = w.page.locator('a', { hasText: 'prompts/pipelines/sampling.yaml' });
    const color = await link.evaluate((el) => getComputedStyle(el).color);
    assert.equal(color, 'rgb(77, 170, 252)', 'the harness theme sets --vscode-textLink-foreground: #4daafc');
  });

  it('lists every few-shot set, the ones the selection uses first', async () => {
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host);
      host.handle('fewshot.get', ({ file }) => ({ file, examples: [{ problem: 'p', solution: 's' }], readonly: file.startsWith('builtin:') }));
    })));
    await w.page.locator('[data-pipeline="sampling"]').click({ timeout: 20_000 });
    await w.page.locator('vscode-tab-header', { hasText: 'Few-shot' }).click();
    const select = w.page.locator('vscode-single-select[aria-label="Few-shot set"]');
    await select.click();
    const options = await select.locator('li.option').allInnerTexts();
    assert.deepEqual(options.map((x) => x.trim().split(/\s+/)[0]), ['(choose)', 'prompts/few_shot/mine.yaml', 'builtin:few_shot/gsm8k_text.yaml', 'builtin:few_shot/math_text.yaml']);
    await select.locator('li.option', { hasText: 'math_text.yaml' }).click();
    await w.page.getByText('builtin:few_shot/math_text.yaml (built-in, read-only)').waitFor();
  });
});

export async function waitUntil(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function waitUntilAsync(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
