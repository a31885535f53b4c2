/**
 * Adapter between the extension and the core pipeline API (src/core/pipeline): the catalogue
 * of built-in and workspace pipelines for the UI, copying one to the workspace, and launching
 * or resuming runs for the RunManager. Loading, validation and running are the core's; this
 * file only maps them to the Studio protocol and to SecretStorage-backed endpoints.
 */
import { existsSync, readdirSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { LlmClient, EndpointProfile } from '../core/llm/types';
import type { ProgressEvent } from '../core/engine/progress';
import type { ParamSpec, ParamValue } from '../core/pipeline/definition';
import type { ParamInfo, PipelineInfo, StageView, TemplateRef } from '../protocol/studio';
import type { Logger } from './log';
import type { LaunchedRun, RunHooks, RunLauncher, RunOutcome } from './run/manager';
import { fileRefOf } from './studio/fileRefs';
import { errorMessage } from './util/redact';

// The pipeline core pulls in the engine and the HTTP client: load it on first use only.
type PipelineCore = typeof import('../core/pipeline/index.js');
let pipelineCore: PipelineCore | undefined;
function core(): PipelineCore {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (pipelineCore ??= require('../core/pipeline/index') as PipelineCore);
}

export interface PipelineRunRequest {
  pipelineId: string;
  endpoint: string;
  params: Record<string, unknown>;
  concurrency?: number;
}

/** Core parameter spec -> the form field the Studio shows. */
export function paramInfo(p: ParamSpec): ParamInfo {
  const base = { name: p.name, description: p.description, required: p.required, min: p.min, max: p.max };
  const def = p.default;
  switch (p.type) {
    case 'int':
      return { ...base, type: 'integer', default: def };
    case 'number':
      return { ...base, type: 'number', default: def };
    case 'bool':
      return { ...base, type: 'boolean', default: def };
    case 'list':
      // Edited as text, one value per line.
      return { ...base, type: 'text', default: Array.isArray(def) ? def.join('\n') : def, description: `${p.description ?? ''}${p.description ? ' ' : ''}(one value per line)` };
    default:
      return p.choices?.length ? { ...base, type: 'enum', options: p.choices, default: def } : { ...base, type: 'string', default: def };
  }
}

/** Names of the parameters that hold input files: those a `source` stage's `documents` refers to. */
export function datasetParamNames(def: { stages: Array<{ kind: string; options?: Record<string, unknown>; documents?: unknown }> }): Set<string> {
  const out = new Set<string>();
  const refOf = (v: unknown) => (typeof v === 'string' ? /^\s*\{\{\s*([A-Za-z_][\w]*)\s*\}\}\s*$/.exec(v)?.[1] : undefined);
  for (const st of def.stages) {
    if (st.kind !== 'source') continue;
    const docs = st.options ? st.options.documents : st.documents;
    for (const v of Array.isArray(docs) ? docs : [docs]) {
      const name = refOf(v);
      if (name) out.add(name);
    }
  }
  return out;
}

/**
 * Relative paths in dataset parameters resolve against the workspace folder (the extension
 * host's cwd is not the workspace); the CLI keeps resolving them against its cwd.
 */
export function resolveDatasetParams(def: Parameters<typeof datasetParamNames>[0], params: Record<string, ParamValue>, root: string | undefined): Record<string, ParamValue> {
  if (!root) return params;
  const names = datasetParamNames(def);
  const abs = (v: string) => (v.trim() && !isAbsolute(v.trim()) ? resolve(root, v.trim()) : v);
  const out = { ...params };
  for (const name of names) {
    const v = out[name];
    if (typeof v === 'string') out[name] = abs(v);
    else if (Array.isArray(v)) out[name] = v.map((x) => (typeof x === 'string' ? abs(x) : x)) as ParamValue;
  }
  return out;
}

/** Form values -> typed parameter values for the core (which validates them again). */
export function paramValues(specs: ParamSpec[], values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    const spec = specs.find((s) => s.name === name);
    if (!spec) {
      out[name] = value; // the core names unknown parameters in its error
      continue;
    }
    if (spec.type === 'list' && typeof value === 'string') out[name] = value.split('\n').map((x) => x.trim()).filter(Boolean);
    else if ((spec.type === 'int' || spec.type === 'number') && typeof value === 'string' && value.trim() !== '') out[name] = Number(value);
    else if (spec.type === 'bool' && typeof value === 'string') out[name] = value === 'true';
    else out[name] = value;
  }
  return out;
}

