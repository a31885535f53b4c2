/** The grading rules of issue 13, one assertion each (every one failed before the fix). */
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { datasetFile } from '../support/datasets';
import { isEquivalent, exactNumber, numbersEqual } from '../../src/core/math/equivalence';
import { extractAnswer, extractLastMath, extractBoxed } from '../../src/core/math/extract';

const eq = (a: string, b: string) => assert.equal(isEquivalent(a, b), true, `${a} == ${b}`);
const ne = (a: string, b: string) => assert.equal(isEquivalent(a, b), false, `${a} != ${b}`);

describe('math grading: exact numbers (issue 13)', () => {
  it('never equates two distinct integers, however large', () => {
    ne('70001', '70000');
    ne(extractAnswer('so \\boxed{70001}')!, '70000');
    ne('1000001', '1000000');
    ne('123456789012345678901', '123456789012345678902');
    ne('10001', '10,000');
    ne('-99999', '-100000');
    eq('70000', '70,000');
    eq('70000', '70000.0');
    ne('70000.4', '70000');
    ne('70000.05', '70000');
  });
  it('compares integers and fractions exactly, decimals as approximations of the digits they show', () => {
    eq('\\frac{6}{4}', '1.5');
    eq('3/4', '\\frac{3}{4}');
    ne('\\frac{1}{3}', '0.3333');
    ne('\\frac{1}{3}', '0.33');
    ne('5', '5.001');
    eq('1e5', '100000');
    eq('3128 1/2', '3128\\frac{1}{2}');
    eq('3128 1/2', '6257/2');
    const a = exactNumber('0.125');
    assert.deepEqual(a, { num: 1n, den: 8n, decimals: 3 });
    assert.equal(numbersEqual(exactNumber('1/8')!, a!), true);
  });
  it('uses float-noise tolerance only between exact expressions: an irrational is not an integer', () => {
    ne('70000\\sqrt{2}', '98995');
    eq('2\\sqrt{2}', '\\sqrt{8}');
    eq('\\sqrt{2}', '1.41421');
    ne('\\pi', '3.14');
  });
});

describe('math grading: answer forms (issue 13)', () => {
  it('inequalities in every spelling, flipped and negated', () => {
    eq('x \\geq 5', 'x >= 5');
    eq('x \\le 2', 'x <= 2');
    eq('x \\lt 3', 'x < 3');
    eq('x \\gt 5', 'x > 5');
    eq('x \\neq 3', 'x != 3');
    eq('5 \\leq x', 'x \\geq 5');
    eq('5 \\geq x', 'x \\leq 5');
    eq('-x > -1', 'x < 1');
    eq('0 < f(x) < 1', '(0, 1)');
    ne('x \\geq 5', 'x > 5');
    ne('5 \\leq x', 'x \\leq 5');
  });
  it('labelled answers', () => {
    eq('(p,q)=(3,2)', '(3,2)');
    eq('|AB|=1', '1');
    eq('A:B=1', '1');
    eq('V_1:V_2=11:21', '11:21');
    eq('V_{1}:V_{2}=11:21', '11:21');
    eq('S_{MBCN}:S=7:32', '7:32');
    ne('(p,q)=(3,2)', '(2,3)');
    ne('V_1:V_2=11:21', '21:11');
    ne('xy = 6', '6');
  });
  it('units in \\textbf and \\textnormal, \\mathcal letters', () => {
    eq('125\\textnormal{ miles}', '125');
    eq('\\frac{1}{3} \\textbf{meters}', '\\frac13');
    eq('\\mathcal{B}', 'B');
    ne('\\mathcal{B}', 'C');
  });
  it('digit groups with ,\\! of any size, and stray trailing backslashes', () => {
    eq('1,\\!000,\\!000', '1000000');
    eq('10,\\!00,\\!000', '1000000');
    eq('185\\', '185');
  });
  it('matrices in \\left[\\begin{array}\\right] and (\\begin{pmatrix})', () => {
    eq('\\left[\\begin{array}{cc}1 & 2 \\\\3 & 4\\end{array}\\right]', '\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}');
    eq('(\\begin{pmatrix}1\\\\2\\end{pmatrix})', '\\begin{bmatrix}1\\\\2\\end{bmatrix}');
    ne('\\left[\\begin{array}{cc}1 & 2 \\\\3 & 5\\end{array}\\right]', '\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}');
  });
  it('\\pm against the set of both values, and lists joined by "or"', () => {
    eq('\\pm 2021', '{-2021, 2021}');
    ne('\\pm 2021', '2021');
    eq('(11,7)or(7,11)', '(7,11),\\ (11,7)');
    eq('(11,7) or (7,11)', '(7,11), (11,7)');
    ne('(11,7)or(7,11)', '(7,11)');
  });
  it('chains and semicolons', () => {
    eq('x = 5+5+1 = 11', 'x = 11');
    eq('(0;-2;6),(4;0;0)', '(4,0,0),(0,-2,6)');
    eq('-12;-11;-10', '\\{-12, -11, -10\\}');
  });
});

