/**
 * Few-shot example sets: YAML files under `prompts/few_shot/` (built-ins) or anywhere on disk.
 *
 *   description: optional text
 *   examples:
 *     - problem: ...            required
 *       solution: ...           the worked solution shown as the answer
 *       expected_answer: ...    the final answer (for documentation and checks)
 *       reference_solution: ... optional; shown as context (falls back to `solution`)
 *       masked_solution: ...    optional; the solution with its answer and key numbers hidden
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ValidationError, YamlSource } from '../config/yamlSource';

export interface FewShotExample {
  problem: string;
  solution?: string;
  expected_answer?: string;
  reference_solution?: string;
  masked_solution?: string;
}

export const EXAMPLE_FIELDS = ['problem', 'solution', 'expected_answer', 'reference_solution', 'masked_solution'] as const;

/**
 * The folder holding `generation/` and `few_shot/`. `SDG_PROMPTS_DIR` overrides; otherwise the
 * nearest `prompts/` above this file (src/core/prompts in tests, dist/ in the bundles).
 */
export function builtinPromptsDir(): string {
  const env = process.env.SDG_PROMPTS_DIR;
  if (env) return resolve(env);
  let dir = __dirname;
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'prompts');
    if (existsSync(join(candidate, 'generation')) || existsSync(join(candidate, 'few_shot'))) return candidate;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(__dirname, '..', 'prompts');
}

/**
 * A set named in a config: a path (relative to the config file) when it looks like one,
 * else `<config dir>/../few_shot/NAME.yaml` (a user's own prompts/ tree), else the built-in.
 */
export function resolveFewShotFile(set: string, configFile?: string): string {
  const base = configFile ? dirname(configFile) : process.cwd();
  if (set.includes('/') || set.includes('\\') || /\.ya?ml$/i.test(set)) {
    const p = isAbsolute(set) ? set : resolve(base, set);
    if (!existsSync(p)) throw new Error(`few-shot set file not found: ${p}`);
    return p;
  }
  if (!/^[\w.-]+$/.test(set)) throw new Error(`few-shot set name ${JSON.stringify(set)} may only contain letters, digits, '_', '-', '.'`);
  const candidates = [join(base, '..', 'few_shot', `${set}.yaml`), join(builtinPromptsDir(), 'few_shot', `${set}.yaml`)];
  for (const c of candidates) if (existsSync(c) && statSync(c).isFile()) return c;
  throw new Error(`unknown few-shot set ${JSON.stringify(set)} (looked in ${[...new Set(candidates.map((c) => dirname(c)))].join(', ')})`);
}

/** Names of the built-in few-shot sets. */
export function listBuiltinFewShotSets(): string[] {
  const dir = join(builtinPromptsDir(), 'few_shot');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

/** Load and validate a few-shot set; throws a FewShotError listing every problem (file:line: field: ...). */
export function loadFewShotSet(file: string): FewShotExample[] {
  const src = YamlSource.fromFile(file);
  const errors: ValidationError[] = [];
  const raw = src.toJS();
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new FewShotError([src.error([], 'a few-shot set must be a mapping with an "examples" list')]);
  }
  const map = raw as Record<string, unknown>;
  for (const k of Object.keys(map)) if (k !== 'examples' && k !== 'description') errors.push(src.error([k], 'unknown key; allowed: description, examples'));
  if (!Array.isArray(map.examples)) {
    errors.push(src.error(['examples'], 'required (a list of examples)'));
    throw new FewShotError(errors);
  }
  const out: FewShotExample[] = [];
  map.examples.forEach((ex: unknown, i: number) => {
    if (ex === null || typeof ex !== 'object' || Array.isArray(ex)) {
      errors.push(src.error(['examples', i], 'each example must be a mapping with at least "problem"'));
      return;
    }
    const e = ex as Record<string, unknown>;
    const example: Record<string, string> = {};
    for (const [k, v] of Object.entries(e)) {
      if (!(EXAMPLE_FIELDS as readonly string[]).includes(k)) {
        errors.push(src.error(['examples', i, k], `unknown key; allowed: ${EXAMPLE_FIELDS.join(', ')}`));
        continue;
      }
      if (typeof v === 'number') example[k] = String(v);
      else if (typeof v === 'string') example[k] = v.replace(/\s+$/, '');
      else errors.push(src.error(['examples', i, k], `must be a string, found ${v === null ? 'null' : typeof v}`));
    }
    if (typeof e.problem !== 'string' || !e.problem.trim()) errors.push(src.error(['examples', i, 'problem'], 'required (a non-empty string)'));
    out.push(example as unknown as FewShotExample);
  });
  if (errors.length) throw new FewShotError(errors);
  return out;
}

export class FewShotError extends Error {
  override readonly name = 'FewShotError';
  constructor(readonly errors: ValidationError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}
