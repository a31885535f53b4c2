import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { ValidationError } from '../../src/core/config/yamlSource';
import { buildSlurmPlan, checkClusterProfile, loadClusterProfile, planTasks, renderServerCommand, stripFlags, type SlurmJobSpec } from '../../src/core/scale/slurm';
import { splitSlurmArgs } from '../../src/cli/commands/slurm';
import { startMockServer } from '../support/mockServer';

const REPO = resolve(__dirname, '../..');

function bashSyntax(script: string): string {
  const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  return r.status === 0 ? '' : r.stderr;
}

function spec(over: Partial<SlurmJobSpec> = {}): SlurmJobSpec {
  return {
    generateArgs: ['--input', 'data/in put.jsonl', '--prompt', 'gsm8k_text', '--model', "Qwen/it's", '--output', 'x.jsonl', '--num-seeds', '8', '--temperature', '0.7', '--stop', '\\n$(rm -rf ~)', '--overwrite'],
    output: 'labels/out.jsonl', model: "Qwen/it's", startSeed: 0, numSeeds: 8, seedsPerTask: 4, numChunks: 3,
    cluster: { partition: 'gpu', account: 'proj_1', time: '04:00:00', gpusPerNode: 8, setup: ['module load cuda/12.4', 'source "$HOME/venv/bin/activate"'], serverCommand: 'vllm serve {model} --port {port} --tensor-parallel-size {gpus}', maxParallel: 4, requeue: true, sbatchArgs: ['--exclusive'] },
    scriptDir: '/scratch/job/out.jsonl.slurm', cwd: '/home/me/work dir', sdg: ['/usr/bin/node', '/opt/sdg/dist/cli.js'], name: 'sdg-out',
    ...over,
  };
}

