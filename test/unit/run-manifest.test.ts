import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runItems } from '../../src/core/engine';
import { LlmError } from '../../src/core/llm/errors';
import { ConfigMismatchError, diffConfigs, freezeOrCheckConfig } from '../../src/core/run/config';
import { ManifestWriter, isPidAlive, listRuns, readManifest, type Manifest } from '../../src/core/run/manifest';
import { RunInUseError, openRun } from '../../src/core/run/runFolder';
import { FakeClock, FakeLlmClient, range } from '../support/engineFakes';

interface Row { id: string; text?: string; error?: string | null }

function deadPid(): number {
  // A process that has exited: its pid is (almost certainly) not reused within the test.
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('run folder: manifest', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-manifest-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes atomically and throttles updates', async () => {
    const m = new ManifestWriter(dir, { kind: 'generate', name: 'x', output: 'output.jsonl' }, { intervalMs: 60_000 });
    await m.flush();
    const first = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(first.status, 'running');
    assert.equal(first.pid, process.pid);
    assert.equal(first.version, 1);
    m.update({ counts: { total: 10, done: 3, failed: 0, pending: 7 } });
    // Throttled: nothing new on disk yet.
    assert.equal((JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest).counts.done, 0);
    assert.equal(m.pending, true);
    await m.finish('completed');
    const last = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
    assert.equal(last.status, 'completed');
    assert.equal(last.counts.done, 3);
    assert.ok(last.endedAt);
    assert.deepEqual(readdirSync(dir), ['manifest.json']);
  });

  it('a running manifest whose process is dead reads as interrupted', async () => {
    const pid = deadPid();
    assert.equal(isPidAlive(pid), false);
    assert.equal(isPidAlive(process.pid), true);
    const m = new ManifestWriter(dir, { kind: 'pipeline', name: 'p', output: 'output.jsonl', pid, stages: [{ name: 's1', file: 'stages/s1.jsonl', status: 'running', counts: { total: null, done: 1, failed: 0, pending: null } }] });
    await m.flush();
    const read = await readManifest(dir);
    assert.equal(read!.status, 'interrupted');
    assert.equal(read!.stages![0].status, 'interrupted');
    assert.equal(await readManifest(join(dir, 'none')), null);
  });

  it('listRuns finds run folders newest first and skips broken ones', async () => {
    for (const [name, at] of [['old', '2020-01-01T00:00:00.000Z'], ['new', '2030-01-01T00:00:00.000Z']] as const) {
      mkdirSync(join(dir, name));
      writeFileSync(join(dir, name, 'manifest.json'), JSON.stringify({ version: 1, kind: 'generate', name, status: 'completed', pid: 1, updatedAt: at }));
    }
    mkdirSync(join(dir, 'broken'));
    writeFileSync(join(dir, 'broken', 'manifest.json'), '{');
    mkdirSync(join(dir, 'plain'));
    const runs = await listRuns(dir);
    assert.deepEqual(runs.map((r) => r.manifest.name), ['new', 'old']);
    assert.deepEqual(await listRuns(join(dir, 'missing')), []);
  });
});

describe('run folder: frozen config', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-config-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const config = { endpoint: { model: 'm1', baseUrl: 'http://x/v1', maxConcurrency: 8 }, params: { temperature: 0.7, n: 4 }, prompt: 'Solve {{q}}', concurrency: 64 };
  const compare = { ignore: ['concurrency', 'endpoint.maxConcurrency'] };

  it('freezes on first start and accepts the same config (and throughput-only changes) on resume', async () => {
    assert.deepEqual(await freezeOrCheckConfig(dir, config, compare), { resumed: false });
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), config);
    assert.deepEqual(await freezeOrCheckConfig(dir, { ...config, concurrency: 8, endpoint: { ...config.endpoint, maxConcurrency: 2 } }, compare), { resumed: true });
  });

  it('refuses a resume with different generation settings, naming every differing field', async () => {
    await freezeOrCheckConfig(dir, config, compare);
    const changed = { ...config, endpoint: { ...config.endpoint, model: 'm2' }, params: { n: 4, temperature: 1.0, top_p: 0.9 } };
    await assert.rejects(freezeOrCheckConfig(dir, changed, compare), (e: unknown) => {
      assert.ok(e instanceof ConfigMismatchError);
      assert.deepEqual(e.differences.map((d) => d.path), ['endpoint.model', 'params.temperature', 'params.top_p']);
      assert.match(e.message, /endpoint\.model \(was "m1", now "m2"\)/);
      assert.match(e.message, /params\.top_p \(was unset, now 0\.9\)/);
      assert.match(e.message, /--overwrite/);
      return true;
    });
    // --overwrite replaces the frozen config.
    assert.deepEqual(await freezeOrCheckConfig(dir, changed, compare, true), { resumed: false });
    assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).endpoint.model, 'm2');
  });

  it('diffConfigs: `fields` restricts the comparison', () => {
    const a = { x: { y: 1, z: 2 }, w: 1 };
    const b = { x: { y: 1, z: 3 }, w: 2 };
    assert.deepEqual(diffConfigs(a, b, { fields: ['x.y'] }), []);
    assert.deepEqual(diffConfigs(a, b, { fields: ['x'] }).map((d) => d.path), ['x.z']);
    assert.deepEqual(diffConfigs(a, b).map((d) => d.path), ['w', 'x.z']);
    assert.deepEqual(diffConfigs({ l: [1, 2] }, { l: [1, 2] }), []);
    assert.deepEqual(diffConfigs({ l: [1, 2] }, { l: [2, 1] }).map((d) => d.path), ['l']);
  });
});

