/**
 * SFT record shapes: chat `messages`, `prompt`/`completion`, and `text` rendered through a
 * conversation formatter (src/core/llm/formatters.ts), so the training text matches exactly
 * what a raw-completions server sends the same model family.
 */
import { renderTemplate } from '../prompts/template';
import { getFormatter, type ConversationFormatter } from '../llm/formatters';
import type { ChatMessage } from '../llm/types';

export type SftFormat = 'messages' | 'prompt-completion' | 'text';
export const SFT_FORMATS: readonly SftFormat[] = ['messages', 'prompt-completion', 'text'];

export interface SftFormatOptions {
  format: SftFormat;
  /** Optional system message. */
  systemPrompt?: string;
  /** User message template over the row's fields. Default `{{problem}}`. */
  promptTemplate?: string;
  /** Conversation formatter name: required for `text`, optional for `prompt-completion`. */
  formatter?: string;
  /** Row fields copied into each record (e.g. input_index, expected_answer). */
  keepFields?: string[];
  generationField?: string;
}

export class SftRenderer {
  private readonly formatter: ConversationFormatter | null;
  private readonly template: string;

  constructor(readonly options: SftFormatOptions) {
    if (options.format === 'text' && !options.formatter) throw new Error('--format text needs --formatter (one of the conversation formatters, e.g. llama3, chatml, none)');
    this.formatter = options.formatter ? getFormatter(options.formatter) : null;
    this.template = options.promptTemplate ?? '{{problem}}';
  }

  private promptMessages(row: Record<string, unknown>): ChatMessage[] {
    const user = renderTemplate(this.template, row, 'prompt template');
    const msgs: ChatMessage[] = [];
    if (this.options.systemPrompt) msgs.push({ role: 'system', content: this.options.systemPrompt });
    msgs.push({ role: 'user', content: user });
    return msgs;
  }

  /** End-of-turn marker the formatter expects after an assistant answer ('' for none). */
  private endOfTurn(): string {
    return this.formatter?.stopWords[0] ?? '';
  }

  render(row: Record<string, unknown>): Record<string, unknown> {
    const completion = String(row[this.options.generationField ?? 'generation'] ?? '').trim();
    const prompt = this.promptMessages(row);
    let record: Record<string, unknown>;
    switch (this.options.format) {
      case 'messages':
        record = { messages: [...prompt, { role: 'assistant', content: completion }] };
        break;
      case 'prompt-completion':
        record = this.formatter
          ? { prompt: this.formatter.format(prompt), completion: completion + this.endOfTurn() }
          : { prompt: prompt.map((m) => m.content).join('\n\n'), completion };
        break;
      case 'text':
        record = { text: this.formatter!.format(prompt) + completion + this.endOfTurn() };
        break;
      default:
        throw new Error(`unknown SFT format ${JSON.stringify(this.options.format)} (use ${SFT_FORMATS.join(', ')})`);
    }
    for (const f of this.options.keepFields ?? []) if (row[f] !== undefined) record[f] = row[f];
    return record;
  }
}