describe('math extraction: listed answers (issue 13)', () => {
  it('joins boxes listed with commas, "and", \\quad, \\text{and}', () => {
    assert.equal(extractBoxed('so \\boxed{1}, \\boxed{2}, \\boxed{3}'), '1, 2, 3');
    assert.equal(extractBoxed('\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}'), '(2, 2), (6, 2)');
    assert.equal(extractBoxed('first \\boxed{1} then \\boxed{2}'), '2');
    assert.equal(extractBoxed('\\boxed{1}. Then, correcting: \\boxed{2}'), '2');
  });
  it('last-math mode reads the last math span (runs joined), auto does not', () => {
    assert.equal(extractLastMath('Therefore $x \\geq 5$ is the solution.'), 'x \\geq 5');
    assert.equal(extractLastMath('roots $1$ and $2$ and $3$'), '1, 2, 3');
    assert.equal(extractAnswer('Therefore $x \\geq 5$ is the solution.', { mode: 'last-math' }), 'x \\geq 5');
    assert.equal(extractAnswer('Therefore $x \\geq 5$ is the solution.'), null);
  });
  it('a "final answer is" after the last box wins over the box of an intermediate result', () => {
    assert.equal(extractAnswer('interest $= \\boxed{255}$. Final Answer: The final answer is $10,455$. I hope it is correct.'), '10,455');
    assert.equal(extractAnswer('Final Answer: The largest $n$ is 34.'), '34');
  });
});

describe('math extraction: labelled listed boxes', () => {
  it('joins `y_1 = \\boxed{A} and y_2 = \\boxed{B}`, not a box after a sentence', () => {
    assert.equal(extractBoxed('\\(y_1 = \\boxed{-2(x - 1)^2 + 5} \\) and \\( y_2 = \\boxed{3(x + 2)^2 - 2} \\)'), '-2(x - 1)^2 + 5, 3(x + 2)^2 - 2');
    assert.equal(extractBoxed('x = \\boxed{3}. Then y = \\boxed{5}'), '5');
  });
});

describe('math grading: matrix expressions', () => {
  const P = (a: string) => `\\begin{pmatrix}${a}\\end{pmatrix}`;
  it('evaluates sums and products of matrices against a matrix, by size and every entry', () => {
    eq(`${P('1 & 2 \\\\ 3 & 4')} + ${P('5 & 6 \\\\ 7 & 8')}`, P('6 & 8 \\\\ 10 & 12'));
    ne(`${P('1 & 2 \\\\ 3 & 4')} + ${P('5 & 6 \\\\ 7 & 8')}`, P('6 & 8 \\\\ 10 & 13'));
    eq(`${P('1 & 0 \\\\ 0 & 1')} ${P('1 & 0 \\\\ 0 & 1')}`, P('1 & 0 \\\\ 0 & 1'));
    ne(`${P('1 & 0 \\\\ 0 & 1')} ${P('2 & 0 \\\\ 0 & 1')}`, P('1 & 0 \\\\ 0 & 1'));
    ne(P('1 & 0 \\\\ 0 & 1'), P('1 & 0 \\\\ 0 & 1 \\\\ 0 & 0'));
  });
});

