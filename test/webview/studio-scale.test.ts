/**
 * Scale-out in the Studio webview bundle (dist/webview/studio.js) in headless Chromium under the
 * extension's CSP: per-server rows of a run over an endpoint pool, the endpoint form's server
 * lines, and the Slurm tab (profile save, script preview, submit, sbatch missing).
 */
import { strict as assert } from 'node:assert';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createHandlers, registerHandlers, type StudioBackend } from '../../src/extension/studio/handlers';
import type { Page } from 'playwright-core';
import type { ClusterSettings, InitResult, RunView, SlurmInfo, SlurmJobParams, SlurmPreview, StudioHostNotifications, StudioRequests, StudioWebviewNotifications } from '../../src/protocol/studio';
import type { MessageChannel } from '../../src/protocol/ipc';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { bundleExists, channelHost, STUDIO, WebviewTestHost, type HostedWebview } from './harness';

type Host = MessageChannel<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>;
type Studio = HostedWebview<Host>;

function initResult(): InitResult {
  return {
    trusted: true,
    hasWorkspace: true,
    defaultConcurrency: 16,
    pipelines: [],
    endpoints: [{ profile: { name: 'pool', baseUrl: 'http://gpu1:8000/v1', model: 'teacher', apiKind: 'chat', servers: [{ baseUrl: 'http://gpu1:8000/v1' }, { baseUrl: 'http://gpu2:8000/v1', weight: 2 }] }, hasKey: false }],
    runs: [],
    features: { pipelines: true, preview: true, endpointsTest: true, runs: true },
  };
}

function poolRun(): RunView {
  return {
    dir: '/ws/.sdg/runs/gsm8k-pool.jsonl.run', name: 'gsm8k_text: gsm.jsonl', kind: 'generate', status: 'running', live: true,
    counts: { total: 100, done: 40, failed: 1, pending: 59 }, tokens: { prompt: 1000, completion: 5000 }, throughput: { requestsPerSec: 12, tokensPerSec: 900 },
    stages: [], recentErrors: [], currentStage: null, etaSeconds: 5, startedAt: null, updatedAt: null, endedAt: null, output: null, error: null,
    servers: [
      { baseUrl: 'http://gpu1:8000/v1', weight: 1, maxConcurrency: 8, outstanding: 3, done: 27, failed: 0, healthy: true, latencyMs: 812.4, lastError: null },
      { baseUrl: 'http://gpu2:8000/v1', weight: 2, maxConcurrency: null, outstanding: 0, done: 13, failed: 4, healthy: false, latencyMs: null, lastError: 'connect ECONNREFUSED 10.0.0.2:8000' },
    ],
  };
}

const PREVIEW: SlurmPreview = {
  output: '/ws/.sdg/runs/gsm8k_text-gsm-slurm.jsonl', scriptDir: '/ws/.sdg/runs/gsm8k_text-gsm-slurm.jsonl.slurm', tasks: 4, continuations: 1,
  arrayScriptPath: '/ws/.sdg/runs/gsm8k_text-gsm-slurm.jsonl.slurm/array.sbatch', arrayScript: '#!/usr/bin/env bash\n#SBATCH --partition=gpu\n#SBATCH --array=0-3\necho "<b>not markup</b>"\n',
  mergeScriptPath: '/ws/.sdg/runs/gsm8k_text-gsm-slurm.jsonl.slurm/merge.sbatch', mergeScript: '#!/usr/bin/env bash\n"${SDG[@]}" merge --output x\n',
  cliCommand: 'cd /ws && sdg slurm generate --input data/gsm.jsonl --cluster-profile .sdg/clusters/dgx.yaml', notes: ['a note from the host'],
};

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

