/**
 * `sdg generate --prompt gsm8k_text_with_code` end to end with the built CLI, a real python3 and
 * the loopback mock server writing code blocks: real outputs and boxed answers, graded correct by
 * `sdg grade`, exported with the code and output blocks; then a SIGKILL mid-solution and a resume
 * that finishes every item once, nothing duplicated, no Python left running.
 */
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';
import { startMockServer, type MockServer } from '../support/mockServer';
import { codeProblems, codeWritingModel } from './generate-code-model';
import { testPython } from './sandbox-python';

const REPO = resolve(__dirname, '../..');

function startCli(cli: string, args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, SDG_PROMPTS_DIR: join(REPO, 'prompts') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((res) => child.on('exit', (code, signal) => res({ code, signal, stdout, stderr })));
  return { child, done };
}
const runCli = (cli: string, args: string[]) => startCli(cli, args).done;
const rowsOf = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

/** Direct children of a process (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      /* gone */
    }
  }
  return out;
}
const alive = (pid: number) => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');

describe('sdg generate --prompt gsm8k_text_with_code (built CLI, real python3)', function () {
  this.timeout(180_000);
  const py = testPython();
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-generate-code-cli-'));
  const cli = join(tmp, 'cli.js');
  let server: MockServer;

  before(async function () {
    if (!py.python) this.skip();
    await build({ entryPoints: [join(REPO, 'src/cli/index.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    server = await startMockServer({ respond: codeWritingModel, logLimit: 100 });
  });
  after(async () => server?.close());

  it('writes solutions with real outputs and boxed answers; grade marks them correct; export keeps the blocks', async () => {
    const input = join(tmp, 'small.jsonl');
    const output = join(tmp, 'small.out.jsonl');
    writeFileSync(input, codeProblems(5).map((r) => JSON.stringify(r)).join('\n') + '\n');
    const dry = await runCli(cli, ['generate', '--input', input, '--prompt', 'gsm8k_text_with_code', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /# code execution: <llm-code> \.\.\. <\/llm-code> blocks run in local python3 \(up to 8 per solution, 10 s each/);
    const base = ['generate', '--input', input, '--output', output, '--prompt', 'gsm8k_text_with_code', '--base-url', server.url, '--model', 'm', '--num-seeds', '2', '--python', py.python!, '--no-progress'];
    const r = await runCli(cli, base);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /sdg: code execution: .*Python 3\.\d+/);
    const rows = rowsOf(output);
    assert.equal(rows.length, 10);
    for (const row of rows) {
      assert.match(row.generation, /<llm-code-output>\n\d+\n<\/llm-code-output>\nThe answer is \\boxed\{\d+\}\.$/);
      assert.equal(row.code_executions, row.seed === 1 ? 3 : 2);
      assert.equal(row.code_execution_failed, row.seed === 1);
    }
    const config = JSON.parse(readFileSync(`${output}.run/config.json`, 'utf8'));
    assert.equal(config.code_execution.code_end, '</llm-code>');
    assert.equal(config.code_execution.max_executions, 8);

    const graded = join(tmp, 'small.graded.jsonl');
    const g = await runCli(cli, ['grade', '--input', output, '--output', graded]);
    assert.equal(g.code, 0, g.stderr);
    const gradedRows = rowsOf(graded);
    assert.equal(gradedRows.filter((x) => x.is_correct === true).length, 10, JSON.stringify(gradedRows.map((x) => [x.predicted_answer, x.expected_answer])));

    const sft = join(tmp, 'small.sft.jsonl');
    const e = await runCli(cli, ['export-sft', '--input', graded, '--output', sft, '--format', 'messages', '--length-filter', 'none']);
    assert.equal(e.code, 0, e.stderr);
    const exported = readFileSync(sft, 'utf8');
    assert.match(exported, /<llm-code>\\nproduct = \d+ \* \d+\\nproduct\\n<\/llm-code>\\n<llm-code-output>\\n\d+\\n<\/llm-code-output>/);

    // Same command again: everything is done, nothing is requested.
    server.resetStats();
    const again = await runCli(cli, base);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(server.stats.completed, 0);
    assert.equal(rowsOf(output).length, 10);
    // What the model sees may not change on resume (where the code runs may).
    const changed = await runCli(cli, [...base, '--max-code-executions', '3']);
    assert.equal(changed.code, 1);
    assert.match(changed.stderr, /code_execution\.max_executions/);
  });

  it('a SIGKILL mid-solution, then the same command: every item once, all correct, no Python left behind', async () => {
    const input = join(tmp, 'big.jsonl');
    const output = join(tmp, 'big.out.jsonl');
    const problems = codeProblems(30);
    writeFileSync(input, problems.map((r) => JSON.stringify(r)).join('\n') + '\n');
    server.configure({ latency: { fixedMs: 150 } });
    server.resetStats();
    const args = ['generate', '--input', input, '--output', output, '--prompt', 'gsm8k_text_with_code', '--base-url', server.url, '--model', 'm',
      '--num-seeds', '2', '--concurrency', '8', '--python', py.python!, '--sandbox-workers', '2', '--no-progress'];
    const first = startCli(cli, args);
    // Wait until some items are written and others are between their blocks (continuations in flight).
    const deadline = Date.now() + 60_000;
    let workers: number[] = [];
    let workerDirs: string[] = [];
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      const written = existsSync(output) ? rowsOf(output).length : 0;
      // The sandbox workers: children working in <sandbox root>/w-XXXX (or a solution folder inside it).
      const found: Array<{ pid: number; dir: string }> = [];
      for (const p of childrenOf(first.child.pid!)) {
        try {
          const m = /^(.*\/sdg-sandbox-[^/]+\/w-[^/]+)/.exec(readlinkSync(`/proc/${p}/cwd`));
          if (m) found.push({ pid: p, dir: m[1]! });
        } catch {
          /* exited meanwhile */
        }
      }
      if (found.length) {
        workers = found.map((f) => f.pid);
        workerDirs = found.map((f) => f.dir);
      }
      if (written >= 6 && server.stats.inFlight > 0) break;
    }
    assert.ok(workers.length >= 1, 'no python worker seen under the CLI');
    first.child.kill('SIGKILL');
    const killed = await first.done;
    assert.equal(killed.signal, 'SIGKILL');
    const before = rowsOf(output).length;
    assert.ok(before > 0 && before < problems.length * 2, `rows before the resume: ${before}`);
    // The workers see their request pipe close and exit (removing their folders).
    const until = Date.now() + 10_000;
    while (workers.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(workers.filter(alive), [], 'python workers outlived the killed run');
    // ... and their folders (and the run's sandbox folder) are gone with them.
    for (const dir of workerDirs) assert.equal(existsSync(dir), false, `left behind: ${dir}`);
    assert.ok(workerDirs.length > 0);
    const root = dirname(workerDirs[0]!);
    assert.match(root, /sdg-sandbox-/);
    assert.equal(existsSync(root), false, `left behind: ${root}`);

    server.configure({ latency: 0 });
    const second = await runCli(cli, args);
    assert.equal(second.code, 0, second.stderr);
    const rows = rowsOf(output);
    const keys = rows.map((r) => `${r.input_index}:${r.seed}`);
    assert.equal(new Set(keys).size, keys.length, 'duplicated items');
    assert.equal(rows.length, problems.length * 2);
    for (const r of rows) {
      assert.equal(r.error, null);
      assert.ok(r.generation.endsWith(`\\boxed{${r.expected_answer}}.`), r.generation);
    }
    const manifest = JSON.parse(readFileSync(`${output}.run/manifest.json`, 'utf8'));
    assert.equal(manifest.status, 'completed');
    assert.equal(manifest.counts.done, problems.length * 2);
  });
});
