/**
 * API keys never reach disk or output: whole `sdg generate` and `sdg run` jobs with a known key
 * (from an environment variable), then every file they wrote (output, run folders, HOME, TMPDIR)
 * and their stdout/stderr are searched for it. Also a server that echoes the key back in a 401
 * message (some do): the error must show it redacted.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'API keys never written';
const KEY = 'sk-reliability-0123456789abcdefSECRET';
const WRONG_KEY = 'sk-wrong-key-9876543210zyxwvuSECRET';

function filesUnder(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) filesUnder(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('reliability: API keys', function () {
  this.timeout(180_000);
  let dir: string;
  let server: MockServer;
  const outputs: string[] = [];
  let filesScanned = 0;
  let bytesScanned = 0;

  function sdg(args: string[], env: Record<string, string>): Promise<{ code: number | null; out: string }> {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, HOME: join(dir, 'home'), TMPDIR: join(dir, 'tmp'), ...env },
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    return new Promise((resolve) => child.on('exit', (code) => { outputs.push(out); resolve({ code, out }); }));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-keys-'));
    mkdirSync(join(dir, 'home'));
    mkdirSync(join(dir, 'tmp'));
    writeFileSync(join(dir, 'in.jsonl'), Array.from({ length: 20 }, (_, i) => JSON.stringify({ question: `What is ${i}+1?`, answer: `${i}+1 = ${i + 1}\n#### ${i + 1}` })).join('\n') + '\n');
    server = await startMockServer({
      apiKey: KEY,
      // Lists for the pipeline stages that parse them; short text for the rest.
      respond: () => '1. Linear algebra\n2. Probability\n3. Graph theory',
    });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sdg generate with the key in an environment variable: the key is used and written nowhere', async () => {
    const r = await sdg(['generate', '--input', join(dir, 'in.jsonl'), '--output', join(dir, 'gen', 'out.jsonl'), '--prompt', 'gsm8k_text',
      '--base-url', server.url, '--model', 'mock-model', '--api-key-env', 'SDG_REL_KEY', '--num-samples', '2', '--no-progress'], { SDG_REL_KEY: KEY });
    assert.equal(r.code, 0, r.out);
    assert.ok(server.requests.some((q) => q.headers.authorization === `Bearer ${KEY}`), 'the key was not sent');
  });

  it('sdg run (a pipeline) with the key in an environment variable', async () => {
    const r = await sdg(['run', 'open_qa', '--base-url', server.url, '--model', 'mock-model', '--api-key-env', 'SDG_REL_KEY',
      '--set', 'n_macro_topics=2', '--set', 'n_subtopics=2', '--output-dir', join(dir, 'pipe'), '--concurrency', '4', '--quiet'], { SDG_REL_KEY: KEY });
    record(SECTION, 'sdg run open_qa exit code', String(r.code));
    assert.equal(r.code, 0, r.out);
  });

  it('a server echoing a wrong key in its 401 message: the error shows it redacted', async () => {
    const echo = await startMockServer({
      fault: (req) => ({ fault: 'http_error', status: 401, message: `Incorrect API key provided: ${String(req.headers.authorization).replace('Bearer ', '')}` }),
    });
    try {
      const r = await sdg(['generate', '--input', join(dir, 'in.jsonl'), '--output', join(dir, 'wrong', 'out.jsonl'), '--prompt', 'gsm8k_text',
        '--base-url', echo.url, '--model', 'mock-model', '--api-key-env', 'SDG_REL_WRONG', '--no-progress'], { SDG_REL_WRONG: WRONG_KEY });
      record(SECTION, '401 with the key echoed: message shown', (r.out.trim().split('\n').pop() ?? '').slice(0, 240));
      assert.notEqual(r.code, 0);
      assert.match(r.out, /401/);
      assert.ok(!r.out.includes(WRONG_KEY), r.out);
    } finally {
      await echo.close();
    }
  });

  it('no file written and no output line contains a key', () => {
    const hits: string[] = [];
    for (const f of filesUnder(dir)) {
      if (f === join(dir, 'in.jsonl')) continue;
      const buf = readFileSync(f);
      filesScanned++;
      bytesScanned += statSync(f).size;
      for (const k of [KEY, WRONG_KEY]) if (buf.includes(k) || buf.includes(Buffer.from(k).toString('base64'))) hits.push(`${f} contains ${k}`);
    }
    outputs.forEach((o, i) => { for (const k of [KEY, WRONG_KEY]) if (o.includes(k)) hits.push(`stdout/stderr of command ${i + 1} contains ${k}`); });
    describeSection(SECTION, 'Whole `sdg generate` and `sdg run open_qa` jobs against a server that requires a known key, given ' +
      'only through an environment variable; HOME and TMPDIR point into the test folder. Every file under it (outputs, run ' +
      'folders, manifests, frozen configs, command records, anything in HOME/TMPDIR) and every stdout/stderr is searched for ' +
      'the key (plain and base64). A second server echoes a wrong key back in its 401 message.');
    record(SECTION, 'commands run', outputs.length);
    record(SECTION, 'files searched / bytes', `${filesScanned} / ${bytesScanned}`);
    record(SECTION, 'requests that carried the key (at the server)', server.requests.filter((q) => q.headers.authorization === `Bearer ${KEY}`).length);
    record(SECTION, 'places the key was found', hits.length);
    assert.ok(filesScanned >= 6, `${filesScanned} files`);
    assert.deepEqual(hits, []);
  });
});
