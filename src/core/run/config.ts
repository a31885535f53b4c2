/**
 * config.json of a run folder: the settings a run was started with, frozen, so a resume with
 * different generation settings (another model, temperature, prompt...) is refused instead of
 * silently mixing two datasets in one file.
 */
import { join } from 'node:path';
import { makeDirs } from '../io/fsUtil';
import { describeFsError } from '../io/jsonl';
import { readJsonFile, writeJsonAtomic } from './manifest';
import { redactDeep } from '../redact';

export const CONFIG_FILE = 'config.json';

/** Which fields of a config decide what gets generated. */
export interface ConfigCompare {
  /**
   * Dotted paths compared (e.g. `endpoint.model`, `params.temperature`, `prompt`). A path covers
   * everything below it. Default: every field.
   */
  fields?: string[];
  /**
   * Dotted paths never compared (throughput knobs, output paths...): `concurrency`,
   * `endpoint.maxConcurrency`, `endpoint.requestsPerMinute`... Applied after `fields`.
   */
  ignore?: string[];
}

export interface ConfigDifference {
  path: string;
  was: unknown;
  now: unknown;
}

export class ConfigMismatchError extends Error {
  override readonly name = 'ConfigMismatchError';
  constructor(readonly runDir: string, readonly differences: ConfigDifference[]) {
    super(
      `${runDir} was started with different generation settings: ` +
        differences.map((d) => `${d.path} (was ${show(d.was)}, now ${show(d.now)})`).join('; ') +
        '. Resuming would mix two datasets in one file: use the same settings, another output, or --overwrite to start over.',
    );
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'unset';
  const s = JSON.stringify(v);
  return s.length > 80 ? s.slice(0, 77) + '...' : s;
}

/** Writes `<runDir>/config.json` atomically. The caller makes sure it holds no secret. */
export async function writeFrozenConfig(runDir: string, config: unknown): Promise<void> {
  await makeDirs(runDir).catch((e) => { throw describeFsError(e, runDir, 'writing'); });
  await writeJsonAtomic(join(runDir, CONFIG_FILE), config);
}

/** Reads `<runDir>/config.json`; null when absent. */
export async function readFrozenConfig<T = unknown>(runDir: string): Promise<T | null> {
  return readJsonFile<T>(join(runDir, CONFIG_FILE), 'delete the run folder or use --overwrite');
}

/** Differences between two configs on the compared fields, as dotted paths to the leaves that differ. */
export function diffConfigs(was: unknown, now: unknown, compare: ConfigCompare = {}): ConfigDifference[] {
  const out: ConfigDifference[] = [];
  const ignore = new Set(compare.ignore ?? []);
  const roots = compare.fields ?? [''];
  for (const root of roots) {
    walk(root, root ? getPath(was, root) : was, root ? getPath(now, root) : now, ignore, out);
  }
  return out;
}

function walk(path: string, a: unknown, b: unknown, ignore: Set<string>, out: ConfigDifference[]): void {
  if (path && ignore.has(path)) return;
  // JSON round-trip semantics: undefined and missing are the same thing.
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of [...keys].sort()) walk(path ? `${path}.${k}` : k, a[k], b[k], ignore, out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ path: path || '(config)', was: a, now: b });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (!isPlainObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/**
 * Freezes the config of a new run, or checks a resumed run against its frozen config.
 * Returns `resumed: true` when a frozen config existed and matched. Throws `ConfigMismatchError`
 * naming the differing fields. With `overwrite`, the old config is replaced.
 */
export async function freezeOrCheckConfig(runDir: string, config: unknown, compare: ConfigCompare = {}, overwrite = false): Promise<{ resumed: boolean }> {
  const frozen = overwrite ? null : await readFrozenConfig(runDir);
  // JSON round trip so `undefined` fields compare equal to the frozen file later; redacted the
  // way config.json is written (a key in a URL is stored as ***), so a resume compares equal.
  const now = redactDeep(JSON.parse(JSON.stringify(config ?? null)) as unknown);
  if (frozen === null) {
    await writeFrozenConfig(runDir, now);
    return { resumed: false };
  }
  const diffs = diffConfigs(frozen, now, compare);
  if (diffs.length > 0) throw new ConfigMismatchError(runDir, diffs);
  return { resumed: true };
}
