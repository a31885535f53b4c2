/**
 * Nemotron-CC rewriting as NeMo Curator does it. The cases of the first part are taken from the
 * reference's own tests (tests/test_cleaning.py: MarkdownRemover, QuotationRemover, LineRemover,
 * Slicer; tests/test_joiner.py: max_length joining; tests/synthetic/test_nemotron_cc.py: the
 * diverse-QA and knowledge-list post-processors, with its monkeypatched randomness: shuffle keeps
 * the order, randint returns its upper bound). The second part runs the built-in rewrite pipelines
 * against the loopback mock server.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { YamlSource } from '../../src/core/config/yamlSource';
import { createClient } from '../../src/core/llm/client';
import type { LlmClient } from '../../src/core/llm/types';
import {
  afterPrefix, diverseQaPostprocess, knowledgeListPostprocess, loadTokenizer, removeLines, removeMarkdown, removeQuotes,
  loadPipelineSource, renderMessages, resolveParameters, resolvePipeline, runPipeline, segmentDocument, templateStore, type QaRandom,
} from '../../src/core/pipeline';
import { startMockServer, type MockRequest, type MockServer } from '../support/mockServer';

/** The reference tests' patched randomness. */
const PATCHED: QaRandom = { shuffle: () => undefined, randint: (_lo, hi) => hi };

/** A tokenizer.json: words and punctuation are tokens (plus a BOS with encode), or every character is one. */
function writeTokenizer(dir: string, kind: 'words' | 'chars'): string {
  const file = join(dir, `${kind}-tokenizer.json`);
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 1, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: kind === 'words' ? { type: 'Whitespace' } : { type: 'Split', pattern: { Regex: '.' }, behavior: 'Isolated', invert: false },
    post_processor: kind === 'words'
      ? { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [{ Sequence: { id: 'A', type_id: 0 } }], special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } } }
      : null,
    decoder: null,
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: { '[UNK]': 0, '<s>': 1 } },
  };
  writeFileSync(file, JSON.stringify(json));
  return file;
}

