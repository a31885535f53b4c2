/**
 * Slurm scripts for a sharded `sdg generate`: one job array over (seed range x chunk), optional
 * continuation arrays that resume after a time limit (`--dependency=afterany`), and a final merge
 * job. Each array task may start its own model server from a command template on a free port,
 * wait for it to answer, run `sdg generate` against it for its seeds and chunk, and stop it.
 *
 * Task numbering: task = seedRange * numChunks + chunk. `sdg merge` relies on it to name the
 * array tasks to resubmit.
 *
 * Every user value written into a script is shell-quoted; values on `#SBATCH` lines (which sbatch
 * reads itself, not through a shell) are checked against a strict pattern instead.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { YamlSource, ValidationError } from '../config/yamlSource';
import { chunkOutputPath } from './shard';
import { shellJoin, shellQuote } from './shell';

/** Cluster settings: from a YAML cluster profile and/or flags (flags win). */
export interface ClusterProfile {
  partition?: string;
  account?: string;
  qos?: string;
  /** Time limit of one array task (sbatch --time), e.g. "04:00:00". */
  time?: string;
  gpusPerNode?: number;
  nodesPerTask?: number;
  cpusPerTask?: number;
  /** sbatch --mem, e.g. "64G" or "0" (all of the node). */
  mem?: string;
  /** Shell lines run first in every job (module load, venv activation...). Shell code, run as written. */
  setup?: string[];
  /** pyxis/enroot image the server command runs in (through srun --container-image). */
  containerImage?: string;
  /** Starts a model server; {model}, {port}, {gpus} are replaced (quoted). Shell code. */
  serverCommand?: string;
  /** Seconds to wait for the server to answer before the task fails. Default 1800. */
  serverTimeout?: number;
  /** Path polled on the server (default /v1/models). */
  healthPath?: string;
  /** Extra sbatch options for the array job, one token each (e.g. "--exclusive"). */
  sbatchArgs?: string[];
  /** Array tasks running at once (%N). */
  maxParallel?: number;
  /** Follow-up arrays that resume what a time limit cut (afterany dependency). Default 0. */
  continuations?: number;
  /** #SBATCH --requeue (preempted or failed nodes put the task back in the queue). */
  requeue?: boolean;
  /** Time limit of the merge job. Default 01:00:00. */
  mergeTime?: string;
}

const PROFILE_KEYS: Record<string, { key: keyof ClusterProfile; type: 'string' | 'int' | 'list' | 'bool' }> = {
  partition: { key: 'partition', type: 'string' },
  account: { key: 'account', type: 'string' },
  qos: { key: 'qos', type: 'string' },
  time: { key: 'time', type: 'string' },
  gpus_per_node: { key: 'gpusPerNode', type: 'int' },
  nodes_per_task: { key: 'nodesPerTask', type: 'int' },
  cpus_per_task: { key: 'cpusPerTask', type: 'int' },
  mem: { key: 'mem', type: 'string' },
  setup: { key: 'setup', type: 'list' },
  container_image: { key: 'containerImage', type: 'string' },
  server_command: { key: 'serverCommand', type: 'string' },
  server_timeout: { key: 'serverTimeout', type: 'int' },
  health_path: { key: 'healthPath', type: 'string' },
  sbatch_args: { key: 'sbatchArgs', type: 'list' },
  max_parallel: { key: 'maxParallel', type: 'int' },
  continuations: { key: 'continuations', type: 'int' },
  requeue: { key: 'requeue', type: 'bool' },
  merge_time: { key: 'mergeTime', type: 'string' },
};

/** Values sbatch reads from `#SBATCH` lines: no spaces, quotes or shell characters. */
const SBATCH_VALUE = /^[A-Za-z0-9_.:@%+=,/-]+$/;
const TIME = /^(\d+-)?\d+(:\d{1,2}){0,2}$/;

