/**
 * `npm start` in code-server mode, as a person runs it: it must print a loopback URL that serves
 * VS Code on the sample workspace with the local random-weights endpoint configured and live,
 * and Ctrl+C must stop every process it started.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { descendants, spawnTracked, stopTracked } from '../../scripts/real-parts/processes';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { LOCAL_TINY_ENDPOINT_NAME } from '../../scripts/real-parts/workspace';
import { isPidAlive } from '../../src/core/run';

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('npm start (vscode)', function () {
  let workspace: string;
  before(() => {
    workspace = mkdtempSync(join(tmpdir(), 'sdg-start-ws-'));
  });
  after(() => rmSync(workspace, { recursive: true, force: true }));

  it('serves the sample workspace in code-server with the local random-weights endpoint; Ctrl+C stops it all', async function () {
    this.timeout(15 * 60_000);
    const start = spawnTracked(process.execPath, ['scripts/start.mjs', '--code-server', '--workspace', workspace], { cwd: REPO_ROOT });
    try {
      const url = await until('the printed URL', 10 * 60_000, () => {
        if (start.child.exitCode !== null) throw new Error(`npm start exited (${start.child.exitCode}):\n${start.tail()}`);
        return /(http:\/\/127\.0\.0\.1:\d+\/\?folder=\S+)/.exec(readFileSync(start.logFile, 'utf8'))?.[1];
      });
      const origin = new URL(url).origin;
      assert.equal(new URL(url).searchParams.get('folder'), workspace);
      assert.equal((await fetch(`${origin}/healthz`)).status, 200);
      assert.equal((await fetch(url)).status, 200, 'the workbench page');

      // The sample, copied, with the endpoint of the local server.
      assert.ok(existsSync(join(workspace, 'data', 'gsm8k-test-20.jsonl')));
      assert.ok(existsSync(join(workspace, 'prompts', 'pipelines', 'gsm8k_explain.yaml')));
      const settings = JSON.parse(readFileSync(join(workspace, '.vscode', 'settings.json'), 'utf8')) as { 'sdg.endpoints': Array<{ name: string; baseUrl: string; model: string }> };
      const endpoints = settings['sdg.endpoints'];
      assert.equal(endpoints.length, 1);
      assert.equal(endpoints[0].name, LOCAL_TINY_ENDPOINT_NAME);
      assert.match(endpoints[0].baseUrl, /^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      const models = (await (await fetch(`${endpoints[0].baseUrl}/models`)).json()) as { data: Array<{ id: string }> };
      assert.ok(models.data.some((m) => m.id === endpoints[0].model), JSON.stringify(models));

      // Ctrl+C: everything it started goes away.
      const started = descendants(start.pid);
      assert.ok(started.length >= 2, `expected llama-server and code-server below npm start, found ${started.length}`);
      process.kill(start.pid, 'SIGINT');
      const code = await Promise.race([start.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 30_000))]);
      assert.equal(code, 0, `npm start did not exit cleanly on Ctrl+C (${code}):\n${start.tail()}`);
      await until('its processes to exit', 20_000, () => (started.some(isPidAlive) ? undefined : true));
      await assert.rejects(fetch(`${origin}/healthz`), 'code-server still answers');
      await assert.rejects(fetch(`${endpoints[0].baseUrl}/models`), 'llama-server still answers');
    } finally {
      await stopTracked(start, 5000, true);
    }
  });
});
