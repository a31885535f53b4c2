#!/usr/bin/env node
// Runs before `npm start` and `npm test` so that each is one command on a fresh clone:
// installs the npm dependencies (from package-lock.json) when they are missing or stale.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const installed = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  const started = Date.now();
  // Quiet: warnings and errors only (the README promises a short first start).
  const r = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
  console.log(`[deps] npm ci: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
