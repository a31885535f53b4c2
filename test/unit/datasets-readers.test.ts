import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  detectFileFormat, extractLastBoxed, parseFieldMapping, parseGsm8kAnswer, readDataset, stripCalculatorAnnotations, type DatasetRow,
} from '../../src/core/datasets';
import { datasetFile } from '../support/datasets';

/** The real datasets the repository carries (datasets/). */
const dataset = datasetFile;

async function collect(file: string, opts: Parameters<typeof readDataset>[1] = {}): Promise<DatasetRow[]> {
  const out: DatasetRow[] = [];
  for await (const r of readDataset(file, opts)) out.push(r);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), 'sdg-datasets-'));
function file(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('datasets: field helpers', () => {
  it('splits GSM8K answers, strips calculator annotations and thousands separators', () => {
    const r = parseGsm8kAnswer('He pays 2*3 = <<2*3=6>>6 dollars.\nThen 6+1 = <<6+1=7>>7.\n#### 1,450,000');
    assert.deepEqual(r, { solution: 'He pays 2*3 = 6 dollars.\nThen 6+1 = 7.', expected: '1450000' });
    assert.equal(parseGsm8kAnswer('no marker'), null);
    assert.equal(stripCalculatorAnnotations('a <<1+1=2>>2 b'), 'a 2 b');
  });

  it('extracts the last \\boxed{} with nested braces', () => {
    assert.equal(extractLastBoxed('so $\\boxed{1}$ or rather $\\boxed{\\frac{a^{2}}{b}}$.'), '\\frac{a^{2}}{b}');
    assert.equal(extractLastBoxed('x = \\boxed {\\left( 3, \\frac{\\pi}{2} \\right)}'), '\\left( 3, \\frac{\\pi}{2} \\right)');
    assert.equal(extractLastBoxed('answer \\boxed 5$'), '5');
    assert.equal(extractLastBoxed('\\fbox{7}'), '7');
    assert.equal(extractLastBoxed('\\boxed{unclosed'), null);
    assert.equal(extractLastBoxed('nothing'), null);
  });

  it('parses --field mappings and rejects unknown names', () => {
    assert.deepEqual(parseFieldMapping(['problem=question', 'expected_answer=label']), { problem: 'question', expected_answer: 'label' });
    assert.throws(() => parseFieldMapping(['answer=label']), /unknown field "answer"; use one of problem, expected_answer/);
    assert.throws(() => parseFieldMapping(['problem']), /expected NAME=INPUT_KEY/);
  });
});

describe('datasets: real files', () => {
  it('reads all of GSM8K test with stable indices and numeric answers', async () => {
    const rows = await collect(dataset('gsm8k/test.jsonl'));
    assert.equal(rows.length, 1319);
    rows.forEach((r, i) => {
      assert.equal(r.input_index, i);
      assert.equal(r.line, i + 1);
      assert.match(r.expected_answer!, /^-?\d+(\.\d+)?$/, `row ${i}: ${r.expected_answer}`);
      assert.ok(!r.reference_solution!.includes('<<'), `row ${i} keeps a calculator annotation`);
      assert.ok(!r.reference_solution!.includes('####'));
      assert.equal(r.problem, r.fields.question);
    });
    assert.equal(rows[0]!.expected_answer, '18');
    assert.equal(rows[0]!.reference_solution, 'Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day at the farmer’s market.');
  });

  it('detects formats from the first row', async () => {
    assert.equal(await detectFileFormat(dataset('gsm8k/train.jsonl')), 'gsm8k');
    assert.equal(await detectFileFormat(dataset('math500/test.jsonl')), 'math');
  });

  it('reads MATH-500 with answers, and extracts \\boxed{} when the answer field is absent', async () => {
    const rows = await collect(dataset('math500/test.jsonl'));
    assert.equal(rows.length, 500);
    assert.equal(rows[0]!.expected_answer, '\\left( 3, \\frac{\\pi}{2} \\right)');
    assert.equal(rows[0]!.fields.unique_id, 'test/precalculus/807.json');
    // Without `answer`, the last \boxed{} of the solution must give the same answer for nearly all rows
    // (a few MATH-500 answers are written differently from their boxed text).
    let same = 0;
    const stripped = rows.map((r) => JSON.stringify({ problem: r.fields.problem, solution: r.fields.solution }));
    const f = file('math-no-answer.jsonl', stripped.join('\n') + '\n');
    const extracted = await collect(f, { format: 'math' });
    extracted.forEach((r, i) => { if (r.expected_answer === rows[i]!.expected_answer) same++; });
    assert.ok(same >= 480, `only ${same}/500 boxed answers match the answer field`);
  });

  it('honours --limit', async () => {
    const rows = await collect(dataset('gsm8k/test.jsonl'), { limit: 7 });
    assert.deepEqual(rows.map((r) => r.input_index), [0, 1, 2, 3, 4, 5, 6]);
  });
});

describe('datasets: jsonl with field mappings and errors', () => {
  it('maps fields and keeps the original record', async () => {
    const f = file('custom.jsonl', '{"q":"What is 1+1?","label":2,"id":"a"}\n\n{"q":"What is 2+2?","label":4,"id":"b"}\n');
    const rows = await collect(f, { fields: { problem: 'q', expected_answer: 'label' } });
    assert.equal(rows.length, 2);
    assert.deepEqual(rows.map((r) => [r.input_index, r.line, r.problem, r.expected_answer, r.fields.id]), [[0, 1, 'What is 1+1?', '2', 'a'], [1, 3, 'What is 2+2?', '4', 'b']]);
  });

  it('uses default keys for generic jsonl (e.g. a masked dataset)', async () => {
    const f = file('masked.jsonl', '{"problem":"P","expected_answer":"3","masked_solution":"M then N"}\n');
    const [row] = await collect(f);
    assert.equal(row!.masked_solution, 'M then N');
    assert.equal(row!.expected_answer, '3');
  });

  it('lists the keys found when no format fits', async () => {
    const f = file('odd.jsonl', '{"text":"hi","label":1}\n');
    await assert.rejects(collect(f), (e: Error) => /odd\.jsonl:1: cannot tell the dataset format.*keys found: "text", "label"/.test(e.message));
  });

  it('names file and line for invalid JSON, non-objects and missing fields', async () => {
    const bad = file('bad.jsonl', '{"question":"a","answer":"x\\n#### 1"}\n{"question": oops}\n');
    await assert.rejects(collect(bad), /bad\.jsonl:2: invalid JSON/);
    const arr = file('arr.jsonl', '{"problem":"a"}\n[1,2]\n');
    await assert.rejects(collect(arr), /arr\.jsonl:2: expected a JSON object, found an array/);
    const noMarker = file('nomark.jsonl', '{"question":"a","answer":"x\\n#### 1"}\n{"question":"b","answer":"no marker"}\n');
    await assert.rejects(collect(noMarker, { format: 'gsm8k' }), /nomark\.jsonl:2: gsm8k "answer" has no "#### <number>" line/);
    const unmapped = file('unmapped.jsonl', '{"q":"a"}\n');
    await assert.rejects(collect(unmapped, { fields: { problem: 'q', expected_answer: 'label' } }), /unmapped\.jsonl:1: mapped field expected_answer=label: the record has no "label"; keys found: "q"/);
    await assert.rejects(collect(join(tmp, 'absent.jsonl')), /absent\.jsonl: file not found/);
    await assert.rejects(collect(tmp), /: is a folder, not a JSONL file/);
  });
});
