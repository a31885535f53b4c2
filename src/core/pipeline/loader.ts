/**
 * The pipeline catalogue, as the CLI and the VS Code extension see it: built-in pipelines plus a
 * workspace's `prompts/pipelines/*.yaml` (a workspace file with the same name as a built-in
 * overrides it), their parameters and templates, copying a built-in into a workspace, validation
 * as data, and the --dry-run renderer.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ValidationError, YamlSource } from '../config/yamlSource';
import type { ChatMessage } from '../llm/types';
import { builtinPromptsDir, templateStore } from './builtins';
import { loadPipelineSource, paramRef, stageEnabled, stageOptions, STAGE_OPTIONS, type ParamSpec, type ParamValue, type PipelineDef } from './definition';
import { templateName, templateValues } from './modelStages';
import type { Row } from './rows';
import { renderMessages, type TemplateStore } from './templates';

export interface PipelineInfo {
  /** File name without extension: what `sdg run NAME` takes. */
  name: string;
  file: string;
  source: 'builtin' | 'workspace';
  /** True when a workspace file hides a built-in of the same name. */
  overridesBuiltin: boolean;
  description: string;
  parameters: ParamSpec[];
  /** Templates the stages use (names; parameterised names expanded over defaults/choices). */
  templates: string[];
  endpoints: Record<string, string>;
  /** `documents`: a source stage's raw option (the Studio offers a dataset picker for parameters it refers to). */
  stages: Array<{ name: string; kind: string; line?: number; documents?: unknown }>;
  /** Problems found while loading (a broken workspace file is listed, not hidden). */
  errors: ValidationErrorData[];
}

export interface ValidationErrorData {
  file: string;
  line?: number;
  field?: string;
  message: string;
}

export function toData(e: ValidationError): ValidationErrorData {
  return { file: e.file, line: e.line, field: e.field, message: e.detail };
}

function pipelineFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(dir, f));
}

