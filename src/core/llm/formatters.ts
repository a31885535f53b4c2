/**
 * Conversation formatters: turn a chat into the single prompt string a raw-completions server
 * (TRT-LLM / NeMo deploy, vLLM or llama.cpp `/completions`) expects for a given model family.
 * Chat endpoints do this server-side from the model's chat template; here it is explicit.
 *
 * Every formatter accepts: an optional leading system message, then user and assistant turns
 * alternating, starting and ending with a user turn (the prompt ends where the assistant's
 * answer begins). Each declares the stop words that end the assistant's turn; the client adds
 * them to `stop` and cuts them from outputs.
 */
import type { ChatMessage, FormatterName } from './types';

export interface ConversationFormatter {
  readonly name: FormatterName;
  /** One-line description for UIs and docs. */
  readonly description: string;
  /** Strings that end the assistant's turn (sent as `stop`, cut from outputs). */
  readonly stopWords: readonly string[];
  /** Renders the prompt; throws ConversationError when the conversation does not fit. */
  format(messages: readonly ChatMessage[]): string;
}

export class ConversationError extends Error {
  override readonly name = 'ConversationError';
  constructor(message: string, readonly index?: number) {
    super(message);
  }
}

interface Parsed {
  system: string | undefined;
  /** user, assistant, user, ..., user */
  turns: ChatMessage[];
}

/** Checks the shape every formatter needs and splits off the system message. */
export function checkConversation(messages: readonly ChatMessage[], formatter = 'formatter'): Parsed {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new ConversationError(`${formatter}: the conversation is empty; it needs at least one user message`);
  }
  let start = 0;
  let system: string | undefined;
  if (messages[0]?.role === 'system') {
    system = messages[0].content;
    start = 1;
  }
  const turns = messages.slice(start);
  if (turns.length === 0) throw new ConversationError(`${formatter}: the conversation has only a system message; it needs a user message after it`, 0);
  for (let i = 0; i < turns.length; i++) {
    const m = turns[i];
    const at = i + start;
    if (!m || typeof m.content !== 'string') {
      throw new ConversationError(`${formatter}: message ${at} has no text content`, at);
    }
    const expected = i % 2 === 0 ? 'user' : 'assistant';
    if (m.role !== expected) {
      const why = m.role === 'system' ? 'a system message is only allowed first' : `roles must alternate user/assistant after an optional system message`;
      throw new ConversationError(`${formatter}: message ${at} has role "${m.role}" but "${expected}" was expected (${why})`, at);
    }
  }
  if (turns.length % 2 === 0) {
    throw new ConversationError(`${formatter}: the conversation ends with an assistant message; it must end with a user message (the model writes the next assistant turn)`, messages.length - 1);
  }
  return { system, turns };
}

/** 'none': the user's text as is. A system message, if any, comes first, separated by a blank line. */
const none: ConversationFormatter = {
  name: 'none',
  description: 'Raw prompt: one user message (optionally after a system message), sent as is',
  stopWords: [],
  format(messages) {
    const { system, turns } = checkConversation(messages, 'formatter "none"');
    if (turns.length !== 1) {
      throw new ConversationError(`formatter "none" takes a single user message, got ${turns.length} turns; choose a chat formatter (llama3, chatml, ...) for multi-turn conversations`, messages.length - 1);
    }
    return system ? `${system}\n\n${turns[0].content}` : turns[0].content;
  },
};

/**
 * Mixtral-8x7B instruct, byte for byte as NeMo Curator's `Mixtral8x7BFormatter` renders it:
 * the prefix `<s> [INST] \n`, each user turn followed by ` [/INST]`, each answer by
 * `</s>[INST] `. The model has no system role, so a system message (which the reference does not
 * accept) opens the first user turn, separated by a blank line.
 */
const mixtral: ConversationFormatter = {
  name: 'mixtral',
  description: 'Mixtral-8x7B instruct (as NeMo Curator): <s> [INST] \\nuser [/INST]answer</s>[INST] user [/INST]',
  stopWords: ['</s>'],
  format(messages) {
    const { system, turns } = checkConversation(messages, 'formatter "mixtral"');
    let out = '<s> [INST] \n';
    turns.forEach((m, i) => {
      if (m.role === 'user') out += (i === 0 && system ? `${system}\n\n${m.content}` : m.content) + ' [/INST]';
      else out += m.content + '</s>[INST] ';
    });
    return out;
  },
};

