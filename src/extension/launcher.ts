/**
 * The one RunLauncher of the RunManager: pipeline runs and labeling runs, started from a
 * request or resumed from a run folder's frozen config.json (its `kind` says which).
 */
import { basename } from 'node:path';
import { LabelingLauncher, type LabelRunRequest } from './labeling';
import type { LaunchedRun, RunHooks, RunLauncher } from './run/manager';
import { PipelineLauncher, type PipelineRunRequest } from './pipelines';

export type RunRequest = ({ kind: 'pipeline' } & PipelineRunRequest) | ({ kind: 'label' } & LabelRunRequest);

export class StudioLauncher implements RunLauncher<RunRequest> {
  constructor(private readonly pipelines: PipelineLauncher, private readonly labeling: LabelingLauncher) {}

  start(request: RunRequest, hooks: RunHooks): Promise<LaunchedRun> {
    if (request.kind === 'pipeline') {
      const { kind: _kind, ...r } = request;
      return this.pipelines.start(r, hooks);
    }
    const { kind: _kind, ...r } = request;
    return this.labeling.start(r, hooks);
  }

  async resume(dir: string, hooks: RunHooks): Promise<LaunchedRun> {
    const { readFrozenConfig } = require('../core/run/config') as typeof import('../core/run/config.js');
    const config = await readFrozenConfig<Record<string, unknown>>(dir);
    if (!config) throw new Error(`${dir} has no config.json: not a run folder`);
    if (config.kind === 'pipeline') return this.pipelines.resume(dir, hooks);
    if (config.kind === 'generate') return this.labeling.resume(dir, config, hooks);
    throw new Error(`${basename(dir)} is a "${String(config.kind ?? 'unknown')}" run, which VS Code cannot resume: run its sdg command again`);
  }
}
