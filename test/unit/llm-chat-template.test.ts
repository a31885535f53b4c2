/**
 * The `chat-template` formatter against real models' chat templates (test/fixtures/chat-templates,
 * copied byte for byte from the published tokenizer configs; sources in its README). Each expected
 * string is what Hugging Face `tokenizer.apply_chat_template(messages, tokenize=False,
 * add_generation_prompt=True)` gives, derived by reading the template: transformers renders with
 * trim_blocks and lstrip_blocks, passes the tokenizer's special tokens (`bos_token`, ...),
 * `tools=None`, `documents=None`, and offers `raise_exception` and `strftime_now`.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ChatTemplateError, ChatTemplateFormatter, formatterForProfile, parseTokenizerConfig, readChatTemplateFile, strftime,
} from '../../src/core/llm/chatTemplate';
import { ConversationError, getFormatter } from '../../src/core/llm/formatters';
import { checkProfile } from '../../src/extension/endpoints/profiles';
import type { ChatMessage, EndpointProfile } from '../../src/core/llm/types';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'chat-templates');
const fixture = (name: string, file = 'tokenizer_config.json') => path.join(FIXTURES, name, file);
const load = (name: string, file?: string, now?: () => Date) => new ChatTemplateFormatter(readChatTemplateFile(fixture(name, file)), { now });

const SYS: ChatMessage = { role: 'system', content: 'You are terse.' };
const U1: ChatMessage = { role: 'user', content: 'Name a prime.' };
const A1: ChatMessage = { role: 'assistant', content: 'Seven.' };
const U2: ChatMessage = { role: 'user', content: 'Another?' };

describe('chat-template formatter: real templates rendered as apply_chat_template does', () => {
  it('Llama 3 8B Instruct: BOS on the first turn, trimmed contents, the same prompt as the built-in llama3 formatter', () => {
    const f = load('meta-llama-3-8b-instruct');
    const expected = '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nSeven.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nAnother?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n';
    assert.equal(f.format([SYS, U1, A1, U2]), expected);
    assert.equal(getFormatter('llama3').format([SYS, U1, A1, U2]), expected);
    assert.equal(f.format([U1]), '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    assert.deepEqual(f.stopWords, ['<|eot_id|>']);
  });

  it('Llama 3.1 8B Instruct: BOS, the fixed date block, system trimmed into it, <|eot_id|> turns', () => {
    const f = load('llama-3.1-8b-instruct');
    const head = '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n';
    assert.equal(f.format([SYS, U1, A1, U2]),
      head + 'You are terse.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nSeven.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nAnother?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n');
    // No system message: the system block is still there, empty after the date lines.
    assert.equal(f.format([U1]), head + '<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    // Contents are trimmed by the template (message['content'] | trim).
    assert.ok(f.format([{ role: 'user', content: '  padded \n' }]).endsWith('user<|end_header_id|>\n\npadded<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n'));
    assert.deepEqual(f.stopWords, ['<|eot_id|>']);
  });

  it('Llama 3.2 3B Instruct: today\'s date from strftime_now("%d %b %Y"), and date_string overrides it', () => {
    const f = load('llama-3.2-3b-instruct', undefined, () => new Date(2026, 11, 4, 21, 30));
    assert.equal(f.format([U1]),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 04 Dec 2026\n\n<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    const fixed = new ChatTemplateFormatter(readChatTemplateFile(fixture('llama-3.2-3b-instruct')), { vars: { date_string: '26 Jul 2024' } });
    assert.match(fixed.format([U1]), /Today Date: 26 Jul 2024\n/);
  });

  it('Mixtral 8x7B Instruct v0.1 (the model\'s own template, not NeMo Curator\'s): " [INST] " turns, system in the first', () => {
    const f = load('mixtral-8x7b-instruct-v0.1');
    assert.equal(f.format([SYS, U1, A1, U2]), '<s> [INST] You are terse.\n\nName a prime. [/INST] Seven.</s> [INST] Another? [/INST]');
    assert.equal(f.format([U1]), '<s> [INST] Name a prime. [/INST]');
    assert.deepEqual(f.stopWords, ['</s>']);
  });

  it('Mistral 7B Instruct v0.3: the system message goes into the last user turn; answers trimmed', () => {
    const f = load('mistral-7b-instruct-v0.3');
    assert.equal(f.format([SYS, U1, { role: 'assistant', content: ' Seven. ' }, U2]), '<s>[INST] Name a prime.[/INST] Seven.</s>[INST] You are terse.\n\nAnother?[/INST]');
  });

  it('Mistral refuses roles that do not alternate: raise_exception becomes a ConversationError quoting the template', () => {
    const f = load('mistral-7b-instruct-v0.3');
    assert.throws(() => f.format([U1, U2]), (e: unknown) =>
      e instanceof ConversationError && /refused the conversation: After the optional system message, conversation roles must alternate user\/assistant/.test(e.message) && e.message.includes('mistral-7b-instruct-v0.3'));
  });

  it('Qwen2.5 Instruct: ChatML, and its default system prompt when none is given', () => {
    const f = load('qwen2.5-3b-instruct');
    assert.equal(f.format([SYS, U1, A1, U2]),
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n<|im_start|>user\nAnother?<|im_end|>\n<|im_start|>assistant\n');
    assert.equal(f.format([U1]),
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\n');
    // With a system message, Qwen's template is plain ChatML: the built-in chatml formatter agrees.
    assert.equal(getFormatter('chatml').format([SYS, U1, A1, U2]), f.format([SYS, U1, A1, U2]));
    // bos_token is null in Qwen's config: absent, as transformers leaves None tokens out.
    assert.equal(f.source.specialTokens.bos_token, undefined);
    assert.deepEqual(f.stopWords, ['<|im_end|>']);
  });

  it('Gemma 2: <bos>, model role, trimmed contents; a system message is refused by the template', () => {
    const f = load('gemma-2');
    assert.equal(f.format([U1, A1, U2]),
      '<bos><start_of_turn>user\nName a prime.<end_of_turn>\n<start_of_turn>model\nSeven.<end_of_turn>\n<start_of_turn>user\nAnother?<end_of_turn>\n<start_of_turn>model\n');
    assert.throws(() => f.format([SYS, U1]), /refused the conversation: System role not supported/);
    assert.deepEqual(f.stopWords, ['<end_of_turn>', '<eos>']);
    assert.deepEqual(f.source.specialTokens.additional_special_tokens, ['<start_of_turn>', '<end_of_turn>']);
  });

  it('Nemotron Super 49B v1.5 (a .jinja file): "/no_think" in the system message closes an empty think block', () => {
    const f = load('nemotron-super-49b-v1.5', 'chat_template.jinja');
    const turns = '<|start_header_id|>user<|end_header_id|>\n\nName a prime.<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nSeven.<|eot_id|>' +
      '<|start_header_id|>user<|end_header_id|>\n\nAnother?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n';
    assert.equal(f.format([{ role: 'system', content: 'You are terse. /no_think' }, U1, A1, U2]),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.\n\n<|eot_id|>' + turns + '<think>\n\n</think>\n\n');
    assert.equal(f.format([SYS, U1, A1, U2]),
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.\n\n<|eot_id|>' + turns);
    // Earlier answers lose their reasoning: only the text after </think> is kept.
    assert.ok(f.format([U1, { role: 'assistant', content: '<think>hmm</think>  Seven.' }, U2]).includes('assistant<|end_header_id|>\n\nSeven.<|eot_id|>'));
    assert.deepEqual(f.stopWords, ['<|eot_id|>']);
  });

  it('add_generation_prompt false renders a finished conversation (what SFT export wants)', () => {
    const f = load('qwen2.5-3b-instruct');
    assert.equal(f.render([SYS, U1, A1], false), '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nName a prime.<|im_end|>\n<|im_start|>assistant\nSeven.<|im_end|>\n');
  });

  it('checks the conversation shape it can judge: empty, missing text, not ending with the user', () => {
    const f = load('qwen2.5-3b-instruct');
    assert.throws(() => f.format([]), /conversation is empty/);
    assert.throws(() => f.format([U1, A1]), /ends with a assistant message; it must end with a user message/);
    assert.throws(() => f.format([{ role: 'user', content: 42 as unknown as string }]), /message 0 has no text content/);
  });
});

describe('chat templates: loading and helpers', () => {
  let dir: string;
  beforeEach(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sdg-chat-template-')); });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a .jinja file takes its special tokens from the tokenizer_config.json beside it', () => {
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: { __type: 'AddedToken', content: '<s>' }, eos_token: '</s>' }));
    fs.writeFileSync(path.join(dir, 'my.jinja'), '{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}');
    const f = new ChatTemplateFormatter(readChatTemplateFile(path.join(dir, 'my.jinja')));
    assert.equal(f.format([U1]), '<s>[user] Name a prime.\n[assistant]');
    assert.deepEqual(f.stopWords, ['</s>']);
  });

  it('a tokenizer_config.json without chat_template uses the chat_template.jinja beside it', () => {
    fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|end|>' }));
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), '{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}');
    assert.equal(new ChatTemplateFormatter(readChatTemplateFile(path.join(dir, 'tokenizer_config.json'))).format([U1]), 'Name a prime.<|end|>');
  });

  it('named templates: "default" is used, as transformers does', () => {
    const src = parseTokenizerConfig(JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D{{ messages[0].content }}' }] }), 'cfg.json');
    assert.equal(new ChatTemplateFormatter(src).format([U1]), 'DName a prime.');
    assert.throws(() => parseTokenizerConfig(JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }] }), 'cfg.json'), /no template named "default" \(it has: tool_use\)/);
  });

  it('errors name the file, the line of a JSON error, and the field', () => {
    assert.throws(() => readChatTemplateFile(path.join(dir, 'missing.json')), /missing\.json: not found/);
    fs.writeFileSync(path.join(dir, 'bad.json'), '{\n  "eos_token": "x",\n  oops\n}');
    assert.throws(() => readChatTemplateFile(path.join(dir, 'bad.json')), (e: unknown) => e instanceof ChatTemplateError && /bad\.json:3: not valid JSON/.test(e.message));
    fs.writeFileSync(path.join(dir, 'none.json'), '{"eos_token": "x"}');
    assert.throws(() => readChatTemplateFile(path.join(dir, 'none.json')), /has no field chat_template/);
    fs.writeFileSync(path.join(dir, 'broken.jinja'), '{% for m in messages %}{{ m.content }');
    assert.throws(() => new ChatTemplateFormatter(readChatTemplateFile(path.join(dir, 'broken.jinja'))), /broken\.jinja: the chat template does not parse/);
  });

  it('profiles: chatTemplate inline, chatTemplateFile relative to a base folder, formatter defaulting to chat-template', () => {
    const base: EndpointProfile = { name: 'trt', baseUrl: 'http://127.0.0.1:8000', model: 'ensemble', apiKind: 'completions' };
    const inline = formatterForProfile({ ...base, chatTemplate: '{{ bos_token }}{{ messages[-1].content }}|', chatTemplateVars: { bos_token: 'B:' } });
    assert.equal(inline?.name, 'chat-template');
    assert.equal(inline?.format([U1]), 'B:Name a prime.|');
    const fromFile = formatterForProfile({ ...base, chatTemplateFile: path.join('gemma-2', 'tokenizer_config.json') }, FIXTURES);
    assert.ok(fromFile?.format([U1]).startsWith('<bos><start_of_turn>user'));
    assert.equal(formatterForProfile({ ...base, apiKind: 'chat', chatTemplate: 'x' }), undefined);
    assert.equal(formatterForProfile({ ...base, formatter: 'chatml' })?.name, 'chatml');
    assert.throws(() => formatterForProfile({ ...base, formatter: 'chat-template' }), /needs chatTemplateFile/);
  });

  it('strftime as Python\'s in the C locale', () => {
    const d = new Date(2024, 6, 5, 9, 7, 3);
    assert.equal(strftime(d, '%d %b %Y'), '05 Jul 2024');
    assert.equal(strftime(d, '%A %B %-d, %y %H:%M:%S %I%p %j %%'), 'Friday July 5, 24 09:07:03 09AM 187 %');
    assert.equal(strftime(d, '%a %e'), 'Fri  5');
  });
});

describe('chat templates in VS Code settings (sdg.endpoints)', () => {
  it('the settings schema offers the fields and the profile check keeps them', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'));
    const props = pkg.contributes.configuration.properties['sdg.endpoints'].items.properties;
    assert.ok(props.apiKind.enum.includes('triton'));
    assert.ok(props.formatter.enum.includes('chat-template'));
    for (const f of ['chatTemplateFile', 'chatTemplate', 'chatTemplateVars']) assert.ok(props[f], `schema lacks ${f}`);
    const file = fixture('qwen2.5-3b-instruct');
    const ok = checkProfile({ name: 'trt', baseUrl: 'http://h:8000', model: 'ensemble', apiKind: 'triton', formatter: 'chat-template', chatTemplateFile: file });
    assert.deepEqual(ok.problems, []);
    assert.equal(ok.profile?.chatTemplateFile, file);
    const bad = checkProfile({ name: 'trt', baseUrl: 'http://h:8000', model: 'ensemble', apiKind: 'triton', formatter: 'chat-template', chatTemplateFile: file + '.missing' });
    assert.match(bad.problems.join('\n'), /^chatTemplateFile: .*not found/m);
  });

  it('a relative chatTemplateFile is read from the workspace folder (baseDir) and kept as written', () => {
    const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'sdg-ws-'));
    try {
      fs.mkdirSync(path.join(ws, 'models'));
      fs.copyFileSync(fixture('qwen2.5-3b-instruct'), path.join(ws, 'models', 'tokenizer_config.json'));
      const raw = { name: 'rel', baseUrl: 'http://h:8000/v1', model: 'm', apiKind: 'completions', formatter: 'chat-template', chatTemplateFile: 'models/tokenizer_config.json' };
      const ok = checkProfile(raw, ws);
      assert.deepEqual(ok.problems, []);
      assert.equal(ok.profile?.chatTemplateFile, 'models/tokenizer_config.json');
      // Without the folder it is looked for in the working directory, where it is not.
      assert.match(checkProfile(raw).problems.join('\n'), /^chatTemplateFile: .*not found/m);
    } finally {
      fs.rmSync(ws, { recursive: true, force: true });
    }
  });
});
