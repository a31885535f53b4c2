/**
 * JSON that parses but hurts later: a 100,000-level nested line (input, run output, downstream
 * commands) must be refused with file:line before any request; numbers JSON cannot hold
 * (1e400, 1e-400, 30-digit integers) must keep their text instead of turning into null, 0,
 * a rounded integer or "Infinity".
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_JSON_DEPTH } from '../../src/core/io/jsonSafety';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const DEEP = 'Deep JSON and numbers JSON cannot hold';
const DEPTH = 100_000;

function sdg(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

const deepValue = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

describe('reliability: deep JSON and inexact numbers', function () {
  this.timeout(300_000);
  let dir: string;
  let server: MockServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-json-'));
    server = await startMockServer({ latency: { fixedMs: 5 } });
    describeSection(DEEP, `Lines nested ${DEPTH.toLocaleString('en-US')} levels deep (V8 parses them; stringify and every recursive ` +
      `walk overflow the stack near 5,000) in a dataset, in a run's output being resumed and in a file given to \`sdg grade\`; ` +
      `the limit is ${MAX_JSON_DEPTH} levels. Numbers past double precision in a dataset go through \`sdg generate\` and are read back.`);
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const generate = (input: string, output: string) => ['generate', '--input', input, '--output', output, '--prompt', 'generic_math',
    '--base-url', server.url, '--model', 'mock-model', '--no-progress', '--concurrency', '2'];

  it(`a ${DEPTH}-level line in the input: refused with file:line before any request`, async () => {
    const input = join(dir, 'deep-in.jsonl');
    const lines = Array.from({ length: 40 }, (_, i) => JSON.stringify({ problem: `${i} + 1?`, expected_answer: String(i + 1) }));
    lines[30] = `{"problem":"deep","expected_answer":"1","meta":${deepValue(DEPTH)}}`;
    writeFileSync(input, lines.join('\n') + '\n');
    const before = server.stats.total;
    const { code, out } = await sdg(generate(input, join(dir, 'deep-out.jsonl')));
    assert.equal(code, 1, out);
    assert.match(out, /deep-in\.jsonl:31: invalid JSON: nested deeper than 1000 levels/);
    assert.doesNotMatch(out, /call stack/i);
    assert.equal(server.stats.total, before, 'requests were sent');
    record(DEEP, 'dataset line 31 nested 100,000 deep', `refused before any request: "${out.trim().replace(/^sdg: /, '').split(`${dir}/`).join('').slice(0, 110)}"`);
  });

  it('a deep line in a run output (resume) and in a file for sdg grade: refused with its line', async () => {
    const input = join(dir, 'ok-in.jsonl');
    writeFileSync(input, Array.from({ length: 10 }, (_, i) => JSON.stringify({ problem: `${i} + 1?`, expected_answer: String(i + 1) })).join('\n') + '\n');
    const output = join(dir, 'ok-out.jsonl');
    const first = await sdg(generate(input, output));
    assert.equal(first.code, 0, first.out);
    const rows = readFileSync(output, 'utf8').split('\n').filter(Boolean);
    // A deep line in the middle of the output (a foreign tool, or a hostile file).
    const deepRow = `{"input_index":99,"seed":0,"sample_index":0,"num_samples":1,"error":null,"x":${deepValue(DEPTH)}}`;
    writeFileSync(output, [...rows.slice(0, 4), deepRow, ...rows.slice(4)].join('\n') + '\n');
    const resume = await sdg(generate(input, output));
    assert.equal(resume.code, 1, resume.out);
    assert.match(resume.out, /ok-out\.jsonl line 5: invalid JSON: nested deeper than 1000 levels/);
    assert.doesNotMatch(resume.out, /call stack/i);
    const grade = await sdg(['grade', '--input', output, '--output', join(dir, 'graded.jsonl')]);
    assert.notEqual(grade.code, 0, grade.out);
    assert.match(grade.out, /ok-out\.jsonl:?\D*5\b.*nested deeper than 1000 levels/);
    assert.doesNotMatch(grade.out, /call stack/i);
    record(DEEP, 'run output line 5 nested 100,000 deep, resumed', `refused: "${resume.out.trim().replace(/^sdg: /, '').split(`${dir}/`).join('').slice(0, 100)}..."`);
    record(DEEP, 'the same file given to sdg grade', `refused with line 5 (exit ${grade.code})`);
  });

  it('1e400, 1e-400, -1e400 and 30-digit integers keep their text through sdg generate', async () => {
    const input = join(dir, 'numbers-in.jsonl');
    const cases = ['1e400', '1e-400', '-1e400', '123456789012345678901234567890', '9007199254740993', '0.1000000000000000000000001'];
    const lines = cases.map((n, i) => `{"problem":"case ${i}","expected_answer":${n},"id":${n},"plain":${i + 0.5}}`);
    writeFileSync(input, lines.join('\n') + '\n');
    const output = join(dir, 'numbers-out.jsonl');
    const { code, out } = await sdg(generate(input, output));
    assert.equal(code, 0, out);
    const rows = readFileSync(output, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { input_index: number; expected_answer: unknown; id: unknown; plain: unknown });
    let kept = 0;
    for (const r of rows) {
      const original = cases[r.input_index];
      assert.equal(r.expected_answer, original, `expected_answer of ${original}`);
      assert.equal(r.id, original, `id of ${original}`);
      assert.equal(r.plain, r.input_index + 0.5, 'exact numbers stay numbers');
      kept++;
    }
    assert.equal(kept, cases.length);
    record(DEEP, 'numbers JSON cannot hold (1e400, 1e-400, -1e400, 30 digits, 2^53+1, 25 digits after the point)', `${kept} of ${cases.length} kept as their text in expected_answer and other fields; exact numbers stay numbers`);
  });
});
