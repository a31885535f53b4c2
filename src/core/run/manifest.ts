/**
 * manifest.json of a run folder (see the run folder contract in docs/engine.md): written
 * atomically (tmp + rename), throttled to about once a second, and read back with a liveness
 * check so a "running" run whose process died shows as "interrupted".
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describeFsError } from '../io/jsonl';
import { renameReplacing } from '../io/fsUtil';
import { redactDeep } from '../redact';

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

export interface RunCounts {
  total: number | null;
  done: number;
  failed: number;
  pending: number | null;
}

export interface StageManifest {
  name: string;
  file: string;
  status: RunStatus | 'pending';
  counts: RunCounts;
}

export interface Manifest {
  version: 1;
  kind: string;
  name: string;
  status: RunStatus;
  pid: number;
  /** Host of `pid` (a pid means nothing on another machine of a cluster). */
  host?: string;
  createdAt: string;
  startedAt: string;
  updatedAt: string;
  endedAt: string | null;
  output: string;
  counts: RunCounts;
  tokens: { prompt: number; completion: number };
  throughput: { requestsPerSec: number; tokensPerSec: number };
  stages?: StageManifest[];
  error: string | null;
}

export const MANIFEST_FILE = 'manifest.json';

export function emptyCounts(total: number | null = null): RunCounts {
  return { total, done: 0, failed: 0, pending: total };
}

/** Writes `data` as JSON to `file` atomically: a reader sees the old or the new file, never half. */
export async function writeJsonAtomic(file: string, data: unknown): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    // Run-folder files are read by people and tools: never a credential (a key in a URL's query...).
    await fsp.writeFile(tmp, JSON.stringify(redactDeep(data), null, 2) + '\n');
    await renameReplacing(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw describeFsError(e, file, 'writing');
  }
}

export interface ManifestWriterOptions {
  /** Minimum time between two writes from `update` (ms). Default 1000. */
  intervalMs?: number;
  /** Tokens of earlier sessions of the run (a resume): `tokens` updates add to them. */
  tokenBase?: { prompt: number; completion: number };
}

/**
 * Owns manifest.json for one running process. `update` merges a patch and schedules a write at
 * most every `intervalMs`; `flush` writes now; `finish` sets the final status and writes.
 * Write errors are kept in `lastError` (a manifest is advisory; the JSONL is the data).
 */
export class ManifestWriter {
  private data: Manifest;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = 0;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  lastError: Error | null = null;
  readonly file: string;

  constructor(readonly runDir: string, initial: Partial<Manifest> & { kind: string; name: string; output: string }, private readonly options: ManifestWriterOptions = {}) {
    const now = new Date().toISOString();
    this.file = join(runDir, MANIFEST_FILE);
    this.data = {
      version: 1,
      status: 'running',
      pid: process.pid,
      host: hostname(),
      createdAt: now,
      startedAt: now,
      updatedAt: now,
      endedAt: null,
      counts: emptyCounts(),
      tokens: { prompt: 0, completion: 0 },
      throughput: { requestsPerSec: 0, tokensPerSec: 0 },
      error: null,
      ...initial,
    };
    const base = options.tokenBase;
    if (base) this.data.tokens = { prompt: base.prompt + this.data.tokens.prompt, completion: base.completion + this.data.tokens.completion };
  }

  /** Current status (no copy). */
  get status(): RunStatus {
    return this.data.status;
  }

  /** A copy of the current manifest. */
  get manifest(): Manifest {
    return structuredClone(this.data);
  }

  /** Merges top-level fields and schedules a throttled write. */
  update(patch: Partial<Manifest>): void {
    const base = this.options.tokenBase;
    if (base && patch.tokens) patch = { ...patch, tokens: { prompt: base.prompt + patch.tokens.prompt, completion: base.completion + patch.tokens.completion } };
    Object.assign(this.data, patch);
    this.schedule();
  }

  /** Merges fields of one stage (created if missing) and schedules a throttled write. */
  updateStage(name: string, patch: Partial<StageManifest>): void {
    const stages = (this.data.stages ??= []);
    let stage = stages.find((s) => s.name === name);
    if (!stage) {
      stage = { name, file: patch.file ?? '', status: 'pending', counts: emptyCounts() };
      stages.push(stage);
    }
    Object.assign(stage, patch);
    this.schedule();
  }

  private schedule(): void {
    this.dirty = true;
    if (this.timer) return;
    const wait = Math.max(0, (this.options.intervalMs ?? 1000) - (Date.now() - this.lastWrite));
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, wait);
    this.timer.unref?.();
  }

  /** Writes the manifest now (after any write in progress). */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.dirty = false;
    this.data.updatedAt = new Date().toISOString();
    const snapshot = JSON.stringify(this.data);
    this.lastWrite = Date.now();
    this.writing = this.writing.then(async () => {
      try {
        await writeJsonAtomic(this.file, JSON.parse(snapshot));
        this.lastError = null;
      } catch (e) {
        this.lastError = e as Error;
      }
    });
    return this.writing;
  }

  /** Sets the final status (and error), stamps endedAt and writes. */
  async finish(status: Exclude<RunStatus, 'running' | 'interrupted'>, error: string | null = null): Promise<void> {
    this.data.status = status;
    this.data.error = error;
    this.data.endedAt = new Date().toISOString();
    await this.flush();
    if (this.lastError) throw this.lastError;
  }

  /** True when an update is waiting for its throttled write. */
  get pending(): boolean {
    return this.dirty;
  }
}

/** Whether a process with this pid exists (EPERM means it exists but belongs to someone else). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Parses a JSON file; null when it does not exist. `fix` is added to the invalid-JSON message. */
export async function readJsonFile<T>(file: string, fix = ''): Promise<T | null> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw describeFsError(e, file, 'reading');
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message})${fix ? `; ${fix}` : ''}`);
  }
}

/**
 * Reads `<runDir>/manifest.json`. A "running" manifest whose pid is dead is returned with status
 * "interrupted". Returns null when there is no manifest; throws a clear error when it is unreadable.
 */
export async function readManifest(runDir: string): Promise<Manifest | null> {
  const m = await readJsonFile<Manifest>(join(runDir, MANIFEST_FILE));
  if (!m) return null;
  // A pid can only be checked on its own host; a run of another host stays "running".
  if (m.status === 'running' && (m.host ?? hostname()) === hostname() && !isPidAlive(m.pid)) {
    m.status = 'interrupted';
    for (const s of m.stages ?? []) if (s.status === 'running') s.status = 'interrupted';
  }
  return m;
}

export interface RunSummary {
  /** Absolute path of the run folder. */
  dir: string;
  manifest: Manifest;
}

/**
 * Run folders directly inside `dir` (any sub-folder with a manifest.json, including
 * `OUT.jsonl.run/` folders of `sdg generate`), newest first. Unreadable manifests are skipped.
 */
export async function listRuns(dir: string): Promise<RunSummary[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw describeFsError(e, dir, 'reading');
  }
  const runs: RunSummary[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const runDir = join(dir, entry.name);
    try {
      const manifest = await readManifest(runDir);
      if (manifest) runs.push({ dir: runDir, manifest });
    } catch {
      // A half-written or foreign folder is not a run; listing must not fail because of it.
    }
  }
  runs.sort((a, b) => (b.manifest.updatedAt ?? '').localeCompare(a.manifest.updatedAt ?? ''));
  return runs;
}
