/**
 * `sdg slurm generate <sdg generate flags> --num-chunks N [cluster flags] [--dry-run]`: writes and
 * submits the sbatch scripts of a sharded labeling job (src/core/scale/slurm.ts, docs/scale-out.md).
 * Helper sub-commands the generated scripts call on the nodes:
 *   sdg slurm free-port                  print a free TCP port on 127.0.0.1
 *   sdg slurm wait-server --url U --pid P --timeout S [--log F]
 *                                        wait until U answers (exit 1 if P dies or on time-out)
 *   sdg slurm chunk-done FILE            exit 0 when FILE's run finished with every item done
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { isPidAlive, readManifest } from '../../core/run/manifest';
import { currentCommand } from '../../core/scale/command';
import { buildSlurmPlan, loadClusterProfile, type ClusterProfile, type SlurmPlan } from '../../core/scale/slurm';
import { shellJoin } from '../../core/scale/shell';
import { prepareGeneration } from '../../core/generate';
import { chunkFromFlags, optionsFromFlags, register as registerGenerate } from './generate';

/** Flags of `sdg slurm generate` itself: name -> [profile field, kind]. Everything else goes to sdg generate. */
const OWN_FLAGS: Record<string, { field?: keyof ClusterProfile; kind: 'string' | 'int' | 'list' | 'bool' }> = {
  '--cluster-profile': { kind: 'string' },
  '--partition': { field: 'partition', kind: 'string' },
  '--account': { field: 'account', kind: 'string' },
  '--qos': { field: 'qos', kind: 'string' },
  '--time': { field: 'time', kind: 'string' },
  '--gpus-per-node': { field: 'gpusPerNode', kind: 'int' },
  '--nodes-per-task': { field: 'nodesPerTask', kind: 'int' },
  '--cpus-per-task': { field: 'cpusPerTask', kind: 'int' },
  '--mem': { field: 'mem', kind: 'string' },
  '--setup': { field: 'setup', kind: 'list' },
  '--container-image': { field: 'containerImage', kind: 'string' },
  '--server-command': { field: 'serverCommand', kind: 'string' },
  '--server-timeout': { field: 'serverTimeout', kind: 'int' },
  '--health-path': { field: 'healthPath', kind: 'string' },
  '--sbatch-arg': { field: 'sbatchArgs', kind: 'list' },
  '--max-parallel': { field: 'maxParallel', kind: 'int' },
  '--continuations': { field: 'continuations', kind: 'int' },
  '--requeue': { field: 'requeue', kind: 'bool' },
  '--merge-time': { field: 'mergeTime', kind: 'string' },
  '--seeds-per-task': { kind: 'int' },
  '--script-dir': { kind: 'string' },
  '--output-dir': { kind: 'string' },
  '--sdg': { kind: 'string' },
  '--job-name': { kind: 'string' },
  '--dry-run': { kind: 'bool' },
};

const USAGE = `Usage: sdg slurm generate <sdg generate flags> --num-chunks N [options]

Writes sbatch scripts for a sharded sdg generate (a job array over seed ranges x chunks, optional
continuation arrays, a final merge job) and submits them with sbatch (prints the job ids).

Options (flags override the cluster profile):
  --cluster-profile FILE.yaml   partition, account, qos, time, gpus_per_node, nodes_per_task, cpus_per_task,
                                mem, setup, container_image, server_command, server_timeout, health_path,
                                sbatch_args, max_parallel, continuations, requeue, merge_time
  --partition P --account A --qos Q --time 04:00:00 --gpus-per-node G --nodes-per-task N
  --cpus-per-task C --mem 64G
  --setup 'module load cuda'    shell line run first in every job (repeatable)
  --server-command 'vllm serve {model} --port {port} --tensor-parallel-size {gpus}'
                                start a server per task on a free port (then no --base-url)
  --container-image IMG         run the server command in this image (pyxis: srun --container-image)
  --server-timeout SECONDS      wait this long for the server to answer (default 1800)
  --health-path /v1/models      path polled on the server
  --seeds-per-task K            split the seeds over tasks too (default: all seeds in each task)
  --max-parallel M              array tasks running at once
  --continuations K             K follow-up arrays (afterany) that resume what a time limit cut
  --requeue                     let Slurm requeue preempted tasks
  --sbatch-arg --exclusive      extra sbatch option for the array (repeatable)
  --script-dir DIR              where scripts and logs go (default: OUTPUT.slurm/; --output-dir is an alias)
  --sdg 'node /path/cli.js'     how to start sdg on the nodes (default: as it was started now)
  --job-name NAME               (default: sdg-<output name>)
  --dry-run                     write and print the scripts, submit nothing`;

interface OwnValues {
  profile: ClusterProfile;
  profileFile?: string;
  seedsPerTask?: number;
  scriptDir?: string;
  sdg?: string;
  jobName?: string;
  dryRun: boolean;
}

