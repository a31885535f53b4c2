/**
 * The `mixtral` and `nemotron` formatters against the reference they claim to match: NeMo
 * Curator's `Mixtral8x7BFormatter` (nemo_curator/synthetic/mixtral.py) and `NemotronFormatter`
 * (nemo_curator/synthetic/nemotron.py), and the cases of its own tests
 * (tests/synthetic/test_mixtral.py, tests/synthetic/test_nemotron.py).
 *
 * The reference code, quoted (NVIDIA/NeMo-Curator, Apache-2.0):
 *
 *   class Mixtral8x7BFormatter(ConversationFormatter):
 *       PROMPT_PREFIX = "<s> [INST] \n"
 *       def format_conversation(conv):
 *           prompt = Mixtral8x7BFormatter.PROMPT_PREFIX
 *           for i, turn in enumerate(conv):
 *               if i % 2 == 0:  # user turn ("Conversation turn {i} is not 'user'" otherwise)
 *                   prompt += turn["content"] + " [/INST]"
 *               else:           # assistant turn
 *                   prompt += turn["content"] + "</s>[INST] "
 *           return prompt
 *
 *   class NemotronFormatter(ConversationFormatter):
 *       PROMPT_PREFIX = "<extra_id_0>System\n\n<extra_id_1>User\n"
 *       def format_conversation(conv):
 *           prompt = NemotronFormatter.PROMPT_PREFIX
 *           for i, turn in enumerate(conv):
 *               if i % 2 == 0:
 *                   prompt += turn["content"] + "\n<extra_id_1>Assistant\n"
 *               else:
 *                   prompt += turn["content"] + "\n<extra_id_1>User\n"
 *           return prompt
 *
 * Conversations the reference formats but this product refuses: one ending with an assistant
 * turn (the reference leaves an open `[INST] ` / `<extra_id_1>User\n` for nobody to fill; a
 * prompt must end where the model's answer begins). Conversations this product accepts beyond
 * the reference: a leading system message (Mixtral: it opens the first user turn; Nemotron: it
 * fills the System line the reference always leaves empty).
 */
import { strict as assert } from 'node:assert';
import { ConversationError, getFormatter } from '../../src/core/llm/formatters';
import type { ChatMessage } from '../../src/core/llm/types';

const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });

describe('formatters match NeMo Curator byte for byte', () => {
  describe('mixtral = Mixtral8x7BFormatter', () => {
    const mixtral = getFormatter('mixtral');

    it('single turn (test_format_conversation_single_turn)', () => {
      // expected_output = "<s> [INST] \nHello [/INST]"
      assert.equal(mixtral.format([user('Hello')]), '<s> [INST] \nHello [/INST]');
    });

    it('multiple turns (test_format_conversation_multiple_turns)', () => {
      const conv = [
        user('What is machine learning?'),
        assistant('Machine learning is a subset of AI...'),
        user('Can you give examples?'),
        assistant('Sure! Examples include...'),
        user('Thanks for explaining!'),
      ];
      const expected =
        '<s> [INST] \n' +
        'What is machine learning? [/INST]' +
        'Machine learning is a subset of AI...</s>[INST] ' +
        'Can you give examples? [/INST]' +
        'Sure! Examples include...</s>[INST] ' +
        'Thanks for explaining! [/INST]';
      assert.equal(mixtral.format(conv), expected);
    });

    it('the prefix of the basic case (test_format_conversation_basic) up to the last user turn', () => {
      // The reference case ends with an assistant turn; its text up to "How are you? [/INST]" is
      // exactly our prompt for the conversation that stops at that user turn.
      const reference = '<s> [INST] \nHello [/INST]Hi there!</s>[INST] How are you? [/INST]I\'m doing well, thank you!</s>[INST] ';
      const ours = mixtral.format([user('Hello'), assistant('Hi there!'), user('How are you?')]);
      assert.ok(reference.startsWith(ours));
      assert.equal(ours, '<s> [INST] \nHello [/INST]Hi there!</s>[INST] How are you? [/INST]');
    });

    it('refuses what the reference refuses, naming the turn (test_format_conversation_invalid_roles)', () => {
      assert.throws(() => mixtral.format([user('Hello'), user('Are you there?')]), (e: unknown) => e instanceof ConversationError && /message 1 has role "user" but "assistant" was expected/.test(e.message));
      assert.throws(() => mixtral.format([assistant('Hello, how can I help?'), user('Hi there!')]), /message 0 has role "assistant" but "user" was expected/);
    });

    it('a system message opens the first user turn', () => {
      assert.equal(mixtral.format([{ role: 'system', content: 'Be brief.' }, user('Hello')]), '<s> [INST] \nBe brief.\n\nHello [/INST]');
    });
  });

  describe('nemotron = NemotronFormatter', () => {
    const nemotron = getFormatter('nemotron');

    it('single turn (test_format_conversation_single_turn)', () => {
      assert.equal(nemotron.format([user('Hello')]), '<extra_id_0>System\n\n<extra_id_1>User\nHello\n<extra_id_1>Assistant\n');
    });

    it('multiple turns, the basic case cut before its last assistant turn (test_format_conversation_basic)', () => {
      const reference =
        '<extra_id_0>System\n\n<extra_id_1>User\n' +
        'Hello\n<extra_id_1>Assistant\n' +
        'Hi there!\n<extra_id_1>User\n' +
        'How are you?\n<extra_id_1>Assistant\n' +
        'I\'m doing well, thank you!\n<extra_id_1>User\n';
      const ours = nemotron.format([user('Hello'), assistant('Hi there!'), user('How are you?')]);
      assert.equal(ours, '<extra_id_0>System\n\n<extra_id_1>User\nHello\n<extra_id_1>Assistant\nHi there!\n<extra_id_1>User\nHow are you?\n<extra_id_1>Assistant\n');
      assert.ok(reference.startsWith(ours));
    });

    it('five turns', () => {
      const conv = [user('Q1'), assistant('A1'), user('Q2'), assistant('A2'), user('Q3')];
      // Built the way the reference builds it: prefix, then content + suffix per turn.
      let expected = '<extra_id_0>System\n\n<extra_id_1>User\n';
      conv.forEach((t, i) => { expected += t.content + (i % 2 === 0 ? '\n<extra_id_1>Assistant\n' : '\n<extra_id_1>User\n'); });
      assert.equal(nemotron.format(conv), expected);
    });

    it('refuses what the reference refuses (test_format_conversation_invalid_roles)', () => {
      assert.throws(() => nemotron.format([user('Hello'), user('Are you there?')]), /message 1 has role "user" but "assistant" was expected/);
      assert.throws(() => nemotron.format([assistant('Hello, how can I help?'), user('Hi there!')]), /message 0 has role "assistant" but "user" was expected/);
    });
  });

  describe('none = NoFormat', () => {
    it('passes one user turn through unchanged (test_no_format.py)', () => {
      assert.equal(getFormatter('none').format([user('# Heading\n* bullet point\n```code block```')]), '# Heading\n* bullet point\n```code block```');
      assert.throws(() => getFormatter('none').format([user('Hello'), assistant('Hi there!')]), ConversationError);
    });
  });
});
