/**
 * Keys inside URLs: a key in the base URL's query (`?api_key=...`), user:password in the URL, and
 * both in URLs too broken to parse. Real `sdg generate` / `sdg run` processes; every file they
 * wrote (output, run folder: config.json, command.json, manifest.json) and everything they
 * printed is searched for the key.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { redactSecrets } from '../../src/core/redact';
import { redact } from '../../src/extension/util/redact';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'Keys inside URLs';
const KEY = 'QueryKey0123456789SECRET';

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('reliability: keys inside URLs', function () {
  this.timeout(300_000);
  let dir: string;
  let server: MockServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-urlkeys-'));
    mkdirSync(join(dir, 'work'));
    writeFileSync(join(dir, 'in.jsonl'), Array.from({ length: 8 }, (_, i) => JSON.stringify({ problem: `${i} + 1?`, expected_answer: String(i + 1) })).join('\n') + '\n');
    server = await startMockServer({ respond: () => '1. Algebra\n2. Geometry' });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function sdg(args: string[]): Promise<{ code: number | null; out: string }> {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
  }

  it('a key in the query or the user-info of --base-url is never written or printed (valid and invalid URLs)', async () => {
    const host = server.url.replace(/^http:\/\//, '');
    const work = join(dir, 'work');
    const runs: Array<[string, string[]]> = [
      ['generate, ?api_key= in the URL', ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(work, 'q.jsonl'), '--prompt', 'generic_math', '--base-url', `${server.url}?api_key=${KEY}`, '--model', 'mock-model', '--no-progress']],
      ['generate, resumed with the same URL', ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(work, 'q.jsonl'), '--prompt', 'generic_math', '--base-url', `${server.url}?api_key=${KEY}`, '--model', 'mock-model', '--no-progress']],
      ['generate, &token= among other parameters', ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(work, 't.jsonl'), '--prompt', 'generic_math', '--base-url', `${server.url}?v=1&token=${KEY}`, '--model', 'mock-model', '--no-progress']],
      ['generate, user:password@ in the URL', ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(work, 'u.jsonl'), '--prompt', 'generic_math', '--base-url', `http://admin:${KEY}@${host}`, '--model', 'mock-model', '--no-progress']],
      ['generate, invalid URL with user:password@', ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(work, 'i.jsonl'), '--prompt', 'generic_math', '--base-url', `http://admin:${KEY}@[::1/v1`, '--model', 'mock-model', '--no-progress']],
      ['generate, invalid URL with ?key=', ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(work, 'k.jsonl'), '--prompt', 'generic_math', '--base-url', `http://[bad/v1?key=${KEY}`, '--model', 'mock-model', '--no-progress']],
      ['run (pipeline), ?api_key= in the URL', ['run', 'open_qa', '--base-url', `${server.url}?api_key=${KEY}`, '--model', 'mock-model', '--set', 'n_macro_topics=2', '--output-dir', join(work, 'p'), '--quiet']],
    ];
    let printed = 0;
    const codes: string[] = [];
    for (const [what, args] of runs) {
      const { code, out } = await sdg(args);
      codes.push(`${what}: exit ${code}`);
      if (out.includes(KEY)) printed++;
      assert.ok(!out.includes(KEY), `${what} printed the key:\n${out}`);
    }
    // The first run worked (the query is part of the URL the client calls), so its run folder exists.
    const config = readFileSync(join(work, 'q.jsonl.run', 'config.json'), 'utf8');
    assert.match(config, /api_key=\*\*\*/);
    const files = filesUnder(work);
    const leaking = files.filter((f) => readFileSync(f).includes(KEY));
    assert.deepEqual(leaking, []);
    assert.ok(files.some((f) => f.endsWith('command.json')), 'command.json written');

    // The one redaction function (core) and the extension's log redaction agree.
    const samples = [`http://u:${KEY}@h/v1`, `https://h/v1?api_key=${KEY}&x=1`, `see http://[broken?access_token=${KEY}`, `ftp://${KEY}@x`];
    for (const s of samples) {
      assert.ok(!redactSecrets(s).includes(KEY), s);
      assert.ok(!redact(s).includes(KEY), s);
    }

    describeSection(SECTION, 'Real `sdg generate` and `sdg run` processes with the key in `?api_key=`, `&token=`, `user:password@`, and in ' +
      'URLs that do not parse; then every file under the output folder (rows, config.json, command.json, manifest.json) and ' +
      'every printed line is searched for the key. One redaction function (src/core/redact.ts) serves the CLI, the run ' +
      'folder and the extension\'s log.');
    record(SECTION, 'URLs with a key tried (runs and refusals)', runs.length);
    record(SECTION, 'runs that printed the key', printed);
    record(SECTION, 'files written / files holding the key', `${files.length} / ${leaking.length}`);
    record(SECTION, 'config.json stores the URL as', /"baseUrl": "([^"]+)"/.exec(config)?.[1]?.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:PORT') ?? '?');
  });
});
