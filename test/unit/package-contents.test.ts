/**
 * What the VSIX contains (`vsce ls`, the list `vsce package` packs): only what the extension needs.
 * A large file in the sample workspace once crashed packaging (ERR_STRING_TOO_LONG), because
 * `.sdg-sample/` was packed with its data and runs.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../support/datasets';

function vsceLs(): string[] {
  const vsce = join(REPO_ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const r = spawnSync(process.execPath, [vsce, 'ls', '--no-dependencies'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `vsce ls failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(relative(REPO_ROOT, p));
  }
  return out;
}

describe('VSIX contents (vsce ls)', function () {
  this.timeout(180_000);
  // Planted in ignored folders a user's machine has after `npm start` and `npm test`.
  const planted = [join(REPO_ROOT, '.sdg-sample', 'data', 'planted-by-test.jsonl'), join(REPO_ROOT, '.sdg', 'runs', 'planted', 'output.jsonl'), join(REPO_ROOT, '.sdg-test', 'planted-by-test.jsonl')];
  const created: string[] = [];
  before(() => {
    if (!existsSync(join(REPO_ROOT, 'dist', 'extension.js'))) {
      const r = spawnSync(process.execPath, ['esbuild.mjs'], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    for (const f of planted) {
      if (existsSync(f)) continue;
      mkdirSync(join(f, '..'), { recursive: true });
      writeFileSync(f, '{"a":1}\n');
      created.push(f);
    }
  });
  after(() => {
    for (const f of created) rmSync(f, { force: true });
  });

  it('packs the bundles, prompts, media and docs, and nothing of the sample, tests, datasets, runs or sources', () => {
    const files = vsceLs();
    for (const must of ['package.json', 'README.md', 'LICENSE', 'dist/extension.js', 'dist/cli.js', 'dist/webview/studio.js', 'dist/webview/viewer.js', 'prompts/pipelines/open_qa.yaml', 'media/sdg.svg']) {
      assert.ok(files.includes(must), `${must} is missing from the VSIX`);
    }
    const forbidden = /^(\.sdg-sample|\.sdg|\.sdg-test|\.test-artifacts|sample|test|datasets|src|webview|bench|scripts|node_modules|runs|\.ci|\.git)\/|\.map$|\.vsix$|^(tsconfig|esbuild|package-lock)/;
    const bad = files.filter((f) => forbidden.test(f));
    assert.deepEqual(bad, [], `the VSIX would pack: ${bad.join(', ')}`);
  });

  it('packs every bundle the build writes to dist/ (a new worker or asset is not silently left out)', () => {
    const files = new Set(vsceLs());
    const built = filesUnder(join(REPO_ROOT, 'dist')).filter((f) => !/\.(map|vsix)$/.test(f));
    const missing = built.filter((f) => !files.has(f));
    assert.deepEqual(missing, [], `built but not packed: ${missing.join(', ')} (see .vscodeignore)`);
  });
});
