/**
 * The Studio webview bundle (dist/webview/studio.js) in headless Chromium under the extension's
 * own HTML and CSP, talking the product's protocol to a host played by this test.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { InitResult, PipelineInfo, RunView, StudioHostNotifications, StudioRequests, StudioWebviewNotifications } from '../../src/protocol/studio';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import type { MessageChannel } from '../../src/protocol/ipc';
import { bundleExists, channelHost, STUDIO, WebviewTestHost, type HostedWebview } from './harness';

type Host = MessageChannel<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>;
type Studio = HostedWebview<Host>;

const pipeline: PipelineInfo = {
  id: 'math-solutions',
  name: 'Math solutions',
  description: 'Samples solutions per problem from a teacher model and grades them against the known answer.',
  source: 'builtin',
  file: 'builtin:pipelines/math-solutions.yaml',
  parameters: [
    { name: 'dataset', type: 'file', required: true, description: 'JSONL of problems' },
    { name: 'solutions_per_problem', type: 'integer', default: 64, min: 1, description: 'Samples per problem' },
  ],
  stages: [{ name: 'generate' }, { name: 'grade' }],
  templates: [],
  fewShotSets: [],
  errors: [],
};

function run(status: RunView['status'], live: boolean): RunView {
  return {
    dir: '/ws/runs/2026-11-23-math', name: 'math-2026-11-23', kind: 'pipeline', status, live,
    counts: { total: 20, done: 7, failed: 1, pending: 12 },
    tokens: { prompt: 2100, completion: 9800 },
    throughput: { requestsPerSec: 3.5, tokensPerSec: 1200 },
    stages: [], recentErrors: ['HTTP 503 from POST /v1/chat/completions: loading model'], currentStage: null, etaSeconds: 4, startedAt: '2026-11-23T01:00:00Z', updatedAt: '2026-11-23T01:00:02Z', endedAt: null, output: null, error: null,
  };
}

function initResult(over: Partial<InitResult> = {}): InitResult {
  return {
    trusted: true,
    hasWorkspace: true,
    defaultConcurrency: 16,
    pipelines: [pipeline],
    endpoints: [{ profile: { name: 'local-tiny', baseUrl: 'http://127.0.0.1:8080/v1', model: 'tiny', apiKind: 'chat' }, hasKey: false }],
    runs: [],
    features: { pipelines: true, preview: true, endpointsTest: true, runs: true },
    ...over,
  };
}

/** Registers the handlers every test needs; `init` as given. */
function baseHandlers(host: Host, init: () => InitResult | Promise<InitResult>): void {
  host.handle('init', init);
  host.handle('datasets.list', () => [{ file: 'data/gsm8k-test-20.jsonl' }]);
  host.handle('runs.list', () => []);
}

