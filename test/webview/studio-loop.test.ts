/**
 * The Studio's loop pieces in the real bundle (dist/webview/studio.js) in headless Chromium under
 * the extension's CSP: the small defects of issue 17 (decimal parameters, the first Template
 * entry, link colours, every few-shot set listed) and the later loop steps.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { InitResult, LabelParams, PipelineInfo, RunView, StudioHostNotifications, StudioRequests, StudioWebviewNotifications, TemplateRef } from '../../src/protocol/studio';
import type { MessageChannel } from '../../src/protocol/ipc';
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
  { file: 'builtin:generation/gsm8k_text_with_code.yaml', field: ['user'], label: 'gsm8k_text_with_code (prompt config)' },
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

  it('Launch estimates first; above the threshold it waits for a confirmation, then launches', async () => {
    const estimates: LabelParams[] = [];
    const launches: LabelParams[] = [];
    const lines = ['items: 8,320', 'requests: 8,320', 'prompt tokens: ~4,517,760 (~543 per request, from 16 rendered prompts, ~4 characters per token)', 'completion tokens: at most 4,259,840', 'expected time: ~52m 00s at 2.67 req/s measured'];
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host);
      host.handle('runs.estimate', (p) => {
        estimates.push(p);
        const requests = p.numSeeds * 20;
        return { requests, estimate: { items: requests, requests, completions: requests, promptTokensPerRequest: 543, promptTokens: requests * 543, maxCompletionTokens: requests * 512, expectedSeconds: 3120, measuredRequestsPerSec: 2.67, cost: null, sampled: 16, tokenMethod: '~4 characters per token' }, lines, confirm: requests > 1000, threshold: 1000 };
      });
      host.handle('runs.label', (p) => (launches.push(p), { dir: '/ws/.sdg/runs/x.jsonl.run' }));
    })));
    await w.page.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 20_000 });
    await pick(w.page, 'Kind of run', 'Labeling');
    await pick(w.page, 'Prompt config', 'gsm8k_text');
    await pick(w.page, 'Labeling dataset', 'data/gsm8k-test-20.jsonl');
    await w.page.locator('vscode-textfield[aria-label="Seeds"] input').fill('416');
    await w.page.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
    const card = w.page.locator('.estimate[data-confirm="true"]');
    await card.getByText('This launch sends 8,320 requests, more than 1,000').waitFor();
    for (const l of lines) await card.getByText(l).waitFor();
    assert.equal(launches.length, 0, 'nothing launched before the confirmation');
    assert.equal(estimates[0].numSeeds, 416);
    const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
    mkdirSync(shots, { recursive: true });
    await w.page.screenshot({ path: join(shots, 'studio-estimate-confirm.png') });
    await card.locator('vscode-button.confirm-launch').click();
    await waitUntil(() => launches.length === 1);
    assert.equal(launches[0].numSeeds, 416);
    // Below the threshold: no confirmation, the run starts at once.
    await w.page.locator('vscode-textfield[aria-label="Seeds"] input').fill('4');
    await w.page.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
    await waitUntil(() => launches.length === 2);
    assert.equal(await w.page.locator('.estimate[data-confirm="true"]').count(), 0);
    assert.deepEqual(await w.problems(), []);
  });

  it('run cards tell runs apart: what, model @ endpoint, time, key parameters, label; ended runs show duration and averages', async () => {
    const labels: Array<{ dir: string; label: string }> = [];
    const run: RunView = {
      dir: '/ws/.sdg/runs/gsm8k_explain-1', name: 'gsm8k_explain', kind: 'pipeline', status: 'completed', live: false,
      counts: { total: 20, done: 20, failed: 0, pending: 0 }, tokens: { prompt: 4000, completion: 10000 }, throughput: { requestsPerSec: 0, tokensPerSec: 0 },
      stages: [], recentErrors: [], currentStage: null, etaSeconds: null, startedAt: '2026-12-04T14:05:00.000Z', updatedAt: null, endedAt: '2026-12-04T14:05:40.000Z', output: null, error: null,
      details: { source: 'pipeline gsm8k_explain', input: null, endpoint: 'local', model: 'tiny', params: { temperature: 0.7, max_tokens: 512 }, label: 'baseline' },
      finished: { durationSeconds: 40, requestsPerSec: 0.5, tokensPerSec: 350 },
    };
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host, () => loopInit({ runs: [run] }));
      host.handle('runs.setLabel', (p) => (labels.push(p), null));
    })));
    await w.page.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 20_000 });
    const card = w.page.locator(`.run[data-run="${run.dir}"]`);
    const subtitle = await card.locator('.run-subtitle').innerText();
    assert.match(subtitle, /^pipeline gsm8k_explain · tiny @ local · 2026-12-04 \d\d:\d\d · temperature=0\.7 max_tokens=512$/);
    assert.equal(await card.locator('.run-label').innerText(), 'baseline');
    assert.equal(await card.locator('.duration').innerText(), '40s');
    assert.equal(await card.locator('.avg-rps').innerText(), '0.50');
    assert.equal(await card.locator('.avg-tps').innerText(), '350');
    await card.locator('vscode-button[aria-label="Label run"]').click();
    await card.locator('vscode-textfield[aria-label="Run label"] input').fill('temp 0.7');
    await card.locator('vscode-button', { hasText: 'Save label' }).click();
    await waitUntil(() => labels.length === 1);
    assert.deepEqual(labels[0], { dir: run.dir, label: 'temp 0.7' });
  });

  it('a labeling run\'s card grades it through the host and shows accuracy, pass@k and maj@k', async () => {
    const asked: string[] = [];
    const run: RunView = {
      dir: '/ws/.sdg/runs/gsm.jsonl.run', name: 'gsm8k_text: gsm.jsonl', kind: 'generate', status: 'completed', live: false,
      counts: { total: 8, done: 8, failed: 0, pending: 0 }, tokens: { prompt: 800, completion: 1600 }, throughput: { requestsPerSec: 0, tokensPerSec: 0 },
      stages: [], recentErrors: [], currentStage: null, etaSeconds: null, startedAt: null, updatedAt: null, endedAt: null, output: '/ws/.sdg/runs/gsm.jsonl', error: null,
    };
    const metrics = { file: '/ws/.sdg/runs/gsm.graded.jsonl', problems: 2, samples: 8, accuracy: 1, k: 4, passAtK: 1, majAtK: 0.5, computedAt: '2026-12-04T10:00:00Z' };
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host, () => loopInit({ runs: [run] }));
      host.handle('runs.postprocess', ({ action }) => {
        asked.push(action);
        setTimeout(() => host.notify('runs.changed', [{ ...run, metrics }]), 10);
        return { file: metrics.file, lines: ['8 rows graded: 4 correct (50.0%)'], metrics };
      });
    })));
    await w.page.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 20_000 });
    const card = w.page.locator(`.run[data-run="${run.dir}"]`);
    const exportButton = card.locator('vscode-button', { hasText: 'Export SFT' });
    assert.equal(await exportButton.getAttribute('disabled'), '', 'Export SFT waits for grading');
    await card.locator('vscode-button', { hasText: /^\s*Grade\s*$/ }).click();
    await card.locator('.postprocess-result').getByText('8 rows graded: 4 correct (50.0%)').waitFor();
    await card.locator('.run-metrics .maj-at-k', { hasText: '50.0%' }).waitFor();
    assert.equal(await card.locator('.run-metrics .accuracy').innerText(), '100.0%');
    assert.equal(await card.locator('.run-metrics .pass-at-k').innerText(), '100.0%');
    assert.deepEqual(asked, ['grade']);
    assert.equal(await exportButton.getAttribute('disabled'), null);
  });

  it('a code-mode prompt config offers the sandbox choice and limits, and the launch carries them', async () => {
    const launches: LabelParams[] = [];
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host);
      host.handle('runs.estimate', () => ({ requests: 20, estimate: { items: 20, requests: 20, completions: 20, promptTokensPerRequest: 500, promptTokens: 10000, maxCompletionTokens: null, expectedSeconds: null, measuredRequestsPerSec: null, cost: null, sampled: 16, tokenMethod: '~4 characters per token' }, lines: ['items: 20'], confirm: false, threshold: 1000 }));
      host.handle('runs.label', (p) => (launches.push(p), { dir: '/ws/.sdg/runs/x.jsonl.run' }));
    })));
    await w.page.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 20_000 });
    await pick(w.page, 'Kind of run', 'Labeling');
    await pick(w.page, 'Prompt config', 'gsm8k_text');
    assert.equal(await w.page.locator('.code-mode').count(), 0, 'no code options for a text-only config');
    await pick(w.page, 'Prompt config', 'gsm8k_text_with_code');
    await w.page.locator('.code-mode').waitFor();
    await pick(w.page, 'Labeling dataset', 'data/gsm8k-test-20.jsonl');
    await pick(w.page, 'Sandbox', 'remote sandbox server');
    await w.page.locator('vscode-textfield[aria-label="Sandbox URL"] input').fill('http://sandbox:6000');
    await w.page.locator('vscode-textfield[aria-label="Max executions per solution"] input').fill('4');
    await w.page.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
    await waitUntil(() => launches.length === 1);
    assert.deepEqual(launches[0].code, { sandboxUrl: 'http://sandbox:6000', maxExecutions: 4 });
  });

  it('a pipeline launch estimates first (a lower bound) and waits for a confirmation above the threshold', async () => {
    const started: string[] = [];
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      base(host);
      host.handle('runs.estimatePipeline', ({ pipelineId }) => ({ requests: 5000, lines: [`source rows: 5,000 (${pipelineId})`, 'requests: at least 5,000'], confirm: true, threshold: 1000 }));
      host.handle('runs.start', ({ pipelineId }) => (started.push(pipelineId), { dir: '/ws/.sdg/runs/x' }));
    })));
    await w.page.locator('[data-pipeline="sampling"]').click({ timeout: 20_000 });
    await w.page.locator('vscode-button', { hasText: 'Run…' }).click();
    await w.page.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
    const card = w.page.locator('.estimate[data-confirm="true"]');
    await card.getByText('This launch sends at least 5,000 requests, more than 1,000').waitFor();
    await card.getByText('source rows: 5,000 (sampling)').waitFor();
    assert.deepEqual(started, []);
    await card.locator('vscode-button.confirm-launch').click();
    await waitUntil(() => started.length === 1);
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