describe('Studio webview in Chromium: scale-out (webview)', function () {
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

  function slurmHandlers(host: Host, info: () => SlurmInfo, log: { saved: Array<{ name: string; settings: ClusterSettings }>; previews: SlurmJobParams[]; submits: SlurmJobParams[] }): void {
    host.handle('init', () => initResult());
    host.handle('datasets.list', () => [{ file: 'data/gsm.jsonl' }]);
    host.handle('templates.list', () => [{ file: 'builtin:generation/gsm8k_text.yaml', field: ['user'], label: 'gsm8k_text (prompt config)' }]);
    host.handle('runs.list', () => []);
    host.handle('slurm.info', () => info());
    host.handle('slurm.saveCluster', (p) => {
      log.saved.push(p);
      return { ...info(), clusters: [{ name: p.name, file: `.sdg/clusters/${p.name}.yaml`, settings: p.settings }] };
    });
    host.handle('slurm.preview', (p) => {
      log.previews.push(p);
      return PREVIEW;
    });
    host.handle('slurm.submit', (p) => {
      log.submits.push(p);
      return { output: PREVIEW.output, scriptDir: PREVIEW.scriptDir, arrayJobId: '812345', continuationJobIds: ['812346'], mergeJobId: '812347' };
    });
  }

  async function fillSlurmJob(page: Page): Promise<void> {
    await page.locator('vscode-tab-header', { hasText: 'Slurm' }).click({ timeout: 20_000 });
    await page.getByText('Cluster profile').first().waitFor();
    await setField(page, 'vscode-textfield[aria-label="Cluster name"]', 'dgx', 'input');
    await setField(page, 'vscode-textfield[aria-label="Partition"]', 'gpu', 'input');
    await setField(page, 'vscode-textarea[aria-label="Setup lines"]', 'module load cuda/12.4\nsource ~/venv/bin/activate', 'input');
    await setField(page, 'vscode-single-select[aria-label="Slurm prompt config"]', 'builtin:generation/gsm8k_text.yaml', 'change');
    await setField(page, 'vscode-single-select[aria-label="Slurm dataset"]', 'data/gsm.jsonl', 'change');
    await setField(page, 'vscode-textfield[aria-label="Slurm model"]', 'Qwen/Qwen2.5-72B-Instruct', 'input');
    await setField(page, 'vscode-textfield[aria-label="Chunks"]', '2', 'input');
    await page.getByText('2 array tasks (seed ranges x chunks) + merge job').waitFor({ timeout: 5000 }).catch(async (e) => {
      throw new Error(`${(e as Error).message}\nform problems: ${await page.locator('.slurm-issues').allInnerTexts()}`);
    });
  }

  it('shows a row per server of a pool run: outstanding, done, failed, health, latency, last error', async () => {
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      host.handle('init', () => initResult());
      host.handle('datasets.list', () => []);
      host.handle('runs.list', () => []);
      host.handle('slurm.info', () => ({ clusters: [], sbatch: null, defaultSdgCommand: 'sdg' }));
    })));
    await w.page.locator('vscode-tab-header', { hasText: /^\s*Run\b/ }).click({ timeout: 20_000 });
    w.host.notify('runs.changed', [poolRun()]);
    const rows = w.page.locator('tr.server-row');
    await rows.nth(1).waitFor();
    assert.equal(await rows.count(), 2);
    const first = await rows.nth(0).locator('td').allInnerTexts();
    assert.deepEqual(first.map((t) => t.trim()), ['http://gpu1:8000/v1', 'healthy', '3 / 8', '27', '0', '812 ms', '']);
    const second = await rows.nth(1).locator('td').allInnerTexts();
    assert.deepEqual(second.map((t) => t.trim()), ['http://gpu2:8000/v1 ×2', 'out of rotation', '0', '13', '4', '-', 'connect ECONNREFUSED 10.0.0.2:8000']);
    assert.equal(await rows.nth(1).getAttribute('data-healthy'), 'false');
    await w.page.getByText('Servers (1 of 2 in rotation)').waitFor();
    // Numbers follow the host's notifications.
    const next = poolRun();
    next.servers![1] = { ...next.servers![1], healthy: true, done: 20, lastError: null };
    w.host.notify('runs.changed', [next]);
    await w.page.getByText('Servers (2 of 2 in rotation)').waitFor();
    const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
    mkdirSync(shots, { recursive: true });
    await w.page.screenshot({ path: join(shots, 'studio-servers.png'), fullPage: true });
    assert.deepEqual(await w.problems(), []);
  });

  it('the endpoint form saves several base URLs as a pool, and shows the pool with its servers', async () => {
    const saved: unknown[] = [];
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => {
      host.handle('init', () => initResult());
      host.handle('datasets.list', () => []);
      host.handle('slurm.info', () => ({ clusters: [], sbatch: null, defaultSdgCommand: 'sdg' }));
      host.handle('endpoints.save', (p) => {
        saved.push(p);
        return [...initResult().endpoints, { profile: p.profile, hasKey: false }];
      });
    })));
    await w.page.locator('vscode-tab-header', { hasText: 'Endpoints' }).click({ timeout: 20_000 });
    await w.page.locator('[data-endpoint="pool"]').getByText('pool of 2 servers').waitFor();
    await w.page.locator('[data-endpoint="pool"] li[data-server="http://gpu2:8000/v1"]').getByText('weight 2').waitFor();
    await w.page.locator('vscode-button', { hasText: 'Add endpoint' }).click();
    await setField(w.page, 'vscode-textfield[aria-label="Name"]', 'replicas', 'input');
    await setField(w.page, 'vscode-textarea[aria-label="Base URLs"]', 'http://n1:8000/v1\nhttp://n2:8000/v1#weight=x', 'input');
    await w.page.getByText('server 2: weight must be a positive number, got "x"').waitFor();
    await setField(w.page, 'vscode-textarea[aria-label="Base URLs"]', 'not a url', 'input');
    await w.page.getByText('base URL: "not a url" is not a URL').waitFor();
    await setField(w.page, 'vscode-textarea[aria-label="Base URLs"]', 'http://n1:8000/v1\nhttp://n2:8000/v1#weight=2&max=64', 'input');
    await w.page.getByText('A pool of 2 servers').waitFor();
    await setField(w.page, 'vscode-textfield[aria-label="Model"]', 'teacher', 'input');
    await w.page.locator('vscode-button', { hasText: /^\s*Save\s*$/ }).click();
    await w.page.locator('[data-endpoint="replicas"]').waitFor();
    assert.deepEqual((saved[0] as { profile: unknown }).profile, { name: 'replicas', baseUrl: 'http://n1:8000/v1', model: 'teacher', apiKind: 'chat', servers: [{ baseUrl: 'http://n1:8000/v1' }, { baseUrl: 'http://n2:8000/v1', weight: 2, maxConcurrency: 64 }] });
    assert.deepEqual(await w.problems(), []);
  });

  it('Slurm tab: Preview saves the profile and shows the scripts as text; Submit is off without sbatch', async () => {
    const log = { saved: [] as Array<{ name: string; settings: ClusterSettings }>, previews: [] as SlurmJobParams[], submits: [] as SlurmJobParams[] };
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) =>
      slurmHandlers(host, () => ({ clusters: [], sbatch: null, defaultSdgCommand: 'node /ext/dist/cli.js' }), log),
    )));
    await fillSlurmJob(w.page);
    await w.page.locator('.sbatch-missing').getByText('sbatch is not on the PATH of the VS Code extension host').waitFor();
    const submit = w.page.locator('vscode-button', { hasText: /^\s*Submit\s*$/ });
    assert.equal(await submit.getAttribute('disabled'), '');
    await w.page.locator('vscode-button', { hasText: 'Preview scripts' }).click();
    await w.page.locator('pre.array-script').waitFor();
    assert.equal((await w.page.locator('pre.array-script').innerText()).trim(), PREVIEW.arrayScript.trim(), 'scripts are shown as text, never as markup');
    assert.match(await w.page.locator('pre.cli-command').innerText(), /--cluster-profile \.sdg\/clusters\/dgx\.yaml/);
    await w.page.getByText('a note from the host').waitFor();
    assert.deepEqual(log.saved, [{ name: 'dgx', settings: { partition: 'gpu', time: '04:00:00', serverCommand: 'vllm serve {model} --port {port} --tensor-parallel-size {gpus}', gpusPerNode: 8, continuations: 1, setup: ['module load cuda/12.4', 'source ~/venv/bin/activate'] } }]);
    assert.deepEqual(log.previews, [{ cluster: 'dgx', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', numSeeds: 8, numSamples: 4, numChunks: 2, model: 'Qwen/Qwen2.5-72B-Instruct' }]);
    const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
    mkdirSync(shots, { recursive: true });
    await w.page.screenshot({ path: join(shots, 'studio-slurm.png'), fullPage: true });
    assert.deepEqual(await w.problems(), []);
  });

  it('Slurm tab over the REAL host handlers: the profile file, the core\'s scripts, submission through a fake sbatch', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'sdg-wv-slurm-'));
    mkdirSync(join(ws, 'data'));
    writeFileSync(join(ws, 'data/gsm.jsonl'), '{"question":"What is 3+4?","answer":"#### 7"}\n');
    const bin = mkdtempSync(join(tmpdir(), 'sdg-wv-sbatch-'));
    writeFileSync(join(bin, 'sbatch'), `#!/usr/bin/env bash\necho "$*" >> ${bin}/calls.log\nn=$(wc -l < ${bin}/calls.log)\necho "$((900 + n))"\n`);
    chmodSync(join(bin, 'sbatch'), 0o755);
    const backend: StudioBackend = {
      roots: [ws],
      builtinDir: join(REPO_ROOT, 'prompts'),
      trusted: () => true,
      defaultConcurrency: () => 8,
      listDatasets: async () => ['data/gsm.jsonl'],
      openFile: async () => undefined,
      endpoints: { list: async () => [], save: async () => undefined, remove: async () => undefined, test: async () => ({ ok: true, latencyMs: 1, models: [], error: null }) },
      pipelines: { available: () => false, list: async () => [], listTemplates: async () => [{ file: 'builtin:generation/gsm8k_text.yaml', field: ['user'], label: 'gsm8k_text (prompt config)' }], copyToWorkspace: async () => 'x' },
      runs: { available: () => true, list: async () => [], start: async () => '/d', label: async () => '/l', cancel: async () => undefined, resume: async () => undefined, openOutput: async () => undefined },
      slurm: {
        runsFolder: () => join(ws, '.sdg', 'runs'),
        resolveEndpoint: async () => { throw new Error('no endpoints here'); },
        extensionPath: REPO_ROOT,
        env: { PATH: `${bin}${delimiter}${process.env.PATH}` },
      },
    };
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) => registerHandlers(host, createHandlers(backend), () => undefined))));
    await fillSlurmJob(w.page);
    await setField(w.page, 'vscode-textfield[aria-label="GPUs per node"]', 'eight', 'input');
    await w.page.locator('.cluster-issues').getByText('GPUs per node: a whole number >= 0, got "eight"').waitFor();
    await setField(w.page, 'vscode-textfield[aria-label="GPUs per node"]', '4', 'input');
    await w.page.locator('vscode-button', { hasText: 'Preview scripts' }).click();
    const script = w.page.locator('pre.array-script');
    await script.waitFor();
    const text = await script.innerText();
    assert.match(text, /#SBATCH --partition=gpu/);
    assert.match(text, /#SBATCH --gpus-per-node=4/);
    assert.match(text, /vllm serve Qwen\/Qwen2\.5-72B-Instruct --port "\$PORT" --tensor-parallel-size 4/);
    assert.match(readFileSync(join(ws, '.sdg/clusters/dgx.yaml'), 'utf8'), /partition: gpu\n/);
    await w.page.locator('vscode-button', { hasText: /^\s*Submit\s*$/ }).click();
    const done = w.page.locator('.slurm-submitted');
    await done.waitFor();
    assert.match(await done.innerText(), /array 901, continuation 902, merge 903/);
    const calls = readFileSync(join(bin, 'calls.log'), 'utf8').trim().split('\n');
    assert.match(calls[2], /^--parsable --dependency=afterany:902 .*merge\.sbatch$/);
    assert.deepEqual(await w.problems(), []);
  });

  it('Slurm tab: Submit with sbatch available shows the job ids', async () => {
    const log = { saved: [] as Array<{ name: string; settings: ClusterSettings }>, previews: [] as SlurmJobParams[], submits: [] as SlurmJobParams[] };
    const w = (open = await env.open(STUDIO, channelHost<StudioRequests, Record<string, never>, StudioWebviewNotifications, StudioHostNotifications>((host) =>
      slurmHandlers(host, () => ({ clusters: [], sbatch: '/usr/bin/sbatch', defaultSdgCommand: 'node /ext/dist/cli.js' }), log),
    )));
    await fillSlurmJob(w.page);
    assert.equal(await w.page.locator('.sbatch-missing').count(), 0);
    await w.page.locator('vscode-button', { hasText: /^\s*Submit\s*$/ }).click();
    const done = w.page.locator('.slurm-submitted');
    await done.waitFor();
    assert.match(await done.innerText(), /array 812345, continuation 812346, merge 812347/);
    assert.equal(log.submits.length, 1);
    assert.equal(log.saved.length, 1, 'the profile is saved before submitting');
  });
});
