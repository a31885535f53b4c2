/**
 * Runs a pipeline into a run folder:
 *
 *   <dir>/config.json            frozen pipeline, parameters and endpoint roles (no keys)
 *   <dir>/manifest.json          kind "pipeline", one entry per stage
 *   <dir>/stages/<stage>.jsonl   every stage's rows
 *   <dir>/output.jsonl           the output stage's rows without bookkeeping fields
 *
 * A model stage is one `runItems` over the previous stage's rows (streamed from its file), keyed by
 * row id, so a killed run resumes inside the stage. A local stage writes a temp file renamed into
 * place when complete, so it is either done or redone. Running the same command again resumes.
 * A stage that ends with failed items stops the pipeline (running again retries them), so later
 * stages never start from an incomplete input. Items dropped by `on_failure: ignore` are not
 * failures: they stay in the stage file as `_empty` markers with the reason.
 */
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { runItems, type ProgressEvent, type RetryPolicy } from '../engine';
import type { LlmClient } from '../llm/types';
import { acquireLock, LockHeldError, removeLockLeftovers, type FileLock } from '../run/lock';
import { freezeOrCheckConfig, isPidAlive, ManifestWriter, ManifestWriteError, openRunOutput, readManifest, removeStaleTempFiles, RunInUseError, emptyCounts } from '../run';
import { JsonlWriter, readJsonl } from '../io/jsonl';
import { checkStageModelParams, isModelStage, stageEnabled, stageOptions, type ParamValue, type PipelineDef, type StageDef } from './definition';
import { isListConversionError, ListConversionError } from './listParse';
import { runLocalStage } from './localStages';
import { executeModelItem, templateName, templateValues, type ModelStageContext } from './modelStages';
import { countStageRows, fileExists, readStageRows, type Row, type StoredRow } from './rows';
import type { TemplateStore } from './templates';

export interface RunPipelineOptions {
  def: PipelineDef;
  params: Record<string, ParamValue>;
  templates: TemplateStore;
  outputDir: string;
  /** The client of an endpoint role (`default` and the pipeline's declared roles). */
  client(role: string): LlmClient;
  /**
   * Per-stage endpoint roles: `{ stage: role }` sets a stage's `endpoint`, `{ "stage.user": role }`
   * and `{ "stage.assistant": role }` a dialogue stage's two endpoints.
   */
  stageEndpoints?: Record<string, string>;
  /** Endpoint profiles by role, frozen in config.json (must hold no key). */
  endpointConfig?: Record<string, unknown>;
  concurrency?: number;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  retry?: Partial<RetryPolicy>;
  earlyStop?: number | false;
  overwrite?: boolean;
  signal?: AbortSignal;
  onProgress?(stage: string, event: ProgressEvent): void;
  onStage?(stage: string, status: 'skipped' | 'running' | 'completed' | 'reused' | 'disabled', detail?: string): void;
}

export interface PipelineResult {
  status: 'completed' | 'failed' | 'cancelled';
  error: string | null;
  /** Path of output.jsonl. */
  output: string;
  stages: Array<{ name: string; rows: number; status: string }>;
  /** The typed error that stopped the run, when it was a list conversion failure. */
  listError?: ListConversionError;
}

export function stageFile(outputDir: string, stage: string): string {
  return join(outputDir, 'stages', `${stage}.jsonl`);
}

const SEED_ROW = (def: PipelineDef): Row => ({ id: '0', provenance: { pipeline: def.name, stage: '', parents: {} } });

/** Run folders being run by this process (a second run of the same folder is refused). */
const running = new Set<string>();

export async function runPipeline(o: RunPipelineOptions): Promise<PipelineResult> {
  const dir = resolve(o.outputDir);
  if (running.has(dir)) throw new RunInUseError(dir, process.pid);
  running.add(dir);
  let lock: FileLock | undefined;
  try {
    // One run per folder, across processes and hosts (a shared file system): the folder lock is
    // taken before config.json is compared or --overwrite deletes anything, and held to the end.
    await fsp.mkdir(dir, { recursive: true });
    const lockFile = join(dir, RUN_LOCK);
    await removeLockLeftovers(lockFile).catch(() => undefined);
    try {
      lock = await acquireLock(lockFile);
    } catch (e) {
      if (e instanceof LockHeldError) throw new RunInUseError(dir, e.owner.pid ?? 0, e.owner.host);
      throw e;
    }
    return await runPipelineIn(dir, o);
  } finally {
    await lock?.release().catch(() => undefined);
    running.delete(dir);
  }
}

/** The lock file of a pipeline's run folder (held while `sdg run` or the extension runs it). */
export const RUN_LOCK = 'run.lock';

