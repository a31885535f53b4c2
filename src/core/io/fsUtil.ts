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
