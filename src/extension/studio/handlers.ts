/**
 * Request handlers of the Studio panel. Every request's params are checked against a schema
 * (`paramSchemas`) before use; file paths are confined to the workspace (or the read-only
 * built-in prompts folder) by files.ts. No `vscode` import: the host-specific parts come in
 * through `StudioBackend`, so this is unit-tested with fakes.
 */
import type { MessageChannel } from '../../protocol/ipc';
import type {
  EndpointTestResult,
  EndpointView,
  InitResult,
  CompareResult,
  LaunchEstimate,
  PostprocessAction,
  PostprocessResult,
  PipelineInfo,
  RunView,
  StudioHostNotifications,
  StudioRequests,
  TemplateRef,
} from '../../protocol/studio';
import { ENDPOINT_NAME, v, type Check } from '../util/validate';
import type { LabelRunRequest } from '../labeling';
import type { SlurmContext } from '../scale/slurm';
import * as files from './files';

export interface StudioBackend extends files.FileContext {
  trusted(): boolean;
  defaultConcurrency(): number;
  /** A profile and its key (for "Try on N rows"). */
  resolveEndpoint?(name: string): Promise<{ profile: import('../../core/llm/types').EndpointProfile; apiKey: string | undefined }>;
  /** Show a (confined) file in an editor. */
  openFile(abs: string, readonly: boolean, line: number | undefined): Promise<void>;
  /** Workspace-relative JSONL files for pickers (datasets: run outputs and stage files left out). */
  listDatasets(): Promise<string[]>;
  /** Run outputs and stage files (offered apart from the datasets). */
  listRunFiles?(): Promise<string[]>;
  /** VS Code's open dialog for a JSONL file; workspace-relative path when inside the workspace. */
  browseDataset?(): Promise<string | undefined>;
  endpoints: {
    list(): Promise<EndpointView[]>;
    save(profile: unknown, previousName: string | undefined, apiKey: string | undefined): Promise<void>;
    remove(name: string): Promise<void>;
    test(name: string): Promise<EndpointTestResult>;
  };
  pipelines: {
    available(): boolean;
    list(): Promise<PipelineInfo[]>;
    listTemplates(): Promise<TemplateRef[]>;
    copyToWorkspace(id: string): Promise<string>;
  };
  runs: {
    available(): boolean;
    list(): Promise<RunView[]>;
    start(pipelineId: string, endpoint: string, params: Record<string, unknown>, concurrency: number | undefined): Promise<string>;
    /** A labeling run; prompt and input are absolute paths already confined. */
    label(request: LabelRunRequest): Promise<string>;
    /** The estimate of a labeling run (same confined request). */
    estimate?(request: LabelRunRequest): Promise<LaunchEstimate>;
    estimatePipeline?(pipelineId: string, params: Record<string, unknown>): Promise<LaunchEstimate>;
    setLabel?(dir: string, label: string): Promise<void>;
    postprocess?(dir: string, action: PostprocessAction): Promise<PostprocessResult>;
    compare?(a: string, b: string): Promise<CompareResult>;
    openFile?(dir: string, file: string): Promise<void>;
    cancel(dir: string): Promise<void>;
    resume(dir: string): Promise<void>;
    openOutput(dir: string): Promise<void>;
  };
  /** The Slurm dialog (absent where the host offers none). */
  slurm?: Omit<SlurmContext, keyof files.FileContext>;
}

