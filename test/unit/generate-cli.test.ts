import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { unescapeStop } from '../../src/cli/commands/generate';
import { startMockServer, type MockServer } from '../support/mockServer';

const REPO = resolve(__dirname, '../..');

function runCli(cli: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, SDG_PROMPTS_DIR: join(REPO, 'prompts') }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => res({ code, stdout, stderr }));
  });
}

describe('sdg generate (built CLI)', function () {
  this.timeout(60_000);
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-generate-cli-'));
  const cli = join(tmp, 'cli.js');
  const input = join(tmp, 'in.jsonl');
  let server: MockServer;

  before(async () => {
    await build({ entryPoints: [join(REPO, 'src/cli/index.ts')], outfile: cli, bundle: true, platform: 'node', format: 'cjs', target: 'node20', logLevel: 'silent' });
    writeFileSync(input, [
      { problem: 'What is $2+2$?', solution: 'It is $\\boxed{4}$.' },
      { problem: 'What is $3 \\cdot 3$?', solution: 'It is $\\boxed{9}$.' },
      { problem: 'What is $10-7$?', solution: 'It is $\\boxed{3}$.' },
    ].map((r) => JSON.stringify(r)).join('\n') + '\n');
    server = await startMockServer({});
  });
  after(async () => server?.close());

  it('unescapes \\n in --stop', () => {
    assert.equal(unescapeStop('\\nQuestion:'), '\nQuestion:');
    assert.equal(unescapeStop('a\\\\n'), 'a\\n');
  });

  it('--dry-run prints the first prompt and the request, sends nothing', async () => {
    const r = await runCli(cli, ['generate', '--input', input, '--prompt', 'math_text', '--dry-run', '--num-samples', '4', '--temperature', '0.3', '--stop', '\\n\\n']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /# prompt math_text .*dataset format math/);
    assert.match(r.stdout, /expected_answer "4"/);
    assert.match(r.stdout, /Problem:\nWhat is \$2\+2\$\?\n\nSolution:\n--- plan ---/);
    assert.match(r.stdout, /"temperature":0\.3.*"stop":\["\\n\\n"\],"n":4/);
    assert.match(r.stdout, /--- plan ---\n3 problems x 1 seeds = 3 requests, 12 rows \(n=4\)/);
  });

  it('exit 2 with a count and the file when some items failed; exit 0 after the retry', async () => {
    const output = join(tmp, 'out.jsonl');
    server.configure({ faults: [{ fault: 'http_error', status: 400, message: 'nope', match: (q) => JSON.stringify(q.messages).includes('3 \\\\cdot 3') }] });
    const args = ['generate', '--input', input, '--output', output, '--prompt', 'generic_math', '--base-url', server.url, '--model', 'm', '--num-seeds', '2', '--no-progress'];
    const r1 = await runCli(cli, args);
    assert.equal(r1.code, 2, r1.stderr);
    assert.match(r1.stderr, new RegExp(`done with 2 failed items of 6: .*${output.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}; run the same command again`));
    server.configure({ faults: [] });
    const r2 = await runCli(cli, args);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stderr, /done: 6 items \(2 generated now, 4 already done before\)/);
    const rows = readFileSync(output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(rows.length, 6);
    assert.ok(rows.every((x) => x.error === null && x.expected_answer));
  });

  it('exit 1 with one line for bad flags and unknown prompts', async () => {
    for (const args of [
      ['generate', '--input', input, '--prompt', 'generic_math', '--dry-run', '--context-type', 'hint'],
      ['generate', '--input', input, '--prompt', 'no_such_prompt', '--dry-run'],
      ['generate', '--input', input, '--prompt', 'generic_math', '--output', join(tmp, 'x.jsonl'), '--model', 'm'],
      ['generate', '--input', input, '--prompt', 'generic_math', '--dry-run', '--field', 'answer=x'],
    ]) {
      const r = await runCli(cli, args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^sdg: /);
    }
  });
});