describe('Nemotron-CC post-processing matches the reference', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-ncc-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('MarkdownRemover cases', () => {
    assert.equal(removeMarkdown('This is **bold** text.'), 'This is bold text.');
    assert.equal(removeMarkdown('This is *italic* text.'), 'This is italic text.');
    assert.equal(removeMarkdown('This is _underlined_ text.'), 'This is underlined text.');
    assert.equal(removeMarkdown('Link: [Google](https://google.com)'), 'Link: https://google.com');
    assert.equal(removeMarkdown('This is **bold**, *italic*, and _underline_, check [Example](https://example.com)'), 'This is bold, italic, and underline, check https://example.com');
    assert.equal(removeMarkdown('This is *italic text'), 'This is *italic text');
    assert.equal(removeMarkdown('This is **bold and *italic* inside** text.'), 'This is bold and italic inside text.');
    assert.equal(removeMarkdown('**Bold line**\n*Italic line*\n_Normal line_'), 'Bold line\nItalic line\nNormal line');
    assert.equal(removeMarkdown('**Bold****MoreBold**'), 'BoldMoreBold');
  });

  it('QuotationRemover cases', () => {
    assert.equal(removeQuotes('"Hello, World!"'), 'Hello, World!');
    assert.equal(removeQuotes('Hello, "World!"'), 'Hello, "World!"');
    assert.equal(removeQuotes('"Hello,\nWorld!"'), 'Hello,\nWorld!');
    assert.equal(removeQuotes('"Hello,"\nWorld!"'), '"Hello,"\nWorld!"');
    assert.equal(removeQuotes('""'), '""');
    assert.equal(removeQuotes('   "Test Message"   '), '   "Test Message"   ');
  });

  it('LineRemover cases, and the passage lines of extract_knowledge', () => {
    assert.equal(removeLines('Keep this\nRemove me\nAlso keep this\nRemove me', ['Remove me']), 'Keep this\nAlso keep this');
    const partial = 'Keep this line\nThis line contains Remove me as a part of it\nAnother line';
    assert.equal(removeLines(partial, ['Remove me']), partial);
    assert.equal(removeLines('', ['Remove me']), '');
    assert.equal(removeLines('Line one\nDelete\nLine two\nRemove\nLine three\nDelete', ['Delete', 'Remove']), 'Line one\nLine two\nLine three');
    assert.equal(removeLines('Remove me \nRemove me\n  Remove me', ['Remove me']), 'Remove me \n  Remove me');
  });

  it('SubstringFilter(prefix) + Slicer(left, exclusive, strip): the expected prefix is required and cut', () => {
    assert.equal(afterPrefix('XYZdef', 'XYZ'), 'def');
    assert.equal(afterPrefix('Here is a paraphrased version:\n  The text.  ', 'Here is a paraphrased version:'), 'The text.');
    assert.equal(afterPrefix('Sure! Here is a paraphrased version: The text.', 'Here is a paraphrased version:'), undefined, 'not at the start: dropped');
    assert.equal(afterPrefix('Paraphrased Text: A. Paraphrased Text: B', 'Paraphrased Text:'), 'A. Paraphrased Text: B');
  });

  it('DiverseQA post-processor cases (both layouts, prefix line, invalid answers)', () => {
    const resp = 'Here are the questions and answers based on the provided text:\n- Question: What is this?\nAnswer: It is a test.\n- Question: How does it work?\nAnswer: By magic.';
    assert.equal(diverseQaPostprocess('Document text', resp, { maxPairs: 2, random: PATCHED }),
      'Document text\n\nQuestion: What is this?\nAnswer: It is a test.\n\nQuestion: How does it work?\nAnswer: By magic.');
    // With a tokenizer: "Document text" is 2 tokens, max(1, int(2 * 2 / 150)) = 1 pair.
    const tok = loadTokenizer(writeTokenizer(dir, 'words'));
    assert.equal(tok.countPlain('Document text'), 2);
    assert.equal(diverseQaPostprocess('Document text', resp, { maxPairs: 2, tokenizer: tok, random: PATCHED }), 'Document text\n\nQuestion: What is this?\nAnswer: It is a test.');
    assert.equal(diverseQaPostprocess('Doc', 'Here are the questions and answers based on the provided text:\n- Answer: Missing question.', { maxPairs: 2, random: PATCHED }), '');
    assert.equal(diverseQaPostprocess('Doc', '', { maxPairs: 2, random: PATCHED }), '');
    const four = 'Here are the questions and answers based on the provided text:\n- Question: Q1?\nAnswer: A1.\n- Question: Q2?\nAnswer: A2.\n- Question: Q3?\nAnswer: A3.\n- Question: Q4?\nAnswer: A4.';
    assert.equal(diverseQaPostprocess('Document text', four, { maxPairs: 2, random: PATCHED }), 'Document text\n\nQuestion: Q1?\nAnswer: A1.\n\nQuestion: Q2?\nAnswer: A2.');
    assert.equal(diverseQaPostprocess('Document text', 'Here are the questions and answers based on the provided text:\n- This is a response without any question lines\n- Just some random text that doesn\'t start with Question:', { maxPairs: 2, random: PATCHED }), '');
    // The other layout: no bullets, answers as bullets.
    assert.equal(diverseQaPostprocess('D', 'Question: A?\n- Answer: a.', { maxPairs: 1, random: PATCHED }), 'D\n\nQuestion: A?\nAnswer: a.');
  });

  it('KnowledgeList post-processor cases (a preamble line is dropped)', () => {
    assert.equal(knowledgeListPostprocess('Not a bullet line to skip\n- Fact one: This is the first fact.\n  Continued fact one.\n- Fact two: This is the second fact.'),
      'Fact one: This is the first fact.\nContinued fact one.\nFact two: This is the second fact.');
    assert.equal(knowledgeListPostprocess('- Item one\n- Item two\n- Item three'), 'Item one\nItem two\nItem three');
    assert.equal(knowledgeListPostprocess('This is just plain text without any bullet.'), '');
    assert.equal(knowledgeListPostprocess('- Bullet one\nSome extra text\n  Indented line\n- Bullet two\n  Continuation of bullet two\nAnother standalone line'),
      'Bullet one\nSome extra text\nIndented line\nBullet two\nContinuation of bullet two\nAnother standalone line');
    assert.equal(knowledgeListPostprocess(''), '');
    assert.equal(knowledgeListPostprocess('Here are the key facts:\n- A\n- B'), 'A\nB');
  });

  it('segmenting: DocumentSplitter + token filters + DocumentJoiner(max_length) as the reference joins', () => {
    // One token per character: lengths are the joiner test's lengths.
    const chars = loadTokenizer(writeTokenizer(dir, 'chars'));
    const seg = (doc: string, max: number, min = 0, minDoc = 0) => segmentDocument(doc, { tokenizer: chars, separator: '-', maxSegmentTokens: max, minSegmentTokens: min, minDocumentTokens: minDoc });
    assert.deepEqual(seg('ab-cd-ef-gh', 5), [{ text: 'ab-cd', tokens: 5 }, { text: 'ef-gh', tokens: 5 }]);
    assert.deepEqual(seg('a-b', 5), [{ text: 'a-b', tokens: 3 }]);
    assert.deepEqual(seg('hello', 5), [{ text: 'hello', tokens: 5 }]);
    assert.deepEqual(seg('x-yz-0', 5), [{ text: 'x-yz', tokens: 4 }, { text: '0', tokens: 1 }]);
    // A piece longer than the limit is dropped before joining; short segments after joining are dropped.
    assert.deepEqual(seg('ab-toolong-cd', 5), [{ text: 'ab-cd', tokens: 5 }]);
    assert.deepEqual(seg('x-yz-0', 5, 2), [{ text: 'x-yz', tokens: 4 }]);
    // A document under min_document_tokens is dropped whole.
    assert.deepEqual(seg('ab-cd', 5, 0, 6), []);
  });

  it('join: the rows of a group in order_by order, written once the group is complete (DocumentJoiner)', async () => {
    const src = join(dir, 'parts.jsonl');
    const parts = [{ doc: 1, seg: 1, text: 'B1' }, { doc: 2, seg: 0, text: 'A2' }, { doc: 1, seg: 0, text: 'A1' }, { doc: 1, seg: 2, text: 'C1' }, { doc: 3, seg: 0, text: 'A3' }];
    writeFileSync(src, parts.map((p) => JSON.stringify(p)).join('\n') + '\n');
    const r0 = loadPipelineSource(YamlSource.fromText('join.yaml', `
name: j
stages:
  - name: parts
    kind: source
    documents: [${JSON.stringify(src)}]
    keep: [doc, seg]
  - name: joined
    kind: join
    group_by: doc
    order_by: seg
    field: document
    separator: " | "
`), { templates: templateStore() });
    assert.deepEqual(r0.errors, []);
    const r = await runPipeline({ def: r0.def!, params: {}, templates: templateStore(), outputDir: join(dir, 'join-run'), client: () => { throw new Error('no model'); } });
    assert.equal(r.status, 'completed', r.error ?? '');
    const out = readFileSync(r.output, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    // Group 2 is complete before group 1 (whose last row comes later): written in that order.
    assert.deepEqual(out.map((x) => [x.doc, x.document, x.joined_rows]), [[2, 'A2', 1], [1, 'A1 | B1 | C1', 3], [3, 'A3', 1]]);
  });

  it('a tokenizer that cannot be read is named', () => {
    assert.throws(() => loadTokenizer(join(dir, 'missing.json')), /tokenizer .*missing\.json: not found/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{not json');
    assert.throws(() => loadTokenizer(bad), /tokenizer .*bad\.json: not valid JSON/);
  });
});

describe('Nemotron-CC rewrite pipelines', function () {
  this.timeout(60_000);
  let server: MockServer;
  let client: LlmClient;
  let dir: string;
  let answer: (req: MockRequest) => string = () => '';
  before(async () => {
    server = await startMockServer({ respond: (req) => answer(req) });
    client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
  });
  after(async () => { await client.close(); await server.close(); });
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'sdg-ncc-run-')); server.resetStats(); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const docsFile = (docs: string[]) => {
    const f = join(dir, 'docs.jsonl');
    writeFileSync(f, docs.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    return f;
  };
  const rowsOf = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const userOf = (req: MockRequest) => req.messages!.find((m) => m.role === 'user')!.content;
  const run = (name: string, sets: Record<string, string>) => {
    const { def } = resolvePipeline(name);
    return runPipeline({ def, params: resolveParameters(def, sets), templates: templateStore(), outputDir: join(dir, 'run'), client: () => client, concurrency: 2 });
  };

  it('wikipedia: system prompt as a system message, the prefix required and cut, markdown and quotes removed, long documents split', async () => {
    const tok = writeTokenizer(dir, 'words');
    // Three paragraphs of 6 words; 6 words + BOS = 7 tokens each, at most 15 per segment: paragraphs 1+2 join, 3 stays alone.
    const para = (w: string) => `${w} ${w} ${w} ${w} ${w} ${w}`;
    const doc = [para('alpha'), para('beta'), para('gamma')].join('\n');
    answer = (req) => {
      const user = userOf(req);
      if (user.includes('gamma')) return 'Sure, here you go: no prefix at all.';
      return `Here is a paraphrased version:\n"An **encyclopedic** text about ${user.includes('alpha') ? 'alpha and beta' : 'something'}."`;
    };
    const r = await run('rewrite_wikipedia', {
      documents: docsFile([doc]), tokenizer: tok, max_segment_tokens: '15', min_segment_tokens: '1', min_document_tokens: '1', min_output_tokens: '1',
    });
    assert.equal(r.status, 'completed', r.error ?? '');
    const sent = server.requests.map((q) => q.body.messages);
    assert.equal(sent.length, 2, 'two segments rewritten');
    for (const m of sent) {
      assert.equal(m.length, 2);
      assert.equal(m[0].role, 'system');
      assert.ok(m[0].content.length > 20);
      assert.equal(m[1].role, 'user');
      assert.match(m[1].content, /Here is a paraphrased version:/, 'the prompt asks for the prefix');
    }
    assert.ok(sent.some((m: any) => m[1].content.includes(`${para('alpha')}\n${para('beta')}`)), 'paragraphs 1 and 2 joined into one segment');
    const out = rowsOf(r.output);
    assert.equal(out.length, 1, 'the answer without the prefix is dropped');
    assert.equal(out[0].text, 'An encyclopedic text about alpha and beta.');
    assert.equal(out[0].segments, 1, 'the segment whose answer was dropped is not joined in');
  });

  it('wikipedia: the segment budget is max_input_tokens minus the chat-templated prompt minus 2, as the reference computes it', async () => {
    // The tokenizer folder has a tokenizer_config.json with a chat template.
    const folder = join(dir, 'model');
    mkdirSync(folder);
    renameSync(writeTokenizer(dir, 'words'), join(folder, 'tokenizer.json'));
    const chatTemplate = "{% for m in messages %}{{ bos_token }}{{ m['role'] }}\n{{ m['content'] }}\n{% endfor %}";
    writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', chat_template: chatTemplate }));
    // The prompt counted by hand: the template's text around the messages, tokens as the Whitespace pre-tokenizer splits them.
    const messages = renderMessages(templateStore().get('rewrite/wikipedia'), { document: 'placeholder' });
    const rendered = messages.map((m) => `${m.role}\n${m.content}\n`).join('');
    const prefix = messages.length + (rendered.match(/\w+|[^\w\s]+/g) ?? []).length;
    const para = (w: string) => `${w} ${w} ${w} ${w} ${w} ${w}`;
    answer = () => 'Here is a paraphrased version:\nDone.';
    // A budget of 15 tokens per segment: paragraphs 1+2 (7 + 7 + 1) join, paragraph 3 stays alone.
    const r = await run('rewrite_wikipedia', {
      documents: docsFile([[para('alpha'), para('beta'), para('gamma')].join('\n')]), tokenizer: folder,
      max_input_tokens: String(prefix + 2 + 15), min_segment_tokens: '1', min_document_tokens: '1', min_output_tokens: '1',
    });
    assert.equal(r.status, 'completed', r.error ?? '');
    const segments = rowsOf(join(dir, 'run', 'stages', 'segments.jsonl'));
    assert.deepEqual(segments.map((x) => x.segment_tokens), [15, 7]);
    // The rewritten segments of the document are joined again (DocumentJoiner, separator "\n").
    assert.deepEqual(rowsOf(r.output).map((x) => [x.text, x.segments]), [['Done.\nDone.', 2]]);
    // One token less of budget and no two paragraphs fit together.
    rmSync(join(dir, 'run'), { recursive: true, force: true });
    const tight = await run('rewrite_wikipedia', {
      documents: docsFile([[para('alpha'), para('beta'), para('gamma')].join('\n')]), tokenizer: folder,
      max_input_tokens: String(prefix + 2 + 14), min_segment_tokens: '1', min_document_tokens: '1', min_output_tokens: '1',
    });
    assert.equal(tight.status, 'completed', tight.error ?? '');
    assert.deepEqual(rowsOf(join(dir, 'run', 'stages', 'segments.jsonl')).map((x) => x.segment_tokens), [7, 7, 7]);
    assert.deepEqual(rowsOf(tight.output).map((x) => x.segments), [3]);
  });

  it('distill uses its own system prompt and the "Paraphrased Text:" prefix; extract_knowledge drops passage lines', async () => {
    const text = 'Water boils at one hundred degrees at sea level, and lower on mountains.';
    answer = (req) => (/Paraphrased Text:/.test(userOf(req)) ? 'Paraphrased Text: *Water* boils at 100 C at sea level.' : 'Passage 1:\nWater boils at **100 C** at sea level.\nPassage 2:\nIt boils lower at altitude.');
    const d = await run('rewrite_distill', { documents: docsFile([text]) });
    assert.equal(d.status, 'completed', d.error ?? '');
    assert.deepEqual(rowsOf(d.output).map((x) => x.text), ['Water boils at 100 C at sea level.']);
    const distillSystem = server.requests[0]!.body.messages[0];
    rmSync(join(dir, 'run'), { recursive: true, force: true });
    server.resetStats();
    const e = await run('rewrite_extract_knowledge', { documents: docsFile([text]) });
    assert.equal(e.status, 'completed', e.error ?? '');
    assert.deepEqual(rowsOf(e.output).map((x) => x.text), ['Water boils at 100 C at sea level.\nIt boils lower at altitude.']);
    const otherSystem = server.requests[0]!.body.messages[0];
    assert.equal(distillSystem.role, 'system');
    assert.equal(otherSystem.role, 'system');
    assert.notEqual(distillSystem.content, otherSystem.content, 'distill has its own system prompt, as in the reference');
  });

  it('diverse_qa and knowledge_list: the reference post-processors, token filters with the named tokenizer', async () => {
    const tok = writeTokenizer(dir, 'words');
    const text = 'Tides rise and fall twice a day because of the moon.';
    answer = (req) => (/question-answer pairs/.test(userOf(req))
      ? 'Here are the questions and answers based on the provided text:\n- Question: What causes tides?\nAnswer: The **moon**.\n- Question: How often?\nAnswer: Twice a day.'
      : 'Here are the key facts:\n- Tides rise and fall twice a day.\n- The moon causes them.');
    const small = { min_document_tokens: '1', min_segment_tokens: '1', min_output_tokens: '1' };
    const q = await run('rewrite_diverse_qa', { documents: docsFile([text]), tokenizer: tok, max_pairs: '1', ...small });
    assert.equal(q.status, 'completed', q.error ?? '');
    const qa = rowsOf(q.output);
    assert.equal(qa.length, 1);
    // 12 words/punctuation tokens: max(1, int(1 * 12 / 150)) = 1 pair, after the document.
    assert.match(qa[0].text, /^Tides rise and fall twice a day because of the moon\.\n\nQuestion: (What causes tides\?\nAnswer: The moon\.|How often\?\nAnswer: Twice a day\.)$/);
    rmSync(join(dir, 'run'), { recursive: true, force: true });
    const k = await run('rewrite_knowledge_list', { documents: docsFile([text]), tokenizer: tok, ...small });
    assert.equal(k.status, 'completed', k.error ?? '');
    assert.deepEqual(rowsOf(k.output).map((x) => x.text), ['Tides rise and fall twice a day.\nThe moon causes them.']);
    // The output token filter drops what is too short with the named tokenizer.
    rmSync(join(dir, 'run'), { recursive: true, force: true });
    const short = await run('rewrite_knowledge_list', { documents: docsFile([text]), tokenizer: tok, ...small, min_output_tokens: '50' });
    assert.equal(short.status, 'completed', short.error ?? '');
    assert.equal(rowsOf(short.output).length, 0);
  });
});
