/**
 * The Studio's Slurm dialog on the host side: cluster profiles kept as YAML in the workspace
 * (`.sdg/clusters/<name>.yaml`, the format of `sdg slurm generate --cluster-profile`), the
 * scripts of a labeling job (the core's buildSlurmPlan, src/core/scale/slurm.ts) and their
 * submission with sbatch. No `vscode` import: unit-tested with a fake sbatch on PATH.
 *
 * Keys: a stored API key reaches the jobs only through the environment of the sbatch process
 * (sbatch exports it to the job, `--api-key-env SDG_API_KEY`); it is never written to a script.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { basename, delimiter, join, relative, sep } from 'node:path';
import type { EndpointProfile } from '../../core/llm/types';
import type { ClusterProfile, SlurmPlan } from '../../core/scale/slurm';
import type { ClusterInfo, ClusterSettings, SlurmInfo, SlurmJobParams, SlurmPreview, SlurmSubmitResult } from '../../protocol/studio';
import { resolveFileRef, type FileContext } from '../studio/fileRefs';
import { runFolderName } from '../pipelines';

type SlurmCore = typeof import('../../core/scale/slurm.js');
function core(): SlurmCore {
  return require('../../core/scale/slurm') as SlurmCore;
}

export const CLUSTER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** The variable a stored key travels in, from the sbatch process to the jobs. */
export const KEY_ENV = 'SDG_API_KEY';

/** Profile field -> YAML key (the core's cluster profile format). */
const YAML_KEYS: Record<keyof ClusterSettings, string> = {
  partition: 'partition',
  account: 'account',
  qos: 'qos',
  time: 'time',
  gpusPerNode: 'gpus_per_node',
  nodesPerTask: 'nodes_per_task',
  cpusPerTask: 'cpus_per_task',
  mem: 'mem',
  setup: 'setup',
  containerImage: 'container_image',
  serverCommand: 'server_command',
  serverTimeout: 'server_timeout',
  healthPath: 'health_path',
  sbatchArgs: 'sbatch_args',
  maxParallel: 'max_parallel',
  continuations: 'continuations',
  requeue: 'requeue',
  mergeTime: 'merge_time',
};

export interface SlurmContext extends FileContext {
  /** Absolute runs folder (outputs and scripts go under it); throws when no folder is open. */
  runsFolder(): string;
  resolveEndpoint(name: string): Promise<{ profile: EndpointProfile; apiKey: string | undefined }>;
  /** The extension's folder (its dist/cli.js is the default sdg on the nodes). */
  extensionPath: string;
  /** Environment of sbatch (PATH lookup too); default process.env. */
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

function clusterDir(ctx: FileContext): string {
  const root = ctx.roots[0];
  if (!root) throw new Error('open a folder first: cluster profiles are kept in .sdg/clusters/ of the workspace');
  return join(root, '.sdg', 'clusters');
}

function clusterFile(ctx: FileContext, name: string): string {
  if (!CLUSTER_NAME_RE.test(name)) throw new Error(`cluster name ${JSON.stringify(name)}: letters, digits, "_", "." and "-" only (at most 64)`);
  return join(clusterDir(ctx), `${name}.yaml`);
}

function workspaceRel(ctx: FileContext, abs: string): string {
  return relative(ctx.roots[0], abs).split(sep).join('/');
}

/** `sbatch` on the PATH of `env`, or null. */
export function findSbatch(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'sbatch');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return null;
}

function fromProfile(p: ClusterProfile): ClusterSettings {
  return { ...p };
}

/** Every `.sdg/clusters/*.yaml`, each loaded and checked by the core (errors with file:line). */
export function listClusters(ctx: FileContext): ClusterInfo[] {
  if (!ctx.roots[0]) return [];
  const dir = clusterDir(ctx);
  if (!existsSync(dir)) return [];
  const { loadClusterProfile } = core();
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/i.test(f))
    .sort()
    .map((f) => {
      const abs = join(dir, f);
      const info: ClusterInfo = { name: f.replace(/\.ya?ml$/i, ''), file: workspaceRel(ctx, abs) };
      try {
        info.settings = fromProfile(loadClusterProfile(abs));
      } catch (e) {
        info.error = e instanceof Error ? e.message.replace(abs, info.file) : String(e);
      }
      return info;
    });
}

