import * as assert from 'node:assert/strict';
import { extractAnswer, extractBoxed, allBoxed, extractGsm8k, extractAnswerIs, compileAnswerRegex } from '../../src/core/math/extract';

describe('math answer extraction', () => {
  it('takes the last \\boxed with nested braces', () => {
    assert.equal(extractBoxed('first \\boxed{1} then \\boxed{\\frac{1}{\\sqrt{2}}}.'), '\\frac{1}{\\sqrt{2}}');
    assert.equal(extractBoxed('$\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$'), '\\left( 3, \\frac{\\pi}{2} \\right)');
  });
  it('handles \\fbox, \\boxed without braces and escaped braces', () => {
    assert.equal(extractBoxed('so \\fbox{42}'), '42');
    assert.equal(extractBoxed('answer $\\boxed 5$.'), '5');
    assert.equal(extractBoxed('\\boxed{\\{1, 2\\}}'), '\\{1, 2\\}');
  });
  it('skips an unclosed last box and uses the previous one', () => {
    assert.equal(extractBoxed('\\boxed{7} and then \\boxed{8'), '7');
    assert.equal(extractBoxed('no box here'), null);
    assert.equal(extractBoxed('\\boxedfoo{3}'), null);
    assert.equal(extractBoxed('\\boxed{3} then \\boxed{ }'), null, 'an empty last box is no answer');
  });
  it('lists every box for the several-answers filter', () => {
    assert.deepEqual(allBoxed('\\boxed{1} x \\fbox{2} y \\boxed{ 1 }'), ['1', '2', '1']);
  });
  it('reads GSM8K #### answers', () => {
    assert.equal(extractGsm8k('She makes 9 * 2 = 18.\n#### 18'), '18');
    assert.equal(extractGsm8k('#### 1,000\nmore'), '1,000');
    assert.equal(extractGsm8k('nothing'), null);
  });
  it('reads "The answer is" phrasing', () => {
    assert.equal(extractAnswerIs('So the answer is 42.'), '42');
    assert.equal(extractAnswerIs('Final Answer: The final answer is $\\frac{1}{2}$. I hope it is correct.'), '\\frac{1}{2}');
    assert.equal(extractAnswerIs('The answer is: $x = 5$'), 'x = 5');
    assert.equal(extractAnswerIs('Therefore, the answer is \\boxed{7} apples'), '7');
    assert.equal(extractAnswerIs('**Final Answer:** 18'), '18');
    assert.equal(extractAnswerIs('**Final Answer**: $\\frac{3}{4}$'), '\\frac{3}{4}');
    assert.equal(extractAnswerIs('The answer is **42**.'), '42');
    assert.equal(extractAnswerIs('My answer isolates x'), null);
  });
  it('auto mode prefers boxes, then ####, then phrasing', () => {
    assert.equal(extractAnswer('The answer is 3. \\boxed{4}'), '4');
    assert.equal(extractAnswer('The answer is 3.\n#### 5'), '5');
    assert.equal(extractAnswer('The answer is 3.'), '3');
    assert.equal(extractAnswer(''), null);
    assert.equal(extractAnswer(null), null);
  });
  it('custom regex: last match, group 1', () => {
    const re = compileAnswerRegex('/ANSWER:\\s*(\\S+)/i');
    assert.equal(extractAnswer('answer: 1 then ANSWER: 2', { mode: 'regex', regex: re }), '2');
    assert.equal(extractAnswer('no match', { mode: 'regex', regex: re }), null);
    assert.throws(() => compileAnswerRegex('(unclosed'), /invalid answer regex/);
    assert.throws(() => extractAnswer('x', { mode: 'regex' }), /needs a regex/);
  });
  it('is linear on long inputs with many braces', () => {
    const text = '{'.repeat(100000) + '\\boxed{5}';
    assert.equal(extractBoxed(text), '5');
  });
});
