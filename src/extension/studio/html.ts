/**
 * The HTML shell of a webview with a strict Content Security Policy: scripts only with a
 * per-load nonce, styles only from the extension (plus Lit's constructable stylesheets), no
 * 'unsafe-inline', no 'unsafe-eval', no network. Pure (no `vscode`): unit-tested.
 */
import { randomBytes } from 'node:crypto';

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

export interface WebviewHtmlOptions {
  /** `webview.cspSource`. */
  cspSource: string;
  nonce: string;
  /** `webview.asWebviewUri(...)` of the bundle (an ES module). */
  scriptUri: string;
  /** Stylesheets from the extension (e.g. codicons). */
  styleUris?: string[];
  title: string;
  /** The root custom element, e.g. `sdg-studio`. */
  rootElement: string;
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
    "connect-src 'none'",
    "frame-src 'none'",
    "worker-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
  ].join('; ');
}

export function webviewHtml(o: WebviewHtmlOptions): string {
  if (!/^[A-Za-z0-9]+$/.test(o.nonce)) throw new Error('nonce must be alphanumeric');
  if (!/^[a-z][a-z0-9-]*-[a-z0-9-]+$/.test(o.rootElement)) throw new Error(`not a custom element name: ${o.rootElement}`);
  const styles = (o.styleUris ?? []).map((u, i) => `<link rel="stylesheet" nonce="${o.nonce}" href="${escapeAttr(u)}"${i === 0 ? ' id="vscode-codicon-stylesheet"' : ''}>`).join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeAttr(contentSecurityPolicy(o.cspSource, o.nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    ${styles}
    <title>${escapeAttr(o.title)}</title>
  </head>
  <body>
    <${o.rootElement}></${o.rootElement}>
    <script type="module" nonce="${o.nonce}" src="${escapeAttr(o.scriptUri)}"></script>
  </body>
</html>`;
}
