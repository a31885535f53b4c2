/**
 * The Studio's Slurm dialog on the host: cluster profiles saved as YAML in the workspace and
 * read back by the core's loader, the scripts of a labeling job (core buildSlurmPlan, checked
 * with `bash -n`), submission through a fake sbatch on PATH (ids, dependency chain, the key in
 * sbatch's environment and never in a script), a missing sbatch, trust and path confinement
 * through the real request handlers, and the webview's form logic.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { loadClusterProfile } from '../../src/core/scale/slurm';
import { findSbatch, listClusters, planJob, saveCluster, submitJob, type SlurmContext } from '../../src/extension/scale/slurm';
import { createHandlers, registerHandlers, type StudioBackend } from '../../src/extension/studio/handlers';
import { MessageChannel, type WireMessage } from '../../src/protocol/ipc';
import type { EndpointProfile, StudioHostNotifications, StudioRequests } from '../../src/protocol/studio';
import { clusterFormOf, clusterRequest, defaultSlurmForm, slurmJobRequest, taskCount } from '../../webview/studio/logic/slurm';
import { initialState, reduce } from '../../webview/studio/logic/state';

const BUILTIN = join(__dirname, '../../prompts');
const KEY = 'sk-test-secret-123';

function workspace(): string {
  const ws = mkdtempSync(join(tmpdir(), 'sdg-ext-slurm-'));
  mkdirSync(join(ws, 'data'));
  writeFileSync(join(ws, 'data/gsm.jsonl'), '{"question":"What is 3+4?","answer":"#### 7"}\n');
  return ws;
}

/** A fake sbatch that records its arguments and whether the key reached it, and prints ids. */
function fakeSbatch(): { dir: string; calls: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'sdg-fake-sbatch-'));
  writeFileSync(
    join(dir, 'sbatch'),
    '#!/usr/bin/env bash\nn=$(( $(cat "$FAKE_SBATCH_DIR/count" 2>/dev/null || echo 4100) + 1 ))\necho "$n" > "$FAKE_SBATCH_DIR/count"\necho "$* key=${SDG_API_KEY:-none}" >> "$FAKE_SBATCH_DIR/calls.log"\necho "$n;testcluster"\n',
  );
  chmodSync(join(dir, 'sbatch'), 0o755);
  return { dir, calls: () => readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n') };
}

function context(ws: string, over: Partial<SlurmContext> = {}, endpoint?: { profile: EndpointProfile; apiKey?: string }): SlurmContext {
  return {
    roots: [ws],
    builtinDir: BUILTIN,
    runsFolder: () => join(ws, '.sdg', 'runs'),
    resolveEndpoint: async (name) => {
      if (!endpoint || endpoint.profile.name !== name) throw new Error(`no endpoint named "${name}"`);
      return { profile: endpoint.profile, apiKey: endpoint.apiKey };
    },
    extensionPath: '/opt/sdg-ext',
    env: { PATH: join(ws, 'no-bin') },
    now: () => new Date(2026, 10, 23, 2, 30, 0),
    ...over,
  };
}

