#!/usr/bin/env node
// The whole test suite, as CI runs it: type-check, build, then every suite in turn.
// Each suite writes {passed, failed, skipped} to a summary file; the last line adds them up.
// Usage: node scripts/test-all.mjs [--only name,name]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** name, command, args. Mocha suites report through test/support/summaryReporter.cjs. */
export const SUITES = [
  { name: 'typecheck', cmd: 'npx', args: ['tsc', '--noEmit', '-p', '.'], plain: true },
  { name: 'build', cmd: 'node', args: ['esbuild.mjs'], plain: true },
  // The README's `npm start` on a fresh copy of this checkout, from a terminal-like environment. It
  // runs first so that, on a fresh machine, it meets the empty real-part cache (the later suites
  // then reuse what it installed); SDG_FIRST_START_COLD=1 gives it an empty cache of its own.
  { name: 'first-start', cmd: 'npx', args: ['mocha', '--config', 'test/first-start/.mocharc.json'] },
  // The code-execution sandbox tests run real python3 with sympy and numpy (Debian packages).
  { name: 'unit', cmd: 'sh', args: ['-c', 'bash scripts/setup-real-parts.sh python >/dev/null && npx mocha --config .mocharc.json'] },
  // Real parts (docs/testing.md): the setup step builds or finds them in the cache first.
  { name: 'real-llm', cmd: 'sh', args: ['-c', 'bash scripts/setup-real-parts.sh llama >/dev/null && npx mocha --config test/real/.mocharc.json'] },
  { name: 'webview', cmd: 'sh', args: ['-c', 'bash scripts/setup-real-parts.sh chromium >/dev/null && npx mocha --config test/webview/.mocharc.json'] },
  { name: 'vscode', cmd: 'sh', args: ['-c', 'bash scripts/setup-real-parts.sh chromium llama code-server >/dev/null && npx mocha --config test/e2e/.mocharc.json'] },
  // sdg slurm against a real single-node Slurm on loopback (scripts/setup-slurm.sh installs and starts it).
  { name: 'slurm', cmd: 'npx', args: ['mocha', '--config', 'test/slurm/.mocharc.json'] },
  // What the product survives (faults, SIGKILL, disk full, bad input, key leaks, hostile records); writes docs/reliability.md.
  { name: 'reliability', cmd: 'sh', args: ['-c', 'bash scripts/setup-real-parts.sh chromium >/dev/null && npx mocha --config test/reliability/.mocharc.json'] },
  // The benchmark suite in its short mode: checks that every figure can be measured (no timing asserts).
  { name: 'bench-smoke', cmd: 'npx', args: ['tsx', 'bench/run.ts', '--quick'], plain: true },
];

const only = (() => {
  const i = process.argv.indexOf('--only');
  return i > 0 ? new Set(process.argv[i + 1].split(',')) : null;
})();

/** Tracked files as git sees them: tests write only to ignored folders, so this must not change. */
function trackedState() {
  const r = spawnSync('git', ['status', '--porcelain', '--untracked-files=all'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : null;
}
const treeBefore = trackedState();

const dir = mkdtempSync(join(tmpdir(), 'sdg-test-summary-'));
const totals = { passed: 0, failed: 0, skipped: 0 };
const lines = [];
for (const suite of SUITES) {
  if (only && !only.has(suite.name)) continue;
  const summaryFile = join(dir, `${suite.name}.json`);
  console.log(`\n=== ${suite.name} ===`);
  const started = Date.now();
  const r = spawnSync(suite.cmd, suite.args, { stdio: 'inherit', env: { ...process.env, SDG_SUMMARY_FILE: summaryFile } });
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  let s;
  if (!suite.plain && existsSync(summaryFile)) s = JSON.parse(readFileSync(summaryFile, 'utf8'));
  else s = { passed: r.status === 0 ? 1 : 0, failed: r.status === 0 ? 0 : 1, skipped: 0 };
  // A suite that exits non-zero without reporting a failure still counts as one failure.
  if (r.status !== 0 && s.failed === 0) s.failed = 1;
  totals.passed += s.passed; totals.failed += s.failed; totals.skipped += s.skipped;
  lines.push(`${suite.name.padEnd(14)} ${String(s.passed).padStart(5)} passed ${String(s.failed).padStart(4)} failed ${String(s.skipped).padStart(4)} skipped  ${secs}s`);
}
// The tree is as clean (or as dirty) after the tests as before: no test writes a tracked file.
const treeAfter = trackedState();
if (treeBefore !== null && treeAfter !== null && !only) {
  const before = new Set(treeBefore.split('\n'));
  const changed = treeAfter.split('\n').filter((l) => l && !before.has(l));
  if (changed.length) {
    console.log(`\n=== tree-clean ===\nthe tests changed or created files outside the ignored folders:\n  ${changed.join('\n  ')}`);
    totals.failed += 1;
    lines.push(`${'tree-clean'.padEnd(14)}     0 passed    1 failed    0 skipped`);
  } else {
    totals.passed += 1;
    lines.push(`${'tree-clean'.padEnd(14)}     1 passed    0 failed    0 skipped`);
  }
}
console.log('\n=== summary ===');
for (const l of lines) console.log(l);
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(totals.failed > 0 ? 1 : 0);
