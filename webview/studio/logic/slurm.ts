/**
 * The Slurm tab's form (kept with the panel state, numbers as text until used) and its
 * conversion into the host requests `slurm.saveCluster` / `slurm.preview` / `slurm.submit`.
 * The host validates again (the core's checkClusterProfile and loader): this only catches
 * typos early and names the field.
 */
import type { ClusterSettings, SlurmJobParams } from '../../../src/protocol/studio';

export interface ClusterForm {
  name: string;
  partition: string;
  account: string;
  qos: string;
  time: string;
  gpusPerNode: string;
  nodesPerTask: string;
  cpusPerTask: string;
  mem: string;
  /** One shell line per line (module load, venv activation...). */
  setup: string;
  containerImage: string;
  serverCommand: string;
  serverTimeout: string;
  maxParallel: string;
  continuations: string;
  /** One sbatch option per line. */
  sbatchArgs: string;
  requeue: boolean;
}

export interface SlurmJobForm {
  prompt: string;
  input: string;
  model: string;
  /** Endpoint whose servers the tasks use (no server command). */
  endpoint: string;
  numSeeds: string;
  numSamples: string;
  seedsPerTask: string;
  numChunks: string;
  limit: string;
  temperature: string;
  maxTokens: string;
  sdgCommand: string;
}

export interface SlurmForm {
  cluster: ClusterForm;
  job: SlurmJobForm;
}

export const defaultClusterForm: ClusterForm = {
  name: 'cluster',
  partition: '',
  account: '',
  qos: '',
  time: '04:00:00',
  gpusPerNode: '8',
  nodesPerTask: '',
  cpusPerTask: '',
  mem: '',
  setup: '',
  containerImage: '',
  serverCommand: 'vllm serve {model} --port {port} --tensor-parallel-size {gpus}',
  serverTimeout: '',
  maxParallel: '',
  continuations: '1',
  sbatchArgs: '',
  requeue: false,
};

export const defaultSlurmJobForm: SlurmJobForm = {
  prompt: '',
  input: '',
  model: '',
  endpoint: '',
  numSeeds: '8',
  numSamples: '4',
  seedsPerTask: '',
  numChunks: '4',
  limit: '',
  temperature: '',
  maxTokens: '',
  sdgCommand: '',
};

export const defaultSlurmForm: SlurmForm = { cluster: defaultClusterForm, job: defaultSlurmJobForm };

const lines = (text: string) => text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

function intField(problems: string[], label: string, text: string, min: number): number | undefined {
  if (!text.trim()) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    problems.push(`${label}: a whole number >= ${min}, got "${text.trim()}"`);
    return undefined;
  }
  return n;
}

/** The cluster form as settings for `slurm.saveCluster` (empty fields are left out). */
export function clusterRequest(f: ClusterForm): { problems: string[]; name: string; settings?: ClusterSettings } {
  const problems: string[] = [];
  const name = f.name.trim();
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) problems.push('cluster name: letters, digits, "_", "." or "-" (it names .sdg/clusters/<name>.yaml)');
  const s: ClusterSettings = {};
  const str = (k: 'partition' | 'account' | 'qos' | 'time' | 'mem' | 'containerImage' | 'serverCommand') => {
    const v = f[k].trim();
    if (v) s[k] = v;
  };
  (['partition', 'account', 'qos', 'time', 'mem', 'containerImage', 'serverCommand'] as const).forEach(str);
  const gpus = intField(problems, 'GPUs per node', f.gpusPerNode, 0);
  if (gpus !== undefined) s.gpusPerNode = gpus;
  const nodes = intField(problems, 'nodes per task', f.nodesPerTask, 1);
  if (nodes !== undefined) s.nodesPerTask = nodes;
  const cpus = intField(problems, 'CPUs per task', f.cpusPerTask, 1);
  if (cpus !== undefined) s.cpusPerTask = cpus;
  const timeout = intField(problems, 'server time-out', f.serverTimeout, 1);
  if (timeout !== undefined) s.serverTimeout = timeout;
  const parallel = intField(problems, 'tasks at once', f.maxParallel, 1);
  if (parallel !== undefined) s.maxParallel = parallel;
  const cont = intField(problems, 'continuations', f.continuations, 0);
  if (cont !== undefined) s.continuations = cont;
  if (lines(f.setup).length) s.setup = lines(f.setup);
  if (lines(f.sbatchArgs).length) s.sbatchArgs = lines(f.sbatchArgs);
  if (f.requeue) s.requeue = true;
  if (s.serverCommand && !s.serverCommand.includes('{port}')) problems.push('server command: must contain {port} (each task picks a free port for its server)');
  return problems.length ? { problems, name } : { problems, name, settings: s };
}