function bashSyntaxOk(script: string): void {
  const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

describe('extension scale-out: Slurm dialog (host)', function () {
  this.timeout(30_000);

  it('saves a cluster profile the core loads, and keeps comments on a second save', async () => {
    const ws = workspace();
    const ctx = context(ws);
    const info = await saveCluster(ctx, 'dgx', { partition: 'gpu', account: 'proj', time: '04:00:00', gpusPerNode: 8, setup: ['module load cuda/12.4', ''], serverCommand: 'vllm serve {model} --port {port} -tp {gpus}', continuations: 1, mem: '' });
    const file = join(ws, '.sdg/clusters/dgx.yaml');
    assert.deepEqual(loadClusterProfile(file), { partition: 'gpu', account: 'proj', time: '04:00:00', gpusPerNode: 8, setup: ['module load cuda/12.4'], serverCommand: 'vllm serve {model} --port {port} -tp {gpus}', continuations: 1 });
    assert.equal(info.clusters[0].name, 'dgx');
    assert.equal(info.clusters[0].file, '.sdg/clusters/dgx.yaml');
    assert.equal(info.sbatch, null);
    assert.equal(info.defaultSdgCommand, 'node /opt/sdg-ext/dist/cli.js');
    writeFileSync(file, readFileSync(file, 'utf8').replace('partition: gpu', 'partition: gpu # the A100 nodes'));
    await saveCluster(ctx, 'dgx', { partition: 'gpu', account: 'other', time: '02:00:00', gpusPerNode: 4 });
    const text = readFileSync(file, 'utf8');
    assert.match(text, /partition: gpu # the A100 nodes/);
    assert.match(text, /account: other/);
    assert.doesNotMatch(text, /server_command|setup|continuations/, 'cleared fields are removed');
  });

  it('refuses bad settings naming the YAML key, and reports a broken file with its line', async () => {
    const ws = workspace();
    const ctx = context(ws);
    await assert.rejects(saveCluster(ctx, 'x', { partition: 'gpu; rm -rf /', time: 'four hours' }), (e: Error) => /partition: .*characters sbatch cannot take/.test(e.message) && /time: .*not a Slurm time/.test(e.message));
    await assert.rejects(saveCluster(ctx, 'x', { serverCommand: 'vllm serve {model}' }), /server_command: must contain \{port\}/);
    await assert.rejects(saveCluster(ctx, '../escape', { partition: 'gpu' }), /cluster name/);
    assert.equal(existsSync(join(ws, '.sdg/clusters/x.yaml')), false);
    mkdirSync(join(ws, '.sdg/clusters'), { recursive: true });
    writeFileSync(join(ws, '.sdg/clusters/bad.yaml'), 'partition: gpu\n\ngpus_per_node: eight\n');
    const [bad] = listClusters(ctx);
    assert.equal(bad.settings, undefined);
    assert.match(bad.error!, /^\.sdg\/clusters\/bad\.yaml:3: gpus_per_node: expected a whole number/);
  });

  it('previews the scripts of a job with a server per task (valid bash, the model and cluster settings in them)', async () => {
    const ws = workspace();
    const ctx = context(ws);
    await saveCluster(ctx, 'dgx', { partition: 'gpu', time: '01:00:00', gpusPerNode: 8, serverCommand: 'vllm serve {model} --port {port} --tensor-parallel-size {gpus}', continuations: 2, setup: ['module load nodejs/20'] });
    const { preview, env } = await planJob(ctx, { cluster: 'dgx', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', model: 'Qwen/Qwen2.5-72B-Instruct', numSeeds: 8, seedsPerTask: 4, numSamples: 4, numChunks: 3 });
    assert.equal(preview.tasks, 6);
    assert.equal(preview.continuations, 2);
    assert.deepEqual(env, {});
    assert.match(preview.output, /\.sdg\/runs\/gsm8k_text-gsm-slurm-20261123-023000\.jsonl$/);
    assert.equal(preview.scriptDir, `${preview.output}.slurm`);
    assert.match(preview.arrayScript, /#SBATCH --partition=gpu/);
    assert.match(preview.arrayScript, /#SBATCH --array=0-5/);
    assert.match(preview.arrayScript, /#SBATCH --gpus-per-node=8/);
    assert.match(preview.arrayScript, /module load nodejs\/20/);
    assert.match(preview.arrayScript, /vllm serve Qwen\/Qwen2\.5-72B-Instruct --port "\$PORT" --tensor-parallel-size 8/);
    assert.match(preview.arrayScript, /SDG=\(node \/opt\/sdg-ext\/dist\/cli\.js\)/);
    assert.match(preview.arrayScript, /--prompt gsm8k_text/, 'built-in prompt configs go by name');
    assert.match(preview.mergeScript, /merge --output/);
    assert.match(preview.cliCommand, /sdg slurm generate .* --cluster-profile \.sdg\/clusters\/dgx\.yaml/);
    assert.match(preview.notes[0], /sbatch is not on the PATH of the VS Code extension host/);
    bashSyntaxOk(preview.arrayScript);
    bashSyntaxOk(preview.mergeScript);
    assert.equal(existsSync(preview.scriptDir), false, 'a preview writes nothing');
  });

  it('uses the servers of a pool endpoint; the key goes to sbatch\'s environment, never into a script', async () => {
    const ws = workspace();
    const profile: EndpointProfile = { name: 'teacher', baseUrl: 'http://gpu1:8000/v1', model: 'big-model', apiKind: 'chat', servers: [{ baseUrl: 'http://gpu1:8000/v1' }, { baseUrl: 'http://gpu2:8000/v1', weight: 2, maxConcurrency: 64 }] };
    const sb = fakeSbatch();
    const ctx = context(ws, { env: { PATH: `${sb.dir}${delimiter}${process.env.PATH}`, FAKE_SBATCH_DIR: sb.dir } }, { profile, apiKey: KEY });
    await saveCluster(ctx, 'cpu', { partition: 'batch', continuations: 1 });
    await assert.rejects(planJob(ctx, { cluster: 'cpu', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', numSeeds: 2, numSamples: 1, numChunks: 2 }), /has no server_command: choose an endpoint/);
    const job = { cluster: 'cpu', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', endpoint: 'teacher', numSeeds: 2, numSamples: 1, numChunks: 2, temperature: 0.7 };
    const { preview } = await planJob(ctx, job);
    assert.match(preview.arrayScript, /--base-url http:\/\/gpu1:8000\/v1 --base-url 'http:\/\/gpu2:8000\/v1#weight=2&max=64'/);
    assert.match(preview.arrayScript, /--model big-model/);
    assert.match(preview.arrayScript, /--api-key-env SDG_API_KEY/);
    assert.match(preview.notes.join('\n'), /reaches the jobs in the environment of sbatch/);

    const r = await submitJob(ctx, job);
    assert.deepEqual([r.arrayJobId, r.continuationJobIds, r.mergeJobId], ['4101', ['4102'], '4103']);
    const calls = sb.calls();
    assert.equal(calls.length, 3);
    assert.match(calls[0], /^--parsable \S+array\.sbatch key=sk-test-secret-123$/);
    assert.match(calls[1], /^--parsable --dependency=afterany:4101 \S+array\.sbatch/);
    assert.match(calls[2], /^--parsable --dependency=afterany:4102 \S+merge\.sbatch/);
    for (const f of ['array.sbatch', 'merge.sbatch']) {
      const text = readFileSync(join(r.scriptDir, f), 'utf8');
      assert.doesNotMatch(text, new RegExp(KEY));
      bashSyntaxOk(text);
    }
    assert.ok(existsSync(join(r.scriptDir, 'logs')));
  });

  it('says clearly when sbatch is not on PATH, and reports the jobs already submitted when one fails', async () => {
    const ws = workspace();
    const ctx = context(ws);
    await saveCluster(ctx, 'c', { serverCommand: 'srv --port {port}' });
    const job = { cluster: 'c', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', model: 'm', numSeeds: 1, numSamples: 1, numChunks: 1 };
    await assert.rejects(submitJob(ctx, job), /sbatch is not on the PATH of the VS Code extension host/);
    assert.equal(findSbatch({ PATH: '' }), null);

    const dir = mkdtempSync(join(tmpdir(), 'sdg-bad-sbatch-'));
    writeFileSync(join(dir, 'sbatch'), '#!/usr/bin/env bash\nif [[ "$*" == *merge* ]]; then echo "sbatch: error: invalid partition" >&2; exit 1; fi\necho 77\n');
    chmodSync(join(dir, 'sbatch'), 0o755);
    const failing = context(ws, { env: { PATH: `${dir}${delimiter}${process.env.PATH}` } });
    await assert.rejects(submitJob(failing, job), (e: Error) => /invalid partition/.test(e.message) && /already submitted: array 77/.test(e.message));
  });

  it('keeps inputs inside the workspace', async () => {
    const ws = workspace();
    const ctx = context(ws);
    await saveCluster(ctx, 'c', { serverCommand: 'srv --port {port}' });
    const base = { cluster: 'c', prompt: 'builtin:generation/gsm8k_text.yaml', model: 'm', numSeeds: 1, numSamples: 1, numChunks: 1 };
    await assert.rejects(planJob(ctx, { ...base, input: '../../etc/passwd' }), /input: .*("\.\." segment|outside)/);
    await assert.rejects(planJob(ctx, { ...base, input: 'builtin:generation/gsm8k_text.yaml' }), /choose a dataset in the workspace/);
    await assert.rejects(planJob(ctx, { ...base, input: 'data/gsm.jsonl', cluster: 'missing' }), /no cluster profile "missing".*save it first/);
  });

  describe('request handlers', () => {
    function connect(b: StudioBackend) {
      let toWebview: (m: WireMessage) => void = () => undefined;
      const host = new MessageChannel<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>((m) => toWebview(m), { waitForReady: true });
      const webview = new MessageChannel<Record<string, never>, StudioRequests, StudioHostNotifications, Record<string, never>>((m) => void host.receive(JSON.parse(JSON.stringify(m))));
      toWebview = (m) => void webview.receive(JSON.parse(JSON.stringify(m)));
      registerHandlers(host, createHandlers(b), () => undefined);
      webview.sendReady();
      return webview;
    }
    function backend(ws: string, trusted: boolean): StudioBackend {
      const { roots: _r, builtinDir: _b, ...slurm } = context(ws);
      return {
        roots: [ws],
        builtinDir: BUILTIN,
        trusted: () => trusted,
        defaultConcurrency: () => 8,
        listDatasets: async () => [],
        openFile: async () => undefined,
        endpoints: { list: async () => [], save: async () => undefined, remove: async () => undefined, test: async () => ({ ok: true, latencyMs: 1, models: [], error: null }) },
        pipelines: { available: () => false, list: async () => [], listTemplates: async () => [], copyToWorkspace: async () => 'x' },
        runs: { available: () => false, list: async () => [], start: async () => '/d', label: async () => '/l', cancel: async () => undefined, resume: async () => undefined, openOutput: async () => undefined },
        slurm,
      };
    }

    it('save and preview through the channel; bad params are refused by name', async () => {
      const ws = workspace();
      const wv = connect(backend(ws, true));
      const info = await wv.request('slurm.saveCluster', { name: 'dgx', settings: { partition: 'gpu', serverCommand: 'srv --port {port} --model {model}' } });
      assert.deepEqual(info.clusters.map((c) => c.name), ['dgx']);
      const p = await wv.request('slurm.preview', { cluster: 'dgx', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', model: 'm', numSeeds: 2, numSamples: 1, numChunks: 2 });
      assert.equal(p.tasks, 2);
      await assert.rejects(wv.request('slurm.preview', { cluster: 'dgx', prompt: 'x', input: 'y', numSeeds: 0, numSamples: 1, numChunks: 1 } as never), /params\.numSeeds: must be at least 1/);
      await assert.rejects(wv.request('slurm.saveCluster', { name: 'dgx', settings: { partition: 'gpu', apiKey: 'x' } } as never), /params\.settings\.apiKey: unknown field/);
    });

    it('is disabled in an untrusted workspace (listing still works)', async () => {
      const ws = workspace();
      const wv = connect(backend(ws, false));
      assert.deepEqual((await wv.request('slurm.info', {})).clusters, []);
      await assert.rejects(wv.request('slurm.saveCluster', { name: 'dgx', settings: { partition: 'gpu' } }), /untrusted workspace/);
      await assert.rejects(wv.request('slurm.submit', { cluster: 'dgx', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', model: 'm', numSeeds: 1, numSamples: 1, numChunks: 1 }), /untrusted workspace/);
      assert.equal(existsSync(join(ws, '.sdg')), false);
    });
  });
});

describe('extension scale-out: Slurm form (webview logic)', () => {
  it('turns the form into requests, naming the fields at fault', () => {
    const form = { cluster: { ...defaultSlurmForm.cluster, name: 'dgx', gpusPerNode: 'eight', continuations: '-1' }, job: { ...defaultSlurmForm.job, numChunks: '' } };
    const r = slurmJobRequest(form);
    assert.equal(r.params, undefined);
    assert.deepEqual(r.problems, ['GPUs per node: a whole number >= 0, got "eight"', 'continuations: a whole number >= 0, got "-1"', 'prompt config: choose one', 'dataset: choose a JSONL file', 'model: required with a server command (it is passed as {model})', 'chunks: required']);
    const ok = slurmJobRequest({ cluster: { ...defaultSlurmForm.cluster, setup: 'module load a\n\n  module load b ' }, job: { ...defaultSlurmForm.job, prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', model: 'M', seedsPerTask: '2', endpoint: 'ignored-with-server-command' } });
    assert.deepEqual(ok.params, { cluster: 'cluster', prompt: 'builtin:generation/gsm8k_text.yaml', input: 'data/gsm.jsonl', numSeeds: 8, numSamples: 4, numChunks: 4, model: 'M', seedsPerTask: 2 });
    assert.deepEqual(clusterRequest({ ...defaultSlurmForm.cluster, setup: 'module load a\n\n  module load b ' }).settings!.setup, ['module load a', 'module load b']);
    assert.equal(taskCount(8, 3, 4), 12);
  });

  it('a saved profile fills the form, and the form survives a panel reload (persisted state)', () => {
    const settings = { partition: 'gpu', gpusPerNode: 4, setup: ['a', 'b'], requeue: true, sbatchArgs: ['--exclusive'] };
    const form = clusterFormOf('dgx', settings);
    assert.deepEqual(clusterRequest(form).settings, settings);
    let s = initialState();
    s = reduce(s, { type: 'slurmCluster', patch: form });
    s = reduce(s, { type: 'slurmJob', patch: { numChunks: '16' } });
    const restored = initialState(JSON.parse(JSON.stringify(s.persisted)));
    assert.equal(restored.persisted.slurm.cluster.partition, 'gpu');
    assert.equal(restored.persisted.slurm.job.numChunks, '16');
    const old = initialState({ tab: 'runs' }); // a state saved before the Slurm tab existed
    assert.deepEqual(old.persisted.slurm, defaultSlurmForm);
  });
});
