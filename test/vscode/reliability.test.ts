/**
 * Issue 15 point 14, inside a real extension host (code-server): the run checks of the CLI
 * reliability suite, through the extension's RunManager.
 *  - kill and resume: a writer (`sdg generate`, a separate process like another window) is
 *    SIGKILLed mid-run; the RunManager resumes its run folder: every item exactly once;
 *  - two windows on one run: while this host runs it, another process resuming it is refused
 *    naming this host's pid; while another process runs it, this host's resume is refused;
 *  - a key planted in SecretStorage (and required by the server) is found in nothing the
 *    extension writes: settings, run folders, outputs, logs, global and workspace storage.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import type { Services } from '../../src/extension/services';
import { startMockServer, type MockServer } from '../support/mockServer';

const EXTENSION_ID = 'sdg-studio.sdg-studio';
const KEY = `sk-hostrel-${Date.now()}-SECRETKEY`;
const PROBLEMS = 120;

async function services(): Promise<Services> {
  const ext = vscode.extensions.getExtension<{ services: Services }>(EXTENSION_ID);
  assert.ok(ext, `extension ${EXTENSION_ID} is not installed`);
  const api = ext.isActive ? ext.exports : await ext.activate();
  return api.services;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 90_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function filesUnder(dir: string, out: string[] = [], depth = 0): string[] {
  if (!existsSync(dir) || depth > 12) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== '.git') filesUnder(p, out, depth + 1);
    } else if (e.isFile() && statSync(p).size < 50_000_000) out.push(p);
  }
  return out;
}

describe('SDG Studio reliability in the extension host (issue 15.14)', function () {
  this.timeout(240_000);
  let mock: MockServer;
  let root: string;
  let input: string;
  let cli: string;
  // The CLI names its endpoint "cli": an extension endpoint of that name can resume its runs.
  const endpointName = 'cli';

  before(async () => {
    mock = await startMockServer({ apiKey: KEY, latency: { fixedMs: 150 } });
    const s = await services();
    root = vscode.workspace.workspaceFolders![0].uri.fsPath;
    cli = join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'dist', 'cli.js');
    assert.ok(existsSync(cli), `${cli} is missing (npm run build)`);
    input = join(root, 'hostrel-problems.jsonl');
    writeFileSync(input, Array.from({ length: PROBLEMS }, (_, i) => JSON.stringify({ problem: `What is ${i} + 1?`, expected_answer: String(i + 1) })).join('\n') + '\n');
    if (!s.endpoints.get(endpointName)) await vscode.commands.executeCommand('sdg.addEndpoint', { name: endpointName, baseUrl: mock.url, model: 'mock-model', apiKind: 'chat' });
    await waitFor('the endpoint', () => s.endpoints.get(endpointName));
    assert.equal(await vscode.commands.executeCommand('sdg.setApiKey', endpointName, KEY), true);
  });

  after(async () => {
    const s = await services();
    for (const r of s.runs.list()) s.runs.cancel(r.dir);
    await s.runs.whenIdle();
    if (s.endpoints.get(endpointName)) await s.endpoints.remove(endpointName);
    await mock.close();
  });

  /** `sdg generate` as another process would run it (another window, a terminal). */
  function sdg(output: string) {
    const child = spawn(process.execPath, [cli, 'generate', '--input', input, '--output', output, '--prompt', 'generic_math', '--base-url', mock.url,
      '--model', 'mock-model', '--api-key-env', 'SDG_HOSTREL_KEY', '--max-tokens', '8', '--concurrency', '2', '--no-progress'], {
      env: { ...process.env, SDG_HOSTREL_KEY: KEY, ELECTRON_RUN_AS_NODE: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let code: number | null | undefined;
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => { code = c; r(c); }));
    return { child, exited, output: () => out, code: () => code };
  }

  const outputIn = (name: string) => {
    const dir = join(root, '.sdg', 'runs');
    mkdirSync(dir, { recursive: true });
    return join(dir, name);
  };

  it('a writer SIGKILLed mid-run, then resumed by the RunManager: every item exactly once', async () => {
    const s = await services();
    const output = outputIn('hostrel-kill.jsonl');
    const p = sdg(output);
    const before = mock.stats.total;
    await waitFor(`requests from the CLI\n${p.output()}`, () => mock.stats.total >= before + 10 || p.code() !== undefined);
    assert.equal(p.code(), undefined, `the CLI ended early: ${p.output()}`);
    p.child.kill('SIGKILL');
    await p.exited;
    await s.runs.resume(`${output}.run`);
    await s.runs.whenIdle();
    const view = s.runs.get(`${output}.run`)!;
    assert.equal(view.status, 'completed', view.error ?? '');
    const rows = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { input_index: number; error: unknown });
    const seen = new Map<number, number>();
    for (const r of rows) seen.set(r.input_index, (seen.get(r.input_index) ?? 0) + 1);
    assert.equal(rows.length, PROBLEMS);
    assert.equal(seen.size, PROBLEMS);
    assert.ok([...seen.values()].every((n) => n === 1), 'an item is there twice');
    assert.ok(rows.every((r) => r.error == null));
  });

  it('two windows on one run: a resume in another process is refused while this host runs it, and the other way round', async () => {
    const s = await services();
    const output = outputIn('hostrel-two.jsonl');
    // Create the run with the CLI, stop it early (SIGKILL), then resume it in this host.
    const first = sdg(output);
    const before = mock.stats.total;
    await waitFor('first requests', () => mock.stats.total >= before + 4 || first.code() !== undefined);
    first.child.kill('SIGKILL');
    await first.exited;
    await s.runs.resume(`${output}.run`);
    await waitFor('the host run to be running', () => s.runs.get(`${output}.run`)?.status === 'running');
    const other = sdg(output);
    const code = await other.exited;
    assert.equal(code, 1, other.output());
    assert.match(other.output(), new RegExp(`being written by another process \\(pid ${process.pid} on host`), other.output());
    // The same window refuses a second resume too.
    await assert.rejects(s.runs.resume(`${output}.run`), /already running in this window/);
    s.runs.cancel(`${output}.run`);
    await s.runs.whenIdle();

    // Now another process runs it; this host's resume must be refused, naming that process.
    const cliRun = sdg(output);
    const at = mock.stats.total;
    await waitFor('the CLI to run', () => mock.stats.total >= at + 3 || cliRun.code() !== undefined);
    await s.runs.resume(`${output}.run`).catch(() => undefined);
    await s.runs.whenIdle();
    const refused = s.runs.get(`${output}.run`)!;
    assert.equal(refused.status, 'failed');
    assert.match(refused.error ?? '', new RegExp(`pid ${cliRun.child.pid} on host`), refused.error ?? '');
    cliRun.child.kill('SIGKILL');
    await cliRun.exited;
  });

  it('the key planted in SecretStorage is in nothing the extension wrote (settings, run folders, logs, storage)', async () => {
    const s = await services();
    // Use the key once more through the extension (the server requires it).
    const tested = await vscode.commands.executeCommand<{ ok: boolean; error: string | null }>('sdg.testEndpoint', endpointName);
    assert.equal(tested?.ok, true, tested?.error ?? '');
    await vscode.commands.executeCommand('sdg.openStudio').then(undefined, () => undefined);
    await new Promise((r) => setTimeout(r, 1500));
    const ctx = s.context;
    const userData = dirname(dirname(dirname(ctx.globalStorageUri.fsPath))); // <userData>/User/globalStorage/<id>
    const places = [root, ctx.logUri.fsPath, dirname(ctx.logUri.fsPath), ctx.globalStorageUri.fsPath, ...(ctx.storageUri ? [ctx.storageUri.fsPath] : []), join(userData, 'User'), join(userData, 'logs')];
    const files = [...new Set(places.flatMap((p) => filesUnder(p)))];
    const leaking = files.filter((f) => { try { return readFileSync(f).includes(KEY); } catch { return false; } });
    console.log(`SDG_HOST_INFO searched ${files.length} files for the SecretStorage key`);
    assert.ok(files.length > 5, `only ${files.length} files searched`);
    assert.deepEqual(leaking, []);
  });
});
