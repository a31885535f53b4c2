import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { ValidationError } from '../../src/core/config/yamlSource';
import {
  listBuiltinPromptInfo, listBuiltinPrompts, loadPromptConfig, loadPromptConfigFile, PromptConfigError, resolvePromptFile, withOverrides,
} from '../../src/core/prompts/promptConfig';
import { listBuiltinFewShotSets, loadFewShotSet, resolveFewShotFile } from '../../src/core/prompts/fewShot';

const FIX = join(__dirname, '../fixtures/prompts');

function errorsOf(file: string): string[] {
  try {
    loadPromptConfigFile(join(FIX, file));
  } catch (e) {
    if (e instanceof PromptConfigError) return e.errors.map((x) => x.message);
    if (e instanceof ValidationError) return [e.message];
    throw e;
  }
  assert.fail(`${file} loaded without errors`);
}

function expectError(errors: string[], pattern: RegExp): void {
  assert.ok(errors.some((e) => pattern.test(e)), `no error matches ${pattern}; got:\n${errors.join('\n')}`);
}

describe('prompt configs: validation', () => {
  it('reports unknown keys with file, line and field', () => {
    const errs = errorsOf('bad/unknown_keys.yaml');
    expectError(errs, /unknown_keys\.yaml:4: temprature: unknown key/);
    expectError(errs, /unknown_keys\.yaml:7: params\.max_token: unknown key/);
    assert.equal(errs.length, 2);
  });

  it('reports missing placeholders for examples, context and problem together', () => {
    const errs = errorsOf('bad/missing_placeholders.yaml');
    expectError(errs, /missing_placeholders\.yaml:1: user: missing placeholder \{\{problem\}\}/);
    expectError(errs, /user: missing placeholder \{\{examples\}\}/);
    expectError(errs, /user: missing placeholder \{\{context\}\}/);
  });

  it('reports wrong types on each field, all at once', () => {
    const errs = errorsOf('bad/wrong_types.yaml');
    expectError(errs, /wrong_types\.yaml:1: system: must be a string, found a list/);
    expectError(errs, /:3: context_type: must be one of empty, reference_solution, masked_solution/);
    expectError(errs, /:6: few_shot\.count: must be a number/);
    expectError(errs, /:8: params\.temperature: must be a number/);
    expectError(errs, /:9: params\.top_p: must be <= 1/);
    expectError(errs, /:10: params\.max_tokens: must be >= 1/);
    expectError(errs, /:11: params\.stop: must be a string or a list/);
  });

  it('rejects unknown placeholders but allows {{row.*}}; context templates need their field', () => {
    const errs = errorsOf('bad/unknown_placeholder.yaml');
    expectError(errs, /user: unknown placeholder \{\{answr\}\}/);
    assert.ok(!errs.some((e) => e.includes('row.anything')));
    expectError(errs, /:3: context_templates\.reference_solution: missing placeholder \{\{reference_solution\}\}/);
  });

  it('checks the few-shot count against the set size, and unknown sets', () => {
    expectError(errorsOf('bad/too_many_examples.yaml'), /few_shot\.count: 9 examples asked for, but set "tiny" has 2/);
    expectError(errorsOf('bad/missing_set.yaml'), /few_shot\.set: unknown few-shot set "no_such_set"/);
  });

  it('reports errors inside the few-shot file with that file\'s lines', () => {
    const errs = errorsOf('bad/bad_set.yaml');
    expectError(errs, /broken\.yaml:3: examples\[0\]\.soluton: unknown key/);
    expectError(errs, /broken\.yaml:4: examples\[1\]\.problem: required/);
  });

  it('needs every example to carry the field the context type shows', () => {
    expectError(errorsOf('bad/masked_without_examples.yaml'), /context type masked_solution needs masked_solution in every example, but example 1 of set "tiny" has none/);
  });

  it('reports YAML syntax errors with a line', () => {
    expectError(errorsOf('bad/syntax.yaml'), /syntax\.yaml:\d+(:\d+)?: YAML syntax error/);
  });

  it('loads a valid custom config with a set found beside it', () => {
    const c = loadPromptConfigFile(join(FIX, 'good/custom.yaml'));
    assert.equal(c.name, 'custom');
    assert.equal(c.fewShot?.count, 2);
    assert.equal(c.fewShot?.file, join(FIX, 'few_shot/tiny.yaml'));
    assert.deepEqual(c.params, { temperature: 0.3, top_k: 20, stop: ['\n\n'], extra: { repetition_penalty: 1.1 } });
  });

  it('validates overrides: masked context needs masked examples; count within the set', () => {
    const c = loadPromptConfigFile(join(FIX, 'good/custom.yaml'));
    assert.equal(withOverrides(c, { contextType: 'reference_solution' }).contextType, 'reference_solution');
    assert.throws(() => withOverrides(c, { contextType: 'masked_solution' }), /masked_solution in every example/);
    assert.equal(withOverrides(c, { contextType: 'masked_solution', fewShotCount: 0 }).fewShot?.count, 0);
    assert.throws(() => withOverrides(c, { fewShotCount: 3 }), /set tiny has 2 examples/);
  });

  it('resolves --prompt as a built-in name or a file, and names the built-ins when unknown', () => {
    assert.match(resolvePromptFile('gsm8k_text'), /prompts[\\/]generation[\\/]gsm8k_text\.yaml$/);
    assert.equal(resolvePromptFile(join(FIX, 'good/custom.yaml')), join(FIX, 'good/custom.yaml'));
    assert.throws(() => resolvePromptFile('nope'), /unknown prompt "nope".*built-ins: .*gsm8k_text/);
    assert.throws(() => resolvePromptFile('./missing.yaml'), /file not found/);
  });
});

