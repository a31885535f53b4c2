/** The Runs view: run folders under the runs folder (manifest.json) plus live runs. */
import * as vscode from 'vscode';
import { basename } from 'node:path';
import type { RunView } from '../../protocol/studio';
import { isActive, isResumable } from './views';

export class RunItem extends vscode.TreeItem {
  constructor(readonly run: RunView) {
    super(run.name, vscode.TreeItemCollapsibleState.None);
    const c = run.counts;
    const progress = `${c.done}${c.total !== null ? `/${c.total}` : ''}${c.failed ? `, ${c.failed} failed` : ''}`;
    this.id = run.dir;
    this.description = `${run.status} · ${progress}${isActive(run) && run.throughput.requestsPerSec ? ` · ${run.throughput.requestsPerSec.toFixed(1)} req/s` : ''}`;
    this.contextValue = (isActive(run) ? (run.live ? 'run.running' : 'run.external') : isResumable(run) ? 'run.resumable' : 'run.done') + (run.kind === 'generate' && run.output && !isActive(run) ? '.labels' : '');
    if (run.details) this.description = `${this.description} · ${[run.details.label, run.details.model].filter(Boolean).join(' · ')}`;
    this.iconPath = new vscode.ThemeIcon(
      run.status === 'completed' ? 'pass' : run.status === 'failed' ? 'error' : run.status === 'cancelled' || run.status === 'interrupted' ? 'debug-pause' : 'sync~spin',
    );
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`**${run.name}** (${run.kind})\n\n`);
    md.appendMarkdown(`Status: ${run.status}  \nItems: ${progress}  \nTokens: ${run.tokens.prompt} prompt, ${run.tokens.completion} completion  \n`);
    if (run.startedAt) md.appendMarkdown(`Started: ${run.startedAt}  \n`);
    if (run.endedAt) md.appendMarkdown(`Ended: ${run.endedAt}  \n`);
    for (const s of run.stages) md.appendMarkdown(`- ${s.name}: ${s.status}, ${s.counts.done}${s.counts.total !== null ? `/${s.counts.total}` : ''}${s.counts.failed ? `, ${s.counts.failed} failed` : ''}\n`);
    if (run.error) md.appendMarkdown(`\nError: ${run.error.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&')}\n`);
    md.appendMarkdown(`\n\`${basename(run.dir)}\``);
    this.tooltip = md;
    if (run.output) this.command = { command: 'sdg.openRunOutput', title: 'Open Run Output', arguments: [this] };
  }
}

export class RunsTreeProvider implements vscode.TreeDataProvider<RunItem> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(private readonly listRuns: () => Promise<RunView[]>) {}

  refresh(): void {
    this.changed.fire();
  }

  getTreeItem(item: RunItem): vscode.TreeItem {
    return item;
  }

  async getChildren(item?: RunItem): Promise<RunItem[]> {
    if (item) return [];
    return (await this.listRuns()).map((r) => new RunItem(r));
  }

  dispose(): void {
    this.changed.dispose();
  }
}