/** A run folder name: pipeline name + local time, unique within the runs folder. */
export function runFolderName(pipeline: string, now: Date, exists: (name: string) => boolean): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const safe = pipeline.replace(/[^\w.-]+/g, '_').slice(0, 60) || 'run';
  let name = `${safe}-${stamp}`;
  for (let i = 2; exists(name); i++) name = `${safe}-${stamp}-${i}`;
  return name;
}

export class PipelineCatalog {
  constructor(readonly builtinDir: string, readonly roots: () => string[]) {}

  /** `<first workspace folder>/prompts`, where workspace pipelines and templates live. */
  workspaceRoot(): string | undefined {
    return this.roots()[0];
  }

  workspacePromptsDir(): string | undefined {
    const root = this.roots()[0];
    return root ? join(root, 'prompts') : undefined;
  }

  available(): boolean {
    return true;
  }

  refOf(abs: string): string {
    return fileRefOf({ roots: this.roots(), builtinDir: this.builtinDir }, abs);
  }

  async list(): Promise<PipelineInfo[]> {
    const { listPipelines } = core();
    const cat = listPipelines(this.workspacePromptsDir());
    return cat.pipelines.map((p) => {
      const datasets = datasetParamNames(p);
      const templates: TemplateRef[] = [];
      for (const name of p.templates) {
        const file = cat.templates.locate(name);
        if (!file) continue;
        templates.push({ file: this.refOf(file), field: ['prompt'], label: name });
        try {
          if (cat.templates.get(name).system !== undefined) templates.push({ file: this.refOf(file), field: ['system'], label: `${name} (system)` });
        } catch {
          /* an invalid template is reported by the pipeline's errors */
        }
      }
      return {
        id: p.name,
        name: p.name,
        description: p.description,
        source: p.source,
        file: this.refOf(p.file),
        parameters: p.parameters.map((x) => (datasets.has(x.name) ? { ...paramInfo(x), dataset: true } : paramInfo(x))),
        stages: p.stages.map((s) => ({ name: s.name, description: s.kind })),
        templates,
        fewShotSets: [],
        errors: p.errors.map((e) => `${basename(e.file)}${e.line ? `:${e.line}` : ''}: ${e.field ? `${e.field}: ` : ''}${e.message}`),
      };
    });
  }

  /** Every template: pipeline templates (prompt/system) and labeling prompt configs (user/system), workspace first. */
  async listTemplates(): Promise<TemplateRef[]> {
    const wsPrompts = this.workspacePromptsDir();
    const out: TemplateRef[] = [];
    const ref = (abs: string, field: string, label: string): TemplateRef => ({ file: this.refOf(abs), field: [field], label });
    for (const t of core().templateStore(wsPrompts).list()) out.push(ref(t.file, 'prompt', t.name));
    const configDirs = [...(wsPrompts ? [join(wsPrompts, 'generation')] : []), join(this.builtinDir, 'generation')];
    const seen = new Set<string>();
    for (const dir of configDirs) {
      if (!existsSync(dir)) continue;
      for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
        const name = f.replace(/\.ya?ml$/, '');
        if (seen.has(name)) continue;
        seen.add(name);
        out.push(ref(join(dir, f), 'user', `${name} (prompt config)`));
      }
    }
    return out;
  }

  /** Copy a built-in pipeline and its templates into `<root>/prompts`; returns the files written. */
  async copyToWorkspace(id: string, root: string): Promise<string[]> {
    const r = core().copyBuiltinPipeline(id, join(root, 'prompts'));
    const pipelineFile = join(root, 'prompts', 'pipelines', `${id}.yaml`);
    if (!r.written.includes(pipelineFile)) throw new Error(`prompts/pipelines/${id}.yaml already exists in the workspace (left unchanged)`);
    return r.written;
  }
}

