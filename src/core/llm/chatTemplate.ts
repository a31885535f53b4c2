/**
 * The `chat-template` formatter: renders a conversation with the model's own Jinja chat template
 * (the `chat_template` of its `tokenizer_config.json`, a `.jinja` file, or a template in the
 * endpoint profile), the way Hugging Face `apply_chat_template(..., tokenize=False)` does:
 * the special tokens of the tokenizer config (`bos_token`, `eos_token`, ...) as variables,
 * `add_generation_prompt`, `tools`/`documents` as none, and the `raise_exception` and
 * `strftime_now` helpers. Rendering uses `@huggingface/jinja`, a Jinja implementation made for
 * chat templates (trim_blocks and lstrip_blocks on, like transformers' environment).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Environment, Interpreter, Template as JinjaTemplate } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { ConversationError, getFormatter, type ConversationFormatter } from './formatters';
import type { ChatMessage, EndpointProfile } from './types';

export interface ChatTemplateSource {
  /** The Jinja text. */
  template: string;
  /** Special tokens by name as the tokenizer config gives them (`bos_token`, `eos_token`, `additional_special_tokens`, ...). */
  specialTokens: Record<string, string | string[]>;
  /** Where the template came from, for messages ("tokenizer_config.json", "endpoint \"x\" chatTemplate"). */
  origin: string;
}

type JinjaModule = {
  Template: new (source: string) => JinjaTemplate;
  Environment: new () => Environment;
  Interpreter: new (env: Environment) => Interpreter;
};
let jinjaModule: JinjaModule | undefined;
/** The package is published as ESM with a CommonJS build; this file compiles to CommonJS, so require it. */
function jinja(): JinjaModule {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (jinjaModule ??= require('@huggingface/jinja') as JinjaModule);
}

export class ChatTemplateError extends Error {
  override readonly name = 'ChatTemplateError';
}

/** The token fields transformers keeps in `special_tokens_map` and hands to the template. */
const SPECIAL_TOKEN_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

/** A token as tokenizer configs write it: a string, or an AddedToken object `{ "content": ... }`. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}

/** 1-based line of a character offset, for messages about JSON files. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Special tokens of a parsed tokenizer config (absent and null ones left out, as transformers does). */
function specialTokensOf(config: Record<string, unknown>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const field of SPECIAL_TOKEN_FIELDS) {
    const text = tokenText(config[field]);
    if (text !== undefined) out[field] = text;
  }
  const extra = config.additional_special_tokens;
  if (Array.isArray(extra)) out.additional_special_tokens = extra.map(tokenText).filter((t): t is string => t !== undefined);
  return out;
}

/**
 * Reads the template of a `tokenizer_config.json` text. A config may hold several named templates
 * (`[{ name, template }]`); like transformers, `default` is used unless another name is asked for.
 */
export function parseTokenizerConfig(text: string, origin: string, templateName = 'default'): ChatTemplateSource {
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec((e as Error).message);
    const where = at ? `${origin}:${lineOf(text, Number(at[1]))}` : origin;
    throw new ChatTemplateError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new ChatTemplateError(`${origin}: expected a JSON object (a tokenizer_config.json)`);
  const obj = config as Record<string, unknown>;
  let template: unknown = obj.chat_template;
  if (Array.isArray(template)) {
    const named = template.filter((t): t is { name: string; template: string } => !!t && typeof t.name === 'string' && typeof t.template === 'string');
    const pick = named.find((t) => t.name === templateName);
    if (!pick) throw new ChatTemplateError(`${origin}: field chat_template has no template named "${templateName}" (it has: ${named.map((t) => t.name).join(', ') || 'none'})`);
    template = pick.template;
  }
  if (template === undefined) {
    // Newer model repositories keep the template in chat_template.jinja next to the config.
    const sibling = path.join(path.dirname(origin), 'chat_template.jinja');
    if (path.isAbsolute(origin) && fs.existsSync(sibling)) template = fs.readFileSync(sibling, 'utf8');
    else throw new ChatTemplateError(`${origin}: has no field chat_template (and no chat_template.jinja beside it)`);
  }
  if (typeof template !== 'string' || !template.trim()) throw new ChatTemplateError(`${origin}: field chat_template must be a non-empty string`);
  return { template, specialTokens: specialTokensOf(obj), origin };
}

