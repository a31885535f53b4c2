/**
 * Token counts with a tokenizer the user names: a Hugging Face `tokenizer.json` (or a folder holding
 * one, with its `tokenizer_config.json` when present), read with @huggingface/tokenizers. Used by the
 * Nemotron-CC rewrite stages for their token-count filters and document segmenting, where the
 * reference (NeMo Curator) counts with the model's own tokenizer.
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
  };
  cache.set(abs, counter);
  return counter;
}
