/**
 * Template and few-shot files as the Studio sees them. A file reference from the webview is
 * either workspace-relative (confined to the workspace, editable) or `builtin:<path>` under the
 * shipped prompts/ folder (read-only). All parsing/validation/rendering is the core's; this
 * module only maps between files, YAML fields and the protocol. No `vscode` import.
 */
import { existsSync, promises as fsp, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ValidationError, YamlSource } from '../../core/config/yamlSource';
import { detectFormat, toRow } from '../../core/datasets';
import { readJsonl } from '../../core/io/jsonl';
import { loadFewShotSet, FewShotError, EXAMPLE_FIELDS, type FewShotExample } from '../../core/prompts/fewShot';
import { parsePromptConfig, PromptConfigError } from '../../core/prompts/promptConfig';
import { renderPrompt } from '../../core/prompts/render';
import { placeholders, renderTemplate, TemplateError } from '../../core/prompts/template';
import type { FewShotExampleData, PreviewResult, TemplateDoc, TemplateRef, ValidationIssue } from '../../protocol/studio';
import { readTextField, setFewShotExamples, setTextField } from './yamlEdit';

export { BUILTIN_PREFIX, fileRefOf, resolveFileRef, type FileContext, type ResolvedFile } from './fileRefs';
import { fileRefOf, resolveFileRef, type FileContext } from './fileRefs';

export function issuesOf(e: unknown): ValidationIssue[] {
  if (e instanceof PromptConfigError || e instanceof FewShotError) return e.errors.flatMap(issuesOf);
  if (e instanceof ValidationError) return [{ message: e.detail, line: e.line, field: e.field }];
  if (e && typeof e === 'object' && Array.isArray((e as { errors?: unknown }).errors)) {
    const list = (e as { errors: unknown[] }).errors;
    if (list.length && list.every((x) => x instanceof ValidationError)) return list.flatMap(issuesOf);
  }
  return [{ message: e instanceof Error ? e.message : String(e) }];
}

type TemplateKind = 'prompt-config' | 'pipeline-template' | 'text';

export function kindOf(text: string): TemplateKind {
  try {
    const v = YamlSource.fromText('template', text).toJS();
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      if ('user' in v) return 'prompt-config';
      if ('prompt' in v) return 'pipeline-template';
    }
  } catch {
    /* not YAML: treat as plain text */
  }
  return 'text';
}

