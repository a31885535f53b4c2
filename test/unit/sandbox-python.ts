/**
 * The interpreter the sandbox tests use: the first of $SDG_TEST_PYTHON, python3, /usr/bin/python3
 * that runs, and whether it has sympy (the MATH code examples need it). /root/.pyenv's python3 may
 * shadow the Debian one on PATH, so both are tried.
 */
import { spawnSync } from 'node:child_process';

export interface TestPython {
  python: string | null;
  hasSympy: boolean;
}

let found: TestPython | undefined;

export function testPython(): TestPython {
  if (found) return found;
  const candidates = [process.env.SDG_TEST_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => Boolean(c));
  let runs: string | null = null;
  for (const c of candidates) {
    const r = spawnSync(c, ['-c', 'import sympy'], { encoding: 'utf8', timeout: 60_000 });
    if (r.error) continue;
    if (r.status === 0) return (found = { python: c, hasSympy: true });
    runs ??= c;
  }
  return (found = { python: runs, hasSympy: false });
}