const empty = v.object({});
const fieldPath = v.array((x, where) => (typeof x === 'number' ? v.int({ min: 0, max: 100_000 })(x, where) : v.string({ min: 1, max: 200 })(x, where)), { max: 16 });
const templateRef = v.object({ file: v.string({ min: 1, max: 4096 }), field: fieldPath, label: v.string({ max: 500 }) });
const fileRef = v.string({ min: 1, max: 4096 });
const runDir = v.string({ min: 1, max: 4096 });
const text = v.string({ max: 1_000_000 });
const fewShotExample = v.record(v.string({ max: 200_000 }), { maxKeys: 20 });
const profile = v.object({
  name: ENDPOINT_NAME,
  baseUrl: v.string({ min: 1, max: 2048 }),
  model: v.string({ min: 1, max: 500 }),
  apiKind: v.literal('chat', 'completions'),
  formatter: v.optional(v.literal('none', 'mixtral', 'llama2', 'nemotron', 'llama3', 'chatml')),
  preset: v.optional(v.literal('nvidia', 'openai', 'vllm', 'sglang', 'tensorrt-llm', 'nim', 'llamacpp', 'ollama', 'custom')),
  apiKeyEnv: v.optional(v.string({ max: 200 })),
  headers: v.optional(v.record(v.string({ max: 4096 }), { maxKeys: 50 })),
  maxConcurrency: v.optional(v.limit('concurrency')),
  requestsPerMinute: v.optional(v.limit('requestsPerMinute')),
  tokensPerMinute: v.optional(v.limit('tokensPerMinute')),
  timeoutMs: v.optional(v.limit('timeoutMs')),
  servers: v.optional(v.array(v.object({ baseUrl: v.string({ min: 1, max: 2048 }), weight: v.optional(v.number({ min: 0 })), maxConcurrency: v.optional(v.int({ min: 1, max: 100_000 })) }), { max: 256 })),
});

const sbatchText = v.string({ min: 1, max: 200 });
const clusterSettings = v.object({
  partition: v.optional(sbatchText),
  account: v.optional(sbatchText),
  qos: v.optional(sbatchText),
  time: v.optional(sbatchText),
  gpusPerNode: v.optional(v.int({ min: 0, max: 1024 })),
  nodesPerTask: v.optional(v.int({ min: 1, max: 100_000 })),
  cpusPerTask: v.optional(v.int({ min: 1, max: 100_000 })),
  mem: v.optional(sbatchText),
  setup: v.optional(v.array(v.string({ max: 4096 }), { max: 100 })),
  containerImage: v.optional(v.string({ min: 1, max: 1000 })),
  serverCommand: v.optional(v.string({ min: 1, max: 10_000 })),
  serverTimeout: v.optional(v.int({ min: 1, max: 1_000_000 })),
  healthPath: v.optional(v.string({ min: 1, max: 500 })),
  sbatchArgs: v.optional(v.array(v.string({ min: 1, max: 500 }), { max: 50 })),
  maxParallel: v.optional(v.int({ min: 1, max: 1_000_000 })),
  continuations: v.optional(v.int({ min: 0, max: 100 })),
  requeue: v.optional(v.boolean()),
  mergeTime: v.optional(sbatchText),
});
const CLUSTER_NAME = v.string({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]*$/, label: 'letters, digits, "_", "." or "-", starting with a letter or digit' });
const slurmJob = v.object({
  cluster: CLUSTER_NAME,
  prompt: fileRef,
  input: fileRef,
  model: v.optional(v.string({ max: 500 })),
  endpoint: v.optional(ENDPOINT_NAME),
  numSeeds: v.int({ min: 1, max: 100_000 }),
  startSeed: v.optional(v.int({ min: 0, max: 100_000_000 })),
  numSamples: v.int({ min: 1, max: 1024 }),
  seedsPerTask: v.optional(v.int({ min: 1, max: 100_000 })),
  numChunks: v.int({ min: 1, max: 100_000 }),
  limit: v.optional(v.int({ min: 1 })),
  temperature: v.optional(v.number({ min: 0, max: 10 })),
  maxTokens: v.optional(v.int({ min: 1, max: 10_000_000 })),
  concurrency: v.optional(v.limit('concurrency')),
  sdgCommand: v.optional(v.string({ max: 4096 })),
});

const labelParams = v.object({
  prompt: fileRef,
  input: fileRef,
  endpoint: ENDPOINT_NAME,
  numSeeds: v.int({ min: 1, max: 100_000 }),
  numSamples: v.int({ min: 1, max: 1024 }),
  contextType: v.optional(v.literal('empty', 'reference_solution', 'masked_solution')),
  fewShotCount: v.optional(v.int({ min: 0, max: 1000 })),
  limit: v.optional(v.int({ min: 1 })),
  temperature: v.optional(v.number({ min: 0, max: 10 })),
  maxTokens: v.optional(v.int({ min: 1, max: 10_000_000 })),
  concurrency: v.optional(v.limit('concurrency')),
  code: v.optional(
    v.object({
      sandboxUrl: v.optional(v.string({ min: 1, max: 2048, pattern: /^https?:\/\/\S+$/, label: 'an http(s) URL' })),
      maxExecutions: v.optional(v.int({ min: 0, max: 1000 })),
      timeoutSeconds: v.optional(v.number({ min: 0.1, max: 3600 })),
      memoryMb: v.optional(v.int({ min: 0, max: 1_000_000 })),
    }),
  ),
});