/** The form for a saved profile (the inverse of clusterRequest). */
export function clusterFormOf(name: string, s: ClusterSettings): ClusterForm {
  const t = (v: number | undefined) => (v === undefined ? '' : String(v));
  return {
    name,
    partition: s.partition ?? '',
    account: s.account ?? '',
    qos: s.qos ?? '',
    time: s.time ?? '',
    gpusPerNode: t(s.gpusPerNode),
    nodesPerTask: t(s.nodesPerTask),
    cpusPerTask: t(s.cpusPerTask),
    mem: s.mem ?? '',
    setup: (s.setup ?? []).join('\n'),
    containerImage: s.containerImage ?? '',
    serverCommand: s.serverCommand ?? '',
    serverTimeout: t(s.serverTimeout),
    maxParallel: t(s.maxParallel),
    continuations: t(s.continuations),
    sbatchArgs: (s.sbatchArgs ?? []).join('\n'),
    requeue: !!s.requeue,
  };
}

/** The job form as `slurm.preview` / `slurm.submit` params. */
export function slurmJobRequest(form: SlurmForm): { problems: string[]; params?: SlurmJobParams } {
  const problems: string[] = [];
  const j = form.job;
  const cluster = clusterRequest(form.cluster);
  problems.push(...cluster.problems);
  if (!j.prompt) problems.push('prompt config: choose one');
  if (!j.input) problems.push('dataset: choose a JSONL file');
  const usesServerCommand = !!form.cluster.serverCommand.trim();
  if (usesServerCommand && !j.model.trim()) problems.push('model: required with a server command (it is passed as {model})');
  if (!usesServerCommand && !j.endpoint) problems.push('endpoint: choose one whose servers the compute nodes can reach, or give the cluster a server command');
  const req = (label: string, text: string, min: number) => {
    if (!text.trim()) {
      problems.push(`${label}: required`);
      return undefined;
    }
    return intField(problems, label, text, min);
  };
  const numSeeds = req('seeds', j.numSeeds, 1);
  const numSamples = req('samples per request', j.numSamples, 1);
  const numChunks = req('chunks', j.numChunks, 1);
  const seedsPerTask = intField(problems, 'seeds per task', j.seedsPerTask, 1);
  const limit = intField(problems, 'first rows only', j.limit, 1);
  const maxTokens = intField(problems, 'max tokens', j.maxTokens, 1);
  let temperature: number | undefined;
  if (j.temperature.trim()) {
    temperature = Number(j.temperature);
    if (!Number.isFinite(temperature) || temperature < 0) problems.push('temperature: a number >= 0');
  }
  if (problems.length) return { problems };
  const params: SlurmJobParams = { cluster: cluster.name, prompt: j.prompt, input: j.input, numSeeds: numSeeds!, numSamples: numSamples!, numChunks: numChunks! };
  if (j.model.trim()) params.model = j.model.trim();
  if (!usesServerCommand && j.endpoint) params.endpoint = j.endpoint;
  if (seedsPerTask !== undefined) params.seedsPerTask = seedsPerTask;
  if (limit !== undefined) params.limit = limit;
  if (temperature !== undefined) params.temperature = temperature;
  if (maxTokens !== undefined) params.maxTokens = maxTokens;
  if (j.sdgCommand.trim()) params.sdgCommand = j.sdgCommand.trim();
  return { problems, params };
}

/** Array tasks of a job: seed ranges x chunks (as the core numbers them). */
export function taskCount(numSeeds: number, seedsPerTask: number | undefined, numChunks: number): number {
  return Math.ceil(numSeeds / (seedsPerTask ?? numSeeds)) * numChunks;
}