describe('Slurm scripts (scale-out)', function () {
  this.timeout(120_000);

  it('numbers tasks seed range x chunk and names their outputs', () => {
    const tasks = planTasks({ output: 'o/out.jsonl', startSeed: 10, numSeeds: 5, seedsPerTask: 2, numChunks: 2 });
    assert.deepEqual(tasks.map((t) => [t.id, t.startSeed, t.numSeeds, t.chunkId, t.chunkOutput]), [
      [0, 10, 2, 0, 'o/out-seeds10-11-chunk0.jsonl'], [1, 10, 2, 1, 'o/out-seeds10-11-chunk1.jsonl'],
      [2, 12, 2, 0, 'o/out-seeds12-13-chunk0.jsonl'], [3, 12, 2, 1, 'o/out-seeds12-13-chunk1.jsonl'],
      [4, 14, 1, 0, 'o/out-seeds14-14-chunk0.jsonl'], [5, 14, 1, 1, 'o/out-seeds14-14-chunk1.jsonl'],
    ]);
    assert.deepEqual(planTasks({ output: 'out.jsonl', startSeed: 0, numSeeds: 4, numChunks: 2 }).map((t) => t.chunkOutput), ['out-chunk0.jsonl', 'out-chunk1.jsonl']);
  });

  it('writes readable, valid bash with every user value quoted', () => {
    const plan = buildSlurmPlan(spec());
    assert.equal(bashSyntax(plan.arrayScript), '');
    assert.equal(bashSyntax(plan.mergeScript), '');
    const a = plan.arrayScript;
    for (const line of ['#SBATCH --array=0-5%4', '#SBATCH --partition=gpu', '#SBATCH --account=proj_1', '#SBATCH --time=04:00:00', '#SBATCH --gpus-per-node=8', '#SBATCH --requeue', '#SBATCH --exclusive',
      '#SBATCH --output=/scratch/job/out.jsonl.slurm/logs/task-%A_%a.log', 'set -euo pipefail', 'module load cuda/12.4', "cd '/home/me/work dir'", 'NUM_CHUNKS=3', 'SEED_STARTS=(0 4)', 'SEED_COUNTS=(4 4)',
      'trap stop_server EXIT', 'PORT=$("${SDG[@]}" slurm free-port)']) {
      assert.ok(a.split('\n').includes(line), `array script lacks: ${line}\n${a}`);
    }
    // The server command: the model quoted inside the quoted bash -c argument; the port from the task.
    assert.equal(renderServerCommand('vllm serve {model} --port {port} -tp {gpus}', "Qwen/it's", 8), `vllm serve 'Qwen/it'\\''s' --port "$PORT" -tp 8`);
    assert.match(a, /setsid bash -c 'vllm serve '\\''Qwen\/it'\\''\\'\\'''\\''s'\\'' --port "\$PORT" --tensor-parallel-size 8' >"\$SERVER_LOG" 2>&1 &/);
    // Pass-through flags quoted; per-task ones, --overwrite and --base-url (server per task) left out.
    assert.match(a, /generate --input 'data\/in put\.jsonl' --prompt gsm8k_text --model 'Qwen\/it'\\''s' --temperature 0\.7 --stop '\\n\$\(rm -rf ~\)' \\/);
    assert.ok(!/--overwrite|--output x\.jsonl|--num-seeds 8/.test(a));
    assert.match(a, /--num-chunks "\$NUM_CHUNKS" --chunk-id "\$CHUNK" --base-url "http:\/\/127\.0\.0\.1:\$PORT\/v1" --no-progress/);
    const m = plan.mergeScript;
    assert.match(m, /#SBATCH --job-name=sdg-out-merge/);
    assert.ok(!m.includes('--gpus-per-node'), 'the merge job asks for no GPU');
    assert.match(m, /merge --output labels\/out\.jsonl --num-chunks 3 --start-seed 0 --num-seeds 8 \\\n  labels\/out-seeds0-3-chunk0\.jsonl \\/);
    // Values sbatch reads itself are checked, not quoted.
    assert.throws(() => buildSlurmPlan(spec({ cluster: { partition: 'gpu --wrap=evil' } })), /partition: "gpu --wrap=evil" has characters sbatch cannot take/);
    assert.throws(() => buildSlurmPlan(spec({ cluster: { time: '4 hours' } })), /time: "4 hours" is not a Slurm time/);
    assert.throws(() => buildSlurmPlan(spec({ cluster: { serverCommand: 'vllm serve {model}' } })), /must contain \{port\}/);
    assert.throws(() => buildSlurmPlan(spec({ cluster: { serverCommand: 'x --port {port} {gpu}' } })), /unknown placeholder \{gpu\}/);
    assert.throws(() => buildSlurmPlan(spec({ cluster: { sbatchArgs: ['--constraint=a b'] } })), /one sbatch option per entry/);
    assert.throws(() => buildSlurmPlan(spec({ scriptDir: '/tmp/my jobs' })), /without spaces or quotes/);
    // Without a server command: no server section, --base-url passes through.
    const plain = buildSlurmPlan(spec({ cluster: {}, generateArgs: ['--input', 'in.jsonl', '--base-url', 'http://gpu1:8000/v1,http://gpu2:8000/v1'] }));
    assert.equal(bashSyntax(plain.arrayScript), '');
    assert.ok(!plain.arrayScript.includes('SERVER_PID'));
    assert.match(plain.arrayScript, /--base-url http:\/\/gpu1:8000\/v1,http:\/\/gpu2:8000\/v1/);
    assert.deepEqual(stripFlags(['--output=a', '--x', '1', '--num-seeds', '3', '--no-progress'], new Set(['--output', '--num-seeds'])), ['--x', '1']);
  });

  it('cluster profiles: YAML with file:line:field errors; flags override', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sdg-cluster-'));
    const good = join(dir, 'cluster.yaml');
    writeFileSync(good, 'partition: gpu\naccount: proj\ntime: "04:00:00"\ngpus_per_node: 8\nsetup:\n  - module load cuda\nserver_command: "vllm serve {model} --port {port}"\ncontinuations: 2\nrequeue: true\n');
    assert.deepEqual(loadClusterProfile(good), { partition: 'gpu', account: 'proj', time: '04:00:00', gpusPerNode: 8, setup: ['module load cuda'], serverCommand: 'vllm serve {model} --port {port}', continuations: 2, requeue: true });
    const cases: Array<[string, RegExp]> = [
      ['partition: gpu\ngpu_per_node: 8\n', /cluster\.yaml:2(:\d+)?: gpu_per_node: unknown key/],
      ['partition: gpu\ngpus_per_node: many\n', /:2(:\d+)?: gpus_per_node: expected a whole number/],
      ['time: "4h"\n', /:1(:\d+)?: time: "4h" is not a Slurm time/],
      ['setup:\n  - ok\n  - 3\n', /:3(:\d+)?: setup\[1\]: expected a string/],
      ['server_command: "serve --port 1"\n', /:1(:\d+)?: server_command: must contain \{port\}/],
      ['- a\n', /cluster\.yaml(:1)?: expected a mapping/],
    ];
    for (const [text, re] of cases) {
      const f = join(dir, 'cluster.yaml');
      writeFileSync(f, text);
      assert.throws(() => loadClusterProfile(f), (e: unknown) => e instanceof ValidationError && re.test(e.message), text);
    }
    writeFileSync(good, 'partition: gpu\ntime: "04:00:00"\nsetup: [module load a]\nsbatch_args: [--exclusive]\n');
    const { own, generateArgs } = splitSlurmArgs(['--input', 'in.jsonl', '--cluster-profile', good, '--time=01:00:00', '--setup', 'module load b', '--dry-run', '--model', 'm', '--seeds-per-task', '2', '--sbatch-arg', '--constraint=h100']);
    assert.deepEqual(generateArgs, ['--input', 'in.jsonl', '--model', 'm']);
    assert.equal(own.dryRun, true);
    assert.equal(own.seedsPerTask, 2);
    assert.deepEqual(own.profile, { partition: 'gpu', time: '01:00:00', setup: ['module load a', 'module load b'], sbatchArgs: ['--exclusive', '--constraint=h100'] });
    assert.deepEqual(checkClusterProfile({ healthPath: 'health' }).map((p) => p.field), ['healthPath']);
    rmSync(dir, { recursive: true, force: true });
  });

  describe('end to end with a fake sbatch (tasks run locally)', () => {
    let tmp = '', cli = '', mock = '', bin = '', state = '', work = '';

    before(async () => {
      tmp = mkdtempSync(join(tmpdir(), 'sdg-slurm-fake-'));
      [cli, mock, bin, state, work] = ['cli.js', 'mock.js', 'bin', 'state', 'work'].map((n) => join(tmp, n));
      await build({ entryPoints: [join(REPO, 'src/cli/index.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
      await build({ entryPoints: [join(REPO, 'test/support/mockServerMain.ts')], outfile: mock, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
      for (const d of [bin, state, work]) mkdirSync(d, { recursive: true });
      symlinkSync(join(REPO, 'test/slurm/fake-sbatch.sh'), join(bin, 'sbatch'));
      writeFileSync(join(work, 'in.jsonl'), Array.from({ length: 7 }, (_, i) => JSON.stringify({ problem: `What is ${i} + 1?`, expected_answer: String(i + 1) })).join('\n') + '\n');
    });
    after(() => rmSync(tmp, { recursive: true, force: true }));

    function sdg(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      return new Promise((res) => {
        const child = spawn(process.execPath, [cli, ...args], {
          cwd: work,
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SBATCH_STATE: state, SDG_PROMPTS_DIR: join(REPO, 'prompts') },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (code) => res({ code, stdout, stderr }));
      });
    }

    it('array with a server per task, a continuation and the merge; a lost chunk is named and resubmitted', async () => {
      const args = ['slurm', 'generate', '--input', 'in.jsonl', '--output', 'out/labels.jsonl', '--prompt', 'generic_math', '--model', 'tiny model',
        '--num-seeds', '4', '--seeds-per-task', '2', '--num-samples', '2', '--num-chunks', '3', '--time', '10',
        '--server-command', `${process.execPath} ${mock} --port {port} --latency-ms 1 --models {model}`, '--server-timeout', '60', '--continuations', '1', '--sdg', `${process.execPath} ${cli}`];
      const dry = await sdg([...args, '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /#SBATCH --array=0-5\n/);
      assert.ok(!existsSync(join(state, 'submitted')), 'a dry run submits nothing');

      const r = await sdg(args);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split('\n'), ['array 101', 'continuation 102', 'merge 103']);
      const submitted = readFileSync(join(state, 'submitted'), 'utf8');
      assert.match(submitted, /^102 --parsable --dependency=afterany:101 .*array\.sbatch$/m);
      assert.match(submitted, /^103 --parsable --dependency=afterany:102 .*merge\.sbatch$/m);
      const failures = existsSync(join(state, 'failures')) ? readFileSync(join(state, 'failures'), 'utf8') : '';
      assert.equal(failures, '', failures && readFileSync(failures.trim().split(' ').at(-1)!, 'utf8'));
      const merged = readFileSync(join(work, 'out/labels.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.equal(merged.length, 7 * 4 * 2);
      assert.equal(new Set(merged.map((x) => `${x.input_index}:${x.seed}:${x.sample_index}`)).size, merged.length);
      const logs = join(work, 'out/labels.jsonl.slurm/logs');
      // Continuation tasks found their chunks done and started no server.
      assert.match(readFileSync(join(logs, 'task-102_4.log'), 'utf8'), /sdg task 4: already complete/);
      const serverLogs = readdirSync(logs).filter((n) => n.startsWith('server-'));
      assert.equal(serverLogs.length, 6, serverLogs.join(' '));
      // Each server got SIGTERM (the mock prints its stats when it stops).
      for (const n of serverLogs) assert.match(readFileSync(join(logs, n), 'utf8'), /"completed":\d+/, n);
      assert.match(readFileSync(join(work, 'out/labels-seeds2-3-chunk1.jsonl.run/command.json'), 'utf8'), /"arrayTaskId": 4/);

      // Lose a chunk: the merge job fails and names the array task to resubmit.
      rmSync(join(work, 'out/labels-seeds2-3-chunk1.jsonl'));
      rmSync(join(work, 'out/labels-seeds2-3-chunk1.jsonl.run'), { recursive: true });
      rmSync(join(work, 'out/labels.jsonl'));
      const m = await sdg(['merge', '--output', 'out/labels.jsonl', '--pattern', 'out/labels-seeds*-chunk*.jsonl', '--num-seeds', '4']);
      assert.equal(m.code, 2, m.stderr);
      assert.match(m.stderr, /chunk 1 seeds 2\.\.3: 4 missing, no output yet/);
      const rerun = m.stdout.trim().split('\n');
      assert.match(rerun[0], /^sbatch --array=4 .*array\.sbatch$/);
      assert.equal(rerun.length, 1, 'a Slurm chunk is resubmitted, not run against its task\'s (gone) server');
      const report = JSON.parse((await sdg(['merge', '--output', 'out/labels.jsonl', '--pattern', 'out/labels-seeds*-chunk*.jsonl', '--json'])).stdout);
      assert.match(report.shards.find((x: { chunkId: number; startSeed: number }) => x.chunkId === 1 && x.startSeed === 2).command, /generate .*--chunk-id 1 /);
      const again = spawnSync('bash', ['-c', rerun[0]], { cwd: work, env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, FAKE_SBATCH_STATE: state, SDG_PROMPTS_DIR: join(REPO, 'prompts') }, encoding: 'utf8' });
      assert.equal(again.status, 0, again.stderr);
      const m2 = await sdg(['merge', '--output', 'out/labels.jsonl', '--pattern', 'out/labels-seeds*-chunk*.jsonl']);
      assert.equal(m2.code, 0, m2.stderr);
      assert.match(m2.stderr, /complete -> /);
    });

    it('sdg generate: a pool from --base-url values, per-server counts at the end; a chunk\'s dry-run plan', async () => {
      const [x, y] = await Promise.all([startMockServer({ latency: 2 }), startMockServer({ latency: 2 })]);
      try {
        const r = await sdg(['generate', '--input', 'in.jsonl', '--output', 'pool/out.jsonl', '--prompt', 'generic_math', '--model', 'm', '--num-seeds', '6',
          '--base-url', `${x.url},${y.url}#weight=2&max=4`, '--concurrency', '8', '--no-progress']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`sdg: servers:\\n  ${x.url.replace(/[.]/g, '\\.')}: \\d+ done, 0 failed.*\\n  ${y.url.replace(/[.]/g, '\\.')}: \\d+ done, 0 failed`));
        assert.equal(x.stats.completed + y.stats.completed, 42);
        assert.ok(x.stats.completed > 0 && y.stats.completed > 0);
        assert.ok(y.stats.maxInFlight <= 4);
        const bad = await sdg(['generate', '--input', 'in.jsonl', '--output', 'pool/o2.jsonl', '--prompt', 'generic_math', '--model', 'm', '--base-url', `${x.url}#weight=0`]);
        assert.equal(bad.code, 1);
        assert.match(bad.stderr, /weight must be a positive number/);
        const dup = await sdg(['generate', '--input', 'in.jsonl', '--output', 'pool/o2.jsonl', '--prompt', 'generic_math', '--model', 'm', '--base-url', x.url, '--base-url', x.url]);
        assert.equal(dup.code, 1);
        assert.match(dup.stderr, /listed twice/);
      } finally {
        await Promise.all([x.close(), y.close()]);
      }
      const dry = await sdg(['generate', '--input', 'in.jsonl', '--output', 'o.jsonl', '--prompt', 'generic_math', '--num-seeds', '2', '--num-chunks', '3', '--chunk-id', '1', '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /# chunk 1 of 3: input rows with input_index % 3 == 1 -> o-chunk1\.jsonl/);
      assert.match(dry.stdout, /2 problems x 2 seeds = 4 requests/);
      const badChunk = await sdg(['generate', '--input', 'in.jsonl', '--output', 'o.jsonl', '--prompt', 'generic_math', '--num-chunks', '3', '--dry-run']);
      assert.equal(badChunk.code, 1);
      assert.match(badChunk.stderr, /--num-chunks needs --chunk-id \(0\.\.2\)/);
    });

    it('refuses bad combinations before writing anything', async () => {
      const base = ['slurm', 'generate', '--input', 'in.jsonl', '--output', 'o.jsonl', '--prompt', 'generic_math', '--model', 'm', '--dry-run'];
      for (const [extra, re] of [
        [[], /--num-chunks N is required/],
        [['--num-chunks', '2'], /give --base-url .* or --server-command/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--server-command', 'x --port {port}'], /leave out --base-url/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--chunk-id', '1'], /--chunk-id is set per array task/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--temperature', 'hot'], /--temperature must be a number/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--bogus'], /unknown option '--bogus'/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--partition', 'a b'], /partition: "a b" has characters/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--prompt', 'no_such_prompt'], /no_such_prompt/],
        [['--num-chunks', '2', '--base-url', 'http://a/v1', '--input', 'missing.jsonl'], /missing\.jsonl.*file not found/],
      ] as Array<[string[], RegExp]>) {
        const r = await sdg([...base, ...extra]);
        assert.equal(r.code, 1, `${extra.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, re);
      }
    });
  });
});
