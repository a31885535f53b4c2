/**
 * Prompt templates use `{{name}}` placeholders (dotted paths allowed: `{{row.topic}}`).
 * Double braces because prompts about math and code are full of single braces (`\boxed{}`).
 * `{{{{` renders a literal `{{`. No logic in templates: conditional parts belong in the
 * prompt config or pipeline, where they can be validated.
 */

export interface Placeholder {
  name: string;
  /** Character offset of the opening braces. */
  index: number;
}

const PLACEHOLDER = /\{\{\{\{|\{\{\s*([A-Za-z_][\w]*(?:\.[\w]+)*)\s*\}\}/g;

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(message: string, readonly missing: string[] = []) {
    super(message);
  }
}

/** Placeholders in order of appearance (duplicates kept once). */
export function placeholders(template: string): string[] {
  const seen = new Set<string>();
  for (const m of template.matchAll(PLACEHOLDER)) if (m[1]) seen.add(m[1]);
  return [...seen];
}

function lookup(values: Record<string, unknown>, path: string): unknown {
  let cur: unknown = values;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in (cur as object))) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function stringify(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** Render; every placeholder must have a value (null/undefined count as missing). */
export function renderTemplate(template: string, values: Record<string, unknown>, where = 'template'): string {
  const missing: string[] = [];
  const out = template.replace(PLACEHOLDER, (whole, name: string | undefined) => {
    if (!name) return '{{';
    const v = lookup(values, name);
    if (v === undefined || v === null) {
      missing.push(name);
      return whole;
    }
    return stringify(v);
  });
  if (missing.length) throw new TemplateError(`${where}: no value for placeholder${missing.length > 1 ? 's' : ''} ${[...new Set(missing)].map((m) => `{{${m}}}`).join(', ')}`, [...new Set(missing)]);
  return out;
}
