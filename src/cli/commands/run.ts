/**
 * `sdg run NAME_OR_FILE`: run a pipeline (built-in name, workspace name, or a YAML file) into a
 * run folder: DIR/output.jsonl plus DIR/stages/<stage>.jsonl. Running the same command again
 * resumes. `--dry-run` renders the first prompt of every stage and sends nothing.
 *
 * Exit codes: 0 done; 1 error (one message on stderr); 130 cancelled.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { YamlSource } from '../../core/config/yamlSource';
import { createEndpointClient, parseServerSpecs, validatePoolServers } from '../../core/llm/pool';
import { assertValidEndpoint, resolveApiKey, resolveEndpoint, isPresetName, PRESET_NAMES, type PartialEndpointProfile } from '../../core/llm/presets';
import type { EndpointProfile, LlmClient } from '../../core/llm/types';
import { dryRun, resolveParameters, resolvePipeline, runPipeline } from '../../core/pipeline';
import { estimatePipeline, formatPipelineEstimate } from '../../core/estimate/pipeline';
import { checkLimit, type LimitName } from '../../core/limits';
import { createProgressRenderer, type ProgressRenderer } from '../progress';
import { CANCELLED_EXIT_CODE, cancelOnSignals } from '../signals';
import { addEndpointFlags, addProgressFlags, showProgress } from '../endpointFlags';

interface RunFlags {
  baseUrl: string[];
  model?: string;
  apiKeyEnv?: string;
  apiKind?: string;
  formatter?: string;
  chatTemplate?: string;
  preset?: string;
  set: string[];
  endpointFile?: string;
  outputDir?: string;
  workspace?: string;
  concurrency?: string;
  rpm?: string;
  tpm?: string;
  dryRun?: boolean;
  overwrite?: boolean;
  quiet?: boolean;
  progress?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseSets(sets: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sets) {
    const i = s.indexOf('=');
    if (i <= 0) throw new Error(`--set expects key=value, got ${JSON.stringify(s)}`);
    out[s.slice(0, i).trim()] = s.slice(i + 1);
  }
  return out;
}

function positiveInt(flag: string, v: string | undefined, limit?: LimitName): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a whole number >= 1, got ${JSON.stringify(v)}`);
  // Upper bounds shared with `sdg generate` and endpoint profiles (src/core/limits.ts).
  const problem = limit ? checkLimit(limit, n) : null;
  if (problem) throw new Error(`${flag} ${problem}`);
  return n;
}

export interface EndpointFile {
  /** Endpoint profiles by role. */
  endpoints: Record<string, EndpointProfile>;
  /** Stage (or `stage.user` / `stage.assistant`) -> role. */
  stages: Record<string, string>;
}

/**
 * The --endpoint-file: YAML (or JSON)
 *   endpoints: { user_simulator: { baseUrl: ..., model: ..., apiKeyEnv: ... }, ... }
 *   stages: { questions_raw: user_simulator, dialogues.user: user_simulator }
 * Keys are never in this file: `apiKeyEnv` names an environment variable.
 */
