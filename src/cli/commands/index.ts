import type { Command } from 'commander';
import { register as generate } from './generate';
import { register as grade } from './grade';
import { register as metrics } from './metrics';
import { register as vote } from './vote';
import { register as selectMasked } from './select-masked';
import { register as exportSft } from './export-sft';
import { register as run } from './run';
import { register as pipelines } from './pipelines';
import { register as merge } from './merge';
import { register as slurm } from './slurm';

/** Every `sdg` sub-command. Add a line when you add src/cli/commands/<name>.ts. */
export const COMMANDS: Array<(program: Command) => void> = [
  generate,
  grade,
  metrics,
  vote,
  selectMasked,
  exportSft,
  run,
  pipelines,
  merge,
  slurm,
];
