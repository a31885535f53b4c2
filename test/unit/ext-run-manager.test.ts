import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunManager, type LaunchedRun, type RunHooks, type RunLauncher, type RunOutcome } from '../../src/extension/run/manager';
import { PipelineCatalog, PipelineLauncher, paramInfo, paramValues, runFolderName, type PipelineRunRequest } from '../../src/extension/pipelines';
import { confineRunFolder, mergeRuns, viewFromManifest, isResumable } from '../../src/extension/run/views';
import { LabelingLauncher } from '../../src/extension/labeling';
import { StudioLauncher, type RunRequest } from '../../src/extension/launcher';
import { readManifest } from '../../src/core/run/manifest';
import type { RunView } from '../../src/protocol/studio';
import type { Logger } from '../../src/extension/log';
import { startMockServer, type MockServer } from '../support/mockServer';

/** A launcher whose runs finish when the test says so. */
class FakeLauncher implements RunLauncher<string> {
  readonly hooks = new Map<string, RunHooks>();
  private readonly finishers = new Map<string, (o: RunOutcome) => void>();
  async start(name: string, hooks: RunHooks): Promise<LaunchedRun> {
    return this.make(`/runs/${name}`, name, hooks);
  }
  async resume(dir: string, hooks: RunHooks): Promise<LaunchedRun> {
    return this.make(dir, dir.split('/').pop()!, hooks);
  }
  finish(dir: string, o: RunOutcome): void {
    this.finishers.get(dir)!(o);
  }
  private make(dir: string, name: string, hooks: RunHooks): LaunchedRun {
    this.hooks.set(dir, hooks);
    const done = new Promise<RunOutcome>((resolve) => {
      this.finishers.set(dir, resolve);
      hooks.signal.addEventListener('abort', () => resolve({ status: 'cancelled' }));
    });
    return { dir, name, kind: 'test', done };
  }
}

const quietLog: Logger = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, show() {} };

describe('extension: RunManager', () => {
  it('tracks progress, emits throttled snapshots and ends with the outcome', async () => {
    const launcher = new FakeLauncher();
    const m = new RunManager(launcher, { throttleMs: 0 });
    const seen: RunView[][] = [];
    m.onDidChange((runs) => seen.push(runs));
    const view = await m.start('a');
    assert.equal(view.status, 'running');
    assert.ok(m.isActive('/runs/a'));
    launcher.hooks.get('/runs/a')!.onProgress({ counts: { total: 10, done: 4, failed: 1, pending: 5 }, throughput: { requestsPerSec: 3, tokensPerSec: 90 }, etaSeconds: 2, recentErrors: ['429 rate limited'] });
    const live = m.get('/runs/a')!;
    assert.deepEqual(live.counts, { total: 10, done: 4, failed: 1, pending: 5 });
    assert.equal(live.etaSeconds, 2);
    assert.deepEqual(live.recentErrors, ['429 rate limited']);
    launcher.finish('/runs/a', { status: 'completed' });
    await m.whenIdle();
    const ended = m.get('/runs/a')!;
    assert.equal(ended.status, 'completed');
    assert.ok(ended.endedAt);
    assert.equal(ended.throughput.requestsPerSec, 0);
    assert.equal(seen.at(-1)![0].status, 'completed');
  });

  it('cancel aborts the run, which ends cancelled; a second cancel is refused', async () => {
    const launcher = new FakeLauncher();
    const m = new RunManager(launcher, { throttleMs: 0 });
    await m.start('b');
    assert.equal(m.cancel('/runs/b'), true);
    assert.equal(m.get('/runs/b')!.status, 'cancelling');
    assert.ok(launcher.hooks.get('/runs/b')!.signal.aborted);
    await m.whenIdle();
    assert.equal(m.get('/runs/b')!.status, 'cancelled');
    assert.equal(m.cancel('/runs/b'), false);
  });

  it('refuses to resume a run that is still active, and resumes a finished one', async () => {
    const launcher = new FakeLauncher();
    const m = new RunManager(launcher, { throttleMs: 0 });
    await m.start('c');
    await assert.rejects(m.resume('/runs/c'), /already running/);
    m.cancel('/runs/c');
    await m.whenIdle();
    const again = await m.resume('/runs/c');
    assert.equal(again.status, 'running');
    launcher.finish('/runs/c', { status: 'failed', error: 'boom' });
    await m.whenIdle();
    assert.equal(m.get('/runs/c')!.error, 'boom');
  });

  it('dispose stops every run and refuses new ones', async () => {
    const launcher = new FakeLauncher();
    const m = new RunManager(launcher, { throttleMs: 0 });
    await m.start('d');
    await m.dispose(1000);
    assert.equal(m.get('/runs/d')!.status, 'cancelled');
    await assert.rejects(m.start('e'), /shut down/);
  });

  it('a launcher error reaches the caller and leaves no run behind', async () => {
    const m = new RunManager<string>({ start: async () => { throw new Error('no pipeline named x'); }, resume: async () => { throw new Error('x'); } }, { throttleMs: 0 });
    await assert.rejects(m.start('x'), /no pipeline named x/);
    assert.deepEqual(m.list(), []);
  });
});

