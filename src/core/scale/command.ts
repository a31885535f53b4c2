/**
 * The command that produced a run, kept in its run folder as `command.json`, so that `sdg merge`
 * can print the exact command that resumes an incomplete chunk (or, with another chunk id, starts
 * a missing one). It holds the arguments as typed: never a key (keys only come from the
 * environment variable that `--api-key-env` names).
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { writeJsonAtomic } from '../run/manifest';
import { shellJoin, shellQuote } from './shell';

export const COMMAND_FILE = 'command.json';

export interface CommandRecord {
  version: 1;
  /** How `sdg` was started: ["sdg"] or ["node", "/abs/dist/cli.js"]. */
  launcher: string[];
  /** Arguments after the launcher (sub-command first). */
  argv: string[];
  cwd: string;
  /** Set when the run ran as a Slurm array task started by a script from `sdg slurm`. */
  slurm?: { script: string; arrayTaskId: number };
}

/** The record for this process. */
export function currentCommand(env: NodeJS.ProcessEnv = process.env): CommandRecord {
  const script = process.argv[1] ?? 'sdg';
  const launcher = basename(script) === 'sdg' ? ['sdg'] : ['node', resolve(script)];
  const rec: CommandRecord = { version: 1, launcher, argv: process.argv.slice(2), cwd: process.cwd() };
  const task = Number(env.SLURM_ARRAY_TASK_ID);
  if (env.SDG_SLURM_SCRIPT && Number.isInteger(task)) rec.slurm = { script: env.SDG_SLURM_SCRIPT, arrayTaskId: task };
  return rec;
}

export async function writeCommandRecord(runDir: string, rec: CommandRecord): Promise<void> {
  await writeJsonAtomic(join(runDir, COMMAND_FILE), rec);
}

export async function readCommandRecord(runDir: string): Promise<CommandRecord | null> {
  try {
    const v = JSON.parse(await readFile(join(runDir, COMMAND_FILE), 'utf8'));
    return v && Array.isArray(v.argv) && Array.isArray(v.launcher) && typeof v.cwd === 'string' ? (v as CommandRecord) : null;
  } catch {
    return null;
  }
}

/** Replaces (or adds) `--flag value` / `--flag=value` options in an argument list. */
export function withOptions(argv: readonly string[], set: Record<string, string>, drop: readonly string[] = []): string[] {
  const out: string[] = [];
  const pending = new Map(Object.entries(set));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const name = a.startsWith('--') ? (eq > 0 ? a.slice(0, eq) : a) : null;
    if (name && drop.includes(name)) continue;
    if (name && set[name] !== undefined) {
      out.push(name, set[name]);
      pending.delete(name);
      if (eq < 0) i++; // skip the old value
      continue;
    }
    out.push(a);
  }
  for (const [k, v] of pending) out.push(k, v);
  return out;
}

/** Flags a resume must not repeat (`--overwrite` would discard the rows already there). */
const NOT_ON_RESUME = ['--overwrite'];

/** `cd DIR && sdg generate ...`, ready to paste; `set` replaces option values. */
export function formatCommand(rec: CommandRecord, set: Record<string, string> = {}): string {
  return `cd ${shellQuote(rec.cwd)} && ${shellJoin([...rec.launcher, ...withOptions(rec.argv, set, NOT_ON_RESUME)])}`;
}
