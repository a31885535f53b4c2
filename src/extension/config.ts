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

/** Prices per million tokens of an endpoint (setting sdg.endpointPrices), for the launch estimate. */
export function endpointPrices(name: string): import('../core/estimate/index.js').Prices | null {
  const all = vscode.workspace.getConfiguration('sdg').get<Record<string, { input?: unknown; output?: unknown; currency?: unknown }>>('endpointPrices', {});
  const p = all && typeof all === 'object' ? all[name] : undefined;
  if (!p || typeof p.input !== 'number' || typeof p.output !== 'number' || p.input < 0 || p.output < 0) return null;
  return { inputPerMillion: p.input, outputPerMillion: p.output, currency: typeof p.currency === 'string' && p.currency ? p.currency : '$' };
}

/** Launches with more requests than this ask for a confirmation (setting sdg.confirmLaunchAboveRequests). */
export function confirmThreshold(): number {
  const n = vscode.workspace.getConfiguration('sdg').get<number>('confirmLaunchAboveRequests', 1000);
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : 1000;
}

/** Running pipelines and contacting endpoints needs a trusted workspace. */
export function requireTrust(action: string): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window
    .showWarningMessage(`SDG: ${action} is disabled in an untrusted workspace. Trust the workspace to run pipelines.`, 'Manage Workspace Trust')
    .then((pick) => pick && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}
