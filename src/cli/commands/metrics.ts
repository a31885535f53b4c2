import type { Command } from 'commander';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { computeMetrics, formatMetrics } from '../../core/math/metrics';

export function register(program: Command): void {
  program
    .command('metrics')
    .description('Greedy accuracy, pass@k, maj@k and share of problems with a correct sample, per dataset')
    .argument('<files...>', 'graded JSONL files (from `sdg grade`)')
    .option('--json', 'print JSON instead of a table')
    .option('--output <file>', 'also write the result (JSON with --json, else the table) to this file; its folder is created')
    .option('--group-by <field>', 'row field naming the group, e.g. subject or level (rows without it: by file)', 'dataset')
    .action(async (files: string[], opts: { json?: boolean; groupBy: string; output?: string }) => {
      const results = await computeMetrics({ files, groupBy: opts.groupBy, onWarning: (m) => console.error(`warning: ${m}`) });
      const text = opts.json ? JSON.stringify(results, null, 2) : formatMetrics(results);
      if (opts.output) {
        mkdirSync(dirname(opts.output), { recursive: true });
        writeFileSync(opts.output, text + '\n');
      }
      console.log(text);
    });
}
