import type { Command } from 'commander';
import { computeMetrics, formatMetrics } from '../../core/math/metrics';

export function register(program: Command): void {
  program
    .command('metrics')
    .description('Greedy accuracy, pass@k, maj@k and share of problems with a correct sample, per dataset')
    .argument('<files...>', 'graded JSONL files (from `sdg grade`)')
    .option('--json', 'print JSON instead of a table')
    .option('--group-by <field>', 'row field naming the group, e.g. subject or level (rows without it: by file)', 'dataset')
    .action(async (files: string[], opts: { json?: boolean; groupBy: string }) => {
      const results = await computeMetrics({ files, groupBy: opts.groupBy, onWarning: (m) => console.error(`warning: ${m}`) });
      console.log(opts.json ? JSON.stringify(results, null, 2) : formatMetrics(results));
    });
}
