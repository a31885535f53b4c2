/**
 * Where the built-in `prompts/` folder is. It ships beside the bundles (dist/../prompts) and sits at
 * the repository root in development (src/core/pipeline/../../../prompts); SDG_PROMPTS_DIR
 * overrides both (tests, packaging experiments).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TemplateStore } from './templates';

let cached: string | undefined;

export function builtinPromptsDir(): string {
  if (process.env.SDG_PROMPTS_DIR) return resolve(process.env.SDG_PROMPTS_DIR);
  if (cached) return cached;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'prompts');
    if (existsSync(join(candidate, 'pipelines'))) return (cached = candidate);
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`built-in prompts folder not found near ${__dirname} (set SDG_PROMPTS_DIR)`);
}

/** Templates of a workspace (searched first) and the built-ins. */
export function templateStore(workspacePromptsDir?: string): TemplateStore {
  const dirs: string[] = [];
  if (workspacePromptsDir) dirs.push(join(workspacePromptsDir, 'templates'));
  dirs.push(join(builtinPromptsDir(), 'templates'));
  return new TemplateStore(dirs);
}

let defaultStore: TemplateStore | undefined;

/** The built-in templates only (used by the step functions when no override is given). */
export function builtinTemplates(): TemplateStore {
  return (defaultStore ??= templateStore());
}
