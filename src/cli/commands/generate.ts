/**
 * `sdg generate`: label a problem set with many solutions per problem from a teacher model.
 * A thin shell over `generateSolutions` (src/core/generate); see docs/generate.md.
 *
 * Exit codes: 0 every item done; 1 fatal error (one line on stderr); 2 finished, but some items
 * failed (their error rows are in the output; the same command retries them); 130 cancelled.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DATASET_FORMATS, parseFieldMapping, type DatasetFormat } from '../../core/datasets';
import { countItems, generateSolutions, prepareGeneration, type GenerateOptions } from '../../core/generate';
import { formatEstimate } from '../../core/estimate';
import { estimateGeneration } from '../../core/estimate/generation';
import { FORMATTER_NAMES, isFormatterName } from '../../core/llm/formatters';
import { PRESET_NAMES, assertValidEndpoint, isPresetName, resolveApiKey, resolveEndpoint } from '../../core/llm/presets';
import type { ApiKind, EndpointProfile, FormatterName, PresetName, ServerStats } from '../../core/llm/types';
import { CONTEXT_TYPES, type ContextType, type PromptParams } from '../../core/prompts/promptConfig';
import { checkLimit, type LimitName } from '../../core/limits';
import { redactUrlCredentials } from '../../core/redact';
import { parseServerSpecs, validatePoolServers } from '../../core/llm/pool';
import { currentCommand, writeCommandRecord } from '../../core/scale/command';
import { chunkOutputPath, validateChunk, type Chunk } from '../../core/scale/shard';
import { createProgressRenderer } from '../progress';
import { CANCELLED_EXIT_CODE, cancelOnSignals } from '../signals';
import { addEndpointFlags, addProgressFlags, showProgress } from '../endpointFlags';

interface GenerateFlags {
  input: string;
  output?: string;
  prompt: string;
  baseUrl: string[];
  model?: string;
  apiKeyEnv?: string;
  apiKind?: string;
  formatter?: string;
  chatTemplate?: string;
  preset?: string;
  numSeeds?: string;
  startSeed?: string;
  numSamples?: string;
  temperature?: string;
  topP?: string;
  topK?: string;
  maxTokens?: string;
  stop?: string[];
  concurrency?: string;
  rpm?: string;
  tpm?: string;
  timeout?: string;
  maxResponseMb?: string;
  limit?: string;
  datasetFormat?: string;
  field: string[];
  contextType?: string;
  fewShotCount?: string;
  dryRun?: boolean;
  overwrite?: boolean;
  progress?: boolean;
  quiet?: boolean;
  numChunks?: string;
  chunkId?: string;
  python?: string;
  sandboxUrl?: string;
  sandboxLanguage?: string;
  sandboxWorkers?: string;
  sandboxMemoryMb?: string;
  sandboxNetwork?: string;
  maxCodeExecutions?: string;
  codeTimeout?: string;
  codeMaxOutputChars?: string;
}

function num(flag: string, value: string | undefined, opts: { integer?: boolean; min?: number; limit?: LimitName } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`${flag} must be a number, got ${JSON.stringify(value)}`);
  if (opts.integer && !Number.isSafeInteger(n)) throw new Error(`${flag} must be a whole number${Number.isInteger(n) ? ` below ${Number.MAX_SAFE_INTEGER}` : ''}, got ${value}`);
  if (opts.min !== undefined && n < opts.min) throw new Error(`${flag} must be >= ${opts.min}, got ${value}`);
  // Upper bounds (src/core/limits.ts): the same ranges as endpoint profiles and the Studio.
  const problem = opts.limit ? checkLimit(opts.limit, n) : null;
  if (problem) throw new Error(`${flag} ${problem.replace(/, got .*$/, `, got ${value}`)}`);
  return n;
}

/** `\n`, `\t` and `\\` in --stop values, so a newline stop can be typed on any shell. */
export function unescapeStop(s: string): string {
  return s.replace(/\\(n|t|r|\\)/g, (_m, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\' })[c]!);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The endpoint profile from flags (a preset fills what is not given). */
export function endpointFromFlags(f: GenerateFlags): EndpointProfile {
  if (f.preset !== undefined && !isPresetName(f.preset)) throw new Error(`--preset must be one of ${PRESET_NAMES.join(', ')}, got ${JSON.stringify(f.preset)}`);
  if (f.apiKind !== undefined && f.apiKind !== 'chat' && f.apiKind !== 'completions' && f.apiKind !== 'triton') throw new Error(`--api-kind must be chat, completions or triton, got ${JSON.stringify(f.apiKind)}`);
  if (f.chatTemplate !== undefined && f.apiKind !== 'completions' && f.apiKind !== 'triton') throw new Error('--chat-template needs --api-kind completions or triton (with chat, the server applies the template)');
  if (f.formatter !== undefined && !isFormatterName(f.formatter)) throw new Error(`--formatter must be one of ${FORMATTER_NAMES.join(', ')}, got ${JSON.stringify(f.formatter)}`);
  // Several --base-url values (or one with commas) make a pool of servers serving the same model.
  const servers = parseServerSpecs(f.baseUrl ?? []);
  const profile = resolveEndpoint({
    name: f.preset ?? 'cli',
    preset: f.preset as PresetName | undefined,
    baseUrl: servers[0]?.baseUrl,
    servers: servers.length > 1 || servers.some((s) => s.weight !== undefined || s.maxConcurrency !== undefined) ? servers : undefined,
    model: f.model,
    apiKind: f.apiKind as ApiKind | undefined,
    formatter: f.formatter as FormatterName | undefined,
    chatTemplateFile: f.chatTemplate === undefined ? undefined : resolve(f.chatTemplate),
    apiKeyEnv: f.apiKeyEnv,
    maxConcurrency: num('--concurrency', f.concurrency, { integer: true, min: 1, limit: 'concurrency' }),
    requestsPerMinute: num('--rpm', f.rpm, { min: 1, limit: 'requestsPerMinute' }),
    tokensPerMinute: num('--tpm', f.tpm, { min: 1, limit: 'tokensPerMinute' }),
    timeoutMs: f.timeout === undefined ? undefined : num('--timeout', f.timeout, { min: 1, limit: 'timeoutSeconds' })! * 1000,
    maxResponseBytes: f.maxResponseMb === undefined ? undefined : Math.round(num('--max-response-mb', f.maxResponseMb, { min: 0.001 })! * 1024 * 1024),
  });
  if ((f.apiKind === 'completions' || f.apiKind === 'triton') && f.formatter === undefined && profile.formatter === undefined) {
    throw new Error(`--api-kind ${f.apiKind} needs --formatter (${FORMATTER_NAMES.join(', ')}) or --chat-template`);
  }
  if (profile.servers) {
    const problems = validatePoolServers(profile.servers, '--base-url');
    if (problems.length) throw new Error(problems.join('\n'));
  }
  return profile;
}

/** GenerateOptions from flags (without the API key). */
export function optionsFromFlags(f: GenerateFlags): Omit<GenerateOptions, 'output'> & { output: string } {
  if (f.datasetFormat !== undefined && !(DATASET_FORMATS as readonly string[]).includes(f.datasetFormat)) {
    throw new Error(`--dataset-format must be one of ${DATASET_FORMATS.join(', ')}, got ${JSON.stringify(f.datasetFormat)}`);
  }
  if (f.contextType !== undefined && !(CONTEXT_TYPES as readonly string[]).includes(f.contextType)) {
    throw new Error(`--context-type must be one of ${CONTEXT_TYPES.join(', ')}, got ${JSON.stringify(f.contextType)}`);
  }
  const params: PromptParams = {};
  const t = num('--temperature', f.temperature, { min: 0 });
  if (t !== undefined) params.temperature = t;
  const p = num('--top-p', f.topP, { min: 0 });
  if (p !== undefined) {
    if (p <= 0 || p > 1) throw new Error(`--top-p must be in (0, 1], got ${f.topP}`);
    params.top_p = p;
  }
  const k = num('--top-k', f.topK, { integer: true, min: -1 });
  if (k !== undefined) params.top_k = k;
  const m = num('--max-tokens', f.maxTokens, { integer: true, min: 1, limit: 'maxTokens' });
  if (m !== undefined) params.max_tokens = m;
  if (f.stop?.length) params.stop = f.stop.map(unescapeStop);
  const endpoint = endpointFromFlags(f);
  return {
    input: f.input,
    output: f.output ?? '',
    prompt: f.prompt,
    endpoint,
    datasetFormat: f.datasetFormat as DatasetFormat | undefined,
    fields: f.field.length ? parseFieldMapping(f.field) : undefined,
    contextType: f.contextType as ContextType | undefined,
    fewShotCount: num('--few-shot-count', f.fewShotCount, { integer: true, min: 0 }),
    startSeed: num('--start-seed', f.startSeed, { integer: true, min: 0 }),
    numSeeds: num('--num-seeds', f.numSeeds, { integer: true, min: 1, limit: 'numSeeds' }),
    numSamples: num('--num-samples', f.numSamples, { integer: true, min: 1, limit: 'numSamples' }),
    params,
    concurrency: endpoint.maxConcurrency,
    requestsPerMinute: endpoint.requestsPerMinute,
    tokensPerMinute: endpoint.tokensPerMinute,
    limit: num('--limit', f.limit, { integer: true, min: 1 }),
    overwrite: f.overwrite,
    ...codeFromFlags(f),
  };
}

/** Code mode flags (prompt configs with code_execution): the sandbox and overrides of the config's limits. */
export function codeFromFlags(f: GenerateFlags): Pick<GenerateOptions, 'sandbox' | 'codeExecution'> {
  if (f.sandboxNetwork !== undefined && f.sandboxNetwork !== 'none' && f.sandboxNetwork !== 'host') throw new Error(`--sandbox-network must be none or host, got ${JSON.stringify(f.sandboxNetwork)}`);
  if (f.sandboxUrl !== undefined && (f.python !== undefined || f.sandboxWorkers !== undefined || f.sandboxMemoryMb !== undefined || f.sandboxNetwork !== undefined)) {
    throw new Error('--sandbox-url runs code on a remote server: --python, --sandbox-workers, --sandbox-memory-mb and --sandbox-network apply to the local sandbox only');
  }
  const codeExecution = {
    maxExecutions: num('--max-code-executions', f.maxCodeExecutions, { integer: true, min: 0 }),
    timeoutSeconds: num('--code-timeout', f.codeTimeout, { min: 0.001 }),
    maxOutputChars: num('--code-max-output-chars', f.codeMaxOutputChars, { integer: true, min: 1 }),
  };
  return {
    sandbox: {
      url: f.sandboxUrl,
      language: f.sandboxLanguage,
      python: f.python,
      workers: num('--sandbox-workers', f.sandboxWorkers, { integer: true, min: 1 }),
      memoryMb: num('--sandbox-memory-mb', f.sandboxMemoryMb, { integer: true, min: 0 }),
      network: f.sandboxNetwork as 'none' | 'host' | undefined,
    },
    codeExecution: Object.values(codeExecution).some((v) => v !== undefined) ? codeExecution : undefined,
  };
}

/** The chunk of a sharded run from --num-chunks / --chunk-id, or undefined. */
export function chunkFromFlags(f: Pick<GenerateFlags, 'numChunks' | 'chunkId'>): Chunk | undefined {
  if (f.numChunks === undefined && f.chunkId === undefined) return undefined;
  return validateChunk({ numChunks: num('--num-chunks', f.numChunks, { integer: true, min: 1 }), chunkId: num('--chunk-id', f.chunkId, { integer: true, min: 0 }) });
}

/** One line per server of a pool, for the end of a run. */
export function describeServers(servers: readonly ServerStats[]): string {
  return servers.map((s) => `  ${redactUrlCredentials(s.baseUrl)}: ${s.done} done, ${s.failed} failed${s.latencyMs !== null ? `, ~${s.latencyMs} ms` : ''}${s.healthy ? '' : ' (out of rotation)'}`).join('\n');
}

async function dryRun(options: ReturnType<typeof optionsFromFlags>): Promise<void> {
  const prepared = await prepareGeneration({ ...options, skipEndpointCheck: true });
  const out: string[] = [];
  out.push(`# prompt ${prepared.config.name} (${prepared.config.file}), context ${prepared.config.contextType}, dataset format ${prepared.datasetFormat}`);
  const code = prepared.codeExecution;
  if (code) {
    const where = options.sandbox?.url ? `sandbox server ${options.sandbox.url}` : `local ${options.sandbox?.python ?? 'python3'}`;
    out.push(`# code execution: ${code.codeBegin} ... ${code.codeEnd} blocks run in ${where} (up to ${code.maxExecutions} per solution, ${code.timeoutSeconds} s each, ${code.maxOutputChars} output characters); outputs go in ${code.outputBegin} ... ${code.outputEnd}`);
  }
  if (!prepared.first) {
    out.push('# the input has no rows');
  } else {
    out.push(`# input row ${prepared.first.row.input_index} (line ${prepared.first.row.line}), expected_answer ${JSON.stringify(prepared.first.row.expected_answer)}`);
    for (const msg of prepared.first.messages) out.push(`--- ${msg.role} ---`, msg.content);
  }
  const items = await countItems(options.input, options.limit, prepared.seeds.length, undefined, options.chunk);
  if (items !== null) {
    const problems = items / prepared.seeds.length;
    if (options.chunk) out.push(`# chunk ${options.chunk.chunkId} of ${options.chunk.numChunks}: input rows with input_index % ${options.chunk.numChunks} == ${options.chunk.chunkId}${options.output ? ` -> ${options.output}` : ''}`);
    out.push(`--- plan ---`, `${problems} problems x ${prepared.seeds.length} seeds = ${items} requests, ${items * prepared.numSamples} rows (n=${prepared.numSamples})`);
  }
  // The estimate the Studio shows before a launch (src/core/estimate), over the whole input.
  if (!options.chunk) {
    const est = await estimateGeneration({ input: options.input, config: prepared.config, datasetFormat: prepared.datasetFormat, fields: options.fields, limit: options.limit, numSeeds: prepared.seeds.length, numSamples: prepared.numSamples, maxTokens: prepared.params.max_tokens ?? null });
    out.push('--- estimate ---', ...formatEstimate(est));
  }
  out.push('--- request ---', JSON.stringify({ model: options.endpoint.model || null, seeds: prepared.seeds.length > 3 ? `${prepared.seeds[0]}..${prepared.seeds[prepared.seeds.length - 1]}` : prepared.seeds, ...prepared.params }));
  process.stdout.write(out.join('\n') + '\n');
}

export function register(program: Command): void {
  const cmd = program
    .command('generate')
    .description('Generate solutions for every problem of a dataset (one request per problem and seed, n samples each); re-run to resume')
    .requiredOption('--input <file>', 'problems JSONL (gsm8k, math/MATH-500, or any JSONL with --field)')
    .option('--output <file>', 'output JSONL (run folder: <file>.run/)')
    .requiredOption('--prompt <name|file>', 'built-in prompt config (generic_math, gsm8k_text, math_text, gsm8k_generate_masked, math_generate_masked, gsm8k_text_with_code, math_text_with_code, ...) or a YAML file');
  addEndpointFlags(cmd);
  addProgressFlags(cmd);
  cmd
    .option('--num-seeds <k>', 'seeds per problem (one request each)', '1')
    .option('--start-seed <s>', 'first seed', '0')
    .option('--num-samples <n>', 'samples per request (n), one output row each', '1')
    .option('--temperature <t>', 'sampling temperature (default: the prompt config\'s)')
    .option('--top-p <p>', 'nucleus sampling')
    .option('--top-k <k>', 'top-k sampling (vLLM, SGLang, llama.cpp, TRT-LLM)')
    .option('--max-tokens <m>', 'maximum tokens per sample')
    .option('--stop <s...>', 'stop strings (\\n for a newline)')
    .option('--concurrency <c>', 'requests in flight (default: the preset\'s; custom: 32)')
    .option('--timeout <seconds>', 'per-request time-out')
    .option('--max-response-mb <MiB>', 'largest answer accepted per request (default 64); a bigger one fails its item')
    .option('--limit <l>', 'only the first L problems')
    .option('--dataset-format <fmt>', `input format: ${DATASET_FORMATS.join(', ')} (default: detected)`)
    .option('--field <name=key>', 'map an input key onto problem, expected_answer, reference_solution or masked_solution (repeatable)', collect, [])
    .option('--context-type <type>', `${CONTEXT_TYPES.join(', ')} (default: the prompt config's)`)
    .option('--few-shot-count <n>', 'few-shot examples to show (default: the prompt config\'s)')
    .option('--dry-run', 'print the first rendered prompt and the request parameters; send nothing')
    .option('--overwrite', 'discard existing output rows and start over')
    .option('--num-chunks <n>', 'split the input into N chunks (rows with input_index % N == chunk id); see docs/scale-out.md')
    .option('--chunk-id <i>', 'the chunk this run does (0..N-1); output OUT-chunkI.jsonl (or {chunk} in --output)')
    .option('--python <path>', 'code mode (*_with_code prompts): the Python interpreter of the local sandbox (default python3)')
    .option('--sandbox-url <url>', 'code mode: run code on a NeMo-Skills-compatible sandbox server (POST <url>/execute) instead of locally')
    .option('--sandbox-language <lang>', 'code mode, --sandbox-url: ipython (state across blocks, default) or python3')
    .option('--sandbox-workers <n>', 'code mode: local Python workers = blocks running at once (default: CPU count, at most 8)')
    .option('--sandbox-memory-mb <MiB>', 'code mode: address-space limit per local worker (default 2048; 0 = none)')
    .option('--sandbox-network <none|host>', 'code mode: none (default) runs local workers without network where the OS allows it')
    .option('--max-code-executions <n>', 'code mode: blocks executed per solution at most (default: the prompt config\'s)')
    .option('--code-timeout <seconds>', 'code mode: wall-clock limit per block (default: the prompt config\'s)')
    .option('--code-max-output-chars <n>', 'code mode: output characters kept per block (default: the prompt config\'s)')
    .action(async (flags: GenerateFlags) => {
      const options = optionsFromFlags(flags);
      const chunk = chunkFromFlags(flags);
      if (chunk) {
        options.chunk = chunk;
        if (options.output) options.output = chunkOutputPath(options.output, chunk.chunkId);
      }
      if (flags.dryRun) return dryRun(options);
      if (!flags.output) throw new Error('--output is required (or use --dry-run)');
      if (chunk) process.stderr.write(`sdg: chunk ${chunk.chunkId} of ${chunk.numChunks} -> ${options.output}\n`);
      assertValidEndpoint(options.endpoint);
      const apiKey = resolveApiKey(options.endpoint);

      const cancel = cancelOnSignals();
      const renderer = showProgress(flags) ? createProgressRenderer({ label: 'generate' }) : null;
      // The command goes into the run folder once the run has opened (its config was accepted),
      // so that `sdg merge` can print the exact command that resumes this run.
      let recorded: Promise<void> | undefined;
      let servers: ServerStats[] | undefined;
      let result;
      try {
        result = await generateSolutions({
          ...options,
          apiKey,
          signal: cancel.signal,
          onSandboxReady: (info) => {
            process.stderr.write(`sdg: code execution: ${info.description}${info.network === 'none' ? ', no network' : ''}\n`);
            if (info.warning) process.stderr.write(`sdg: warning: ${info.warning}\n`);
          },
          onProgress: (e) => {
            recorded ??= writeCommandRecord(`${resolve(options.output)}.run`, currentCommand()).catch(() => undefined);
            if (e.servers) servers = e.servers;
            renderer?.update(e);
          },
        });
      } finally {
        renderer?.finish();
        cancel.dispose();
      }
      await recorded;
      const r = result;
      if (servers) process.stderr.write(`sdg: servers:\n${describeServers(servers)}\n`);
      const resumed = r.resumed ? `, ${r.resumed} already done before` : '';
      if (r.status === 'failed') throw new Error(r.error ?? 'the run failed');
      if (r.status === 'cancelled') {
        process.stderr.write(`sdg: cancelled after ${r.done} items${resumed}; rows are in ${r.output}; run the same command to resume\n`);
        process.exitCode = CANCELLED_EXIT_CODE;
        return;
      }
      const total = r.total ?? r.done + r.failed + r.resumed;
      if (r.failed > 0) {
        process.stderr.write(`sdg: done with ${r.failed} failed item${r.failed === 1 ? '' : 's'} of ${total}: their error rows (error != null) are in ${r.output}; run the same command again to retry them\n`);
        process.exitCode = 2;
        return;
      }
      process.stderr.write(`sdg: done: ${total} items (${r.done} generated now${resumed}) -> ${r.output}\n`);
    });
}
