import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { EXPR_FUNCTIONS, ExprSyntaxError, Expression, evaluate, evaluateValue, exprFields, parseExpr, printExpr, type ExprNode } from '../../src/core/expr';
import { filterNeedle } from '../../src/core/viewer/query';
import { validatePipelineText } from '../../src/core/pipeline';

const val = (src: string, record: unknown = {}, line = 1, bad = false): unknown => evaluateValue(parseExpr(src), { record, line, bad });
const ok = (src: string, record: unknown = {}, line = 1, bad = false): boolean => evaluate(parseExpr(src), { record, line, bad });

describe('expression language: the union of pipeline and viewer grammars', () => {
  const rec = { q: 'What is 2 + 2?', seed: 3, tags: ['easy', 'gsm'], meta: { 'odd key': 1, source: 'x' }, items: [{ t: 'a' }, { t: 'bb' }], 'model-name': 'm1', n: null };

  it('arithmetic and functions work in viewer filters, paths and $line in the same expression', () => {
    assert.equal(ok('seed * 2 + 1 == 7 && len(items) == 2', rec), true);
    assert.equal(ok('len(items[1].t) > len(items[0].t)', rec), true);
    assert.equal(ok('words(q) >= 4 && !contains(lower(q), "as an ai")', rec), true);
    assert.equal(ok('$line % 2 == 0', rec, 4), true);
    assert.equal(ok('$line % 2 == 0', rec, 5), false);
    assert.equal(ok('meta["odd key"] + seed == 4', rec), true);
    assert.equal(val('1 + 2 * 3 - 8 / 4 % 3'), 5);
    assert.equal(val('"a" + seed', rec), 'a3');
    assert.equal(val('-seed', rec), -3);
    assert.equal(val('min(seed, 2) + max(seed, 10)', rec), 12);
  });

  it('contains works as an operator and as a function, with the same meaning', () => {
    for (const [a, b, want] of [
      ['q', '"2 + 2"', true],
      ['tags', '"gsm"', true],
      ['tags', '"hard"', false],
      ['seed', '3', true],
      ['n', '""', false],
      ['meta', '"x"', false],
    ] as const) {
      assert.equal(ok(`${a} contains ${b}`, rec), want, `${a} contains ${b}`);
      assert.equal(ok(`contains(${a}, ${b})`, rec), want, `contains(${a}, ${b})`);
    }
  });

  it('regex: =~ with a literal or a string, matches() with a literal, a constant or a dynamic pattern', () => {
    assert.equal(ok('q =~ /^what/i', rec), true);
    assert.equal(ok('q =~ "^What"', rec), true);
    assert.equal(ok('matches(q, /^what/i)', rec), true);
    assert.equal(ok('matches(q, "^what", "i")', rec), true);
    assert.equal(ok('matches(q, "^what")', rec), false);
    assert.equal(ok('matches(q, meta.source)', { q: 'axb', meta: { source: 'x' } }), true);
    assert.equal(ok('matches(q, p)', { q: 'a', p: '(' }), false, 'a bad dynamic pattern is no match, not an exception');
    assert.equal(ok('seed =~ /^3$/', rec), true, 'numbers are matched by their text');
  });

  it('precedence: ! and unary minus bind tightest, then * / %, + -, relations, equality, &&, ||', () => {
    assert.equal(val('!seed == false', rec), true, '(!seed) == false');
    assert.equal(val('1 + 2 < 4 == true'), true);
    assert.equal(val('true || false && false'), true);
    assert.equal(val('-2 * -3'), 6);
    assert.equal(val('(1 + 2) * 3'), 9);
  });

  it('a hyphen followed by a letter stays inside a name; otherwise it subtracts', () => {
    assert.equal(val('model-name', rec), 'm1');
    assert.equal(val('seed-1', rec), 2);
    assert.equal(val('seed - seed', rec), 0);
    assert.equal(val('["model-name"]', rec), 'm1');
    assert.equal(val('a.contains / 2', { a: { contains: 8 } }), 4, 'a field named contains is divided, not a regex start');
  });

  it('type mismatches are false or NaN, missing fields are null, malformed lines read nothing', () => {
    assert.equal(ok('seed < "4"', rec), false);
    assert.equal(ok('nothing == null', rec), true);
    assert.equal(ok('nothing < 1', rec), false);
    assert.ok(Number.isNaN(val('q * 2', rec)));
    assert.equal(ok('seed == 3', undefined, 1, true), false);
    assert.equal(ok('$bad && $line == 9', undefined, 9, true), true);
    assert.equal(ok('a == b', { a: { x: [1] }, b: { x: [1] } }), true, 'objects compare by value');
    assert.equal(ok('a == b', { a: { x: [1] }, b: { x: [2] } }), false);
  });

  it('lists the fields an expression reads (dotted for the viewer, top-level for pipelines)', () => {
    const node = parseExpr('len(a.b[0]) > 1 && c contains "x" || $line > 2 && matches(d, /x/)');
    assert.deepEqual(exprFields(node), ['a.b.0', 'c', 'd']);
    assert.deepEqual(Expression.parse('len(a.b[0]) > 1 && c || $line > 2').fields(), ['a', 'c', '$line']);
  });

  it('reports errors with 1-based columns, for both old dialects', () => {
    const cases: Array<[string, number, RegExp]> = [
      ['len(q', 6, /expected "," or "\)"/],
      ['nosuch(q)', 1, /unknown function nosuch\(\)/],
      ['x && len(a, b)', 6, /len\(\) takes 1 argument/],
      ['matches(q, "(")', 1, /bad regex/],
      ['matches(q, "a", "g")', 1, /unsupported regex flag/],
      ['matches(q, /a/, "i")', 1, /flags inside/],
      ['a == /x/', 6, /regex can only follow =~/],
      ['/x/', 1, /regex can only follow =~/],
      ['a =~ b', 6, /=~ needs/],
      ['a * ', 5, /ends too early/],
      ['"\\d"', 1, /bad escape/],
      ['contains', 1, /expected a value before "contains"/],
      ['a ,', 3, /unexpected ","/],
    ];
    for (const [src, col, msg] of cases) {
      assert.throws(() => parseExpr(src), (e: unknown) => {
        assert.ok(e instanceof ExprSyntaxError, `${src}: ${String(e)}`);
        assert.equal(e.column, col, `${src}: ${e.message}`);
        assert.equal(e.position, col - 1);
        assert.match(e.message, msg);
        assert.match(e.message, new RegExp(`at column ${col}$`));
        return true;
      });
    }
  });

  it('pipeline validation: the merged grammar is accepted, $line/$bad and syntax errors are named', () => {
    const text = (expr: string): string => `name: x\nstages:\n  - { name: src, kind: source, values: [a, b], as: text }\n  - { name: f, kind: filter, expr: ${JSON.stringify(expr)} }\n`;
    assert.deepEqual(validatePipelineText(text('text =~ /^a/i && len(text) % 2 == 1 || text contains "b"'), 'p.yaml'), []);
    const line = validatePipelineText(text('$line > 2 && text == "a"'), 'p.yaml');
    assert.equal(line.length, 1);
    assert.match(line[0]!.message, /\$line, which only the JSONL viewer's filter has/);
    const bad = validatePipelineText(text('len(text) >'), 'p.yaml');
    assert.equal(bad.length, 1);
    assert.match(bad[0]!.message, /bad expression: expression ends too early: expected a value at column 12/);
  });

  it('the function table is total: no function throws on odd input', () => {
    const odd: unknown[] = [undefined, null, 0, -1.5, NaN, '', 'x y', [], [1, 'a'], {}, { a: [1] }, true, /re/];
    for (const [name, f] of Object.entries(EXPR_FUNCTIONS)) {
      for (const a of odd) for (const b of odd) assert.doesNotThrow(() => f.call(a, b, undefined), name);
    }
  });
});

// Random trees in the shape the parser produces (regexes only where the grammar allows them,
// no `-` applied directly to a number literal since the parser folds that into the literal).
const REGEXES = [/a+/, /^x$/i, /\d{2,}/m, /[/\]]/s, /é/u, /a\/b/];
const literalArb: fc.Arbitrary<ExprNode> = fc.oneof(
  fc.double({ noNaN: true }).map((value) => ({ type: 'literal' as const, value })),
  fc.integer({ min: -1000, max: 1000 }).map((value) => ({ type: 'literal' as const, value })),
  fc.string({ maxLength: 8 }).map((value) => ({ type: 'literal' as const, value })),
  fc.constantFrom(true, false, null).map((value) => ({ type: 'literal' as const, value })),
);
const segmentArb = fc.oneof(fc.constantFrom('a', 'b', 'seed', 'model-name', 'true', 'contains', '0', 'odd key', 'x.y'), fc.string({ maxLength: 5 }), fc.nat(20));
const pathArb: fc.Arbitrary<ExprNode> = fc.oneof(
  fc.constantFrom('$line' as const, '$bad' as const).map((special) => ({ type: 'path' as const, segments: [special], special })),
  fc
    .array(segmentArb, { minLength: 1, maxLength: 3 })
    .filter((s) => !(s.length === 1 && (s[0] === '$line' || s[0] === '$bad')))
    .map((segments) => ({ type: 'path' as const, segments })),
);
const regexArb: fc.Arbitrary<ExprNode> = fc.constantFrom(...REGEXES).map((regex) => ({ type: 'regex' as const, regex }));