/** Templates referenced by a pipeline (literal names, and names built from parameter choices/defaults). */
export function pipelineTemplates(def: PipelineDef, store?: TemplateStore): string[] {
  const out = new Set<string>();
  for (const s of def.stages) {
    const specs = STAGE_OPTIONS[s.kind];
    for (const [k, spec] of Object.entries(specs)) {
      if (spec.type !== 'template') continue;
      let v = (s.options[k] ?? spec.default) as unknown;
      if (k === 'user_template' && v === undefined && s.kind === 'dialogue') {
        const persona = s.options.persona;
        const ref = paramRef(persona);
        const p = ref ? def.parameters.find((x) => x.name === ref) : undefined;
        for (const x of p?.choices ?? [p?.default ?? persona ?? 'normal']) out.add(`dialogue/user_${x}`);
        continue;
      }
      if (typeof v !== 'string') continue;
      const m = /\{\{\s*(\w+)\s*\}\}/.exec(v);
      const p = m ? def.parameters.find((x) => x.name === m[1]) : undefined;
      if (p) for (const x of p.choices ?? [String(p.default)]) out.add(v.replace(m![0], x));
      else if (!m) out.add(v);
      else if (store) {
        // Depends on a row field ("coding/problems_{{level}}"): every template the pattern can match.
        const re = new RegExp('^' + v.split(/\{\{\s*\w+\s*\}\}/).map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+') + '$');
        for (const t of store.list()) if (re.test(t.name)) out.add(t.name);
      }
      v = undefined;
    }
  }
  return [...out].sort();
}

export interface Catalogue {
  pipelines: PipelineInfo[];
  templates: TemplateStore;
}

/** Built-in pipelines plus `<workspacePromptsDir>/pipelines/*.yaml` (workspace wins on name clashes). */
export function listPipelines(workspacePromptsDir?: string): Catalogue {
  const templates = templateStore(workspacePromptsDir);
  const byName = new Map<string, PipelineInfo>();
  const add = (file: string, source: 'builtin' | 'workspace') => {
    const name = basename(file).replace(/\.ya?ml$/, '');
    const { def, errors } = validatePipelineFileWith(file, templates);
    const info: PipelineInfo = {
      name,
      file,
      source,
      overridesBuiltin: source === 'workspace' && byName.get(name)?.source === 'builtin',
      description: def?.description ?? '',
      parameters: def?.parameters ?? [],
      templates: def ? pipelineTemplates(def, templates) : [],
      endpoints: def?.endpoints ?? {},
      stages: def?.stages.map((s) => ({ name: s.name, kind: s.kind, line: s.line, ...(s.kind === 'source' ? { documents: s.options.documents } : {}) })) ?? [],
      errors,
    };
    byName.set(name, info);
  };
  for (const f of pipelineFiles(join(builtinPromptsDir(), 'pipelines'))) add(f, 'builtin');
  if (workspacePromptsDir) for (const f of pipelineFiles(join(workspacePromptsDir, 'pipelines'))) add(f, 'workspace');
  return { pipelines: [...byName.values()].sort((a, b) => a.name.localeCompare(b.name)), templates };
}

function validatePipelineFileWith(file: string, templates: TemplateStore): { def?: PipelineDef; errors: ValidationErrorData[] } {
  let src: YamlSource;
  try {
    src = YamlSource.fromFile(file);
  } catch (e) {
    if (e instanceof ValidationError) return { errors: [toData(e)] };
    throw e;
  }
  const r = loadPipelineSource(src, { templates });
  return { def: r.errors.length ? undefined : r.def, errors: r.errors.map(toData) };
}

/** Validate a pipeline file: every error (file, line, field, message) as data; [] when valid. */
export function validatePipelineFile(file: string, workspacePromptsDir?: string): ValidationErrorData[] {
  return validatePipelineFileWith(file, templateStore(workspacePromptsDir ?? guessPromptsDir(file))).errors;
}

/**
 * Validate pipeline text that may not be saved yet (an editor buffer). `file` is used in messages
 * and to find the workspace templates when `workspacePromptsDir` is not given.
 */
export function validatePipelineText(text: string, file: string, workspacePromptsDir?: string): ValidationErrorData[] {
  let src: YamlSource;
  try {
    src = YamlSource.fromText(file, text);
  } catch (e) {
    if (e instanceof ValidationError) return [toData(e)];
    throw e;
  }
  return loadPipelineSource(src, { templates: templateStore(workspacePromptsDir ?? guessPromptsDir(file)) }).errors.map(toData);
}

/** `<ws>/prompts/pipelines/x.yaml` -> `<ws>/prompts` (so its templates are found). */
function guessPromptsDir(file: string): string | undefined {
  const d = dirname(file);
  return basename(d) === 'pipelines' ? dirname(d) : undefined;
}

/** Resolve NAME_OR_FILE: an existing file path, else a pipeline name from the catalogue. */
export function resolvePipeline(nameOrFile: string, workspacePromptsDir?: string): { def: PipelineDef; templates: TemplateStore } {
  const isFile = /\.ya?ml$/.test(nameOrFile) || nameOrFile.includes('/') || nameOrFile.includes('\\');
  let file: string;
  const promptsDir = workspacePromptsDir ?? (isFile ? guessPromptsDir(nameOrFile) : undefined);
  const templates = templateStore(promptsDir);
  if (isFile) {
    if (!existsSync(nameOrFile)) throw new Error(`pipeline file not found: ${nameOrFile}`);
    file = nameOrFile;
  } else {
    const cat = listPipelines(workspacePromptsDir);
    const hit = cat.pipelines.find((p) => p.name === nameOrFile);
    if (!hit) throw new Error(`no pipeline named ${JSON.stringify(nameOrFile)} (available: ${cat.pipelines.map((p) => p.name).join(', ')})`);
    file = hit.file;
  }
  const src = YamlSource.fromFile(file);
  const r = loadPipelineSource(src, { templates });
  if (r.errors.length || !r.def) throw new Error(`invalid pipeline:\n${r.errors.map((e) => e.message).join('\n')}`);
  return { def: r.def, templates };
}

export interface CopyResult {
  /** Files written (pipeline and templates), skipped ones excluded. */
  written: string[];
  /** Files that already existed and were left alone (pass overwrite to replace them). */
  skipped: string[];
}

/** Copy a built-in pipeline and every template it uses into `<workspacePromptsDir>/{pipelines,templates}`. */
export function copyBuiltinPipeline(name: string, workspacePromptsDir: string, opts: { overwrite?: boolean; as?: string } = {}): CopyResult {
  const builtin = join(builtinPromptsDir(), 'pipelines', `${name}.yaml`);
  if (!existsSync(builtin)) throw new Error(`no built-in pipeline named ${JSON.stringify(name)}`);
  const builtinTemplates = templateStore();
  const { def, errors } = validatePipelineFileWith(builtin, builtinTemplates);
  if (!def) throw new Error(`built-in pipeline ${name} is invalid: ${errors.map((e) => e.message).join('; ')}`);
  const result: CopyResult = { written: [], skipped: [] };
  const copy = (from: string, to: string) => {
    if (existsSync(to) && !opts.overwrite) { result.skipped.push(to); return; }
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
    result.written.push(to);
  };
  copy(builtin, join(workspacePromptsDir, 'pipelines', `${opts.as ?? name}.yaml`));
  for (const t of pipelineTemplates(def, builtinTemplates)) {
    const f = builtinTemplates.locate(t);
    if (f) copy(f, join(workspacePromptsDir, 'templates', ...t.split('/')) + '.yaml');
  }
  return result;
}

/** The first document of a source (first JSONL line or first file), read without loading whole files. */
function firstDocument(paths: string[], textField: string): string | undefined {
  const head = (file: string): string => {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(256 * 1024);
      return buf.subarray(0, readSync(fd, buf, 0, buf.length, 0)).toString('utf8');
    } finally {
      closeSync(fd);
    }
  };
  for (const p of paths) {
    try {
      if (!existsSync(p)) continue;
      if (statSync(p).isDirectory()) {
        const f = readdirSync(p).filter((x) => /\.(txt|md|markdown|text)$/i.test(x)).sort()[0];
        if (f) return head(join(p, f));
        continue;
      }
      if (/\.jsonl$/i.test(p)) {
        const line = head(p).split('\n').find((l) => l.trim());
        const v = line ? (JSON.parse(line) as Record<string, unknown>)[textField] : undefined;
        if (typeof v === 'string') return v;
        continue;
      }
      return head(p);
    } catch {
      // Unreadable: the dry run shows the placeholder instead.
    }
  }
  return undefined;
}

