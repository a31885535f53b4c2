/**
 * File references the Studio webview uses: workspace-relative paths (confined to the workspace,
 * editable) or `builtin:<path>` under the shipped prompts/ folder (read-only). Kept apart from
 * files.ts so that commands can use it without loading the YAML and prompt code.
 */
import { relative, resolve, sep } from 'node:path';
import { confinePath, workspaceRelative } from '../util/paths';

export const BUILTIN_PREFIX = 'builtin:';

export interface FileContext {
  roots: readonly string[];
  /** The shipped prompts/ folder. */
  builtinDir: string;
}

export interface ResolvedFile {
  abs: string;
  readonly: boolean;
}

/** Resolve a file reference from the webview; throws PathError for anything outside. */
export function resolveFileRef(ctx: FileContext, ref: string, what = 'file'): ResolvedFile {
  if (ref.startsWith(BUILTIN_PREFIX)) return { abs: confinePath([ctx.builtinDir], ref.slice(BUILTIN_PREFIX.length), what), readonly: true };
  return { abs: confinePath(ctx.roots, ref, what), readonly: false };
}

/** The reference the webview should use for an absolute file. */
export function fileRefOf(ctx: FileContext, abs: string): string {
  const b = resolve(ctx.builtinDir);
  const rel = relative(b, abs);
  if (rel && !rel.startsWith('..') && !rel.startsWith(sep)) return BUILTIN_PREFIX + rel.split(sep).join('/');
  return workspaceRelative(ctx.roots, abs);
}

