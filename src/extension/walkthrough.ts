/**
 * The walkthrough's steps tick on context keys the extension sets when the step is really done,
 * whichever way the user did it (a command, the Studio form, the Runs view...): "onCommand:"
 * completion events alone miss every path that is not the command itself.
 */
import * as vscode from 'vscode';

export type WalkthroughStep = 'hasEndpoint' | 'studioOpened' | 'ranPipeline' | 'outputOpened';

const done = new Set<WalkthroughStep>();

/** Marks a step done (context key `sdg.walkthrough.<step>`); once per window. */
export function markStep(step: WalkthroughStep): void {
  if (done.has(step)) return;
  done.add(step);
  void vscode.commands.executeCommand('setContext', `sdg.walkthrough.${step}`, true);
}

/** The steps that follow from settings or files (endpoints configured, runs present). */
export function registerWalkthrough(
  context: vscode.ExtensionContext,
  hooks: { onEndpointsChanged: vscode.Event<void>; onRunsChanged: vscode.Event<unknown[]> },
): void {
  const checkEndpoints = () => {
    const list = vscode.workspace.getConfiguration('sdg').get<unknown[]>('endpoints');
    if (Array.isArray(list) && list.length) markStep('hasEndpoint');
  };
  checkEndpoints();
  context.subscriptions.push(
    hooks.onEndpointsChanged(checkEndpoints),
    hooks.onRunsChanged((runs) => runs.length && markStep('ranPipeline')),
  );
}