/**
 * Loads a chat template from a file: a `tokenizer_config.json` (any `.json`), or a Jinja file
 * whose special tokens come from the `tokenizer_config.json` beside it, if there is one.
 */
export function readChatTemplateFile(file: string): ChatTemplateSource {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ChatTemplateError(`chat template file ${file}: ${code === 'ENOENT' ? 'not found' : (e as Error).message}`);
  }
  if (file.toLowerCase().endsWith('.json')) return parseTokenizerConfig(text, file);
  let specialTokens: Record<string, string | string[]> = {};
  const config = path.join(path.dirname(file), 'tokenizer_config.json');
  if (fs.existsSync(config)) {
    try {
      specialTokens = specialTokensOf(JSON.parse(fs.readFileSync(config, 'utf8')));
    } catch (e) {
      throw new ChatTemplateError(`${config} (read for the special tokens of ${path.basename(file)}): ${(e as Error).message}`);
    }
  }
  return { template: text, specialTokens, origin: file };
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/**
 * Python's `datetime.strftime` in the C locale (English names), which transformers' `strftime_now`
 * calls; `%-d` style (no padding, glibc) too. Local time, like `datetime.now()`.
 */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const start = new Date(date.getFullYear(), 0, 1);
  const dayOfYear = Math.round((new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime() - start.getTime()) / 86_400_000) + 1;
  const hour12 = date.getHours() % 12 || 12;
  return format.replace(/%(-?)([aAbBdeHIjmMpSyY%])/g, (_m, noPad: string, c: string) => {
    const num = (n: number, width = 2) => (noPad ? String(n) : pad(n, width));
    switch (c) {
      case 'a': return DAYS[date.getDay()].slice(0, 3);
      case 'A': return DAYS[date.getDay()];
      case 'b': return MONTHS[date.getMonth()].slice(0, 3);
      case 'B': return MONTHS[date.getMonth()];
      case 'd': return num(date.getDate());
      case 'e': return String(date.getDate()).padStart(2, ' ');
      case 'H': return num(date.getHours());
      case 'I': return num(hour12);
      case 'j': return num(dayOfYear, 3);
      case 'm': return num(date.getMonth() + 1);
      case 'M': return num(date.getMinutes());
      case 'p': return date.getHours() < 12 ? 'AM' : 'PM';
      case 'S': return num(date.getSeconds());
      case 'y': return num(date.getFullYear() % 100);
      case 'Y': return String(date.getFullYear());
      default: return '%';
    }
  });
}

/** The exception `raise_exception(...)` throws inside a template: the template refused the conversation. */
class TemplateRaised extends Error {}

export interface ChatTemplateOptions {
  /** Extra template variables (`date_string`, `enable_thinking`, or token overrides). */
  vars?: Record<string, unknown>;
  /** Clock for `strftime_now` (default: now). */
  now?: () => Date;
}