/** Splits `sdg slurm generate` arguments into its own settings and the `sdg generate` arguments. */
export function splitSlurmArgs(args: readonly string[]): { own: OwnValues; generateArgs: string[] } {
  const flagsProfile: ClusterProfile = {};
  const own: OwnValues = { profile: {}, dryRun: false };
  const generateArgs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const spec = OWN_FLAGS[name];
    if (!spec) {
      generateArgs.push(a);
      continue;
    }
    let value: string | undefined;
    if (spec.kind !== 'bool') {
      value = eq > 0 && name !== a ? a.slice(eq + 1) : args[++i];
      if (value === undefined) throw new Error(`${name} needs a value`);
    }
    const n = Number(value);
    if (spec.kind === 'int' && (!Number.isInteger(n) || n < 0)) throw new Error(`${name} must be a whole number, got ${JSON.stringify(value)}`);
    switch (name) {
      case '--cluster-profile': own.profileFile = value; break;
      case '--seeds-per-task': own.seedsPerTask = n; break;
      case '--script-dir': case '--output-dir': own.scriptDir = value; break;
      case '--sdg': own.sdg = value; break;
      case '--job-name': own.jobName = value; break;
      case '--dry-run': own.dryRun = true; break;
      default: {
        const field = spec.field!;
        const rec = flagsProfile as Record<string, unknown>;
        if (spec.kind === 'list') rec[field] = [...((rec[field] as string[] | undefined) ?? []), value!];
        else if (spec.kind === 'int') rec[field] = n;
        else if (spec.kind === 'bool') rec[field] = true;
        else rec[field] = value;
      }
    }
  }
  const fromFile = own.profileFile ? loadClusterProfile(own.profileFile) : {};
  // Flags win; --setup and --sbatch-arg add to the profile's lists.
  own.profile = {
    ...fromFile,
    ...flagsProfile,
    setup: [...(fromFile.setup ?? []), ...(flagsProfile.setup ?? [])],
    sbatchArgs: [...(fromFile.sbatchArgs ?? []), ...(flagsProfile.sbatchArgs ?? [])],
  };
  return { own, generateArgs };
}

/** Parses the generate arguments with the real `sdg generate` definition (so mistakes show before submitting). */
function parseGenerateArgs(args: string[]): Record<string, any> {
  const p = new Command();
  p.exitOverride();
  p.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerGenerate(p);
  let flags: Record<string, any> | null = null;
  const gen = p.commands.find((c) => c.name() === 'generate')!;
  gen.exitOverride();
  gen.configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  gen.action((f: Record<string, any>) => { flags = f; });
  try {
    p.parse(['node', 'sdg', 'generate', ...args]);
  } catch (e) {
    throw new Error(`sdg generate flags: ${(e as Error).message.replace(/^error: /, '')}`);
  }
  return flags!;
}

function sbatch(args: string[]): string {
  const r = spawnSync('sbatch', ['--parsable', ...args], { encoding: 'utf8' });
  if (r.error) throw new Error(`sbatch: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found (is this a Slurm login node?)' : r.error.message}`);
  if (r.status !== 0) throw new Error(`sbatch ${args.join(' ')} failed: ${(r.stderr || r.stdout).trim()}`);
  // --parsable prints "jobid" or "jobid;cluster".
  return r.stdout.trim().split(';')[0];
}

/** Alive and not a zombie (an exited child its shell has not reaped yet still answers kill -0). */
function serverAlive(pid: number): boolean {
  if (!isPidAlive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): kill -0 is all there is
  }
}

