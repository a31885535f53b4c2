import { strict as assert } from 'node:assert';
import { BUILTIN_FORMATTER_NAMES, ConversationError, FORMATTER_NAMES, getFormatter, isFormatterName, stripStopWords, type BuiltinFormatterName } from '../../src/core/llm/formatters';
import type { ChatMessage } from '../../src/core/llm/types';

const SYS: ChatMessage = { role: 'system', content: 'You are terse.' };
const U1: ChatMessage = { role: 'user', content: 'Name a prime.' };
const A1: ChatMessage = { role: 'assistant', content: 'Seven.' };
const U2: ChatMessage = { role: 'user', content: 'Another?' };

// Golden strings written out by hand from each model family's documented chat template
// (mixtral and nemotron: from NeMo Curator's formatters, see llm-formatters-reference.test.ts).
const GOLDEN: Record<BuiltinFormatterName, { single: string; multi: string | null }> = {
  none: {
    single: 'You are terse.\n\nName a prime.',
    multi: null,
  },
  mixtral: {
    single: '<s> [INST] \nYou are terse.\n\nName a prime. [/INST]',
    multi: '<s> [INST] \nYou are terse.\n\nName a prime. [/INST]Seven.</s>[INST] Another? [/INST]',
  },
  llama2: {
    single: '<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nName a prime. [/INST]',
    multi: '<s>[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nName a prime. [/INST] Seven. </s><s>[INST] Another? [/INST]',
  },
  nemotron: {
    single: '<extra_id_0>System\nYou are terse.\n<extra_id_1>User\nName a prime.\n<extra_id_1>Assistant\n',
    multi: '<extra_id_0>System\nYou are terse.\n<extra_id_1>User\nName a prime.\n<extra_id_1>Assistant\nSeven.\n<extra_id_1>User\nAnother?\n<extra_id_1>Assistant\n',
  },
  llama3: {
    single: '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    multi: '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nSeven.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  },
  chatml: {
    single: '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n',
    multi: '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n<|im_start|>user\nAnother?<|im_end|>\n<|im_start|>assistant\n',
  },
};

describe('conversation formatters', () => {
  it('covers every built-in formatter name', () => {
    assert.deepEqual([...BUILTIN_FORMATTER_NAMES].sort(), Object.keys(GOLDEN).sort());
    assert.deepEqual(FORMATTER_NAMES, [...BUILTIN_FORMATTER_NAMES, 'chat-template']);
    assert.ok(isFormatterName('chat-template'));
  });

  it('chat-template is not a built-in: asking for it by name says what it needs', () => {
    assert.throws(() => getFormatter('chat-template'), /needs|give chatTemplateFile/);
  });

  for (const name of BUILTIN_FORMATTER_NAMES) {
    const f = getFormatter(name);
    it(`${name}: golden prompts`, () => {
      assert.equal(f.format([SYS, U1]), GOLDEN[name].single);
      const multi = GOLDEN[name].multi;
      if (multi === null) assert.throws(() => f.format([SYS, U1, A1, U2]), /single user message/);
      else assert.equal(f.format([SYS, U1, A1, U2]), multi);
    });

    it(`${name}: rejects conversations that do not alternate or do not end with the user`, () => {
      assert.throws(() => f.format([]), ConversationError);
      assert.throws(() => f.format([SYS]), /only a system message/);
      assert.throws(() => f.format([A1, U1]), /message 0 has role "assistant" but "user" was expected/);
      assert.throws(() => f.format([U1, U2]), /message 1 has role "user" but "assistant" was expected/);
      assert.throws(() => f.format([U1, SYS]), /system message is only allowed first/);
      assert.throws(() => f.format([SYS, U1, A1]), /must end with a user message/);
    });

    it(`${name}: declares stop words that the prompt itself ends before`, () => {
      for (const s of f.stopWords) assert.ok(s.length > 0);
      if (name !== 'none') assert.ok(f.stopWords.length > 0);
    });
  }

  it('formats without a system message', () => {
    assert.equal(getFormatter('nemotron').format([U1]), '<extra_id_0>System\n\n<extra_id_1>User\nName a prime.\n<extra_id_1>Assistant\n');
    assert.equal(getFormatter('chatml').format([U1]), '<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(getFormatter('llama2').format([U1]), '<s>[INST] Name a prime. [/INST]');
    assert.equal(getFormatter('none').format([U1]), 'Name a prime.');
  });

  it('names the formatter and lists the known ones for an unknown name', () => {
    assert.throws(() => getFormatter('vicuna'), /unknown conversation formatter "vicuna"; choose one of: none, mixtral/);
  });

  it('strips at the first stop word and trims', () => {
    assert.equal(stripStopWords(' 42 <|eot_id|> junk', ['<|eot_id|>', '<|end_of_text|>']), '42');
    assert.equal(stripStopWords('a<|end_of_text|>b<|eot_id|>', ['<|eot_id|>', '<|end_of_text|>']), 'a');
    assert.equal(stripStopWords('  plain\n', []), 'plain');
  });
});