/** The schema of every request's params. A request without one is refused. */
export const paramSchemas: { [K in keyof StudioRequests]: Check<StudioRequests[K]['params']> } = {
  init: empty as Check<Record<string, never>>,
  'pipelines.list': empty as Check<Record<string, never>>,
  'pipelines.copyToWorkspace': v.object({ id: v.string({ min: 1, max: 4096 }) }),
  'templates.list': empty as Check<Record<string, never>>,
  'template.get': v.object({ ref: templateRef }),
  'template.preview': v.object({ ref: templateRef, text, row: v.optional(v.record(v.json({ maxChars: 2_000_000 }), { maxKeys: 500 })), fewShot: v.optional(v.array(fewShotExample, { max: 500 })) }),
  'template.save': v.object({ ref: templateRef, text }),
  'template.try': v.object({
    ref: templateRef,
    text,
    fewShot: v.optional(v.array(fewShotExample, { max: 500 })),
    file: fileRef,
    indices: v.array(v.int({ min: 0, max: 100_000_000 }), { max: 8 }),
    endpoint: ENDPOINT_NAME,
    temperature: v.optional(v.number({ min: 0, max: 10 })),
    maxTokens: v.optional(v.int({ min: 1, max: 1_000_000 })),
  }),
  'files.open': v.object({ file: fileRef, line: v.optional(v.int({ min: 1 })) }),
  'datasets.list': empty as Check<Record<string, never>>,
  'datasets.browse': empty as Check<Record<string, never>>,
  'datasets.row': v.object({ file: fileRef, index: v.int({ min: 0, max: 100_000_000 }) }),
  'fewshot.list': empty as Check<Record<string, never>>,
  'fewshot.get': v.object({ file: fileRef }),
  'fewshot.save': v.object({ file: fileRef, examples: v.array(fewShotExample, { max: 500 }) }),
  'fewshot.import': v.object({ file: fileRef, limit: v.int({ min: 1, max: 500 }) }),
  'endpoints.save': v.object({ profile, previousName: v.optional(ENDPOINT_NAME), apiKey: v.optional(v.string({ max: 10_000 })) }) as Check<StudioRequests['endpoints.save']['params']>,
  'endpoints.remove': v.object({ name: ENDPOINT_NAME }),
  'endpoints.test': v.object({ name: ENDPOINT_NAME }),
  'runs.start': v.object({ pipelineId: v.string({ min: 1, max: 4096 }), endpoint: ENDPOINT_NAME, params: v.record(v.json({ maxChars: 1_000_000 }), { maxKeys: 200 }), concurrency: v.optional(v.limit('concurrency')) }),
  'runs.label': labelParams,
  'runs.estimate': labelParams,
  'runs.estimatePipeline': v.object({ pipelineId: v.string({ min: 1, max: 4096 }), params: v.record(v.json({ maxChars: 1_000_000 }), { maxKeys: 200 }) }),
  'runs.setLabel': v.object({ dir: runDir, label: v.string({ max: 200 }) }),
  'runs.postprocess': v.object({ dir: runDir, action: v.literal('grade', 'metrics', 'vote', 'exportSft') }),
  'runs.compare': v.object({ a: runDir, b: runDir }),
  'runs.openFile': v.object({ dir: runDir, file: v.string({ min: 1, max: 4096 }) }),
  'runs.cancel': v.object({ dir: runDir }),
  'runs.resume': v.object({ dir: runDir, endpoint: v.optional(ENDPOINT_NAME) }),
  'runs.openOutput': v.object({ dir: runDir }),
  'runs.list': empty as Check<Record<string, never>>,
  'slurm.info': empty as Check<Record<string, never>>,
  'slurm.saveCluster': v.object({ name: CLUSTER_NAME, settings: clusterSettings }),
  'slurm.preview': slurmJob,
  'slurm.submit': slurmJob,
};

