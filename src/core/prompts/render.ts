/**
 * Rendering a prompt config for one dataset row: the chat messages sent to the model.
 * Used by `sdg generate`, its `--dry-run`, and the extension's prompt preview.
 */
import type { ChatMessage } from '../llm/types';
import { exampleValues, type ContextType, type PromptConfig } from './promptConfig';
import { renderTemplate, TemplateError } from './template';

/** What a row must provide to be rendered (a DatasetRow fits). */
export interface PromptRow {
  problem: string;
  expected_answer?: string | null;
  reference_solution?: string | null;
  masked_solution?: string | null;
  input_index?: number;
  /** The original input record, reachable as {{row.<key>}}. */
  fields?: Record<string, unknown>;
}

/** Thrown when a row lacks a value its prompt needs (e.g. no reference solution). */
export class PromptRenderError extends Error {
  override readonly name = 'PromptRenderError';
}

function renderContext(config: PromptConfig, contextType: ContextType, values: Record<string, unknown>, where: string): string {
  if (contextType === 'empty') return '';
  return renderTemplate(config.contextTemplates[contextType], values, where);
}

// The examples block is the same for every row; cache it per config object.
const examplesCache = new WeakMap<PromptConfig, string>();

/** The few-shot block: each example rendered, each followed by the separator ('' without examples). */
export function renderExamples(config: PromptConfig): string {
  const cached = examplesCache.get(config);
  if (cached !== undefined) return cached;
  const fs = config.fewShot;
  let out = '';
  if (fs && fs.count > 0) {
    out = fs.examples
      .slice(0, fs.count)
      .map((ex, i) => {
        const values = exampleValues(ex, i);
        const where = `${fs.file}: example ${i + 1}`;
        const context = renderContext(config, config.contextType, values, `${where} context`);
        return renderTemplate(fs.template, { ...values, context }, where) + fs.separator;
      })
      .join('');
  }
  examplesCache.set(config, out);
  return out;
}

/** The values a row offers to the system/user templates. */
export function rowValues(config: PromptConfig, row: PromptRow): Record<string, unknown> {
  const base: Record<string, unknown> = {
    problem: row.problem,
    expected_answer: row.expected_answer ?? undefined,
    reference_solution: row.reference_solution ?? undefined,
    masked_solution: row.masked_solution ?? undefined,
    input_index: row.input_index,
    row: row.fields ?? {},
  };
  const where = row.input_index !== undefined ? `row ${row.input_index}` : 'row';
  try {
    base.context = renderContext(config, config.contextType, base, `context (${config.contextType})`);
  } catch (e) {
    if (e instanceof TemplateError) {
      const hint = e.missing.includes('masked_solution')
        ? ' (add masked solutions with `sdg select-masked`, or map a field with --field masked_solution=KEY)'
        : e.missing.includes('reference_solution') ? ' (map a field with --field reference_solution=KEY)' : '';
      throw new PromptRenderError(`${where}: context type ${config.contextType} needs ${e.missing.join(', ')}, which this row does not have${hint}`);
    }
    throw e;
  }
  base.examples = renderExamples(config);
  return base;
}

/** Chat messages for one row: an optional system message, then the user message. */
export function renderPrompt(config: PromptConfig, row: PromptRow): ChatMessage[] {
  const values = rowValues(config, row);
  const where = row.input_index !== undefined ? `row ${row.input_index}` : 'row';
  const messages: ChatMessage[] = [];
  try {
    if (config.system.trim()) messages.push({ role: 'system', content: renderTemplate(config.system, values, `${config.name} system`).trim() });
    messages.push({ role: 'user', content: renderTemplate(config.user, values, `${config.name} user`).trim() });
  } catch (e) {
    if (e instanceof TemplateError) throw new PromptRenderError(`${where}: prompt ${config.name} needs ${e.missing.map((m) => `{{${m}}}`).join(', ')}, which this row does not have`);
    throw e;
  }
  return messages;
}
