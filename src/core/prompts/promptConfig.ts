/**
 * Prompt configs for the labeling job: YAML files under `prompts/generation/` (built-ins) or
 * anywhere on disk. One config says how to turn a dataset row into chat messages:
 *
 *   description: optional text
 *   system: system message (may be empty)
 *   user: user message template, with {{problem}}, {{examples}}, {{context}}, ...
 *   few_shot: { set: NAME_OR_PATH, count: N, template: ..., separator: ... }
 *   context_type: empty | reference_solution | masked_solution
 *   context_templates: { reference_solution: ..., masked_solution: ... }
 *   params: { temperature, top_p, top_k, max_tokens, stop, extra }
 *
 * Validation collects every error (unknown keys, wrong types, missing or unknown placeholders)
 * and reports them together, each as `file:line: field: message`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, isAbsolute, join, resolve } from 'node:path';
import { ValidationError, YamlSource, type FieldPath } from '../config/yamlSource';
import type { ModelParams } from '../llm/types';
import { placeholders } from './template';
import { builtinPromptsDir, FewShotError, loadFewShotSet, resolveFewShotFile, type FewShotExample } from './fewShot';

export type ContextType = 'empty' | 'reference_solution' | 'masked_solution';
export const CONTEXT_TYPES: readonly ContextType[] = ['empty', 'reference_solution', 'masked_solution'];

/** Sampling defaults a config may set. `n` and `seed` come from the job (samples, seeds). */
export type PromptParams = Omit<ModelParams, 'n' | 'seed'>;

export interface FewShotConfig {
  /** The set as written in the config (name or path). */
  set: string;
  /** The file it was loaded from. */
  file: string;
  count: number;
  /** How one example is rendered; may use the example's fields, {{context}} and {{index}}. */
  template: string;
  /** Between examples, and after the last one. */
  separator: string;
  /** The whole set; the first `count` are used. */
  examples: FewShotExample[];
}

export interface PromptConfig {
  /** Built-in name, or the file's base name without extension. */
  name: string;
  file: string;
  description: string;
  system: string;
  user: string;
  fewShot: FewShotConfig | null;
  contextType: ContextType;
  contextTemplates: Record<Exclude<ContextType, 'empty'>, string>;
  params: PromptParams;
  /** Set when solutions mix text with executed code blocks (`code_execution:`); null otherwise. */
  codeExecution: CodeExecutionSettings | null;
}

/**
 * Code mode: the model writes `code_begin` ... `code_end`, generation stops there, the block runs
 * in the sandbox and `output_begin` OUTPUT `output_end` is appended before the model goes on.
 * Defaults are the reference implementation's tags and limits.
 */
export interface CodeExecutionSettings {
  codeBegin: string;
  codeEnd: string;
  outputBegin: string;
  outputEnd: string;
  /** Blocks executed per solution at most; a block written after that is left unexecuted. */
  maxExecutions: number;
  /** Characters of output kept per block (then "<output cut>"). */
  maxOutputChars: number;
  /** Wall-clock limit per block, seconds. */
  timeoutSeconds: number;
  /** End the solution after a failed or timed-out block instead of letting the model go on. */
  stopOnError: boolean;
}

export const DEFAULT_CODE_EXECUTION: CodeExecutionSettings = {
  codeBegin: '<llm-code>',
  codeEnd: '</llm-code>',
  outputBegin: '<llm-code-output>',
  outputEnd: '</llm-code-output>',
  maxExecutions: 8,
  maxOutputChars: 1000,
  timeoutSeconds: 10,
  stopOnError: false,
};

const CODE_EXECUTION_KEYS = ['code_begin', 'code_end', 'output_begin', 'output_end', 'max_executions', 'max_output_chars', 'timeout', 'stop_on_error'];

