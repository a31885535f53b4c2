/**
 * Math labeling at scale (issues 13 and 15): `sdg grade` rows/s on a 1M-row file, and the peak
 * RSS of `sdg grade`, `metrics`, `vote` and `export-sft` on it, each measured from outside the
 * process (GNU time's maximum resident set size when /usr/bin/time exists, else the highest
 * VmRSS read from /proc/PID/status every 20 ms). Quick mode: 5,000 rows (the CI smoke).
 *
 * The file: 8 samples per problem, MATH/GSM8K-style solutions of ~400 bytes ending in a box;
 * answers mostly right, some off by one, some equivalent forms (`\frac{a}{2}` vs decimals), some
 * without an answer, so grading, clustering and filtering do real work.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, fmt } from './lib';
import type { GroupContext } from './product';

const CLI = join(ROOT, 'test/fixtures/math/cliMain.ts');

export async function makeGenerations(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  const filler = 'We set up the equation from the statement and simplify both sides step by step. ';
  for (let start = 0; start < rows; start += 1000) {
    let chunk = '';
    for (let i = start; i < Math.min(rows, start + 1000); i++) {
      const problem = i >> 3;
      const truth = (problem * 7919) % 100000;
      const kind = (i * 2654435761) % 16;
      // 10/16 right, 2/16 off by one, 1/16 an equivalent form, 1/16 a fraction, 2/16 no answer.
      const answer = kind < 10 ? String(truth) : kind < 12 ? String(truth + 1) : kind < 13 ? `${truth}.0` : kind < 14 ? `\\frac{${truth * 2}}{2}` : null;
      const generation = `${filler.repeat(4)}${answer === null ? 'I could not finish.' : `So the answer is $\\boxed{${answer}}$.`}`;
      chunk += JSON.stringify({ input_index: problem, seed: i & 7, problem: `Problem ${problem}: compute the value of the expression for case ${problem % 97}.`, expected_answer: String(truth), generation, finish_reason: 'stop', error: null }) + '\n';
    }
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

export interface Measured { elapsedS: number; peakRssMb: number; stdout: string }

/** Runs the CLI in a child process; peak RSS from GNU time, else polled from /proc. */
export async function measure(args: string[]): Promise<Measured> {
  const useTime = existsSync('/usr/bin/time');
  const node = [process.execPath, '--import', 'tsx', CLI, ...args];
  const argv = useTime ? ['-f', '__PEAK_KB__ %M', ...node] : node.slice(1);
  const started = process.hrtime.bigint();
  const child = spawn(useTime ? '/usr/bin/time' : process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  let polledKb = 0;
  const poll = useTime ? null : setInterval(() => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) polledKb = Math.max(polledKb, Number(m[1]));
    } catch { /* exited */ }
  }, 20);
  const [code] = (await once(child, 'exit')) as [number | null];
  if (poll) clearInterval(poll);
  const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
  if (code !== 0) throw new Error(`sdg ${args[0]} exited ${code}: ${stderr.slice(-500)}`);
  const kb = useTime ? Number(/__PEAK_KB__ (\d+)/.exec(stderr)?.[1] ?? 0) : polledKb;
  return { elapsedS, peakRssMb: kb / 1024, stdout };
}

export async function mathLabeling(g: GroupContext): Promise<void> {
  const rows = Number(g.flags['math-rows'] ?? (g.quick ? 5_000 : 1_000_000));
  const dir = join(tmpdir(), `sdg-bench-math-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  try {
    const gen = join(dir, 'generations.jsonl');
    await makeGenerations(gen, rows);
    const sizeMb = statSync(gen).size / 1e6;
    const graded = join(dir, 'graded', 'graded.jsonl');
    const grade = await measure(['grade', '--input', gen, '--output', graded]);
    const rate = rows / grade.elapsedS;
    // The limit: 1M rows in under a minute on this 2-core machine, process start included.
    g.add({ group: 'math', name: `sdg grade, ${rows} rows (${fmt(sizeMb)} MB)`, value: rate, unit: 'rows/s', reference: { name: 'target', value: 20000 }, ratio: rate / 20000, target: '>= 20k rows/s', pass: g.judge(rate >= 20000), note: grade.stdout.trim().split('\n')[0] });
    const memTarget = 400;
    const memFigure = (name: string, m: Measured) =>
      g.add({ group: 'math', name: `peak RSS, sdg ${name}, ${rows} rows`, value: m.peakRssMb, unit: 'MB', reference: { name: 'target', value: memTarget }, ratio: m.peakRssMb / memTarget, target: `< ${memTarget} MB`, pass: g.judge(m.peakRssMb < memTarget), note: `${fmt(m.elapsedS)} s` });
    memFigure('grade', grade);
    memFigure('metrics', await measure(['metrics', graded, '--json', '--output', join(dir, 'metrics', 'm.json')]));
    memFigure('vote', await measure(['vote', '--input', graded, '--output', join(dir, 'voted', 'v.jsonl')]));
    memFigure('export-sft', await measure(['export-sft', '--input', graded, '--output', join(dir, 'sft', 'sft.jsonl'), '--max-per-problem', '4']));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