/** Reads and validates a cluster profile; errors name file, line and field. */
export function loadClusterProfile(file: string): ClusterProfile {
  const src = YamlSource.fromFile(file);
  const v = src.toJS();
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw src.error([], 'expected a mapping of cluster settings (partition, account, time, gpus_per_node, setup, server_command, ...)');
  const out: ClusterProfile = {};
  for (const [k, value] of Object.entries(v as Record<string, unknown>)) {
    const spec = PROFILE_KEYS[k];
    if (!spec) throw src.error([k], `unknown key; expected one of ${Object.keys(PROFILE_KEYS).join(', ')}`);
    if (spec.type === 'string') {
      if (typeof value !== 'string' && typeof value !== 'number') throw src.error([k], 'expected a string');
      (out as Record<string, unknown>)[spec.key] = String(value);
    } else if (spec.type === 'int') {
      if (!Number.isInteger(value) || (value as number) < 0) throw src.error([k], `expected a whole number >= 0, got ${JSON.stringify(value)}`);
      (out as Record<string, unknown>)[spec.key] = value;
    } else if (spec.type === 'bool') {
      if (typeof value !== 'boolean') throw src.error([k], 'expected true or false');
      (out as Record<string, unknown>)[spec.key] = value;
    } else {
      const list = typeof value === 'string' ? [value] : value;
      if (!Array.isArray(list)) throw src.error([k], 'expected a list of strings');
      list.forEach((item, i) => {
        if (typeof item !== 'string') throw src.error([k, i], 'expected a string');
      });
      (out as Record<string, unknown>)[spec.key] = list;
    }
  }
  const problems = checkClusterProfile(out);
  if (problems.length) {
    const p = problems[0];
    const yamlKey = Object.entries(PROFILE_KEYS).find(([, s]) => s.key === p.field)?.[0] ?? String(p.field);
    throw src.error(p.index === undefined ? [yamlKey] : [yamlKey, p.index], p.message);
  }
  return out;
}

export interface ProfileProblem {
  field: keyof ClusterProfile;
  index?: number;
  message: string;
}

