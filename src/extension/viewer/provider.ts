/**
 * The `sdg.jsonlViewer` custom editor: one LiveJsonlFile per opened document (shared by every
 * panel showing it), one ViewerSession per panel.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { LiveJsonlFile } from '../../core/viewer/liveFile';
import { ViewerSession } from './session';
import { viewerHtml } from './html';

export const VIEW_TYPE = 'sdg.jsonlViewer';

class JsonlDocument implements vscode.CustomDocument {
  readonly live: Promise<LiveJsonlFile>;
  constructor(readonly uri: vscode.Uri, log: vscode.LogOutputChannel) {
    if (uri.scheme !== 'file') {
      this.live = Promise.reject(new Error(`The JSONL viewer reads files on disk; ${uri.scheme}: documents are not supported.`));
    } else {
      const started = Date.now();
      this.live = LiveJsonlFile.open(uri.fsPath);
      this.live.then(
        (l) => {
          log.info(`JSONL viewer: opened ${uri.fsPath} (${l.file.index.fileSize} bytes) in ${Date.now() - started} ms`);
          void l.ready.then(() => log.info(`JSONL viewer: indexed and analyzed ${uri.fsPath}: ${l.file.lineCount} lines in ${Date.now() - started} ms`));
        },
        (e: Error) => log.error(`JSONL viewer: cannot open ${uri.fsPath}: ${e.message}`),
      );
    }
    this.live.catch(() => undefined);
  }
  dispose(): void {
    this.live.then((l) => l.dispose()).catch(() => undefined);
  }
}

export class JsonlViewerProvider implements vscode.CustomReadonlyEditorProvider<JsonlDocument> {
  constructor(private readonly context: vscode.ExtensionContext, private readonly log: vscode.LogOutputChannel) {}

  openCustomDocument(uri: vscode.Uri): JsonlDocument {
    return new JsonlDocument(uri, this.log);
  }

  async resolveCustomEditor(document: JsonlDocument, panel: vscode.WebviewPanel): Promise<void> {
    const ext = this.context.extensionUri;
    const webview = panel.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [vscode.Uri.joinPath(ext, 'dist'), vscode.Uri.joinPath(ext, 'media')],
    };
    webview.html = viewerHtml({
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(ext, 'dist', 'webview', 'viewer.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(ext, 'dist', 'webview', 'viewer.css')).toString(),
      cspSource: webview.cspSource,
      title: basename(document.uri.fsPath),
    });
    // Messages may arrive before the file is open: hold them until the session exists.
    const early: unknown[] = [];
    let session: ViewerSession | undefined;
    let fatal: string | undefined;
    const sendFatal = (): void => void webview.postMessage({ kind: 'notify', method: 'fatal', params: { message: fatal } });
    const sub = webview.onDidReceiveMessage((m: unknown) => {
      if (session) void session.receive(m);
      else if (fatal !== undefined) {
        if ((m as { kind?: unknown } | null)?.kind === 'ready') sendFatal();
      } else early.push(m);
    });
    panel.onDidDispose(() => {
      sub.dispose();
      session?.dispose();
    });
    let live: LiveJsonlFile;
    try {
      live = await document.live;
    } catch (e) {
      fatal = (e as Error).message;
      void vscode.window.showErrorMessage(`SDG: cannot open ${basename(document.uri.fsPath)} in the JSONL viewer: ${fatal}`);
      // The webview shows it once it listens (now, if it already said ready).
      if (early.some((m) => (m as { kind?: unknown } | null)?.kind === 'ready')) sendFatal();
      return;
    }
    session = new ViewerSession(live, basename(document.uri.fsPath), (m) => void webview.postMessage(m), {
      openInEditor: async (line) => {
        const pos = new vscode.Position(line, 0);
        await vscode.window.showTextDocument(document.uri, { selection: new vscode.Range(pos, pos), viewColumn: vscode.ViewColumn.Beside, preview: true });
      },
      log: (m) => this.log.warn(m),
    });
    for (const m of early.splice(0)) void session.receive(m);
  }
}
