import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/cli/index';
import { copyBuiltinPipeline, listPipelines, validatePipelineFile } from '../../src/core/pipeline';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel } from '../fixtures/pipelines/fakeModel';

async function cli(args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const write = process.stderr.write;
  console.log = (...a: unknown[]) => { out.push(a.join(' ')); };
  (process.stderr as any).write = (s: string) => { err.push(String(s)); return true; };
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await buildProgram().exitOverride().parseAsync(['node', 'sdg', ...args]);
  } catch (e) {
    err.push(String((e as Error).message));
    process.exitCode = process.exitCode || 1;
  } finally {
    console.log = log;
    (process.stderr as any).write = write;
  }
  const code = process.exitCode as number | undefined;
  process.exitCode = before;
  return { out: out.join('\n'), err: err.join(''), code };
}

describe('pipeline CLI and workspace loader', () => {
  let server: MockServer;
  let dir: string;
  const models: string[] = [];
  before(async () => {
    server = await startMockServer({ respond: (req) => { models.push(req.model); return fakeModel()(req); } });
    dir = mkdtempSync(join(tmpdir(), 'sdg-pcli-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sdg run writes output.jsonl and stages/, and the same command resumes', async () => {
    const args = ['run', 'writing', '--base-url', server.url, '--model', 'mock-model', '--set', 'topics=Rain', '--set', 'text_material_types=Poems,Emails', '--set', 'n_openlines=2', '--set', 'n_revisions=1', '--output-dir', join(dir, 'w'), '--quiet'];
    const r = await cli(args);
    assert.equal(r.code ?? 0, 0, r.err);
    const out = readFileSync(join(dir, 'w', 'output.jsonl'), 'utf8').trim().split('\n');
    assert.equal(out.length, 4);
    assert.ok(existsSync(join(dir, 'w', 'stages', 'tasks_raw.jsonl')));
    const total = server.stats.total;
    const again = await cli(args);
    assert.equal(again.code ?? 0, 0, again.err);
    assert.equal(server.stats.total, total);
  });

  it('sdg run: a list that failed is retried by the same command with a fresh request (no --set seed, no --overwrite)', async () => {
    // Task lists about Friendship are one item short on the first request of each item only.
    const flaky = await startMockServer({
      respond: (req) => fakeModel({ wrongCount: (p) => (/Friendship/.test(p) && /Create 2 writing tasks/.test(p) && (req.seed ?? 0) < 1_048_576 ? 1 : undefined) })(req),
    });
    try {
      const args = ['run', 'writing', '--base-url', flaky.url, '--model', 'mock-model', '--set', 'topics=Rain,Friendship', '--set', 'text_material_types=Poems',
        '--set', 'n_openlines=2', '--set', 'n_revisions=1', '--set', 'on_failure=error', '--set', 'list_retries=0', '--set', 'trim_lists=false', '--output-dir', join(dir, 'flaky'), '--quiet'];
      const first = await cli(args);
      assert.equal(first.code, 1);
      assert.match(first.err, /stage task_lists: ListConversionError \(count_mismatch\): expected 2 list elements, got 1 \(on_failure: error\)/);
      assert.match(first.err, /run the same command again to retry it with a fresh request/);
      const again = await cli(args);
      assert.equal(again.code ?? 0, 0, again.err);
      assert.equal(readFileSync(join(dir, 'flaky', 'output.jsonl'), 'utf8').trim().split('\n').length, 2 * 2);
    } finally {
      await flaky.close();
    }
  });

  it('--endpoint-file routes a dialogue user simulator to another model', async () => {
    const ep = join(dir, 'endpoints.yaml');
    writeFileSync(ep, `endpoints:\n  user_simulator: { model: simulator-model }\n`);
    models.length = 0;
    const r = await cli(['run', 'two_turn', '--base-url', server.url, '--model', 'assistant-model', '--endpoint-file', ep, '--set', 'prompts=Hi', '--output-dir', join(dir, 'd'), '--quiet']);
    assert.equal(r.code ?? 0, 0, r.err);
    assert.deepEqual(models.sort(), ['assistant-model', 'simulator-model']);
  });

  it('an endpoint file with an API key in it is refused', async () => {
    const ep = join(dir, 'bad-endpoints.yaml');
    writeFileSync(ep, `endpoints:\n  x:\n    model: m\n    apiKey: sk-123\n`);
    const r = await cli(['run', 'two_turn', '--base-url', server.url, '--model', 'm', '--endpoint-file', ep, '--output-dir', join(dir, 'k')]);
    assert.equal(r.code, 1);
    assert.match(r.err, /bad-endpoints\.yaml:4: endpoints\.x\.apiKey: API keys do not belong in files/);
  });

  it('sdg run --dry-run prints prompts and sends nothing', async () => {
    const total = server.stats.total;
    const r = await cli(['run', 'open_qa', '--dry-run', '--set', 'n_macro_topics=7']);
    assert.equal(r.code ?? 0, 0, r.err);
    assert.match(r.out, /=== macro_topics_raw \[generate\]/);
    assert.match(r.out, /numbered list of 7 broad topics/);
    assert.equal(server.stats.total, total);
  });

  it('sdg pipelines --json lists built-ins with typed parameters', async () => {
    const r = await cli(['pipelines', '--json']);
    const list = JSON.parse(r.out);
    const openQa = list.find((p: any) => p.name === 'open_qa');
    assert.equal(openQa.parameters.find((p: any) => p.name === 'n_subtopics').type, 'int');
    assert.ok(openQa.templates.includes('open_qa/revise'));
  });

  it('copy a built-in into a workspace; the workspace copy overrides it and its templates are used', () => {
    const ws = join(dir, 'ws', 'prompts');
    const c = copyBuiltinPipeline('coding', ws);
    assert.ok(c.written.some((f) => f.endsWith(join('pipelines', 'coding.yaml'))));
    assert.ok(c.written.some((f) => f.endsWith(join('templates', 'coding', 'problems_advanced.yaml'))));
    assert.equal(copyBuiltinPipeline('coding', ws).written.length, 0, 'existing files are kept');
    // Edit the copied template: a placeholder with no value is now reported against the workspace file.
    writeFileSync(join(ws, 'templates', 'coding', 'macro_topics.yaml'), 'prompt: "List {{count}} topics of {{framework}}"\n');
    const info = listPipelines(ws).pipelines.find((p) => p.name === 'coding')!;
    assert.equal(info.source, 'workspace');
    assert.equal(info.overridesBuiltin, true);
    assert.equal(info.errors.length, 1);
    assert.match(info.errors[0]!.message, /\{\{framework\}\}/);
    assert.deepEqual(validatePipelineFile(join(ws, 'pipelines', 'coding.yaml')).map((e) => e.field), ['stages[0].template']);
  });
});
