/**
 * Every code block of the built-in code few-shot sets runs in the real sandbox and prints exactly
 * the output shown after it (blocks of one example share a session, like a real solution).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { codeBlocksOf } from '../../src/core/generate/code';
import { loadFewShotSet } from '../../src/core/prompts/fewShot';
import { DEFAULT_CODE_EXECUTION, loadPromptConfig, listBuiltinPrompts } from '../../src/core/prompts/promptConfig';
import { LocalSandbox } from '../../src/core/sandbox';
import { testPython } from './sandbox-python';

const DIR = join(__dirname, '..', '..', 'prompts', 'few_shot');
const codeSets = readdirSync(DIR).filter((f) => f.endsWith('_with_code.yaml'));

describe('sandbox: built-in code few-shot examples run and show their real output', function () {
  this.timeout(120_000);
  const py = testPython();
  let sandbox: LocalSandbox;
  before(async function () {
    if (!py.python) this.skip();
    sandbox = new LocalSandbox({ python: py.python!, workers: 1, timeoutSeconds: 60 });
    await sandbox.start();
  });
  after(() => sandbox?.close());

  it('finds the code sets, and every *_with_code prompt config uses one with code_execution on', () => {
    assert.deepEqual(codeSets.sort(), ['gsm8k_text_with_code.yaml', 'math_text_with_code.yaml']);
    const configs = listBuiltinPrompts().filter((n) => n.includes('_with_code'));
    assert.ok(configs.length >= 4, configs.join(', '));
    for (const n of configs) {
      const c = loadPromptConfig(n);
      assert.ok(c.codeExecution, `${n} has no code_execution`);
      assert.match(c.fewShot!.set, /_with_code$/);
    }
  });

  for (const file of codeSets) {
    // Only the sympy set is skipped without sympy, and its title says why.
    const needsSympy = readFileSync(join(DIR, file), 'utf8').includes('sympy');
    const title = needsSympy && py.python && !py.hasSympy ? `${file} (skipped: no python3 here has sympy; apt-get install python3-sympy or set SDG_TEST_PYTHON)` : file;
    it(title, async function () {
      const examples = loadFewShotSet(join(DIR, file));
      if (needsSympy && !py.hasSympy) this.skip();
      assert.ok(examples.length >= 5, `${file}: ${examples.length} examples`);
      for (const [i, ex] of examples.entries()) {
        const blocks = codeBlocksOf(ex.solution!, DEFAULT_CODE_EXECUTION);
        assert.ok(blocks.length >= 1, `${file} example ${i + 1} has no code block`);
        const session = sandbox.session();
        try {
          for (const [j, b] of blocks.entries()) {
            assert.notEqual(b.output, null, `${file} example ${i + 1} block ${j + 1} has no output block`);
            const r = await session.execute(b.code);
            assert.equal(r.status, 'completed', `${file} example ${i + 1} block ${j + 1}: ${r.output}`);
            assert.equal(r.output, b.output, `${file} example ${i + 1} block ${j + 1} prints something else than shown`);
          }
        } finally {
          await session.close();
        }
        // The answer comes after the last output block, boxed.
        const tail = ex.solution!.slice(ex.solution!.lastIndexOf(DEFAULT_CODE_EXECUTION.outputEnd));
        assert.ok(tail.includes(`\\boxed{${ex.expected_answer}}`), `${file} example ${i + 1}: no \\boxed{${ex.expected_answer}} after the last output`);
      }
    });
  }
});
