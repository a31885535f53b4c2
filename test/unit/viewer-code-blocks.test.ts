/**
 * webview/viewer/logic/codeBlocks.ts: splitting code-mode solutions into prose, code and output, and
 * marking failed executions the way the SFT filter (src/core/sft/filters.ts) detects them.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeBlocksOf, formatOutputBlock } from '../../src/core/generate/code';
import { DEFAULT_CODE_EXECUTION } from '../../src/core/prompts/promptConfig';
import { codeExecutionError } from '../../src/core/sft/filters';
import { CODE_TAGS, hasCodeBlocks, outputFailure, splitCodeBlocks } from '../../webview/viewer/logic/codeBlocks';

const S = DEFAULT_CODE_EXECUTION;
const code = (c: string) => `${S.codeBegin}\n${c}\n${S.codeEnd}`;

describe('viewer code blocks: splitting code-mode text', () => {
  it('uses the generator\'s default tags', () => {
    assert.deepEqual(CODE_TAGS, { codeBegin: S.codeBegin, codeEnd: S.codeEnd, outputBegin: S.outputBegin, outputEnd: S.outputEnd });
  });

  it('splits prose, two code blocks and their outputs (the second a Traceback) as the generator writes them', () => {
    const text = 'Let us compute.\n' + code('x = 6 * 7\nprint(x)') + formatOutputBlock('42', S) +
      'Now divide.\n' + code('print(1/0)') +
      formatOutputBlock('Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nZeroDivisionError: division by zero', S) +
      'So the answer is \\boxed{42}.';
    const segs = splitCodeBlocks(text);
    assert.deepEqual(segs.map((s) => s.kind), ['prose', 'code', 'output', 'prose', 'code', 'output', 'prose']);
    assert.deepEqual(segs[0], { kind: 'prose', text: 'Let us compute.\n' });
    assert.deepEqual(segs[1], { kind: 'code', text: 'x = 6 * 7\nprint(x)', terminated: true });
    assert.deepEqual(segs[2], { kind: 'output', text: '42', terminated: true, failed: false });
    assert.deepEqual(segs[3], { kind: 'prose', text: 'Now divide.\n' });
    assert.equal(segs[5].kind === 'output' && segs[5].failed, true);
    assert.equal(segs[5].kind === 'output' && segs[5].reason, 'Python traceback');
    assert.deepEqual(segs[6], { kind: 'prose', text: 'So the answer is \\boxed{42}.' });
    // The code agrees with the generator's own reading of the blocks.
    const blocks = codeBlocksOf(text, S);
    assert.deepEqual(segs.filter((s) => s.kind === 'code').map((s) => s.text), blocks.map((b) => b.code.replace(/\n$/, '')));
    // Nothing is lost but the tags and the newlines that belong to them.
    assert.equal(segs.every((s) => !s.text.includes('<llm-code')), true);
  });

  it('an unterminated last code block runs to the end; text without tags is one prose segment', () => {
    assert.deepEqual(splitCodeBlocks('Try:\n<llm-code>\nprint(2'), [
      { kind: 'prose', text: 'Try:\n' },
      { kind: 'code', text: 'print(2', terminated: false },
    ]);
    assert.deepEqual(splitCodeBlocks('just prose, with </llm-code> stray'), [{ kind: 'prose', text: 'just prose, with </llm-code> stray' }]);
    assert.deepEqual(splitCodeBlocks(''), []);
    assert.equal(hasCodeBlocks('a <llm-code-output>\n1\n</llm-code-output>'), true);
    assert.equal(hasCodeBlocks('<llm-codex>'), false);
  });

  it('an output block on its own and a hostile payload stay plain strings', () => {
    const segs = splitCodeBlocks('<llm-code>\n<img src=x onerror=alert(1)>\n</llm-code>\n<llm-code-output>\n</llm-code-output>');
    assert.deepEqual(segs, [
      { kind: 'code', text: '<img src=x onerror=alert(1)>', terminated: true },
      { kind: 'output', text: '', terminated: true, failed: false },
    ]);
  });

  it('marks tracebacks, Python error lines and the sandbox time-out, not ordinary output', () => {
    assert.equal(outputFailure("NameError: name 'y' is not defined"), 'NameError');
    assert.equal(outputFailure('  File "<string>", line 2\n    x = (\n        ^\nSyntaxError: \'(\' was never closed'), 'SyntaxError');
    assert.equal(outputFailure('Timed out'), 'timed out');
    assert.equal(outputFailure('partial output\nTimed out'), 'timed out');
    assert.equal(outputFailure('KeyboardInterrupt'), 'KeyboardInterrupt');
    assert.equal(outputFailure('42'), undefined);
    assert.equal(outputFailure('[1, 2, 3]\nerror rate: 0.1'), undefined);
    assert.equal(outputFailure('The Error: none'), undefined);
    assert.equal(outputFailure('12345<output cut>'), undefined);
  });

  it('agrees with the SFT filter on every output except a cut one', () => {
    const outputs = ['42', "NameError: name 'y' is not defined", 'Traceback (most recent call last):\n  File "x"\nValueError: bad', 'Timed out',
      'a\nTimed out', 'x\n  SyntaxError: invalid syntax', '[1, 2]', 'error: none', 'value Error', 'RecursionError: maximum recursion depth exceeded',
      'sympy.core.sympify.SympifyError: x', 'CustomException', '0.5\n1.5'];
    for (const o of outputs) {
      const sft = codeExecutionError({}, 'text ' + formatOutputBlock(o, S));
      assert.equal(outputFailure(o) !== undefined, sft !== null, `${JSON.stringify(o)}: viewer ${outputFailure(o)}, SFT ${sft}`);
    }
    assert.notEqual(codeExecutionError({}, formatOutputBlock('1<output cut>', S)), null);
    assert.equal(outputFailure('1<output cut>'), undefined);
  });

  it('has no DOM or Node dependency (it is bundled into the webview)', () => {
    const src = readFileSync(join(__dirname, '..', '..', 'webview', 'viewer', 'logic', 'codeBlocks.ts'), 'utf8');
    assert.doesNotMatch(src, /^\s*import\s/m);
    assert.doesNotMatch(src, /\b(document|window|HTMLElement|require)\b/);
  });
});
