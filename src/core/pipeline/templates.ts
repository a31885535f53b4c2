/**
 * Prompt templates of pipelines: YAML files under `prompts/templates/`, named by their path without
 * extension (`open_qa/macro_topics` is `prompts/templates/open_qa/macro_topics.yaml`).
 *
 *   description: what the prompt asks for
 *   system: optional system message ({{placeholders}} allowed)
 *   prompt: the user message, with {{placeholders}}
 *
 * A workspace's `prompts/templates/` is searched before the built-in one, so copying a template
 * into a workspace and editing it overrides the built-in of the same name.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ValidationError, YamlSource } from '../config/yamlSource';
import type { ChatMessage } from '../llm/types';
import { placeholders, renderTemplate } from '../prompts/template';

export interface PromptTemplate {
  name: string;
  /** The file it came from (undefined for templates built in code, e.g. overrides). */
  file?: string;
  description?: string;
  system?: string;
  prompt: string;
}

const NAME = /^[A-Za-z0-9_][\w-]*(?:\/[A-Za-z0-9_][\w-]*)*$/;

export function isTemplateName(name: string): boolean {
  return NAME.test(name);
}

/** Every placeholder the template uses (system and prompt). */
export function templatePlaceholders(t: PromptTemplate): string[] {
  return [...new Set([...(t.system ? placeholders(t.system) : []), ...placeholders(t.prompt)])];
}

/** The chat messages of a template rendered with `values`; throws TemplateError on a missing value. */
export function renderMessages(t: PromptTemplate, values: Record<string, unknown>): ChatMessage[] {
  const where = `template ${t.name}`;
  const out: ChatMessage[] = [];
  if (t.system) out.push({ role: 'system', content: renderTemplate(t.system, values, where) });
  out.push({ role: 'user', content: renderTemplate(t.prompt, values, where) });
  return out;
}

/** Parse one template file; errors name file, line and field. */
export function loadTemplateFile(file: string, name: string): PromptTemplate {
  const src = YamlSource.fromFile(file);
  const v = src.toJS();
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw src.error([], 'a template is a mapping with `prompt` (and optional `system`, `description`)');
  const obj = v as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (!['prompt', 'system', 'description'].includes(key)) throw src.error([key], `unknown key (expected prompt, system, description)`);
  }
  if (typeof obj.prompt !== 'string' || !obj.prompt.trim()) throw src.error(['prompt'], 'required: the user message text');
  if (obj.system !== undefined && typeof obj.system !== 'string') throw src.error(['system'], 'must be a string');
  if (obj.description !== undefined && typeof obj.description !== 'string') throw src.error(['description'], 'must be a string');
  return { name, file, prompt: obj.prompt, system: obj.system as string | undefined, description: obj.description as string | undefined };
}

/** Finds templates by name in an ordered list of `prompts/templates` folders. */
export class TemplateStore {
  private readonly cache = new Map<string, PromptTemplate>();

  constructor(readonly dirs: string[]) {}

  /** The file a template name resolves to, or undefined. */
  locate(name: string): string | undefined {
    if (!isTemplateName(name)) return undefined;
    for (const dir of this.dirs) {
      for (const ext of ['.yaml', '.yml']) {
        const f = join(dir, ...name.split('/')) + ext;
        if (existsSync(f)) return f;
      }
    }
    return undefined;
  }

  has(name: string): boolean {
    return this.locate(name) !== undefined;
  }

  get(name: string): PromptTemplate {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const file = this.locate(name);
    if (!file) throw new ValidationError(name, undefined, undefined, `no template named ${JSON.stringify(name)} in ${this.dirs.join(', ') || '(no template folders)'}`);
    const t = loadTemplateFile(file, name);
    this.cache.set(name, t);
    return t;
  }

  /** Every template name visible through this store (earlier folders win). */
  list(): Array<{ name: string; file: string }> {
    const seen = new Map<string, string>();
    for (const dir of this.dirs) {
      if (!existsSync(dir)) continue;
      const walk = (d: string) => {
        for (const entry of readdirSync(d)) {
          const p = join(d, entry);
          if (statSync(p).isDirectory()) walk(p);
          else if (/\.ya?ml$/.test(entry)) {
            const name = relative(dir, p).replace(/\.ya?ml$/, '').split(sep).join('/');
            if (!seen.has(name)) seen.set(name, p);
          }
        }
      };
      walk(dir);
    }
    return [...seen].map(([name, file]) => ({ name, file })).sort((a, b) => a.name.localeCompare(b.name));
  }
}
