/**
 * Hosts a built webview bundle (dist/webview/<name>.js) in a test page in headless Chromium, the
 * way VS Code hosts it: a stand-in `acquireVsCodeApi` whose postMessage goes to a host-side
 * MessageChannel (the product's src/protocol/ipc.ts) running in this Node process, messages in via
 * window.postMessage, a strict CSP with a nonce, and theme CSS variables. Records console errors,
 * page errors and CSP violations so tests can assert there are none.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, normalize } from 'node:path';
import type { Page } from 'playwright-core';
import { MessageChannel, type NotificationMap, type RequestMap, type WireMessage } from '../../src/protocol/ipc';
import { launchBrowser, type Browser } from '../../scripts/real-parts/browser';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { webviewHtml } from '../../src/extension/studio/html';
import { viewerHtml } from '../../src/extension/viewer/html';

/**
 * Which bundle, and the extension's own HTML shell for it (each webview has a pure builder:
 * src/extension/studio/html.ts, src/extension/viewer/html.ts).
 */
export interface WebviewSpec {
  name: string;
  /** The shell as the extension renders it, given the resource origin (cspSource) and a nonce. */
  html(o: { origin: string; nonce: string; scriptUri: string; assetUri(file: string): string }): string;
}

export const STUDIO: WebviewSpec = {
  name: 'studio',
  html: ({ origin, nonce, scriptUri }) => webviewHtml({ cspSource: origin, nonce, scriptUri, title: 'SDG Studio (test host)', rootElement: 'sdg-studio' }),
};

export const VIEWER: WebviewSpec = {
  name: 'viewer',
  html: ({ origin, nonce, scriptUri, assetUri }) => viewerHtml({ cspSource: origin, nonce, scriptUri, styleUri: assetUri('viewer.css'), title: 'JSONL Viewer (test host)' }),
};

/** What plays the extension host: anything fed with the webview's messages. */
export interface HostSide {
  receive(data: unknown): unknown;
  dispose?(): void;
}

export const WEBVIEW_DIST = join(REPO_ROOT, 'dist', 'webview');

export function bundleExists(name: string): boolean {
  return existsSync(join(WEBVIEW_DIST, `${name}.js`));
}

/** A dark theme's worth of the variables VS Code sets on a webview's <html>. */
const THEME_VARS: Record<string, string> = {
  '--vscode-font-family': 'system-ui, sans-serif',
  '--vscode-font-size': '13px',
  '--vscode-font-weight': 'normal',
  '--vscode-editor-font-family': 'monospace',
  '--vscode-editor-font-size': '13px',
  '--vscode-foreground': '#cccccc',
  '--vscode-descriptionForeground': '#9d9d9d',
  '--vscode-errorForeground': '#f85149',
  '--vscode-editor-background': '#1f1f1f',
  '--vscode-editor-foreground': '#cccccc',
  '--vscode-sideBar-background': '#181818',
  '--vscode-panel-border': '#2b2b2b',
  '--vscode-widget-border': '#313131',
  '--vscode-focusBorder': '#0078d4',
  '--vscode-button-background': '#0078d4',
  '--vscode-button-foreground': '#ffffff',
  '--vscode-button-hoverBackground': '#026ec1',
  '--vscode-button-secondaryBackground': '#313131',
  '--vscode-button-secondaryForeground': '#cccccc',
  '--vscode-input-background': '#313131',
  '--vscode-input-foreground': '#cccccc',
  '--vscode-input-border': '#3c3c3c',
  '--vscode-input-placeholderForeground': '#989898',
  '--vscode-dropdown-background': '#313131',
  '--vscode-dropdown-foreground': '#cccccc',
  '--vscode-dropdown-border': '#3c3c3c',
  '--vscode-list-hoverBackground': '#2a2d2e',
  '--vscode-list-activeSelectionBackground': '#04395e',
  '--vscode-textLink-foreground': '#4daafc',
  '--vscode-badge-background': '#616161',
  '--vscode-badge-foreground': '#f8f8f8',
  '--vscode-progressBar-background': '#0078d4',
  '--vscode-testing-iconPassed': '#73c991',
  '--vscode-testing-iconFailed': '#f14c4c',
  '--vscode-charts-green': '#89d185',
  '--vscode-charts-red': '#f14c4c',
  '--vscode-charts-blue': '#3794ff',
  '--vscode-charts-yellow': '#cca700',
  '--vscode-textCodeBlock-background': '#2b2b2b',
  '--vscode-editorWidget-background': '#202020',
  '--vscode-tab-activeBackground': '#1f1f1f',
  '--vscode-panelTitle-activeForeground': '#e7e7e7',
  '--vscode-panelTitle-activeBorder': '#0078d4',
  '--vscode-scrollbarSlider-background': '#79797966',
};