const { tree } = fc.letrec<{ tree: ExprNode }>((tie) => {
  const sub = tie('tree');
  const fnNames = Object.keys(EXPR_FUNCTIONS).filter((n) => n !== 'matches');
  return {
    tree: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      literalArb,
      pathArb,
      sub.map((operand) => ({ type: 'not' as const, operand })),
      sub.filter((o) => !(o.type === 'literal' && typeof o.value === 'number')).map((operand) => ({ type: 'neg' as const, operand })),
      fc.tuple(fc.constantFrom('and' as const, 'or' as const), sub, sub).map(([type, left, right]) => ({ type, left, right })),
      fc.tuple(fc.constantFrom('==' as const, '!=' as const, '<' as const, '<=' as const, '>' as const, '>=' as const, 'contains' as const), sub, sub).map(([op, left, right]) => ({ type: 'compare' as const, op, left, right })),
      fc.tuple(sub, regexArb).map(([left, right]) => ({ type: 'compare' as const, op: '=~' as const, left, right })),
      fc.tuple(fc.constantFrom('+' as const, '-' as const, '*' as const, '/' as const, '%' as const), sub, sub).map(([op, left, right]) => ({ type: 'arith' as const, op, left, right })),
      fc.tuple(fc.constantFrom(...fnNames), fc.array(sub, { minLength: 3, maxLength: 3 })).map(([name, all]) => {
        const fn = EXPR_FUNCTIONS[name]!;
        return { type: 'call' as const, name, fn, args: all.slice(0, fn.minArgs) };
      }),
      fc.tuple(sub, regexArb).map(([a, re]) => ({ type: 'call' as const, name: 'matches', fn: EXPR_FUNCTIONS.matches!, args: [a, re] })),
    ),
  };
});