export async function readText(abs: string): Promise<string> {
  try {
    return await fsp.readFile(abs, 'utf8');
  } catch (e) {
    throw new Error(`cannot read ${abs}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** The few-shot set a prompt config uses, as a file reference (undefined when none or unresolvable). */
function fewShotRefOf(ctx: FileContext, abs: string, text: string): string | undefined {
  try {
    const cfg = parsePromptConfig(YamlSource.fromText(abs, text));
    return cfg.fewShot ? fileRefOf(ctx, cfg.fewShot.file) : undefined;
  } catch {
    return undefined;
  }
}

export async function getTemplate(ctx: FileContext, ref: TemplateRef): Promise<TemplateDoc> {
  const { abs, readonly } = resolveFileRef(ctx, ref.file, 'ref.file');
  const whole = await readText(abs);
  const text = readTextField(whole, ref.field);
  if (text === undefined) throw new Error(`${ref.file}: no text at ${ref.field.join('.') || '(document)'}`);
  const doc: TemplateDoc = { ref, text, placeholders: placeholders(text), readonly };
  if (kindOf(whole) === 'prompt-config') doc.fewShotFile = fewShotRefOf(ctx, abs, whole);
  return doc;
}

/** Sample values for placeholders a preview row lacks, so the rest still renders. */
function markMissing(names: string[], values: Record<string, unknown>): { values: Record<string, unknown>; missing: string[] } {
  const out = { ...values };
  const missing: string[] = [];
  for (const n of names) {
    let cur: unknown = out;
    for (const part of n.split('.')) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
    if (cur === undefined || cur === null) {
      missing.push(n);
      if (!n.includes('.')) out[n] = `⟨${n}⟩`;
    }
  }
  return { values: out, missing };
}

/**
 * Render a template with unsaved text, a dataset row and (for prompt configs) unsaved few-shot
 * examples. Problems come back as issues, never as a thrown error, so the preview can show them.
 */
export async function previewTemplate(
  ctx: FileContext,
  ref: TemplateRef,
  text: string,
  row: Record<string, unknown> | undefined,
  fewShot: FewShotExampleData[] | undefined,
): Promise<PreviewResult> {
  const { abs } = resolveFileRef(ctx, ref.file, 'ref.file');
  const whole = await readText(abs);
  let edited: string;
  try {
    edited = setTextField(whole, ref.field, text);
  } catch (e) {
    return { messages: [], placeholders: placeholders(text), errors: issuesOf(e) };
  }
  const names = placeholders(text);
  const kind = kindOf(edited);
  if (kind === 'prompt-config') {
    let config;
    try {
      config = parsePromptConfig(YamlSource.fromText(abs, edited));
    } catch (e) {
      return { messages: [], placeholders: names, errors: issuesOf(e) };
    }
    if (fewShot && config.fewShot) config = { ...config, fewShot: { ...config.fewShot, examples: fewShot.map(toExample) } };
    const record = row ?? { problem: 'What is 12 * 7?', expected_answer: '84', reference_solution: '12 * 7 = 84. The answer is \\boxed{84}.', masked_solution: '12 * 7 = M. The answer is \\boxed{M}.' };
    try {
      const format = detectFormat(record) ?? 'jsonl';
      const promptRow = { ...toRow(format, record), input_index: 0 };
      return { messages: renderPrompt(config, promptRow), placeholders: names, errors: [], note: row ? undefined : 'No dataset row chosen: rendered with a made-up sample problem.' };
    } catch (e) {
      return { messages: [], placeholders: names, errors: issuesOf(e) };
    }
  }
  // A pipeline template (prompt + system) or plain text: values are the row's fields.
  const errors: ValidationIssue[] = [];
  let parts: Array<{ role: string; text: string }>;
  if (kind === 'pipeline-template') {
    const obj = YamlSource.fromText(abs, edited).toJS() as { system?: unknown; prompt?: unknown };
    parts = [];
    if (typeof obj.system === 'string' && obj.system.trim()) parts.push({ role: 'system', text: obj.system });
    if (typeof obj.prompt === 'string') parts.push({ role: 'user', text: obj.prompt });
  } else parts = [{ role: 'user', text }];
  const allNames = [...new Set(parts.flatMap((p) => placeholders(p.text)))];
  const { values, missing } = markMissing(allNames, row ?? {});
  let note: string | undefined;
  if (missing.length) {
    const list = missing.map((m) => `{{${m}}}`).join(', ');
    // In a pipeline, parameters, `vars` and earlier stages fill placeholders: not an error of the template.
    note = row ? `The row has no value for ${list} (shown as ⟨name⟩).` : `No dataset row chosen: ${list} shown as ⟨name⟩; a pipeline fills them from parameters, vars and earlier stages.`;
  }
  const messages: PreviewResult['messages'] = [];
  for (const p of parts) {
    try {
      messages.push({ role: p.role, content: renderTemplate(p.text, values, `${ref.label} ${p.role}`) });
    } catch (e) {
      if (e instanceof TemplateError) errors.push({ message: e.message });
      else throw e;
    }
  }
  return { messages, placeholders: names, errors, note };
}

/** Write a file atomically (temp + rename), so a crash never leaves half a template. */
export async function writeAtomic(abs: string, text: string): Promise<void> {
  const tmp = `${abs}.${process.pid}.${Date.now()}.tmp`;
  await fsp.mkdir(dirname(abs), { recursive: true });
  try {
    await fsp.writeFile(tmp, text, 'utf8');
    await fsp.rename(tmp, abs);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Save template text into its YAML field (comments kept); returns the core's validation issues. */
export async function saveTemplate(ctx: FileContext, ref: TemplateRef, text: string): Promise<ValidationIssue[]> {
  const { abs, readonly } = resolveFileRef(ctx, ref.file, 'ref.file');
  if (readonly) throw new Error(`${ref.file} is a built-in file: copy the pipeline to the workspace to edit it`);
  const whole = await readText(abs);
  const edited = setTextField(whole, ref.field, text);
  await writeAtomic(abs, edited);
  return validateTemplateFile(abs, edited);
}

function validateTemplateFile(abs: string, text: string): ValidationIssue[] {
  try {
    if (kindOf(text) === 'prompt-config') parsePromptConfig(YamlSource.fromText(abs, text));
    else YamlSource.fromText(abs, text);
    return [];
  } catch (e) {
    return issuesOf(e);
  }
}

function toExample(x: FewShotExampleData): FewShotExample {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(x)) if (typeof v === 'string' && v !== '') out[k] = v;
  return out as unknown as FewShotExample;
}

export async function getFewShot(ctx: FileContext, file: string): Promise<{ file: string; examples: FewShotExampleData[]; readonly: boolean }> {
  const { abs, readonly } = resolveFileRef(ctx, file, 'file');
  if (!existsSync(abs)) return { file, examples: [], readonly };
  const examples = loadFewShotSet(abs).map((e) => ({ ...(e as unknown as Record<string, string>) }));
  return { file, examples, readonly };
}

export async function saveFewShot(ctx: FileContext, file: string, examples: FewShotExampleData[]): Promise<ValidationIssue[]> {
  const { abs, readonly } = resolveFileRef(ctx, file, 'file');
  if (readonly) throw new Error(`${file} is a built-in few-shot set: copy it to the workspace to edit it`);
  const bad = examples.flatMap((ex, i) => Object.keys(ex).filter((k) => !(EXAMPLE_FIELDS as readonly string[]).includes(k)).map((k) => ({ message: `example ${i + 1}: unknown field "${k}" (allowed: ${EXAMPLE_FIELDS.join(', ')})` })));
  if (bad.length) return bad;
  const before = existsSync(abs) ? await readText(abs) : '';
  const edited = setFewShotExamples(before, examples.map((e) => ({ ...e })));
  await writeAtomic(abs, edited);
  try {
    loadFewShotSet(abs);
    return [];
  } catch (e) {
    return issuesOf(e);
  }
}

/** Common names of the few-shot fields in datasets (GSM8K, MATH, ...). */
const IMPORT_ALIASES: Record<string, string[]> = {
  problem: ['problem', 'question', 'prompt', 'input'],
  solution: ['solution', 'generation', 'output', 'response'],
  expected_answer: ['expected_answer', 'answer', 'final_answer'],
  reference_solution: ['reference_solution'],
  masked_solution: ['masked_solution'],
};

/** The first `limit` usable rows of a JSONL file as few-shot examples (streamed, never loaded whole). */
export async function importFewShot(ctx: FileContext, file: string, limit: number): Promise<{ examples: FewShotExampleData[]; skipped: number }> {
  const { abs } = resolveFileRef(ctx, file, 'file');
  const examples: FewShotExampleData[] = [];
  let skipped = 0;
  for await (const rec of readJsonl<Record<string, unknown>>(abs)) {
    if (examples.length >= limit) break;
    const v = rec.value;
    if (!v || typeof v !== 'object' || Array.isArray(v)) {
      skipped++;
      continue;
    }
    const ex: FewShotExampleData = {};
    for (const [field, names] of Object.entries(IMPORT_ALIASES)) {
      const hit = names.find((n) => typeof v[n] === 'string' || typeof v[n] === 'number');
      if (hit) ex[field] = String(v[hit]);
    }
    // GSM8K answers carry the solution and "#### 42": split them like the dataset reader does.
    if (!('solution' in ex) && typeof v.answer === 'string' && v.answer.includes('####')) {
      const [sol, ans] = v.answer.split('####');
      ex.solution = sol.trim();
      ex.expected_answer = ans.trim();
    }
    if (!ex.problem) {
      skipped++;
      continue;
    }
    examples.push(ex);
  }
  return { examples, skipped };
}

/** Row `index` (0-based, non-blank lines) of a JSONL file, and how many rows were seen (up to 1000 past it). */
export async function datasetRow(ctx: FileContext, file: string, index: number): Promise<{ row: Record<string, unknown> | null; count: number }> {
  const { abs } = resolveFileRef(ctx, file, 'file');
  let i = 0;
  let row: Record<string, unknown> | null = null;
  const stopAt = Math.max(index + 1, 1000);
  for await (const rec of readJsonl<Record<string, unknown>>(abs)) {
    if (i === index) {
      if (rec.error) throw new Error(`${file}:${rec.line}: ${rec.error}`);
      row = rec.value && typeof rec.value === 'object' && !Array.isArray(rec.value) ? rec.value : { value: rec.value };
    }
    i++;
    if (i >= stopAt) break;
  }
  return { row, count: i };
}


/**
 * Every few-shot set: the workspace's (`prompts/few_shot/*.yaml` of each folder) first, then the
 * built-in ones a workspace file of the same name does not replace.
 */
export function listFewShotSets(ctx: FileContext): Array<{ file: string; name: string; source: 'workspace' | 'builtin' }> {
  const out: Array<{ file: string; name: string; source: 'workspace' | 'builtin' }> = [];
  const seen = new Set<string>();
  const scan = (dir: string, source: 'workspace' | 'builtin') => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
      const name = f.replace(/\.ya?ml$/, '');
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ file: fileRefOf(ctx, join(dir, f)), name, source });
    }
  };
  for (const root of ctx.roots) scan(join(root, 'prompts', 'few_shot'), 'workspace');
  scan(join(ctx.builtinDir, 'few_shot'), 'builtin');
  return out;
}
