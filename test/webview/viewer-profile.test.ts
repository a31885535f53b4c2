/**
 * The viewer's profile pane (webview/viewer/columnProfile.ts) in headless Chromium under the
 * extension's strict CSP, against the product's host side (ViewerSession over a real file).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { bundleExists, VIEWER, WebviewTestHost, type HostedWebview } from './harness';

/** 5 problems x 4 samples, problem p has min(p, 4) correct; generation lengths grow with the seed. */
function gradedRow(i: number): Record<string, unknown> {
  const p = Math.floor(i / 4);
  const s = i % 4;
  const correct = s < p;
  return {
    input_index: p,
    seed: s,
    problem: `Problem ${p}`,
    generation: `Reasoning ${'step '.repeat(10 * (s + 1))}\nAnswer: ${correct ? 42 : s}`,
    predicted_answer: correct ? '42' : String(s),
    expected_answer: '42',
    is_correct: correct,
    usage: { prompt_tokens: 30, completion_tokens: 40 * (s + 1) },
  };
}

describe('JSONL viewer profile pane in Chromium (webview)', function () {
  let env: WebviewTestHost;
  let dir: string;
  const opened: Array<{ w: HostedWebview<ViewerSession>; live: LiveJsonlFile }> = [];

  before(async function () {
    if (!bundleExists('viewer')) throw new Error('dist/webview/viewer.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-profile-web-'));
  });
  afterEach(async () => {
    for (const { w, live } of opened.splice(0)) {
      await w.close();
      await live.dispose();
    }
  });
  after(async () => {
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function openFile(name: string, lines: string[]): Promise<HostedWebview<ViewerSession>> {
    const file = join(dir, name);
    writeFileSync(file, lines.map((l) => l + '\n').join(''));
    const live = await LiveJsonlFile.open(file, { pollMs: 200 });
    const w = await env.open(VIEWER, (post) => new ViewerSession(live, name, post));
    opened.push({ w, live });
    return w;
  }

  it('shows per-column profile, plots and metrics of a graded file, with no CSP violation', async () => {
    const w = await openFile('graded.jsonl', Array.from({ length: 20 }, (_, i) => JSON.stringify(gradedRow(i))));
    await w.page.locator('.statusbar').getByText('20 records').waitFor({ timeout: 20_000 });
    // A short window (a laptop with the panel open): the profile pane gets 45% of it.
    await w.page.setViewportSize({ width: 1280, height: 600 });
    await w.page.locator('vscode-button', { hasText: 'Profile' }).click();
    const pane = w.page.locator('sdg-column-profile');
    await pane.getByText('20 records in 20 lines').waitFor({ timeout: 20_000 });
    // Column table: is_correct is boolean, 2 distinct values, never missing.
    const row = pane.locator('tr[data-field="is_correct"]');
    await row.waitFor();
    const cells = await row.locator('td').allInnerTexts();
    // The per-field table is in view without scrolling the pane (plots come after it).
    const firstField = await pane.locator('tr[data-field]').first().boundingBox();
    const paneBox = await pane.boundingBox();
    assert.ok(firstField && paneBox && firstField.y + firstField.height <= paneBox.y + paneBox.height, `first field row ${JSON.stringify(firstField)} below the pane ${JSON.stringify(paneBox)}`);
    assert.equal(cells[1], 'boolean');
    assert.equal(cells[2], '0.0%');
    assert.equal(cells[3], '2');
    assert.match(cells[5], /false \(10\)/);
    // Plots: length of the longest text field, tokens per row, correct share per problem.
    await pane.locator('.plot-length svg.chart').waitFor();
    const lenBars = await pane.locator('.plot-length rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
    assert.equal(lenBars.filter((h) => h > 0).length >= 2, true, `length bars ${lenBars}`);
    assert.equal(await pane.locator('.plot-tokens figcaption').innerText().then((t) => /usage\.completion_tokens/.test(t)), true);
    await pane.getByText('5 problems by input_index').waitFor();
    // Share bins: problem 0 none correct, 1: 25%, 2: 50%, 3: 75%, 4: all four -> 1 all correct, 1 none.
    await pane.getByText('1 all correct, 1 none').waitFor();
    const heights = await pane.locator('.plot-share rect.bar').evaluateAll((rs) => rs.map((r) => Number(r.getAttribute('height'))));
    assert.equal(heights.length, 10);
    assert.deepEqual(heights.map((h) => h > 0), [true, false, true, false, false, true, false, true, false, true]);
    // Metrics: the CLI's numbers. seed 0 is correct for problems 1-4 -> accuracy 80%; pass@4 = 4/5.
    const metrics = pane.locator('table.metrics');
    await metrics.waitFor({ timeout: 20_000 });
    const head = await metrics.locator('th').allInnerTexts();
    assert.deepEqual(head.slice(0, 4), ['dataset', 'problems', 'samples', 'accuracy']);
    assert.ok(head.includes('pass@4') && head.includes('maj@4'), head.join(','));
    const vals = await metrics.locator('tr').nth(1).locator('td').allInnerTexts();
    assert.equal(vals[1], '5');
    assert.equal(vals[2], '20');
    assert.equal(vals[3], '80.0%');
    assert.equal(vals[head.indexOf('pass@4')], '80.0%');
    // Choosing another field redraws the length plot for it.
    await pane.locator('.plot-length vscode-single-select').evaluate((el, v) => {
      (el as HTMLSelectElement).value = v;
      el.dispatchEvent(new Event('change'));
    }, 'problem');
    await pane.locator('svg[aria-label="Length of problem in characters"]').waitFor();
    const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
    mkdirSync(shots, { recursive: true });
    await w.page.screenshot({ path: join(shots, 'viewer-profile.png') });
    await w.page.setViewportSize({ width: 1280, height: 860 });
    assert.deepEqual(await w.problems(), []);
  });

  it('an ungraded file shows the profile without metrics or a correct-share plot', async () => {
    const w = await openFile('plain.jsonl', Array.from({ length: 6 }, (_, i) => JSON.stringify({ text: 'a'.repeat(i * 20), id: i })));
    await w.page.locator('.statusbar').getByText('6 records').waitFor({ timeout: 20_000 });
    await w.page.locator('vscode-button', { hasText: 'Profile' }).click();
    const pane = w.page.locator('sdg-column-profile');
    await pane.locator('tr[data-field="text"]').waitFor({ timeout: 20_000 });
    assert.equal(await pane.locator('table.metrics').count(), 0);
    assert.equal(await pane.locator('.plot-share').count(), 0);
    assert.equal(await pane.locator('.plot-tokens').count(), 0);
    assert.equal((await pane.locator('tr[data-field="id"] td').allInnerTexts())[3], '6');
    assert.deepEqual(await w.problems(), []);
  });

  it('grouping and the profile are kept when the tab is hidden and shown again (the webview reloads, the host keeps the results)', async () => {
    const w = await openFile('hide-show.jsonl', Array.from({ length: 20 }, (_, i) => JSON.stringify(gradedRow(i))));
    // VS Code keeps a webview's setState() across hide/show while the page itself is destroyed
    // (retainContextWhenHidden is off): play that with sessionStorage, which survives a reload.
    // (A string, not a function: the test runner's transpiler would add helpers the page lacks.)
    await w.page.addInitScript({
      content: `(() => {
        let original;
        Object.defineProperty(window, 'acquireVsCodeApi', {
          configurable: true,
          set(fn) { original = fn; },
          get() {
            return () => {
              const api = original();
              return {
                postMessage: (m) => api.postMessage(m),
                getState: () => JSON.parse(sessionStorage.getItem('sdg-state') ?? 'null') ?? undefined,
                setState: (s) => sessionStorage.setItem('sdg-state', JSON.stringify(s)),
              };
            };
          },
        });
      })();`,
    });
    await w.page.reload();
    await w.page.locator('.statusbar').getByText('20 records').waitFor({ timeout: 20_000 }).catch(async (e) => {
      throw new Error(`${(e as Error).message}; problems: ${(await w.problems()).join(' | ')}; posted: ${JSON.stringify(w.posted.map((m) => m.kind))}`);
    });
    await w.page.locator('vscode-single-select.group-select').evaluate((el) => {
      (el as HTMLSelectElement).value = 'input_index';
      el.dispatchEvent(new Event('change'));
    });
    await w.page.locator('.statusbar').getByText('5 groups, 20 matching').waitFor({ timeout: 20_000 }).catch(async (e) => {
      throw new Error(`${(e as Error).message}; status: ${await w.page.locator('.statusbar').innerText()}; problems: ${(await w.problems()).join(' | ')}`);
    });
    await w.page.locator('vscode-button', { hasText: 'Profile' }).click();
    await w.page.locator('sdg-column-profile').getByText('20 records in 20 lines').waitFor({ timeout: 20_000 });
    const session = w.host as unknown as { nextQueryId: number; keptResults: Map<string, { result: Promise<unknown> }> };
    const queriesBefore = session.nextQueryId;
    const profileBefore = session.keptResults.get('profile')!.result;
    // Hidden and shown again: the page is rebuilt from scratch.
    await w.page.reload();
    await w.page.locator('.statusbar').getByText('5 groups, 20 matching').waitFor({ timeout: 20_000 }).catch(async (e) => {
      throw new Error(`${(e as Error).message}; after reload status: ${await w.page.locator('.statusbar').innerText()}; problems: ${(await w.problems()).join(' | ')}; state: ${await w.page.evaluate(() => sessionStorage.getItem('sdg-state'))}`);
    });
    await w.page.locator('[role="row"]', { hasText: '4' }).first().waitFor();
    assert.equal(await w.page.locator('vscode-single-select.group-select').evaluate((el) => (el as HTMLSelectElement).value), 'input_index');
    await w.page.locator('sdg-column-profile').getByText('20 records in 20 lines').waitFor({ timeout: 20_000 });
    // The host answered from what it kept: no new query, the same profile result.
    assert.equal(session.nextQueryId, queriesBefore);
    assert.equal(session.keptResults.get('profile')!.result, profileBefore);
    assert.deepEqual(await w.problems(), []);
  });

  it('sorts the rows by a column (the host sorts the whole view) and resizes a column by dragging its edge', async () => {
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ id: i, score: (i * 37) % 300, name: `row-${i}` }));
    const w = await openFile('sort.jsonl', lines);
    await w.page.locator('.statusbar').getByText('300 records').waitFor({ timeout: 20_000 });
    const firstLine = async (): Promise<string> => w.page.locator('.rows .row .lineno').first().innerText();
    const head = w.page.locator('.row.header .col-head[data-column="score"]');
    await head.click();
    // score 0 is line 1 (i = 0); descending: score 299 is i = 227 (line 228).
    await w.page.waitForFunction(() => document.querySelector('.row.header .col-head[data-column="score"]')?.getAttribute('aria-sort') === 'ascending');
    await w.page.locator('.rows .row', { hasText: 'row-0' }).first().waitFor({ timeout: 20_000 });
    assert.equal(await firstLine(), '1');
    await head.click();
    await w.page.locator('.rows .row').first().filter({ hasText: 'row-227' }).waitFor({ timeout: 20_000 });
    assert.equal(await firstLine(), '228');
    assert.equal(await head.getAttribute('aria-sort'), 'descending');
    // The second row is the next score down (298: i = 154).
    assert.equal(await w.page.locator('.rows .row .lineno').nth(1).innerText(), '155');
    // A filter keeps the sort: only ids below 10, sorted by score descending.
    await w.page.locator('#filter input').fill('id < 10');
    await w.page.locator('vscode-button', { hasText: 'Apply' }).click();
    await w.page.locator('.statusbar').getByText('10 matching').waitFor({ timeout: 20_000 });
    // Scores of ids 0-9: 0, 37, 74, ..., 259, 296 (i = 8), 33 (i = 9): the highest is i = 8.
    await w.page.locator('.rows .row').first().filter({ hasText: 'row-8' }).waitFor({ timeout: 20_000 });
    assert.equal(await w.page.locator('.rows .row').count(), 10);
    // Third click: back to file order.
    await head.click();
    await w.page.locator('.rows .row').first().filter({ hasText: 'row-0' }).waitFor({ timeout: 20_000 });
    assert.equal(await head.getAttribute('aria-sort'), 'none');
    // Resize: drag the name column's edge 120 px to the right.
    const nameHead = w.page.locator('.row.header .col-head[data-column="name"]');
    const before = (await nameHead.boundingBox())!;
    const handle = (await nameHead.locator('.col-resize').boundingBox())!;
    await w.page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
    await w.page.mouse.down();
    await w.page.mouse.move(handle.x + 60, handle.y + handle.height / 2, { steps: 4 });
    await w.page.mouse.move(handle.x + 120, handle.y + handle.height / 2, { steps: 4 });
    await w.page.mouse.up();
    const after = (await nameHead.boundingBox())!;
    assert.ok(Math.abs(after.width - (before.width + 120)) <= 4, `width ${before.width} -> ${after.width}`);
    // The rows follow the header's widths.
    const cell = (await w.page.locator('.rows .row').first().locator('span').nth(3).boundingBox())!;
    assert.ok(Math.abs(cell.width - after.width) <= 2, `cell ${cell.width} vs header ${after.width}`);
    assert.deepEqual(await w.problems(), []);
  });
});
