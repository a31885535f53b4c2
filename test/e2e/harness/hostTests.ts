/**
 * Runs the in-host mocha suites (test/vscode/**\/*.test.ts, written against the real `vscode`
 * API) inside code-server's extension host: compiles them with esbuild next to the runner entry
 * (test/e2e/host/index.ts) under out/vscode-tests, opens a window whose smoke-test payload names
 * the extension (extensionDevelopmentPath) and the tests (extensionTestsPath), relays the host's
 * console and returns per-test results and the exit code VS Code reports (codeAutomationExit).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { format } from 'node:util';
import * as esbuild from 'esbuild';
import type { BrowserContext } from 'playwright-core';
import { REPO_ROOT } from '../../../scripts/real-parts/setup';
import type { CodeServer } from '../../../scripts/real-parts/codeServer';

export const HOST_TEST_SRC = join(REPO_ROOT, 'test', 'vscode');
/** Inside the repo so `require('mocha')` in the bundles resolves to the repo's node_modules. */
export const HOST_TEST_OUT = join(REPO_ROOT, 'out', 'vscode-tests');

export interface HostTestResult {
  title: string;
  file?: string;
  state: 'passed' | 'failed' | 'skipped';
  error?: string;
  ms?: number;
}

export interface HostRun {
  exitCode: number | undefined;
  results: HostTestResult[];
  /** Whether the host said the mocha run ended (SDG_HOST_END). */
  ended: boolean;
  log: string[];
}

function findTests(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

/** Compiles the suites; returns the test files found (none: nothing to run). */
export async function compileHostTests(): Promise<string[]> {
  const tests = findTests(HOST_TEST_SRC);
  rmSync(HOST_TEST_OUT, { recursive: true, force: true });
  mkdirSync(HOST_TEST_OUT, { recursive: true });
  const common: esbuild.BuildOptions = {
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    external: ['vscode', 'mocha'],
    logLevel: 'warning',
  };
  await esbuild.build({ ...common, entryPoints: [join(REPO_ROOT, 'test', 'e2e', 'host', 'index.ts')], outfile: join(HOST_TEST_OUT, 'index.js') });
  for (const t of tests) {
    // a/b.test.ts -> a__b.test.js: flat, so the runner finds them next to itself.
    const flat = relative(HOST_TEST_SRC, t).replace(/\.ts$/, '.js').split(/[\\/]/).join('__');
    await esbuild.build({ ...common, entryPoints: [t], outfile: join(HOST_TEST_OUT, flat) });
  }
  return tests;
}

export interface RunHostTestsOptions {
  folder: string;
  /** Environment variables for the extension host (e.g. a test LLM server's URL). */
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Each relayed console line (default: printed with a prefix). */
  onLine?: (line: string) => void;
}

export async function runHostTests(cs: CodeServer, context: BrowserContext, opts: RunHostTestsOptions): Promise<HostRun> {
  const remote = (p: string) => `vscode-remote://127.0.0.1:${cs.port}${p}`;
  const payload: Array<[string, string]> = [
    ['extensionDevelopmentPath', remote(REPO_ROOT)],
    ['extensionTestsPath', remote(join(HOST_TEST_OUT, 'index.js'))],
  ];
  if (opts.env) payload.push(['extensionEnvironment', JSON.stringify(opts.env)]);
  const page = await context.newPage();
  const run: HostRun = { exitCode: undefined, results: [], ended: false, log: [] };
  const onLine = opts.onLine ?? ((l: string) => console.log(`      [host] ${l}`));
  let exited!: (code: number) => void;
  const exitPromise = new Promise<number>((r) => (exited = r));
  await page.exposeFunction('codeAutomationExit', (code: number) => exited(code));
  page.on('console', async (msg) => {
    let args: unknown[];
    try {
      args = await Promise.all(msg.args().map((a) => a.jsonValue()));
    } catch {
      args = [msg.text()];
    }
    // The host's console arrives as ('%c INFO', css, fmt, ...args).
    if (typeof args[0] === 'string' && args[0].startsWith('%c') && args.length >= 3) args = args.slice(2);
    else return; // workbench chatter, not the extension host's output
    const text = format(...(args as [unknown, ...unknown[]]));
    for (const line of text.split('\n')) {
      const m = /SDG_HOST_(TEST|END) (.*)$/.exec(line);
      if (m?.[1] === 'TEST') run.results.push(JSON.parse(m[2]) as HostTestResult);
      else if (m?.[1] === 'END') run.ended = true;
      else {
        run.log.push(line);
        onLine(line);
      }
    }
  });
  await page.goto(cs.url(opts.folder, payload));
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const timer = new Promise<undefined>((r) => setTimeout(() => r(undefined), timeoutMs).unref());
  run.exitCode = await Promise.race([exitPromise, timer]);
  // Console events are async; give the last lines a moment to arrive.
  await page.waitForTimeout(500);
  await page.close().catch(() => undefined);
  return run;
}
