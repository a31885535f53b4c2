/**
 * `sdg slurm generate` against a real Slurm: a single-node cluster on loopback (slurmctld, slurmd
 * and munged from Debian's packages, started by scripts/setup-slurm.sh in a temp folder and
 * stopped by PID afterwards). The array tasks start a mock model server each (a free port, health
 * wait, stop by PID), run `sdg generate` on their seeds and chunk, and the merge job joins them.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';

const REPO = resolve(__dirname, '../..');
const SETUP = join(REPO, 'scripts/setup-slurm.sh');

describe('sdg slurm on a real single-node Slurm cluster', function () {
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-slurm-real-'));
  const clusterDir = join(tmp, 'cluster');
  const work = join(tmp, 'work');
  const cli = join(tmp, 'cli.js');
  const mock = join(tmp, 'mock.js');
  let env: NodeJS.ProcessEnv = {};

  before(async function () {
    this.timeout(15 * 60_000); // a cold machine installs the packages first
    const install = spawnSync('bash', [SETUP, 'install'], { stdio: ['ignore', 'inherit', 'inherit'] });
    assert.equal(install.status, 0, 'installing slurm + munge failed');
    const started = spawnSync('bash', [SETUP, 'start', clusterDir], { encoding: 'utf8' });
    if (started.status !== 0) {
      const logs = existsSync(join(clusterDir, 'log')) ? readdirSync(join(clusterDir, 'log')).map((f) => `--- ${f}\n${readFileSync(join(clusterDir, 'log', f), 'utf8').slice(-2000)}`).join('\n') : '';
      throw new Error(`the test cluster did not start:\n${started.stderr}\n${logs}`);
    }
    const vars = Object.fromEntries(started.stdout.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
    env = { ...process.env, SLURM_CONF: vars.SLURM_CONF, SDG_PROMPTS_DIR: join(REPO, 'prompts') };
    await build({ entryPoints: [join(REPO, 'src/cli/index.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    await build({ entryPoints: [join(REPO, 'test/support/mockServerMain.ts')], outfile: mock, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    mkdirSync(work, { recursive: true });
    writeFileSync(join(work, 'in.jsonl'), Array.from({ length: 9 }, (_, i) => JSON.stringify({ question: `Tom has ${i} apples and buys 2. How many now?`, answer: `${i} + 2 = ${i + 2}\n#### ${i + 2}` })).join('\n') + '\n');
  });

  after(function () {
    this.timeout(60_000);
    // Every daemon by its PID (setup-slurm.sh stop reads the pid files it wrote).
    spawnSync('bash', [SETUP, 'stop', clusterDir], { stdio: 'inherit' });
    rmSync(tmp, { recursive: true, force: true });
  });

  function sdg(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((res) => {
      const child = spawn(process.execPath, [cli, ...args], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => res({ code, stdout, stderr }));
    });
  }

  function jobState(id: string): string {
    const r = spawnSync('scontrol', ['show', 'job', id], { env, encoding: 'utf8' });
    // An array job shows one record per task: all must have ended.
    const states = [...r.stdout.matchAll(/JobState=(\S+)/g)].map((m) => m[1]);
    if (!states.length) return 'UNKNOWN';
    const ended = ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY'];
    return states.every((s) => ended.includes(s)) ? (states.every((s) => s === 'COMPLETED') ? 'COMPLETED' : states.join(',')) : 'RUNNING';
  }

  async function waitJob(id: string, ms = 240_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const s = jobState(id);
      if (s !== 'RUNNING' && s !== 'UNKNOWN') return s;
      if (Date.now() > end) throw new Error(`job ${id} still ${s} after ${ms / 1000} s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }

  const args = (output: string) => ['slurm', 'generate', '--input', 'in.jsonl', '--output', output, '--prompt', 'gsm8k_text', '--model', 'teacher',
    '--num-seeds', '4', '--seeds-per-task', '2', '--num-samples', '2', '--num-chunks', '2', '--partition', 'debug', '--time', '10', '--cpus-per-task', '1',
    '--server-command', `${process.execPath} ${mock} --port {port} --latency-ms 2 --models {model}`, '--server-timeout', '120', '--sdg', `${process.execPath} ${cli}`];

  it('sbatch --test-only accepts the generated scripts', async () => {
    const r = await sdg([...args('dry/out.jsonl'), '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    for (const script of ['array.sbatch', 'merge.sbatch']) {
      const t = spawnSync('sbatch', ['--test-only', join(work, 'dry/out.jsonl.slurm', script)], { env, encoding: 'utf8' });
      assert.equal(t.status, 0, `${script}: ${t.stderr}`);
      assert.match(t.stderr, /to start at/);
    }
  });

  it('runs the array (server per task), a continuation and the merge job', async () => {
    const r = await sdg([...args('out/labels.jsonl'), '--continuations', '1']);
    assert.equal(r.code, 0, r.stderr);
    const ids = Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split(' ')));
    assert.ok(ids.array && ids.continuation && ids.merge, r.stdout);
    const mergeState = await waitJob(ids.merge);
    const logs = join(work, 'out/labels.jsonl.slurm/logs');
    const allLogs = () => readdirSync(logs).map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8').slice(-1500)}`).join('\n');
    assert.equal(mergeState, 'COMPLETED', allLogs());
    assert.equal(jobState(ids.array), 'COMPLETED', allLogs());
    const rows = readFileSync(join(work, 'out/labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 9 * 4 * 2);
    assert.equal(new Set(rows.map((x) => `${x.input_index}:${x.seed}:${x.sample_index}`)).size, rows.length);
    assert.ok(rows.every((x) => x.error === null && x.expected_answer !== null));
    // The continuation found every chunk complete and started no server.
    const continuationLogs = readdirSync(logs).filter((f) => f.startsWith(`task-${ids.continuation}_`));
    assert.equal(continuationLogs.length, 4);
    for (const f of continuationLogs) assert.match(readFileSync(join(logs, f), 'utf8'), /already complete/);
    // Each task's server was stopped by the task (SIGTERM: the mock prints its stats).
    const serverLogs = readdirSync(logs).filter((f) => f.startsWith('server-'));
    assert.equal(serverLogs.length, 4);
    for (const f of serverLogs) assert.match(readFileSync(join(logs, f), 'utf8'), /"completed":\d+/, f);
    assert.match(readFileSync(join(logs, readdirSync(logs).find((f) => f.startsWith('merge-'))!), 'utf8'), /complete -> /);
  });

  it('a task cut by its time limit is resumed by the continuation job', async function () {
    this.timeout(10 * 60_000);
    // 12 requests of 10 s each, one at a time, under a 1-minute limit: Slurm kills the first
    // array task midway (SIGTERM, then SIGKILL); continuations resume from the rows on disk.
    writeFileSync(join(work, 'slow.jsonl'), Array.from({ length: 6 }, (_, i) => JSON.stringify({ problem: `What is ${i} + 3?`, expected_answer: String(i + 3) })).join('\n') + '\n');
    const r = await sdg(['slurm', 'generate', '--input', 'slow.jsonl', '--output', 'slow/out.jsonl', '--prompt', 'generic_math', '--model', 'teacher',
      '--num-seeds', '2', '--num-chunks', '1', '--concurrency', '1', '--partition', 'debug', '--time', '1', '--continuations', '3',
      '--server-command', `${process.execPath} ${mock} --port {port} --latency-ms 10000`, '--server-timeout', '60', '--sdg', `${process.execPath} ${cli}`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
    const arrays = lines.filter(([k]) => k === 'array' || k === 'continuation').map(([, id]) => id);
    const merge = lines.find(([k]) => k === 'merge')![1];
    const logs = join(work, 'slow/out.jsonl.slurm/logs');
    const allLogs = () => readdirSync(logs).map((f) => `--- ${f}\n${readFileSync(join(logs, f), 'utf8').slice(-1500)}`).join('\n');
    assert.equal(await waitJob(merge, 8 * 60_000), 'COMPLETED', allLogs());
    assert.equal(jobState(arrays[0]), 'TIMEOUT', `the first array task should hit its time limit\n${allLogs()}`);
    const rows = readFileSync(join(work, 'slow/out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 12);
    assert.equal(new Set(rows.map((x) => `${x.input_index}:${x.seed}`)).size, 12);
    // The next array resumed: it found rows already done.
    const second = readFileSync(join(logs, `task-${arrays[1]}_0.log`), 'utf8');
    assert.match(second, /already done before|already complete/, second);
  });

  it('a lost chunk: merge names it, the printed sbatch command reruns it, the merge completes', async () => {
    rmSync(join(work, 'out/labels-seeds0-1-chunk1.jsonl'));
    rmSync(join(work, 'out/labels-seeds0-1-chunk1.jsonl.run'), { recursive: true });
    const m = await sdg(['merge', '--output', 'out/again.jsonl', '--pattern', 'out/labels-seeds*-chunk*.jsonl']);
    assert.equal(m.code, 2, m.stderr);
    const resubmit = m.stdout.split('\n')[0];
    assert.match(resubmit, /^sbatch --array=1 .*array\.sbatch$/);
    const sub = spawnSync('bash', ['-c', resubmit.replace(/^sbatch /, 'sbatch --parsable ')], { cwd: work, env, encoding: 'utf8' });
    assert.equal(sub.status, 0, sub.stderr);
    assert.equal(await waitJob(sub.stdout.trim().split(';')[0]), 'COMPLETED');
    const m2 = await sdg(['merge', '--output', 'out/again.jsonl', '--pattern', 'out/labels-seeds*-chunk*.jsonl']);
    assert.equal(m2.code, 0, m2.stderr);
    assert.equal(readFileSync(join(work, 'out/again.jsonl'), 'utf8').trim().split('\n').length, 9 * 4 * 2);
  });
});
