/**
 * Grade, Metrics, Vote and Export SFT for a run's output, from the Studio's run card and the Runs
 * view: thin calls of the core's public functions (src/core/math, src/core/sft), with the files
 * beside the output (`<output>.graded.jsonl`, `.voted.jsonl`, `.sft.jsonl`) and the metrics kept
 * in the run folder (`metrics.json`) so the card can show them. No `vscode` import.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PostprocessAction, PostprocessResult, RunMetrics } from '../../protocol/studio';

export const METRICS_FILE = 'metrics.json';

/** The files an action reads and writes for a run output. */
export function postprocessFiles(output: string): { graded: string; voted: string; sft: string } {
  const base = output.replace(/\.jsonl$/i, '');
  return { graded: `${base}.graded.jsonl`, voted: `${base}.voted.jsonl`, sft: `${base}.sft.jsonl` };
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

/** Runs one action on a run's output; metrics are also written to `<runDir>/metrics.json`. */
export async function postprocessRun(runDir: string, output: string, action: PostprocessAction, log: (m: string) => void = () => undefined): Promise<PostprocessResult> {
  if (!existsSync(output)) throw new Error(`the run has no output file yet (${output})`);
  const files = postprocessFiles(output);
  const math = require('../../core/math') as typeof import('../../core/math/index.js');
  switch (action) {
    case 'grade': {
      const s = await math.gradeFile({ input: output, output: files.graded, onWarning: log });
      const metrics = await writeMetrics(runDir, files.graded, log);
      return {
        file: files.graded,
        lines: [
          `${s.rows} rows graded: ${s.correct} correct (${s.rows ? pct(s.correct / s.rows) : '-'}), ${s.noAnswer} without an answer, ${s.failed} failed, ${s.truncated} cut by max_tokens${s.noReference ? `, ${s.noReference} without a reference answer` : ''}`,
          ...metricsLines(metrics),
        ],
        metrics,
      };
    }
    case 'metrics': {
      const source = existsSync(files.graded) ? files.graded : output;
      const metrics = await writeMetrics(runDir, source, log);
      return { file: join(runDir, METRICS_FILE), lines: metricsLines(metrics), metrics };
    }
    case 'vote': {
      const s = await math.voteFile({ input: existsSync(files.graded) ? files.graded : output, output: files.voted, onWarning: log });
      return { file: files.voted, lines: [`${s.problems} problems: ${s.labeled} labeled by majority vote, ${s.problems - s.labeled} left unlabelled (${Object.entries(s.reasons).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'})`] };
    }
    case 'exportSft': {
      if (!existsSync(files.graded)) throw new Error('grade the run first: SFT export keeps the correct solutions (is_correct)');
      const sft = require('../../core/sft') as typeof import('../../core/sft/index.js');
      const s = await sft.exportSft({ inputs: [files.graded], output: files.sft, onWarning: log } as Parameters<typeof sft.exportSft>[0]);
      const removed = Object.entries(s.removed).filter(([, n]) => n).map(([k, n]) => `${k} ${n}`).join(', ');
      return { file: files.sft, lines: [`${s.written} SFT examples from ${s.problemsWritten} of ${s.problems} problems (${s.inputRows} rows in)${removed ? `; removed: ${removed}` : ''}`] };
    }
  }
}

async function writeMetrics(runDir: string, file: string, log: (m: string) => void): Promise<RunMetrics> {
  const math = require('../../core/math') as typeof import('../../core/math/index.js');
  const [m] = await math.computeMetrics({ files: [file], groupBy: '\u0000none', onWarning: log });
  if (!m) throw new Error(`no graded rows in ${file}`);
  const k = m.ks[m.ks.length - 1] ?? 1;
  const metrics: RunMetrics = {
    file,
    problems: m.problems,
    samples: m.samples,
    accuracy: m.greedy,
    k,
    passAtK: m.passAtK[k] ?? null,
    majAtK: m.majAtK[k] ?? null,
    computedAt: new Date().toISOString(),
  };
  const { writeFile } = require('node:fs/promises') as typeof import('node:fs/promises');
  await writeFile(join(runDir, METRICS_FILE), JSON.stringify(metrics, null, 2) + '\n');
  return metrics;
}

export function metricsLines(m: RunMetrics): string[] {
  return [`${m.problems} problems, ${m.samples} samples: accuracy ${pct(m.accuracy)}${m.passAtK !== null ? `, pass@${m.k} ${pct(m.passAtK)}` : ''}${m.majAtK !== null ? `, maj@${m.k} ${pct(m.majAtK)}` : ''}`];
}

const cache = new Map<string, { mtimeMs: number; metrics: RunMetrics }>();

/** The metrics last computed for a run (metrics.json), or undefined. */
export function readRunMetrics(runDir: string): RunMetrics | undefined {
  const file = join(runDir, METRICS_FILE);
  try {
    const mtimeMs = statSync(file).mtimeMs;
    const hit = cache.get(runDir);
    if (hit && hit.mtimeMs === mtimeMs) return hit.metrics;
    const metrics = JSON.parse(readFileSync(file, 'utf8')) as RunMetrics;
    cache.set(runDir, { mtimeMs, metrics });
    return metrics;
  } catch {
    return undefined;
  }
}