async function runPipelineIn(dir: string, o: RunPipelineOptions): Promise<PipelineResult> {
  const { def, params } = o;
  // Model parameters filled from --set values are checked before anything is written or sent.
  const paramProblems = checkStageModelParams(def, params);
  if (paramProblems.length) throw new Error(`invalid model parameters:\n${paramProblems.join('\n')}`);
  await fsp.mkdir(join(dir, 'stages'), { recursive: true });
  const previous = await readManifest(dir).catch(() => null);
  if (previous && previous.status === 'running' && previous.pid !== process.pid && isPidAlive(previous.pid)) throw new RunInUseError(dir, previous.pid);
  await removeStaleTempFiles(dir);

  const config = {
    kind: 'pipeline',
    pipeline: def.name,
    file: def.file,
    parameters: params,
    stages: def.stages.map((s) => ({ name: s.name, kind: s.kind, from: s.from, when: s.when, options: s.options })),
    output: def.output,
    endpoints: o.endpointConfig ?? {},
    stageEndpoints: o.stageEndpoints ?? {},
    // The models decide what is generated, so a resume with another model is refused.
    models: Object.fromEntries(Object.entries(o.endpointConfig ?? {}).map(([k, v]) => [k, (v as { model?: string })?.model ?? null])),
    concurrency: o.concurrency,
  };
  const { resumed } = await freezeOrCheckConfig(dir, config, { ignore: ['concurrency', 'file', 'endpoints'] }, o.overwrite);
  if (o.overwrite) {
    await fsp.rm(join(dir, 'stages'), { recursive: true, force: true });
    await fsp.rm(join(dir, 'output.jsonl'), { force: true });
    await fsp.mkdir(join(dir, 'stages'), { recursive: true });
  }
  const manifest = new ManifestWriter(dir, {
    kind: 'pipeline',
    name: def.name,
    output: 'output.jsonl',
    stages: def.stages.map((s) => ({ name: s.name, file: `stages/${s.name}.jsonl`, status: 'pending' as const, counts: emptyCounts() })),
    ...(resumed && previous ? { createdAt: previous.createdAt } : {}),
  });
  await manifest.flush();

  const results: PipelineResult['stages'] = [];
  const outputPath = join(dir, 'output.jsonl');
  const finish = async (status: PipelineResult['status'], error: string | null, listError?: ListConversionError): Promise<PipelineResult> => {
    await manifest.finish(status === 'completed' ? 'completed' : status === 'cancelled' ? 'cancelled' : 'failed', error).catch(() => undefined);
    // The final status never reached the disk: not a silent success (the folder would say "running").
    if (manifest.lastError) return { status: 'failed', error: new ManifestWriteError(manifest.file, manifest.lastError.message).message, output: outputPath, stages: results, listError };
    return { status, error, output: outputPath, stages: results, listError };
  };
  // Token usage of every model request, accumulated over the sessions of this run folder.
  const usage = { base: resumed && previous?.tokens ? { ...previous.tokens } : { prompt: 0, completion: 0 } };
  const addUsage = (t: { prompt: number; completion: number }) => ({ prompt: usage.base.prompt + t.prompt, completion: usage.base.completion + t.completion });

  for (const stage of def.stages) {
    if (o.signal?.aborted) return finish('cancelled', 'cancelled');
    const file = stageFile(dir, stage.name);
    const inputs = stage.from.map((f) => stageFile(dir, f));
    const opts = applyStageEndpoints(stage, stageOptions(stage, params), o.stageEndpoints);
    try {
      if (!stageEnabled(stage, params)) {
        // `when` is false: the first input passes through unchanged.
        if (!(await fileExists(file))) await writeLocal(file, async (emit) => { for await (const r of readStageRows(inputs[0]!, o.signal)) await emit(r); });
        o.onStage?.(stage.name, 'disabled');
      } else if (!isModelStage(stage)) {
        if (await fileExists(file)) o.onStage?.(stage.name, 'reused');
        else {
          o.onStage?.(stage.name, 'running');
          manifest.updateStage(stage.name, { status: 'running' });
          await writeLocal(file, (emit) => runLocalStage({ def, stage, opts, params, inputs, stageFile: (n) => stageFile(dir, n), emit, signal: o.signal, templates: o.templates }));
        }
      } else {
        o.onStage?.(stage.name, 'running');
        const r = await runModelStage(o, stage, opts, inputs[0], file, manifest, (t) => manifest.update({ tokens: addUsage(t) }));
        usage.base = addUsage(r.tokens);
        manifest.update({ tokens: usage.base });
        if (r.status !== 'completed') {
          results.push({ name: stage.name, rows: 0, status: r.status });
          manifest.updateStage(stage.name, { status: r.status === 'cancelled' ? 'cancelled' : 'failed' });
          return finish(r.status, r.error, r.listError);
        }
      }
    } catch (e) {
      const text = e instanceof Error ? e.message : String(e);
      // Errors raised below may already name the stage: never "stage x: stage x: ...".
      const msg = text.startsWith(`stage ${stage.name}:`) ? text : `stage ${stage.name}: ${text}`;
      manifest.updateStage(stage.name, { status: 'failed' });
      return finish(o.signal?.aborted ? 'cancelled' : 'failed', msg, isListConversionError(e) ? e : undefined);
    }
    const rows = await countStageRows(file);
    results.push({ name: stage.name, rows, status: 'completed' });
    manifest.updateStage(stage.name, { status: 'completed', counts: { total: rows, done: rows, failed: 0, pending: 0 } });
    o.onStage?.(stage.name, 'completed', `${rows} rows`);
  }

  // output.jsonl: the output stage without bookkeeping, via a temp file so it is never half written.
  let total = 0;
  await writeLocal(outputPath, async (emit) => {
    for await (const r of readStageRows(stageFile(dir, def.output), o.signal)) { await emit(r); total++; }
  });
  manifest.update({ counts: { total, done: total, failed: 0, pending: 0 } });
  return finish('completed', null);
}

