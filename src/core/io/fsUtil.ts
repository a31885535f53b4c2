/**
 * Small file-system helpers shared by the run store.
 */
import { promises as fsp } from 'node:fs';

/**
 * `rename` that replaces the target, retrying briefly on EPERM / EBUSY / EACCES: on Windows a
 * reader (an editor, a viewer, an antivirus) holding the target open makes a replace fail for a
 * moment. On POSIX the first attempt succeeds.
 */
export async function renameReplacing(from: string, to: string, attempts = 8): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await fsp.rename(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (i >= attempts || (code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES')) throw e;
      await new Promise((r) => setTimeout(r, 25 * i));
    }
  }
}

/**
 * `mkdir -p` with the real error: Node's recursive mkdir reports ENOENT when the file system is
 * read-only (EROFS) or the parent is a file (ENOTDIR); a plain mkdir of the last part, when
 * its parent exists, tells which.
 */
export async function makeDirs(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    try {
      await fsp.mkdir(dir);
    } catch (plain) {
      const code = (plain as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return;
      if (code !== 'ENOENT') throw plain;
    }
    throw e;
  }
}

/**
 * Whether two paths name the same file: the same device and inode (a hard link or a symlink to
 * it), or the same real path. False when either does not exist.
 */
export async function sameFile(a: string, b: string): Promise<boolean> {
  let sa: import('node:fs').BigIntStats;
  let sb: import('node:fs').BigIntStats;
  try {
    [sa, sb] = await Promise.all([fsp.stat(a, { bigint: true }), fsp.stat(b, { bigint: true })]);
  } catch {
    return false;
  }
  // Some file systems (Windows, a few network mounts) report inode 0: fall back to real paths.
  if (sa.ino !== 0n && sa.dev === sb.dev && sa.ino === sb.ino) return true;
  try {
    const [ra, rb] = await Promise.all([fsp.realpath(a), fsp.realpath(b)]);
    return ra === rb;
  } catch {
    return false;
  }
}
