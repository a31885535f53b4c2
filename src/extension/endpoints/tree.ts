/** The Endpoints view: profiles from settings, whether a key is stored, and a test action. */
import * as vscode from 'vscode';
import type { EndpointInfo, EndpointStore } from './store';

export class EndpointItem extends vscode.TreeItem {
  constructor(readonly info: EndpointInfo) {
    super(info.profile.name, vscode.TreeItemCollapsibleState.None);
    const p = info.profile;
    this.id = `endpoint:${p.name}`;
    this.description = `${p.model} · ${p.servers?.length ? `pool of ${p.servers.length} servers` : p.baseUrl}`;
    this.contextValue = 'endpoint';
    this.iconPath = new vscode.ThemeIcon(info.hasKey ? 'key' : 'server');
    this.tooltip = new vscode.MarkdownString(
      `**${p.name}**\n\n${p.servers?.length ? `Servers:  \n${p.servers.map((x) => `- ${x.baseUrl}${x.weight !== undefined ? ` (weight ${x.weight})` : ''}${x.maxConcurrency !== undefined ? ` (max ${x.maxConcurrency})` : ''}`).join('  \n')}  \n` : `URL: ${p.baseUrl}  \n`}Model: ${p.model}  \nAPI: ${p.apiKind}${p.formatter ? ` (formatter ${p.formatter})` : ''}  \n` +
        `${p.preset ? `Preset: ${p.preset}  \n` : ''}${p.maxConcurrency ? `Max concurrency: ${p.maxConcurrency}  \n` : ''}API key: ${info.hasKey ? 'stored in secret storage' : 'none'}`,
    );
  }
}

export class EndpointsTreeProvider implements vscode.TreeDataProvider<EndpointItem>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly store: EndpointStore) {
    this.sub = store.onDidChange(() => this.changed.fire());
  }

  getTreeItem(item: EndpointItem): vscode.TreeItem {
    return item;
  }

  async getChildren(item?: EndpointItem): Promise<EndpointItem[]> {
    if (item) return [];
    return (await this.store.list()).map((i) => new EndpointItem(i));
  }

  dispose(): void {
    this.sub.dispose();
    this.changed.dispose();
  }
}