export function applyStageEndpoints(stage: StageDef, opts: Record<string, unknown>, map: Record<string, string> | undefined): Record<string, unknown> {
  if (!map) return opts;
  const out = { ...opts };
  if (map[stage.name] !== undefined) {
    if (stage.kind === 'dialogue') { out.user_endpoint = map[stage.name]; out.assistant_endpoint = map[stage.name]; }
    else out.endpoint = map[stage.name];
  }
  if (map[`${stage.name}.user`] !== undefined) out.user_endpoint = map[`${stage.name}.user`];
  if (map[`${stage.name}.assistant`] !== undefined) out.assistant_endpoint = map[`${stage.name}.assistant`];
  return out;
}

/** Streams rows into `<file>.tmp`, then renames it to `file`. */
async function writeLocal(file: string, produce: (emit: (row: Row) => Promise<void>) => Promise<void>): Promise<void> {
  const tmp = `${file}.tmp`;
  const w = await JsonlWriter.open(tmp, { truncate: true });
  try {
    await produce(async (row) => {
      await w.writeItem([row]);
    });
    await w.close();
  } catch (e) {
    await w.close().catch(() => undefined);
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  await fsp.rename(tmp, file);
}

interface ModelStageOutcome {
  status: 'completed' | 'failed' | 'cancelled';
  error: string | null;
  listError?: ListConversionError;
  /** Tokens used by this session's requests of the stage. */
  tokens: { prompt: number; completion: number };
}

/** The generate stage a parse_list converts the answers of (its input, writing the parsed field). */
function producerOf(o: RunPipelineOptions, stage: StageDef, opts: Record<string, unknown>): { stage: StageDef; opts: Record<string, unknown> } | undefined {
  if (stage.kind !== 'parse_list' || stage.from.length !== 1) return undefined;
  const p = o.def.stages.find((s) => s.name === stage.from[0]);
  if (!p || p.kind !== 'generate' || !stageEnabled(p, o.params)) return undefined;
  const popts = applyStageEndpoints(p, stageOptions(p, o.params), o.stageEndpoints);
  return String(popts.output) === String(opts.field) ? { stage: p, opts: popts } : undefined;
}

/** Requests already made for the failed items of a parse_list stage file (row id -> count). */
async function priorAttempts(file: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (!(await fileExists(file))) return out;
  for await (const rec of readJsonl<StoredRow>(file)) {
    const r = rec.value;
    // Memory: one entry per failed item only.
    // Only list failures count: an item that failed on a server error still has a usable stored answer.
    if (r && typeof r === 'object' && r._error != null && typeof r._attempts === 'number' && typeof r._key === 'string') out.set(r._key, Math.max(out.get(r._key) ?? 0, r._attempts));
  }
  return out;
}

async function runModelStage(
  o: RunPipelineOptions, stage: StageDef, opts: Record<string, unknown>, input: string | undefined, file: string,
  manifest: ManifestWriter, onTokens: (t: { prompt: number; completion: number }) => void,
): Promise<ModelStageOutcome> {
  const { def, params, templates } = o;
  const producer = producerOf(o, stage, opts);
  const ctx: ModelStageContext = {
    def, stage, opts, params, templates, client: o.client, producer,
    // The first list of a pipeline converts the answer to the single seed row.
    firstList: producer !== undefined && producer.stage.from.length === 0,
    priorAttempts: stage.kind === 'parse_list' ? await priorAttempts(file) : undefined,
  };
  // Template names that depend on row fields are checked over the whole input before any request.
  const rowTemplates = ['template', 'classify', 'user_template', 'assistant_template'].filter((k) => typeof opts[k] === 'string' && (opts[k] as string).includes('{{'));
  if (rowTemplates.length && input) {
    const seen = new Set<string>();
    for await (const row of readStageRows(input, o.signal)) {
      for (const k of rowTemplates) {
        const name = templateName(opts[k], templateValues(ctx, row), stage);
        if (seen.has(name)) continue;
        seen.add(name);
        if (!templates.has(name)) throw new Error(`${k} resolves to ${JSON.stringify(name)} for row ${row.id}, and there is no such template`);
      }
    }
  }

  const out = await openRunOutput<StoredRow>({
    path: file,
    keyOf: (r) => String(r._key),
    rowsPerItem: (r) => Number(r._n ?? 1),
    isFailed: (r) => r._error != null,
  });
  const stop = new AbortController();
  const onOuterAbort = () => stop.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onOuterAbort);
  let listError: ListConversionError | undefined;
  async function* items(): AsyncGenerator<{ row: Row }> {
    if (!input) { yield { row: SEED_ROW(def) }; return; }
    for await (const row of readStageRows(input)) yield { row };
  }
  try {
    const result = await runItems<{ row: Row }, StoredRow>({
      items: items(),
      keyOf: (it) => it.row.id,
      async execute(it, ictx) {
        try {
          const r = await executeModelItem(ctx, it.row, ictx, ictx.signal);
          if (r.rows.length === 0) return [{ _key: it.row.id, _n: 1, _empty: true, _reason: r.emptyReason ?? 'no rows', id: it.row.id, provenance: it.row.provenance }];
          return r.rows.map((row) => ({ ...row, _key: it.row.id, _n: r.rows.length }));
        } catch (e) {
          // The stage still finishes its other items (each failure is recorded with its number
          // of requests, so a rerun continues with a fresh one); the run then stops.
          if (isListConversionError(e)) listError ??= e;
          throw e;
        }
      },
      errorRow: (it, err) => ({
        _key: it.row.id, _n: 1, _error: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
        ...(isListConversionError(err) && err.attempts ? { _attempts: err.attempts } : {}),
        id: it.row.id, provenance: it.row.provenance,
      }),
      sink: out,
      concurrency: o.concurrency ?? 16,
      requestsPerMinute: o.requestsPerMinute,
      tokensPerMinute: o.tokensPerMinute,
      retry: o.retry,
      // Lists that cannot be converted are not a setup error, and an early stop would not record
      // them (a rerun would then not know how many requests each item already had).
      earlyStop: stage.kind === 'parse_list' ? false : o.earlyStop,
      total: input ? countStageRows(input) : 1,
      signal: stop.signal,
      manifest,
      stage: stage.name,
      endpoint: o.client(String(opts.endpoint ?? opts.assistant_endpoint ?? 'default')).endpoint,
      onProgress: (ev) => { onTokens(ev.tokens); o.onProgress?.(stage.name, ev); },
    });
    const tokens = result.tokens;
    if (listError) {
      const snippet = listError.response.replace(/\s+/g, ' ').trim().slice(0, 160);
      const why = listError.firstList
        ? ' (the first list of the pipeline gave nothing usable, so there is nothing to continue from)'
        : ' (on_failure: error)';
      const tries = listError.attempts && listError.attempts > 1 ? `; ${listError.attempts} requests tried` : '';
      return {
        status: 'failed',
        error: `stage ${stage.name}: ListConversionError (${listError.reason}): ${listError.message}${why}${tries}; response began: ${JSON.stringify(snippet)}` +
          `; run the same command again to retry it with a fresh request${producer ? '' : ' (no generate stage feeds this list, so the same text is parsed again)'}`,
        listError,
        tokens,
      };
    }
    if (result.status === 'cancelled') return { status: 'cancelled', error: 'cancelled', tokens };
    if (result.status === 'failed') return { status: 'failed', error: prefixOnce(stage.name, result.error), tokens };
    if (result.failed > 0) {
      const last = result.progress.lastErrors.at(-1);
      return { status: 'failed', error: `stage ${stage.name}: ${result.failed} item(s) failed${last ? ` (last error: ${stripStagePrefix(stage.name, last)})` : ''}; run the same command again to retry them`, tokens };
    }
    return { status: 'completed', error: null, tokens };
  } finally {
    o.signal?.removeEventListener('abort', onOuterAbort);
    await out.close();
  }
}

function stripStagePrefix(stage: string, msg: string): string {
  let m = msg;
  while (m.startsWith(`stage ${stage}: `)) m = m.slice(`stage ${stage}: `.length);
  return m;
}

/** `stage <name>: <msg>` with the prefix written once, whatever `msg` already holds. */
export function prefixOnce(stage: string, msg: string | null): string {
  return `stage ${stage}: ${stripStagePrefix(stage, msg ?? 'failed')}`;
}
