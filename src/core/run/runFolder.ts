/**
 * `openRun`: everything a job needs from its run folder in one call: the frozen config check,
 * the output JSONL opened for resume (repaired, done keys collected), and a manifest writer.
 */
import { promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { makeDirs } from '../io/fsUtil';
import { describeFsError } from '../io/jsonl';
import { freezeOrCheckConfig, type ConfigCompare } from './config';
import { ManifestWriter, emptyCounts, isPidAlive, readManifest, type Manifest } from './manifest';
import { assertNotAnInput, lockOutput, openRunOutput, type RunOutput, type RunOutputOptions } from './output';

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
  constructor(readonly runDir: string, readonly pid: number, readonly host?: string) {
    super(pid === process.pid && (host === undefined || host === hostname())
      ? `${runDir} is already running in this process; wait for it to finish or cancel it`
      : `${runDir} is already running in another process (pid ${pid}${host && host !== hostname() ? ` on ${host}` : ''}); stop it first, or wait for it to finish`);
  }
}

/** manifest.json could not be written when the run ended: the rows are fine, the status is not. */
export class ManifestWriteError extends Error {
  override readonly name = 'ManifestWriteError';
  constructor(readonly file: string, reason: string) {
    super(`the rows are written, but ${file} could not be updated (${reason}): the run folder may still say "running". ` +
      'Fix the cause (space, permissions) and run the same command again to record the final status.');
  }
}

const openInThisProcess = new Set<string>();

/**
 * Temp files of atomic writes (`manifest.json.<pid>.tmp`, `config.json.<pid>.tmp`,
 * `command.json.<pid>.tmp`) left by a process killed between write and rename. Called under the
 * run's lock, so no other live process is writing them.
 */
export async function removeStaleTempFiles(runDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(runDir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = /^[^/]+\.json\.(\d+)\.tmp$/.exec(name);
    // (Called under the run's lock; a live pid here is still left alone, to be safe.)
    if (!m || Number(m[1]) === process.pid || isPidAlive(Number(m[1]))) continue;
    await fsp.rm(join(runDir, name), { force: true }).then(() => removed.push(name), () => undefined);
  }
  return removed;
}

export async function openRun<R = unknown>(options: OpenRunOptions<R>): Promise<OpenedRun<R>> {
  const runDir = resolve(options.runDir);
  const outputPath = resolve(options.outputPath ?? join(runDir, 'output.jsonl'));
  if (openInThisProcess.has(runDir)) throw new RunInUseError(runDir, process.pid);
  await assertNotAnInput(outputPath, options.inputs);
  await makeDirs(runDir).catch((e) => { throw describeFsError(e, runDir, 'writing'); });

  openInThisProcess.add(runDir);
  // The output's lock first: a second process is refused before it reads or writes anything
  // of the run folder (config.json, manifest.json).
  let held: Awaited<ReturnType<typeof lockOutput>> | undefined;
  try {
    held = await lockOutput(outputPath);
    const previous = await readManifest(runDir).catch(() => null);
    // A live pid in a "running" manifest of this host: a writer of another output in this folder.
    if (previous && previous.status === 'running' && previous.pid !== process.pid && (previous.host ?? hostname()) === hostname() && isPidAlive(previous.pid)) {
      throw new RunInUseError(runDir, previous.pid);
    }
    await removeStaleTempFiles(runDir);
    const { resumed } = await freezeOrCheckConfig(runDir, options.config, options.compare, options.overwrite);
    const output = await openRunOutput<R>({ ...options, path: outputPath, overwrite: options.overwrite, lock: held });
    held = undefined; // the output owns it now
    const rel = relative(runDir, outputPath);
    const keepCreated: Partial<Manifest> = resumed && previous ? { createdAt: previous.createdAt } : {};
    const manifest = new ManifestWriter(runDir, {
      kind: options.kind,
      name: options.name,
      output: rel.startsWith('..') || isAbsolute(rel) ? outputPath : rel,
      counts: { ...emptyCounts(), done: output.doneKeys.size },
      ...keepCreated,
    }, { intervalMs: options.manifestIntervalMs, tokenBase: resumed && previous?.tokens ? previous.tokens : undefined });
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
        // The final status never reached the disk: say so instead of a silent "done".
        if (manifest.lastError) throw new ManifestWriteError(manifest.file, manifest.lastError.message);
      },
    };
  } catch (e) {
    await held?.release();
    openInThisProcess.delete(runDir);
    throw e;
  }
}
