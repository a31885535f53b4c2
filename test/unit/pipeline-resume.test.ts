import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../src/core/llm/client';
import { readManifest } from '../../src/core/run';
import { resolveParameters, resolvePipeline, runPipeline } from '../../src/core/pipeline';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel } from '../fixtures/pipelines/fakeModel';

const SETS = { n_macro_topics: '3', n_subtopics: '4', n_openlines: '2', n_revisions: '2' };

function lines(file: string): any[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
}

describe('pipeline resume after a kill mid-stage', function () {
  this.timeout(120_000);
  let server: MockServer;
  let dir: string;
  before(async () => {
    server = await startMockServer({ respond: fakeModel(), latency: { fixedMs: 120 } });
    dir = mkdtempSync(join(tmpdir(), 'sdg-resume-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('SIGKILL during a model stage, then the same run again: nothing lost, nothing duplicated', async () => {
    const out = join(dir, 'run');
    const stage = join(out, 'stages', 'questions_raw.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../fixtures/pipelines/runChild.ts'), server.url, 'open_qa', out, JSON.stringify(SETS)], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Kill once a few items of the questions stage are on disk (it has 15 items).
    let killedAt = -1;
    while (killedAt < 0) {
      await new Promise((r) => setTimeout(r, 15));
      const n = lines(stage).length;
      if (n >= 3) { child.kill('SIGKILL'); killedAt = n; }
      if (child.exitCode !== null) break;
    }
    await exited;
    assert.ok(killedAt >= 3 && killedAt < 15, `killed mid-stage (had ${killedAt} rows)`);
    assert.equal((await readManifest(out))?.status, 'interrupted');

    const client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
    const { def, templates } = resolvePipeline('open_qa');
    const r = await runPipeline({ def, params: resolveParameters(def, SETS), templates, outputDir: out, client: () => client, concurrency: 4 });
    await client.close();
    assert.equal(r.status, 'completed', r.error ?? '');
    const keys = lines(stage).map((x) => x._key);
    assert.equal(keys.length, 15);
    assert.equal(new Set(keys).size, 15, 'no item written twice');
    const rows = lines(r.output);
    assert.equal(rows.length, 15 * 2 * 2);
    assert.equal(new Set(rows.map((x) => x.id)).size, rows.length);

    // Same command once more: nothing to do, same output.
    const before = server.stats.total;
    const client2 = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
    const again = await runPipeline({ def, params: resolveParameters(def, SETS), templates, outputDir: out, client: () => client2 });
    await client2.close();
    assert.equal(again.status, 'completed');
    assert.equal(server.stats.total, before, 'no request sent for a finished run');
    assert.equal(lines(again.output).length, rows.length);
  });

  it('refuses to resume with different parameters', async () => {
    const out = join(dir, 'run');
    const client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
    const { def, templates } = resolvePipeline('open_qa');
    await assert.rejects(runPipeline({ def, params: resolveParameters(def, { ...SETS, n_revisions: '3' }), templates, outputDir: out, client: () => client }), /n_revisions/);
    await client.close();
  });
});
