/**
 * Labeling runs (the job of `sdg generate`: many solutions per problem from a teacher model)
 * started and resumed from VS Code. The job is the core's `generateSolutions`; this file only
 * turns Studio requests and frozen configs into its options, with the key from SecretStorage.
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { EndpointProfile } from '../core/llm/types';
import type { ContextType } from '../core/prompts/promptConfig';
import type { LabelParams, LaunchEstimate } from '../protocol/studio';
import type { Logger } from './log';
import type { LaunchedRun, RunHooks } from './run/manager';
import { runFolderName } from './pipelines';
import { errorMessage } from './util/redact';

type GenerateCore = typeof import('../core/generate/index.js');
function core(): GenerateCore {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../core/generate/index') as GenerateCore;
}

/** The Studio's labeling params, with the prompt config and the input as confined absolute paths. */
export type LabelRunRequest = Omit<LabelParams, 'prompt' | 'input'> & { promptFile: string; input: string };

/**
 * The launch estimate of a labeling run (src/core/estimate): the job's own prompt config and
 * overrides, a sample of its rows, and whether it needs a confirmation above `threshold` requests.
 */
export async function estimateLabelRun(
  r: LabelRunRequest,
  o: { measuredRequestsPerSec: number | null; prices: import('../core/estimate/index.js').Prices | null; threshold: number },
): Promise<LaunchEstimate> {
  const { loadPromptConfigFile, withOverrides } = require('../core/prompts/promptConfig') as typeof import('../core/prompts/promptConfig.js');
  const { estimateGeneration } = require('../core/estimate/generation') as typeof import('../core/estimate/generation.js');
  const { formatEstimate } = require('../core/estimate') as typeof import('../core/estimate/index.js');
  const config = withOverrides(loadPromptConfigFile(r.promptFile), { contextType: r.contextType, fewShotCount: r.fewShotCount });
  const est = await estimateGeneration({
    input: r.input,
    config,
    limit: r.limit,
    numSeeds: r.numSeeds,
    numSamples: r.numSamples,
    maxTokens: r.maxTokens ?? config.params.max_tokens ?? null,
    measuredRequestsPerSec: o.measuredRequestsPerSec,
    prices: o.prices,
  });
  return { estimate: est, requests: est.requests, lines: formatEstimate(est), confirm: est.requests === null || est.requests > o.threshold, threshold: o.threshold };
}

export interface LabelingDeps {
  runsFolder(): string;
  resolveEndpoint(name: string): Promise<{ profile: EndpointProfile; apiKey: string | undefined }>;
  defaultConcurrency(): number;
  log: Logger;
}

/** The subset of generateSolutions' options a run is defined by (frozen config <-> request). */
interface JobOptions {
  input: string;
  output: string;
  prompt: string;
  endpointName: string;
  numSeeds: number;
  startSeed?: number;
  numSamples: number;
  contextType?: ContextType;
  fewShotCount?: number;
  limit?: number;
  datasetFormat?: import('../core/datasets/index.js').DatasetFormat;
  fields?: Record<string, string>;
  params: { temperature?: number; max_tokens?: number; top_p?: number; top_k?: number; stop?: string[] };
  concurrency?: number;
  /** Code mode: where blocks run, and overrides of the config's limits. */
  sandbox?: import('../core/sandbox/index.js').SandboxSpec;
  codeExecution?: Partial<import('../core/prompts/promptConfig.js').CodeExecutionSettings>;
}

/** The Studio's code-mode choices as the core's sandbox spec and code settings. */
export function codeOptionsOf(code: LabelParams['code']): Pick<JobOptions, 'sandbox' | 'codeExecution'> {
  if (!code) return {};
  const sandbox = code.sandboxUrl ? { url: code.sandboxUrl, timeoutSeconds: code.timeoutSeconds } : { memoryMb: code.memoryMb, timeoutSeconds: code.timeoutSeconds };
  const codeExecution: JobOptions['codeExecution'] = {};
  if (code.maxExecutions !== undefined) codeExecution.maxExecutions = code.maxExecutions;
  if (code.timeoutSeconds !== undefined) codeExecution.timeoutSeconds = code.timeoutSeconds;
  return { sandbox, codeExecution };
}

export class LabelingLauncher {
  constructor(private readonly deps: LabelingDeps) {}

  async start(r: LabelRunRequest, hooks: RunHooks): Promise<LaunchedRun> {
    const folder = this.deps.runsFolder();
    const promptName = basename(r.promptFile).replace(/\.ya?ml$/i, '');
    // The output JSONL sits in the runs folder, its run folder beside it (`<output>.run`).
    const name = runFolderName(`${promptName}-${basename(r.input).replace(/\.jsonl$/i, '')}`, new Date(), (n) => existsSync(join(folder, `${n}.jsonl`)) || existsSync(join(folder, `${n}.jsonl.run`)));
    const params: JobOptions['params'] = {};
    if (r.temperature !== undefined) params.temperature = r.temperature;
    if (r.maxTokens !== undefined) params.max_tokens = r.maxTokens;
    return this.launch(
      {
        input: r.input,
        output: join(folder, `${name}.jsonl`),
        prompt: r.promptFile,
        endpointName: r.endpoint,
        numSeeds: r.numSeeds,
        numSamples: r.numSamples,
        contextType: r.contextType,
        fewShotCount: r.fewShotCount,
        limit: r.limit,
        params,
        concurrency: r.concurrency,
        ...codeOptionsOf(r.code),
      },
      hooks,
    );
  }