describe('run folder: openRun + runItems', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-openrun-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const base = (runDir: string, config: unknown = { model: 'm' }) => ({
    runDir, kind: 'generate', name: 'demo', config, keyOf: (r: Row) => r.id,
  });

  async function job(runDir: string, items: number[], client: FakeLlmClient, signal?: AbortSignal) {
    const run = await openRun<Row>(base(runDir));
    try {
      return await runItems<number, Row>({
        items, keyOf: (i) => `k${i}`,
        async execute(i, ctx) {
          const r = await ctx.query(client, [{ role: 'user', content: `k${i}` }]);
          return [{ id: `k${i}`, text: r.choices[0].text, error: null }];
        },
        errorRow: (i, e) => ({ id: `k${i}`, error: (e as Error).message }),
        sink: run.output, concurrency: 4, manifest: run.manifest, total: items.length, signal,
        clock: new FakeClock(),
      });
    } finally {
      await run.close();
    }
  }

  it('manifest records counts, tokens, throughput and the final status', async () => {
    const runDir = join(dir, 'r');
    const client = new FakeLlmClient((c) => { if (c.messages[0].content === 'k3') throw new LlmError('bad_request', '400 nope', 400); return 'ok'; });
    const result = await job(runDir, range(10), client);
    assert.equal(result.status, 'completed');
    const m = (await readManifest(runDir))!;
    assert.equal(m.status, 'completed');
    assert.equal(m.kind, 'generate');
    assert.equal(m.name, 'demo');
    assert.equal(m.output, 'output.jsonl');
    assert.deepEqual(m.counts, { total: 10, done: 9, failed: 1, pending: 0 });
    assert.deepEqual(m.tokens, { prompt: 90, completion: 45 });
    assert.equal(m.error, null);
    assert.ok(m.endedAt && m.startedAt && m.createdAt);
    assert.equal(typeof m.throughput.requestsPerSec, 'number');
  });

  it('a resume keeps createdAt, counts earlier items, and retries only the failed one', async () => {
    const runDir = join(dir, 'r');
    let fail = true;
    const client = new FakeLlmClient((c) => { if (fail && c.messages[0].content === 'k3') throw new LlmError('bad_request', '400 nope', 400); return 'ok'; });
    await job(runDir, range(10), client);
    const created = (await readManifest(runDir))!.createdAt;
    fail = false;
    const before = client.calls;
    const result = await job(runDir, range(10), client);
    assert.equal(client.calls - before, 1);
    assert.equal(result.resumed, 9);
    const m = (await readManifest(runDir))!;
    assert.equal(m.createdAt, created);
    assert.deepEqual(m.counts, { total: 10, done: 10, failed: 0, pending: 0 });
  });

  it('cancelled runs say so in the manifest', async () => {
    const runDir = join(dir, 'r');
    const ac = new AbortController();
    const client = new FakeLlmClient(() => { ac.abort(); return new Promise<string>(() => undefined); });
    const result = await job(runDir, range(10), client, ac.signal);
    assert.equal(result.status, 'cancelled');
    assert.equal((await readManifest(runDir))!.status, 'cancelled');
  });

  it('early stop is recorded as failed with the message', async () => {
    const runDir = join(dir, 'r');
    const client = new FakeLlmClient(() => { throw new LlmError('auth', '401 Unauthorized', 401); });
    await job(runDir, range(20), client);
    const m = (await readManifest(runDir))!;
    assert.equal(m.status, 'failed');
    assert.match(m.error!, /^Stopped: 401 Unauthorized/);
    assert.equal(readFileSync(join(runDir, 'output.jsonl'), 'utf8'), '');
  });

  it('a run closed without runItems finishing is not left "running"', async () => {
    const runDir = join(dir, 'r');
    const run = await openRun<Row>(base(runDir));
    assert.equal((await readManifest(runDir))!.status, 'running');
    await run.close();
    const m = (await readManifest(runDir))!;
    assert.equal(m.status, 'failed');
    assert.match(m.error!, /ended before it finished/);
  });

  it('refuses a config change on resume and a second open of a run in use', async () => {
    const runDir = join(dir, 'r');
    const run = await openRun<Row>(base(runDir));
    await assert.rejects(openRun<Row>(base(runDir)), RunInUseError);
    await run.close();
    await assert.rejects(openRun<Row>(base(runDir, { model: 'other' })), /model \(was "m", now "other"\)/);
    const again = await openRun<Row>({ ...base(runDir, { model: 'other' }), overwrite: true });
    assert.equal(again.resumed, false);
    await again.close();
  });
});
