/**
 * RunView from a manifest.json (run folder contract) merged with live runs of the RunManager.
 * Pure (no `vscode`).
 */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Manifest } from '../../core/run/manifest';
import type { RunView } from '../../protocol/studio';

export function viewFromManifest(dir: string, m: Manifest): RunView {
  const counts = m.counts ?? { total: null, done: 0, failed: 0, pending: null };
  return {
    dir,
    name: m.name ?? dir,
    kind: m.kind ?? 'run',
    status: m.status,
    live: false,
    counts: { total: counts.total ?? null, done: counts.done ?? 0, failed: counts.failed ?? 0, pending: counts.pending ?? null },
    tokens: m.tokens ?? { prompt: 0, completion: 0 },
    throughput: m.status === 'running' ? (m.throughput ?? { requestsPerSec: 0, tokensPerSec: 0 }) : { requestsPerSec: 0, tokensPerSec: 0 },
    stages: (m.stages ?? []).map((s) => ({ name: s.name, status: s.status, counts: s.counts })),
    recentErrors: [],
    currentStage: null,
    etaSeconds: null,
    startedAt: m.startedAt ?? null,
    updatedAt: m.updatedAt ?? null,
    endedAt: m.endedAt ?? null,
    output: m.output ? (isAbsolute(m.output) ? m.output : join(dir, m.output)) : null,
    error: m.error ?? null,
    // An ended run: the last session's duration and its average rates as the engine measured them.
    finished: m.status !== 'running' && m.endedAt && m.startedAt && m.throughput && Date.parse(m.endedAt) > Date.parse(m.startedAt)
      ? { durationSeconds: (Date.parse(m.endedAt) - Date.parse(m.startedAt)) / 1000, requestsPerSec: m.throughput.requestsPerSec, tokensPerSec: m.throughput.tokensPerSec }
      : undefined,
  };
}

/** Live runs replace their on-disk view (fresher); the rest are listed newest first. */
export function mergeRuns(onDisk: RunView[], live: RunView[]): RunView[] {
  const byDir = new Map<string, RunView>();
  for (const r of onDisk) byDir.set(r.dir, r);
  for (const r of live) {
    const disk = byDir.get(r.dir);
    // An ended live run: the manifest's tokens cover every session of a resumed run, the live ones only this one.
    const ended = !isActive(r) && disk && disk.tokens.prompt + disk.tokens.completion > r.tokens.prompt + r.tokens.completion;
    byDir.set(r.dir, { ...r, output: r.output ?? disk?.output ?? null, stages: r.stages.length ? r.stages : (disk?.stages ?? []), ...(ended ? { tokens: disk.tokens, finished: disk.finished } : {}) });
  }
  return [...byDir.values()].sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? ''));
}

export function isActive(r: RunView): boolean {
  return r.status === 'running' || r.status === 'starting' || r.status === 'cancelling';
}

/** A run that a resume can continue: stopped early, or finished with failed items to retry. */
export function isResumable(r: RunView): boolean {
  if (isActive(r)) return false;
  return r.status === 'interrupted' || r.status === 'cancelled' || r.status === 'failed' || (r.status === 'completed' && r.counts.failed > 0);
}

/** A run folder named by a message or an argument: it must be a direct child of the runs folder. */
export function confineRunFolder(runsFolder: string | undefined, dir: unknown): string {
  if (typeof dir !== 'string' || !dir) throw new Error('expected the path of a run folder');
  if (!runsFolder) throw new Error('no runs folder: open a folder first');
  if (!isAbsolute(dir)) throw new Error(`not an absolute run folder path: ${dir}`);
  const abs = resolve(dir);
  const rel = relative(resolve(runsFolder), abs);
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.includes(sep)) throw new Error(`${dir} is not a run folder under ${runsFolder}`);
  return abs;
}
