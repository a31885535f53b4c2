/**
 * Problems of SDG YAML files (pipelines, templates, prompt configs, few-shot sets) as the core
 * validators report them, by file, line and field. Pure (no `vscode`): diagnostics.ts shows them
 * in the Problems view.
 */
import { basename, dirname, relative, sep } from 'node:path';

export type SdgYamlKind = 'pipeline' | 'template' | 'prompt-config' | 'few-shot';

export interface YamlProblem {
  /** 1-based; undefined when the validator names no line. */
  line?: number;
  field?: string;
  message: string;
}

/** Which kind of SDG file a path is, from where it sits under a `prompts/` folder. */
export function sdgYamlKind(file: string): { kind: SdgYamlKind; promptsDir: string } | undefined {
  if (!/\.ya?ml$/i.test(file)) return undefined;
  const parts = file.split(/[\\/]/);
  for (let i = parts.length - 2; i >= 1; i--) {
    if (parts[i - 1] !== 'prompts') continue;
    const promptsDir = parts.slice(0, i).join(sep) || sep;
    switch (parts[i]) {
      case 'pipelines':
        return i === parts.length - 2 ? { kind: 'pipeline', promptsDir } : undefined;
      case 'templates':
        return { kind: 'template', promptsDir };
      case 'generation':
        return i === parts.length - 2 ? { kind: 'prompt-config', promptsDir } : undefined;
      case 'few_shot':
        return i === parts.length - 2 ? { kind: 'few-shot', promptsDir } : undefined;
    }
  }
  return undefined;
}

function fromError(e: unknown): YamlProblem[] {
  const list = e && typeof e === 'object' && Array.isArray((e as { errors?: unknown }).errors) ? ((e as { errors: unknown[] }).errors) : [e];
  return list.map((x) => {
    const v = x as { line?: number; field?: string; detail?: string; message?: string };
    return { line: v.line, field: v.field, message: v.detail ?? v.message ?? String(x) };
  });
}

/** Validate one file on disk with the core; [] when it is fine. */
export function checkSdgYaml(file: string): YamlProblem[] {
  const which = sdgYamlKind(file);
  if (!which) return [];
  try {
    switch (which.kind) {
      case 'pipeline': {
        const { validatePipelineFile } = require('../core/pipeline/loader') as typeof import('../core/pipeline/loader.js');
        return validatePipelineFile(file, which.promptsDir).map((e) => ({ line: e.line, field: e.field, message: e.message }));
      }
      case 'template': {
        const { loadTemplateFile } = require('../core/pipeline/templates') as typeof import('../core/pipeline/templates.js');
        const name = relative(`${which.promptsDir}${sep}templates`, file).replace(/\.ya?ml$/i, '').split(sep).join('/');
        loadTemplateFile(file, name);
        return [];
      }
      case 'prompt-config': {
        const { loadPromptConfigFile } = require('../core/prompts/promptConfig') as typeof import('../core/prompts/promptConfig.js');
        loadPromptConfigFile(file);
        return [];
      }
      case 'few-shot': {
        const { loadFewShotSet } = require('../core/prompts/fewShot') as typeof import('../core/prompts/fewShot.js');
        loadFewShotSet(file);
        return [];
      }
    }
  } catch (e) {
    return fromError(e);
  }
}

export function describeKind(file: string): string {
  const k = sdgYamlKind(file)?.kind;
  return k ? `${k} ${basename(file)} (${basename(dirname(file))})` : basename(file);
}
