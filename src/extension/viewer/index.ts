/**
 * Registers the JSONL viewer: the `sdg.jsonlViewer` custom editor (for *.jsonl, priority
 * "option": "Open With..." or the command) and the `sdg.openJsonlViewer` command.
 */
import * as vscode from 'vscode';
import { JsonlViewerProvider, VIEW_TYPE } from './provider';

export { VIEW_TYPE } from './provider';

function isJsonl(uri: vscode.Uri | undefined): uri is vscode.Uri {
  return !!uri && /\.jsonl$/i.test(uri.path);
}

/** The .jsonl file the user means: the argument (explorer), the active editor or tab, or ask. */
async function pickTarget(arg: unknown): Promise<vscode.Uri | undefined> {
  if (arg instanceof vscode.Uri) return arg;
  const active = vscode.window.activeTextEditor?.document.uri;
  if (isJsonl(active)) return active;
  const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input as { uri?: unknown } | undefined;
  if (input && input.uri instanceof vscode.Uri && isJsonl(input.uri)) return input.uri;
  const picked = await vscode.window.showOpenDialog({
    canSelectMany: false,
    openLabel: 'Open in JSONL Viewer',
    filters: { 'JSON Lines': ['jsonl'], 'All files': ['*'] },
  });
  return picked?.[0];
}

export function registerJsonlViewer(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): void {
  context.subscriptions.push(
    vscode.window.registerCustomEditorProvider(VIEW_TYPE, new JsonlViewerProvider(context, log), {
      supportsMultipleEditorsPerDocument: true,
      webviewOptions: { retainContextWhenHidden: false, enableFindWidget: false },
    }),
    vscode.commands.registerCommand('sdg.openJsonlViewer', async (arg?: unknown) => {
      const target = await pickTarget(arg);
      if (!target) return;
      await vscode.commands.executeCommand('vscode.openWith', target, VIEW_TYPE);
    }),
  );
}