/**
 * The page is the extension's own webview HTML (its CSP, nonce, root element, module script) with two things VS Code adds around it: the theme (CSS variables and
 * a body class, set through the CSSOM as VS Code does, so the CSP allows it) and
 * `acquireVsCodeApi`, here a stand-in that hands posted messages to this Node process.
 */
function testPage(view: WebviewSpec, nonce: string, origin: string): string {
  const html = view.html({
    origin,
    nonce,
    scriptUri: `${origin}/webview/${view.name}.js`,
    assetUri: (file) => `${origin}/webview/${file}`,
  });
  const standIn = `<script nonce="${nonce}">
  window.__sdgCsp = [];
  document.addEventListener('securitypolicyviolation', (e) => window.__sdgCsp.push(e.violatedDirective + ' ' + e.blockedURI));
  for (const [k, v] of Object.entries(${JSON.stringify(THEME_VARS)})) document.documentElement.style.setProperty(k, v);
  // VS Code's default webview styles; a constructable sheet, which style-src does not govern.
  const defaults = new CSSStyleSheet();
  defaults.replaceSync('body { margin: 0; padding: 0 20px; background: var(--vscode-editor-background); color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }');
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, defaults];
  document.addEventListener('DOMContentLoaded', () => {
    document.body.classList.add('vscode-dark');
    document.body.dataset.vscodeThemeKind = 'vscode-dark';
  });
  (() => {
    let acquired = false;
    let state;
    window.acquireVsCodeApi = () => {
      // VS Code allows one call per page; a second throws there too.
      if (acquired) throw new Error('acquireVsCodeApi can only be invoked once');
      acquired = true;
      return Object.freeze({
        postMessage: (msg) => window.__sdgHostReceive(JSON.parse(JSON.stringify(msg))),
        getState: () => state,
        setState: (s) => { state = s; return s; },
      });
    };
  })();
</script>
`;
  const at = html.indexOf('<script type="module"');
  if (at < 0) throw new Error('webviewHtml() no longer emits a module script tag; update the test host');
  return html.slice(0, at) + standIn + html.slice(at);
}

async function serveStatic(): Promise<{ server: Server; origin: string; pages: Map<string, string> }> {
  const pages = new Map<string, string>();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const page = pages.get(url.pathname);
    // Chromium asks every page for one; VS Code's webview frames never show one.
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (page) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page);
      return;
    }
    // Bundles, fonts and the chunks a view imports on demand (dist/webview/chunks/).
    const m = /^\/webview\/((?:chunks\/)?[\w.-]+\.(?:js|map|css|ttf|woff2?))$/.exec(url.pathname);
    const file = m ? normalize(join(WEBVIEW_DIST, m[1])) : undefined;
    if (!file || !file.startsWith(WEBVIEW_DIST) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.css') ? 'text/css' : 'application/octet-stream';
    res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  return { server, origin: `http://127.0.0.1:${addr.port}`, pages };
}

export interface HostedWebview<H extends HostSide> {
  page: Page;
  /** The host side: the product's channel or session, fed with what the webview posts. */
  host: H;
  /** Every message the webview posted, in order. */
  posted: WireMessage[];
  /** Console errors, uncaught page errors, failed loads and CSP violations seen so far. */
  problems(): Promise<string[]>;
  /** Resolves when the webview has said `ready`. */
  ready: Promise<void>;
  close(): Promise<void>;
}

