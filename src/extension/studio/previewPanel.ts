/**
 * "Open Preview to the Side" for a template or prompt config open in the real editor: a webview
 * beside it that renders the prompt with the engine for a dataset row and follows the editor's
 * unsaved text (the way the Markdown preview does), so the editor, undo and keybindings stay
 * VS Code's own. One preview per document; the Studio's handlers answer its requests.
 */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import { MessageChannel } from '../../protocol/ipc';
import type { StudioHostNotifications, StudioRequests, TemplateRef } from '../../protocol/studio';
import type { Services } from '../services';
import { fileRefOf } from './fileRefs';
import { makeNonce, webviewHtml } from './html';
import { readTextField } from './yamlEdit';

/** The field of a YAML file that holds its template: `user` (prompt configs) or `prompt` (pipeline templates). */
export function templateFieldOf(text: string): string[] | undefined {
  return /^user\s*:/m.test(text) ? ['user'] : /^prompt\s*:/m.test(text) ? ['prompt'] : undefined;
}

export class TemplatePreviewPanel {
  static readonly viewType = 'sdg.templatePreview';
  private static readonly open = new Map<string, TemplatePreviewPanel>();
  private readonly channel: MessageChannel<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>;
  private readonly disposables: vscode.Disposable[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  static show(services: Services, doc: vscode.TextDocument): TemplatePreviewPanel {
    const key = doc.uri.toString();
    const existing = TemplatePreviewPanel.open.get(key);
    if (existing) {
      existing.panel.reveal(vscode.ViewColumn.Beside, true);
      return existing;
    }
    const field = templateFieldOf(doc.getText());
    if (!field) throw new Error(`${basename(doc.uri.fsPath)} has no \`user:\` (prompt config) or \`prompt:\` (pipeline template) field to preview`);
    const panel = vscode.window.createWebviewPanel(TemplatePreviewPanel.viewType, `Preview ${basename(doc.uri.fsPath)}`, { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      enableCommandUris: false,
      localResourceRoots: [vscode.Uri.joinPath(services.context.extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(services.context.extensionUri, 'media')],
      retainContextWhenHidden: false,
    });
    const p = new TemplatePreviewPanel(panel, services, doc, field);
    TemplatePreviewPanel.open.set(key, p);
    return p;
  }

  private constructor(readonly panel: vscode.WebviewPanel, services: Services, private readonly doc: vscode.TextDocument, field: string[]) {
    const webview = panel.webview;
    const post = (m: unknown) => {
      try {
        void Promise.resolve(webview.postMessage(m)).catch(() => undefined);
      } catch {
        /* the panel is gone */
      }
    };
    this.channel = new MessageChannel(post, { waitForReady: true });
    const { createHandlers, registerHandlers } = require('./handlers') as typeof import('./handlers.js');
    const backend = services.studioBackend();
    registerHandlers(this.channel, createHandlers(backend), (m) => services.log.warn(m));
    const ref: TemplateRef = { file: fileRefOf(backend, doc.uri.fsPath), field, label: `${basename(doc.uri.fsPath)} › ${field.join('.')}` };
    const send = () => {
      let text: string | undefined;
      try {
        text = readTextField(this.doc.getText(), field);
      } catch {
        text = undefined; // a YAML error while typing: the preview keeps the last good text
      }
      if (text !== undefined) this.channel.notify('preview.text', { ref, text });
    };
    this.disposables.push(
      webview.onDidReceiveMessage((m) => void this.channel.receive(m)),
      panel.onDidDispose(() => this.dispose()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document !== this.doc) return;
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(send, 150);
      }),
      vscode.workspace.onDidCloseTextDocument((d) => d === this.doc && this.panel.dispose()),
    );
    panel.iconPath = vscode.Uri.joinPath(services.context.extensionUri, 'media', 'sdg.svg');
    const nonce = makeNonce();
    const asUri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(services.context.extensionUri, ...p)).toString();
    webview.html = webviewHtml({ cspSource: webview.cspSource, nonce, scriptUri: asUri('dist', 'webview', 'studio.js'), styleUris: [asUri('media', 'codicons', 'codicon.css')], title: 'Template preview', rootElement: 'sdg-template-preview' });
    send();
  }

  dispose(): void {
    TemplatePreviewPanel.open.delete(this.doc.uri.toString());
    if (this.timer) clearTimeout(this.timer);
    this.channel.dispose('the preview was closed');
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