export interface LauncherDeps {
  catalog: PipelineCatalog;
  runsFolder(): string;
  resolveEndpoint(name: string): Promise<{ profile: EndpointProfile; apiKey: string | undefined }>;
  defaultConcurrency(): number;
  log: Logger;
}

/** What the extension freezes about an endpoint in config.json: never the key, only its secret's name. */
export function endpointConfigOf(p: EndpointProfile): Record<string, unknown> {
  return { name: p.name, baseUrl: p.baseUrl, model: p.model, apiKind: p.apiKind, formatter: p.formatter, preset: p.preset };
}

/** Progress of one pipeline run, kept as the RunView's stage list. */
class PipelineProgress {
  readonly stages: StageView[];
  constructor(names: string[]) {
    this.stages = names.map((name) => ({ name, status: 'pending', counts: { total: null, done: 0, failed: 0, pending: null } }));
  }
  /** At the end of a run, a stage still "running" ended the way the run did. */
  settle(status: string): void {
    for (const s of this.stages) if (s.status === 'running') s.status = status;
  }
  stage(name: string): StageView {
    let s = this.stages.find((x) => x.name === name);
    if (!s) this.stages.push((s = { name, status: 'pending', counts: { total: null, done: 0, failed: 0, pending: null } }));
    return s;
  }
}

/** The estimate of a pipeline run (src/core/estimate/pipeline.ts), its parameters resolved as a launch resolves them. */
export async function estimatePipelineRun(catalog: PipelineCatalog, pipelineId: string, values: Record<string, unknown>, threshold: number): Promise<import('../protocol/studio').LaunchEstimate> {
  const { resolvePipeline, resolveParameters, dryRun } = core();
  const { def, templates } = resolvePipeline(pipelineId, catalog.workspacePromptsDir());
  const params = resolveDatasetParams(def, resolveParameters(def, {}, paramValues(def.parameters, values)), catalog.workspaceRoot());
  const { estimatePipeline, formatPipelineEstimate } = require('../core/estimate/pipeline') as typeof import('../core/estimate/pipeline.js');
  const e = await estimatePipeline(def, params, dryRun(def, params, templates));
  return { requests: e.minRequests, lines: formatPipelineEstimate(e), confirm: e.minRequests !== null && e.minRequests > threshold, threshold };
}

export class PipelineLauncher implements RunLauncher<PipelineRunRequest> {
  constructor(private readonly deps: LauncherDeps) {}

  async start(request: PipelineRunRequest, hooks: RunHooks): Promise<LaunchedRun> {
    const { resolvePipeline, resolveParameters } = core();
    const { def, templates } = resolvePipeline(request.pipelineId, this.deps.catalog.workspacePromptsDir());
    const params = resolveDatasetParams(def, resolveParameters(def, {}, paramValues(def.parameters, request.params)), this.deps.catalog.workspaceRoot());
    const folder = this.deps.runsFolder();
    const dir = join(folder, runFolderName(def.name, new Date(), (n) => existsSync(join(folder, n))));
    return this.launch({ def, templates, params, dir, endpointName: request.endpoint, concurrency: request.concurrency }, hooks);
  }

  async resume(dir: string, hooks: RunHooks): Promise<LaunchedRun> {
    const { readFrozenConfig } = (require('../core/run/config') as typeof import('../core/run/config.js'));
    const config = await readFrozenConfig<{
      kind?: string;
      pipeline?: string;
      file?: string;
      parameters?: Record<string, ParamValue>;
      endpoints?: Record<string, { name?: string }>;
      concurrency?: number;
    }>(dir);
    if (!config) throw new Error(`${dir} has no config.json: not a run folder`);
    if (config.kind !== 'pipeline' || !config.pipeline) {
      throw new Error(`${basename(dir)} is a "${config.kind ?? 'unknown'}" run: resume it with the sdg CLI command that started it`);
    }
    const endpointName = config.endpoints?.default?.name;
    if (!endpointName) throw new Error(`${basename(dir)} was not started from VS Code (no endpoint name in config.json): resume it with \`sdg run\``);
    const { resolvePipeline } = core();
    const target = config.file && existsSync(config.file) ? config.file : config.pipeline;
    const { def, templates } = resolvePipeline(target, this.deps.catalog.workspacePromptsDir());
    return this.launch({ def, templates, params: config.parameters ?? {}, dir, endpointName, concurrency: config.concurrency }, hooks);
  }

