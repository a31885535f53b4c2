/**
 * The viewer webview's HTML shell: the shared strict-CSP shell (src/extension/studio/html.ts)
 * with the viewer's bundle, stylesheet (which carries KaTeX's CSS; its fonts load through
 * font-src) and root element. No `vscode` import, so test pages can build the same shell.
 */
import { makeNonce, webviewHtml } from '../studio/html';

export { makeNonce };

export interface ViewerHtmlOptions {
  scriptUri: string;
  styleUri: string;
  cspSource: string;
  nonce?: string;
  title?: string;
}

export function viewerHtml(o: ViewerHtmlOptions): string {
  return webviewHtml({
    cspSource: o.cspSource,
    nonce: o.nonce ?? makeNonce(),
    scriptUri: o.scriptUri,
    styleUris: [o.styleUri],
    title: o.title ?? 'JSONL Viewer',
    rootElement: 'sdg-jsonl-viewer',
  });
}