export function slurmInfo(ctx: SlurmContext): SlurmInfo {
  return { clusters: listClusters(ctx), sbatch: findSbatch(ctx.env ?? process.env), defaultSdgCommand: defaultSdgCommand(ctx) };
}

export function defaultSdgCommand(ctx: Pick<SlurmContext, 'extensionPath'>): string {
  return `node ${join(ctx.extensionPath, 'dist', 'cli.js')}`;
}

/** Drops empty values (a cleared form field means "not set"). */
function cleanSettings(s: ClusterSettings): ClusterSettings {
  const out: ClusterSettings = {};
  for (const [k, v] of Object.entries(s) as Array<[keyof ClusterSettings, unknown]>) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) {
      const list = v.map((x) => String(x).trim()).filter(Boolean);
      if (list.length) (out as Record<string, unknown>)[k] = list;
    } else (out as Record<string, unknown>)[k] = typeof v === 'string' ? v.trim() : v;
  }
  return out;
}

/**
 * Writes the profile as YAML (an existing file keeps its comments and the order of its keys),
 * then reads it back through the core's loader, so the file is exactly what the CLI accepts.
 */
export async function saveCluster(ctx: SlurmContext, name: string, raw: ClusterSettings): Promise<SlurmInfo> {
  const file = clusterFile(ctx, name);
  const settings = cleanSettings(raw);
  const { checkClusterProfile, loadClusterProfile } = core();
  const problems = checkClusterProfile(settings);
  if (problems.length) throw new Error(problems.map((p) => `${YAML_KEYS[p.field]}${p.index !== undefined ? `[${p.index}]` : ''}: ${p.message}`).join('\n'));
  const YAML = require('yaml') as typeof import('yaml');
  let doc: import('yaml').Document;
  let old = '';
  try {
    old = await readFile(file, 'utf8');
  } catch {
    /* a new profile */
  }
  doc = old.trim() ? YAML.parseDocument(old) : new YAML.Document({});
  if (old.trim() && (doc.errors.length || !YAML.isMap(doc.contents))) doc = new YAML.Document({});
  if (!old.trim()) doc.commentBefore = ` Slurm cluster profile for sdg slurm generate --cluster-profile (docs/scale-out.md).\n Written by SDG Studio; comments you add are kept.`;
  for (const [field, key] of Object.entries(YAML_KEYS) as Array<[keyof ClusterSettings, string]>) {
    const value = settings[field];
    if (value === undefined) doc.delete(key);
    else doc.set(key, value);
  }
  const { writeAtomic } = require('../studio/files') as typeof import('../studio/files.js');
  await writeAtomic(file, doc.toString({ lineWidth: 0 }));
  loadClusterProfile(file); // throws ValidationError (file:line: field) if the core would refuse it
  return slurmInfo(ctx);
}

function loadCluster(ctx: FileContext, name: string): { profile: ClusterProfile; file: string } {
  const file = clusterFile(ctx, name);
  if (!existsSync(file)) throw new Error(`no cluster profile "${name}" (${workspaceRel(ctx, file)}): save it first`);
  return { profile: core().loadClusterProfile(file), file };
}

/** A server of a pool as a `--base-url` value (`URL#weight=2&max=64`). */
function serverSpec(s: { baseUrl: string; weight?: number; maxConcurrency?: number }): string {
  const opts = [s.weight !== undefined ? `weight=${s.weight}` : '', s.maxConcurrency !== undefined ? `max=${s.maxConcurrency}` : ''].filter(Boolean).join('&');
  return opts ? `${s.baseUrl}#${opts}` : s.baseUrl;
}

interface PlannedJob {
  plan: SlurmPlan;
  preview: SlurmPreview;
  /** Extra environment for sbatch (the key, when the endpoint has one). */
  env: Record<string, string>;
}

