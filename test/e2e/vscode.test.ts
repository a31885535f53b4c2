/**
 * SDG Studio in a real VS Code: code-server 4.139 (VS Code 1.139) driven by headless Chromium.
 *  - UI: the packaged VSIX installed, the Studio opened from the palette, a JSONL file opened in
 *    the viewer; screenshots go to docs/screenshots/.
 *  - In-host suites: test/vscode/**\/*.test.ts run inside the extension host (real `vscode` API)
 *    with the exit code and per-test results brought back here, one mocha test each.
 * A llama-server (tiny random-weight model) serves as the workspace's endpoint.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Mocha from 'mocha';
import type { Page } from 'playwright-core';
import { launchBrowser, type Browser } from '../real/harness/browser';
import { startLlamaServer, type LlamaServer } from '../real/harness/llamaServer';
import { ensureRealPart, REPO_ROOT } from '../real/harness/setup';
import { installVsix, makeDirs, removeDirs, startCodeServer, type CodeServer, type CodeServerDirs } from './harness/codeServer';
import { compileHostTests, runHostTests, type HostRun } from './harness/hostTests';
import { openFile, runCommand, waitForWorkbench, webviewContent } from './harness/workbench';
import { copySample, LOCAL_TINY_ENDPOINT_NAME, localTinyEndpoint, writeEndpoints } from './harness/workspace';

const SCREENSHOTS = join(REPO_ROOT, 'docs', 'screenshots');
const VSIX = join(REPO_ROOT, 'dist', 'sdg-studio.vsix');

describe('SDG Studio in code-server (vscode)', function () {
  let llama: LlamaServer;
  let dirs: CodeServerDirs;
  let cs: CodeServer;
  let browser: Browser;
  let workspace: string;
  let runRoot: string;

  before(async function () {
    this.timeout(45 * 60_000); // a cold machine installs code-server first
    ensureRealPart('chromium');
    ensureRealPart('code-server');
    // The VSIX as users get it (production build).
    const pack = spawnSync('npm', ['run', '-s', 'package'], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    assert.equal(pack.status, 0, 'npm run package failed');
    assert.ok(existsSync(VSIX), `${VSIX} was not written`);

    runRoot = mkdtempSync(join(tmpdir(), 'sdg-e2e-'));
    workspace = join(runRoot, 'workspace');
    copySample(workspace);
    llama = await startLlamaServer({ parallel: 2, ctx: 2048 });
    writeEndpoints(workspace, [localTinyEndpoint(llama.baseUrl, llama.model, 2)]);

    dirs = makeDirs(join(runRoot, 'code-server'));
    installVsix(VSIX, dirs);
    cs = await startCodeServer(dirs);
    browser = await launchBrowser({ width: 1400, height: 900 });
  });

  after(async function () {
    this.timeout(60_000);
    await browser?.close();
    await cs?.stop();
    await llama?.stop();
    if (dirs) removeDirs(dirs);
    if (runRoot) rmSync(runRoot, { recursive: true, force: true });
  });

  describe('UI (installed VSIX)', function () {
    let page: Page;

    before(async function () {
      this.timeout(180_000);
      page = await browser.context.newPage();
      await page.goto(cs.url(workspace));
      await waitForWorkbench(page);
    });
    after(async () => page?.close());
    afterEach(async function () {
      // What the screen showed when a UI test failed, for the person reading the log.
      if (this.currentTest?.state !== 'failed' || !page) return;
      const dir = join(REPO_ROOT, '.test-artifacts', 'e2e');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${this.currentTest.title.replace(/[^\w]+/g, '-').slice(0, 60)}.png`);
      await page.screenshot({ path: file }).catch(() => undefined);
      console.log(`      screenshot of the failure: ${file}`);
    });

    it('opens the Studio from the command palette, listing pipelines and the workspace endpoint', async () => {
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Pipelines' }).waitFor({ timeout: 60_000 });
      await studio.locator('[data-pipeline]').first().waitFor({ timeout: 30_000 });
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio.png') });
      await studio.locator('vscode-tab-header', { hasText: 'Endpoints' }).click();
      await studio.getByText(LOCAL_TINY_ENDPOINT_NAME).first().waitFor({ timeout: 30_000 });
    });

    it('runs the sample workspace pipeline from the Studio on the local endpoint to completion', async () => {
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Pipelines' }).click({ timeout: 60_000 });
      await studio.locator('[data-pipeline]', { hasText: 'gsm8k_explain' }).first().click({ timeout: 30_000 });
      await studio.locator('#param-documents textarea').fill(join(workspace, 'data', 'gsm8k-test-20.jsonl'));
      await studio.locator('#param-max_tokens input').fill('32');
      await studio.locator('vscode-button', { hasText: 'Run' }).first().click();
      await studio.locator('vscode-button', { hasText: 'Launch' }).click({ timeout: 30_000 });
      const card = studio.locator('.run[data-status="completed"]', { hasText: 'gsm8k_explain' }).first();
      await card.waitFor({ timeout: 180_000 });
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio-run.png') });
      // The run folder the card names holds one output row per problem.
      const dir = (await card.getAttribute('data-run'))!;
      const rows = readFileSync(join(dir, 'output.jsonl'), 'utf8').split('\n').filter(Boolean);
      assert.equal(rows.length, 20);
    });

    it('opens a JSONL file in the viewer, showing its rows', async () => {
      await runCommand(page, 'View: Close All Editors', 20_000);
      await openFile(page, 'data/gsm8k-test-20.jsonl');
      await page.locator('.tab', { hasText: 'gsm8k-test-20.jsonl' }).first().waitFor({ timeout: 30_000 });
      await runCommand(page, 'SDG: Open in JSONL Viewer');
      const viewer = webviewContent(page);
      // The first GSM8K test problem; clicking its row shows the whole record.
      const first = viewer.getByText('Janet', { exact: false }).first();
      await first.waitFor({ timeout: 60_000 });
      await first.click();
      await viewer.getByText('farmers\' market', { exact: false }).first().waitFor({ timeout: 20_000 });
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(SCREENSHOTS, 'viewer.png') });
    });
  });

  describe('in-host suites (test/vscode, inside the extension host)', function () {
    let run: HostRun | undefined;
    let files: string[] = [];

    before(async function () {
      this.timeout(15 * 60_000);
      files = await compileHostTests();
      if (files.length === 0) return;
      run = await runHostTests(cs, browser.context, {
        folder: workspace,
        env: { SDG_TEST_LLM_BASE_URL: llama.baseUrl, SDG_TEST_LLM_MODEL: llama.model, SDG_TEST_WORKSPACE: workspace },
      });
      // One mocha test per in-host test, added now that the results are known.
      const suite = this.test!.parent!;
      for (const r of run.results) {
        const t = new Mocha.Test(r.title, r.state === 'skipped' ? undefined : () => {
          if (r.state === 'failed') throw new Error(r.error ?? 'failed in the extension host');
        });
        suite.addTest(t);
      }
    });

    it('the extension host ran the suites and reported back', function () {
      if (files.length === 0) this.skip(); // no test/vscode suites in this build
      assert.ok(run, 'no run');
      assert.notEqual(run.exitCode, undefined, `the extension host never reported an exit code; its log:\n${run.log.slice(-40).join('\n')}`);
      assert.ok(run.ended, `mocha in the host never finished; its log:\n${run.log.slice(-40).join('\n')}`);
      assert.ok(run.results.length > 0, 'the host ran no test');
      const failed = run.results.filter((r) => r.state === 'failed').length;
      assert.equal(run.exitCode === 0, failed === 0, `exit code ${run.exitCode} with ${failed} failed test(s)`);
    });
  });
});
