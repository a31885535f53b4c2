/**
 * Confinement of paths that come from a webview (or any other untrusted message) to the
 * workspace folders. No `vscode` import: the roots are passed in, so this is unit-tested in
 * plain Node. A path is accepted when, after resolving `.`/`..` and following symlinks of its
 * existing part, it lies inside one of the roots.
 */
import { existsSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export class PathError extends Error {
  override readonly name = 'PathError';
}

/** Longest path we accept from a message; real paths are far shorter. */
const MAX_PATH_CHARS = 4096;

function realpathOfExistingPart(p: string): string {
  // Walk up to the first existing ancestor, resolve its symlinks, then re-append the rest.
  let cur = p;
  const rest: string[] = [];
  while (!existsSync(cur)) {
    const parent = dirname(cur);
    if (parent === cur) return p;
    rest.unshift(cur.slice(parent.length).replace(/^[\\/]+/, ''));
    cur = parent;
  }
  let real: string;
  try {
    real = realpathSync.native(cur);
  } catch {
    real = cur;
  }
  return rest.length ? join(real, ...rest) : real;
}

function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

/**
 * Resolve `input` (relative to the first root, or absolute) and check it stays inside a root.
 * Returns the absolute, normalised path. Throws PathError naming the offending input.
 */
export function confinePath(roots: readonly string[], input: unknown, what = 'path'): string {
  if (typeof input !== 'string' || input.length === 0) throw new PathError(`${what}: expected a non-empty string`);
  if (input.length > MAX_PATH_CHARS) throw new PathError(`${what}: path is longer than ${MAX_PATH_CHARS} characters`);
  if (input.includes('\0')) throw new PathError(`${what}: path contains a NUL character`);
  if (roots.length === 0) throw new PathError(`${what}: no workspace folder is open`);
  // Reject `..` segments outright even when they would resolve back inside: a well-behaved
  // webview never sends them, so one is a sign of a bad message.
  if (input.split(/[\\/]+/).includes('..')) throw new PathError(`${what}: "${input}" contains a ".." segment`);
  const abs = isAbsolute(input) ? resolve(input) : resolve(roots[0], input);
  const real = realpathOfExistingPart(abs);
  for (const root of roots) {
    const rootReal = realpathOfExistingPart(resolve(root));
    if (isInside(resolve(root), abs) && isInside(rootReal, real)) return abs;
  }
  throw new PathError(`${what}: "${input}" is outside the workspace`);
}

/**
 * The form of an absolute path that `confinePath` resolves back to the same file: relative to
 * the first root when inside it (readable in the UI), absolute otherwise (other roots).
 */
export function workspaceRelative(roots: readonly string[], abs: string): string {
  if (roots.length && isInside(resolve(roots[0]), abs)) return relative(resolve(roots[0]), abs).split(sep).join('/') || '.';
  return abs;
}