/** The scripts of a job, computed and not written. */
export async function planJob(ctx: SlurmContext, p: SlurmJobParams): Promise<PlannedJob> {
  const { buildSlurmPlan } = core();
  const { shellJoin } = require('../../core/scale/shell') as typeof import('../../core/scale/shell.js');
  const root = ctx.roots[0];
  if (!root) throw new Error('open a folder first: the jobs run in the workspace folder');
  const { profile: cluster, file: clusterPath } = loadCluster(ctx, p.cluster);
  const prompt = resolveFileRef(ctx, p.prompt, 'prompt');
  const input = resolveFileRef(ctx, p.input, 'input');
  if (input.readonly) throw new Error('input: choose a dataset in the workspace');
  if (!existsSync(input.abs)) throw new Error(`input: ${p.input} does not exist`);
  // Built-in prompt configs by name: sdg on the nodes has its own copy.
  const promptArg = prompt.readonly ? basename(prompt.abs).replace(/\.ya?ml$/i, '') : prompt.abs;

  const args = ['--input', input.abs, '--prompt', promptArg];
  const notes: string[] = [];
  const env: Record<string, string> = {};
  let model = p.model?.trim() || undefined;
  if (cluster.serverCommand) {
    if (p.endpoint) throw new Error(`cluster profile "${p.cluster}" starts a model server per task (server_command): leave the endpoint empty`);
    if (!model) throw new Error('model: required (the server command gets it as {model}, and the requests name it)');
  } else {
    if (!p.endpoint) throw new Error(`cluster profile "${p.cluster}" has no server_command: choose an endpoint whose servers the tasks can reach, or add a server command`);
    const { profile, apiKey } = await ctx.resolveEndpoint(p.endpoint);
    model ??= profile.model;
    for (const s of profile.servers?.length ? profile.servers : [{ baseUrl: profile.baseUrl }]) args.push('--base-url', serverSpec(s));
    if (profile.apiKind !== 'chat') args.push('--api-kind', profile.apiKind);
    if (profile.formatter) args.push('--formatter', profile.formatter);
    if (profile.preset) args.push('--preset', profile.preset);
    if (apiKey) {
      args.push('--api-key-env', KEY_ENV);
      env[KEY_ENV] = apiKey;
      notes.push(`The API key of "${profile.name}" reaches the jobs in the environment of sbatch (${KEY_ENV}); it is not written to the scripts. To resubmit tasks from a terminal, export ${KEY_ENV} first.`);
    } else if (profile.apiKeyEnv) {
      args.push('--api-key-env', profile.apiKeyEnv);
      if (!(ctx.env ?? process.env)[profile.apiKeyEnv]) notes.push(`${profile.apiKeyEnv} is not set in VS Code's environment: the jobs will run without a key.`);
    }
    const loopback = (profile.servers ?? [{ baseUrl: profile.baseUrl }]).filter((s) => /^https?:\/\/(127\.|localhost|\[::1\])/.test(s.baseUrl));
    if (loopback.length) notes.push(`${loopback.map((s) => s.baseUrl).join(', ')}: a loopback address means the compute node itself, not this machine.`);
  }
  args.push('--model', model!);
  const startSeed = p.startSeed ?? 0;
  args.push('--num-seeds', String(p.numSeeds), '--start-seed', String(startSeed), '--num-samples', String(p.numSamples));
  if (p.limit !== undefined) args.push('--limit', String(p.limit));
  if (p.temperature !== undefined) args.push('--temperature', String(p.temperature));
  if (p.maxTokens !== undefined) args.push('--max-tokens', String(p.maxTokens));
  if (p.concurrency !== undefined) args.push('--concurrency', String(p.concurrency));

  const folder = ctx.runsFolder();
  const promptName = basename(prompt.abs).replace(/\.ya?ml$/i, '');
  const stem = runFolderName(`${promptName}-${basename(input.abs).replace(/\.jsonl$/i, '')}-slurm`, (ctx.now ?? (() => new Date()))(), (n) => existsSync(join(folder, `${n}.jsonl`)) || existsSync(join(folder, `${n}.jsonl.slurm`)));
  const output = join(folder, `${stem}.jsonl`);
  const scriptDir = `${output}.slurm`;
  const sdgCommand = (p.sdgCommand?.trim() || defaultSdgCommand(ctx)).split(/\s+/).filter(Boolean);
  const name = `sdg-${stem}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 100);
  const plan = buildSlurmPlan({
    generateArgs: args,
    output,
    model: model!,
    startSeed,
    numSeeds: p.numSeeds,
    seedsPerTask: p.seedsPerTask,
    numChunks: p.numChunks,
    cluster,
    scriptDir,
    cwd: root,
    sdg: sdgCommand,
    name,
  });
  if (!findSbatch(ctx.env ?? process.env)) notes.unshift(sbatchMissing(ctx.env ?? process.env));
  const continuations = cluster.continuations ?? 0;
  const cli = [
    'sdg', 'slurm', 'generate', ...args, '--output', output, '--num-chunks', String(p.numChunks),
    ...(p.seedsPerTask !== undefined ? ['--seeds-per-task', String(p.seedsPerTask)] : []),
    '--cluster-profile', workspaceRel(ctx, clusterPath), '--sdg', sdgCommand.join(' '), '--job-name', name,
  ];
  return {
    plan,
    env,
    preview: {
      output,
      scriptDir,
      tasks: plan.tasks.length,
      continuations,
      arrayScriptPath: plan.arrayScriptPath,
      arrayScript: plan.arrayScript,
      mergeScriptPath: plan.mergeScriptPath,
      mergeScript: plan.mergeScript,
      cliCommand: `cd ${shellJoin([root])} && ${shellJoin(cli)}`,
      notes,
    },
  };
}

function sbatchMissing(env: NodeJS.ProcessEnv): string {
  return `sbatch is not on the PATH of the VS Code extension host (PATH=${env.PATH ?? ''}): open this folder in VS Code running on a Slurm login node (e.g. Remote - SSH), or run the command below there. Preview works anyway.`;
}

function runSbatch(sbatch: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(sbatch, ['--parsable', ...args], { env, cwd, timeout: 120_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`sbatch ${args.join(' ')} failed: ${(stderr || stdout || err.message).trim()}`));
        return;
      }
      // --parsable prints "jobid" or "jobid;cluster".
      const id = stdout.trim().split(/\r?\n/).pop()?.split(';')[0] ?? '';
      if (!/^\d+$/.test(id)) reject(new Error(`sbatch ${args.join(' ')}: unexpected answer ${JSON.stringify(stdout.trim())} (expected a job id)`));
      else resolvePromise(id);
    });
  });
}

/** Writes the scripts and submits the array, its continuations and the merge job. */
export async function submitJob(ctx: SlurmContext, p: SlurmJobParams): Promise<SlurmSubmitResult> {
  const baseEnv = ctx.env ?? process.env;
  const sbatch = findSbatch(baseEnv);
  if (!sbatch) throw new Error(sbatchMissing(baseEnv));
  const { plan, preview, env } = await planJob(ctx, p);
  const { writeAtomic } = require('../studio/files') as typeof import('../studio/files.js');
  await mkdir(plan.logDir, { recursive: true });
  await writeAtomic(plan.arrayScriptPath, plan.arrayScript);
  await writeAtomic(plan.mergeScriptPath, plan.mergeScript);
  await chmod(plan.arrayScriptPath, 0o755);
  await chmod(plan.mergeScriptPath, 0o755);
  const jobEnv = { ...baseEnv, ...env };
  const cwd = ctx.roots[0];
  const submitted: string[] = [];
  try {
    const arrayJobId = await runSbatch(sbatch, [plan.arrayScriptPath], jobEnv, cwd);
    submitted.push(`array ${arrayJobId}`);
    const continuationJobIds: string[] = [];
    let last = arrayJobId;
    for (let k = 0; k < preview.continuations; k++) {
      last = await runSbatch(sbatch, [`--dependency=afterany:${last}`, plan.arrayScriptPath], jobEnv, cwd);
      continuationJobIds.push(last);
      submitted.push(`continuation ${last}`);
    }
    const mergeJobId = await runSbatch(sbatch, [`--dependency=afterany:${last}`, plan.mergeScriptPath], jobEnv, cwd);
    return { output: preview.output, scriptDir: preview.scriptDir, arrayJobId, continuationJobIds, mergeJobId };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(submitted.length ? `${msg} (already submitted: ${submitted.join(', ')}; cancel them with scancel or submit the rest by hand from ${preview.scriptDir})` : msg);
  }
}