function parseCodeExecution(c: Checker, value: unknown): CodeExecutionSettings | null {
  const path = ['code_execution'];
  if (value === undefined || value === null || value === false) return null;
  if (value === true) return { ...DEFAULT_CODE_EXECUTION };
  if (!isMap(value)) {
    c.add(path, `must be a mapping (e.g. {max_executions: 4}) or true, found ${typeName(value)}`);
    return null;
  }
  c.unknownKeys(value, CODE_EXECUTION_KEYS, path);
  const out = { ...DEFAULT_CODE_EXECUTION };
  const tag = (key: string, field: 'codeBegin' | 'codeEnd' | 'outputBegin' | 'outputEnd') => {
    const v = c.string(value[key], [...path, key], false);
    if (v === undefined) return;
    if (!v.trim()) c.add([...path, key], 'must not be empty');
    else out[field] = v;
  };
  tag('code_begin', 'codeBegin');
  tag('code_end', 'codeEnd');
  tag('output_begin', 'outputBegin');
  tag('output_end', 'outputEnd');
  const m = c.number(value.max_executions, [...path, 'max_executions'], { integer: true, min: 0 });
  if (m !== undefined) out.maxExecutions = m;
  const o = c.number(value.max_output_chars, [...path, 'max_output_chars'], { integer: true, min: 1 });
  if (o !== undefined) out.maxOutputChars = o;
  const t = c.number(value.timeout, [...path, 'timeout'], { min: 0, minExclusive: true });
  if (t !== undefined) out.timeoutSeconds = t;
  if (value.stop_on_error !== undefined && value.stop_on_error !== null) {
    if (typeof value.stop_on_error === 'boolean') out.stopOnError = value.stop_on_error;
    else c.add([...path, 'stop_on_error'], `must be true or false, found ${typeName(value.stop_on_error)}`);
  }
  if (out.codeBegin === out.codeEnd) c.add([...path, 'code_end'], 'must differ from code_begin');
  if (out.outputBegin === out.outputEnd) c.add([...path, 'output_end'], 'must differ from output_begin');
  return out;
}

/** Several validation errors at once; `message` has one per line. */
export class PromptConfigError extends Error {
  override readonly name = 'PromptConfigError';
  constructor(readonly errors: ValidationError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}

export const DEFAULT_CONTEXT_TEMPLATES: PromptConfig['contextTemplates'] = {
  reference_solution: 'Here is a reference solution to the problem:\n{{reference_solution}}\n\n',
  masked_solution: 'Here is a reference solution in which the final answer and key intermediate numbers are hidden:\n{{masked_solution}}\n\n',
};

export const DEFAULT_EXAMPLE_TEMPLATE = 'Problem:\n{{problem}}\n\n{{context}}Solution:\n{{solution}}';
export const DEFAULT_EXAMPLE_SEPARATOR = '\n\n\n';

/** Values a user/system template can use besides `row.<input field>`. */
export const ROW_PLACEHOLDERS = ['problem', 'expected_answer', 'reference_solution', 'masked_solution', 'input_index', 'context', 'examples'] as const;

const TOP_KEYS = ['description', 'system', 'user', 'few_shot', 'context_type', 'context_templates', 'params', 'code_execution'];
const FEW_SHOT_KEYS = ['set', 'count', 'template', 'separator'];
const PARAM_KEYS = ['temperature', 'top_p', 'top_k', 'max_tokens', 'stop', 'extra'];

function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

/** Error collector bound to one YAML file. */
class Checker {
  readonly errors: ValidationError[] = [];
  constructor(readonly src: YamlSource) {}
  add(path: FieldPath, detail: string): void {
    this.errors.push(this.src.error(path, detail));
  }
  unknownKeys(value: Record<string, unknown>, allowed: readonly string[], path: FieldPath): void {
    for (const k of Object.keys(value)) {
      if (!allowed.includes(k)) this.add([...path, k], `unknown key; allowed: ${allowed.join(', ')}`);
    }
  }
  string(value: unknown, path: FieldPath, required: boolean): string | undefined {
    if (value === undefined || value === null) {
      if (required) this.add(path, 'required (a string)');
      return undefined;
    }
    if (typeof value !== 'string') {
      this.add(path, `must be a string, found ${typeName(value)}`);
      return undefined;
    }
    return value;
  }
  number(value: unknown, path: FieldPath, opts: { integer?: boolean; min?: number; max?: number; minExclusive?: boolean }): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      this.add(path, `must be a number, found ${typeName(value)}`);
      return undefined;
    }
    if (opts.integer && !Number.isInteger(value)) this.add(path, 'must be a whole number');
    else if (opts.min !== undefined && (opts.minExclusive ? value <= opts.min : value < opts.min)) this.add(path, `must be ${opts.minExclusive ? '>' : '>='} ${opts.min}`);
    else if (opts.max !== undefined && value > opts.max) this.add(path, `must be <= ${opts.max}`);
    else return value;
    return undefined;
  }
  /** Placeholders of `template` must be in `allowed` (or `row.*` when allowRow) and include `required`. */
  placeholders(template: string, path: FieldPath, allowed: readonly string[], required: readonly string[], allowRow: boolean): void {
    const used = placeholders(template);
    for (const p of used) {
      if (allowed.includes(p)) continue;
      if (allowRow && p.startsWith('row.')) continue;
      this.add(path, `unknown placeholder {{${p}}}; allowed: ${allowed.map((a) => `{{${a}}}`).join(', ')}${allowRow ? ', {{row.<input field>}}' : ''}`);
    }
    for (const r of required) if (!used.includes(r)) this.add(path, `missing placeholder {{${r}}}`);
  }
}