export interface DryRunStage {
  stage: string;
  kind: string;
  enabled: boolean;
  /** The first prompt the stage would send (placeholders of not-yet-generated fields shown as <field>). */
  messages?: ChatMessage[];
  /** For stages without a model call, what they do. */
  note?: string;
}

/**
 * Render the first prompt of every stage without calling a model. Values of fields produced by
 * earlier model stages do not exist yet, so they are shown as `<field>`; parameters and `source`
 * values are real.
 */
export function dryRun(def: PipelineDef, params: Record<string, ParamValue>, templates: TemplateStore): DryRunStage[] {
  const out: DryRunStage[] = [];
  const firstValue = new Map<string, unknown>();
  for (const stage of def.stages) {
    const opts = stageOptions(stage, params);
    const enabled = stageEnabled(stage, params);
    const row: Row = { id: '0', provenance: { pipeline: def.name, stage: stage.name, parents: {} } };
    for (const f of stage.inputFields) row[f] = firstValue.get(f) ?? `<${f}>`;
    const ctx = { params, opts, stage };
    const entry: DryRunStage = { stage: stage.name, kind: stage.kind, enabled };
    try {
      if (stage.kind === 'source' && Array.isArray(opts.values)) {
        const as = String(opts.as ?? 'value');
        if (opts.values.length) firstValue.set(as, opts.values[0]);
        entry.note = `${opts.values.length} value(s) as ${as}`;
      } else if (stage.kind === 'source') {
        const docs = (opts.documents as string[]) ?? [];
        entry.note = `documents: ${docs.join(', ') || '(none)'}`;
        const text = firstDocument(docs, String(opts.text_field ?? 'text'));
        if (text !== undefined) firstValue.set(String(opts.as ?? 'document'), text);
      } else if (stage.kind === 'cross' && Array.isArray(opts.with)) {
        if (opts.with.length) firstValue.set(String(opts.as), opts.with[0]);
        entry.note = `x ${opts.with.length} value(s) as ${opts.as}`;
      } else if (stage.kind === 'generate' || (stage.kind === 'filter' && opts.classify)) {
        const values = templateValues(ctx, row);
        const t = templates.get(templateName(stage.kind === 'generate' ? opts.template : opts.classify, values, stage));
        entry.messages = renderMessages(t, values);
      } else if (stage.kind === 'parse_list') {
        entry.note = `local list parser first; if it finds no list, template ${opts.template} (count ${opts.count ?? 'unchecked'}, on_failure ${opts.on_failure}, retries ${opts.retries ?? 0}${opts.trim ? ', trim' : ''})`;
      } else if (stage.kind === 'dialogue') {
        const values = templateValues(ctx, row);
        const t = templates.get(templateName(opts.user_template ?? `dialogue/user_${opts.persona ?? 'normal'}`, values, stage));
        entry.messages = renderMessages(t, { ...values, opening: row[String(opts.opening_field)], conversation: `User: ${row[String(opts.opening_field)]}\n\nAssistant: <assistant reply>`, turn: 2 });
        entry.note = `${opts.turns} user turn(s), persona ${opts.persona}, ending with ${opts.end_with}; shown: the user simulator's first prompt`;
      } else if (stage.kind === 'reward') {
        entry.note = `reward model scores of ${opts.conversation_field ?? `${opts.prompt_field} -> ${opts.response_field}`}`;
      } else if (stage.kind === 'expand') {
        entry.note = `one row per element of ${opts.field} as ${opts.as}`;
      } else {
        entry.note = stage.description ?? stage.kind;
      }
    } catch (e) {
      entry.note = `cannot render: ${e instanceof Error ? e.message : String(e)}`;
    }
    out.push(entry);
  }
  return out;
}
