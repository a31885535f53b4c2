/**
 * Token counts with a tokenizer the user names: a Hugging Face `tokenizer.json` (or a folder holding
 * one, with its `tokenizer_config.json` when present), read with @huggingface/tokenizers. Used by the
 * Nemotron-CC rewrite stages for their token-count filters and document segmenting, where the
 * reference (NeMo Curator) counts with the model's own tokenizer.
 */
import { ChatTemplateFormatter, readChatTemplateFile } from '../llm/chatTemplate';
import type { ChatMessage } from '../llm/types';
import type { TokenCounter } from '../tokenizer';

export { loadTokenizer, type TokenCounter } from '../tokenizer';

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
