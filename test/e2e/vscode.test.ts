/**
 * SDG Studio in a real VS Code: code-server 4.139 (VS Code 1.139) driven by headless Chromium.
 *  - UI: the packaged VSIX installed, the Studio opened from the palette, a JSONL file opened in
 *    the viewer; screenshots go to .test-artifacts/screenshots/.
 *  - In-host suites: test/vscode/**\/*.test.ts run inside the extension host (real `vscode` API)
 *    with the exit code and per-test results brought back here, one mocha test each.
 * A llama-server (tiny random-weight model) serves as the workspace's endpoint.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Mocha from 'mocha';
import type { Locator, Page } from 'playwright-core';
import { launchBrowser, type Browser } from '../../scripts/real-parts/browser';
import { startLlamaServer, type LlamaServer } from '../../scripts/real-parts/llamaServer';
import { ensureRealPart, REPO_ROOT } from '../../scripts/real-parts/setup';
import { installVsix, makeDirs, removeDirs, startCodeServer, type CodeServer, type CodeServerDirs } from '../../scripts/real-parts/codeServer';
import { compileHostTests, runHostTests, type HostRun } from './harness/hostTests';
import { openFile, runCommand, waitForWorkbench, webviewContent } from './harness/workbench';
import { loadFewShotSet } from '../../src/core/prompts/fewShot';
import { makeViewerJsonl } from '../../bench/viewerE2e';
import { copySample, LOCAL_TINY_ENDPOINT_NAME, localTinyEndpoint, writeEndpoints } from '../../scripts/real-parts/workspace';

// Ignored: `npm run docs:refresh` copies them to docs/screenshots/ (npm test leaves the tree clean).
const SCREENSHOTS = join(REPO_ROOT, '.test-artifacts', 'screenshots');
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
    let runDir: string | undefined;
    let labelRunDir: string | undefined;

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

    it('edits and saves a workspace few-shot example in the Studio, keeping the file\'s comments', async () => {
      const file = join(workspace, 'prompts', 'few_shot', 'tutor_steps.yaml');
      const before = readFileSync(file, 'utf8');
      const comment = before.split('\n')[0];
      assert.match(comment, /^# /, 'the sample few-shot set starts with a comment');
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      // The workspace prompt config that uses the set; opening it opens its few-shot set.
      await studio.locator('vscode-tab-header', { hasText: 'Template' }).click({ timeout: 60_000 });
      await pickOption(studio.locator('vscode-single-select[aria-label="Template"]'), 'tutor_steps (prompt config)');
      await studio.locator('vscode-textarea[aria-label="Template text"]').waitFor({ timeout: 30_000 });
      await studio.locator('vscode-tab-header', { hasText: 'Few-shot' }).click();
      const setPath = studio.locator('p.mono', { hasText: 'prompts/few_shot/tutor_steps.yaml' });
      if (!(await setPath.isVisible().catch(() => false))) {
        await pickOption(studio.locator('vscode-single-select[aria-label="Few-shot set"]'), 'tutor_steps.yaml');
      }
      await setPath.waitFor({ timeout: 30_000 });
      const problem = studio.locator('.example').first().locator('vscode-textarea').first();
      await problem.locator('textarea').waitFor({ timeout: 30_000 });
      assert.match(await problem.locator('textarea').inputValue(), /library lends 14 books/);
      const edited = 'A library lends 16 books on Monday and twice as many on Tuesday. How many books does it lend on the two days together?';
      await problem.locator('textarea').fill(edited);
      await studio.getByText('unsaved changes').waitFor({ timeout: 10_000 });
      await studio.locator('vscode-button', { hasText: /^\s*Save\s*$/ }).first().click();
      await studio.getByText('unsaved changes').waitFor({ state: 'hidden', timeout: 30_000 });
      const after = await waitFor(() => {
        const text = readFileSync(file, 'utf8');
        return text.includes(edited) ? text : undefined;
      }, 30_000, `${file} never got the edited example`);
      assert.ok(after.startsWith(comment + '\n'), 'the leading comment was kept');
      assert.ok(!after.includes('library lends 14 books'), 'the old text is gone');
      const examples = loadFewShotSet(file);
      assert.equal(examples.length, 2);
      assert.equal(examples[0].problem, edited);
      assert.match(examples[1].problem, /Omar buys 3 notebooks/);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio-fewshot.png') });
      await leaveWebview(page);
    });

    it('runs the sample workspace pipeline from the Studio on the local endpoint to completion', async () => {
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Pipelines' }).click({ timeout: 60_000 });
      await studio.locator('[data-pipeline]', { hasText: 'gsm8k_explain' }).first().click({ timeout: 30_000 });
      // The value the parameter's help suggests, relative to the workspace folder, picked from
      // the workspace's datasets (run outputs and stage files are in a separate, collapsed group).
      await pickOption(studio.locator('vscode-single-select[aria-label="Dataset for documents"]'), 'data/gsm8k-test-20.jsonl');
      await waitFor(async () => ((await studio.locator('#param-documents textarea').inputValue()) === 'data/gsm8k-test-20.jsonl' ? true : undefined), 10_000, 'the picker did not fill the parameter');
      // Long answers (the random model nearly always writes to the limit), one request at a
      // time: the run lasts many card updates, so its progress is on screen while it runs.
      await studio.locator('#param-max_tokens input').fill('512');
      await studio.locator('vscode-button', { hasText: 'Run' }).first().click();
      await studio.locator('vscode-textfield[aria-label="Concurrency"] input').fill('1', { timeout: 30_000 });
      await studio.locator('vscode-button', { hasText: 'Launch' }).click({ timeout: 30_000 });
      // The estimate comes first: 20 rows of the relative dataset, below the threshold, so no confirmation.
      await studio.locator('.estimate[data-confirm="false"]', { hasText: 'source rows: 20' }).waitFor({ timeout: 60_000 });
      // Watch the run's card from launch to the end: it must show the run going with its
      // progress (status running, a progress bar short of its total) before it completes.
      const card = studio.locator('.run', { hasText: 'gsm8k_explain' }).first();
      await card.waitFor({ timeout: 60_000 });
      const seen: CardState[] = [];
      let shot = false;
      const final = await waitFor(async () => {
        const state = await cardState(card);
        const last = seen[seen.length - 1];
        if (!last || last.status !== state.status || last.done !== state.done || (last.rps > 0) !== (state.rps > 0)) seen.push(state);
        if (state.status === 'running' && state.total > 0 && state.done < state.total && !shot) {
          shot = true; // what a person sees mid-run
          await page.screenshot({ path: join(SCREENSHOTS, 'studio-run-progress.png') });
        }
        return state.status === 'completed' || state.status === 'failed' ? state : undefined;
      }, 240_000, 'the run never finished');
      const trace = seen.map((x) => `${x.status} ${x.done}/${x.total} ${x.rps} req/s`).join(', ');
      console.log(`      run card: ${trace}`);
      assert.equal(final.status, 'completed', `the run ended ${final.status}: ${trace}`);
      const running = seen.filter((x) => x.status === 'running');
      assert.ok(running.length > 0, `the card never showed the run running: ${trace}`);
      assert.ok(running.some((x) => x.total > 0 && x.done < x.total), `the card never showed partial progress while running: ${trace}`);
      assert.ok(final.total > 0 && final.done === final.total, `the progress bar does not end full: ${trace}`);
      assert.ok(running.some((x) => x.rps > 0), `the card never showed a request rate while running: ${trace}`);
      // What stays on the card: every stage at 20 / 20 and the tokens used.
      for (const stage of ['problems', 'explanations_raw', 'output']) {
        const row = card.locator('.col > .row', { has: studio.locator(`span.mono:text-is("${stage}")`) });
        assert.match(await row.innerText(), /20\s*\/\s*20/, `stage ${stage} row`);
      }
      // The card tells this run apart: what ran, model @ endpoint, when, key parameters; and,
      // once ended, its duration and average rates.
      const subtitle = await card.locator('.run-subtitle').innerText();
      assert.match(subtitle, new RegExp(`^pipeline gsm8k_explain · ${llama.model.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} @ ${LOCAL_TINY_ENDPOINT_NAME.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} · \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d · .*max_tokens=512`), subtitle);
      assert.match(await card.locator('.duration').innerText(), /^\d+(m \d\ds|s)$/);
      assert.ok(Number(await card.locator('.avg-rps').innerText()) > 0, 'average requests/s of the ended run');
      const tokens = await card.locator('.stats > div', { hasText: 'tokens (prompt / completion)' }).innerText();
      const [prompt, completion] = (tokens.match(/([\d.]+)[kMG]?\s*\/\s*([\d.]+)/) ?? []).slice(1).map(Number);
      assert.ok(prompt > 0 && completion > 0, `token counts on the card: ${tokens}`);
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio-run.png') });
      // The run folder the card names holds one output row per problem.
      runDir = (await card.getAttribute('data-run'))!;
      const rows = readFileSync(join(runDir, 'output.jsonl'), 'utf8').split('\n').filter(Boolean);
      assert.equal(rows.length, 20);
      await leaveWebview(page);
    });

    it('labeling launch: an estimate first, a confirmation above the threshold; a small job launches at once and completes', async () => {
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 60_000 });
      await pickOption(studio.locator('vscode-single-select[aria-label="Kind of run"]'), 'Labeling');
      await pickOption(studio.locator('vscode-single-select[aria-label="Prompt config"]'), 'gsm8k_text');
      await pickOption(studio.locator('vscode-single-select[aria-label="Labeling dataset"]'), 'data/gsm8k-test-20.jsonl');
      // The pre-filled Seeds field typed into: 4 -> 416.
      await studio.locator('vscode-textfield[aria-label="Seeds"] input').fill('416');
      await studio.locator('vscode-textfield[aria-label="Max tokens"] input').fill('24');
      await studio.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
      const confirm = studio.locator('.estimate[data-confirm="true"]');
      await confirm.waitFor({ timeout: 60_000 });
      const text = await confirm.innerText();
      assert.match(text, /items: 8,320/);
      assert.match(text, /requests: 8,320/);
      assert.match(text, /prompt tokens: ~[\d,]+ \(~[\d,]+ per request, from 16 rendered prompts/);
      assert.match(text, /completion tokens: at most 199,680/);
      assert.match(text, /expected time: ~.* at [\d.]+ req\/s measured/, 'the pipeline run before measured this endpoint');
      assert.match(text, /This launch sends 8,320 requests, more than 1,000/);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio-estimate-confirm.png') });
      await confirm.locator('vscode-button', { hasText: 'Cancel' }).click();
      await confirm.waitFor({ state: 'detached', timeout: 10_000 });
      // A small job: no confirmation, it starts at once.
      await studio.locator('vscode-textfield[aria-label="Seeds"] input').fill('1');
      await studio.locator('vscode-textfield[aria-label="First rows only"] input').fill('4');
      await studio.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
      const card = studio.locator('.run', { hasText: 'prompt gsm8k_text' }).first();
      await card.waitFor({ timeout: 60_000 });
      assert.equal(await studio.locator('.estimate[data-confirm="true"]').count(), 0, 'no confirmation for 4 requests');
      await waitFor(async () => ((await card.getAttribute('data-status')) === 'completed' ? true : undefined), 180_000, 'the labeling run never completed');
      labelRunDir = (await card.getAttribute('data-run'))!;
      assert.match(await card.locator('.run-subtitle').innerText(), /prompt gsm8k_text · .* @ .* · seeds=1 samples=1 (temperature=[\d.]+ )?max_tokens=24 limit=4/);
      await leaveWebview(page);
    });

    it('tries the gsm8k_text prompt config on 2 real rows against the llama-server: answers side by side, tokens, latency, graded', async () => {
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Template' }).click({ timeout: 60_000 });
      await pickOption(studio.locator('vscode-single-select[aria-label="Template"]'), 'gsm8k_text (prompt config)');
      await studio.locator('vscode-textarea[aria-label="Template text"]').waitFor({ timeout: 30_000 });
      await pickOption(studio.locator('vscode-single-select[aria-label="Dataset"]'), 'data/gsm8k-test-20.jsonl');
      await studio.locator('vscode-textfield[aria-label="Rows to try"] input').fill('2');
      await studio.locator('vscode-textfield[aria-label="Try max tokens"] input').fill('16');
      await studio.locator('vscode-button.try-button').click();
      const answers = studio.locator('.try-rows .answer');
      await waitFor(async () => ((await answers.count()) === 2 ? true : undefined), 120_000, 'two answers never came back');
      for (let i = 0; i < 2; i++) {
        const a = answers.nth(i);
        assert.equal(await a.getAttribute('data-row'), String(i));
        assert.equal(await a.locator('.try-error').count(), 0, await a.innerText());
        assert.match(await a.locator('.tokens').innerText(), /^[1-9]\d* \+ [1-9]\d* tokens$/);
        assert.match(await a.locator('.latency').innerText(), /^\d+ ms$/);
        assert.match(await a.locator('.grade').innerText(), /^(correct|wrong)$/);
      }
      assert.equal(await answers.nth(0).locator('.expected').innerText(), '18', 'graded against the row\'s answer (Janet\'s ducks)');
      await studio.locator('.try-rows').scrollIntoViewIfNeeded();
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio-try-rows.png') });
      await leaveWebview(page);
    });

    it('grades the labeling run from its card (metrics on the card), votes and exports SFT data', async function () {
      if (!labelRunDir) this.skip(); // the labeling test failed
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 60_000 });
      const card = studio.locator(`.run[data-run="${labelRunDir}"]`);
      await card.locator('vscode-button', { hasText: /^\s*Grade\s*$/ }).click({ timeout: 30_000 });
      await card.locator('.postprocess-result', { hasText: '4 rows graded' }).waitFor({ timeout: 60_000 });
      await card.locator('.run-metrics .accuracy').waitFor({ timeout: 30_000 });
      const output = labelRunDir.replace(/\.run$/, '');
      const graded = readFileSync(output.replace(/\.jsonl$/, '.graded.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(graded.length, 4);
      assert.ok(graded.every((r) => typeof r.is_correct === 'boolean' && 'predicted_answer' in r), 'every row graded');
      const correct = graded.filter((r) => r.is_correct).length;
      assert.equal(await card.locator('.run-metrics .accuracy').innerText(), `${((correct / 4) * 100).toFixed(1)}%`, 'one sample per problem: accuracy = correct share');
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'studio-grade.png') });
      await card.locator('vscode-button', { hasText: /^\s*Vote\s*$/ }).click();
      await card.locator('.postprocess-result', { hasText: '4 problems:' }).waitFor({ timeout: 60_000 });
      await card.locator('vscode-button', { hasText: 'Export SFT' }).click();
      await card.locator('.postprocess-result', { hasText: 'SFT examples' }).waitFor({ timeout: 60_000 });
      assert.ok(existsSync(output.replace(/\.jsonl$/, '.sft.jsonl')), 'the SFT file was written');
      await leaveWebview(page);
    });

    it('opens the graded labeling output in the viewer: column profile, plots and metrics', async function () {
      if (!labelRunDir) this.skip(); // the labeling test failed
      const graded = labelRunDir.replace(/\.run$/, '').replace(/\.jsonl$/, '.graded.jsonl');
      if (!existsSync(graded)) this.skip(); // the grading test failed
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 60_000 });
      const card = studio.locator(`.run[data-run="${labelRunDir}"]`);
      // Grading again names the graded file; its link opens it in the viewer.
      await card.locator('vscode-button', { hasText: /^\s*Grade\s*$/ }).click({ timeout: 30_000 });
      await card.locator('.postprocess-result a', { hasText: '.graded.jsonl' }).click({ timeout: 60_000 });
      await page.locator('.tab', { hasText: '.graded.jsonl' }).first().waitFor({ timeout: 30_000 });
      const studioTab = page.locator('.tab', { hasText: 'SDG Studio' });
      await studioTab.first().click({ button: 'middle' });
      await studioTab.first().waitFor({ state: 'detached', timeout: 20_000 });
      const viewer = webviewContent(page);
      await viewer.locator('.statusbar', { hasText: '4 records' }).waitFor({ timeout: 60_000 });
      await viewer.locator('vscode-button', { hasText: 'Profile' }).click();
      const pane = viewer.locator('sdg-column-profile');
      await pane.getByText('4 records in 4 lines').waitFor({ timeout: 60_000 });
      await pane.locator('tr[data-field="is_correct"]').waitFor({ timeout: 30_000 });
      await pane.locator('.plot-share svg.chart').waitFor({ timeout: 30_000 });
      const rows = readFileSync(graded, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      const correct = rows.filter((r) => r.is_correct === true).length;
      const metrics = pane.locator('table.metrics');
      await metrics.waitFor({ timeout: 60_000 });
      // One sample per problem: accuracy = pass@1 = the correct share, as on the run card.
      const cells = await metrics.locator('tr').nth(1).locator('td').allInnerTexts();
      assert.equal(cells[3], `${((correct / rows.length) * 100).toFixed(1)}%`);
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'viewer-profile.png') });
      await leaveWebview(page);
    });

    it('compares two labeling runs of the same rows: parameters that differ, per input side by side', async function () {
      if (!labelRunDir) this.skip(); // the labeling test failed
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 60_000 });
      // A second run of the same 4 rows at another temperature (a closed panel starts a fresh form).
      await pickOption(studio.locator('vscode-single-select[aria-label="Kind of run"]'), 'Labeling');
      await pickOption(studio.locator('vscode-single-select[aria-label="Prompt config"]'), 'gsm8k_text');
      await pickOption(studio.locator('vscode-single-select[aria-label="Labeling dataset"]'), 'data/gsm8k-test-20.jsonl');
      await studio.locator('vscode-textfield[aria-label="Seeds"] input').fill('1');
      await studio.locator('vscode-textfield[aria-label="First rows only"] input').fill('4');
      await studio.locator('vscode-textfield[aria-label="Max tokens"] input').fill('24');
      await studio.locator('vscode-textfield[aria-label="Temperature"] input').fill('0.2', { timeout: 30_000 });
      await studio.locator('vscode-button', { hasText: /^\s*Launch\s*$/ }).click();
      const second = studio.locator('.run', { hasText: 'temperature=0.2' }).first();
      await second.waitFor({ timeout: 60_000 });
      await waitFor(async () => ((await second.getAttribute('data-status')) === 'completed' ? true : undefined), 180_000, 'the second labeling run never completed');
      const secondDir = (await second.getAttribute('data-run'))!;
      const compare = studio.locator('.compare-runs');
      const firstSubtitle = await studio.locator(`.run[data-run="${labelRunDir}"] .run-subtitle`).innerText();
      const temperatureA = /temperature=[\d.]+ max_tokens=24/.exec(firstSubtitle)?.[0];
      assert.ok(temperatureA, firstSubtitle);
      await pickOption(compare.locator('vscode-single-select[aria-label="Compare run A"]'), temperatureA);
      await pickOption(compare.locator('vscode-single-select[aria-label="Compare run B"]'), `temperature=0.2`);
      await compare.locator('vscode-button.compare-button').click();
      await compare.locator('table.differences tr[data-param="temperature"]').waitFor({ timeout: 60_000 });
      assert.equal(await compare.locator('table.differences tr[data-param="temperature"] .diff-b').innerText(), '0.2');
      assert.equal(await compare.locator('tr.compare-row').count(), 4, 'the 4 rows both runs labeled');
      assert.match(await compare.locator('tr.compare-row').first().innerText(), /Janet/);
      assert.ok(secondDir !== labelRunDir);
      await page.waitForTimeout(300);
      await compare.screenshot({ path: join(SCREENSHOTS, 'studio-compare.png') });
      await leaveWebview(page);
    });

    it('opens the run\'s output in the viewer from its card, searches it and opens a record', async function () {
      if (!runDir) this.skip(); // the run test failed
      const output = join(runDir, 'output.jsonl');
      const records = readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
      // "ducks" is in one GSM8K question; count from the file so gibberish that happens to
      // contain it cannot break the test. The search is case-insensitive over all fields.
      const term = 'ducks';
      const expected = records.filter((r) => JSON.stringify(r).toLowerCase().includes(term)).length;
      const janet = records.findIndex((r) => String(r.question).includes('Janet'));
      assert.ok(expected >= 1 && janet >= 0, 'the output holds the Janet question');
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'SDG: Open Studio');
      const studio = webviewContent(page);
      await studio.locator('vscode-tab-header', { hasText: 'Run' }).click({ timeout: 60_000 });
      const card = studio.locator(`.run[data-run="${runDir}"]`);
      await card.locator('vscode-button', { hasText: 'Open output' }).click({ timeout: 30_000 });
      await page.locator('.tab', { hasText: 'output.jsonl' }).first().waitFor({ timeout: 30_000 });
      // Leave only the viewer open, so its webview is the one the test drives. (A middle click
      // on the tab closes it; the palette may not open while the focus is in a webview.)
      const studioTab = page.locator('.tab', { hasText: 'SDG Studio' });
      await studioTab.first().click({ button: 'middle' });
      await studioTab.first().waitFor({ state: 'detached', timeout: 20_000 });
      const viewer = webviewContent(page);
      await viewer.locator('.statusbar', { hasText: 'output.jsonl' }).waitFor({ timeout: 60_000 });
      await viewer.locator('.statusbar', { hasText: `${records.length} records` }).waitFor({ timeout: 60_000 });
      const search = viewer.locator('#search input');
      await search.fill(term);
      await search.press('Enter');
      await waitFor(async () => {
        const text = await viewer.locator('.statusbar').innerText();
        return new RegExp(`\\b${expected} matching`).test(text) && !text.includes('scanned') ? text : undefined;
      }, 60_000, `the status bar never said "${expected} matching"`);
      const shown = viewer.locator('.rows .row');
      await waitFor(async () => ((await shown.count()) === expected ? true : undefined), 30_000, `the list never showed ${expected} row(s)`);
      await viewer.locator('.rows .row mark', { hasText: new RegExp(term, 'i') }).first().waitFor({ timeout: 10_000 });
      // Open the Janet record: the detail pane shows its fields, reference answer included.
      await viewer.locator('.rows .row', { hasText: 'Janet' }).first().click();
      const detail = viewer.locator('.detail');
      await detail.locator('.detail-bar strong', { hasText: new RegExp(`^Line ${janet + 1}$`) }).waitFor({ timeout: 30_000 });
      const answer = String(records[janet].reference_answer);
      const field = detail.locator('section.field', { has: viewer.locator('.field-name', { hasText: 'reference_answer' }) });
      assert.equal((await field.locator('pre').innerText()).trim(), answer.trim());
      await page.waitForTimeout(500);
      await page.screenshot({ path: join(SCREENSHOTS, 'viewer-output-search.png') });
      await leaveWebview(page);
    });

    it('a prompt config in the real editor with "Open Template Preview to the Side": the preview follows unsaved text', async () => {
      await runCommand(page, 'View: Close All Editors', 20_000);
      const file = join(workspace, 'prompts', 'generation', 'tutor_steps.yaml');
      const onDisk = readFileSync(file, 'utf8');
      await openFile(page, 'prompts/generation/tutor_steps.yaml');
      await page.locator('.tab', { hasText: 'tutor_steps.yaml' }).first().waitFor({ timeout: 30_000 });
      await runCommand(page, 'SDG: Open Template Preview to the Side');
      const preview = webviewContent(page); // the only webview open: the preview beside the editor
      await preview.locator('pre.preview-message', { hasText: 'Solve the last problem the way the examples do' }).waitFor({ timeout: 60_000 });
      // Type into the user field (line 5) without saving.
      await runCommand(page, 'Go to Line/Column...', 20_000);
      await page.keyboard.type('5');
      await page.keyboard.press('Enter');
      await page.keyboard.press('End');
      await page.keyboard.type(' UNSAVED-EDIT-42');
      await preview.locator('pre.preview-message', { hasText: 'UNSAVED-EDIT-42' }).waitFor({ timeout: 30_000 });
      assert.equal(readFileSync(file, 'utf8'), onDisk, 'nothing was saved');
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'template-preview-to-side.png') });
      await runCommand(page, 'File: Revert File', 20_000);
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

    it('times the viewer on a generated 64 MB output as the user sees it: first rows, search, regex, filter, group-by (reported, not judged)', async function () {
      this.timeout(10 * 60_000);
      // Rows like a graded run's output (the bench's generator), in an ignored folder of the workspace.
      const rel = '.sdg-test/viewer-timings.jsonl';
      const file = join(workspace, rel);
      mkdirSync(dirname(file), { recursive: true });
      await makeViewerJsonl(file, 64 * 2 ** 20);
      try {
        // The expected counts, the slow way, from the file.
        const plain = 'boxed{1234}';
        const regex = 'boxed\\{1[0-9]{3}\\}';
        const filter = 'seed == 4 && is_correct == false';
        const want = { lines: 0, plain: 0, regex: 0, filter: 0, groups: 0 };
        const groups = new Set<unknown>();
        const re = new RegExp(regex, 'i');
        for (const line of readFileSync(file, 'utf8').split('\n')) {
          if (!line) continue;
          want.lines++;
          const r = JSON.parse(line) as { seed: number; is_correct: boolean; input_index: number };
          if (line.toLowerCase().includes(plain)) want.plain++;
          if (re.test(line)) want.regex++;
          if (r.seed === 4 && r.is_correct === false) want.filter++;
          groups.add(r.input_index);
        }
        want.groups = groups.size;
        assert.ok(want.plain >= 1 && want.regex > want.plain && want.filter > 0, JSON.stringify(want));
        const n = (x: number): string => x.toLocaleString('en-US');

        await runCommand(page, 'View: Close All Editors', 20_000);
        await openFile(page, rel);
        await page.locator('.tab', { hasText: 'viewer-timings.jsonl' }).first().waitFor({ timeout: 60_000 });
        // The text editor shows "very large file" (not loaded); the command opens the viewer on its tab.
        // The palette was once found inert right after that placeholder: try again after Escape.
        for (let attempt = 1; ; attempt++) {
          try {
            await runCommand(page, 'SDG: Open in JSONL Viewer', 20_000);
            break;
          } catch (e) {
            if (attempt >= 3) throw e;
            await page.keyboard.press('Escape');
            await page.waitForTimeout(1000);
          }
        }
        const opened = performance.now();
        const openedWall = Date.now();
        const viewer = webviewContent(page);
        // A row with its line number is a record on screen (placeholders show only "…").
        await viewer.locator('.rows .row .lineno').first().waitFor({ timeout: 120_000 });
        const firstRowsMs = performance.now() - opened;
        const firstOpen = await viewerTimeline(page, openedWall);
        await viewer.locator('.statusbar', { hasText: `${n(want.lines)} records` }).waitFor({ timeout: 300_000 });
        const indexedMs = performance.now() - opened;
        const status = viewer.locator('.statusbar');
        /** From the action to the status bar reporting the finished query with the right count. */
        const timed = async (action: () => Promise<void>, done: string, what: string): Promise<number> => {
          // Finished (no "% scanned") with this count; Playwright polls the page itself, so the time is not rounded up to a probe interval.
          const escaped = done.replace(/[.*+?^$|()[\]{}\\]/g, '\\$&');
          const doneRe = new RegExp(`^(?![\\s\\S]*scanned)[\\s\\S]*(^|\\s)${escaped}`);
          const t0 = performance.now();
          await action();
          try {
            await viewer.locator('.statusbar', { hasText: doneRe }).waitFor({ timeout: 300_000 });
          } catch (e) {
            throw new Error(`${what}: the status bar never said "${done}" (it says "${await status.innerText()}"): ${(e as Error).message}`);
          }
          return performance.now() - t0;
        };
        const search = viewer.locator('#search input');
        const filterInput = viewer.locator('#filter input');
        const plainMs = await timed(async () => {
          await search.fill(plain);
          await search.press('Enter');
        }, `${n(want.plain)} matching`, 'plain search');
        const regexMs = await timed(async () => {
          await search.fill(regex);
          await viewer.locator('vscode-checkbox', { hasText: 'Regex' }).click(); // runs the query
        }, `${n(want.regex)} matching`, 'regex search');
        const filterMs = await timed(async () => {
          await search.fill('');
          await filterInput.fill(filter);
          await filterInput.press('Enter');
        }, `${n(want.filter)} matching`, 'filter');
        await filterInput.fill('');
        const groupMs = await timed(async () => {
          await viewer.locator('vscode-single-select.group-select').evaluate((el: HTMLElement & { value: string }) => {
            el.value = 'input_index';
            el.dispatchEvent(new Event('change'));
          });
        }, `${n(want.groups)} groups, ${n(want.lines)} matching`, 'group-by');
        // Opened a second time (VS Code has booted a webview before): the same file, a new panel.
        await leaveWebview(page);
        await runCommand(page, 'View: Close All Editors', 20_000);
        await openFile(page, rel);
        await page.locator('.tab', { hasText: 'viewer-timings.jsonl' }).first().waitFor({ timeout: 60_000 });
        await runCommand(page, 'SDG: Open in JSONL Viewer', 20_000);
        const reopenedWall = Date.now();
        await webviewContent(page).locator('.rows .row .lineno').first().waitFor({ timeout: 120_000 });
        const secondOpen = await viewerTimeline(page, reopenedWall);
        // A record shown as Markdown + LaTeX: the renderer (markdown-it + KaTeX) is a chunk of the
        // bundle fetched on first use (webview/viewer/richRender.ts); it must load under the CSP.
        const reopened = webviewContent(page);
        await reopened.locator('.rows .row .lineno').first().click();
        const mode = reopened.locator('vscode-single-select[aria-label="Render long text as"]');
        await mode.waitFor({ timeout: 30_000 });
        await mode.evaluate((el) => {
          (el as HTMLSelectElement).value = 'math';
          el.dispatchEvent(new Event('change'));
        });
        await reopened.locator('sdg-long-text .markdown', { hasText: 'Let us compute step by step' }).first().waitFor({ timeout: 30_000 });
        const sizeBytes = statSync(file).size;
        const timings = {
          when: new Date().toISOString(),
          where: 'code-server + headless Chromium (test/e2e/vscode.test.ts), as the user sees it: from the action to the status bar reporting completion',
          file: { bytes: sizeBytes, lines: want.lines },
          firstRowsMs: Math.round(firstRowsMs),
          indexedMs: Math.round(indexedMs),
          // Where the first rows' time goes, from the command (ms after it): see viewerTimeline().
          firstOpen,
          secondOpen,
          queries: {
            [`plain search "${plain}"`]: { ms: Math.round(plainMs), matches: want.plain },
            [`regex search /${regex}/i`]: { ms: Math.round(regexMs), matches: want.regex },
            [`filter ${filter}`]: { ms: Math.round(filterMs), matches: want.filter },
            'group-by input_index': { ms: Math.round(groupMs), matches: want.lines, groups: want.groups },
          },
        };
        const out = join(REPO_ROOT, '.test-artifacts', 'viewer-timings.json');
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, JSON.stringify(timings, null, 2) + '\n');
        const steps = (t: Record<string, number>) => Object.entries(t).map(([k, v]) => `${k} ${v}`).join(', ');
        console.log(`      viewer first open (ms after the command): ${steps(firstOpen)}`);
        console.log(`      viewer second open: ${steps(secondOpen)}`);
        console.log(`      viewer timings (${(sizeBytes / 2 ** 20).toFixed(0)} MB, ${n(want.lines)} lines): first rows ${timings.firstRowsMs} ms, indexed ${timings.indexedMs} ms, ` +
          Object.entries(timings.queries).map(([k, v]) => `${k} ${v.ms} ms (${(sizeBytes / 1e9 / (v.ms / 1000)).toFixed(2)} GB/s)`).join(', ') + ` -> ${out}`);
        await leaveWebview(page);
        await runCommand(page, 'View: Close All Editors', 20_000);
      } finally {
        rmSync(file, { force: true });
      }
    });

    it('the Getting Started walkthrough shows the steps done earlier in the window as complete (issue 17)', async () => {
      // By now the endpoint is configured, the Studio was opened, a pipeline ran and its output
      // was opened. The walkthrough registers only now (no Welcome page at startup), after all
      // of it: VS Code's completion events alone would leave every step unticked.
      await runCommand(page, 'View: Close All Editors', 20_000);
      await runCommand(page, 'Open Walkthrough...', 20_000);
      const item = page.locator('.quick-input-list .monaco-list-row', { hasText: 'Get started with SDG Studio' }).first();
      await item.click({ timeout: 30_000 });
      const walkthrough = 'sdg-studio.sdg-studio#sdg.gettingStarted';
      await page.locator(`button.getting-started-step[data-step-id="${walkthrough}#addEndpoint"]`).waitFor({ timeout: 30_000 });
      let states: { step: string; done: boolean }[] = [];
      const stepDone = async (step: string) => {
        const icon = page.locator(`[data-done-step-id="${walkthrough}#${step}"]`).first();
        const cls = (await icon.getAttribute('class', { timeout: 5000 }).catch(() => null)) ?? '';
        return { step, done: cls.split(/\s+/).includes('complete') && cls.includes('codicon-getting-started-step-checked') };
      };
      await waitFor(async () => {
        states = await Promise.all(['addEndpoint', 'openStudio', 'runPipeline', 'browseResult'].map(stepDone));
        return states.every((x) => x.done) ? true : undefined;
      }, 30_000, 'not every walkthrough step shows as complete').catch((e: Error) => {
        throw new Error(`${e.message}: ${states.map((x) => `${x.step} ${x.done ? 'done' : 'not done'}`).join(', ')}`);
      });
      await page.waitForTimeout(300);
      await page.screenshot({ path: join(SCREENSHOTS, 'walkthrough.png') });
      await runCommand(page, 'View: Close All Editors', 20_000);
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

/**
 * Moves the keyboard focus from a webview back to the workbench: keys pressed in a webview's
 * frame (F1 for the palette) do not always reach the workbench.
 */
async function leaveWebview(page: Page): Promise<void> {
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
}

interface CardState {
  status: string;
  done: number;
  total: number;
  rps: number;
}

/** A run card's status and its overall progress bar (aria-valuenow / aria-valuemax). */
async function cardState(card: Locator): Promise<CardState> {
  return card.evaluate((el) => {
    const bar = el.querySelector('[role="progressbar"]');
    return {
      status: el.getAttribute('data-status') ?? '',
      done: Number(bar?.getAttribute('aria-valuenow') ?? 0),
      total: Number(bar?.getAttribute('aria-valuemax') ?? 0),
      rps: Number(el.querySelector('.rps')?.textContent ?? 0),
    };
  });
}

/** Picks an option of a vscode-single-select as a person does: open the list, click the option. */
async function pickOption(select: Locator, label: string): Promise<void> {
  await select.waitFor({ timeout: 30_000 });
  const combobox = select.locator('.combobox-input');
  if (await combobox.count()) {
    await combobox.click();
    await combobox.fill(label.slice(0, 8)); // filters the list down
  } else {
    await select.click();
  }
  await select.locator('li.option', { hasText: label }).first().click({ timeout: 15_000 });
}

/** Polls `probe` (every 200 ms) until it returns a value; fails with `what` after `timeoutMs`. */
async function waitFor<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} (waited ${timeoutMs} ms)`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Where the time to the first rows goes, in ms after `commandWall` (Date.now() when the palette
 * command was sent; the browser runs on the same machine and clock): VS Code creating the
 * webview's outer frame, the inner frame's navigation, the viewer's script and stylesheet
 * fetched, then the viewer's own marks (webview/viewer/boot.ts, app.ts): script running, `ready`
 * sent, the host's `file` message, the first record rendered.
 */
async function viewerTimeline(page: Page, commandWall: number): Promise<Record<string, number>> {
  const outer = page.locator('iframe.webview').last().contentFrame();
  const outerOrigin = await outer.locator('body').evaluate(() => performance.timeOrigin);
  // A string, not a function: tsx would wrap a function's inner arrows in a helper the page lacks.
  const inner = (await webviewContent(page)
    .locator('sdg-jsonl-viewer')
    .evaluate(`(() => {
      const at = (name) => performance.getEntriesByName(name)[0]?.startTime;
      const res = performance.getEntriesByType('resource').find((r) => /viewer\\.js/.test(r.name));
      const nav = performance.getEntriesByType('navigation')[0];
      return {
        origin: performance.timeOrigin,
        htmlLoaded: nav?.responseEnd,
        scriptFetched: res?.responseEnd,
        scriptStart: at('sdg:script-start'),
        readySent: at('sdg:ready-sent'),
        fileMessage: at('sdg:file'),
        firstRows: at('sdg:first-rows'),
      };
    })()`)) as Record<string, number | undefined> & { origin: number };
  const round = (x: number | undefined, origin: number): number => (x === undefined ? -1 : Math.round(origin + x - commandWall));
  return {
    outerFrame: Math.round(outerOrigin - commandWall),
    innerFrame: Math.round(inner.origin - commandWall),
    htmlLoaded: round(inner.htmlLoaded, inner.origin),
    scriptFetched: round(inner.scriptFetched, inner.origin),
    scriptStart: round(inner.scriptStart, inner.origin),
    readySent: round(inner.readySent, inner.origin),
    fileMessage: round(inner.fileMessage, inner.origin),
    firstRows: round(inner.firstRows, inner.origin),
  };
}
