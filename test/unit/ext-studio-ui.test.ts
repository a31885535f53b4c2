/**
 * The Studio webview bundle in headless Chromium, talking to the extension's REAL request
 * handlers (src/extension/studio/handlers.ts) over a temp workspace, with runs going through the
 * RunManager and the core against a mock model server on loopback. Needs dist/webview/studio.js
 * (npm run build) and Chromium (scripts/setup-real-parts.sh chromium); skipped without Chromium.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { createHandlers, registerHandlers, type StudioBackend } from '../../src/extension/studio/handlers';
import { estimateLabelRun, LabelingLauncher } from '../../src/extension/labeling';
import { StudioLauncher, type RunRequest } from '../../src/extension/launcher';
import { PipelineCatalog, PipelineLauncher } from '../../src/extension/pipelines';
import { RunManager } from '../../src/extension/run/manager';
import type { Logger } from '../../src/extension/log';
import type { MessageChannel } from '../../src/protocol/ipc';
import type { StudioHostNotifications, StudioRequests } from '../../src/protocol/studio';
import { startMockServer, type MockServer } from '../support/mockServer';
import { bundleExists, channelHost, STUDIO, WebviewTestHost, type HostedWebview } from '../webview/harness';

type Host = MessageChannel<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>;
const quietLog: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, show() {} };
const CHROMIUM = '/usr/bin/chromium';

/** Sets a vscode-elements field's value and fires the event the Studio listens to. */
async function setField(page: Page, selector: string, value: string, event: 'input' | 'change'): Promise<void> {
  await page.locator(selector).first().evaluate(
    (el, [v, ev]) => {
      (el as HTMLInputElement).value = v;
      el.dispatchEvent(new Event(ev, { bubbles: true }));
    },
    [value, event] as const,
  );
}

async function tab(page: Page, name: string): Promise<void> {
  await page.locator('vscode-tab-header', { hasText: name }).click();
}