export function readEndpointFile(file: string, fallback?: EndpointProfile): EndpointFile {
  const src = YamlSource.fromFile(file);
  const v = src.toJS() as Record<string, unknown> | null;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw src.error([], 'expected a mapping with `endpoints` (and optional `stages`)');
  for (const k of Object.keys(v)) if (k !== 'endpoints' && k !== 'stages') throw src.error([k], 'unknown key (expected endpoints, stages)');
  const endpoints: Record<string, EndpointProfile> = {};
  for (const [role, raw] of Object.entries((v.endpoints ?? {}) as Record<string, unknown>)) {
    if (!raw || typeof raw !== 'object') throw src.error(['endpoints', role], 'expected a mapping (baseUrl, model, apiKind, apiKeyEnv, preset, formatter, ...)');
    const p = raw as Record<string, unknown>;
    if ('apiKey' in p) throw src.error(['endpoints', role, 'apiKey'], 'API keys do not belong in files: set apiKeyEnv to the name of an environment variable');
    if (p.preset !== undefined && !isPresetName(p.preset)) throw src.error(['endpoints', role, 'preset'], `must be one of ${PRESET_NAMES.join(', ')}`);
    if (p.servers !== undefined) {
      // A pool: `servers: [{ baseUrl, weight?, maxConcurrency? }, ...]` (src/core/llm/pool.ts).
      const problems = validatePoolServers(p.servers, `endpoint "${role}"`);
      if (problems.length) throw src.error(['endpoints', role, 'servers'], problems.join('; '));
    }
    const servers = p.servers as EndpointProfile['servers'];
    try {
      endpoints[role] = assertValidEndpoint(resolveEndpoint({
        ...(fallback && !p.baseUrl && !servers ? { baseUrl: fallback.baseUrl, servers: fallback.servers, apiKeyEnv: fallback.apiKeyEnv } : {}),
        ...(p as PartialEndpointProfile),
        ...(servers && !p.baseUrl ? { baseUrl: servers[0].baseUrl } : {}),
        // A template file named in the endpoint file is found next to it.
        ...(typeof p.chatTemplateFile === 'string' ? { chatTemplateFile: path.resolve(path.dirname(file), p.chatTemplateFile) } : {}),
        name: role,
      }));
    } catch (e) {
      throw src.error(['endpoints', role], e instanceof Error ? e.message : String(e));
    }
  }
  const stages: Record<string, string> = {};
  for (const [k, role] of Object.entries((v.stages ?? {}) as Record<string, unknown>)) {
    if (typeof role !== 'string') throw src.error(['stages', k], 'expected an endpoint role name');
    if (role !== 'default' && !(role in endpoints)) throw src.error(['stages', k], `unknown endpoint role ${JSON.stringify(role)} (defined: default, ${Object.keys(endpoints).join(', ')})`);
    stages[k] = role;
  }
  return { endpoints, stages };
}

