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