describe('built-in prompt configs and few-shot sets', () => {
  it('ships the expected prompts, all valid', () => {
    const names = listBuiltinPrompts();
    for (const n of ['generic_math', 'gsm8k_text', 'math_text', 'gsm8k_generate_masked', 'math_generate_masked']) assert.ok(names.includes(n), `missing built-in ${n}`);
    for (const n of names) loadPromptConfig(n);
  });

  it('lists built-in prompts with descriptions, and the few-shot sets', () => {
    const info = listBuiltinPromptInfo();
    assert.ok(info.length >= 5);
    for (const i of info) {
      assert.equal(i.error, undefined, `${i.name}: ${i.error}`);
      assert.ok(i.description.length > 10, `${i.name} has no description`);
    }
    assert.deepEqual(listBuiltinFewShotSets().filter((n) => ['gsm8k_text', 'math_text', 'gsm8k_masked', 'math_masked'].includes(n)).length, 4);
  });

  it('built-in solving prompts render under every context type', () => {
    for (const n of ['generic_math', 'gsm8k_text', 'math_text']) {
      const c = loadPromptConfig(n);
      for (const t of ['empty', 'reference_solution', 'masked_solution'] as const) withOverrides(c, { contextType: t });
    }
  });

  it('few-shot sets have enough examples, each ending in \\boxed{expected_answer} where solved', () => {
    const sizes: Record<string, number> = { gsm8k_text: 6, math_text: 6, gsm8k_masked: 4, math_masked: 4 };
    for (const [set, min] of Object.entries(sizes)) {
      const examples = loadFewShotSet(resolveFewShotFile(set));
      assert.ok(examples.length >= min, `${set} has ${examples.length} examples, want >= ${min}`);
      for (const ex of examples) {
        assert.ok(ex.expected_answer, `${set}: an example has no expected_answer`);
        assert.ok(ex.solution, `${set}: an example has no solution`);
        assert.ok(ex.masked_solution, `${set}: an example has no masked_solution`);
        // Masked solutions must hide the answer: no \boxed{} and no "= <answer>" step.
        assert.ok(!ex.masked_solution!.includes('\\boxed'), `${set}: masked solution shows \\boxed`);
        assert.ok(!new RegExp(`= \\$?${ex.expected_answer!.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}\\b`).test(ex.masked_solution!), `${set}: masked solution reveals ${ex.expected_answer}`);
        if (set.endsWith('_text')) assert.ok(ex.solution!.includes(`\\boxed{${ex.expected_answer}}`), `${set}: solution does not end in \\boxed{${ex.expected_answer}}`);
      }
    }
  });
});
