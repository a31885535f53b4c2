/**
 * The viewer webview's HTML shell (no `vscode` import, so test pages can build the same shell).
 * Strict CSP: scripts only with the nonce, styles and fonts only from the extension's own
 * resources (Lit's constructable stylesheets are not subject to style-src), no inline styles.
 */
import { randomBytes } from 'node:crypto';

export interface ViewerHtmlOptions {
  scriptUri: string;
  styleUri: string;
  cspSource: string;
  nonce?: string;
  title?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

function attr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function viewerHtml(o: ViewerHtmlOptions): string {
  const nonce = o.nonce ?? makeNonce();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${o.cspSource}`,
    `font-src ${o.cspSource}`,
    `img-src ${o.cspSource} data:`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${attr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${attr(o.title ?? 'JSONL Viewer')}</title>
<link rel="stylesheet" href="${attr(o.styleUri)}">
</head>
<body>
<sdg-jsonl-viewer></sdg-jsonl-viewer>
<script type="module" nonce="${nonce}" src="${attr(o.scriptUri)}"></script>
</body>
</html>`;
}