describe('Studio webview in Chromium (webview)', function () {
  let env: WebviewTestHost;
  let open: Studio | undefined;

  before(async function () {
    if (!existsSync(join(REPO_ROOT, 'webview', 'studio', 'main.ts'))) this.skip(); // not in this build
    if (!bundleExists('studio')) throw new Error('dist/webview/studio.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
  });
  afterEach(async () => {
    await open?.close();
    open = undefined;
  });
  after(async () => env?.close());

  async function openStudio(setup: (host: Host) => void): Promise<Studio> {
    open = await env.open(STUDIO, channelHost(setup));
    return open;
  }

  it('says ready, asks init, renders its pipelines, with no CSP violation or error', async () => {
    let inits = 0;
    const w = await openStudio((host) => baseHandlers(host, () => (inits++, initResult())));
    await w.page.getByText('Math solutions').first().waitFor({ timeout: 20_000 });
    assert.equal(w.posted[0]?.kind, 'ready', 'the first message is the ready handshake');
    const init = w.posted.find((m) => m.kind === 'request' && m.method === 'init');
    assert.ok(init, 'an init request was sent');
    assert.equal(inits, 1);
    await w.page.locator('[data-pipeline="math-solutions"]').click();
    await w.page.getByText('Samples solutions per problem').waitFor();
    await w.page.locator('#param-solutions_per_problem').waitFor();
    const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
    mkdirSync(shots, { recursive: true });
    await w.page.screenshot({ path: join(shots, 'studio-pipelines.png') });
    assert.deepEqual(await w.problems(), []);
  });

  it('shows a failed init with its message, and Retry asks again', async () => {
    let inits = 0;
    const w = await openStudio((host) =>
      baseHandlers(host, () => {
        if (++inits === 1) throw new Error('no workspace folder: the disk said EACCES');
        return initResult();
      }),
    );
    await w.page.getByText('the disk said EACCES').waitFor({ timeout: 20_000 });
    await w.page.locator('vscode-button', { hasText: 'Retry' }).click();
    await w.page.getByText('Math solutions').first().waitFor();
    assert.equal(inits, 2);
  });

  it('a runs.changed notification from the host shows the live run', async () => {
    const w = await openStudio((host) => baseHandlers(host, () => initResult()));
    await w.page.getByText('Math solutions').first().waitFor({ timeout: 20_000 });
    w.host.notify('runs.changed', [run('running', true)]);
    // The Runs tab header counts active runs.
    const runsTab = w.page.locator('vscode-tab-header', { hasText: /^\s*Runs?\b/ });
    await runsTab.locator('vscode-badge', { hasText: '1' }).waitFor();
    await runsTab.click();
    await w.page.getByText('math-2026-11-23').first().waitFor();
    w.host.notify('runs.changed', [run('completed', true)]);
    await runsTab.locator('vscode-badge').waitFor({ state: 'detached' });
  });

  it('Copy to workspace sends the pipeline id and shows where the host put it', async () => {
    const asked: string[] = [];
    const w = await openStudio((host) => {
      baseHandlers(host, () => initResult());
      host.handle('pipelines.copyToWorkspace', ({ id }) => {
        asked.push(id);
        return { file: 'prompts/pipelines/math-solutions.yaml' };
      });
    });
    await w.page.locator('[data-pipeline="math-solutions"]').click({ timeout: 20_000 });
    await w.page.locator('vscode-button', { hasText: 'Copy to workspace' }).click();
    await w.page.getByText('prompts/pipelines/math-solutions.yaml').first().waitFor();
    assert.deepEqual(asked, ['math-solutions']);
  });

  it('Test on an endpoint asks the host by name; an untrusted workspace disables it', async () => {
    const asked: string[] = [];
    const w = await openStudio((host) => {
      baseHandlers(host, () => initResult());
      host.handle('endpoints.test', ({ name }) => {
        asked.push(name);
        return { ok: true, latencyMs: 42, models: ['tiny', 'tiny-draft'], error: null };
      });
    });
    await w.page.locator('vscode-tab-header', { hasText: 'Endpoints' }).click({ timeout: 20_000 });
    const card = w.page.locator('[data-endpoint="local-tiny"]');
    await card.locator('vscode-button', { hasText: 'Test' }).click();
    await card.getByText('Reachable in 42 ms. Models: tiny, tiny-draft').waitFor();
    assert.deepEqual(asked, ['local-tiny']);
    w.host.notify('trust.changed', { trusted: false });
    await w.page.getByText('This workspace is not trusted').waitFor();
    assert.equal(await card.locator('vscode-button', { hasText: 'Test' }).getAttribute('disabled'), '');
  });

  it('an error reply is shown in the panel, not lost', async () => {
    const w = await openStudio((host) => {
      baseHandlers(host, () => initResult());
      host.handle('pipelines.copyToWorkspace', () => {
        throw new Error('prompts/pipelines/math-solutions.yaml already exists');
      });
    });
    await w.page.locator('[data-pipeline="math-solutions"]').click({ timeout: 20_000 });
    await w.page.locator('vscode-button', { hasText: 'Copy to workspace' }).click();
    await w.page.getByRole('alert').getByText('already exists').waitFor();
  });
});
