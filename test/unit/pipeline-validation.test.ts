import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { resolveParameters, resolvePipeline, validatePipelineFile, Expression, ExpressionError } from '../../src/core/pipeline';

const BAD = join(__dirname, '../fixtures/pipelines/bad');

function errors(name: string) {
  return validatePipelineFile(join(BAD, name));
}

describe('pipeline validation (file, line, field)', () => {
  it('unknown stage kind', () => {
    const e = errors('unknown_kind.yaml');
    assert.equal(e.length, 1);
    assert.equal(e[0]!.line, 8);
    assert.equal(e[0]!.field, 'stages[1].kind');
    assert.match(e[0]!.message, /unknown stage kind "summarize"/);
    assert.match(e[0]!.file, /unknown_kind\.yaml$/);
  });

  it('missing template', () => {
    const e = errors('missing_template.yaml');
    assert.equal(e.length, 1);
    assert.equal(e[0]!.line, 5);
    assert.equal(e[0]!.field, 'stages[0].template');
    assert.match(e[0]!.message, /missing template "open_qa\/no_such_template"/);
  });

  it('placeholder without a value', () => {
    const e = errors('placeholder.yaml');
    assert.equal(e.length, 1);
    assert.equal(e[0]!.field, 'stages[0].template');
    assert.match(e[0]!.message, /\{\{topic\}\}/);
    assert.equal(e[0]!.line, 7);
  });

  it('wrong parameter types, in defaults and in stage options; all errors at once', () => {
    const e = errors('param_type.yaml');
    const byField = new Map(e.map((x) => [x.field, x]));
    assert.match(byField.get('parameters.n.default')!.message, /expected an int/);
    assert.equal(byField.get('parameters.n.default')!.line, 3);
    assert.match(byField.get('stages[1].count')!.message, /parameter flag is string, but `count` needs int/);
    assert.equal(byField.get('stages[1].count')!.line, 12);
    assert.match(byField.get('stages[1].trim')!.message, /expected true or false/);
  });

  it('unknown fields, unknown options and bad expressions', () => {
    const e = errors('fields.yaml');
    const fields = e.map((x) => x.field);
    assert.ok(fields.includes('stages[1].field'), JSON.stringify(e));
    assert.ok(e.find((x) => x.field === 'stages[1].field')!.message.includes('no field "topics"'));
    assert.ok(fields.includes('stages[2].colour'));
    assert.ok(e.find((x) => x.field === 'stages[2].expr')!.message.startsWith('bad expression'));
  });

  it('--set values are checked against parameter types', () => {
    const { def } = resolvePipeline('open_qa');
    assert.throws(() => resolveParameters(def, { n_macro_topics: 'ten' }), /--set n_macro_topics=ten: expected an integer/);
    assert.throws(() => resolveParameters(def, { combine_topics: 'maybe' }), /expected true or false/);
    assert.throws(() => resolveParameters(def, { on_failure: 'retry' }), /must be one of error, ignore/);
    assert.throws(() => resolveParameters(def, { nope: '1' }), /has no parameter "nope"/);
    assert.deepEqual(resolveParameters(def, { additional_subtopics: '["a, b", "c"]' }).additional_subtopics, ['a, b', 'c']);
  });

  it('a required parameter without a value is named', () => {
    const { def } = resolvePipeline('closed_qa');
    assert.throws(() => resolveParameters(def, {}), /parameter documents \(list\) is required/);
  });

  it('filter expressions: operators, functions, errors', () => {
    const e = Expression.parse('words(q) >= 3 && !contains(lower(q), "as an ai") || n % 2 == 1');
    assert.equal(e.test({ q: 'one two three', n: 2 }), true);
    assert.equal(e.test({ q: 'As an AI I think', n: 2 }), false);
    assert.equal(e.test({ q: 'short', n: 3 }), true);
    assert.deepEqual(e.fields().sort(), ['n', 'q']);
    assert.equal(Expression.parse('1 + 2 * 3').evaluate({}), 7);
    assert.equal(Expression.parse('rewards.helpfulness > 2').test({ rewards: { helpfulness: 3 } }), true);
    assert.throws(() => Expression.parse('foo('), ExpressionError);
    assert.throws(() => Expression.parse('nosuch(x)'), /unknown function/);
  });
});
