/** Reading the `sdg.*` settings (defaults live in package.json `contributes.configuration`). */
import * as vscode from 'vscode';
import { isAbsolute, join } from 'node:path';

export function workspaceRoots(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath);
}

/** Absolute runs folder, or undefined when no folder is open and the setting is relative. */
export function runsFolder(): string | undefined {
  const raw = vscode.workspace.getConfiguration('sdg').get<string>('runsFolder', '.sdg/runs').trim() || '.sdg/runs';
  if (isAbsolute(raw)) return raw;
  const root = workspaceRoots()[0];
  return root ? join(root, raw) : undefined;
}

export function defaultConcurrency(): number {
  const n = vscode.workspace.getConfiguration('sdg').get<number>('defaultConcurrency', 32);
  return Number.isSafeInteger(n) && n > 0 ? n : 32;
}

export function datasetGlob(): { glob: string; max: number } {
  const c = vscode.workspace.getConfiguration('sdg');
  const max = c.get<number>('maxDatasetFiles', 200);
  return { glob: c.get<string>('datasetGlob', '**/*.jsonl') || '**/*.jsonl', max: Number.isSafeInteger(max) && max > 0 ? max : 200 };
}

/** Running pipelines and contacting endpoints needs a trusted workspace. */
export function requireTrust(action: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window
    .showWarningMessage(`SDG: ${action} is disabled in an untrusted workspace. Trust the workspace to run pipelines.`, 'Manage Workspace Trust')
    .then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}
