/**
 * Scale-out inside a real extension host: a pool endpoint added through the command API is kept
 * in settings with its servers and tested server by server (two mock servers on loopback), and
 * "SDG: Launch Labeling on Slurm..." opens the Studio.
 */
import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { Services } from '../../src/extension/services';
import { startMockServer, type MockServer } from '../support/mockServer';

const EXTENSION_ID = 'sdg-studio.sdg-studio';

async function services(): Promise<Services> {
  const ext = vscode.extensions.getExtension<{ services: Services }>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not installed`);
  const api = ext.isActive ? ext.exports : await ext.activate();
  return api.services;
}

describe('SDG Studio scale-out (in the extension host)', function () {
  this.timeout(120_000);
  const name = `pool-test-${process.pid}`;
  let a: MockServer;
  let b: MockServer;

  before(async () => {
    a = await startMockServer({ models: ['pool-model'] });
    b = await startMockServer({ models: ['pool-model'] });
    await services();
  });

  after(async () => {
    const s = await services();
    if (s.endpoints.get(name)) await s.endpoints.remove(name);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await a?.close();
    await b?.close();
  });

  it('keeps a pool endpoint with its servers and tests every server', async () => {
    const added = await vscode.commands.executeCommand<string>('sdg.addEndpoint', { name, baseUrl: a.url, model: 'pool-model', apiKind: 'chat', servers: [{ baseUrl: a.url }, { baseUrl: b.url, weight: 2, maxConcurrency: 4 }] });
    assert.equal(added, name);
    const entry = vscode.workspace.getConfiguration('sdg').get<Array<{ name: string; servers?: unknown }>>('endpoints', []).find((e) => e.name === name);
    assert.deepEqual(entry?.servers, [{ baseUrl: a.url }, { baseUrl: b.url, weight: 2, maxConcurrency: 4 }]);
    const result = await vscode.commands.executeCommand<{ ok: boolean; servers?: Array<{ baseUrl: string; ok: boolean }> }>('sdg.testEndpoint', name);
    assert.equal(result?.ok, true);
    assert.deepEqual(result?.servers?.map((s) => [s.baseUrl, s.ok]), [[a.url, true], [b.url, true]]);
  });

  it('"Launch Labeling on Slurm..." opens the Studio; its Slurm settings point at this extension\'s CLI', async () => {
    const shown = await vscode.commands.executeCommand<boolean>('sdg.launchOnSlurm');
    assert.equal(shown, vscode.workspace.isTrusted);
    if (shown) {
      // The tab appears once the workbench has created the webview (asynchronously).
      const until = Date.now() + 30_000;
      const studioTab = () => vscode.window.tabGroups.all.flatMap((g) => g.tabs).find((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('sdg.studio'));
      while (!studioTab() && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      assert.equal(studioTab()?.label, 'SDG Studio');
    }
    const slurm = (await services()).studioBackend().slurm!;
    assert.ok(existsSync(join(slurm.extensionPath, 'dist', 'cli.js')), 'dist/cli.js ships with the extension');
  });
});