export function register(program: Command): void {
  const slurm = program.command('slurm').description('Run sharded jobs on a Slurm cluster (sbatch scripts: job array, continuations, merge)');

  slurm
    .command('generate')
    .description('Write and submit sbatch scripts for a sharded sdg generate (see sdg slurm generate --help)')
    .allowUnknownOption()
    .allowExcessArguments()
    .helpOption(false)
    .argument('[args...]')
    .action(async (args: string[]) => {
      if (args.includes('--help') || args.includes('-h')) {
        process.stdout.write(USAGE + '\n');
        return;
      }
      const { own, generateArgs } = splitSlurmArgs(args);
      const flags = parseGenerateArgs(generateArgs);
      const options = optionsFromFlags(flags as any);
      if (!flags.output) throw new Error('--output is required (the merged file; chunks go beside it)');
      if (flags.chunkId !== undefined) throw new Error('--chunk-id is set per array task; leave it out');
      if (flags.numChunks === undefined) throw new Error('--num-chunks N is required (the input is split into N chunks)');
      const chunk = chunkFromFlags({ numChunks: flags.numChunks, chunkId: '0' })!;
      if (own.profile.serverCommand && flags.baseUrl.length) throw new Error('--server-command starts a server per task; leave out --base-url');
      if (!own.profile.serverCommand && !flags.baseUrl.length) throw new Error('give --base-url (servers already running) or --server-command (a server per task)');
      if (!options.endpoint.model) throw new Error('--model is required');
      // The prompt, the input's format and its first row are checked here, not hours later on a node.
      await prepareGeneration({ ...options, chunk: undefined, skipEndpointCheck: true });
      const cwd = process.cwd();
      const output = resolve(flags.output);
      const scriptDir = resolve(own.scriptDir ?? `${output}.slurm`);
      const launcher = own.sdg ? own.sdg.split(/\s+/).filter(Boolean) : currentCommand().launcher.map((w) => (w === 'node' ? process.execPath : w));
      const name = own.jobName ?? `sdg-${output.replace(/^.*\//, '').replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_')}`;
      const plan: SlurmPlan = buildSlurmPlan({
        generateArgs,
        output: flags.output,
        model: options.endpoint.model,
        startSeed: options.startSeed ?? 0,
        numSeeds: options.numSeeds ?? 1,
        seedsPerTask: own.seedsPerTask,
        numChunks: chunk.numChunks,
        cluster: own.profile,
        scriptDir,
        cwd,
        sdg: launcher,
        name,
      });
      mkdirSync(plan.logDir, { recursive: true });
      writeFileSync(plan.arrayScriptPath, plan.arrayScript);
      writeFileSync(plan.mergeScriptPath, plan.mergeScript);
      chmodSync(plan.arrayScriptPath, 0o755);
      chmodSync(plan.mergeScriptPath, 0o755);
      const continuations = own.profile.continuations ?? 0;
      if (own.dryRun) {
        process.stdout.write(`# ${plan.arrayScriptPath}\n${plan.arrayScript}\n# ${plan.mergeScriptPath}\n${plan.mergeScript}\n`);
        process.stdout.write(`# would submit:\n${shellJoin(['sbatch', '--parsable', plan.arrayScriptPath])}\n`);
        for (let k = 0; k < continuations; k++) process.stdout.write(`sbatch --parsable --dependency=afterany:<previous array id> ${plan.arrayScriptPath}\n`);
        process.stdout.write(`sbatch --parsable --dependency=afterany:<last array id> ${plan.mergeScriptPath}\n`);
        process.stderr.write(`sdg slurm: ${plan.tasks.length} array tasks; scripts written to ${scriptDir} (dry run: nothing submitted)\n`);
        return;
      }
      const arrayIds = [sbatch([plan.arrayScriptPath])];
      for (let k = 0; k < continuations; k++) arrayIds.push(sbatch([`--dependency=afterany:${arrayIds.at(-1)}`, plan.arrayScriptPath]));
      const mergeId = sbatch([`--dependency=afterany:${arrayIds.at(-1)}`, plan.mergeScriptPath]);
      process.stdout.write(`array ${arrayIds[0]}\n${arrayIds.slice(1).map((id) => `continuation ${id}\n`).join('')}merge ${mergeId}\n`);
      process.stderr.write(`sdg slurm: submitted ${plan.tasks.length} array tasks${continuations ? ` (+${continuations} continuation arrays)` : ''} and a merge job; logs in ${plan.logDir}\n`);
    });

  slurm
    .command('free-port')
    .description('(used by the generated scripts) print a free TCP port on 127.0.0.1')
    .action(async () => {
      const port = await new Promise<number>((res, rej) => {
        const s = createServer();
        s.once('error', rej);
        s.listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => res(p));
        });
      });
      process.stdout.write(`${port}\n`);
    });

  slurm
    .command('wait-server')
    .description('(used by the generated scripts) wait until a server answers')
    .requiredOption('--url <url>', 'URL to poll (any HTTP answer below 500 counts)')
    .option('--pid <pid>', 'fail at once when this process exits')
    .option('--timeout <seconds>', 'give up after this long', '1800')
    .option('--log <file>', 'server log: its tail is shown on failure')
    .action(async (f: { url: string; pid?: string; timeout: string; log?: string }) => {
      const deadline = Date.now() + Number(f.timeout) * 1000;
      const pid = f.pid ? Number(f.pid) : undefined;
      const tail = () => {
        if (!f.log) return '';
        try {
          return '\n--- server log (last lines) ---\n' + readFileSync(f.log, 'utf8').split('\n').slice(-20).join('\n');
        } catch {
          return '';
        }
      };
      let delay = 500;
      for (;;) {
        try {
          const res = await fetch(f.url, { signal: AbortSignal.timeout(10_000) });
          await res.arrayBuffer().catch(() => undefined);
          if (res.status < 500) {
            process.stderr.write(`sdg: server ready at ${f.url}\n`);
            return;
          }
        } catch {
          // not listening yet
        }
        if (pid !== undefined && !serverAlive(pid)) throw new Error(`the server (pid ${pid}) exited before answering at ${f.url}${tail()}`);
        if (Date.now() > deadline) throw new Error(`the server did not answer at ${f.url} within ${f.timeout} s${tail()}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(5000, delay * 1.5);
      }
    });

  slurm
    .command('chunk-done <file>')
    .description('(used by the generated scripts) exit 0 when the run of FILE finished with every item done')
    .action(async (file: string) => {
      const m = await readManifest(`${resolve(file)}.run`).catch(() => null);
      const done = !!m && m.status === 'completed' && m.counts.failed === 0 && (m.counts.pending === 0 || m.counts.pending === null);
      process.exitCode = done ? 0 : 1;
    });
}
