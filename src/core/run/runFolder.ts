/**
 * `openRun`: everything a job needs from its run folder in one call: the frozen config check,
 * the output JSONL opened for resume (repaired, done keys collected), and a manifest writer.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { makeDirs } from '../io/fsUtil';
import { describeFsError } from '../io/jsonl';
import { freezeOrCheckConfig, type ConfigCompare } from './config';
import { ManifestWriter, emptyCounts, isPidAlive, readManifest, type Manifest } from './manifest';
import { openRunOutput, type RunOutput, type RunOutputOptions } from './output';

export interface OpenRunOptions<R> extends Omit<RunOutputOptions<R>, 'path'> {
  /** The run folder (created when missing). */
  runDir: string;
  /** The output JSONL. Default `<runDir>/output.jsonl`. */
  outputPath?: string;
  kind: string;
  name: string;
  /** The config to freeze (never an API key). */
  config: unknown;
  /** Which config fields must match on resume. */
  compare?: ConfigCompare;
  /** Start over: discard the existing output rows, config and manifest. */
  overwrite?: boolean;
  /** Manifest write throttle (ms). Default 1000. */
  manifestIntervalMs?: number;
}

export interface OpenedRun<R> {
  runDir: string;
  output: RunOutput<R>;
  manifest: ManifestWriter;
  /** True when an earlier session of this run existed (same config). */
  resumed: boolean;
  /** Releases the run folder: flushes and closes the output (and marks a never-finished manifest failed). Call once, after runItems. */
  close(): Promise<void>;
}

/** Thrown when another live process (or this one) is already running the same run folder. */
export class RunInUseError extends Error {
  override readonly name = 'RunInUseError';
  constructor(readonly runDir: string, readonly pid: number) {
    super(pid === process.pid
      ? `${runDir} is already running in this process; wait for it to finish or cancel it`
      : `${runDir} is already running in another process (pid ${pid}); stop it first, or wait for it to finish`);
  }
}

const openInThisProcess = new Set<string>();

export async function openRun<R = unknown>(options: OpenRunOptions<R>): Promise<OpenedRun<R>> {
  const runDir = resolve(options.runDir);
  const outputPath = resolve(options.outputPath ?? join(runDir, 'output.jsonl'));
  if (openInThisProcess.has(runDir)) throw new RunInUseError(runDir, process.pid);
  await makeDirs(runDir).catch((e) => { throw describeFsError(e, runDir, 'writing'); });

  const previous = await readManifest(runDir).catch(() => null);
  if (previous && previous.status === 'running' && previous.pid !== process.pid && isPidAlive(previous.pid)) {
    throw new RunInUseError(runDir, previous.pid);
  }
  openInThisProcess.add(runDir);
  try {
    const { resumed } = await freezeOrCheckConfig(runDir, options.config, options.compare, options.overwrite);
    const output = await openRunOutput<R>({ ...options, path: outputPath, overwrite: options.overwrite });
    const rel = relative(runDir, outputPath);
    const keepCreated: Partial<Manifest> = resumed && previous ? { createdAt: previous.createdAt } : {};
    const manifest = new ManifestWriter(runDir, {
      kind: options.kind,
      name: options.name,
      output: rel.startsWith('..') || isAbsolute(rel) ? outputPath : rel,
      counts: { ...emptyCounts(), done: output.doneKeys.size },
      ...keepCreated,
    }, { intervalMs: options.manifestIntervalMs });
    await manifest.flush();
    let closed = false;
    return {
      runDir,
      output,
      manifest,
      resumed: resumed && !output.recovery.fresh,
      async close() {
        if (closed) return;
        closed = true;
        try {
          await output.close();
        } finally {
          openInThisProcess.delete(runDir);
          // runItems records the final status; a run closed without one (the job threw before or
          // instead of running) must not stay "running" under a live pid (the extension host).
          if (manifest.status === 'running') await manifest.finish('failed', 'the job ended before it finished').catch(() => undefined);
        }
      },
    };
  } catch (e) {
    openInThisProcess.delete(runDir);
    throw e;
  }
}