describe('expression language: properties', () => {
  it('parse(print(tree)) gives the same tree', () => {
    fc.assert(
      fc.property(tree, (t) => {
        const text = printExpr(t);
        assert.deepStrictEqual(parseExpr(text), t, text);
      }),
      { numRuns: 1500 },
    );
  });

  it('evaluation never throws, on any record, good or malformed line', () => {
    fc.assert(
      fc.property(tree, fc.oneof(fc.jsonValue(), fc.anything()), fc.nat(1000), fc.boolean(), (t, record, line, bad) => {
        evaluate(t, { record: bad ? undefined : record, line, bad });
        evaluateValue(t, { record, line, bad: false });
      }),
      { numRuns: 1500 },
    );
  });

  it('the viewer prefilter is sound for the merged grammar: a passing record always contains the needle', () => {
    const key = fc.constantFrom('a', 'b', 'seed', 'model-name', 'odd key', '0');
    const value = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('a', 'x', '', 'model-name', 3, -1, 0), fc.array(fc.constantFrom('a', 'x', 3)));
    const record = fc.dictionary(key, fc.oneof(value, fc.dictionary(key, value)));
    // Mostly `&&` chains of field tests (what the prefilter looks at), some random trees.
    const simplePath = fc.array(key, { minLength: 1, maxLength: 2 }).map((segments): ExprNode => ({ type: 'path', segments }));
    const small = fc.constantFrom<ExprNode>(...['a', 'x', '', 3, 0, null, true].map((value) => ({ type: 'literal' as const, value })));
    const atom = fc.oneof(
      simplePath,
      fc.tuple(fc.constantFrom('==' as const, '!=' as const, 'contains' as const, '<' as const, '>=' as const), simplePath, fc.oneof(small, simplePath)).map(([op, left, right]): ExprNode => ({ type: 'compare', op, left, right })),
      fc.tuple(simplePath, regexArb).map(([left, right]): ExprNode => ({ type: 'compare', op: '=~', left, right })),
      tree,
    );
    const chain = fc.array(atom, { minLength: 1, maxLength: 3 }).map((xs) => xs.reduce((left, right): ExprNode => ({ type: 'and', left, right })));
    assert.equal(filterNeedle(parseExpr('a == b')), undefined, 'both missing are equal: no key is required');
    assert.equal(filterNeedle(parseExpr('a == len(b)')), '"a"');
    let checked = 0;
    fc.assert(
      fc.property(chain, record, (t, r) => {
        const needle = filterNeedle(t);
        if (needle === undefined || !evaluate(t, { record: r, line: 1, bad: false })) return;
        checked++;
        assert.ok(JSON.stringify(r).includes(needle), `${printExpr(t)} passes ${JSON.stringify(r)} without ${needle}`);
      }),
      { numRuns: 3000 },
    );
    assert.ok(checked > 20, `only ${checked} cases had a needle and a passing record`);
  });

  it('any text either parses or fails with a column inside it (or just past its end)', () => {
    const alphabet = fc.constantFrom(...'ab1 .[]()"\'/\\!=<>&|+-*%,~$#_'.split(''), 'contains', 'len(', 'matches(', '=~', '/x/i');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.array(alphabet, { maxLength: 14 }).map((a) => a.join(''))), (s) => {
        try {
          parseExpr(s);
          return true;
        } catch (e) {
          return e instanceof ExprSyntaxError && e.column >= 1 && e.column <= s.length + 1;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('printing is stable: print(parse(text)) reparses to the same tree for any text that parses', () => {
    const alphabet = fc.constantFrom(...'ab1 .[]()!<>+-*%,$'.split(''), '"s"', '&&', '||', '==', ' contains ', 'len(', 'min(', '=~ /x/', '$line');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 14 }).map((a) => a.join('')), (s) => {
        let node: ExprNode;
        try {
          node = parseExpr(s);
        } catch {
          return;
        }
        assert.deepStrictEqual(parseExpr(printExpr(node)), node, s);
      }),
      { numRuns: 3000 },
    );
  });
});
