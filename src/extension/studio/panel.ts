/**
 * The Studio webview panel: one per window, created on demand, restored after a reload by the
 * serializer. It holds no run state of its own: runs belong to the RunManager, so the panel
 * can close and reopen while they go on. UI state lives in the webview (getState/setState).
 */
import * as vscode from 'vscode';
import { markStep } from '../walkthrough';
import { MessageChannel } from '../../protocol/ipc';
import type { StudioHostNotifications, StudioRequests, StudioTab, TemplateRef } from '../../protocol/studio';
import type { Services } from '../services';
import { makeNonce, webviewHtml } from './html';

type HostChannel = MessageChannel<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>;

export class StudioPanel implements vscode.Disposable {
  static readonly viewType = 'sdg.studio';
  private static current: StudioPanel | undefined;

  private readonly channel: HostChannel;
  private readonly disposables: vscode.Disposable[] = [];

  static show(services: Services, focus?: { tab: StudioTab; pipelineId?: string; ref?: TemplateRef }): StudioPanel {
    if (StudioPanel.current) {
      StudioPanel.current.panel.reveal(undefined, false);
    } else {
      const panel = vscode.window.createWebviewPanel(StudioPanel.viewType, 'SDG Studio', vscode.ViewColumn.Active, StudioPanel.options(services.context));
      StudioPanel.current = new StudioPanel(panel, services);
    }
    if (focus) StudioPanel.current.channel.notify('focus', focus);
    return StudioPanel.current;
  }

  /** After a window reload VS Code hands back the panel; its webview state comes with it. */
  static revive(panel: vscode.WebviewPanel, services: Services): void {
    panel.webview.options = StudioPanel.options(services.context);
    StudioPanel.current?.dispose();
    StudioPanel.current = new StudioPanel(panel, services);
  }

  static get isOpen(): boolean {
    return !!StudioPanel.current;
  }

  private static options(context: vscode.ExtensionContext): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    return {
      enableScripts: true,
      enableCommandUris: false,
      // Only the bundle and the icon font may be loaded into the webview.
      localResourceRoots: [vscode.Uri.joinPath(context.extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(context.extensionUri, 'media')],
      retainContextWhenHidden: false,
    };
  }

  private constructor(readonly panel: vscode.WebviewPanel, services: Services) {
    const webview = panel.webview;
    // A reply can arrive after the panel closed: posting then throws, and the message has nowhere to go anyway.
    const post = (m: unknown) => {
      try {
        void Promise.resolve(webview.postMessage(m)).catch(() => undefined);
      } catch {
        /* the panel is gone */
      }
    };
    this.channel = new MessageChannel(post, { waitForReady: true });
    // The handlers pull in the YAML, prompt and dataset code: loaded when a panel opens, not at activation.
    const { createHandlers, registerHandlers } = require('./handlers') as typeof import('./handlers.js');
    registerHandlers(this.channel, createHandlers(services.studioBackend()), (m) => services.log.warn(m));
    this.disposables.push(
      webview.onDidReceiveMessage((m) => void this.channel.receive(m)),
      panel.onDidDispose(() => this.dispose()),
      services.onRunsChanged((runs) => this.channel.notify('runs.changed', runs)),
      services.endpoints.onDidChange(async () => this.channel.notify('endpoints.changed', await services.endpoints.list().then((l) => l.map((i) => ({ profile: i.profile, hasKey: i.hasKey }))))),
      services.onPipelinesChanged((pipelines) => this.channel.notify('pipelines.changed', pipelines)),
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.channel.notify('trust.changed', { trusted: true })),
    );
    panel.iconPath = vscode.Uri.joinPath(services.context.extensionUri, 'media', 'sdg.svg');
    markStep('studioOpened');
    const nonce = makeNonce();
    const asUri = (...p: string[]) => webview.asWebviewUri(vscode.Uri.joinPath(services.context.extensionUri, ...p)).toString();
    webview.html = webviewHtml({
      cspSource: webview.cspSource,
      nonce,
      scriptUri: asUri('dist', 'webview', 'studio.js'),
      styleUris: [asUri('media', 'codicons', 'codicon.css')],
      title: 'SDG Studio',
      rootElement: 'sdg-studio',
    });
  }

  dispose(): void {
    if (StudioPanel.current === this) StudioPanel.current = undefined;
    this.channel.dispose('the Studio panel was closed');
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
