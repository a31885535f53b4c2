/**
 * What tells runs apart: the pipeline or prompt config, the endpoint and model, the key
 * parameters (from the run folder's frozen config.json), an optional label (label.txt in the
 * run folder), and for finished runs the duration and average rates. Pure (no `vscode`).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunDetails, RunView } from '../../protocol/studio';
import { readRunMetrics } from './postprocess';

export const LABEL_FILE = 'label.txt';

const cache = new Map<string, { mtimeMs: number; details: RunDetails }>();

type Json = Record<string, any>;

function short(v: unknown): string | number | boolean | null | undefined {
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.length > 60 ? `${v.slice(0, 57)}...` : v;
  if (Array.isArray(v)) return v.length === 1 ? short(v[0]) : `${v.length} values`;
  return undefined;
}

/** Details from config.json (labeling: `sdg generate`'s frozen config; pipelines: the runner's). */
export function detailsFromConfig(config: Json): RunDetails {
  if (config.kind === 'generate') {
    const p = (config.params ?? {}) as Json;
    const params: RunDetails['params'] = { seeds: config.num_seeds ?? 1, samples: config.num_samples ?? 1 };
    if (p.temperature !== null && p.temperature !== undefined) params.temperature = p.temperature;
    if (p.max_tokens !== null && p.max_tokens !== undefined) params.max_tokens = p.max_tokens;
    if (config.dataset?.limit) params.limit = config.dataset.limit;
    if (config.prompt?.context_type && config.prompt.context_type !== 'empty') params.context = config.prompt.context_type;
    if (config.prompt?.few_shot?.count !== undefined) params.few_shot = config.prompt.few_shot.count;
    return {
      source: `prompt ${config.prompt?.name ?? '?'}`,
      input: typeof config.input === 'string' ? config.input : null,
      endpoint: config.endpoint?.name ?? null,
      model: config.endpoint?.model ?? null,
      params,
    };
  }
  const ep = (config.endpoints?.default ?? {}) as Json;
  const params: RunDetails['params'] = {};
  for (const [k, v] of Object.entries((config.parameters ?? {}) as Json)) {
    const s = short(v);
    if (s !== undefined) params[k] = s;
  }
  return { source: `pipeline ${config.pipeline ?? config.name ?? '?'}`, input: null, endpoint: ep.name ?? null, model: ep.model ?? null, params };
}

/** Details of a run folder (cached until config.json or label.txt changes); null when it has no config. */
export function readRunDetails(dir: string): RunDetails | null {
  const file = join(dir, 'config.json');
  try {
    const labelFile = join(dir, LABEL_FILE);
    const mtimeMs = statSync(file).mtimeMs + (existsSync(labelFile) ? statSync(labelFile).mtimeMs : 0);
    const hit = cache.get(dir);
    if (hit && hit.mtimeMs === mtimeMs) return hit.details;
    const details = detailsFromConfig(JSON.parse(readFileSync(file, 'utf8')) as Json);
    const label = existsSync(labelFile) ? readFileSync(labelFile, 'utf8').trim() : '';
    if (label) details.label = label;
    cache.set(dir, { mtimeMs, details });
    return details;
  } catch {
    return null;
  }
}

/** Sets (or, empty, clears) a run's label. */
export function writeRunLabel(dir: string, label: string): void {
  writeFileSync(join(dir, LABEL_FILE), label.trim() ? `${label.trim()}\n` : '');
  cache.delete(dir);
}

/** Duration and average rates of a run that has ended (from its start and end times and counts). */
export function finishedRates(r: RunView): { durationSeconds: number; requestsPerSec: number; tokensPerSec: number } | null {
  if (!r.startedAt || !r.endedAt) return null;
  const secs = (Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000;
  if (!(secs > 0)) return null;
  const requests = r.counts.done + r.counts.failed;
  return { durationSeconds: secs, requestsPerSec: requests / secs, tokensPerSec: (r.tokens.prompt + r.tokens.completion) / secs };
}

/** Runs with their details and, once ended, duration and average rates. */
export function withDetails(runs: RunView[]): RunView[] {
  return runs.map((r) => {
    const details = readRunDetails(r.dir);
    const active = r.status === 'running' || r.status === 'starting' || r.status === 'cancelling';
    // The manifest's own figures when the run was read from disk; else from its times and counts.
    const ended = active ? null : (r.finished ?? finishedRates(r));
    return { ...r, details: details ?? undefined, finished: ended ?? undefined, metrics: readRunMetrics(r.dir) };
  });
}

/**
 * The request rate an endpoint sustained: the latest ended run on it with at least 5 requests
 * (its average), or null. Used for the launch estimate's expected time.
 */
export function measuredRate(runs: RunView[], endpoint: string): number | null {
  const ended = runs
    .filter((r) => r.details?.endpoint === endpoint && r.finished && r.counts.done + r.counts.failed >= 5)
    .sort((a, b) => (b.endedAt ?? '').localeCompare(a.endedAt ?? ''));
  return ended[0]?.finished?.requestsPerSec ?? null;
}