describe('extension: Studio UI over the real handlers (Chromium)', function () {
  this.timeout(120_000);
  let env: WebviewTestHost;
  let open: HostedWebview<Host> | undefined;
  let server: MockServer;
  let ws: string;
  let manager: RunManager<RunRequest>;

  before(async function () {
    if (!existsSync(CHROMIUM)) this.skip();
    if (!bundleExists('studio')) throw new Error('dist/webview/studio.js is missing: run `npm run build` first');
    server = await startMockServer({ respond: () => 'Add them up. \\boxed{7}', latency: 20 });
    ws = mkdtempSync(join(tmpdir(), 'sdg-ext-ui-'));
    for (const d of ['prompts/generation', 'prompts/few_shot', 'data']) mkdirSync(join(ws, d), { recursive: true });
    writeFileSync(join(ws, 'prompts/few_shot/mine.yaml'), '# my set\nexamples:\n  - problem: "Original example problem"\n    solution: "Original example solution"\n');
    writeFileSync(
      join(ws, 'prompts/generation/mine.yaml'),
      '# keep this comment\ndescription: test prompt\nsystem: ""\nuser: |\n  {{examples}}Question: {{problem}}\n  Answer:\nfew_shot:\n  set: mine\n  count: 1\n  template: "Q: {{problem}}\\nA: {{solution}}"\n  separator: "\\n\\n"\n',
    );
    writeFileSync(join(ws, 'data/problems.jsonl'), '{"question":"What is 3+4?","answer":"#### 7"}\n{"question":"What is 2+5?","answer":"#### 7"}\n');
    env = await WebviewTestHost.start();
  });

  after(async () => {
    await open?.close();
    await manager?.dispose();
    await env?.close();
    await server?.close();
  });

  async function openStudio(): Promise<HostedWebview<Host>> {
    const profile = { name: 'mock', baseUrl: server.url, model: 'mock', apiKind: 'chat' as const };
    const deps = { runsFolder: () => join(ws, '.sdg', 'runs'), resolveEndpoint: async () => ({ profile, apiKey: undefined }), defaultConcurrency: () => 2, log: quietLog };
    const catalog = new PipelineCatalog(join(__dirname, '../../prompts'), () => [ws]);
    manager = new RunManager<RunRequest>(new StudioLauncher(new PipelineLauncher({ ...deps, catalog }), new LabelingLauncher(deps)), { throttleMs: 100 });
    const backend: StudioBackend = {
      roots: [ws],
      builtinDir: join(__dirname, '../../prompts'),
      trusted: () => true,
      defaultConcurrency: () => 2,
      listDatasets: async () => ['data/problems.jsonl'],
      openFile: async () => undefined,
      endpoints: { list: async () => [{ profile, hasKey: false }], save: async () => undefined, remove: async () => undefined, test: async () => ({ ok: true, latencyMs: 3, models: ['mock'], error: null }) },
      pipelines: { available: () => true, list: () => catalog.list(), listTemplates: () => catalog.listTemplates(), copyToWorkspace: async () => 'x' },
      runs: {
        available: () => true,
        list: async () => manager.list(),
        start: async (pipelineId, endpoint, params, concurrency) => (await manager.start({ kind: 'pipeline', pipelineId, endpoint, params, concurrency })).dir,
        label: async (r) => (await manager.start({ kind: 'label', ...r })).dir,
        estimate: (r) => estimateLabelRun(r, { measuredRequestsPerSec: null, prices: null, threshold: 1000 }),
        cancel: async (d) => void manager.cancel(d),
        resume: async (d) => void (await manager.resume(d)),
        openOutput: async () => undefined,
      },
    };
    open = await env.open(
      STUDIO,
      channelHost<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>((host) => {
        registerHandlers(host, createHandlers(backend), () => undefined);
        manager.onDidChange((runs) => host.notify('runs.changed', runs));
      }),
    );
    await open.ready;
    return open;
  }

  it('template editor: a dataset row and unsaved few-shot edits in the live preview, then Save keeps the file comments', async () => {
    const { page, host } = await openStudio();
    await page.locator('sdg-studio vscode-tab-header').first().waitFor();
    host.notify('focus', { tab: 'templates', ref: { file: 'prompts/generation/mine.yaml', field: ['user'], label: 'mine' } });
    const preview = page.locator('pre.preview-message').first();
    await preview.filter({ hasText: 'Original example problem' }).waitFor({ timeout: 20_000 });
    assert.match(await page.locator('.preview-note').innerText(), /No dataset row chosen/);

    // A real row of the chosen dataset.
    await setField(page, 'vscode-single-select[aria-label="Dataset"]', 'data/problems.jsonl', 'change');
    await preview.filter({ hasText: 'Question: What is 3+4?' }).waitFor({ timeout: 20_000 });

    // Edit the template text: the preview follows.
    await setField(page, 'vscode-textarea[aria-label="Template text"]', 'EDITED {{examples}}Q={{problem}}', 'input');
    await preview.filter({ hasText: 'EDITED Q: Original example problem' }).waitFor({ timeout: 20_000 });

    // Edit the few-shot example without saving: the template preview shows the draft.
    await tab(page, 'Few-shot');
    await page.locator('.example vscode-textarea').first().waitFor();
    await setField(page, '.example vscode-textarea', 'Draft problem from the few-shot tab', 'input');
    await tab(page, 'Template');
    await preview.filter({ hasText: 'Q: Draft problem from the few-shot tab' }).waitFor({ timeout: 20_000 });

    // Save the template: only its field changes, the comment stays.
    await page.locator('vscode-button', { hasText: 'Save' }).first().click();
    await page.locator('.banner', { hasText: 'Saved prompts/generation/mine.yaml' }).waitFor({ timeout: 20_000 });
    const saved = readFileSync(join(ws, 'prompts/generation/mine.yaml'), 'utf8');
    assert.match(saved, /^# keep this comment/);
    assert.match(saved, /user: EDITED \{\{examples\}\}Q=\{\{problem\}\}|user: "EDITED \{\{examples\}\}Q=\{\{problem\}\}"/);
    // The few-shot draft is still unsaved on disk.
    assert.match(readFileSync(join(ws, 'prompts/few_shot/mine.yaml'), 'utf8'), /Original example problem/);
    assert.deepEqual(await open!.problems(), []);
  });

  it('labeling form: launches a run that completes and shows its numbers', async () => {
    const { page } = open ?? (await openStudio());
    await tab(page, 'Run');
    await setField(page, 'vscode-single-select[aria-label="Kind of run"]', 'label', 'change');
    await page.locator('vscode-single-select[aria-label="Prompt config"]').waitFor();
    await setField(page, 'vscode-single-select[aria-label="Prompt config"]', 'prompts/generation/mine.yaml', 'change');
    await setField(page, 'vscode-single-select[aria-label="Labeling dataset"]', 'data/problems.jsonl', 'change');
    await setField(page, 'vscode-textfield[aria-label="Seeds"]', '3', 'input');
    await page.locator('vscode-button', { hasText: 'Launch' }).evaluate((el) => (el as HTMLElement).click());
    const card = page.locator('.run[data-status="completed"]');
    await card.waitFor({ timeout: 60_000 });
    assert.match(await card.innerText(), /6\s*\/\s*6/);
    const dir = await card.getAttribute('data-run');
    assert.ok(dir && dir.endsWith('.jsonl.run'));
    assert.equal(readFileSync(dir.slice(0, -4), 'utf8').trim().split('\n').length, 6, '2 problems x 3 seeds');
    assert.deepEqual(await open!.problems(), []);
  });
});
