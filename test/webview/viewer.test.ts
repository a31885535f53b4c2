/**
 * The JSONL viewer bundle (dist/webview/viewer.js) in headless Chromium under the extension's
 * HTML and CSP, talking to the product's own host side: a ViewerSession over a LiveJsonlFile on a
 * real file (src/extension/viewer/session.ts: no `vscode`). Only VS Code itself is left out.
 */
import { strict as assert } from 'node:assert';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { bundleExists, VIEWER, WebviewTestHost, type HostedWebview } from './harness';

/** Rows shaped like `sdg generate` + `sdg grade` output. */
function labelRow(i: number): Record<string, unknown> {
  const correct = i % 3 !== 0;
  return {
    input_index: Math.floor(i / 4),
    seed: i % 4,
    problem: `Problem ${Math.floor(i / 4)}: a train leaves at ${i} o'clock; when does it arrive?`,
    generation: `Step 1: add the hours. The answer is $\\frac{${i}}{2}$.\nAnswer: ${correct ? i : i + 1}`,
    expected_answer: String(i),
    is_correct: correct,
    finish_reason: 'stop',
  };
}

describe('JSONL viewer webview in Chromium (webview)', function () {
  let env: WebviewTestHost;
  let dir: string;
  const opened: Array<{ w: HostedWebview<ViewerSession>; live: LiveJsonlFile }> = [];

  before(async function () {
    if (!existsSync(join(REPO_ROOT, 'webview', 'viewer', 'main.ts'))) this.skip(); // not in this build
    if (!bundleExists('viewer')) throw new Error('dist/webview/viewer.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-web-'));
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

  const status = (w: HostedWebview<ViewerSession>) => w.page.locator('.statusbar');

  it('shows the file: rows, columns, counts and graded share, with no CSP violation or error', async () => {
    const w = await openFile('labels.jsonl', Array.from({ length: 40 }, (_, i) => JSON.stringify(labelRow(i))));
    await status(w).getByText('40 records').waitFor({ timeout: 20_000 });
    assert.equal(w.posted[0]?.kind, 'ready');
    await status(w).getByText('labels.jsonl').waitFor();
    // 26 of 40 rows are correct (i % 3 != 0).
    await status(w).getByText('correct 65.0% (26/40)').waitFor();
    await w.page.locator('[role="row"]', { hasText: 'Problem 0: a train leaves at 0' }).first().waitFor();
    // The first page came with the host's first `file` message: the webview did not ask for it.
    const firstPageAsked = w.posted.filter((m) => {
      const r = m as { kind?: string; method?: string; params?: { view?: { kind?: string }; start?: number } };
      return r.kind === 'request' && r.method === 'rows' && r.params?.view?.kind === 'all' && r.params.start === 0;
    });
    assert.deepEqual(firstPageAsked, [], 'a rows request for the first page');
    const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
    mkdirSync(shots, { recursive: true });
    await w.page.screenshot({ path: join(shots, 'viewer-rows.png') });
    assert.deepEqual(await w.problems(), []);
  });

  it('filters with an expression: the host runs it over the file and the rows follow', async () => {
    const w = await openFile('filter.jsonl', Array.from({ length: 40 }, (_, i) => JSON.stringify(labelRow(i))));
    await status(w).getByText('40 records').waitFor({ timeout: 20_000 });
    await w.page.locator('#filter input').fill('is_correct == false && seed < 2');
    await w.page.locator('vscode-button', { hasText: 'Apply' }).click();
    // i % 3 == 0 and i % 4 < 2 for i < 40: 0, 9, 12, 21, 24, 33, 36 -> 7 rows.
    await status(w).getByText('7 matching').waitFor({ timeout: 20_000 });
    await w.page.locator('[role="row"]', { hasText: 'leaves at 33 o' }).first().waitFor();
    assert.equal(await w.page.locator('[role="row"]', { hasText: 'leaves at 1 o' }).count(), 0);
  });

  it('a bad filter is reported where it is wrong, and nothing crashes', async () => {
    const w = await openFile('bad-filter.jsonl', Array.from({ length: 5 }, (_, i) => JSON.stringify(labelRow(i))));
    await status(w).getByText('5 records').waitFor({ timeout: 20_000 });
    await w.page.locator('#filter input').fill('seed <');
    await w.page.locator('vscode-button', { hasText: 'Apply' }).click();
    await w.page.locator('.query-error', { hasText: 'Filter' }).waitFor({ timeout: 20_000 });
    assert.deepEqual(await w.problems(), []);
  });

  it('clicking a row shows the whole record', async () => {
    const w = await openFile('detail.jsonl', Array.from({ length: 8 }, (_, i) => JSON.stringify(labelRow(i))));
    await status(w).getByText('8 records').waitFor({ timeout: 20_000 });
    await w.page.locator('[role="row"]', { hasText: 'leaves at 5 o' }).first().click();
    await w.page.getByText('Step 1: add the hours.').first().waitFor({ timeout: 20_000 });
  });

  it('counts malformed lines and names them', async () => {
    const lines = [JSON.stringify(labelRow(0)), '{"seed": 1, "generation": "cut off', JSON.stringify(labelRow(2))];
    const w = await openFile('malformed.jsonl', lines);
    await status(w).getByText('1 malformed (lines 2)').waitFor({ timeout: 20_000 });
    await status(w).getByText('2 records').waitFor();
  });

  it('follows a growing file (a run appending rows)', async () => {
    const w = await openFile('growing.jsonl', Array.from({ length: 3 }, (_, i) => JSON.stringify(labelRow(i))));
    await status(w).getByText('3 records').waitFor({ timeout: 20_000 });
    appendFileSync(join(dir, 'growing.jsonl'), Array.from({ length: 5 }, (_, i) => JSON.stringify(labelRow(3 + i)) + '\n').join(''));
    await status(w).getByText('8 records').waitFor({ timeout: 20_000 });
  });
});
