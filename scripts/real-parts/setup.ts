/**
 * Runs scripts/setup-real-parts.sh for a part and returns the paths it prints (KEY=VALUE lines).
 * On a warm machine this takes a fraction of a second: everything heavy is cached outside the
 * clone (see docs/testing.md). On a cold one it builds, so callers give it a long timeout.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export type RealPart = 'llama' | 'code-server' | 'chromium';

export const REPO_ROOT = join(__dirname, '..', '..');

const cache = new Map<RealPart, Record<string, string>>();

export function ensureRealPart(part: RealPart): Record<string, string> {
  const known = cache.get(part);
  if (known) return known;
  const r = spawnSync('bash', [join(REPO_ROOT, 'scripts', 'setup-real-parts.sh'), part], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 60 * 60 * 1000,
  });
  if (r.status !== 0) throw new Error(`scripts/setup-real-parts.sh ${part} failed (exit ${r.status ?? r.signal}); its log is above`);
  const paths: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) paths[m[1]] = m[2];
  }
  cache.set(part, paths);
  return paths;
}