export function validateParams(c: Checker, value: unknown, path: FieldPath): PromptParams {
  const out: PromptParams = {};
  if (value === undefined || value === null) return out;
  if (!isMap(value)) {
    c.add(path, `must be a mapping, found ${typeName(value)}`);
    return out;
  }
  c.unknownKeys(value, PARAM_KEYS, path);
  const t = c.number(value.temperature, [...path, 'temperature'], { min: 0 });
  if (t !== undefined) out.temperature = t;
  const p = c.number(value.top_p, [...path, 'top_p'], { min: 0, max: 1, minExclusive: true });
  if (p !== undefined) out.top_p = p;
  const k = c.number(value.top_k, [...path, 'top_k'], { integer: true, min: -1 });
  if (k !== undefined) out.top_k = k;
  const m = c.number(value.max_tokens, [...path, 'max_tokens'], { integer: true, min: 1 });
  if (m !== undefined) out.max_tokens = m;
  if (value.stop !== undefined && value.stop !== null) {
    if (typeof value.stop === 'string') out.stop = [value.stop];
    else if (Array.isArray(value.stop) && value.stop.every((s) => typeof s === 'string' && s.length > 0)) out.stop = value.stop as string[];
    else c.add([...path, 'stop'], 'must be a string or a list of non-empty strings');
  }
  if (value.extra !== undefined && value.extra !== null) {
    if (isMap(value.extra)) out.extra = value.extra;
    else c.add([...path, 'extra'], `must be a mapping, found ${typeName(value.extra)}`);
  }
  return out;
}

/** Where `--prompt NAME_OR_FILE` points: a file path if it exists or looks like one, else a built-in. */
export function resolvePromptFile(nameOrFile: string, cwd = process.cwd()): string {
  const looksLikePath = nameOrFile.includes('/') || nameOrFile.includes('\\') || /\.ya?ml$/i.test(nameOrFile);
  const asPath = isAbsolute(nameOrFile) ? nameOrFile : resolve(cwd, nameOrFile);
  if (looksLikePath || (existsSync(asPath) && statSync(asPath).isFile())) {
    if (!existsSync(asPath)) throw new Error(`prompt config ${nameOrFile}: file not found (${asPath})`);
    return asPath;
  }
  const builtin = join(builtinPromptsDir(), 'generation', `${nameOrFile}.yaml`);
  if (existsSync(builtin)) return builtin;
  const names = listBuiltinPrompts();
  throw new Error(`unknown prompt ${JSON.stringify(nameOrFile)}: not a file and not a built-in (built-ins: ${names.join(', ') || 'none found'})`);
}

