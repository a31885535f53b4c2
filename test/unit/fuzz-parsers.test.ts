/**
 * Property-based tests (fast-check) of the parsers that see model output and user files: the
 * template renderer, the list parser, the answer extractor. Each must never throw anything but its
 * own error type on any input, and must get the structured cases right.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { TemplateError, placeholders, renderTemplate } from '../../src/core/prompts/template';
import { ListConversionError, checkList, cleanElement, parseListLocally, parseYamlList, stripCodeFence } from '../../src/core/pipeline/listParse';
import { allBoxed, extractAnswer, extractBoxed, extractGsm8k, EXTRACT_MODES } from '../../src/core/math/extract';

const RUNS = 3000;
const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
/** Text without braces (so it cannot form placeholders by itself). */
const literal = fc.string({ maxLength: 30 }).map((s) => s.replace(/[{}]/g, ''));
const anyText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 100 }), fc.constantFrom('{{', '}}', '{{{{', '{{ a }}', '\\boxed{', '####', '```yaml\n- a\n```'));

describe('fuzz: template renderer', () => {
  it('any template with any values renders or throws a TemplateError', () => {
    fc.assert(fc.property(anyText, fc.dictionary(name, fc.anything()), (t, values) => {
      try {
        assert.equal(typeof renderTemplate(t, values), 'string');
      } catch (e) {
        assert.ok(e instanceof TemplateError, String(e));
      }
    }), { numRuns: RUNS });
  });

  it('placeholders are replaced by their values, values are never expanded again', () => {
    fc.assert(fc.property(fc.array(fc.tuple(literal, name), { maxLength: 8 }), literal, fc.string({ maxLength: 40 }), (parts, tail, evil) => {
      const values: Record<string, string> = {};
      let template = '';
      let expected = '';
      for (const [lit, n] of parts) {
        // A value that itself looks like a placeholder of another name: must come out verbatim.
        values[n] = `${evil}{{${n}_x}}`;
        template += `${lit}{{${n}}}`;
      }
      for (const [lit, n] of parts) expected += `${lit}${values[n]}`;
      template += tail;
      expected += tail;
      assert.equal(renderTemplate(template, values), expected);
      assert.deepEqual(placeholders(template), [...new Set(parts.map(([, n]) => n))]);
    }), { numRuns: RUNS });
  });

  it('missing values are all named in one TemplateError; {{{{ is a literal {{', () => {
    fc.assert(fc.property(fc.uniqueArray(name, { minLength: 1, maxLength: 5 }), literal, (names, lit) => {
      const t = names.map((n) => `${lit}{{ ${n} }}`).join('') + '{{{{';
      try {
        renderTemplate(t, {});
        assert.fail('rendered with missing values');
      } catch (e) {
        assert.ok(e instanceof TemplateError);
        assert.deepEqual([...e.missing].sort(), [...names].sort());
      }
      assert.ok(renderTemplate(t, Object.fromEntries(names.map((n) => [n, 0]))).endsWith('{{'));
    }), { numRuns: RUNS });
  });
});

describe('fuzz: list parser', () => {
  it('never throws on any model output; checkList throws only ListConversionError', () => {
    fc.assert(fc.property(anyText, fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined }), fc.boolean(), (text, count, trim) => {
      const a = parseListLocally(text);
      const b = parseYamlList(text);
      stripCodeFence(text);
      cleanElement(text);
      for (const list of [a, b]) {
        if (list === undefined) continue;
        assert.ok(Array.isArray(list) && list.every((x) => typeof x === 'string'));
        try {
          const out = checkList(list, text, { expectedCount: count, trim });
          if (count !== undefined) assert.equal(out.length, count);
        } catch (e) {
          assert.ok(e instanceof ListConversionError, String(e));
        }
      }
    }), { numRuns: RUNS });
  });

  it('numbered, bulleted and JSON lists of plain items come back exactly', () => {
    const item = fc.stringMatching(/^[A-Za-z][A-Za-z0-9 ,'-]{0,30}[A-Za-z0-9]$/);
    fc.assert(fc.property(fc.array(item, { minLength: 1, maxLength: 12 }), fc.constantFrom('numbered', 'dash', 'star', 'json'), (items, style) => {
      const text = style === 'json' ? JSON.stringify(items)
        : items.map((x, i) => (style === 'numbered' ? `${i + 1}. ${x}` : style === 'dash' ? `- ${x}` : `* ${x}`)).join('\n');
      assert.deepEqual(parseListLocally(text), items);
      assert.deepEqual(checkList(items, text, { expectedCount: items.length }), items);
    }), { numRuns: RUNS });
  });
});

describe('fuzz: answer extractor', () => {
  it('never throws and returns a string or null, in every mode', () => {
    fc.assert(fc.property(anyText, fc.constantFrom(...EXTRACT_MODES), (text, mode) => {
      const r = mode === 'regex' ? extractAnswer(text, { mode, regex: /answer: (\S+)/ }) : extractAnswer(text, { mode });
      assert.ok(r === null || typeof r === 'string');
      allBoxed(text);
    }), { numRuns: RUNS });
  });

  it('the last \\boxed{...} wins, with nested braces kept', () => {
    const inner = fc.array(fc.oneof(fc.stringMatching(/^[0-9a-z+\-*^ ]{1,6}$/), fc.stringMatching(/^[0-9a-z]{1,4}$/).map((s) => `\\frac{${s}}{2}`)), { minLength: 1, maxLength: 4 }).map((xs) => xs.join('')).filter((s) => s.trim() !== '');
    fc.assert(fc.property(literal.map((s) => s.replace(/\\/g, '')), inner, inner, (prefix, first, last) => {
      const text = `${prefix} so \\boxed{${first}} hence $\\boxed{${last}}$.`;
      assert.equal(extractBoxed(text), last.trim());
    }), { numRuns: RUNS });
  });

  it('GSM8K "#### n": the text after the last #### on its line, as written', () => {
    fc.assert(fc.property(fc.integer({ min: -1e9, max: 1e9 }), literal.map((s) => s.replace(/#/g, '')), literal.map((s) => s.replace(/[#\n]/g, '')), (n, prefix, after) => {
      const shown = n.toLocaleString('en-US');
      assert.equal(extractGsm8k(`${prefix}\n#### ${shown}\n${after}`), shown);
    }), { numRuns: RUNS });
  });
});
