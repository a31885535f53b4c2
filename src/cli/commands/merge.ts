/**
 * `sdg merge --output MERGED.jsonl CHUNK_OUTPUTS...` (or `--pattern 'out-chunk*.jsonl'`): joins
 * the chunk outputs of a sharded `sdg generate` and checks that every item is there exactly once.
 * See docs/scale-out.md.
 *
 * Exit codes: 0 complete (or --allow-missing); 1 error; 2 items missing (nothing written; the
 * commands that finish the job are printed).
 */
import type { Command } from 'commander';
import { expandPattern, mergeChunks, type MergeReport } from '../../core/scale/merge';

interface MergeFlags {
  output: string;
  pattern: string[];
  input?: string;
  numChunks?: string;
  startSeed?: string;
  numSeeds?: string;
  allowMissing?: boolean;
  json?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${flag} must be a whole number >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

/** The human report (stderr). */
export function formatMergeReport(r: MergeReport): string {
  const lines: string[] = [];
  const pct = r.expectedItems ? ((100 * r.mergedItems) / r.expectedItems).toFixed(1) : '100';
  lines.push(`sdg merge: ${r.problems} problems x ${r.numSeeds} seeds (${r.startSeed}..${r.startSeed + r.numSeeds - 1}) = ${r.expectedItems} items in ${r.numChunks} chunk${r.numChunks === 1 ? '' : 's'}; ` +
    `${r.mergedItems} present (${pct}%), ${r.rows} rows`);
  const notes: string[] = [];
  if (r.failedItems) notes.push(`${r.failedItems} failed (error rows)`);
  if (r.incompleteItems) notes.push(`${r.incompleteItems} incomplete (fewer rows than num_samples)`);
  if (r.duplicateItems) notes.push(`${r.duplicateItems} duplicate items (kept once)`);
  if (r.unexpectedItems) notes.push(`${r.unexpectedItems} items outside the expected problems x seeds (left out)`);
  if (r.badLines) notes.push(`${r.badLines} lines without input_index and seed (left out)`);
  if (notes.length) lines.push(`  ${notes.join('; ')}`);
  if (!r.complete) {
    lines.push(`  missing: ${r.missingItems} items, e.g. ${r.missingExamples.join(', ')} (input_index:seed)`);
    for (const s of r.shards) {
      if (s.missing <= 0) continue;
      const state = !s.found ? 'no output yet' : s.merged === 0 ? 'no items yet' : `${s.merged} of ${s.expected} done`;
      lines.push(`  chunk ${s.chunkId} seeds ${s.startSeed}..${s.startSeed + s.numSeeds - 1}: ${s.missing} missing${s.failed ? ` (${s.failed} failed)` : ''}, ${state}: ${s.output}`);
    }
    for (const u of r.uncoveredSeeds) lines.push(`  seeds ${u.from}..${u.to}: no chunk output covers them`);
  }
  if (r.written) lines.push(`sdg merge: ${r.complete ? 'complete' : 'INCOMPLETE (--allow-missing)'} -> ${r.output}`);
  else lines.push(`sdg merge: incomplete; nothing written. Finish the missing chunks (rerunning a chunk's command resumes it), then merge again:`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('merge [files...]')
    .description('Join the chunk outputs of a sharded sdg generate into one JSONL, checking every item is there exactly once')
    .requiredOption('--output <file>', 'merged JSONL')
    .option('--pattern <glob>', 'chunk outputs by pattern (* and ? in the file name), e.g. \'labels/out-chunk*.jsonl\' (repeatable)', collect, [])
    .option('--input <file>', 'the input dataset, if it moved since the chunks ran')
    .option('--num-chunks <n>', 'expected number of chunks (default: from the chunks\' configs)')
    .option('--start-seed <s>', 'first expected seed (default: the lowest seed of the chunks)')
    .option('--num-seeds <k>', 'expected seeds (default: up to the highest seed of the chunks)')
    .option('--allow-missing', 'write the merged file even when items are missing (exit 0)')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (files: string[], f: MergeFlags) => {
      const all = [...files];
      for (const p of f.pattern) {
        const found = expandPattern(p);
        if (!found.length) throw new Error(`--pattern ${p}: no files match`);
        all.push(...found);
      }
      const report = await mergeChunks({
        files: [...new Set(all)],
        output: f.output,
        input: f.input,
        numChunks: int('--num-chunks', f.numChunks, 1),
        startSeed: int('--start-seed', f.startSeed, 0),
        numSeeds: int('--num-seeds', f.numSeeds, 1),
        allowMissing: f.allowMissing,
      });
      process.stderr.write(formatMergeReport(report) + '\n');
      if (f.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else if (!report.complete && report.rerun.length) process.stdout.write(report.rerun.join('\n') + '\n');
      if (!report.complete && !report.written) process.exitCode = 2;
    });
}