/** Names of the built-in prompt configs. */
export function listBuiltinPrompts(): string[] {
  const dir = join(builtinPromptsDir(), 'generation');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

/** Built-in prompt configs with their descriptions (for pickers); invalid ones say why. */
export function listBuiltinPromptInfo(): Array<{ name: string; file: string; description: string; error?: string }> {
  return listBuiltinPrompts().map((name) => {
    const file = join(builtinPromptsDir(), 'generation', `${name}.yaml`);
    try {
      const c = loadPromptConfigFile(file);
      return { name, file, description: c.description };
    } catch (e) {
      return { name, file, description: '', error: (e as Error).message };
    }
  });
}

/** Load and validate a prompt config by built-in name or path (few-shot set included). */
export function loadPromptConfig(nameOrFile: string, cwd?: string): PromptConfig {
  return loadPromptConfigFile(resolvePromptFile(nameOrFile, cwd));
}

export function loadPromptConfigFile(file: string): PromptConfig {
  return parsePromptConfig(YamlSource.fromFile(file));
}

/** Validate a parsed YAML prompt config; throws PromptConfigError with every problem found. */
export function parsePromptConfig(src: YamlSource): PromptConfig {
  const c = new Checker(src);
  const raw = src.toJS();
  if (!isMap(raw)) {
    c.add([], `a prompt config must be a mapping with at least "user", found ${typeName(raw)}`);
    throw new PromptConfigError(c.errors);
  }
  c.unknownKeys(raw, TOP_KEYS, []);
  const description = c.string(raw.description, ['description'], false) ?? '';
  const system = c.string(raw.system, ['system'], false) ?? '';
  const user = c.string(raw.user, ['user'], true);

  let contextType: ContextType = 'empty';
  if (raw.context_type !== undefined && raw.context_type !== null) {
    if (typeof raw.context_type === 'string' && (CONTEXT_TYPES as readonly string[]).includes(raw.context_type)) contextType = raw.context_type as ContextType;
    else c.add(['context_type'], `must be one of ${CONTEXT_TYPES.join(', ')}, found ${JSON.stringify(raw.context_type)}`);
  }

  const contextTemplates = { ...DEFAULT_CONTEXT_TEMPLATES };
  if (raw.context_templates !== undefined && raw.context_templates !== null) {
    if (!isMap(raw.context_templates)) c.add(['context_templates'], `must be a mapping, found ${typeName(raw.context_templates)}`);
    else {
      c.unknownKeys(raw.context_templates, ['reference_solution', 'masked_solution'], ['context_templates']);
      for (const kind of ['reference_solution', 'masked_solution'] as const) {
        const path = ['context_templates', kind];
        const t = c.string(raw.context_templates[kind], path, false);
        if (t === undefined) continue;
        c.placeholders(t, path, ['problem', 'expected_answer', 'reference_solution', 'masked_solution'], [kind], true);
        contextTemplates[kind] = t;
      }
    }
  }

  let fewShot: FewShotConfig | null = null;
  if (raw.few_shot !== undefined && raw.few_shot !== null) {
    fewShot = parseFewShotRef(c, raw.few_shot, src.file);
  }

  if (user !== undefined) {
    const required = ['problem'];
    if (fewShot && fewShot.count > 0) required.push('examples');
    if (contextType !== 'empty') required.push('context');
    c.placeholders(user, ['user'], ROW_PLACEHOLDERS, required, true);
  }
  if (system) c.placeholders(system, ['system'], ROW_PLACEHOLDERS, [], true);

  const params = validateParams(c, raw.params, ['params']);
  const codeExecution = parseCodeExecution(c, raw.code_execution);

  if (c.errors.length) throw new PromptConfigError(c.errors);
  const config: PromptConfig = {
    name: basename(src.file, extname(src.file)),
    file: src.file,
    description,
    system,
    user: user!,
    fewShot,
    contextType,
    contextTemplates,
    params,
    codeExecution,
  };
  // The config's own context type must be renderable with its examples.
  const problems = checkContextSupport(config, contextType);
  if (problems.length) throw new PromptConfigError(problems.map((p) => src.error(p.path, p.detail)));
  return config;
}

function parseFewShotRef(c: Checker, value: unknown, configFile: string): FewShotConfig | null {
  const path = ['few_shot'];
  if (!isMap(value)) {
    c.add(path, `must be a mapping like {set: gsm8k_text, count: 5}, found ${typeName(value)}`);
    return null;
  }
  c.unknownKeys(value, FEW_SHOT_KEYS, path);
  const set = c.string(value.set, [...path, 'set'], true);
  let count = 0;
  if (value.count === undefined || value.count === null) c.add([...path, 'count'], 'required (a whole number >= 0)');
  else count = c.number(value.count, [...path, 'count'], { integer: true, min: 0 }) ?? 0;
  const template = c.string(value.template, [...path, 'template'], false) ?? DEFAULT_EXAMPLE_TEMPLATE;
  const separator = c.string(value.separator, [...path, 'separator'], false) ?? DEFAULT_EXAMPLE_SEPARATOR;
  if (set === undefined) return null;
  let file: string;
  let examples: FewShotExample[];
  try {
    file = resolveFewShotFile(set, configFile);
    examples = loadFewShotSet(file);
  } catch (e) {
    // Errors inside the set's own file keep their own file:line.
    if (e instanceof FewShotError) {
      c.errors.push(...e.errors);
      return null;
    }
    if (e instanceof ValidationError) {
      c.errors.push(e);
      return null;
    }
    c.add([...path, 'set'], (e as Error).message);
    return null;
  }
  if (count > examples.length) c.add([...path, 'count'], `${count} examples asked for, but set ${JSON.stringify(set)} has ${examples.length}`);
  // Example fields used by the template must exist in each chosen example (checked per context type later).
  const allowed = ['context', 'index', 'problem', 'solution', 'expected_answer', 'reference_solution', 'masked_solution'];
  c.placeholders(template, [...path, 'template'], allowed, ['problem'], false);
  for (const name of placeholders(template)) {
    if (name === 'context' || name === 'index') continue;
    examples.slice(0, count).forEach((ex, i) => {
      if (ex[name as keyof FewShotExample] === undefined) c.add([...path, 'template'], `uses {{${name}}}, but example ${i + 1} of set ${JSON.stringify(set)} has no ${name}`);
    });
  }
  return { set, file, count, template, separator, examples };
}

/**
 * Whether `config` can render its examples under `contextType`: each chosen example needs the
 * field the context template uses (an example's `reference_solution` falls back to `solution`).
 */
export function checkContextSupport(config: PromptConfig, contextType: ContextType): Array<{ path: FieldPath; detail: string }> {
  const out: Array<{ path: FieldPath; detail: string }> = [];
  if (contextType !== 'empty' && !placeholders(config.user).includes('context')) {
    out.push({ path: ['user'], detail: `context type ${contextType} needs a {{context}} placeholder in the user template` });
  }
  const fs = config.fewShot;
  if (!fs || fs.count === 0 || contextType === 'empty' || !placeholders(fs.template).includes('context')) return out;
  fs.examples.slice(0, fs.count).forEach((ex, i) => {
    const values = exampleValues(ex, i);
    for (const name of placeholders(config.contextTemplates[contextType])) {
      if (name.startsWith('row.')) continue;
      if (values[name] === undefined) out.push({ path: ['few_shot', 'set'], detail: `context type ${contextType} needs ${name} in every example, but example ${i + 1} of set ${JSON.stringify(fs.set)} has none` });
    }
  });
  return out;
}

/** The values an example template sees (without `context`). */
export function exampleValues(ex: FewShotExample, i: number): Record<string, unknown> {
  return { ...ex, reference_solution: ex.reference_solution ?? ex.solution, index: i + 1 };
}

/**
 * A copy of `config` with job-level overrides (`--context-type`, few-shot count), validated:
 * throws a one-line Error naming the config when the combination cannot render.
 */
export function withOverrides(config: PromptConfig, overrides: { contextType?: ContextType; fewShotCount?: number }): PromptConfig {
  let out = config;
  if (overrides.fewShotCount !== undefined && overrides.fewShotCount !== config.fewShot?.count) {
    if (!config.fewShot) {
      if (overrides.fewShotCount > 0) throw new Error(`${config.file}: few-shot count ${overrides.fewShotCount} asked for, but the prompt config has no few_shot set`);
    } else {
      if (overrides.fewShotCount > config.fewShot.examples.length) throw new Error(`${config.file}: few-shot count ${overrides.fewShotCount} asked for, but set ${config.fewShot.set} has ${config.fewShot.examples.length} examples`);
      out = { ...out, fewShot: { ...config.fewShot, count: overrides.fewShotCount } };
    }
  }
  if (overrides.contextType && overrides.contextType !== config.contextType) {
    out = { ...out, contextType: overrides.contextType };
  }
  const problems = checkContextSupport(out, out.contextType);
  if (problems.length) throw new Error(`${config.file}: ${problems.map((p) => p.detail).join('; ')}`);
  return out;
}
