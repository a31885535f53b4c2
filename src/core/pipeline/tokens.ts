/**
 * Token counts with a tokenizer the user names: a Hugging Face `tokenizer.json` (or a folder holding
 * one, with its `tokenizer_config.json` when present), read with @huggingface/tokenizers. Used by the
 * Nemotron-CC rewrite stages for their token-count filters and document segmenting, where the
 * reference (NeMo Curator) counts with the model's own tokenizer.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ChatTemplateFormatter, readChatTemplateFile } from '../llm/chatTemplate';
import type { ChatMessage } from '../llm/types';
import type { Tokenizer as TokenizerType } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };

// The package is an ES module with a CommonJS build; loaded on first use (only token stages need it).
type TokenizerModule = { Tokenizer: typeof TokenizerType };
let tokenizerModule: TokenizerModule | undefined;
function tokenizerClass(): TokenizerModule['Tokenizer'] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (tokenizerModule ??= require('@huggingface/tokenizers') as TokenizerModule).Tokenizer;
}

export interface TokenCounter {
  /** Where the tokenizer was read from. */
  readonly file: string;
  /** Tokens of `encode(text)` with special tokens (BOS...), as `tokenizer.encode` counts them. */
  count(text: string): number;
  /** Tokens of `tokenize(text)`: no special tokens. */
  countPlain(text: string): number;
  /** Token ids of `encode(text, add_special_tokens=False)` (special tokens written in the text still count as one). */
  countNoSpecial(text: string): number;
  /** The tokenizer_config.json beside the tokenizer, when there is one (its chat template renders prompts). */
  readonly configFile?: string;
}

const cache = new Map<string, TokenCounter>();

function readJson(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`tokenizer ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`tokenizer ${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** The tokenizer at `path` (a tokenizer.json, or a folder with one); loaded once per path. */
export function loadTokenizer(path: string): TokenCounter {
  const abs = resolve(path);
  const hit = cache.get(abs);
  if (hit) return hit;
  if (!existsSync(abs)) throw new Error(`tokenizer ${path}: not found (give a tokenizer.json file or a folder holding one)`);
  const file = statSync(abs).isDirectory() ? join(abs, 'tokenizer.json') : abs;
  if (!existsSync(file)) throw new Error(`tokenizer ${path}: the folder has no tokenizer.json`);
  const json = readJson(file);
  const configFile = join(resolve(file, '..'), 'tokenizer_config.json');
  const config = existsSync(configFile) ? readJson(configFile) : {};
  let tokenizer: TokenizerType;
  try {
    const Tokenizer = tokenizerClass();
    tokenizer = new Tokenizer(json as object, config as object);
  } catch (e) {
    throw new Error(`tokenizer ${file}: not a tokenizer.json this library can read (${e instanceof Error ? e.message : String(e)})`);
  }
  const counter: TokenCounter = {
    file,
    count: (text) => tokenizer.encode(text).ids.length,
    countPlain: (text) => tokenizer.tokenize(text).length,
    countNoSpecial: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids.length,
    configFile: existsSync(configFile) ? configFile : undefined,
  };
  cache.set(abs, counter);
  return counter;
}

/**
 * Tokens a prompt takes before the document, as the reference measures it:
 * `len(tokenizer.apply_chat_template(messages))` for the messages rendered with the document
 * "placeholder" (no generation prompt, no special tokens added beyond what the template writes).
 * Without a chat template beside the tokenizer the messages' texts are counted (an approximation).
 */
export function promptPrefixTokens(tokenizer: TokenCounter, messages: ChatMessage[]): number {
  if (tokenizer.configFile) {
    let formatter: ChatTemplateFormatter | undefined;
    try {
      formatter = new ChatTemplateFormatter(readChatTemplateFile(tokenizer.configFile));
    } catch {
      formatter = undefined; // a config without a chat template: count the texts
    }
    if (formatter) return tokenizer.countNoSpecial(formatter.render(messages, false));
  }
  return messages.reduce((n, m) => n + tokenizer.countNoSpecial(m.content), 0);
}
