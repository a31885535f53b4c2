/**
 * Bad input: broken pipelines and templates, and datasets that are not clean JSONL. Each must give
 * a clear error naming the file (and line / field where there is one) or, for readers that keep
 * going (the JSONL reader, the viewer), mark the bad lines and keep every good one. Nothing may
 * crash or hang; every input tried is listed in the report with what the product said.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDataset } from '../../src/core/datasets';
import { readJsonl } from '../../src/core/io/jsonl';
import { loadTemplateFile, validatePipelineFile, validatePipelineText } from '../../src/core/pipeline';
import { JsonlFile } from '../../src/core/viewer';
import { describeSection, record } from './report';

const SECTION_YAML = 'Bad pipelines and templates';
const SECTION_DATA = 'Bad datasets (JSONL reader, viewer, sdg generate input)';

const GOOD_STAGES = `stages:
  - name: topics
    kind: generate
    template: closed_qa/questions
    vars: { count: 3, document: some text }
`;

describe('reliability: bad input', function () {
  this.timeout(120_000);
  let dir: string;
  let ws: string;
  let yamlTried = 0;
  let dataTried = 0;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-input-'));
    ws = join(dir, 'prompts');
    mkdirSync(join(ws, 'pipelines'), { recursive: true });
    mkdirSync(join(ws, 'templates', 'custom'), { recursive: true });
    describeSection(SECTION_YAML, 'Each file is validated the way `sdg pipelines --validate` and the extension\'s Problems view do ' +
      '(core validators). The message shown is recorded.');
    describeSection(SECTION_DATA, 'Each file goes through the engine\'s JSONL reader (readJsonl: keeps going, reports bad lines), ' +
      'the viewer\'s index (JsonlFile: shows good lines, marks bad ones) and the dataset reader of `sdg generate` (stops at ' +
      'the first bad line with FILE:LINE).');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  function pipeline(name: string, text: string): { file: string; errors: ReturnType<typeof validatePipelineFile> } {
    const file = join(ws, 'pipelines', `${name}.yaml`);
    writeFileSync(file, text);
    yamlTried++;
    const errors = validatePipelineFile(file, ws);
    const first = errors[0];
    record(SECTION_YAML, name, first ? `${first.file.replace(dir, '')}${first.line ? ':' + first.line : ''}${first.field ? ' ' + first.field : ''}: ${first.message}`.slice(0, 260) : 'no error');
    return { file, errors };
  }

  it('YAML syntax error: file and line', () => {
    const { errors } = pipeline('syntax-error', `name: broken\nstages:\n  - name: a\n    kind: generate\n     template: x\n`);
    assert.ok(errors.length > 0);
    assert.ok(errors[0].file.endsWith('syntax-error.yaml'));
    assert.ok(errors[0].line !== undefined && errors[0].line >= 4 && errors[0].line <= 5, JSON.stringify(errors[0]));
  });

  it('unknown keys: file, line and field', () => {
    const { errors } = pipeline('unknown-key', `name: unknown_key\n${GOOD_STAGES}    temprature: 0.7\n`);
    assert.ok(errors.some((e) => e.line === 7 && /temprature/.test(`${e.field} ${e.message}`)), JSON.stringify(errors));
    const top = pipeline('unknown-top-key', `name: unknown_top\nstagez: []\n`);
    assert.ok(top.errors.some((e) => e.line === 2 && /stagez/.test(`${e.field} ${e.message}`)), JSON.stringify(top.errors));
  });

  it('a template placeholder no stage provides, and a template that does not exist', () => {
    writeFileSync(join(ws, 'templates', 'custom', 'needs.yaml'), 'prompt: "Write about {{subject}} for {{audience}}."\n');
    const { errors } = pipeline('missing-placeholder', `name: missing_placeholder\nstages:\n  - name: a\n    kind: generate\n    template: custom/needs\n    vars: { subject: cats }\n`);
    assert.ok(errors.some((e) => /audience/.test(e.message) && e.line !== undefined), JSON.stringify(errors));
    const missing = pipeline('missing-template', `name: missing_template\nstages:\n  - name: a\n    kind: generate\n    template: custom/nope\n`);
    assert.ok(missing.errors.some((e) => /custom\/nope/.test(e.message) && e.line === 5), JSON.stringify(missing.errors));
  });

  it('recursive YAML aliases (billion laughs) are refused quickly, without blowing up memory', () => {
    let text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 1; i <= 9; i++) text += `a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]\n`;
    text += `name: laughs\nstages: *a9\n`;
    const heapBefore = process.memoryUsage().heapUsed;
    const { errors } = pipeline('billion-laughs', text);
    const grown = process.memoryUsage().heapUsed - heapBefore;
    record(SECTION_YAML, 'billion-laughs: heap growth', `${(grown / 2 ** 20).toFixed(1)} MiB`);
    assert.ok(errors.length > 0);
    assert.ok(grown < 200 * 2 ** 20);
    // The same through the text validator (an unsaved editor buffer).
    assert.ok(validatePipelineText(text, join(ws, 'pipelines', 'buffer.yaml'), ws).length > 0);
  });

  it('huge files are refused with their size', () => {
    const { errors } = pipeline('huge', `name: huge\ndescription: "${'x'.repeat(5 * 2 ** 20)}"\n${GOOD_STAGES}`);
    assert.ok(errors.some((e) => /bytes/.test(e.message)), JSON.stringify(errors).slice(0, 300));
  });

  it('a pipeline file that is not a mapping, an empty file, binary bytes', () => {
    assert.ok(pipeline('a-list', '- just\n- a list\n').errors.length > 0);
    assert.ok(pipeline('empty', '').errors.length > 0);
    assert.ok(pipeline('binary', '\u0000\u0001\u0002PK\u0003\u0004\uFFFD').errors.length > 0);
  });

  it('bad template files: syntax error, unknown key, missing prompt', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['template-syntax', 'prompt: "unclosed\n  system: [\n', /./],
      ['template-unknown-key', 'prompt: hi {{x}}\nsytem: be brief\n', /sytem/],
      ['template-no-prompt', 'system: be brief\n', /prompt/],
    ];
    for (const [name, text, re] of cases) {
      const file = join(ws, 'templates', 'custom', `${name}.yaml`);
      writeFileSync(file, text);
      yamlTried++;
      let msg = 'no error';
      try { loadTemplateFile(file, `custom/${name}`); } catch (e) { msg = (e as Error).message; }
      record(SECTION_YAML, name, msg.replace(dir, '').slice(0, 260));
      assert.match(msg, re);
      assert.ok(msg.includes(`${name}.yaml`), msg);
    }
  });

  // ---- datasets --------------------------------------------------------------------------------

  async function dataset(name: string, content: string | Buffer, good: number, badLines: number[]) {
    const file = join(dir, `${name}.jsonl`);
    writeFileSync(file, content);
    dataTried++;
    // 1. engine reader: never throws; good and bad lines counted.
    let ok = 0;
    const bad: number[] = [];
    for await (const r of readJsonl(file)) {
      if (r.error) bad.push(r.line); else ok++;
    }
    // 2. viewer: indexes everything, shows good lines, marks bad ones.
    const f = await JsonlFile.open(file);
    let stats;
    try {
      await f.indexAll();
      await f.analyzeAll();
      stats = f.stats();
    } finally {
      await f.close();
    }
    // 3. sdg generate's input reader: a clear error naming the file and line, or rows.
    let genMsg = '';
    let rows = 0;
    try {
      for await (const _ of readDataset(file, { format: 'jsonl', fields: { problem: 'q' } })) rows++;
      genMsg = `${rows} problems read`;
    } catch (e) {
      genMsg = (e as Error).message.replace(dir, '');
    }
    record(SECTION_DATA, name, `reader: ${ok} good, bad lines [${bad.join(', ')}]; viewer: ${stats.records} records, ` +
      `malformed lines [${stats.malformedLines.map((l) => l + 1).join(', ')}]${stats.warning ? ` (${stats.warning})` : ''}; ` +
      `generate: ${genMsg.slice(0, 160)}`);
    assert.equal(ok, good, `reader good lines in ${name}`);
    assert.deepEqual(bad, badLines, `reader bad lines in ${name}`);
    assert.equal(stats.records, good, `viewer records in ${name}`);
    assert.deepEqual(stats.malformedLines.map((l) => l + 1), badLines, `viewer malformed lines in ${name}`);
    return { genMsg, rows };
  }

  it('malformed JSON lines: good lines kept, bad ones named by line', async () => {
    const { genMsg } = await dataset('malformed', '{"q":"a"}\n{"q": \n{"q":"b"}\nnot json at all\n{"q":"c"}\n', 3, [2, 4]);
    assert.match(genMsg, /malformed\.jsonl:2: invalid JSON/);
  });

  it('a BOM and CRLF line ends are accepted', async () => {
    const { rows } = await dataset('bom-crlf', '\uFEFF{"q":"a"}\r\n{"q":"b"}\r\n{"q":"c"}\r\n', 3, []);
    assert.equal(rows, 3);
  });

  it('a 50 MB single line', async () => {
    const big = JSON.stringify({ q: 'x'.repeat(50 * 2 ** 20) });
    const { rows } = await dataset('single-50mb-line', `${big}\n{"q":"after"}\n`, 2, []);
    assert.equal(rows, 2);
  });

  it('invalid UTF-8: the engine reader reports the line; every other line is kept everywhere', async () => {
    const content = Buffer.concat([Buffer.from('{"q":"a"}\n{"q":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}\n{"q":"c"}\n')]);
    const file = join(dir, 'invalid-utf8.jsonl');
    writeFileSync(file, content);
    dataTried++;
    const reader = [];
    for await (const r of readJsonl(file)) reader.push(r);
    const f = await JsonlFile.open(file);
    let viewer;
    try {
      await f.indexAll();
      await f.analyzeAll();
      viewer = await f.rows(0, 10, ['q']);
    } finally {
      await f.close();
    }
    let genError = '';
    try {
      for await (const _row of readDataset(file, { format: 'jsonl', fields: { problem: 'q' } })) void _row;
    } catch (e) {
      genError = (e as Error).message;
    }
    record(SECTION_DATA, 'invalid-utf8', `reader: line 2 error "${reader[1].error}"; viewer: ${viewer.map((r) => r.status).join(', ')} ` +
      `(line 2 marked bad, shown with replacement characters); generate: "${genError}"`);
    assert.equal(reader.filter((r) => r.error).length, 1);
    assert.equal(reader[1].line, 2);
    assert.match(String(reader[1].error), /UTF-8/);
    assert.equal(viewer.length, 3);
    assert.equal(viewer[0].status, 'ok');
    assert.equal(viewer[1].status, 'bad');
    assert.equal(viewer[2].status, 'ok');
    // sdg generate refuses the dataset with the file and line, before any request.
    assert.match(genError, /invalid-utf8\.jsonl:2: invalid UTF-8/);
  });

  it('an empty file', async () => {
    const { genMsg, rows } = await dataset('empty', '', 0, []);
    assert.equal(rows, 0, genMsg);
  });

  it('a file that is not JSONL (CSV, binary)', async () => {
    const csv = await dataset('csv', 'q,answer\nwhat is 1+1,2\nwhat is 2+2,4\n', 0, [1, 2, 3]);
    assert.match(csv.genMsg, /csv\.jsonl:1: invalid JSON/);
    const bin = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x0a, 0x00, 0xff, 0x10, 0x0a]);
    const b = await dataset('gzip-bytes', bin, 0, [1, 2]);
    assert.match(b.genMsg, /gzip-bytes\.jsonl:1: /);
  });

  after(() => {
    record(SECTION_YAML, 'inputs tried', yamlTried);
    record(SECTION_DATA, 'inputs tried', dataTried);
  });
});
