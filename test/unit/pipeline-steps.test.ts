import { strict as assert } from 'node:assert';
import { createClient } from '../../src/core/llm/client';
import type { LlmClient } from '../../src/core/llm/types';
import {
  classifyMathEntity, classifyPythonEntity, convertResponseToList, generateClosedQa, generateCodingProblems, generateDialogue,
  generateMacroTopics, generateMathProblems, generateOpenQaFromTopic, generateSubtopics, generateTwoTurnPrompt,
  generateWritingTasks, reviseOpenQa, reviseWritingTasks, rewriteDocument, parseYesNo, validatePipelineText,
  parseQaPairs, selectQaPairs, stripBullets,
} from '../../src/core/pipeline';
import { startMockServer, type MockServer } from '../support/mockServer';
import { fakeModel, lastUser } from '../fixtures/pipelines/fakeModel';

describe('pipeline step functions', () => {
  let server: MockServer;
  let client: LlmClient;
  const prompts: string[] = [];
  before(async () => {
    server = await startMockServer({ respond: (req) => { prompts.push(lastUser(req)); return fakeModel({ notMath: (e) => e === 'Poetry' })(req); } });
    client = createClient({ name: 'default', baseUrl: server.url, model: 'mock-model', apiKind: 'chat' });
  });
  after(async () => { await client.close(); await server.close(); });

  it('each step renders its template, returns every choice, and accepts a template override', async () => {
    const [topics] = await generateMacroTopics(client, { count: 3 });
    assert.deepEqual((await convertResponseToList(client, topics!, { expectedCount: 3 })).items.length, 3);
    assert.equal((await generateSubtopics(client, { topic: 'Cooking', count: 2, params: { n: 2 } })).length, 2);
    await generateOpenQaFromTopic(client, { topic: 'Cooking', count: 2 });
    await reviseOpenQa(client, { question: 'How do I boil an egg?', count: 2 });
    await generateWritingTasks(client, { topic: 'Rain', materialType: 'Haiku', count: 2 });
    await reviseWritingTasks(client, { task: 'Write a haiku about rain.', count: 2 });
    await generateClosedQa(client, { document: 'Cats sleep a lot.', count: 2 });
    await generateMathProblems(client, { topic: 'Fractions', count: 2, level: 'beginner' });
    await generateCodingProblems(client, { topic: 'Iterators', count: 2, language: 'Go', level: 'advanced' });
    await rewriteDocument(client, { document: 'Some text.', style: 'wikipedia' });
    for (const p of ['broad topics', 'subtopics of this topic', 'about "Cooking"', 'How do I boil an egg?', 'write Haiku', 'Write a haiku about rain.', 'Cats sleep a lot.', 'beginner who has just learned "Fractions"', 'Go programming problems about "Iterators"', 'encyclopedia article']) {
      assert.ok(prompts.some((x) => x.includes(p)), `no prompt with ${p}`);
    }
    const [custom] = await generateMacroTopics(client, { count: 4, template: 'List {{count}} rivers as a numbered list.' });
    assert.ok(prompts.at(-1)!.startsWith('List 4 rivers'));
    assert.match(custom!, /^Here you go/);
  });

  it('entity classification returns booleans', async () => {
    assert.equal(await classifyMathEntity(client, { entity: 'Algebra' }), true);
    assert.equal(await classifyMathEntity(client, { entity: 'Poetry' }), false);
    assert.equal(await classifyPythonEntity(client, { entity: 'Decorators' }), true);
    assert.equal(parseYesNo('**Yes.**'), 'yes');
    assert.equal(parseYesNo('Not sure'), undefined);
  });

  it('dialogue and two-turn prompt alternate user simulator and assistant', async () => {
    const conv = await generateDialogue(client, client, { opening: 'Hi!', turns: 2, persona: 'complex' });
    assert.deepEqual(conv.map((m) => m.role), ['user', 'assistant', 'user', 'assistant']);
    assert.ok(prompts.some((p) => p.includes('demanding, knowledgeable user') && p.includes('User: Hi!')));
    const two = await generateTwoTurnPrompt(client, client, { opening: 'Plan my week' });
    assert.deepEqual(two.map((m) => m.role), ['user', 'assistant', 'user']);
  });

  it('post-processors: Q&A pairs by document length, bullets stripped', () => {
    const resp = 'Question: A?\nAnswer: a.\n\nQuestion: B?\nAnswer: b.\n\nQ: C?\nA: c.';
    assert.equal(parseQaPairs(resp).length, 3);
    assert.equal(selectQaPairs(resp, 'one two three four', { wordsPerPair: 2, maxPairs: 10, seed: 1 }).length, 2);
    assert.equal(selectQaPairs(resp, 'x '.repeat(1000), { wordsPerPair: 2, maxPairs: 10, seed: 1 }).length, 3);
    assert.equal(stripBullets('- a\n* b\n\n1. c'), 'a\nb\nc');
  });

  it('validatePipelineText reports errors of an unsaved buffer', () => {
    const errs = validatePipelineText('name: x\nstages:\n  - name: a\n    kind: generate\n', 'untitled.yaml');
    assert.equal(errs.length, 1);
    assert.equal(errs[0]!.line, 3);
    assert.match(errs[0]!.message, /needs `template`/);
  });
});
