/**
 * Hostile records in the JSONL viewer (headless Chromium, the extension's HTML and CSP, the
 * product's ViewerSession on a real file): HTML, script tags, event handlers, javascript: links,
 * Markdown images and KaTeX \href in field values and field names. In the table and in the detail
 * pane under every render mode (plain text, Markdown, Markdown + LaTeX) nothing may execute, no
 * active element may appear in the DOM (checked through every shadow root, so the result does not
 * rest on the CSP alone), and the payloads must still be readable as text.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveJsonlFile } from '../../src/core/viewer/liveFile';
import { ViewerSession } from '../../src/extension/viewer/session';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { describeSection, record } from '../reliability/report';
import { bundleExists, richTextDrawn, VIEWER, WebviewTestHost, type HostedWebview } from './harness';

const PAYLOADS = [
  `<img src=x onerror="window.__pwned='img'">`,
  `<script>window.__pwned='script'</script>`,
  `[click me](javascript:window.__pwned='link')`,
  `![pic](x" onerror="window.__pwned='mdimg')`,
  `<svg onload="window.__pwned='svg'"><circle r=1></circle></svg>`,
  `<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>`,
  `$\\href{javascript:window.__pwned='katex'}{x}$ and $\\url{javascript:alert(1)}$ and $$\\htmlData{x=y}{z}$$`,
  `<a href="javascript:window.__pwned='a'">a</a><form action="javascript:1"><button>b</button></form>`,
  `<style>body{display:none}</style><link rel=stylesheet href="http://127.0.0.1:1/x.css">`,
];

/** Every element under the document, through open shadow roots, that could run or load something. */
const FIND_ACTIVE = `(() => {
  const bad = [];
  const known = new Set([...document.querySelectorAll('script')]);
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      const tag = el.tagName.toLowerCase();
      if (tag === 'script' && !known.has(el)) bad.push('script');
      // Elements a payload could create (the UI's own icons and KaTeX output carry none of the payloads' markers).
      if (['img', 'iframe', 'svg', 'object', 'embed', 'form', 'style', 'link', 'a', 'button'].includes(tag) && /pwned|x\.css|<circle|src="x"|javascript:|display:none/.test(el.outerHTML)) {
        bad.push(tag + ' ' + el.outerHTML.slice(0, 80));
      }
      for (const a of el.attributes) {
        if (/^on/i.test(a.name)) bad.push(tag + ' @' + a.name);
        if (/^\\s*javascript:/i.test(a.value) && a.name !== 'title') bad.push(tag + ' ' + a.name + '=' + a.value.slice(0, 40));
      }
      if (el.shadowRoot) walk(el.shadowRoot);
    }
  };
  walk(document);
  return bad;
})()`;

describe('webview security: hostile records in the JSONL viewer (webview)', function () {
  let env: WebviewTestHost;
  let dir: string;
  let w: HostedWebview<ViewerSession> | undefined;
  let live: LiveJsonlFile | undefined;

  before(async function () {
    if (!existsSync(join(REPO_ROOT, 'webview', 'viewer', 'main.ts'))) this.skip();
    if (!bundleExists('viewer')) throw new Error('dist/webview/viewer.js is missing: run `npm run build` first');
    env = await WebviewTestHost.start();
    dir = mkdtempSync(join(tmpdir(), 'sdg-xss-'));
  });
  after(async () => {
    await w?.close();
    await live?.dispose();
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('table and detail pane (text, Markdown, LaTeX) show the payloads as text and run nothing', async () => {
    const rows = PAYLOADS.map((p, i) => ({ id: i, problem: `row ${i} ${p}`, generation: `Solution: ${p}\n\n${p}`, [`<b onmouseover=x>key${i}</b>`]: p }));
    const file = join(dir, 'hostile.jsonl');
    writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n' + `<img src=x onerror="window.__pwned='raw'">\n`);
    live = await LiveJsonlFile.open(file, { pollMs: 200 });
    w = await env.open(VIEWER, (post) => new ViewerSession(live!, 'hostile.jsonl', post));
    const page = w.page;
    await page.locator('.statusbar').getByText(`${PAYLOADS.length} records`).waitFor({ timeout: 30_000 });
    await page.locator('[role="row"]', { hasText: 'row 0 <img src=x onerror' }).first().waitFor({ timeout: 20_000 });

    const checked: string[] = [];
    let activeFound = 0;
    for (let i = 0; i < PAYLOADS.length; i++) {
      await page.locator('[role="row"]', { hasText: `row ${i} ` }).first().click();
      await page.locator('.detail-bar', { hasText: `Line ${i + 1}` }).waitFor({ timeout: 20_000 });
      for (const mode of ['text', 'markdown', 'math']) {
        await page.evaluate(`(() => {
          const find = (root) => { const s = root.querySelector('vscode-single-select[aria-label="Render long text as"]'); if (s) return s;
            for (const el of root.querySelectorAll('*')) if (el.shadowRoot) { const r = find(el.shadowRoot); if (r) return r; } return null; };
          const sel = find(document); sel.value = ${JSON.stringify(mode)}; sel.dispatchEvent(new Event('change', { bubbles: true }));
        })()`);
        await richTextDrawn(page);
        await page.waitForTimeout(150);
        const active = (await page.evaluate(FIND_ACTIVE)) as string[];
        activeFound += active.length;
        assert.deepEqual(active, [], `payload ${i} in ${mode} mode`);
        checked.push(`${i}:${mode}`);
      }
    }
    // The malformed last line is shown (as text) and marked.
    await page.locator('.statusbar').getByText(/1 malformed/).waitFor({ timeout: 20_000 });
    // Readable as text.
    assert.ok(await page.locator('[role="row"]', { hasText: `row 1 <script>window.__pwned='script'</script>` }).count() >= 1);
    const pwned = await page.evaluate('window.__pwned ?? parent.__pwned');
    const problems = (await w.problems()).filter((p) => !/favicon/.test(p));
    assert.equal(pwned, undefined);
    assert.deepEqual(problems, []);
    assert.equal(checked.length, PAYLOADS.length * 3);
    describeSection('Hostile records in the JSONL viewer (Chromium)', 'A JSONL file whose values and field names carry HTML, ' +
      '<script>, event handlers, javascript: links, Markdown images, KaTeX \\href/\\url/\\htmlData and stylesheet links, plus a ' +
      'malformed line, opened in the real viewer bundle under the extension\'s CSP; each row is opened in the detail pane in ' +
      'all three render modes and the DOM (all shadow roots) is searched for anything active.');
    record('Hostile records in the JSONL viewer (Chromium)', 'payloads x render modes checked', `${PAYLOADS.length} x 3 = ${checked.length}`);
    record('Hostile records in the JSONL viewer (Chromium)', 'active elements / handlers found, scripts run, CSP violations', `${activeFound} / ${pwned === undefined ? 0 : 1} / ${problems.length}`);
    // The detector itself finds an injected element (so an empty result above means something).
    await page.evaluate(`document.body.insertAdjacentHTML('beforeend', '<img src="x" data-probe>')`);
    assert.equal(((await page.evaluate(FIND_ACTIVE)) as string[]).length, 1);
  });
});
