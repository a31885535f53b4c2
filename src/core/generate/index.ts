/**
 * The labeling job: many solutions per problem from a teacher model, one output row per sample.
 * Used by `sdg generate` and by the extension; plain Node, no `vscode`.
 *
 *   const result = await generateSolutions({ input, output, prompt: 'gsm8k_text', endpoint, apiKey,
 *     numSeeds: 4, numSamples: 8, signal, onProgress });
 *
 * The output JSONL is written exactly where asked; its run folder (`<output>.run/`) holds the
 * frozen config and manifest. Running the same job again resumes: finished items are kept and
 * not requested again, failed ones are retried.
 */
import { createHash } from 'node:crypto';
import { basename, resolve } from 'node:path';
import { detectFileFormat, readDataset, readLines, validateDataset, type DatasetFormat, type DatasetRow, type FieldMapping } from '../datasets';
import { runItems, type ProgressEvent, type RunResult } from '../engine';
import { createEndpointClient } from '../llm/pool';
import { assertValidEndpoint } from '../llm/presets';
import type { ChatMessage, EndpointProfile, LlmClient, ModelParams } from '../llm/types';
import { loadPromptConfig, withOverrides, type CodeExecutionSettings, type ContextType, type PromptConfig, type PromptParams } from '../prompts/promptConfig';
import { createSandbox, type Sandbox, type SandboxInfo, type SandboxSpec } from '../sandbox';
import { rawFormatterFor, solveWithCode, type CodeLoopSetup } from './code';
import { PromptRenderError, renderPrompt } from '../prompts/render';
import { openRun, type OpenedRun, type RunOutputRecovery } from '../run';
import { chunkConfig, chunkRows, chunkSize, validateChunk, type Chunk } from '../scale/shard';
import { codeRows, errorRow, itemsOf, rowKey, seedsOf, successRows, type GenerateItem, type GenerationRow, type RowContext } from './rows';

export * from './rows';
export * from './code';

export interface GenerateOptions {
  /** Input JSONL (gsm8k, math or generic jsonl). */
  input: string;
  /** Output JSONL; the run folder is `<output>.run/` beside it. */
  output: string;
  /** Built-in prompt name, a YAML path, or an already loaded config. */
  prompt: string | PromptConfig;
  endpoint: EndpointProfile;
  /** Resolved API key (never stored). Ignored when `client` is given. */
  apiKey?: string;
  /** A ready client (the extension's, or a test's); otherwise one is created and closed here. */
  client?: LlmClient;
  datasetFormat?: DatasetFormat;
  fields?: FieldMapping;
  /** Overrides the config's context type. */
  contextType?: ContextType;
  /** Overrides the config's few-shot count. */
  fewShotCount?: number;
  /** Seeds start_seed .. start_seed + num_seeds - 1 (defaults 0 and 1). */
  startSeed?: number;
  numSeeds?: number;
  /** Choices per request (`n`), one row each. Default 1. */
  numSamples?: number;
  /** Override the config's sampling defaults. */
  params?: PromptParams;
  /** Items in flight. Default: the endpoint's maxConcurrency, else 16. */
  concurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  /** Only the first L input rows. */
  limit?: number;
  /** Only the rows of this chunk (input_index % numChunks === chunkId; src/core/scale/shard.ts). */
  chunk?: Chunk;
  /** Discard existing rows and start over. */
  overwrite?: boolean;
  signal?: AbortSignal;
  onProgress?(event: ProgressEvent): void;
  /** Early-stop threshold passed to the engine (default 8; false disables). */
  earlyStop?: number | false;
  /** Code mode (prompt configs with `code_execution:`): where blocks run. Default: local python3 workers. */
  sandbox?: SandboxSpec;
  /** Code mode: overrides of the prompt config's `code_execution` settings (CLI flags). */
  codeExecution?: Partial<CodeExecutionSettings>;
  /** Code mode: called once the sandbox works, before any request (the CLI prints its isolation warning). */
  onSandboxReady?(info: SandboxInfo): void;
}

export interface GenerateResult {
  status: RunResult['status'];
  /** One clear message when status is "failed". */
  error: string | null;
  output: string;
  runDir: string;
  promptName: string;
  datasetFormat: DatasetFormat;
  /** Items (problem x seed) in the job, when the input could be counted. */
  total: number | null;
  /** Items written successfully in this session. */
  done: number;
  /** Items written as error rows in this session (a re-run retries them). */
  failed: number;
  /** Items already done before this session. */
  resumed: number;
  /** What the resume found and repaired in the existing output. */
  recovery: RunOutputRecovery;
  run: RunResult;
}

