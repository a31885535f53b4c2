import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { loadPromptConfig, loadPromptConfigFile, withOverrides } from '../../src/core/prompts/promptConfig';
import { PromptRenderError, renderExamples, renderPrompt } from '../../src/core/prompts/render';

const FIX = join(__dirname, '../fixtures/prompts');
const row = {
  input_index: 7,
  problem: 'What is 6 * 7?',
  expected_answer: '42',
  reference_solution: 'Six sevens are 42.',
  masked_solution: 'Six sevens are M.',
  fields: { question: 'What is 6 * 7?', source: 'unit' },
};

describe('prompt rendering', () => {
  it('renders system, few-shot examples with separators, and an empty context', () => {
    const c = loadPromptConfigFile(join(FIX, 'good/custom.yaml'));
    const msgs = renderPrompt(c, row);
    assert.deepEqual(msgs, [
      { role: 'system', content: 'You solve problem 7.' },
      {
        role: 'user',
        content: 'Q: What is 2 + 3?\nA: 2 + 3 = 5. \\boxed{5}\n---\nQ: What is 4 * 6?\nA: 4 * 6 = 24. \\boxed{24}\n---\nQ: What is 6 * 7?\nA:',
      },
    ]);
  });

  it('renders reference_solution context in the examples (falling back to solution) and the row', () => {
    const c = withOverrides(loadPromptConfigFile(join(FIX, 'good/custom.yaml')), { contextType: 'reference_solution' });
    const user = renderPrompt(c, row)[1]!.content;
    assert.equal(
      user,
      'Q: What is 2 + 3?\nHint: 2 + 3 = 5. \\boxed{5}\nA: 2 + 3 = 5. \\boxed{5}\n---\n' +
        'Q: What is 4 * 6?\nHint: Four sixes make 24.\nA: 4 * 6 = 24. \\boxed{24}\n---\n' +
        'Q: What is 6 * 7?\nHint: Six sevens are 42.\nA:',
    );
  });

  it('renders masked_solution context (no examples) and fails clearly when the row lacks it', () => {
    const c = withOverrides(loadPromptConfigFile(join(FIX, 'good/custom.yaml')), { contextType: 'masked_solution', fewShotCount: 0 });
    assert.equal(renderExamples(c), '');
    assert.equal(renderPrompt(c, row)[1]!.content, 'Q: What is 6 * 7?\nMasked: Six sevens are M.\nA:');
    assert.throws(() => renderPrompt(c, { ...row, masked_solution: null }), (e: Error) => e instanceof PromptRenderError && /row 7: context type masked_solution needs masked_solution/.test(e.message));
  });

  it('built-in gsm8k_text renders 5 examples, then the problem, ending with the answer cue', () => {
    const msgs = renderPrompt(loadPromptConfig('gsm8k_text'), row);
    assert.equal(msgs.length, 1);
    const user = msgs[0]!.content;
    assert.equal(user.match(/^Question:$/gm)?.length, 6);
    assert.equal(user.match(/\\boxed\{/g)?.length, 6); // 5 examples + the instruction
    assert.ok(user.endsWith('Question:\nWhat is 6 * 7?\n\nMy solution:'), user.slice(-80));
    assert.ok(!user.includes('{{'), 'unrendered placeholder');
  });

  it('built-in masked generation shows the reference solution as context for examples and row', () => {
    const user = renderPrompt(loadPromptConfig('math_generate_masked'), row)[0]!.content;
    assert.equal(user.match(/^Reference solution:$/gm)?.length, 5);
    assert.equal(user.match(/^Masked solution:$/gm)?.length, 5);
    assert.ok(user.endsWith('Problem:\nWhat is 6 * 7?\n\nReference solution:\nSix sevens are 42.\n\nMasked solution:'), user.slice(-120));
    assert.throws(() => renderPrompt(loadPromptConfig('math_generate_masked'), { ...row, reference_solution: null }), /needs reference_solution/);
  });

  it('offers input fields as {{row.*}}', () => {
    const c = { ...loadPromptConfigFile(join(FIX, 'good/custom.yaml')), system: 'From {{row.source}}.' };
    assert.equal(renderPrompt(c, row)[0]!.content, 'From unit.');
  });
});