/** What @huggingface/jinja's Template.render() declares besides raise_exception and strftime_now. */
const JINJA_GLOBALS: Record<string, unknown> = {
  false: false, true: true, none: null, False: false, True: true, None: null,
  range: (start: number, stop?: number, step = 1): number[] => {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new Error('range() step must not be zero');
    const out: number[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
    return out;
  },
};

/** Text no template adds by itself, used to find what a template writes after an answer. */
const PROBE = 'sdgprobeanswer';

export class ChatTemplateFormatter implements ConversationFormatter {
  readonly name = 'chat-template' as const;
  readonly description: string;
  /** The end-of-turn marker the template writes after an answer, and the eos token. */
  readonly stopWords: readonly string[];
  private readonly compiled: JinjaTemplate;
  private readonly now: () => Date;

  constructor(readonly source: ChatTemplateSource, private readonly options: ChatTemplateOptions = {}) {
    this.description = `the model's chat template (${source.origin})`;
    this.now = options.now ?? (() => new Date());
    try {
      this.compiled = new (jinja().Template)(source.template);
    } catch (e) {
      throw new ChatTemplateError(`${source.origin}: the chat template does not parse: ${(e as Error).message}`);
    }
    this.stopWords = this.findStopWords();
  }

  /** Renders like `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)`. */
  render(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
    const context: Record<string, unknown> = {
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      // transformers passes these as None when the caller gives none: `tools is defined` holds.
      tools: null,
      documents: null,
      add_generation_prompt: addGenerationPrompt,
      ...this.source.specialTokens,
      ...this.options.vars,
      raise_exception: (message: unknown) => {
        throw new TemplateRaised(String(message));
      },
      strftime_now: (format: unknown) => strftime(this.now(), String(format)),
    };
    try {
      // Template.render() declares its own raise_exception, which throws a bare Error; a fresh
      // environment with the same globals lets a template's refusal be told from a bug.
      const { Environment, Interpreter } = jinja();
      const env = new Environment();
      for (const [key, value] of Object.entries({ ...JINJA_GLOBALS, ...context })) env.set(key, value);
      return (new Interpreter(env).run(this.compiled.parsed) as { value: string }).value;
    } catch (e) {
      if (e instanceof TemplateRaised) {
        throw new ConversationError(`chat template (${this.source.origin}) refused the conversation: ${e.message}`);
      }
      throw new ConversationError(`chat template (${this.source.origin}) failed to render: ${(e as Error).message}`);
    }
  }

  format(messages: readonly ChatMessage[]): string {
    const where = `chat template (${this.source.origin})`;
    if (!Array.isArray(messages) || messages.length === 0) throw new ConversationError(`${where}: the conversation is empty; it needs at least one user message`);
    messages.forEach((m, i) => {
      if (!m || typeof m.content !== 'string') throw new ConversationError(`${where}: message ${i} has no text content`, i);
      if (m.role !== 'system' && m.role !== 'user' && m.role !== 'assistant') throw new ConversationError(`${where}: message ${i} has unknown role ${JSON.stringify(m.role)}`, i);
    });
    if (messages[messages.length - 1].role !== 'user') {
      throw new ConversationError(`${where}: the conversation ends with a ${messages[messages.length - 1].role} message; it must end with a user message (the model writes the next assistant turn)`, messages.length - 1);
    }
    // Role order (alternation, where a system message may go) is the template's to judge.
    return this.render(messages, true);
  }

  /**
   * What the template writes right after an assistant answer (`<|eot_id|>`, `<|im_end|>`,
   * `<end_of_turn>`, `</s>`): the model ends its turn with it. Plus the eos token.
   */
  private findStopWords(): string[] {
    const words: string[] = [];
    try {
      const text = this.render([{ role: 'user', content: 'Hi' }, { role: 'assistant', content: PROBE }], false);
      const at = text.lastIndexOf(PROBE);
      if (at >= 0) {
        const marker = text.slice(at + PROBE.length).trim().split(/\s/)[0];
        if (marker) words.push(marker);
      }
    } catch {
      // A template that refuses this probe still works; the eos token remains.
    }
    const eos = this.source.specialTokens.eos_token;
    if (typeof eos === 'string' && eos && !words.includes(eos)) words.push(eos);
    return words;
  }
}

/**
 * The formatter an endpoint profile asks for: none for `apiKind: chat`, the model's chat template
 * for `formatter: chat-template` (or when only a template is given), a built-in one otherwise.
 * Relative `chatTemplateFile` paths resolve against `baseDir` (default: the working directory).
 */
export function formatterForProfile(profile: EndpointProfile, baseDir = process.cwd()): ConversationFormatter | undefined {
  if (profile.apiKind === 'chat') return undefined;
  const hasTemplate = profile.chatTemplate !== undefined || profile.chatTemplateFile !== undefined;
  const name = profile.formatter ?? (hasTemplate ? 'chat-template' : 'none');
  if (name !== 'chat-template') return getFormatter(name);
  return new ChatTemplateFormatter(chatTemplateSource(profile, baseDir), { vars: profile.chatTemplateVars });
}

/** The template of a profile with formatter `chat-template`. */
export function chatTemplateSource(profile: EndpointProfile, baseDir = process.cwd()): ChatTemplateSource {
  if (typeof profile.chatTemplate === 'string') {
    return { template: profile.chatTemplate, specialTokens: {}, origin: `endpoint "${profile.name}" chatTemplate` };
  }
  if (typeof profile.chatTemplateFile === 'string' && profile.chatTemplateFile) {
    return readChatTemplateFile(path.resolve(baseDir, profile.chatTemplateFile));
  }
  throw new ChatTemplateError(`endpoint "${profile.name}": formatter "chat-template" needs chatTemplateFile (a tokenizer_config.json or .jinja file) or chatTemplate`);
}