/** Llama 2 chat: the system prompt sits in <<SYS>> inside the first [INST]. */
const llama2: ConversationFormatter = {
  name: 'llama2',
  description: 'Llama 2 chat: <s>[INST] <<SYS>>system<</SYS>> user [/INST] answer </s>',
  stopWords: ['</s>'],
  format(messages) {
    const { system, turns } = checkConversation(messages, 'formatter "llama2"');
    let out = '';
    turns.forEach((m, i) => {
      if (m.role === 'user') {
        const text = i === 0 && system ? `<<SYS>>\n${system}\n<</SYS>>\n\n${m.content}` : m.content;
        out += `<s>[INST] ${text.trim()} [/INST]`;
      } else out += ` ${m.content.trim()} </s>`;
    });
    return out;
  },
};

/** Nemotron-4 340B instruct: the System header is always present, possibly empty. */
const nemotron: ConversationFormatter = {
  name: 'nemotron',
  description: 'Nemotron-4 340B: <extra_id_0>System ... <extra_id_1>User ... <extra_id_1>Assistant',
  stopWords: ['<extra_id_1>'],
  format(messages) {
    const { system, turns } = checkConversation(messages, 'formatter "nemotron"');
    let out = `<extra_id_0>System\n${system ?? ''}\n`;
    for (const m of turns) out += `<extra_id_1>${m.role === 'user' ? 'User' : 'Assistant'}\n${m.content}\n`;
    return out + '<extra_id_1>Assistant\n';
  },
};

/** Llama 3 / 3.1 / 3.3 instruct. */
const llama3: ConversationFormatter = {
  name: 'llama3',
  description: 'Llama 3 instruct: <|start_header_id|>role<|end_header_id|> ... <|eot_id|>',
  stopWords: ['<|eot_id|>', '<|end_of_text|>'],
  format(messages) {
    const { system, turns } = checkConversation(messages, 'formatter "llama3"');
    let out = '<|begin_of_text|>';
    const block = (role: string, text: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n${text}<|eot_id|>`;
    if (system !== undefined) out += block('system', system);
    for (const m of turns) out += block(m.role, m.content);
    return out + '<|start_header_id|>assistant<|end_header_id|>\n\n';
  },
};

/** ChatML (Qwen, many fine-tunes). */
const chatml: ConversationFormatter = {
  name: 'chatml',
  description: 'ChatML (Qwen and others): <|im_start|>role ... <|im_end|>',
  stopWords: ['<|im_end|>', '<|endoftext|>'],
  format(messages) {
    const { system, turns } = checkConversation(messages, 'formatter "chatml"');
    let out = '';
    if (system !== undefined) out += `<|im_start|>system\n${system}<|im_end|>\n`;
    for (const m of turns) out += `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`;
    return out + '<|im_start|>assistant\n';
  },
};

/** The formatters written out here; `chat-template` is built per endpoint from a template (chatTemplate.ts). */
export type BuiltinFormatterName = Exclude<FormatterName, 'chat-template'>;

export const FORMATTERS: Readonly<Record<BuiltinFormatterName, ConversationFormatter>> = { none, mixtral, llama2, nemotron, llama3, chatml };

export const BUILTIN_FORMATTER_NAMES = Object.keys(FORMATTERS) as BuiltinFormatterName[];

/** Every name a profile may give as `formatter`. */
export const FORMATTER_NAMES: FormatterName[] = [...BUILTIN_FORMATTER_NAMES, 'chat-template'];

export function isFormatterName(name: unknown): name is FormatterName {
  return typeof name === 'string' && (FORMATTER_NAMES as string[]).includes(name);
}

/** A built-in formatter by name. `chat-template` needs its template: use `formatterForProfile` (chatTemplate.ts). */
export function getFormatter(name: FormatterName | string): ConversationFormatter {
  if (name === 'chat-template') {
    throw new ConversationError('formatter "chat-template" renders a model\'s own template: give chatTemplateFile (a tokenizer_config.json or .jinja file) or chatTemplate');
  }
  if (!isFormatterName(name)) {
    throw new ConversationError(`unknown conversation formatter "${name}"; choose one of: ${FORMATTER_NAMES.join(', ')}`);
  }
  return FORMATTERS[name as BuiltinFormatterName];
}

/**
 * Cuts a raw completion at the first stop word (servers that ignore or echo `stop` would leave
 * it in), then trims whitespace the template leaves around the answer.
 */
export function stripStopWords(text: string, stopWords: readonly string[]): string {
  let end = text.length;
  for (const s of stopWords) {
    if (!s) continue;
    const at = text.indexOf(s);
    if (at >= 0 && at < end) end = at;
  }
  return (end < text.length ? text.slice(0, end) : text).trim();
}
