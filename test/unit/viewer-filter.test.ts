import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { parseExpr as parseFilter, evaluate, ExprSyntaxError as FilterSyntaxError, exprFields as filterFields } from '../../src/core/expr';
import { parseFieldPath, getPath } from '../../src/core/viewer/fieldPath';

const ev = (src: string, record: unknown, line = 1, bad = false): boolean => evaluate(parseFilter(src), { record, line, bad });

describe('viewer filter expressions', () => {
  const rec = { is_correct: false, seed: 3, problem: 'Add 2+2', tags: ['easy', 'gsm'], meta: { source: 'x', 'odd key': 1 }, n: null, items: [{ t: 'a' }] };

  it('evaluates comparisons, boolean logic and parentheses', () => {
    assert.equal(ev('is_correct == false && seed < 4', rec), true);
    assert.equal(ev('is_correct == false && seed < 3', rec), false);
    assert.equal(ev('seed >= 3 || missing', rec), true);
    assert.equal(ev('!(seed > 1 && seed < 5)', rec), false);
    assert.equal(ev('!is_correct', rec), true);
    assert.equal(ev('seed != 3', rec), false);
    assert.equal(ev('seed == 3.0', rec), true);
    assert.equal(ev('seed > -1', rec), true);
    assert.equal(ev("problem == 'Add 2+2'", rec), true);
    assert.equal(ev('problem == "Add 2+2"', rec), true);
    assert.equal(ev('problem < "B"', rec), true);
  });

  it('handles field paths, null and missing fields', () => {
    assert.equal(ev('meta.source == "x"', rec), true);
    assert.equal(ev('meta["odd key"] == 1', rec), true);
    assert.equal(ev('items[0].t == "a"', rec), true);
    assert.equal(ev('n == null', rec), true);
    assert.equal(ev('nothing == null', rec), true);
    assert.equal(ev('nothing', rec), false);
    assert.equal(ev('seed < "4"', rec), false, 'mixed types never order');
  });

  it('supports contains and regex match', () => {
    assert.equal(ev('problem contains "2+2"', rec), true);
    assert.equal(ev('tags contains "gsm"', rec), true);
    assert.equal(ev('tags contains "hard"', rec), false);
    assert.equal(ev('problem =~ /^add/i', rec), true);
    assert.equal(ev('problem =~ "^Add \\\\d"', rec), true);
    assert.equal(ev('problem =~ /^add/', rec), false);
  });

  it('knows $line and $bad', () => {
    assert.equal(ev('$line > 10', rec, 11), true);
    assert.equal(ev('$bad', undefined, 3, true), true);
    assert.equal(ev('seed == 3', undefined, 3, true), false);
  });

  it('reports errors with the 1-based column', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['seed <', 7, /expected a value/],
      ['seed = 3', 6, /use ==/],
      ['a & b', 3, /use &&/],
      ['(seed > 1', 10, /expected "\)"/],
      ['seed > 1)', 9, /unexpected "\)"/],
      ['problem == "open', 12, /unterminated string/],
      ['problem =~ /(/', 12, /bad regex/],
      ['seed > 1 seed', 10, /unexpected "seed"/],
      ['seed =~ 3', 9, /=~ needs/],
      ['', 1, /empty filter/],
      ['a.', 3, /expected a field name/],
      ['#', 1, /unexpected character "#"/],
    ];
    for (const [src, col, msg] of cases) {
      assert.throws(() => parseFilter(src), (e: unknown) => {
        assert.ok(e instanceof FilterSyntaxError, `${src}: ${String(e)}`);
        assert.equal(e.column, col, `${src}: ${e.message}`);
        assert.match(e.message, msg);
        return true;
      });
    }
  });

  it('lists the fields a filter reads', () => {
    assert.deepEqual(filterFields(parseFilter('a.b == 1 && !c || $line > 2')), ['a.b', 'c']);
  });

  it('property: number comparisons agree with JavaScript', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e6, max: 1e6 }), fc.integer({ min: -1e6, max: 1e6 }), fc.constantFrom('==', '!=', '<', '<=', '>', '>='), (a, b, op) => {
        const expected = op === '==' ? a === b : op === '!=' ? a !== b : op === '<' ? a < b : op === '<=' ? a <= b : op === '>' ? a > b : a >= b;
        return ev(`x ${op} ${b}`, { x: a }) === expected;
      }),
    );
  });

  it('property: any string literal round-trips through the tokenizer', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const lit = JSON.stringify(s);
        return ev(`x == ${lit}`, { x: s }) === true;
      }),
    );
  });

  it('property: random input either parses or fails with a column inside the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          parseFilter(s);
          return true;
        } catch (e) {
          return e instanceof FilterSyntaxError && e.column >= 1 && e.column <= s.length + 1;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('viewer field paths', () => {
  it('parses dotted, indexed and quoted paths', () => {
    assert.deepEqual(parseFieldPath('a.b[2]["c d"]'), ['a', 'b', 2, 'c d']);
    assert.equal(getPath({ a: { b: [0, 1, { 'c d': 5 }] } }, parseFieldPath('a.b[2]["c d"]')), 5);
    assert.equal(getPath({ a: 1 }, parseFieldPath('a.b')), undefined);
    assert.throws(() => parseFieldPath('a..b'), /column 3/);
    assert.throws(() => parseFieldPath(''), /empty/);
  });
});
