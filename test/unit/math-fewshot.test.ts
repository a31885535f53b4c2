/**
 * The built-in few-shot sets (prompts/few_shot/*.yaml) checked with the graders: every worked
 * solution must show its expected answer (and end in it when it marks a final answer), and every
 * masked solution must hide it, or the examples would teach the model the wrong thing.
 */
import * as assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { extractAnswer } from '../../src/core/math/extract';
import { isEquivalent } from '../../src/core/math/equivalence';
import { revealsAnswer } from '../../src/core/math/masked';

const DIR = join(__dirname, '..', '..', 'prompts', 'few_shot');

interface Example { problem?: string; solution?: string; masked_solution?: string; expected_answer?: unknown }

describe('math: built-in few-shot examples agree with the graders', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  it('finds the few-shot sets', () => assert.ok(files.length > 0, `no few-shot sets in ${DIR}`));
  for (const file of files) {
    it(file, () => {
      const doc = parse(readFileSync(join(DIR, file), 'utf8')) as { examples?: Example[] };
      const examples = doc.examples ?? [];
      examples.forEach((e, i) => {
        if (e.expected_answer === undefined || e.expected_answer === null) return;
        const expected = String(e.expected_answer);
        if (e.solution) {
          // Worked solutions show the answer; when they mark a final answer (box, ####), it is the expected one.
          assert.equal(revealsAnswer(e.solution, expected), true, `${file} example ${i + 1}: the solution never shows the answer ${expected}`);
          const got = extractAnswer(e.solution);
          if (got !== null) assert.ok(isEquivalent(got, expected), `${file} example ${i + 1}: the solution ends in ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
        }
        if (e.masked_solution) {
          assert.equal(revealsAnswer(e.masked_solution, expected), false, `${file} example ${i + 1}: the masked solution shows the answer ${expected}`);
        }
      });
    });
  }
});
