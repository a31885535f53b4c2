/**
 * SDG Studio's entry point. Activation only registers things (commands, views, the panel
 * serializer); services, the engine and the HTTP client load on first use, so activating costs
 * a few milliseconds. The engine itself is src/core; this folder is a thin adapter over it.
 */
import * as vscode from 'vscode';
import { registerCommands } from './commands';
import { EndpointsTreeProvider } from './endpoints/tree';
import { registerYamlDiagnostics } from './diagnostics';
import { createLogger } from './log';
import { RunsTreeProvider } from './run/tree';
import { Services } from './services';
import { StudioPanel } from './studio/panel';
import { registerJsonlViewer } from './viewer/index';
import { registerWalkthrough } from './walkthrough';

let services: Services | undefined;

export function activate(context: vscode.ExtensionContext): { services: Services } {
  const started = performance.now();
  const channel = vscode.window.createOutputChannel('SDG Studio', { log: true });
  context.subscriptions.push(channel);
  const log = createLogger(channel);
  const s = (services = new Services(context, log));

  registerCommands(context, s);

  const runsTree = new RunsTreeProvider(() => s.listRuns(false));
  const runsView = vscode.window.createTreeView('sdg.runs', { treeDataProvider: runsTree, showCollapseAll: false });
  const endpointsTree = new EndpointsTreeProvider(s.endpoints);
  context.subscriptions.push(
    runsTree,
    runsView,
    endpointsTree,
    vscode.window.createTreeView('sdg.endpoints', { treeDataProvider: endpointsTree }),
    s.onRunsChanged(() => runsTree.refresh()),
    runsView.onDidChangeVisibility((e) => e.visible && s.ensureRunsWatched()),
    vscode.window.registerWebviewPanelSerializer(StudioPanel.viewType, {
      async deserializeWebviewPanel(panel) {
        StudioPanel.revive(panel, s);
      },
    }),
    { dispose: () => void s.dispose() },
  );
  if (runsView.visible) s.ensureRunsWatched();
  registerWalkthrough(context, { onEndpointsChanged: s.endpoints.onDidChange, onRunsChanged: s.onRunsChanged });

  registerYamlDiagnostics(context);
  registerJsonlViewer(context, channel);

  log.info(`SDG Studio activated in ${(performance.now() - started).toFixed(1)} ms`);
  return { services: s };
}

export async function deactivate(): Promise<void> {
  // Running jobs stop here and are left "interrupted": a resume continues them without loss.
  await services?.dispose();
  services = undefined;
}
