/**
 * The viewer's detail pane against values built to crash or freeze the renderer (issue 15.5):
 * deeply nested \underbrace / \overbrace / \frac, thousands of formulas, a 1 MB string in
 * Markdown mode, 50,000 combining marks in plain text. In real Chromium, through the product's
 * host side. The page must stay alive and answer (a frame and a timer fire after each value is
 * shown), with the limits visible to the user.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { bundleExists, richTextDrawn, VIEWER, WebviewTestHost, type HostedWebview } from './harness';

const CASES: Array<{ name: string; text: string }> = [
  { name: 'underbrace150', text: '$$' + '\\underbrace{'.repeat(150) + 'x' + '}_{a}'.repeat(150) + '$$' },
  { name: 'overbrace300', text: '$$' + '\\overbrace{'.repeat(300) + 'x' + '}'.repeat(300) + '$$ and inline $' + '\\overbrace{x}'.repeat(300) + '$' },
  { name: 'frac300', text: 'inline $' + '\\frac{1}{'.repeat(300) + 'x' + '}'.repeat(300) + '$ and display \\[' + '\\frac{1}{'.repeat(300) + '\\]' },
  { name: 'formulas1000', text: '$x_i^2$ '.repeat(1000) },
  { name: 'formulas25000', text: '$x_i^2$ '.repeat(25_000) },
  { name: 'megabyte', text: '# Title\n\n' + 'word *emph* `code` '.repeat(55_000) },
  { name: 'combining', text: 'e' + '\u0301'.repeat(50_000) + ' end' },
];

describe('JSONL viewer: hostile sizes in the detail pane (webview)', function () {
  let env: WebviewTestHost;
  let dir: string;
  let live: LiveJsonlFile | undefined;
  let w: HostedWebview<ViewerSession> | undefined;
  let crashed = false;

  before(async function () {
    if (!existsSync(join(REPO_ROOT, 'webview', 'viewer', 'main.ts'))) this.skip();
    if (!bundleExists('viewer')) throw new Error('dist/webview/viewer.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-big-'));
    const file = join(dir, 'hostile-sizes.jsonl');
    writeFileSync(file, CASES.map((c) => JSON.stringify({ name: c.name, text: c.text })).join('\n') + '\n');
    live = await LiveJsonlFile.open(file, { pollMs: 0 });
    w = await env.open(VIEWER, (post) => new ViewerSession(live!, 'hostile-sizes.jsonl', post));
    w.page.on('crash', () => (crashed = true));
    await w.page.locator('.statusbar').getByText(`${CASES.length} records`).waitFor({ timeout: 30_000 });
  });
  after(async () => {
    await w?.close();
    await live?.dispose();
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function show(name: string, mode: 'text' | 'markdown' | 'math'): Promise<void> {
    const page = w!.page;
    const i = CASES.findIndex((c) => c.name === name);
    await page.locator('[role="row"]', { hasText: name }).first().click();
    await page.locator('.detail-bar', { hasText: `Line ${i + 1}` }).waitFor({ timeout: 30_000 });
    await page.evaluate(`(() => {
      const sel = document.querySelector('vscode-single-select[aria-label="Render long text as"]');
      sel.value = ${JSON.stringify(mode)}; sel.dispatchEvent(new Event('change', { bubbles: true }));
    })()`);
    // Responsive: the value is drawn (the rich renderer loads on first use), then a frame is
    // drawn and a timer fires (a crashed or frozen renderer never answers; a crash also rejects this evaluate).
    await richTextDrawn(page, 60_000);
    const alive = await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(true), 0)))');
    assert.equal(alive, true);
    assert.equal(crashed, false, `renderer crashed on ${name}`);
  }

  const textField = () => w!.page.locator('section.field', { has: w!.page.locator('.field-name', { hasText: /^text/ }) });

  it('nested \\underbrace, \\overbrace and \\frac stay TeX source instead of crashing the renderer', async () => {
    for (const name of ['underbrace150', 'overbrace300', 'frac300']) {
      await show(name, 'math');
      const skipped = textField().locator('.math-skipped');
      assert.ok((await skipped.count()) >= 1, `${name}: the formula is shown as source`);
      assert.match((await skipped.first().getAttribute('title')) ?? '', /^Not typeset: (nested \d+ deep|longer than|\d+ commands)/);
      await textField().locator('.note', { hasText: /shown as source/ }).waitFor();
    }
    assert.deepEqual(await w!.problems(), []);
  });

  it('typesets the first 200 formulas of a value and shows the rest as source; 25,000 stay plain text', async () => {
    await show('formulas1000', 'math');
    assert.equal(await textField().locator('.katex').count(), 200);
    assert.equal(await textField().locator('.math-skipped').count(), 800);
    await show('formulas25000', 'math');
    assert.equal(await textField().locator('.katex').count(), 0);
    await textField().locator('.note', { hasText: '200,000 characters: shown as plain text' }).waitFor();
  });

  it('a 1 MB string in Markdown mode is plain text, shown lazily', async () => {
    await show('megabyte', 'markdown');
    // The host sends the first 200,000 characters; the pane draws 20,000 until asked for more.
    await textField().locator('.note', { hasText: 'shown as plain text' }).waitFor();
    const before = (await textField().locator('pre.plain').textContent()) ?? '';
    assert.equal(before.length, 20_001);
    await textField().locator('.show-all').click();
    await w!.page.waitForFunction(() => (document.querySelector('section.field pre.plain')?.textContent?.length ?? 0) > 100_000);
    const after = (await textField().locator('pre.plain').textContent()) ?? '';
    assert.equal(after.length, 200_000);
    await show('megabyte', 'markdown');
  });

  it('50,000 combining marks draw 16 and count the rest', async () => {
    await show('combining', 'text');
    await textField().locator('.elided', { hasText: '[49,984 more combining marks]' }).waitFor();
    const shown = (await textField().locator('pre.plain').textContent()) ?? '';
    assert.ok(shown.startsWith('e' + '\u0301'.repeat(16) + '['), 'the first marks are kept');
    assert.ok(shown.endsWith(' end'));
    // Markdown mode shortens them the same way.
    await show('combining', 'markdown');
    await textField().getByText(/49,984 more combining marks/).waitFor();
    assert.deepEqual(await w!.problems(), []);
  });
});
