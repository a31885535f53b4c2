/**
 * The README's first command on a fresh clone, as a new user runs it from a terminal:
 * `npm start -- --code-server --no-llm` in a clone placed anywhere (here: a temp folder whose path
 * has a space), with no npm dependencies installed and, on CI, an empty real-part cache
 * (SDG_FIRST_START_COLD=1 forces an empty cache on a warm machine). It must print the URL, serve
 * the workbench, stay quiet (one line per step), stop on Ctrl+C with everything it started, and
 * leave the clone's tree clean. Timings go to .test-artifacts/first-start.json (the README's figures).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { descendants, spawnTracked, stopTracked } from '../../scripts/real-parts/processes';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { isPidAlive } from '../../src/core/run';

async function until<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync('git', ['-c', 'user.email=first-start@example.invalid', '-c', 'user.name=first-start', ...args], { cwd, encoding: 'utf8' });
  assert.equal(r.status, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A clone of this checkout's files (tracked and new, not ignored: what a commit of them would hold). */
function makeClone(dest: string): void {
  const files = git(REPO_ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard').split('\0').filter(Boolean);
  for (const f of files) {
    const from = join(REPO_ROOT, f);
    try {
      mkdirSync(dirname(join(dest, f)), { recursive: true });
      copyFileSync(from, join(dest, f));
    } catch (e) {
      // A file deleted in the work tree but still in the index is not part of the clone.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
  git(dest, 'init', '-q');
  git(dest, 'add', '-A');
  git(dest, 'commit', '-q', '-m', 'clone');
}

/** The environment of a terminal: nothing of the npm that runs this test. */
function terminalEnv(cache: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_|^INIT_CWD$|^NODE_OPTIONS$|^SDG_SUMMARY_FILE$/.test(k)) continue;
    env[k] = v;
  }
  if (cache) env.SDG_CACHE_DIR = cache;
  return env;
}

describe('first start: npm start on a fresh clone', function () {
  const root = mkdtempSync(join(tmpdir(), 'sdg-first-start-'));
  const clone = join(root, 'my clone');
  const cold = process.env.SDG_FIRST_START_COLD === '1';
  // No space in the cache's path: node-gyp cannot build there (setup-real-parts.sh refuses it).
  const cache = cold ? join(root, 'empty-cache') : process.env.SDG_CACHE_DIR;
  after(() => rmSync(root, { recursive: true, force: true }));

  it('prints the URL, serves the workbench, stays quiet, stops on Ctrl+C and leaves the tree clean', async function () {
    makeClone(clone);
    const started = Date.now();
    // Its own process group, like a terminal's foreground job: Ctrl+C goes to the whole group.
    const start = spawnTracked('npm', ['start', '--', '--code-server', '--no-llm'], { cwd: clone, env: terminalEnv(cache), detached: true }, 400);
    try {
      const url = await until('the printed URL', 25 * 60_000, () => {
        if (start.child.exitCode !== null) throw new Error(`npm start exited (${start.child.exitCode}):\n${start.tail()}`);
        return /(http:\/\/127\.0\.0\.1:\d+\/\?folder=\S+)/.exec(readFileSync(start.logFile, 'utf8'))?.[1];
      });
      const toUrlSeconds = (Date.now() - started) / 1000;
      const origin = new URL(url).origin;
      assert.equal(new URL(url).searchParams.get('folder'), join(clone, '.sdg-sample'));
      const page = await fetch(url);
      assert.equal(page.status, 200, 'the workbench page');
      assert.match(await page.text(), /workbench/i, 'the page is VS Code\'s workbench');

      const output = readFileSync(start.logFile, 'utf8');
      const lines = output.split('\n').filter((l) => l.trim());
      assert.ok(lines.length <= 40, `the first start printed ${lines.length} lines (at most 40: one per step):\n${output}`);
      assert.doesNotMatch(output, /EBADENGINE|npm warn|npm WARN/, 'npm warnings on the README\'s Node');
      assert.doesNotMatch(output, /llama|builds llama\.cpp/i, 'with --no-llm nothing about llama-server may be claimed');

      // Ctrl+C: npm start and everything below it go away.
      const below = descendants(start.pid);
      process.kill(-start.pid, 'SIGINT');
      const code = await Promise.race([start.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
      assert.notEqual(code, 'timeout', `npm start did not stop on Ctrl+C:\n${start.tail()}`);
      await until('its processes to exit', 30_000, () => (below.some(isPidAlive) ? undefined : true));
      await assert.rejects(fetch(`${origin}/healthz`), 'code-server still answers after Ctrl+C');

      const dirty = git(clone, 'status', '--porcelain');
      assert.equal(dirty, '', `npm start left the clone's tree dirty:\n${dirty}`);

      const figures = { date: new Date().toISOString(), cache: cold ? 'empty (SDG_FIRST_START_COLD=1)' : (cache ?? '~/.cache/sdg-studio'), secondsToUrl: Math.round(toUrlSeconds), lines: lines.length, output };
      mkdirSync(join(REPO_ROOT, '.test-artifacts'), { recursive: true });
      writeFileSync(join(REPO_ROOT, '.test-artifacts', 'first-start.json'), JSON.stringify(figures, null, 2));
      console.log(`      first start: URL after ${Math.round(toUrlSeconds)} s, ${lines.length} lines printed`);
    } finally {
      if (isPidAlive(start.pid)) {
        try {
          process.kill(-start.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      await stopTracked(start, 5000, true);
    }
  });
});
