#!/usr/bin/env node
// `npm run docs:refresh`: regenerates the documents that the test suites measure or photograph,
// explicitly (npm test writes only to the ignored .test-artifacts/ and leaves the tree clean):
//   docs/reliability.md   the reliability suite's report (figures of this machine, today)
//   docs/screenshots/     the screenshots the vscode suite takes in real code-server + Chromium
// Usage: npm run docs:refresh [-- --no-run]   (--no-run: copy what the last test run left)
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ARTIFACTS = join(ROOT, '.test-artifacts');

if (!process.argv.includes('--no-run')) {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'test-all.mjs'), '--only', 'build,reliability,vscode'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('docs:refresh: the suites failed; docs/ left as it was.');
    process.exit(1);
  }
}

const copied = [];
const report = join(ARTIFACTS, 'reliability.md');
if (existsSync(report)) {
  copyFileSync(report, join(ROOT, 'docs', 'reliability.md'));
  copied.push('docs/reliability.md');
}
const shots = join(ARTIFACTS, 'screenshots');
if (existsSync(shots)) {
  mkdirSync(join(ROOT, 'docs', 'screenshots'), { recursive: true });
  for (const f of readdirSync(shots).filter((n) => n.endsWith('.png'))) {
    copyFileSync(join(shots, f), join(ROOT, 'docs', 'screenshots', f));
    copied.push(`docs/screenshots/${f}`);
  }
}
if (!copied.length) {
  console.error('docs:refresh: nothing to copy from .test-artifacts/ (run the reliability and vscode suites first).');
  process.exit(1);
}
console.log(`docs:refresh: updated ${copied.length} files:\n  ${copied.join('\n  ')}`);