  private async launch(
    o: { def: import('../core/pipeline/definition.js').PipelineDef; templates: import('../core/pipeline/templates.js').TemplateStore; params: Record<string, ParamValue>; dir: string; endpointName: string; concurrency?: number },
    hooks: RunHooks,
  ): Promise<LaunchedRun> {
    const { runPipeline } = core();
    // A pool when the profile lists several servers, else the single-server client.
    const { createEndpointClient } = (require('../core/llm/pool') as typeof import('../core/llm/pool.js'));
    const { profile, apiKey } = await this.deps.resolveEndpoint(o.endpointName);
    const concurrency = o.concurrency ?? profile.maxConcurrency ?? this.deps.defaultConcurrency();
    const clients: LlmClient[] = [];
    let client: LlmClient | undefined;
    const clientFor = (): LlmClient => {
      if (!client) clients.push((client = createEndpointClient(profile, { apiKey, connections: Math.max(concurrency, 8) })));
      return client;
    };
    const progress = new PipelineProgress(o.def.stages.map((s) => s.name));
    const endpointConfig: Record<string, unknown> = { default: endpointConfigOf(profile) };
    for (const role of Object.keys(o.def.endpoints)) endpointConfig[role] = endpointConfigOf(profile);
    this.deps.log.info(`Pipeline ${o.def.name}: run folder ${o.dir}, endpoint ${profile.name} (${profile.baseUrl}, ${profile.model}), concurrency ${concurrency}`);

    const onProgress = (stage: string, e: ProgressEvent) => {
      const s = progress.stage(stage);
      s.status = e.final ? s.status : 'running';
      s.counts = { total: e.total, done: e.done, failed: e.failed, pending: e.total === null ? null : Math.max(0, e.total - e.done - e.failed) };
      hooks.onProgress({
        currentStage: stage,
        counts: s.counts,
        tokens: e.tokens,
        throughput: { requestsPerSec: e.requestsPerSec, tokensPerSec: e.tokensPerSec },
        etaSeconds: e.etaMs === null ? null : e.etaMs / 1000,
        recentErrors: e.lastErrors,
        stages: progress.stages,
        servers: e.servers,
      });
    };
    const onStage = (stage: string, status: string, detail?: string) => {
      const s = progress.stage(stage);
      s.status = status;
      if (status === 'completed' && detail) {
        const rows = Number.parseInt(detail, 10);
        if (Number.isFinite(rows) && s.counts.total === null) s.counts = { total: rows, done: rows, failed: 0, pending: 0 };
      }
      this.deps.log.debug(`Pipeline ${o.def.name}: stage ${stage} ${status}${detail ? ` (${detail})` : ''}`);
      hooks.onProgress({ stages: progress.stages, currentStage: status === 'running' ? stage : undefined });
    };

    const done: Promise<RunOutcome> = (async () => {
      try {
        const result = await runPipeline({
          def: o.def,
          params: o.params,
          templates: o.templates,
          outputDir: o.dir,
          client: () => clientFor(),
          endpointConfig,
          concurrency,
          requestsPerMinute: profile.requestsPerMinute,
          tokensPerMinute: profile.tokensPerMinute,
          signal: hooks.signal,
          onProgress,
          onStage,
        });
        progress.settle(result.status);
        hooks.onProgress({ output: result.output, stages: progress.stages });
        return { status: result.status, error: result.error ? errorMessage(result.error) : null };
      } catch (e) {
        const status = hooks.signal.aborted ? 'cancelled' : 'failed';
        progress.settle(status);
        hooks.onProgress({ stages: progress.stages });
        return { status, error: errorMessage(e) };
      } finally {
        await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      }
    })();
    hooks.onProgress({ output: join(o.dir, 'output.jsonl'), stages: progress.stages });
    return { dir: o.dir, name: o.def.name, kind: 'pipeline', done };
  }
}