/** Everything a job needs, resolved and validated once: shared by the run, the dry-run and previews. */
export interface PreparedGeneration {
  config: PromptConfig;
  datasetFormat: DatasetFormat;
  params: ModelParams;
  seeds: number[];
  numSamples: number;
  /** First input row and its prompt (for --dry-run and previews); null for an empty input. */
  first: { row: DatasetRow; messages: ChatMessage[] } | null;
  /** The frozen config written to the run folder (no API key). */
  frozen: Record<string, unknown>;
  /** Code mode settings (the config's, with overrides); null for text-only prompts. */
  codeExecution: CodeExecutionSettings | null;
}

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < min) throw new Error(`${name} must be a whole number >= ${min}, got ${v}`);
  return v;
}

/** A short hash of everything in the prompt that changes what the model sees. */
function promptFingerprint(config: PromptConfig): string {
  const fs = config.fewShot;
  const parts = {
    system: config.system,
    user: config.user,
    contextType: config.contextType,
    contextTemplates: config.contextType === 'empty' ? null : config.contextTemplates[config.contextType],
    fewShot: fs && fs.count > 0 ? { template: fs.template, separator: fs.separator, examples: fs.examples.slice(0, fs.count) } : null,
  };
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/**
 * Validates options, loads the prompt config, detects the dataset format and renders the first
 * row's prompt, so that mistakes surface before any request (and `--dry-run` has its answer).
 */
export async function prepareGeneration(options: Omit<GenerateOptions, 'output'> & { output?: string; skipEndpointCheck?: boolean }): Promise<PreparedGeneration> {
  const numSeeds = positiveInt('num_seeds', options.numSeeds, 1);
  const startSeed = positiveInt('start_seed', options.startSeed, 0, 0);
  const numSamples = positiveInt('num_samples', options.numSamples, 1);
  if (options.limit !== undefined) positiveInt('limit', options.limit, 0, 0);
  const base = typeof options.prompt === 'string' ? loadPromptConfig(options.prompt) : options.prompt;
  const config = withOverrides(base, { contextType: options.contextType, fewShotCount: options.fewShotCount });
  if (!options.skipEndpointCheck) assertValidEndpoint(options.endpoint);

  const input = resolve(options.input);
  const detected = options.datasetFormat ?? (await detectFileFormat(input, options.fields));
  let first: PreparedGeneration['first'] = null;
  for await (const row of readDataset(input, { format: detected ?? undefined, fields: options.fields, limit: 1 })) {
    try {
      first = { row, messages: renderPrompt(config, row) };
    } catch (e) {
      // Name the input line: the first row shows whether the prompt fits this dataset at all.
      if (e instanceof PromptRenderError) throw new PromptRenderError(`${input}:${row.line}: ${e.message}`);
      throw e;
    }
  }
  const datasetFormat: DatasetFormat = detected ?? 'jsonl';

  const params: ModelParams = { ...config.params };
  for (const [k, v] of Object.entries(options.params ?? {})) if (v !== undefined) (params as Record<string, unknown>)[k] = v;
  params.n = numSamples;

  const ep = options.endpoint;
  const frozen: Record<string, unknown> = {
    kind: 'generate',
    input,
    dataset: { format: datasetFormat, fields: options.fields ?? {}, limit: options.limit ?? null },
    prompt: { name: config.name, file: config.file, context_type: config.contextType, few_shot: config.fewShot ? { set: config.fewShot.set, count: config.fewShot.count } : null, fingerprint: promptFingerprint(config) },
    endpoint: { name: ep.name, preset: ep.preset ?? null, baseUrl: ep.baseUrl, model: ep.model, apiKind: ep.apiKind, formatter: ep.formatter ?? null, apiKeyEnv: ep.apiKeyEnv ?? null },
    params: { temperature: params.temperature ?? null, top_p: params.top_p ?? null, top_k: params.top_k ?? null, max_tokens: params.max_tokens ?? null, stop: params.stop ?? null, extra: params.extra ?? null },
    num_samples: numSamples,
    start_seed: startSeed,
    num_seeds: numSeeds,
    concurrency: options.concurrency ?? ep.maxConcurrency ?? null,
    requests_per_minute: options.requestsPerMinute ?? ep.requestsPerMinute ?? null,
    tokens_per_minute: options.tokensPerMinute ?? ep.tokensPerMinute ?? null,
  };
  // Only sharded runs carry it, so earlier run folders resume unchanged; a different chunk is refused.
  if (options.chunk) frozen.chunk = chunkConfig(validateChunk(options.chunk));
  const codeExecution = codeSettings(config, options.codeExecution);
  if (codeExecution) {
    rawFormatterFor(ep.apiKind, ep.formatter);
    const sb = options.sandbox ?? {};
    frozen.code_execution = {
      code_begin: codeExecution.codeBegin, code_end: codeExecution.codeEnd, output_begin: codeExecution.outputBegin, output_end: codeExecution.outputEnd,
      max_executions: codeExecution.maxExecutions, max_output_chars: codeExecution.maxOutputChars, timeout: codeExecution.timeoutSeconds, stop_on_error: codeExecution.stopOnError,
      // Where code runs may change between sessions (resume ignores it); what the model sees may not.
      sandbox: { url: sb.url ?? null, language: sb.url ? sb.language ?? 'ipython' : null, python: sb.url ? null : sb.python ?? 'python3', memory_mb: sb.memoryMb ?? null, network: sb.network ?? null },
    };
  }
  return { config, datasetFormat, params, seeds: seedsOf(startSeed, numSeeds), numSamples, first, frozen, codeExecution };
}

/** The config's code settings with the job's overrides; overrides without a code config are an error. */
function codeSettings(config: PromptConfig, overrides: Partial<CodeExecutionSettings> | undefined): CodeExecutionSettings | null {
  const given = Object.entries(overrides ?? {}).filter(([, v]) => v !== undefined);
  if (!config.codeExecution) {
    if (given.length) throw new Error(`prompt ${config.name} has no code_execution section, so code execution settings (${given.map(([k]) => k).join(', ')}) do not apply; use a *_with_code prompt or add code_execution: to the config`);
    return null;
  }
  const out = { ...config.codeExecution, ...Object.fromEntries(given) } as CodeExecutionSettings;
  if (!Number.isInteger(out.maxExecutions) || out.maxExecutions < 0) throw new Error(`max code executions must be a whole number >= 0, got ${out.maxExecutions}`);
  if (!(out.timeoutSeconds > 0)) throw new Error(`code execution time-out must be > 0 seconds, got ${out.timeoutSeconds}`);
  if (!Number.isInteger(out.maxOutputChars) || out.maxOutputChars < 1) throw new Error(`code output size must be a whole number >= 1, got ${out.maxOutputChars}`);
  return out;
}

/**
 * Fields that may change between sessions of one run: more seeds or rows extend it, throughput
 * knobs and the server address do not change what is generated.
 */
export const RESUME_IGNORED_FIELDS = [
  'dataset.limit', 'start_seed', 'num_seeds', 'concurrency', 'requests_per_minute', 'tokens_per_minute',
  'endpoint.name', 'endpoint.preset', 'endpoint.baseUrl', 'endpoint.apiKeyEnv', 'prompt.file', 'code_execution.sandbox', 'endpoint.maxResponseBytes',
];

/** Count the items of the job (non-blank input lines x seeds, capped by limit); null when unreadable. */
export async function countItems(input: string, limit: number | undefined, seeds: number, signal?: AbortSignal, chunk?: Chunk): Promise<number | null> {
  try {
    let n = 0;
    for await (const _ of readLines(input, signal)) {
      n++;
      if (limit !== undefined && n >= limit) break;
    }
    return (chunk ? chunkSize(n, chunk) : n) * seeds;
  } catch {
    return null;
  }
}

/** Runs (or resumes) the labeling job. Fatal setup problems throw; item failures do not. */
export async function generateSolutions(options: GenerateOptions): Promise<GenerateResult> {
  const prepared = await prepareGeneration(options);
  const { config, params, seeds, numSamples, datasetFormat } = prepared;
  const output = resolve(options.output);
  const input = resolve(options.input);
  if (output === input) throw new Error(`--output must differ from --input (${output})`);
  // Every input line is checked before the first request: a bad line (too deep, invalid JSON)
  // stops here with file:line instead of part-way through the run.
  await validateDataset(input, { format: datasetFormat, fields: options.fields, limit: options.limit, signal: options.signal });
  const runDir = `${output}.run`;
  const ctx: RowContext = { promptName: config.name, contextType: config.contextType, model: options.endpoint.model, numSamples };

  const concurrency = options.concurrency ?? options.endpoint.maxConcurrency ?? 16;
  // Code mode: the sandbox must work before any request (a missing python3 is a setup error).
  const code = prepared.codeExecution;
  let sandbox: Sandbox | null = null;
  if (code) {
    sandbox = createSandbox({ ...options.sandbox, timeoutSeconds: code.timeoutSeconds, maxOutputChars: code.maxOutputChars });
    // (Started before the callback: `f?.(await x)` would skip the await when there is no callback.)
    const info = await sandbox.start();
    options.onSandboxReady?.(info);
  }
  // The client first: a client that cannot be built must not leave a run folder open.
  const client = options.client ?? createEndpointClient(options.endpoint, { apiKey: options.apiKey, connections: concurrency });
  // Raw completions in code mode: the prompt is formatted here so the solution so far can follow it.
  const rawFormatter = code ? rawFormatterFor(options.endpoint.apiKind, options.endpoint.formatter) : null;
  const rawClient = rawFormatter ? createEndpointClient({ ...options.endpoint, formatter: 'none' }, { apiKey: options.apiKey, connections: concurrency }) : null;
  const codeSetup: CodeLoopSetup | null = code && sandbox ? { settings: code, sandbox, client, raw: rawClient && rawFormatter ? { client: rawClient, formatter: rawFormatter } : null } : null;
  const closeClient = async () => {
    await rawClient?.close().catch(() => undefined);
    await sandbox?.close().catch(() => undefined);
    if (!options.client) await client.close().catch(() => undefined);
  };
  let run: OpenedRun<GenerationRow>;
  try {
    run = await openRun<GenerationRow>({
      runDir,
      outputPath: output,
      kind: 'generate',
      name: `${config.name}: ${basename(input)}`,
      config: prepared.frozen,
      compare: { ignore: RESUME_IGNORED_FIELDS },
      keyOf: rowKey,
      rowsPerItem: (row) => row.num_samples,
      overwrite: options.overwrite,
      inputs: [input],
    });
  } catch (e) {
    await closeClient();
    throw e;
  }

  // Items of one row come one after another, so the prompt is rendered once per row.
  let lastRow: DatasetRow | null = null;
  let lastMessages: ChatMessage[] = [];
  const messagesFor = (row: DatasetRow): ChatMessage[] => {
    if (row !== lastRow) {
      lastMessages = renderPrompt(config, row);
      lastRow = row;
    }
    return lastMessages;
  };

  let result: RunResult;
  try {
    const all = readDataset(input, { format: datasetFormat, fields: options.fields, limit: options.limit, signal: options.signal });
    const rows = options.chunk ? chunkRows(all, options.chunk) : all;
    result = await runItems<GenerateItem, GenerationRow>({
      items: itemsOf(rows, seeds),
      keyOf: (item) => item.key,
      async execute(item, c) {
        const messages = messagesFor(item.row);
        if (codeSetup) {
          const { samples, model } = await solveWithCode(codeSetup, c, messages, params, item.seed, numSamples);
          return codeRows(item, samples, model, ctx);
        }
        const response = await c.query(client, messages, { ...params, seed: item.seed });
        if (response.choices.length !== numSamples) {
          // A server that ignores `n` would silently give fewer samples per problem.
          throw new Error(`the server returned ${response.choices.length} choice${response.choices.length === 1 ? '' : 's'} for n=${numSamples}; ` +
            'if it does not support n, use --num-samples 1 with more --num-seeds');
        }
        return successRows(item, response, ctx);
      },
      errorRow: (item, err) => errorRow(item, err instanceof Error ? err.message : String(err), ctx),
      sink: run.output,
      concurrency,
      requestsPerMinute: options.requestsPerMinute ?? options.endpoint.requestsPerMinute,
      tokensPerMinute: options.tokensPerMinute ?? options.endpoint.tokensPerMinute,
      earlyStop: options.earlyStop,
      total: countItems(input, options.limit, seeds.length, options.signal, options.chunk),
      signal: options.signal,
      onProgress: options.onProgress,
      manifest: run.manifest,
      endpoint: options.endpoint,
    });
  } finally {
    await run.close();
    await closeClient();
  }
  return {
    status: result.status,
    error: result.error,
    output,
    runDir,
    promptName: config.name,
    datasetFormat,
    total: result.progress.total,
    done: result.done,
    failed: result.failed,
    resumed: result.resumed,
    recovery: run.output.recovery,
    run: result,
  };
}