describe('extension: run views', () => {
  it('maps a manifest and merges live runs over it', () => {
    const disk = viewFromManifest('/r/a', {
      version: 1, kind: 'pipeline', name: 'a', status: 'interrupted', pid: 1, createdAt: 't', startedAt: '2026-01-01', updatedAt: 't', endedAt: null,
      output: 'output.jsonl', counts: { total: 5, done: 2, failed: 1, pending: 2 }, tokens: { prompt: 1, completion: 2 }, throughput: { requestsPerSec: 9, tokensPerSec: 9 }, error: null,
      stages: [{ name: 's', file: 'stages/s.jsonl', status: 'completed', counts: { total: 2, done: 2, failed: 0, pending: 0 } }],
    });
    assert.equal(disk.output, '/r/a/output.jsonl');
    assert.equal(disk.throughput.requestsPerSec, 0, 'a stopped run shows no throughput');
    assert.ok(isResumable(disk));
    const live = { ...disk, status: 'running' as const, live: true, stages: [], output: null, startedAt: '2026-01-02' };
    const merged = mergeRuns([disk, { ...disk, dir: '/r/b', startedAt: '2025-01-01' }], [live]);
    assert.equal(merged.length, 2);
    assert.equal(merged[0].status, 'running');
    assert.equal(merged[0].output, '/r/a/output.jsonl', 'keeps the manifest output while live has none');
    assert.equal(merged[0].stages.length, 1);
  });
});

describe('extension: run folder confinement', () => {
  it('accepts only direct children of the runs folder', () => {
    assert.equal(confineRunFolder('/ws/.sdg/runs', '/ws/.sdg/runs/a-1'), '/ws/.sdg/runs/a-1');
    assert.equal(confineRunFolder('/ws/.sdg/runs', '/ws/.sdg/runs/x.jsonl.run/'), '/ws/.sdg/runs/x.jsonl.run');
    for (const bad of ['/ws/.sdg/runs', '/ws/.sdg/runs/../secrets', '/ws/.sdg/runs/a/b', '/etc', 'a-1', '', 5]) {
      assert.throws(() => confineRunFolder('/ws/.sdg/runs', bad), Error, String(bad));
    }
    assert.throws(() => confineRunFolder(undefined, '/ws/x'), /open a folder/);
  });
});

describe('extension: pipeline parameters and folder names', () => {
  it('maps core parameter specs to form fields and back', () => {
    assert.deepEqual(paramInfo({ name: 'n', type: 'int', default: 3, required: false, min: 1 }).type, 'integer');
    assert.equal(paramInfo({ name: 'm', type: 'string', required: false, choices: ['a', 'b'] }).type, 'enum');
    assert.equal(paramInfo({ name: 'l', type: 'list', required: false, default: ['x', 'y'] }).default, 'x\ny');
    const specs = [
      { name: 'n', type: 'int' as const, required: false },
      { name: 'l', type: 'list' as const, required: false },
      { name: 'b', type: 'bool' as const, required: false },
    ];
    assert.deepEqual(paramValues(specs, { n: '4', l: ' a \n\nb ', b: 'true' }), { n: 4, l: ['a', 'b'], b: true });
  });

  it('makes unique, safe run folder names', () => {
    const now = new Date(2026, 10, 23, 1, 2, 3);
    assert.equal(runFolderName('open qa/../x', now, () => false), 'open_qa_.._x-20261123-010203');
    const taken = new Set(['p-20261123-010203', 'p-20261123-010203-2']);
    assert.equal(runFolderName('p', now, (n) => taken.has(n)), 'p-20261123-010203-3');
  });
});