/** Problems with values that end up on #SBATCH lines or in numbers. */
export function checkClusterProfile(p: ClusterProfile): ProfileProblem[] {
  const out: ProfileProblem[] = [];
  for (const field of ['partition', 'account', 'qos', 'mem'] as const) {
    const v = p[field];
    if (v !== undefined && !SBATCH_VALUE.test(v)) out.push({ field, message: `${JSON.stringify(v)} has characters sbatch cannot take (letters, digits and _.:@%+=,/- only)` });
  }
  for (const field of ['time', 'mergeTime'] as const) {
    const v = p[field];
    if (v !== undefined && !TIME.test(v)) out.push({ field, message: `${JSON.stringify(v)} is not a Slurm time (minutes, HH:MM:SS or D-HH:MM:SS)` });
  }
  for (const field of ['gpusPerNode', 'cpusPerTask', 'serverTimeout', 'maxParallel'] as const) {
    const v = p[field];
    if (v !== undefined && (!Number.isInteger(v) || v < 1) && !(field === 'gpusPerNode' && v === 0)) out.push({ field, message: `must be a whole number >= 1, got ${v}` });
  }
  if (p.nodesPerTask !== undefined && (!Number.isInteger(p.nodesPerTask) || p.nodesPerTask < 1)) out.push({ field: 'nodesPerTask', message: `must be a whole number >= 1, got ${p.nodesPerTask}` });
  if (p.continuations !== undefined && (!Number.isInteger(p.continuations) || p.continuations < 0)) out.push({ field: 'continuations', message: `must be a whole number >= 0, got ${p.continuations}` });
  (p.sbatchArgs ?? []).forEach((a, index) => {
    if (!/^--?[A-Za-z]/.test(a) || !SBATCH_VALUE.test(a.replace(/^--?/, ''))) out.push({ field: 'sbatchArgs', index, message: `${JSON.stringify(a)}: one sbatch option per entry, like --exclusive or --constraint=a100 (no spaces or quotes)` });
  });
  if (p.containerImage !== undefined && /[\s'"]/.test(p.containerImage)) out.push({ field: 'containerImage', message: 'must not contain spaces or quotes' });
  if (p.healthPath !== undefined && !/^\/[A-Za-z0-9_./-]*$/.test(p.healthPath)) out.push({ field: 'healthPath', message: `must be a URL path like /v1/models or /health, got ${JSON.stringify(p.healthPath)}` });
  if (p.serverCommand !== undefined) {
    if (!p.serverCommand.includes('{port}')) out.push({ field: 'serverCommand', message: 'must contain {port} (the task picks a free port for its server)' });
    const unknown = [...p.serverCommand.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]).filter((n) => !['model', 'port', 'gpus'].includes(n));
    if (unknown.length) out.push({ field: 'serverCommand', message: `unknown placeholder {${unknown[0]}} (use {model}, {port}, {gpus})` });
  }
  return out;
}

export interface SlurmJobSpec {
  /** `sdg generate` arguments other than the ones the scripts set per task. */
  generateArgs: string[];
  /** --output of the job (absolute or relative to `cwd`): the merged file. */
  output: string;
  model: string;
  startSeed: number;
  numSeeds: number;
  /** Seeds per array task (default: all seeds in every task). */
  seedsPerTask?: number;
  numChunks: number;
  cluster: ClusterProfile;
  /** Where scripts and logs go (absolute). */
  scriptDir: string;
  /** Working directory of every job (absolute): relative paths in the arguments are from here. */
  cwd: string;
  /** How to start sdg on the nodes, e.g. ["/usr/bin/node", "/opt/sdg/dist/cli.js"] or ["sdg"]. */
  sdg: string[];
  /** Job name prefix. */
  name: string;
}

export interface SlurmTask {
  id: number;
  chunkId: number;
  startSeed: number;
  numSeeds: number;
  /** The --output given to sdg generate (before the chunk suffix). */
  output: string;
  /** The file the task writes. */
  chunkOutput: string;
}

export interface SlurmPlan {
  tasks: SlurmTask[];
  arrayScript: string;
  mergeScript: string;
  arrayScriptPath: string;
  mergeScriptPath: string;
  logDir: string;
}

/** Seed ranges x chunks, numbered seedRange * numChunks + chunk. */
export function planTasks(spec: Pick<SlurmJobSpec, 'output' | 'startSeed' | 'numSeeds' | 'seedsPerTask' | 'numChunks'>): SlurmTask[] {
  const per = spec.seedsPerTask ?? spec.numSeeds;
  if (!Number.isInteger(per) || per < 1) throw new Error(`--seeds-per-task must be a whole number >= 1, got ${per}`);
  const ranges: Array<{ start: number; count: number }> = [];
  for (let s = spec.startSeed; s < spec.startSeed + spec.numSeeds; s += per) ranges.push({ start: s, count: Math.min(per, spec.startSeed + spec.numSeeds - s) });
  const tasks: SlurmTask[] = [];
  ranges.forEach((r, g) => {
    // One seed range keeps the job's name; several get theirs in the file name.
    const output = ranges.length === 1 ? spec.output : withSuffix(spec.output, `-seeds${r.start}-${r.start + r.count - 1}`);
    for (let c = 0; c < spec.numChunks; c++) {
      tasks.push({ id: g * spec.numChunks + c, chunkId: c, startSeed: r.start, numSeeds: r.count, output, chunkOutput: chunkOutputPath(output, c) });
    }
  });
  return tasks;
}

function withSuffix(file: string, suffix: string): string {
  const m = /^(.*?)(\.jsonl|\.json|\.ndjson)?$/i.exec(file)!;
  return `${m[1]}${suffix}${m[2] ?? ''}`;
}

/** Flags the scripts set per task; removed from the pass-through arguments. */
const PER_TASK_FLAGS = new Set(['--output', '--start-seed', '--num-seeds', '--num-chunks', '--chunk-id']);

/** `args` without the given value-taking flags (both `--flag v` and `--flag=v`) and without `--no-progress`. */
export function stripFlags(args: readonly string[], flags: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.startsWith('--') ? a.split('=')[0] : '';
    if (flags.has(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    if (a === '--no-progress' || a === '--overwrite' || a === '--dry-run') continue;
    out.push(a);
  }
  return out;
}

function sbatchHeader(lines: string[], c: ClusterProfile, opts: { gpus: boolean }): void {
  if (c.partition) lines.push(`#SBATCH --partition=${c.partition}`);
  if (c.account) lines.push(`#SBATCH --account=${c.account}`);
  if (c.qos) lines.push(`#SBATCH --qos=${c.qos}`);
  if (opts.gpus) {
    lines.push(`#SBATCH --nodes=${c.nodesPerTask ?? 1}`);
    if (c.gpusPerNode) lines.push(`#SBATCH --gpus-per-node=${c.gpusPerNode}`);
    if (c.cpusPerTask) lines.push(`#SBATCH --cpus-per-task=${c.cpusPerTask}`);
    if (c.mem) lines.push(`#SBATCH --mem=${c.mem}`);
  }
}

function setupLines(lines: string[], c: ClusterProfile): void {
  if (!c.setup?.length) return;
  lines.push('', '# Setup (cluster profile / --setup), run as written');
  for (const s of c.setup) lines.push(s);
}

/** The server command with {model} and {gpus} filled in (quoted) and {port} as "$PORT". */
export function renderServerCommand(template: string, model: string, gpus: number): string {
  return template.replace(/\{(model|port|gpus)\}/g, (_m, name: string) => (name === 'model' ? shellQuote(model) : name === 'port' ? '"$PORT"' : String(gpus)));
}

export function buildSlurmPlan(spec: SlurmJobSpec): SlurmPlan {
  const c = spec.cluster;
  const problems = checkClusterProfile(c);
  if (problems.length) throw new Error(problems.map((p) => `${p.field}: ${p.message}`).join('\n'));
  if (!Number.isInteger(spec.numChunks) || spec.numChunks < 1) throw new Error(`--num-chunks must be a whole number >= 1, got ${spec.numChunks}`);
  if (!/^[A-Za-z0-9_.-]+$/.test(spec.name)) throw new Error(`job name ${JSON.stringify(spec.name)}: letters, digits, _ . - only`);
  const tasks = planTasks(spec);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(spec.cwd, p));
  const logDir = join(spec.scriptDir, 'logs');
  const arrayScriptPath = join(spec.scriptDir, 'array.sbatch');
  const mergeScriptPath = join(spec.scriptDir, 'merge.sbatch');
  for (const p of [logDir, arrayScriptPath]) {
    if (!SBATCH_VALUE.test(p)) throw new Error(`${p}: the script folder must be a path without spaces or quotes (sbatch reads it from #SBATCH lines); pick another --script-dir`);
  }
  const passThrough = stripFlags(spec.generateArgs, new Set([...PER_TASK_FLAGS, ...(c.serverCommand ? ['--base-url'] : [])]));
  const ranges = [...new Map(tasks.map((t) => [t.startSeed, t])).values()];
  const gpus = c.gpusPerNode ?? 0;

  const a: string[] = [];
  a.push('#!/usr/bin/env bash');
  a.push('# Generated by `sdg slurm generate`: one array task per (seed range, chunk) of a sharded');
  a.push(`# sdg generate; task = seed_range * ${spec.numChunks} + chunk. Rerunning a task resumes its chunk.`);
  a.push(`#SBATCH --job-name=${spec.name}`);
  a.push(`#SBATCH --array=0-${tasks.length - 1}${c.maxParallel ? `%${c.maxParallel}` : ''}`);
  if (c.time) a.push(`#SBATCH --time=${c.time}`);
  sbatchHeader(a, c, { gpus: true });
  if (c.requeue) a.push('#SBATCH --requeue');
  for (const extra of c.sbatchArgs ?? []) a.push(`#SBATCH ${extra}`);
  a.push(`#SBATCH --output=${logDir}/task-%A_%a.log`);
  a.push('set -euo pipefail');
  setupLines(a, c);
  a.push('', '# The job as planned (per seed range and per task)');
  a.push(`cd ${shellQuote(spec.cwd)}`);
  a.push(`SDG=(${spec.sdg.map(shellQuote).join(' ')})`);
  a.push(`export SDG_SLURM_SCRIPT=${shellQuote(arrayScriptPath)}  # recorded in each chunk's run folder for sdg merge`);
  a.push(`NUM_CHUNKS=${spec.numChunks}`);
  a.push(`SEED_STARTS=(${ranges.map((t) => t.startSeed).join(' ')})`);
  a.push(`SEED_COUNTS=(${ranges.map((t) => t.numSeeds).join(' ')})`);
  a.push(`OUTPUTS=(${ranges.map((t) => shellQuote(t.output)).join(' ')})  # sdg adds -chunkN`);
  a.push(`TASK_OUTPUTS=(`);
  for (const t of tasks) a.push(`  ${shellQuote(t.chunkOutput)}`);
  a.push(')');
  a.push('TASK=${SLURM_ARRAY_TASK_ID:?not running as a Slurm array task}');
  a.push('RANGE=$((TASK / NUM_CHUNKS))');
  a.push('CHUNK=$((TASK % NUM_CHUNKS))');
  a.push('echo "sdg task $TASK: chunk $CHUNK of $NUM_CHUNKS, seeds ${SEED_STARTS[$RANGE]}+${SEED_COUNTS[$RANGE]} -> ${TASK_OUTPUTS[$TASK]}"');
  a.push('', '# A continuation job finds finished chunks done: skip them before starting any server.');
  a.push('if "${SDG[@]}" slurm chunk-done "${TASK_OUTPUTS[$TASK]}"; then');
  a.push('  echo "sdg task $TASK: already complete"');
  a.push('  exit 0');
  a.push('fi');
  let baseUrlArgs = '';
  if (c.serverCommand) {
    const cmd = renderServerCommand(c.serverCommand, spec.model, gpus);
    const launch = c.containerImage
      ? `srun --overlap --ntasks=1 --container-image=${shellQuote(c.containerImage)} bash -c ${shellQuote(cmd)}`
      : `setsid bash -c ${shellQuote(cmd)}`;
    a.push('', '# Model server for this task: a free port, started in its own process group,');
    a.push('# stopped by PID when the task ends (whatever the exit path).');
    a.push(`#   ${cmd.replace(/\n/g, ' ')}`);
    a.push('SERVER_PID=');
    a.push('stop_server() {');
    a.push('  if [ -n "$SERVER_PID" ]; then');
    a.push('    kill -TERM -- "-$SERVER_PID" 2>/dev/null || kill -TERM "$SERVER_PID" 2>/dev/null || true');
    a.push('    wait "$SERVER_PID" 2>/dev/null || true');
    a.push('  fi');
    a.push('}');
    a.push('trap stop_server EXIT');
    a.push('PORT=$("${SDG[@]}" slurm free-port)');
    a.push('export PORT');
    a.push(`SERVER_LOG=${shellQuote(logDir)}/server-\${SLURM_ARRAY_JOB_ID:-0}_\${TASK}.log`);
    a.push(`${launch} >"$SERVER_LOG" 2>&1 &`);
    a.push('SERVER_PID=$!');
    a.push(`"\${SDG[@]}" slurm wait-server --url "http://127.0.0.1:$PORT${c.healthPath ?? '/v1/models'}" --pid "$SERVER_PID" --timeout ${c.serverTimeout ?? 1800} --log "$SERVER_LOG"`);
    baseUrlArgs = ' --base-url "http://127.0.0.1:$PORT/v1"';
  }
  a.push('', '# The chunk itself (the same command again resumes it)');
  a.push(`"\${SDG[@]}" generate ${shellJoin(passThrough)} \\`);
  a.push('  --output "${OUTPUTS[$RANGE]}" --start-seed "${SEED_STARTS[$RANGE]}" --num-seeds "${SEED_COUNTS[$RANGE]}" \\');
  a.push(`  --num-chunks "$NUM_CHUNKS" --chunk-id "$CHUNK"${baseUrlArgs} --no-progress`);
  a.push('');

  const m: string[] = [];
  m.push('#!/usr/bin/env bash');
  m.push('# Generated by `sdg slurm generate`: joins the chunk outputs once the array (and its');
  m.push('# continuations) ended; fails and prints the commands to rerun when items are missing.');
  m.push(`#SBATCH --job-name=${spec.name}-merge`);
  m.push(`#SBATCH --time=${c.mergeTime ?? '01:00:00'}`);
  sbatchHeader(m, c, { gpus: false });
  m.push('#SBATCH --ntasks=1');
  m.push(`#SBATCH --output=${logDir}/merge-%j.log`);
  m.push('set -euo pipefail');
  setupLines(m, c);
  m.push('');
  m.push(`cd ${shellQuote(spec.cwd)}`);
  m.push(`SDG=(${spec.sdg.map(shellQuote).join(' ')})`);
  m.push(`"\${SDG[@]}" merge --output ${shellQuote(spec.output)} --num-chunks ${spec.numChunks} --start-seed ${spec.startSeed} --num-seeds ${spec.numSeeds} \\`);
  tasks.forEach((t, i) => m.push(`  ${shellQuote(t.chunkOutput)}${i < tasks.length - 1 ? ' \\' : ''}`));
  m.push('');
  void abs;
  return { tasks, arrayScript: a.join('\n'), mergeScript: m.join('\n'), arrayScriptPath, mergeScriptPath, logDir };
}

export { ValidationError };
