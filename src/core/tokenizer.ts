/**
 * The one loader of Hugging Face tokenizers: a `tokenizer.json` (or a folder holding one, with
 * its `tokenizer_config.json` when present), read with @huggingface/tokenizers, once per path.
 * Used where token counts must be the model's own: the Nemotron-CC stages (pipeline/tokens.ts)
 * and the SFT export's token filters (sft/filters.ts).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
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

function readJson(file: string, label: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`${label} ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${label} ${file}: not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
}

/** The tokenizer at `path` (a tokenizer.json, or a folder with one); loaded once per path. */
export function loadTokenizer(path: string, label = 'tokenizer'): TokenCounter {
  const abs = resolve(path);
  const hit = cache.get(abs);
  if (hit) return hit;
  if (!existsSync(abs)) throw new Error(`${label} ${path}: not found (no such file or folder; give a tokenizer.json file or a folder holding one)`);
  const file = statSync(abs).isDirectory() ? join(abs, 'tokenizer.json') : abs;
  if (!existsSync(file)) throw new Error(`${label} ${path}: the folder has no tokenizer.json`);
  const json = readJson(file, label);
  const configFile = join(resolve(file, '..'), 'tokenizer_config.json');
  const config = existsSync(configFile) ? readJson(configFile, label) : {};
  let tokenizer: TokenizerType;
  try {
    const Tokenizer = tokenizerClass();
    tokenizer = new Tokenizer(json as object, config as object);
  } catch (e) {
    throw new Error(`${label} ${file}: not a tokenizer.json this library can read (${e instanceof Error ? e.message : String(e)})`);
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

