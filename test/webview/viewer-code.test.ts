/**
 * The viewer's detail pane on code-mode solutions (webview/viewer/logic/codeBlocks.ts, longText.ts):
 * `<llm-code>` blocks as code, `<llm-code-output>` blocks as output, failed executions marked, in
 * every render mode. Headless Chromium under the extension's strict CSP, against the product's
 * host side (ViewerSession over a real file).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { bundleExists, richTextDrawn, VIEWER, WebviewTestHost, type HostedWebview } from './harness';

const HOSTILE = `<img src=x onerror="window.__pwned='code'"><script>window.__pwned='script'</script>`;
const GENERATION = 'First compute $6 \\cdot 7$ with **Python**.\n' +
  `<llm-code>\nx = 6 * 7\nprint(x)  # ${HOSTILE}\n</llm-code>\n<llm-code-output>\n42\n</llm-code-output>\n` +
  'Then divide by zero.\n' +
  '<llm-code>\nprint(x / 0)\n</llm-code>\n<llm-code-output>\nTraceback (most recent call last):\n  File "<string>", line 1, in <module>\nZeroDivisionError: division by zero\n</llm-code-output>\n' +
  'So the answer is $\\boxed{42}$.';

describe('JSONL viewer: code blocks of code-mode solutions (webview)', function () {
  let env: WebviewTestHost;
  let dir: string;
  let live: LiveJsonlFile | undefined;
  let w: HostedWebview<ViewerSession> | undefined;

  before(async function () {
    if (!bundleExists('viewer')) throw new Error('dist/webview/viewer.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
    dir = mkdtempSync(join(tmpdir(), 'sdg-viewer-code-'));
    const file = join(dir, 'code.jsonl');
    const rows = [
      { name: 'solution', generation: GENERATION, code_executions: 2, code_execution_failed: true, code_execution_timed_out: false },
      { name: 'huge', generation: `<llm-code>\nprint(1)\n</llm-code>\n${'word '.repeat(12_000)}` },
    ];
    writeFileSync(file, rows.map((r) => JSON.stringify(r) + '\n').join(''));
    live = await LiveJsonlFile.open(file, { pollMs: 0 });
    w = await env.open(VIEWER, (post) => new ViewerSession(live!, 'code.jsonl', post));
    await w.page.locator('.statusbar').getByText('2 records').waitFor({ timeout: 30_000 });
  });
  after(async () => {
    await w?.close();
    await live?.dispose();
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function show(name: string, line: number, mode: 'text' | 'markdown' | 'math'): Promise<void> {
    const page = w!.page;
    await page.locator('[role="row"]', { hasText: name }).first().click();
    await page.locator('.detail-bar', { hasText: `Line ${line}` }).waitFor({ timeout: 30_000 });
    await page.evaluate(`(() => {
      const sel = document.querySelector('vscode-single-select[aria-label="Render long text as"]');
      sel.value = ${JSON.stringify(mode)}; sel.dispatchEvent(new Event('change', { bubbles: true }));
    })()`);
    await richTextDrawn(page);
  }
  const field = (name: string) => w!.page.locator('section.field', { has: w!.page.locator('.field-name', { hasText: new RegExp(`^${name}`) }) });

  for (const mode of ['text', 'markdown', 'math'] as const) {
    it(`mode ${mode}: two code blocks, one good and one failed output, tags not shown, hostile code stays text`, async () => {
      await show('solution', 1, mode);
      const gen = field('generation');
      const codeBlocks = gen.locator('pre.code-block');
      await codeBlocks.first().waitFor({ timeout: 20_000 });
      assert.equal(await codeBlocks.count(), 2);
      assert.equal(await codeBlocks.nth(0).innerText(), `x = 6 * 7\nprint(x)  # ${HOSTILE}`);
      assert.equal(await codeBlocks.nth(1).innerText(), 'print(x / 0)');
      assert.equal(await gen.locator('.code-label', { hasText: /^python$/ }).count(), 2);
      // Monospace, from the theme's editor font.
      const font = await codeBlocks.first().evaluate((el) => getComputedStyle(el).fontFamily);
      const editorFont = await w!.page.evaluate('getComputedStyle(document.documentElement).getPropertyValue("--vscode-editor-font-family")');
      assert.ok(font.length > 0 && (editorFont === '' || font.replace(/\s/g, '') === String(editorFont).replace(/\s/g, '')), `font ${font} vs ${editorFont}`);
      const outputs = gen.locator('pre.code-output');
      assert.equal(await outputs.count(), 2);
      assert.equal(await outputs.nth(0).innerText(), '42');
      assert.equal(await outputs.nth(0).evaluate((el) => el.classList.contains('failed')), false);
      assert.equal(await outputs.nth(1).evaluate((el) => el.classList.contains('failed')), true);
      assert.match(await outputs.nth(1).innerText(), /^Traceback \(most recent call last\):[\s\S]*ZeroDivisionError: division by zero$/);
      assert.match((await outputs.nth(1).getAttribute('aria-label')) ?? '', /failed execution/);
      assert.equal(await w!.page.getByLabel(/Output 2: failed execution/).count(), 1);
      const badges = gen.locator('vscode-badge', { hasText: 'error' });
      assert.equal(await badges.count(), 1);
      assert.equal(await badges.first().isVisible(), true);
      // Tags are not shown raw; prose is still there (rendered in the chosen mode).
      const shown = await gen.locator('sdg-long-text').innerText();
      assert.doesNotMatch(shown, /llm-code/);
      assert.match(shown, /Then divide by zero\./);
      if (mode === 'math') assert.ok((await gen.locator('.katex').count()) >= 2, 'formulas in the prose are typeset');
      if (mode === 'markdown') assert.equal(await gen.locator('.markdown strong', { hasText: 'Python' }).count(), 1);
      if (mode === 'text') assert.match(shown, /\*\*Python\*\*/);
      // The hostile payload inside the code block is text: no element was made from it.
      assert.equal(await w!.page.locator('sdg-long-text img, sdg-long-text script').count(), 0);
      assert.equal(await w!.page.evaluate('window.__pwned === undefined'), true);
      // The raw JSON stays as it is.
      assert.equal(await w!.page.locator('details.raw pre.code-block').count(), 0);
      if (mode === 'math') {
        const shots = join(REPO_ROOT, '.test-artifacts', 'webview');
        mkdirSync(shots, { recursive: true });
        await w!.page.screenshot({ path: join(shots, 'viewer-code.png') });
      }
      assert.deepEqual(await w!.problems(), []);
    });
  }

  it('a value above the rich-text limit stays plain text, tags and all', async () => {
    await show('huge', 2, 'markdown');
    const gen = field('generation');
    await gen.locator('.note', { hasText: 'shown as plain text' }).waitFor({ timeout: 20_000 });
    assert.equal(await gen.locator('pre.code-block').count(), 0);
    assert.match(await gen.locator('pre.plain').first().innerText(), /^<llm-code>\nprint\(1\)\n<\/llm-code>/);
    assert.deepEqual(await w!.problems(), []);
  });
});
