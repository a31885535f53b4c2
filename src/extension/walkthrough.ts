/**
 * The walkthrough's steps tick when the step is really done, whichever way the user did it (a
 * command, the Studio form, the Runs view...).
 *
 * VS Code's completion events alone do not do it: the walkthroughs service only counts an event
 * that happens after the walkthrough is registered, and only the first time in the window (its
 * `sessionEvents`); an `onContext:` key already true at registration is recorded as seen and never
 * ticks the step. The walkthrough is registered when the service is first used (the Welcome page),
 * typically after the user did the steps. So besides the context key `sdg.walkthrough.<step>`, the
 * extension marks the step complete itself (`welcome.markStepComplete`), which stores the progress
 * in the profile's storage at once, registered or not. See docs/extension.md.
 */
import * as vscode from 'vscode';

export type WalkthroughStep = 'hasEndpoint' | 'studioOpened' | 'ranPipeline' | 'outputOpened';

/** The step ids in package.json `contributes.walkthroughs` for each context key. */
const STEP_IDS: Record<WalkthroughStep, string> = {
  hasEndpoint: 'addEndpoint',
  studioOpened: 'openStudio',
  ranPipeline: 'runPipeline',
  outputOpened: 'browseResult',
};
export const WALKTHROUGH_ID = 'sdg.gettingStarted';

const done = new Set<WalkthroughStep>();
let extensionId: string | undefined;

/** Marks a step done (context key `sdg.walkthrough.<step>` and the walkthrough's progress); once per window. */
export function markStep(step: WalkthroughStep): void {
  if (done.has(step)) return;
  done.add(step);
  void vscode.commands.executeCommand('setContext', `sdg.walkthrough.${step}`, true);
  completeStep(step);
}

function completeStep(step: WalkthroughStep): void {
  if (!extensionId) return; // registerWalkthrough does it
  const id = `${extensionId}#${WALKTHROUGH_ID}#${STEP_IDS[step]}`;
  // Rejects ("Tried to progress unknown step") while the walkthrough is not registered yet, after
  // the progress is stored: the step shows done when the walkthrough registers.
  vscode.commands.executeCommand('welcome.markStepComplete', id).then(undefined, () => undefined);
}

/** The steps that follow from settings or files (endpoints configured, runs present). */
export function registerWalkthrough(
  context: vscode.ExtensionContext,
  hooks: { onEndpointsChanged: vscode.Event<void>; onRunsChanged: vscode.Event<unknown[]> },
): void {
  extensionId = context.extension.id;
  done.forEach(completeStep); // marked before activation finished
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