export function register(program: Command): void {
  const cmd = program
    .command('run <pipeline>')
    .description('Run a pipeline (built-in name or YAML file) into --output-dir; the same command again resumes');
  addEndpointFlags(cmd, 'the default endpoint');
  addProgressFlags(cmd);
  cmd
    .option('--set <key=value>', 'pipeline parameter (repeatable); lists: a,b,c or a JSON list', collect, [])
    .option('--endpoint-file <file>', 'YAML with endpoint roles and per-stage endpoints')
    .option('--output-dir <dir>', 'run folder (output.jsonl, stages/, manifest.json)')
    .option('--workspace <promptsDir>', 'workspace prompts folder (pipelines/ and templates/ override the built-ins)')
    .option('--concurrency <n>', 'requests in flight per stage', '16')
    .option('--dry-run', 'print the first prompt of every stage; send nothing')
    .option('--overwrite', 'discard an earlier run in --output-dir and start over')
    .action(async (name: string, f: RunFlags) => {
      const { def, templates } = resolvePipeline(name, f.workspace);
      const params = resolveParameters(def, parseSets(f.set), {}, { allowMissing: f.dryRun });
      if (f.dryRun) {
        for (const s of dryRun(def, params, templates)) {
          console.log(`=== ${s.stage} [${s.kind}]${s.enabled ? '' : ' (disabled: passes its input through)'}`);
          if (s.note) console.log(`# ${s.note}`);
          for (const m of s.messages ?? []) console.log(`--- ${m.role}\n${m.content}`);
          console.log('');
        }
        // The estimate (src/core/estimate): source rows, prompt tokens per model stage, a lower bound of requests.
        console.log(['--- estimate ---', ...formatPipelineEstimate(await estimatePipeline(def, params, dryRun(def, params, templates)))].join('\n'));
        return;
      }
      if (!f.outputDir) throw new Error('--output-dir is required (the run folder)');
      const servers = parseServerSpecs(f.baseUrl);
      if (!servers.length || !f.model) throw new Error('--base-url and --model are required (the default endpoint)');
      const pool = servers.length > 1 || servers.some((s) => s.weight !== undefined || s.maxConcurrency !== undefined);
      if (pool) {
        const problems = validatePoolServers(servers, '--base-url');
        if (problems.length) throw new Error(problems.join('\n'));
      }
      const main = assertValidEndpoint(resolveEndpoint({
        name: 'default',
        preset: f.preset as EndpointProfile['preset'],
        baseUrl: servers[0].baseUrl,
        servers: pool ? servers : undefined,
        model: f.model,
        apiKeyEnv: f.apiKeyEnv,
        apiKind: f.apiKind as EndpointProfile['apiKind'],
        formatter: f.formatter as EndpointProfile['formatter'],
        chatTemplateFile: f.chatTemplate === undefined ? undefined : path.resolve(f.chatTemplate),
      }));
      const file = f.endpointFile ? readEndpointFile(f.endpointFile, main) : { endpoints: {}, stages: {} };
      const profiles: Record<string, EndpointProfile> = { default: main, ...file.endpoints };
      // Keys are checked now (a missing variable fails before any stage starts).
      const keys = new Map(Object.entries(profiles).map(([role, p]) => [role, resolveApiKey(p)]));
      const concurrency = positiveInt('--concurrency', f.concurrency, 'concurrency') ?? 16;
      const clients = new Map<string, LlmClient>();
      const client = (role: string): LlmClient => {
        const r = role in profiles ? role : 'default';
        let c = clients.get(r);
        if (!c) {
          c = createEndpointClient(profiles[r]!, { apiKey: keys.get(r), connections: Math.max(concurrency, 8) });
          clients.set(r, c);
        }
        return c;
      };

      const cancel = cancelOnSignals();
      // One progress bar per model stage (created on its first event, closed on its final one).
      let bar: { stage: string; renderer: ProgressRenderer } | null = null;
      const progressFor = (stage: string): ProgressRenderer => {
        if (bar?.stage !== stage) {
          bar?.renderer.finish();
          bar = { stage, renderer: createProgressRenderer({ label: stage }) };
        }
        return bar.renderer;
      };
      let result;
      try {
        result = await runPipeline({
          def,
          params,
          templates,
          outputDir: f.outputDir,
          client,
          stageEndpoints: file.stages,
          endpointConfig: Object.fromEntries(Object.entries(profiles).map(([k, p]) => [k, { baseUrl: p.baseUrl, model: p.model, apiKind: p.apiKind, apiKeyEnv: p.apiKeyEnv, formatter: p.formatter }])),
          concurrency,
          requestsPerMinute: positiveInt('--rpm', f.rpm, 'requestsPerMinute'),
          tokensPerMinute: positiveInt('--tpm', f.tpm, 'tokensPerMinute'),
          overwrite: f.overwrite,
          signal: cancel.signal,
          onStage: !showProgress(f) ? undefined : (stage, status, detail) => {
            const line = `sdg: ${stage}: ${status}${detail ? ` (${detail})` : ''}`;
            if (bar && showProgress(f)) bar.renderer.log(line);
            else process.stderr.write(line + '\n');
          },
          onProgress: !showProgress(f) ? undefined : (stage, e) => progressFor(stage).update(e),
        });
      } finally {
        (bar as { renderer: ProgressRenderer } | null)?.renderer.finish();
        cancel.dispose();
        await Promise.all([...clients.values()].map((c) => c.close().catch(() => undefined)));
      }
      if (result.status === 'cancelled') {
        process.stderr.write(`sdg: cancelled; run the same command to resume\n`);
        process.exitCode = CANCELLED_EXIT_CODE;
        return;
      }
      if (result.status === 'failed') throw new Error(result.error ?? 'the pipeline failed');
      const last = result.stages.at(-1);
      process.stderr.write(`sdg: done: ${last?.rows ?? 0} rows -> ${result.output}\n`);
    });
}