describe('math grading: every GSM8K train answer against its neighbours (issue 13)', () => {
  it('grades no off-by-one answer correct, and the answer itself in its usual spellings', () => {
    const answers = readFileSync(datasetFile('gsm8k/train.jsonl'), 'utf8').split('\n').filter((l) => l.trim())
      .map((l) => (JSON.parse(l) as { answer: string }).answer.split('####').pop()!.trim().replace(/,/g, ''));
    assert.ok(answers.length > 7000, `only ${answers.length} GSM8K train answers`);
    const wrong: string[] = [];
    for (const a of answers) {
      if (!/^-?\d+$/.test(a)) continue;
      const n = BigInt(a);
      for (const off of [n + 1n, n - 1n]) if (isEquivalent(String(off), a)) wrong.push(`${off} == ${a}`);
      if (!isEquivalent(a, a) || !isEquivalent(`${a}.00`, a) || !isEquivalent(Number(a).toLocaleString('en-US'), a)) wrong.push(`${a} != itself`);
    }
    assert.deepEqual(wrong.slice(0, 10), []);
  });
});

describe('math grading: solutions as groups of assignments', () => {
  it('`p=5,q=2;p=7,q=2` is the set of tuples (5,2), (7,2)', () => {
    eq('p=5,q=2;p=7,q=2', '(5,2),(7,2)');
    eq('p=5,q=2;p=7,q=2', '(7,2),(5,2)');
    ne('p=5,q=2;p=7,q=2', '(2,5),(2,7)');
    ne('p=5,q=2;p=7,q=2', '(5,2)');
  });
});

describe('math grading: real powers', () => {
  it('x^{p/q} with odd q is the real root for negative x, as answers mean it', () => {
    eq('\\frac{1}{3\\sqrt[3]{x}^2}', '\\frac{1}{3x^{2/3}}');
    eq('(-8)^{2/3}', '4');
    eq('(-8)^{1/3}', '-2');
    ne('\\sqrt{x}', '|x|^{1/2}');
    ne('x^{2/3}', 'x^{1/3}');
    eq('\\begin{pmatrix}1&1\\\\0&1\\end{pmatrix}^2', '\\begin{pmatrix}1&2\\\\0&1\\end{pmatrix}');
  });
});

describe('math grading: |x| between bounds, boxes listed with a unit word', () => {
  it('`1 \\le |z| \\le 3/2` is two intervals', () => {
    eq('1\\leq|z|\\leq \\frac{3}{2}', 'z \\in \\left[-\\frac{3}{2}, -1\\right] \\cup \\left[1, \\frac{3}{2}\\right]');
    eq('1<|z|\\leq 2', '[-2,-1) \\cup (1,2]');
    ne('1<|z|\\leq 2', '[-2,-1] \\cup (1,2]');
    ne('1\\leq|z|\\leq 2', '[1, 2]');
  });
  it('`\\boxed{1} papers and \\boxed{2} bins` lists two; one word without "and" or two words do not join', () => {
    assert.equal(extractBoxed('\\boxed{1} papers and \\boxed{2} bins'), '1, 2');
    assert.equal(extractBoxed('\\boxed{1} then \\boxed{2}'), '2');
    assert.equal(extractBoxed('\\boxed{1} is wrong and \\boxed{2}'), '2');
    assert.equal(extractBoxed('so $\\boxed{1}$ or rather $\\boxed{2}$.'), '2');
  });
});