  /** Resume from the frozen config.json of `<output>.run` (also runs started by `sdg generate`). */
  async resume(dir: string, config: Record<string, any>, hooks: RunHooks): Promise<LaunchedRun> {
    if (!dir.endsWith('.run')) throw new Error(`${basename(dir)}: a labeling run folder is named <output>.run`);
    const endpointName = config.endpoint?.name;
    if (typeof endpointName !== 'string' || !endpointName) throw new Error(`${basename(dir)}: config.json names no endpoint`);
    const promptFile: string | undefined = config.prompt?.file;
    const p = config.params ?? {};
    const params: JobOptions['params'] = {};
    for (const k of ['temperature', 'max_tokens', 'top_p', 'top_k', 'stop'] as const) if (p[k] !== null && p[k] !== undefined) (params as Record<string, unknown>)[k] = p[k];
    return this.launch(
      {
        input: config.input,
        output: dir.slice(0, -'.run'.length),
        prompt: promptFile && existsSync(promptFile) ? promptFile : config.prompt?.name,
        endpointName,
        numSeeds: config.num_seeds,
        startSeed: config.start_seed,
        numSamples: config.num_samples,
        contextType: config.prompt?.context_type,
        fewShotCount: config.prompt?.few_shot?.count,
        limit: config.dataset?.limit ?? undefined,
        datasetFormat: config.dataset?.format,
        fields: config.dataset?.fields,
        params,
        concurrency: config.concurrency ?? undefined,
        // Code mode: the frozen sandbox (where code ran) and limits.
        ...(config.code_execution
          ? {
              sandbox: config.code_execution.sandbox?.url ? { url: config.code_execution.sandbox.url, language: config.code_execution.sandbox.language ?? undefined } : { python: config.code_execution.sandbox?.python ?? undefined, memoryMb: config.code_execution.sandbox?.memory_mb ?? undefined },
              codeExecution: { maxExecutions: config.code_execution.max_executions, timeoutSeconds: config.code_execution.timeout },
            }
          : {}),
      },
      hooks,
    );
  }

  private async launch(o: JobOptions, hooks: RunHooks): Promise<LaunchedRun> {
    const { generateSolutions, prepareGeneration } = core();
    const { profile: named, apiKey } = await this.deps.resolveEndpoint(o.endpointName);
    const profile = { ...named };
    const concurrency = o.concurrency ?? profile.maxConcurrency ?? this.deps.defaultConcurrency();
    const options = {
      input: o.input,
      output: o.output,
      prompt: o.prompt,
      endpoint: profile,
      apiKey,
      numSeeds: o.numSeeds,
      startSeed: o.startSeed,
      numSamples: o.numSamples,
      contextType: o.contextType,
      fewShotCount: o.fewShotCount,
      limit: o.limit,
      datasetFormat: o.datasetFormat,
      fields: o.fields,
      params: o.params,
      concurrency,
      signal: hooks.signal,
      sandbox: o.sandbox,
      codeExecution: o.codeExecution && Object.keys(o.codeExecution).length ? o.codeExecution : undefined,
    };
    // Setup mistakes (bad prompt, dataset that does not fit it) surface here, before a run folder exists.
    const prepared = await prepareGeneration(options);
    const dir = `${o.output}.run`;
    const name = `${prepared.config.name}: ${basename(o.input)}`;
    this.deps.log.info(`Labeling ${name}: output ${o.output}, endpoint ${profile.name} (${profile.model}), ${o.numSeeds} seed(s) x ${o.numSamples} sample(s), concurrency ${concurrency}`);
    hooks.onProgress({ output: o.output, name, kind: 'generate' });
    const done = generateSolutions({
      ...options,
      onProgress: (e) =>
        hooks.onProgress({
          counts: { total: e.total, done: e.done, failed: e.failed, pending: e.total === null ? null : Math.max(0, e.total - e.done - e.failed) },
          tokens: e.tokens,
          throughput: { requestsPerSec: e.requestsPerSec, tokensPerSec: e.tokensPerSec },
          etaSeconds: e.etaMs === null ? null : e.etaMs / 1000,
          recentErrors: e.lastErrors,
          servers: e.servers,
        }),
    }).then(
      (result) => ({ status: result.status, error: result.error ? errorMessage(result.error) : null }),
      (e: unknown) => ({ status: hooks.signal.aborted ? ('cancelled' as const) : ('failed' as const), error: errorMessage(e) }),
    );
    return { dir, name, kind: 'generate', done };
  }
}