type Handlers = { [K in keyof StudioRequests]: (params: StudioRequests[K]['params']) => Promise<StudioRequests[K]['result']> };

function requireTrust(b: StudioBackend, action: string): void {
  if (!b.trusted()) throw new Error(`${action} is disabled in an untrusted workspace`);
}

export function createHandlers(b: StudioBackend): Handlers {
  return {
    init: async (): Promise<InitResult> => {
      // A broken pipeline folder must not take the whole panel down: report it, load the rest.
      let pipelines: PipelineInfo[] = [];
      let pipelinesError: string | undefined;
      try {
        if (b.pipelines.available()) pipelines = await b.pipelines.list();
      } catch (e) {
        pipelinesError = e instanceof Error ? e.message : String(e);
      }
      return {
        trusted: b.trusted(),
        hasWorkspace: b.roots.length > 0,
        defaultConcurrency: b.defaultConcurrency(),
        pipelines,
        pipelinesError,
        endpoints: await b.endpoints.list(),
        runs: await b.runs.list(),
        features: { pipelines: b.pipelines.available(), preview: true, endpointsTest: true, runs: b.runs.available() },
      };
    },
    'pipelines.list': () => b.pipelines.list(),
    'pipelines.copyToWorkspace': async ({ id }) => ({ file: await b.pipelines.copyToWorkspace(id) }),
    'templates.list': () => b.pipelines.listTemplates(),
    'template.get': ({ ref }) => files.getTemplate(b, ref),
    'template.preview': ({ ref, text, row, fewShot }) => files.previewTemplate(b, ref, text, row, fewShot),
    'template.try': async (params) => {
      requireTrust(b, 'Trying prompts on an endpoint');
      if (!b.resolveEndpoint) throw new Error('endpoints are not available in this window');
      if (!params.indices.length) throw new Error('indices: choose at least one row');
      const { tryOnRows } = require('./tryRows') as typeof import('./tryRows.js');
      return tryOnRows({ roots: b.roots, builtinDir: b.builtinDir, resolveEndpoint: b.resolveEndpoint }, params);
    },
    'template.save': async ({ ref, text }) => ({ errors: await files.saveTemplate(b, ref, text) }),
    'files.open': async ({ file, line }) => {
      const { abs, readonly } = files.resolveFileRef(b, file, 'file');
      await b.openFile(abs, readonly, line);
      return null;
    },
    'datasets.list': async () => {
      const [datasets, runFiles] = await Promise.all([b.listDatasets(), b.listRunFiles?.() ?? []]);
      const runs = new Set(runFiles);
      return [...datasets.filter((f) => !runs.has(f)).map((file) => ({ file, group: 'dataset' as const })), ...runFiles.map((file) => ({ file, group: 'run' as const }))];
    },
    'datasets.browse': async () => ({ file: (await b.browseDataset?.()) ?? null }),
    'datasets.row': ({ file, index }) => files.datasetRow(b, file, index),
    'fewshot.list': async () => files.listFewShotSets(b),
    'fewshot.get': ({ file }) => files.getFewShot(b, file),
    'fewshot.save': async ({ file, examples }) => ({ errors: await files.saveFewShot(b, file, examples) }),
    'fewshot.import': ({ file, limit }) => files.importFewShot(b, file, limit),
    'endpoints.save': async ({ profile, previousName, apiKey }) => {
      await b.endpoints.save(profile, previousName, apiKey);
      return b.endpoints.list();
    },
    'endpoints.remove': async ({ name }) => {
      await b.endpoints.remove(name);
      return b.endpoints.list();
    },
    'endpoints.test': async ({ name }) => {
      requireTrust(b, 'Testing endpoints');
      return b.endpoints.test(name);
    },
    'runs.start': async ({ pipelineId, endpoint, params, concurrency }) => {
      requireTrust(b, 'Running pipelines');
      return { dir: await b.runs.start(pipelineId, endpoint, params, concurrency) };
    },
    'runs.label': async ({ prompt, input, ...rest }) => {
      requireTrust(b, 'Running labeling jobs');
      const promptFile = files.resolveFileRef(b, prompt, 'prompt').abs;
      const inputFile = files.resolveFileRef(b, input, 'input');
      if (inputFile.readonly) throw new Error('input: choose a dataset in the workspace');
      return { dir: await b.runs.label({ ...rest, promptFile, input: inputFile.abs }) };
    },
    'runs.estimate': async ({ prompt, input, ...rest }) => {
      if (!b.runs.estimate) throw new Error('estimates are not available in this window');
      const promptFile = files.resolveFileRef(b, prompt, 'prompt').abs;
      const inputFile = files.resolveFileRef(b, input, 'input');
      return b.runs.estimate({ ...rest, promptFile, input: inputFile.abs });
    },
    'runs.estimatePipeline': async ({ pipelineId, params }) => {
      if (!b.runs.estimatePipeline) throw new Error('estimates are not available in this window');
      return b.runs.estimatePipeline(pipelineId, params);
    },
    'runs.setLabel': async ({ dir, label }) => {
      if (!b.runs.setLabel) throw new Error('labels are not available in this window');
      await b.runs.setLabel(dir, label);
      return null;
    },
    'runs.postprocess': async ({ dir, action }) => {
      if (!b.runs.postprocess) throw new Error('grading is not available in this window');
      return b.runs.postprocess(dir, action);
    },
    'runs.compare': async (p) => {
      if (!b.runs.compare) throw new Error('comparing runs is not available in this window');
      return b.runs.compare(p.a, p.b);
    },
    'runs.openFile': async ({ dir, file }) => {
      if (!b.runs.openFile) throw new Error('not available in this window');
      await b.runs.openFile(dir, file);
      return null;
    },
    'runs.cancel': async ({ dir }) => {
      await b.runs.cancel(dir);
      return null;
    },
    'runs.resume': async ({ dir }) => {
      requireTrust(b, 'Resuming runs');
      await b.runs.resume(dir);
      return null;
    },
    'runs.openOutput': async ({ dir }) => {
      await b.runs.openOutput(dir);
      return null;
    },
    'runs.list': () => b.runs.list(),
    'slurm.info': async () => slurm().slurmInfo(slurmContext(b)),
    'slurm.saveCluster': async ({ name, settings }) => {
      requireTrust(b, 'Saving cluster profiles');
      return slurm().saveCluster(slurmContext(b), name, settings);
    },
    'slurm.preview': async (params) => {
      requireTrust(b, 'Slurm jobs');
      return (await slurm().planJob(slurmContext(b), params)).preview;
    },
    'slurm.submit': async (params) => {
      requireTrust(b, 'Submitting Slurm jobs');
      return slurm().submitJob(slurmContext(b), params);
    },
  };
}

// The Slurm code (core script generation, YAML) loads when the dialog is first used.
function slurm(): typeof import('../scale/slurm.js') {
  return require('../scale/slurm') as typeof import('../scale/slurm.js');
}

function slurmContext(b: StudioBackend): SlurmContext {
  if (!b.slurm) throw new Error('Slurm jobs are not available in this window');
  return { ...b.slurm, roots: b.roots, builtinDir: b.builtinDir };
}

/** Register every handler on a channel, each behind its params check. */
export function registerHandlers(
  channel: MessageChannel<StudioRequests, Record<string, never>, Record<string, never>, StudioHostNotifications>,
  handlers: Handlers,
  log: (message: string) => void,
): void {
  for (const method of Object.keys(paramSchemas) as Array<keyof StudioRequests>) {
    const check = paramSchemas[method] as Check<unknown>;
    const handler = handlers[method] as (p: unknown) => Promise<unknown>;
    channel.handle(method, (async (params: unknown) => {
      const checked = check(params ?? {}, 'params');
      try {
        return await handler(checked);
      } catch (e) {
        log(`Studio request ${method} failed: ${e instanceof Error ? e.message : String(e)}`);
        throw e;
      }
    }) as never);
  }
}
