/**
 * The real datasets the repository carries (datasets/, with their licenses). Tests name them
 * through here so a missing file fails with a repository-relative path, never a machine path.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

/** Absolute path of `datasets/<rel>`; throws a clear error when the file is not there. */
export function datasetFile(rel: string): string {
  const file = join(REPO_ROOT, 'datasets', rel);
  if (!existsSync(file)) throw new Error(`dataset missing: datasets/${rel} (the repository carries it; restore it with \`git checkout -- datasets\`)`);
  return file;
}
