/**
 * Leftovers of kills and a manifest that cannot be written:
 *  - temp files of atomic writes killed between write and rename (`manifest.json.<pid>.tmp`,
 *    `config.json.<pid>.tmp`, `command.json.<pid>.tmp`) and of lock operations are removed when
 *    the run opens again;
 *  - when manifest.json cannot be written (here: replaced by a folder mid-run), `sdg generate`
 *    must not end with "done" and exit 0 while the folder says "running".
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';
import { waitFor } from './support';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'Leftovers and manifest write failures';

function sdg(args: string[]) {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let code: number | null | undefined;
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => { code = c; resolve(c); }));
  return { exited, output: () => out, code: () => code };
}

describe('reliability: leftovers and manifest failures', function () {
  this.timeout(300_000);
  let dir: string;
  let server: MockServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-leftovers-'));
    writeFileSync(join(dir, 'in.jsonl'), Array.from({ length: 300 }, (_, i) => JSON.stringify({ problem: `${i} + 1?`, expected_answer: String(i + 1) })).join('\n') + '\n');
    server = await startMockServer({ latency: { fixedMs: 20 } });
    describeSection(SECTION, 'Temp files that a SIGKILL between write and rename leaves in a run folder (and half-done lock files) are ' +
      'planted with pids that no longer run, then the same `sdg generate` runs again. Then manifest.json is replaced by a ' +
      'folder while a run is going, so its final write fails.');
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const generate = (out: string, extra: string[] = []) => ['generate', '--input', join(dir, 'in.jsonl'), '--output', out, '--prompt', 'generic_math',
    '--base-url', server.url, '--model', 'mock-model', '--no-progress', ...extra];

  it('temp files of killed writes are removed when the run opens again', async () => {
    const out = join(dir, 'a.jsonl');
    const first = sdg(generate(out, ['--limit', '20']));
    assert.equal(await first.exited, 0, first.output());
    const runDir = `${out}.run`;
    const planted = [
      join(runDir, 'manifest.json.99999990.tmp'),
      join(runDir, 'config.json.99999991.tmp'),
      join(runDir, 'command.json.99999992.tmp'),
      join(dir, `a.jsonl.lock.new-${hostname()}-99999993-0a0b0c0d.tmp`),
      join(dir, `a.jsonl.lock.stale-${hostname()}-99999994-0a0b0c0d.tmp`),
    ];
    const old = new Date(Date.now() - 10 * 60_000);
    for (const f of planted) {
      writeFileSync(f, '{"half":');
      utimesSync(f, old, old);
    }
    const again = sdg(generate(out, ['--limit', '30']));
    assert.equal(await again.exited, 0, again.output());
    const left = planted.filter((f) => existsSync(f));
    const tmpNow = [...readdirSync(runDir), ...readdirSync(dir)].filter((n) => n.endsWith('.tmp'));
    record(SECTION, 'temp files planted / left after the next open', `${planted.length} / ${left.length}`);
    assert.deepEqual(left, []);
    assert.deepEqual(tmpNow, []);
  });

  it('manifest.json that cannot be written: non-zero exit and a message, never a silent "done"', async () => {
    const out = join(dir, 'b.jsonl');
    const runDir = `${out}.run`;
    const p = sdg(generate(out, ['--concurrency', '2']));
    await waitFor(() => existsSync(join(runDir, 'manifest.json')) || p.code() !== undefined, 'the manifest');
    // Replace the manifest by a folder (with a file, so nothing can rename over it).
    rmSync(join(runDir, 'manifest.json'), { force: true });
    mkdirSync(join(runDir, 'manifest.json'));
    writeFileSync(join(runDir, 'manifest.json', 'keep'), 'x');
    const code = await p.exited;
    const text = p.output();
    record(SECTION, 'manifest.json unwritable during a run', `exit ${code}: "${text.trim().replace(/^sdg: /, '').replace(/\/\S*\//g, '').slice(0, 110)}..."`);
    assert.notEqual(code, 0, text);
    assert.match(text, /manifest\.json could not be updated/);
    assert.doesNotMatch(text, /sdg: done/);
  });
});