/** A host played by a plain MessageChannel of src/protocol/ipc.ts; `setup` adds its handlers. */
export function channelHost<InReq extends RequestMap, OutReq extends RequestMap, InNote extends NotificationMap, OutNote extends NotificationMap>(
  setup: (host: MessageChannel<InReq, OutReq, InNote, OutNote>) => void,
): (post: (m: WireMessage) => void) => MessageChannel<InReq, OutReq, InNote, OutNote> {
  return (post) => {
    const host = new MessageChannel<InReq, OutReq, InNote, OutNote>(post, { waitForReady: true });
    setup(host);
    return host;
  };
}

export class WebviewTestHost {
  private constructor(
    private readonly browser: Browser,
    private readonly server: Server,
    private readonly origin: string,
    private readonly pages: Map<string, string>,
  ) {}

  static async start(): Promise<WebviewTestHost> {
    const { server, origin, pages } = await serveStatic();
    try {
      return new WebviewTestHost(await launchBrowser({ width: 1280, height: 860 }), server, origin, pages);
    } catch (e) {
      server.close();
      throw e;
    }
  }

  /**
   * Opens dist/webview/<view.name>.js with a host made by `makeHost` (given the function that
   * posts into the page). The host exists before the page loads, so it answers start-up requests.
   */
  async open<H extends HostSide>(view: WebviewSpec, makeHost: (post: (m: WireMessage) => void) => H): Promise<HostedWebview<H>> {
    const nonce = randomBytes(16).toString('hex');
    const path = `/${view.name}-${randomBytes(4).toString('hex')}.html`;
    this.pages.set(path, testPage(view, nonce, this.origin));
    const page = await this.browser.context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console.error: ${m.text()}${m.location().url ? ` (${m.location().url})` : ''}`);
    });
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.url()}`);
    });
    const posted: WireMessage[] = [];
    // The host posts into the page like VS Code does: a window 'message' event.
    const host = makeHost((msg) => void page.evaluate((m) => window.postMessage(m, '*'), msg as unknown as Record<string, unknown>).catch(() => undefined));
    let markReady!: () => void;
    const ready = new Promise<void>((r) => (markReady = r));
    await page.exposeFunction('__sdgHostReceive', (msg: WireMessage) => {
      posted.push(msg);
      if (msg?.kind === 'ready') markReady();
      void host.receive(msg);
    });
    await page.goto(this.origin + path);
    return {
      page,
      host,
      posted,
      ready,
      problems: async () => {
        const csp = (await page.evaluate(() => (window as unknown as { __sdgCsp: string[] }).__sdgCsp).catch(() => [])) ?? [];
        return [...errors, ...csp.map((c) => `CSP violation: ${c}`)];
      },
      close: async () => {
        host.dispose?.();
        this.pages.delete(path);
        await page.close().catch(() => undefined);
      },
    };
  }

  async close(): Promise<void> {
    await this.browser.close();
    await new Promise((r) => this.server.close(r));
  }
}

/** Waits for `ready` with a clear failure that lists what the page reported. */
export async function waitReady(w: HostedWebview<HostSide>, ms = 20_000): Promise<void> {
  const t = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
  if ((await Promise.race([w.ready, t])) === 'timeout') {
    throw new Error(`the webview never sent "ready" within ${ms} ms; problems: ${(await w.problems()).join(' | ') || 'none'}`);
  }
}

/**
 * Waits until every long text in the viewer is drawn in its mode: the Markdown/LaTeX renderer is
 * a chunk fetched on first use, so a rich rendering may come a moment after the mode changes
 * (`sdg-long-text[data-rich="pending"]` until then).
 */
export async function richTextDrawn(page: Page, ms = 20_000): Promise<void> {
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(() => r(true), 0)))');
  // Polled with evaluate (CDP, not subject to the page's CSP; waitForFunction evaluates strings in the page).
  const until = Date.now() + ms;
  while (await page.evaluate('!!document.querySelector(\'sdg-long-text[data-rich="pending"]\')')) {
    if (Date.now() > until) throw new Error(`a long text was still waiting for the rich renderer after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