describe('extension: RunManager over the core pipeline runner (mock server)', function () {
  this.timeout(60_000);
  let server: MockServer;
  let ws: string;
  let runs: string;

  before(async () => {
    server = await startMockServer({ respond: (req) => `Answer about ${req.messages?.at(-1)?.content.split(' ').slice(-1)[0] ?? 'x'}`, latency: 30 });
    ws = mkdtempSync(join(tmpdir(), 'sdg-ext-run-'));
    runs = join(ws, '.sdg', 'runs');
    mkdirSync(join(ws, 'prompts', 'pipelines'), { recursive: true });
    mkdirSync(join(ws, 'prompts', 'templates', 'tiny'), { recursive: true });
    writeFileSync(join(ws, 'prompts', 'templates', 'tiny', 'ask.yaml'), 'description: one question\nprompt: "Write one sentence about {{topic}}"\n');
    writeFileSync(
      join(ws, 'prompts', 'pipelines', 'tiny.yaml'),
      [
        'name: tiny',
        'description: a test pipeline',
        'parameters:',
        '  topics: { type: list, default: [a, b, c, d, e, f, g, h, i, j, k, l], description: topics }',
        'stages:',
        '  - name: topics',
        '    kind: source',
        '    values: "{{topics}}"',
        '    as: topic',
        '  - name: answers',
        '    kind: generate',
        '    template: tiny/ask',
        '',
      ].join('\n'),
    );
  });
  after(async () => server?.close());

  function manager() {
    const catalog = new PipelineCatalog(join(__dirname, '../../prompts'), () => [ws]);
    const launcher = new PipelineLauncher({
      catalog,
      runsFolder: () => runs,
      resolveEndpoint: async (name) => ({ profile: { name, baseUrl: server.url, model: 'mock', apiKind: 'chat' }, apiKey: undefined }),
      defaultConcurrency: () => 2,
      log: quietLog,
    });
    return { catalog, m: new RunManager<PipelineRunRequest>(launcher, { throttleMs: 0 }) };
  }

  it('lists the workspace pipeline with its parameters and templates', async () => {
    const { catalog } = manager();
    const list = await catalog.list();
    const tiny = list.find((p) => p.id === 'tiny');
    assert.ok(tiny, 'workspace pipeline listed');
    assert.equal(tiny.source, 'workspace');
    assert.deepEqual(tiny.errors, []);
    assert.equal(tiny.parameters[0].type, 'text');
    assert.deepEqual(tiny.templates.map((t) => t.file), ['prompts/templates/tiny/ask.yaml']);
    assert.ok(list.some((p) => p.source === 'builtin'), 'built-ins listed too');
  });

  it('runs a pipeline to completion with live stage progress, then resumes a cancelled one without duplicates', async () => {
    const { m } = manager();
    const updates: RunView[] = [];
    m.onDidChange((r) => updates.push(...r));
    const started = await m.start({ pipelineId: 'tiny', endpoint: 'mock', params: { topics: 'x\ny\nz' } });
    await m.whenIdle();
    const done = m.get(started.dir)!;
    assert.equal(done.status, 'completed', done.error ?? '');
    const out = readFileSync(join(started.dir, 'output.jsonl'), 'utf8').trim().split('\n');
    assert.equal(out.length, 3);
    assert.ok(updates.some((u) => u.stages.some((s) => s.name === 'answers')));
    const manifest = await readManifest(started.dir);
    assert.equal(manifest?.status, 'completed');
    const config = readFileSync(join(started.dir, 'config.json'), 'utf8');
    assert.match(config, /"name": "mock"/, 'the endpoint name is frozen for resume');

    // Cancel a run part-way, then resume it: every topic answered exactly once.
    const second = await m.start({ pipelineId: 'tiny', endpoint: 'mock', params: {}, concurrency: 1 });
    await new Promise<void>((resolve) => {
      const stop = m.onDidChange((r) => {
        const v = r.find((x) => x.dir === second.dir);
        if (v && v.counts.done >= 2 && v.currentStage === 'answers') {
          stop();
          m.cancel(second.dir);
          resolve();
        }
      });
    });
    await m.whenIdle();
    assert.equal(m.get(second.dir)!.status, 'cancelled');
    await m.resume(second.dir);
    await m.whenIdle();
    assert.equal(m.get(second.dir)!.status, 'completed', m.get(second.dir)!.error ?? '');
    const rows = readFileSync(join(second.dir, 'stages', 'answers.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const topics = rows.map((r) => r.topic).sort();
    assert.deepEqual(topics, 'abcdefghijkl'.split(''));
  });

  it('fails clearly for an unknown pipeline or a bad parameter', async () => {
    const { m } = manager();
    await assert.rejects(m.start({ pipelineId: 'nope', endpoint: 'mock', params: {} }), /no pipeline named "nope"/);
    await assert.rejects(m.start({ pipelineId: 'tiny', endpoint: 'mock', params: { bogus: 1 } }), /no parameter "bogus"/);
  });
});

describe('extension: labeling runs through the RunManager (mock server)', function () {
  this.timeout(60_000);
  let server: MockServer;
  let ws: string;

  before(async () => {
    server = await startMockServer({ respond: () => 'Adding gives the total. \\boxed{42}' });
    ws = mkdtempSync(join(tmpdir(), 'sdg-ext-label-'));
    writeFileSync(
      join(ws, 'problems.jsonl'),
      ['{"question":"Tom has 40 apples and buys 2 more. How many?","answer":"40+2=42\\n#### 42"}', '{"question":"What is 6*7?","answer":"#### 42"}', '{"question":"What is 84/2?","answer":"#### 42"}'].join('\n') + '\n',
    );
  });
  after(async () => server?.close());

  function manager() {
    const deps = {
      runsFolder: () => join(ws, '.sdg', 'runs'),
      resolveEndpoint: async (name: string) => ({ profile: { name, baseUrl: server.url, model: 'mock', apiKind: 'chat' as const }, apiKey: undefined }),
      defaultConcurrency: () => 2,
      log: quietLog,
    };
    const catalog = new PipelineCatalog(join(__dirname, '../../prompts'), () => [ws]);
    return new RunManager<RunRequest>(new StudioLauncher(new PipelineLauncher({ ...deps, catalog }), new LabelingLauncher(deps)), { throttleMs: 0 });
  }

  it('labels a dataset with a built-in prompt config, lists it like any run, and resumes it from its frozen config', async () => {
    const m = manager();
    const promptFile = join(__dirname, '../../prompts/generation/gsm8k_text.yaml');
    const run = await m.start({ kind: 'label', promptFile, input: join(ws, 'problems.jsonl'), endpoint: 'mock', numSeeds: 2, numSamples: 1, limit: 2 });
    assert.match(run.dir, /\.jsonl\.run$/);
    await m.whenIdle();
    const v = m.get(run.dir)!;
    assert.equal(v.status, 'completed', v.error ?? '');
    assert.equal(v.kind, 'generate');
    assert.deepEqual(v.counts.done, 4);
    const output = run.dir.slice(0, -4);
    assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 4, '2 problems x 2 seeds');
    const before = server.stats.completed;
    // Resume a finished run: it reads config.json (kind "generate") and requests nothing again.
    await m.resume(run.dir);
    await m.whenIdle();
    assert.equal(m.get(run.dir)!.status, 'completed', m.get(run.dir)!.error ?? '');
    assert.equal(readFileSync(output, 'utf8').trim().split('\n').length, 4);
    assert.equal(server.stats.completed, before, 'no request was repeated');
  });

  it('reports a prompt that does not fit the dataset before any run folder exists', async () => {
    const m = manager();
    writeFileSync(join(ws, 'no-problem.jsonl'), '{"text":"hello"}\n');
    await assert.rejects(
      m.start({ kind: 'label', promptFile: join(__dirname, '../../prompts/generation/gsm8k_text.yaml'), input: join(ws, 'no-problem.jsonl'), endpoint: 'mock', numSeeds: 1, numSamples: 1 }),
      /no-problem\.jsonl/,
    );
  });
});
