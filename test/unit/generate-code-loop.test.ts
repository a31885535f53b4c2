/**
 * Code mode of `generateSolutions` against the loopback mock server and a real python3 sandbox:
 * the model is stopped at each `</llm-code>`, the block runs, its real output goes into the
 * solution and the model continues; through chat (continue_final_message) and raw completions.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  codeBlocksOf, endsWithCodeBlock, generateSolutions, lastCodeBlock, restoreCodeEnd, type GenerateOptions, type GenerationRow,
} from '../../src/core/generate';
import { resolveEndpoint } from '../../src/core/llm/presets';
import { getFormatter } from '../../src/core/llm/formatters';
import { gradeRow } from '../../src/core/math/grade';
import { DEFAULT_CODE_EXECUTION as S, parsePromptConfig } from '../../src/core/prompts/promptConfig';
import { YamlSource } from '../../src/core/config/yamlSource';
import { renderPrompt } from '../../src/core/prompts/render';
import { loadPromptConfig } from '../../src/core/prompts/promptConfig';
import { createServer } from 'node:http';
import { LocalSandbox, SandboxSetupError, type SandboxSession } from '../../src/core/sandbox';
import { startMockServer, type MockServer } from '../support/mockServer';
import { codeProblems, codeWritingModel } from './generate-code-model';
import { testPython } from './sandbox-python';

const tmp = mkdtempSync(join(tmpdir(), 'sdg-generate-code-'));
let fileNo = 0;
function input(rows: object[]): string {
  const p = join(tmp, `in-${++fileNo}.jsonl`);
  writeFileSync(p, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return p;
}
const out = () => join(tmp, `out-${++fileNo}.jsonl`);
const rowsOf = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as GenerationRow);

describe('generate (code mode): stop handling helpers', () => {
  it('puts back a stripped </llm-code> only when a block is open and the model stopped', () => {
    assert.equal(restoreCodeEnd('a\n<llm-code>\nx = 1\n', 'stop', S), 'a\n<llm-code>\nx = 1\n</llm-code>');
    assert.equal(restoreCodeEnd('a\n<llm-code>\nx = 1', 'stop', S), 'a\n<llm-code>\nx = 1\n</llm-code>');
    // A server that keeps the stop string: unchanged.
    assert.equal(restoreCodeEnd('<llm-code>\nx = 1\n</llm-code>', 'stop', S), '<llm-code>\nx = 1\n</llm-code>');
    // Cut by the token limit inside a block: not executed.
    assert.equal(restoreCodeEnd('<llm-code>\nx = 1', 'length', S), '<llm-code>\nx = 1');
    // Tags quoted inside an output block do not open a block.
    const quoted = '<llm-code>\n1/0\n</llm-code>\n<llm-code-output>\nFile "<llm-code>", line 1\n</llm-code-output>\nThe answer is 1.';
    assert.equal(restoreCodeEnd(quoted, 'stop', S), quoted);
    // Stopped outside a block (another stop string): nothing to add.
    assert.equal(restoreCodeEnd('<llm-code>\n1\n</llm-code>\n<llm-code-output>\n1\n</llm-code-output>\nDone', 'stop', S), '<llm-code>\n1\n</llm-code>\n<llm-code-output>\n1\n</llm-code-output>\nDone');
  });

  it('runs only a block that has no output yet, and extracts its code', () => {
    const t = 'x\n<llm-code>\na = 1\n</llm-code>\n<llm-code-output>\n1\n</llm-code-output>\nthen\n<llm-code>\na + 1\n</llm-code>';
    assert.equal(endsWithCodeBlock(t, S), true);
    assert.equal(lastCodeBlock(t, S), 'a + 1\n');
    assert.equal(endsWithCodeBlock('x\n</llm-code>', S), false);
    assert.equal(endsWithCodeBlock(t + '\n<llm-code-output>\n2\n</llm-code-output>\n', S), false);
    assert.deepEqual(codeBlocksOf(t, S), [{ code: 'a = 1\n', output: '1' }, { code: 'a + 1\n', output: null }]);
  });
});

describe('generate (code mode): the code_execution section of a prompt config', () => {
  const parse = (yaml: string) => parsePromptConfig(YamlSource.fromText('/tmp/code.yaml', `user: "{{problem}}"\n${yaml}`));
  it('defaults to the reference tags and limits; overrides each', () => {
    assert.equal(parse('').codeExecution, null);
    assert.deepEqual(parse('code_execution: true').codeExecution, S);
    const c = parse('code_execution:\n  code_begin: "```python"\n  code_end: "```"\n  output_begin: "```output"\n  output_end: "```"\n  max_executions: 3\n  timeout: 2.5\n  stop_on_error: true').codeExecution!;
    assert.deepEqual(c, { ...S, codeBegin: '```python', codeEnd: '```', outputBegin: '```output', outputEnd: '```', maxExecutions: 3, timeoutSeconds: 2.5, stopOnError: true });
  });
  it('reports every mistake with file, line and field', () => {
    assert.throws(() => parse('code_execution:\n  max_executions: -1\n  timeout: 0\n  stop_on_error: "yes"\n  code_end: "<llm-code>"\n  tags: 1'), (e: Error) => {
      for (const want of [/code\.yaml:3: code_execution\.max_executions: must be >= 0/, /code_execution\.timeout: must be > 0/, /code_execution\.stop_on_error: must be true or false/,
        /code_execution\.code_end: must differ from code_begin/, /code_execution\.tags: unknown key/]) assert.match(e.message, want);
      return true;
    });
  });
});

describe('generate (code mode): grading reads the answer after the last output block', () => {
  it('a \\boxed{} printed by the code is not the answer; the one written after the output is', () => {
    const printed = '<llm-code>\nprint("\\\\boxed{5}")\n</llm-code>\n<llm-code-output>\n\\boxed{5}\n</llm-code-output>\nSo the answer is';
    assert.equal(gradeRow({ generation: printed, expected_answer: '5', error: null }).is_correct, false);
    assert.equal(gradeRow({ generation: `${printed} \\boxed{5}.`, expected_answer: '5', error: null }).is_correct, true);
  });
});

describe('generate (code mode): the loop against the mock server and a real sandbox', function () {
  this.timeout(120_000);
  const py = testPython();
  let server: MockServer;
  const problems = codeProblems(4);
  before(async function () {
    if (!py.python) this.skip();
    server = await startMockServer({ respond: codeWritingModel, logLimit: 10_000 });
  });
  after(async () => server?.close());
  beforeEach(() => server?.resetStats());

  function opts(extra: Partial<GenerateOptions> & Pick<GenerateOptions, 'input' | 'output'>): GenerateOptions {
    return {
      prompt: 'gsm8k_text_with_code',
      endpoint: resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' }),
      concurrency: 8,
      sandbox: { python: py.python!, workers: 2 },
      ...extra,
    };
  }

  function checkSolved(rows: GenerationRow[], expectedRows: number) {
    assert.equal(rows.length, expectedRows);
    for (const r of rows) {
      assert.equal(r.error, null, String(r.error));
      const blocks = codeBlocksOf(r.generation!, S);
      const typo = r.seed % 2 === 1;
      // seed 0: product, then + c (state from block 1); seed 1: a SyntaxError fed back, fixed, then + c.
      assert.equal(r.code_executions, typo ? 3 : 2, r.generation!);
      assert.equal(blocks.length, r.code_executions);
      assert.equal(r.code_execution_failed, typo);
      assert.equal(r.code_execution_timed_out, false);
      if (typo) assert.match(blocks[0]!.output!, /SyntaxError/);
      const graded = gradeRow({ ...r });
      assert.equal(graded.is_correct, true, `${r.generation}\nexpected ${r.expected_answer}`);
      // The model's text after a stop is never in the solution; the real outputs are.
      assert.ok(!r.generation!.includes('never seen'));
      assert.equal(blocks.at(-1)!.output, r.expected_answer);
      assert.ok(r.generation!.endsWith(`\\boxed{${r.expected_answer}}.`), r.generation!);
    }
  }

  it('chat: stops at </llm-code>, runs the block, continues the assistant message; graded correct', async () => {
    const output = out();
    const res = await generateSolutions(opts({ input: input(problems), output, numSeeds: 2 }));
    assert.equal(res.status, 'completed', String(res.error));
    checkSolved(rowsOf(output), problems.length * 2);
    const chat = server.requests.filter((q) => q.path.endsWith('/chat/completions'));
    assert.ok(chat.every((q) => q.body.stop.includes('</llm-code>') && q.body.stop.includes('\nQuestion:')));
    const continued = chat.filter((q) => q.body.messages.at(-1).role === 'assistant');
    assert.equal(continued.length, problems.length * 2 + problems.length * 3);
    for (const q of continued) {
      assert.equal(q.body.continue_final_message, true);
      assert.equal(q.body.add_generation_prompt, false);
      assert.equal(q.body.n, 1);
    }
    assert.ok(chat.filter((q) => q.body.messages.at(-1).role === 'user').every((q) => q.body.continue_final_message === undefined));
  });

  it('raw completions: the formatted prompt plus the solution so far; same solutions', async () => {
    const output = out();
    const endpoint = resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'completions', formatter: 'llama3' });
    const res = await generateSolutions(opts({ input: input(problems), output, numSeeds: 2, endpoint }));
    assert.equal(res.status, 'completed', String(res.error));
    const rows = rowsOf(output);
    checkSolved(rows, problems.length * 2);
    const reqs = server.requests.filter((q) => q.path.endsWith('/completions'));
    const prompt0 = getFormatter('llama3').format(renderPrompt(loadPromptConfig('gsm8k_text_with_code'), { problem: problems[0]!.question }));
    const forFirst = reqs.filter((q) => q.body.prompt.startsWith(prompt0));
    assert.ok(forFirst.length >= 3, `requests for problem 0: ${forFirst.length}`);
    // Every continuation is the first prompt plus text the solution of that row starts with.
    const solutions = rows.filter((r) => r.input_index === 0).map((r) => r.generation!);
    for (const q of forFirst) {
      const soFar = q.body.prompt.slice(prompt0.length);
      assert.ok(solutions.some((s) => s.startsWith(soFar)), JSON.stringify(soFar));
      assert.ok(q.body.stop.includes('<|eot_id|>') && q.body.stop.includes('</llm-code>'));
    }
  });

  it('n > 1: every sample goes on through its own blocks', async () => {
    const output = out();
    const res = await generateSolutions(opts({ input: input(problems.slice(0, 2)), output, numSamples: 3 }));
    assert.equal(res.status, 'completed', String(res.error));
    const rows = rowsOf(output);
    assert.equal(rows.length, 6);
    assert.deepEqual(rows.map((r) => r.sample_index).sort(), [0, 0, 1, 1, 2, 2]);
    for (const r of rows) assert.equal(gradeRow({ ...r }).is_correct, true);
  });

  it('max executions: a block written after the limit stays unexecuted and ends the solution', async () => {
    const output = out();
    const res = await generateSolutions(opts({ input: input(problems.slice(0, 1)), output, codeExecution: { maxExecutions: 1 } }));
    assert.equal(res.status, 'completed', String(res.error));
    const [row] = rowsOf(output);
    assert.equal(row!.code_executions, 1);
    assert.ok(row!.generation!.endsWith('</llm-code>'), row!.generation!);
    assert.equal(codeBlocksOf(row!.generation!, S).at(-1)!.output, null);
    assert.equal(gradeRow({ ...row! }).is_correct, false);
  });

  it('a block that never ends is timed out, recorded, and the model goes on', async () => {
    const output = out();
    const res = await generateSolutions(opts({ input: input([{ question: 'Count forever.', expected_answer: '0' }]), output, codeExecution: { timeoutSeconds: 1 } }));
    assert.equal(res.status, 'completed', String(res.error));
    const [row] = rowsOf(output);
    assert.equal(row!.code_execution_timed_out, true);
    assert.equal(row!.code_executions, 1);
    assert.match(row!.generation!, /<llm-code-output>\nTimed out\n<\/llm-code-output>\nThat took too long/);
  });

  it('--sandbox-url: blocks run on a NeMo-Skills-style /execute server (ipython sessions), same solutions', async () => {
    // The server runs each session_id's blocks in a session of a real local sandbox.
    const backing = new LocalSandbox({ python: py.python!, workers: 1 });
    await backing.start();
    const sessions = new Map<string, SandboxSession>();
    const seen: Array<Record<string, unknown>> = [];
    const http = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', async () => {
        if (req.method === 'DELETE') {
          const id = decodeURIComponent(req.url!.split('/').pop()!);
          await sessions.get(id)?.close();
          sessions.delete(id);
          return void res.end('{}');
        }
        const j = JSON.parse(body) as Record<string, any>;
        seen.push(j);
        // No session_id (the start-up check): a one-off session, like the reference's stateless run.
        const id = j.session_id === null ? null : String(j.session_id);
        const session = id === null ? backing.session() : sessions.get(id) ?? sessions.set(id, backing.session()).get(id)!;
        const r = await session.execute(j.generated_code);
        if (id === null) await session.close();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(r.status === 'completed'
          ? { process_status: 'completed', stdout: r.output + '\n', stderr: '' }
          : { process_status: r.status, stdout: '', stderr: r.output + '\n' }));
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    try {
      const output = out();
      const res = await generateSolutions(opts({ input: input(problems), output, numSeeds: 2, sandbox: { url: `http://127.0.0.1:${(http.address() as { port: number }).port}` } }));
      assert.equal(res.status, 'completed', String(res.error));
      checkSolved(rowsOf(output), problems.length * 2);
      const blocks = seen.filter((j) => j.session_id !== null);
      assert.equal(blocks.length, problems.length * 2 + problems.length * 3);
      assert.ok(blocks.every((j) => j.language === 'ipython' && j.timeout === 10 && j.max_output_characters === 1000));
      assert.equal(sessions.size, 0, 'sessions not deleted at the end of their solutions');
    } finally {
      http.close();
      await backing.close();
    }
  });

  it('a missing python3 fails at start: no request, no run folder', async () => {
    const output = out();
    await assert.rejects(generateSolutions(opts({ input: input(problems), output, sandbox: { python: 'no-such-python3' } })),
      (e: Error) => e instanceof SandboxSetupError && /no-such-python3/.test(e.message));
    assert.equal(server.stats.total, 0);
    assert.equal(existsSync(`${output}.run`), false);
  });

  it('code settings on a prompt without code_execution are refused', async () => {
    await assert.rejects(generateSolutions(opts({ input: input(problems), output: out(), prompt: 'gsm8k_text', codeExecution: { maxExecutions: 2 } })),
      /prompt gsm8k_text has no code_execution section/);
  });
});
