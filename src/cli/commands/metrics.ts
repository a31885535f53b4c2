import type { Command } from 'commander';
import { computeMetrics, formatMetrics } from '../../core/math/metrics';

export function register(program: Command): void {
  program
    .command('metrics')
    .description('Greedy accuracy, pass@k, maj@k and share of problems with a correct sample, per dataset')
    .argument('<files...>', 'graded JSONL files (from `sdg grade`)')
    .option('--json', 'print JSON instead of a table')
    .action(async (files: string[], opts: { json?: boolean }) => {
      const results = await computeMetrics({ files, onWarning: (m) => console.error(`warning: ${m}`) });
      console.log(opts.json ? JSON.stringify(results, null, 2) : formatMetrics(results));
    });
}
