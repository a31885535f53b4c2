/**
 * Pipeline files: loading and validation. A pipeline is YAML:
 *
 *   name: open_qa
 *   description: ...
 *   parameters:
 *     n_macro_topics: { type: int, default: 20, description: ... }
 *   endpoints:                      # optional: named endpoint roles stages may ask for
 *     user_simulator: the model that plays the user
 *   stages:
 *     - name: macro_topics
 *       kind: generate
 *       template: open_qa/macro_topics
 *       vars: { count: "{{n_macro_topics}}" }
 *   output: questions               # optional, default: the last stage
 *
 * Validation reports every problem at once, each naming file, line and field, before any request:
 * unknown keys and stage kinds, missing templates, placeholders no row field, parameter or `vars`
 * entry provides, wrong parameter types, references to unknown stages or fields.
 * Any option value written as exactly "{{param}}" takes the parameter's (typed) value.
 */
import { ValidationError, YamlSource, type FieldPath } from '../config/yamlSource';
import { placeholders } from '../prompts/template';
import { Expression, ExprSyntaxError as ExpressionError } from '../expr';
import { TemplateStore, templatePlaceholders } from './templates';

export type ParamType = 'int' | 'number' | 'string' | 'bool' | 'list';
export type ParamValue = number | string | boolean | string[];
export const PARAM_TYPES: readonly ParamType[] = ['int', 'number', 'string', 'bool', 'list'];

export interface ParamSpec {
  name: string;
  type: ParamType;
  default?: ParamValue;
  /** True when the pipeline cannot run without a value (no default). */
  required: boolean;
  description?: string;
  min?: number;
  max?: number;
  /** Allowed values of a string parameter. */
  choices?: string[];
}

export const STAGE_KINDS = [
  'source', 'generate', 'parse_list', 'expand', 'cross', 'filter', 'reward', 'dedup',
  'sample', 'limit', 'format', 'concat', 'dialogue', 'postprocess', 'pairs', 'segment', 'join',
] as const;
export type StageKind = (typeof STAGE_KINDS)[number];

/** Kinds whose items call a model: they run through the engine and resume per item. */
export const LLM_KINDS: ReadonlySet<StageKind> = new Set(['generate', 'parse_list', 'filter', 'reward', 'dialogue']);

/** Whether a stage calls a model (a filter by expression does not). */
export function isModelStage(stage: Pick<StageDef, 'kind' | 'options'>): boolean {
  return LLM_KINDS.has(stage.kind) && !(stage.kind === 'filter' && stage.options.expr !== undefined);
}

export interface StageDef {
  name: string;
  kind: StageKind;
  /** Input stages; empty for a first stage (which reads a single empty seed row) and `source`. */
  from: string[];
  /** Raw `when` value: a bool or a "{{param}}" reference; false passes the first input through. */
  when?: unknown;
  description?: string;
  /** Raw options (everything except name, kind, from, when, description). */
  options: Record<string, unknown>;
  index: number;
  line?: number;
  /** Fields every input row is known to have (from validation; used by --dry-run and the editor). */
  inputFields: string[];
  /** Fields every output row is known to have. */
  outputFields: string[];
}

export interface PipelineDef {
  name: string;
  description: string;
  file: string;
  parameters: ParamSpec[];
  /** Named endpoint roles (name -> what it is for); stages refer to them with `endpoint:`. */
  endpoints: Record<string, string>;
  stages: StageDef[];
  /** The stage whose rows are the pipeline's output. */
  output: string;
}

type OptType = 'string' | 'int' | 'number' | 'bool' | 'list' | 'map' | 'template' | 'field' | 'fields' | 'expr' | 'params' | 'stage' | 'endpoint';

export interface OptSpec {
  type: OptType;
  required?: boolean;
  default?: unknown;
  enum?: readonly string[];
  doc: string;
}

const MODEL_OPTS: Record<string, OptSpec> = {
  endpoint: { type: 'endpoint', default: 'default', doc: 'Endpoint role to call (see `endpoints`; `default` is the one given on the command line).' },
  params: { type: 'params', default: {}, doc: 'Model parameters: temperature, top_p, top_k, max_tokens, n, seed, stop, and any server-specific field (passed through).' },
};

/** Every option of every stage kind, with its type, default and documentation (also used by docs and the extension). */
export const STAGE_OPTIONS: Record<StageKind, Record<string, OptSpec>> = {
  source: {
    values: { type: 'list', doc: 'A list of strings (usually "{{a_list_parameter}}"): one row per value.' },
    documents: { type: 'list', doc: 'Paths of documents: a .jsonl file gives one row per line (text in `text_field`); a folder gives one row per .txt/.md file in it; any other file is one document.' },
    as: { type: 'field', doc: 'Field that receives the value or document text (default `value` for values, `document` for documents).' },
    text_field: { type: 'string', default: 'text', doc: 'JSONL field holding the document text.' },
    keep: { type: 'fields', default: [], doc: 'Other JSONL fields to copy into each row.' },
    limit: { type: 'int', doc: 'Read at most this many rows.' },
  },
  generate: {
    template: { type: 'template', required: true, doc: 'Template name under prompts/templates (rendered with parameters, row fields and `vars`).' },
    vars: { type: 'map', default: {}, doc: 'Extra template values; strings may use {{placeholders}} of the row.' },
    output: { type: 'field', default: 'response', doc: 'Field that receives the response text.' },
    ...MODEL_OPTS,
  },
  parse_list: {
    field: { type: 'field', default: 'response', doc: 'Field holding the response to convert.' },
    output: { type: 'field', default: 'items', doc: 'Field that receives the list of strings.' },
    count: { type: 'int', doc: 'Requested list length; a list of another length is a ListConversionError.' },
    on_failure: { type: 'string', enum: ['error', 'ignore'], default: 'error', doc: 'After the retries: `error` fails the item and stops the run (running again retries it with a fresh request); `ignore` drops the row (the stage file records why).' },
    retries: { type: 'int', default: 0, doc: 'When the answer cannot be converted, send the request of the generate stage feeding this one again with a new seed, up to this many times.' },
    keep_partial: { type: 'bool', doc: 'With on_failure ignore: keep a list of the wrong length (a longer one cut to `count`) instead of dropping it; an answer with no usable list then fails. Default: true for the list of the pipeline\'s first answer, false elsewhere.' },
    trim: { type: 'bool', default: false, doc: 'Cut a list longer than `count` down to `count` instead of failing.' },
    hallucination_check: { type: 'bool', default: true, doc: 'Reject a list with an element that does not occur in the original response.' },
    template: { type: 'template', default: 'list/to_yaml', doc: 'Template used to ask the model to rewrite the response as a YAML list (when the local parser finds no list).' },
    ...MODEL_OPTS,
  },
  expand: {
    field: { type: 'field', required: true, doc: 'List field to expand (one row per element).' },
    as: { type: 'field', required: true, doc: 'Field that receives the element.' },
    index_field: { type: 'field', doc: 'Field that receives the element position (default `<as>_index`).' },
  },
  cross: {
    with: { type: 'list', doc: 'List of strings to combine with every input row.' },
    with_stage: { type: 'stage', doc: 'Alternatively, a stage whose `with_field` values are combined with every input row.' },
    with_field: { type: 'field', doc: 'Field of `with_stage` rows (default: the value of `as`).' },
    as: { type: 'field', required: true, doc: 'Field that receives the combined value.' },
  },
  filter: {
    expr: { type: 'expr', doc: 'Keep rows for which this expression is true (see the expression language).' },
    classify: { type: 'template', doc: 'Alternatively, a yes/no classification template; the model answer decides.' },
    vars: { type: 'map', default: {}, doc: 'Extra template values for `classify`.' },
    keep: { type: 'string', enum: ['yes', 'no'], default: 'yes', doc: 'Which classification answer keeps the row.' },
    label_field: { type: 'field', doc: 'Also store the yes/no answer in this field (rows are still filtered).' },
    ...MODEL_OPTS,
  },
  reward: {
    prompt_field: { type: 'field', doc: 'Field with the user prompt (or use `conversation_field`).' },
    response_field: { type: 'field', doc: 'Field with the assistant response.' },
    conversation_field: { type: 'field', doc: 'Field with a whole conversation (list of {role, content}).' },
    output: { type: 'field', default: 'rewards', doc: 'Field that receives all category scores as an object.' },
    prefix: { type: 'string', default: 'reward_', doc: 'Each category is also stored as `<prefix><category>`.' },
    score: { type: 'string', default: 'helpfulness', doc: 'Category copied to the `reward` field (used by `pairs`), or `sum` / `mean` of all categories.' },
    ...MODEL_OPTS,
  },
  dedup: {
    field: { type: 'field', required: true, doc: 'Text field compared.' },
    method: { type: 'string', enum: ['exact', 'minhash'], default: 'minhash', doc: '`exact` (normalised text) or `minhash` (near-duplicates).' },
    threshold: { type: 'number', default: 0.8, doc: 'MinHash: estimated Jaccard similarity at which rows are duplicates.' },
    shingle_size: { type: 'int', default: 3, doc: 'MinHash: words per shingle.' },
    num_perm: { type: 'int', default: 128, doc: 'MinHash: signature length.' },
    seed: { type: 'int', default: 1, doc: 'MinHash: hash seed.' },
  },
  sample: {
    count: { type: 'int', required: true, doc: 'Rows to keep, chosen uniformly at random (reservoir sampling).' },
    seed: { type: 'int', default: 0, doc: 'Random seed (same seed, same rows).' },
  },
  limit: {
    count: { type: 'int', required: true, doc: 'Keep the first `count` rows.' },
  },
  format: {
    fields: { type: 'map', default: {}, doc: 'Output fields: name -> template string rendered with the row (a value "{{field}}" keeps its type).' },
    keep: { type: 'fields', default: [], doc: 'Input fields copied unchanged.' },
  },
  concat: {},
  dialogue: {
    opening_field: { type: 'field', required: true, doc: 'Field with the first user turn.' },
    turns: { type: 'int', default: 3, doc: 'Number of user turns (the opening line counts as the first).' },
    end_with: { type: 'string', enum: ['assistant', 'user'], default: 'assistant', doc: '`user` stops after the last user turn (two-turn prompts for preference data).' },
    persona: { type: 'string', enum: ['normal', 'complex', 'concise'], default: 'normal', doc: 'User-simulator persona; picks template dialogue/user_<persona> unless `user_template` is set.' },
    user_template: { type: 'template', doc: 'Template of the user simulator (gets {{conversation}} and {{opening}}).' },
    assistant_template: { type: 'template', doc: 'Optional system template for the assistant.' },
    vars: { type: 'map', default: {}, doc: 'Extra template values.' },
    user_endpoint: { type: 'endpoint', default: 'default', doc: 'Endpoint role of the user simulator.' },
    assistant_endpoint: { type: 'endpoint', default: 'default', doc: 'Endpoint role of the assistant.' },
    user_params: { type: 'params', default: {}, doc: 'Model parameters of the user simulator.' },
    assistant_params: { type: 'params', default: {}, doc: 'Model parameters of the assistant.' },
    output: { type: 'field', default: 'conversation', doc: 'Field that receives the conversation (list of {role, content}).' },
  },
  postprocess: {
    op: {
      type: 'string', required: true,
      enum: ['diverse_qa', 'knowledge_list', 'strip_preamble', 'remove_markdown', 'remove_quotes', 'remove_lines', 'require_prefix', 'token_filter', 'nemotron_cc_diverse_qa', 'nemotron_cc_knowledge_list'],
      doc: '`diverse_qa`: keep Q&A pairs in proportion to document length; `knowledge_list`: strip bullets; `strip_preamble`: drop a leading "Here is..." line. As NeMo Curator\'s Nemotron-CC steps: `remove_markdown`, `remove_quotes`, `remove_lines` (`patterns`), `require_prefix` (`prefix`: rows not starting with it are dropped, the prefix is cut), `token_filter` (`tokenizer`, `min_tokens`, `max_tokens`), `nemotron_cc_diverse_qa`, `nemotron_cc_knowledge_list`.',
    },
    field: { type: 'field', default: 'response', doc: 'Field processed.' },
    output: { type: 'field', doc: 'Field written (default: `field`).' },
    document_field: { type: 'field', default: 'document', doc: 'diverse_qa: the source document (its length sets the number of pairs).' },
    words_per_pair: { type: 'int', default: 150, doc: 'diverse_qa: one pair kept per this many document words (at least 1).' },
    max_pairs: { type: 'int', default: 10, doc: 'diverse_qa: upper bound of pairs kept.' },
    seed: { type: 'int', default: 0, doc: 'diverse_qa: seed of the random choice of pairs.' },
    prepend_document: { type: 'bool', default: true, doc: 'diverse_qa: output is the document followed by the kept pairs.' },
    prefix: { type: 'string', doc: 'require_prefix: the text the answer must start with; nemotron_cc_diverse_qa: the first line dropped when present.' },
    patterns: { type: 'list', doc: 'remove_lines: lines equal to one of these are dropped (default: "Passage:", "Passage 1:" to "Passage 3:").' },
    tokenizer: { type: 'string', default: '', doc: 'token_filter, nemotron_cc_diverse_qa: a tokenizer.json (or a folder with one) that counts tokens; empty: token_filter keeps every row, nemotron_cc_diverse_qa keeps 1..max_pairs pairs.' },
    min_tokens: { type: 'int', default: 0, doc: 'token_filter: rows with fewer tokens are dropped.' },
    max_tokens: { type: 'int', doc: 'token_filter: rows with more tokens are dropped.' },
    count_field: { type: 'field', doc: 'token_filter: also store the token count in this field.' },
  },
  join: {
    group_by: { type: 'field', required: true, doc: 'Rows with the same value of this field are joined into one (e.g. the segments of a document: `document_index`).' },
    field: { type: 'field', required: true, doc: 'Text field joined (the other fields come from the group\'s first row in `order_by` order).' },
    order_by: { type: 'field', doc: 'Numeric field giving the order of a group\'s rows (e.g. `segment_index`); default: input order.' },
    separator: { type: 'string', default: '\n', doc: 'Put between the joined texts.' },
  },
  segment: {
    field: { type: 'field', default: 'document', doc: 'Text field split into segments (each segment replaces it in its row).' },
    tokenizer: { type: 'string', required: true, doc: 'tokenizer.json (or a folder with one) that counts tokens; empty: every document is one segment.' },
    separator: { type: 'string', default: '\n', doc: 'Where documents are split before neighbouring pieces are joined again.' },
    min_document_tokens: { type: 'int', default: 0, doc: 'Documents with fewer tokens are dropped.' },
    max_segment_tokens: { type: 'int', default: 0, doc: 'Longest segment in tokens; longer single pieces are dropped. 0: max_input_tokens minus the tokens of prompt_template minus 2, as the reference computes it.' },
    max_input_tokens: { type: 'int', doc: 'The model input budget the segment and the prompt share (used when max_segment_tokens is 0).' },
    prompt_template: { type: 'template', doc: 'The template the segments are sent with, rendered with document "placeholder" through the chat template of the tokenizer\'s tokenizer_config.json to measure its tokens (used when max_segment_tokens is 0).' },
    min_segment_tokens: { type: 'int', default: 0, doc: 'Segments with fewer tokens (after joining) are dropped.' },
    index_field: { type: 'field', default: 'segment_index', doc: 'Field that receives the segment number within its document.' },
    count_field: { type: 'field', default: 'segment_tokens', doc: 'Field that receives the segment\'s token count.' },
  },
  pairs: {
    group_by: { type: 'field', required: true, doc: 'Rows with the same value of this field are responses to one prompt.' },
    response_field: { type: 'field', default: 'response', doc: 'Field with the response text.' },
    score_field: { type: 'field', default: 'reward', doc: 'Numeric field ranking the responses.' },
    min_margin: { type: 'number', default: 0, doc: 'Skip prompts whose best and worst scores differ by less than this.' },
  },
};

const COMMON_KEYS = ['name', 'kind', 'from', 'when', 'description'];
const TOP_KEYS = ['name', 'description', 'parameters', 'endpoints', 'stages', 'output'];
const PARAM_KEYS = ['type', 'default', 'description', 'required', 'min', 'max', 'choices'];
const NAME_RE = /^[A-Za-z_][\w]*$/;
const WHOLE_REF = /^\{\{\s*([A-Za-z_]\w*)\s*\}\}$/;

/** "{{name}}" as a whole string: the parameter name, else undefined. */
export function paramRef(v: unknown): string | undefined {
  return typeof v === 'string' ? WHOLE_REF.exec(v)?.[1] : undefined;
}

function typeOfValue(v: unknown): ParamType | undefined {
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'number';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number')) return 'list';
  return undefined;
}

/** Whether a value of parameter type `p` may fill an option of type `o`. */
function compatible(p: ParamType, o: OptType): boolean {
  if (o === 'number') return p === 'int' || p === 'number';
  if (o === 'int') return p === 'int';
  if (o === 'bool') return p === 'bool';
  if (o === 'list' || o === 'fields') return p === 'list';
  if (o === 'string' || o === 'field' || o === 'template' || o === 'expr' || o === 'endpoint' || o === 'stage') return p === 'string';
  return false;
}

export function checkParamValue(spec: ParamSpec, v: unknown): string | undefined {
  const t = typeOfValue(v);
  const ok = t === spec.type || (spec.type === 'number' && t === 'int');
  if (!ok) return `expected ${spec.type === 'list' ? 'a list of strings' : `a${spec.type === 'int' ? 'n' : ''} ${spec.type}`}, got ${JSON.stringify(v)}`;
  if ((spec.type === 'int' || spec.type === 'number') && typeof v === 'number') {
    if (spec.min !== undefined && v < spec.min) return `must be >= ${spec.min}, got ${v}`;
    if (spec.max !== undefined && v > spec.max) return `must be <= ${spec.max}, got ${v}`;
  }
  if (spec.choices && typeof v === 'string' && !spec.choices.includes(v)) return `must be one of ${spec.choices.join(', ')}, got ${JSON.stringify(v)}`;
  return undefined;
}

/** Parse a `--set key=value` string for a parameter of the given type. */
export function parseParamString(spec: ParamSpec, text: string): ParamValue {
  const bad = (what: string) => new Error(`--set ${spec.name}=${text}: ${what}`);
  let v: ParamValue;
  switch (spec.type) {
    case 'int':
      if (!/^[+-]?\d+$/.test(text.trim())) throw bad('expected an integer');
      v = parseInt(text, 10);
      break;
    case 'number':
      if (text.trim() === '' || !Number.isFinite(Number(text))) throw bad('expected a number');
      v = Number(text);
      break;
    case 'bool': {
      const t = text.trim().toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(t)) v = true;
      else if (['false', 'no', '0', 'off'].includes(t)) v = false;
      else throw bad('expected true or false');
      break;
    }
    case 'list': {
      const t = text.trim();
      if (t.startsWith('[')) {
        let arr: unknown;
        try { arr = JSON.parse(t); } catch { throw bad('expected a JSON list of strings or comma-separated values'); }
        if (!Array.isArray(arr)) throw bad('expected a list');
        v = arr.map(String);
      } else v = t === '' ? [] : t.split(',').map((s) => s.trim()).filter(Boolean);
      break;
    }
    default:
      v = text;
  }
  const problem = checkParamValue(spec, v);
  if (problem) throw bad(problem);
  return v;
}

/** Parameter values: defaults overridden by `overrides` (already typed) and `--set` strings. */
export function resolveParameters(
  def: PipelineDef,
  sets: Record<string, string> = {},
  overrides: Record<string, unknown> = {},
  /** For --dry-run: a required parameter without a value becomes "<name>" instead of an error. */
  options: { allowMissing?: boolean } = {},
): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  const known = new Map(def.parameters.map((p) => [p.name, p]));
  for (const key of [...Object.keys(sets), ...Object.keys(overrides)]) {
    if (!known.has(key)) throw new Error(`pipeline ${def.name} has no parameter ${JSON.stringify(key)} (parameters: ${[...known.keys()].join(', ') || 'none'})`);
  }
  for (const p of def.parameters) {
    if (p.name in overrides) {
      const problem = checkParamValue(p, overrides[p.name]);
      if (problem) throw new Error(`parameter ${p.name}: ${problem}`);
      out[p.name] = overrides[p.name] as ParamValue;
    } else if (p.name in sets) out[p.name] = parseParamString(p, sets[p.name]!);
    else if (p.default !== undefined) out[p.name] = p.default;
    else if (options.allowMissing) out[p.name] = p.type === 'list' ? [`<${p.name}>`] : p.type === 'string' ? `<${p.name}>` : p.type === 'bool' ? false : 0;
    else throw new Error(`pipeline ${def.name}: parameter ${p.name} (${p.type}) is required: pass --set ${p.name}=...`);
  }
  return out;
}

/** An option value with "{{param}}" references replaced by parameter values (recursively in maps/lists). */
export function resolveOption(v: unknown, params: Record<string, ParamValue>): unknown {
  const ref = paramRef(v);
  if (ref !== undefined && ref in params) return params[ref];
  if (Array.isArray(v)) {
    // A list option may splice list parameters: ["a", "{{more}}"] -> ["a", ...more].
    const out: unknown[] = [];
    for (const x of v) {
      const r = paramRef(x);
      if (r !== undefined && Array.isArray(params[r])) out.push(...(params[r] as string[]));
      else out.push(resolveOption(x, params));
    }
    return out;
  }
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = resolveOption(x, params);
    return out;
  }
  return v;
}

/** A stage's options with defaults filled in and parameter references resolved. */
export function stageOptions(stage: StageDef, params: Record<string, ParamValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(STAGE_OPTIONS[stage.kind])) {
    const raw = key in stage.options ? stage.options[key] : spec.default;
    if (raw === undefined) continue;
    const v = resolveOption(raw, params);
    // Parameters inside a template name ("math/problems_{{level}}") are filled now; row fields later.
    out[key] = spec.type === 'template' && typeof v === 'string'
      ? v.replace(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g, (m, n: string) => (typeof params[n] === 'string' ? (params[n] as string) : m))
      : v;
  }
  return out;
}

/** Whether the stage runs (its `when` is true) for these parameter values. */
export function stageEnabled(stage: StageDef, params: Record<string, ParamValue>): boolean {
  if (stage.when === undefined) return true;
  return Boolean(resolveOption(stage.when, params));
}

export interface LoadResult {
  def?: PipelineDef;
  errors: ValidationError[];
}

export interface ValidateOptions {
  templates: TemplateStore;
  /** Extra endpoint role names accepted besides the pipeline's own and `default`. */
  endpoints?: string[];
}

/** Reserved row keys every row has; they may be read but not produced by stages. */
export const RESERVED_FIELDS = ['id', 'provenance'];

/**
 * Parse and validate a pipeline file; returns every problem (as data) instead of throwing, so an
 * editor can show them all. `def` is set when the file was structurally readable.
 */
export function loadPipelineSource(src: YamlSource, opts: ValidateOptions): LoadResult {
  const errors: ValidationError[] = [];
  const err = (path: FieldPath, msg: string) => errors.push(src.error(path, msg));
  let root: unknown;
  try {
    root = src.toJS();
  } catch (e) {
    return { errors: [e as ValidationError] };
  }
  if (!root || typeof root !== 'object' || Array.isArray(root)) {
    err([], 'a pipeline is a mapping with `name`, `parameters` and `stages`');
    return { errors };
  }
  const top = root as Record<string, unknown>;
  for (const k of Object.keys(top)) if (!TOP_KEYS.includes(k)) err([k], `unknown key (expected one of ${TOP_KEYS.join(', ')})`);
  const name = typeof top.name === 'string' && top.name.trim() ? top.name : undefined;
  if (!name) err(['name'], 'required: the pipeline name');
  if (top.description !== undefined && typeof top.description !== 'string') err(['description'], 'must be a string');

  // Parameters.
  const parameters: ParamSpec[] = [];
  if (top.parameters !== undefined && top.parameters !== null) {
    if (typeof top.parameters !== 'object' || Array.isArray(top.parameters)) err(['parameters'], 'must be a mapping of name -> { type, default, description }');
    else {
      for (const [pname, raw] of Object.entries(top.parameters as Record<string, unknown>)) {
        const at: FieldPath = ['parameters', pname];
        if (!NAME_RE.test(pname)) err(at, 'parameter names are letters, digits and _');
        if (!raw || typeof raw !== 'object' || Array.isArray(raw)) { err(at, 'must be a mapping with `type` and `default`'); continue; }
        const p = raw as Record<string, unknown>;
        for (const k of Object.keys(p)) if (!PARAM_KEYS.includes(k)) err([...at, k], `unknown key (expected ${PARAM_KEYS.join(', ')})`);
        if (!PARAM_TYPES.includes(p.type as ParamType)) { err([...at, 'type'], `must be one of ${PARAM_TYPES.join(', ')}`); continue; }
        const spec: ParamSpec = {
          name: pname,
          type: p.type as ParamType,
          required: p.required === true || p.default === undefined,
          description: typeof p.description === 'string' ? p.description : undefined,
          min: typeof p.min === 'number' ? p.min : undefined,
          max: typeof p.max === 'number' ? p.max : undefined,
          choices: Array.isArray(p.choices) ? p.choices.map(String) : undefined,
        };
        if (p.default !== undefined && p.default !== null) {
          const problem = checkParamValue(spec, p.default);
          if (problem) err([...at, 'default'], `wrong type for ${spec.type} parameter: ${problem}`);
          else spec.default = spec.type === 'list' ? (p.default as unknown[]).map(String) : (p.default as ParamValue);
        }
        parameters.push(spec);
      }
    }
  }
  const paramByName = new Map(parameters.map((p) => [p.name, p]));

  // Endpoint roles.
  const endpoints: Record<string, string> = {};
  if (top.endpoints !== undefined) {
    if (!top.endpoints || typeof top.endpoints !== 'object' || Array.isArray(top.endpoints)) err(['endpoints'], 'must be a mapping of role -> description');
    else for (const [k, v] of Object.entries(top.endpoints as Record<string, unknown>)) endpoints[k] = String(v ?? '');
  }
  const endpointNames = new Set(['default', ...Object.keys(endpoints), ...(opts.endpoints ?? [])]);

  // Stages.
  const stages: StageDef[] = [];
  if (!Array.isArray(top.stages) || top.stages.length === 0) {
    err(['stages'], 'required: a non-empty list of stages');
    return { errors };
  }
  const fieldsOf = new Map<string, Set<string>>();
  const seen = new Set<string>();
  (top.stages as unknown[]).forEach((raw, i) => {
    const at: FieldPath = ['stages', i];
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) { err(at, 'a stage is a mapping with `name` and `kind`'); return; }
    const s = raw as Record<string, unknown>;
    const sname = typeof s.name === 'string' ? s.name : undefined;
    if (!sname || !NAME_RE.test(sname)) { err([...at, 'name'], 'required: a stage name of letters, digits and _'); return; }
    if (seen.has(sname)) err([...at, 'name'], `duplicate stage name ${JSON.stringify(sname)}`);
    seen.add(sname);
    const kind = s.kind as StageKind;
    if (!STAGE_KINDS.includes(kind)) { err([...at, 'kind'], `unknown stage kind ${JSON.stringify(s.kind)} (known: ${STAGE_KINDS.join(', ')})`); fieldsOf.set(sname, new Set()); return; }
    const specs = STAGE_OPTIONS[kind];
    const options: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(s)) {
      if (COMMON_KEYS.includes(k)) continue;
      if (!(k in specs)) { err([...at, k], `unknown option for a ${kind} stage (options: ${Object.keys(specs).join(', ') || 'none'})`); continue; }
      options[k] = v;
    }
    // Inputs.
    let from: string[] = [];
    if (s.from !== undefined) {
      const list = Array.isArray(s.from) ? s.from : [s.from];
      list.forEach((f, j) => {
        const fAt: FieldPath = Array.isArray(s.from) ? [...at, 'from', j] : [...at, 'from'];
        if (typeof f !== 'string' || !fieldsOf.has(f)) err(fAt, `unknown stage ${JSON.stringify(f)} (inputs must be earlier stages)`);
        else from.push(f);
      });
    } else if (kind !== 'source' && stages.length > 0) from = [stages[stages.length - 1]!.name];
    if (kind === 'concat' && from.length < 2) err([...at, 'from'], 'a concat stage needs `from` with at least two stages');
    if (kind === 'source' && s.from !== undefined) err([...at, 'from'], 'a source stage reads files or values, not other stages');

    // when
    if (s.when !== undefined) {
      const ref = paramRef(s.when);
      if (typeof s.when === 'boolean') { /* literal */ } else if (ref && paramByName.get(ref)?.type === 'bool') { /* ok */ } else if (ref && paramByName.has(ref)) err([...at, 'when'], `parameter ${ref} is ${paramByName.get(ref)!.type}, \`when\` needs a bool`);
      else err([...at, 'when'], 'must be true, false or "{{a_bool_parameter}}"');
      if (s.when !== undefined && from.length === 0) err([...at, 'when'], 'a stage without input cannot be skipped');
    }

    // Option types, required options, parameter references.
    const resolvedForCheck: Record<string, unknown> = {};
    for (const [k, spec] of Object.entries(specs)) {
      const v = options[k];
      if (v === undefined || v === null) {
        if (spec.required) err([...at], `${kind} stage needs \`${k}\`: ${spec.doc}`);
        else if (spec.default !== undefined) resolvedForCheck[k] = spec.default;
        continue;
      }
      const ref = paramRef(v);
      if (ref !== undefined && spec.type !== 'map' && spec.type !== 'params') {
        const p = paramByName.get(ref);
        if (!p) err([...at, k], `{{${ref}}} is not a parameter of this pipeline`);
        else if (!compatible(p.type, spec.type)) err([...at, k], `parameter ${ref} is ${p.type}, but \`${k}\` needs ${spec.type === 'fields' ? 'list' : spec.type}`);
        else resolvedForCheck[k] = p.default;
        continue;
      }
      const problem = checkOptionValue(spec, v, paramByName);
      if (problem) err([...at, k], problem);
      else resolvedForCheck[k] = v;
    }
    for (const [k, spec] of Object.entries(specs)) {
      if (spec.type !== 'params' || !options[k] || typeof options[k] !== 'object' || Array.isArray(options[k])) continue;
      for (const [pk, pv] of Object.entries(options[k] as Record<string, unknown>)) {
        const ref = paramRef(pv);
        if (ref !== undefined) {
          const p = paramByName.get(ref);
          if (!p) { err([...at, k, pk], `{{${ref}}} is not a parameter of this pipeline`); continue; }
          if (p.default === undefined) continue; // required: checked when the run starts
          const problem = checkModelParam(pk, p.default);
          if (problem) err([...at, k, pk], `${problem} (the default of parameter ${ref})`);
          continue;
        }
        const problem = checkModelParam(pk, pv);
        if (problem) err([...at, k, pk], problem);
      }
    }
    for (const [k, v] of Object.entries(options)) {
      const spec = specs[k];
      if (spec?.enum && typeof v === 'string' && paramRef(v) === undefined && !spec.enum.includes(v)) err([...at, k], `must be one of ${spec.enum.join(', ')}`);
    }
    for (const k of ['endpoint', 'user_endpoint', 'assistant_endpoint']) {
      const v = options[k];
      if (typeof v === 'string' && !paramRef(v) && !endpointNames.has(v)) err([...at, k], `unknown endpoint role ${JSON.stringify(v)}: declare it under \`endpoints\` (known: ${[...endpointNames].join(', ')})`);
    }

    // Fields flowing in.
    const inputs = from.map((f) => fieldsOf.get(f) ?? new Set<string>());
    let input: Set<string>;
    if (kind === 'concat') input = intersect(inputs);
    else input = new Set(inputs[0] ?? []);
    const available = new Set([...input, ...RESERVED_FIELDS]);
    const templateValues = new Set([...available, ...parameters.map((p) => p.name)]);
    const needField = (k: string, f: unknown, where = input) => {
      if (typeof f === 'string' && !paramRef(f) && !where.has(f) && !RESERVED_FIELDS.includes(f)) err([...at, k], `no field ${JSON.stringify(f)} in the rows reaching this stage (fields: ${[...where].sort().join(', ') || 'none'})`);
    };
    const o = resolvedForCheck;
    const vars = (o.vars && typeof o.vars === 'object' ? (o.vars as Record<string, unknown>) : {});
    for (const [vk, vv] of Object.entries(vars)) {
      if (typeof vv === 'string' && !paramRef(vv)) {
        for (const ph of placeholders(vv)) if (!templateValues.has(ph.split('.')[0]!)) err([...at, 'vars', vk], `placeholder {{${ph}}} has no value: not a row field or parameter`);
      } else if (paramRef(vv) && !templateValues.has(paramRef(vv)!)) err([...at, 'vars', vk], `{{${paramRef(vv)}}} has no value: not a row field or parameter`);
    }
    const checkTemplate = (k: string, extra: string[] = []) => {
      const raw = o[k];
      if (typeof raw !== 'string') return;
      for (const tname of templateNameVariants(raw, paramByName, input)) {
        if (tname === undefined) { err([...at, k], `template name ${JSON.stringify(raw)} may only use {{placeholders}} of string parameters or row fields`); return; }
        if (tname === null) continue; // depends on a row field: checked when the stage starts
        checkOneTemplate(k, tname, extra);
      }
    };
    const checkOneTemplate = (k: string, tname: string, extra: string[]) => {
      if (!opts.templates.has(tname)) { err([...at, k], `missing template ${JSON.stringify(tname)} (looked in ${opts.templates.dirs.join(', ')})`); return; }
      let t;
      try { t = opts.templates.get(tname); } catch (e) { errors.push(e as ValidationError); return; }
      const have = new Set([...templateValues, ...Object.keys(vars), ...extra]);
      for (const ph of templatePlaceholders(t)) {
        if (!have.has(ph.split('.')[0]!)) err([...at, k], `template ${tname} uses placeholder {{${ph}}} but no row field, parameter or vars entry provides it`);
      }
    };

    let out = new Set(input);
    switch (kind) {
      case 'source': {
        const modes = ['values', 'documents'].filter((m) => options[m] !== undefined);
        if (modes.length !== 1) err(at, 'a source stage needs exactly one of `values` or `documents`');
        const as = (o.as as string) ?? (modes[0] === 'values' ? 'value' : 'document');
        out = new Set([as]);
        if (modes[0] !== 'values') { out.add('document_index'); out.add('file'); }
        for (const f of (Array.isArray(o.keep) ? o.keep : []) as string[]) out.add(String(f));
        break;
      }
      case 'generate':
        checkTemplate('template');
        out.add(String(o.output));
        if (typeof o.params === 'object' && o.params && typeof (o.params as Record<string, unknown>).n !== 'undefined') out.add('choice_index');
        break;
      case 'parse_list':
        needField('field', o.field);
        checkTemplate('template', ['response', 'count']);
        out.add(String(o.output));
        if (typeof o.retries === 'number' && o.retries < 0) err([...at, 'retries'], 'must be >= 0');
        if (typeof o.retries === 'number' && o.retries > 0 && paramRef(options.retries) === undefined) {
          const producer = stages.find((x) => x.name === from[0]);
          if (from.length !== 1 || producer?.kind !== 'generate') err([...at, 'retries'], 'a retry sends the request of the generate stage feeding this one again, and this stage\'s input is not a generate stage');
        }
        break;
      case 'expand':
        needField('field', o.field);
        out.delete(String(o.field));
        out.add(String(o.as));
        out.add(typeof o.index_field === 'string' ? o.index_field : `${o.as}_index`);
        break;
      case 'cross': {
        const hasWith = options.with !== undefined;
        const hasStage = options.with_stage !== undefined;
        if (hasWith === hasStage) err(at, 'a cross stage needs exactly one of `with` (a list) or `with_stage`');
        if (hasStage) {
          const ws = o.with_stage as string;
          if (!fieldsOf.has(ws)) err([...at, 'with_stage'], `unknown stage ${JSON.stringify(ws)} (must be an earlier stage)`);
          else needField('with_field', o.with_field ?? o.as, fieldsOf.get(ws)!);
        }
        out.add(String(o.as));
        break;
      }
      case 'filter': {
        const hasExpr = options.expr !== undefined;
        const hasCls = options.classify !== undefined;
        if (hasExpr === hasCls) err(at, 'a filter stage needs exactly one of `expr` or `classify`');
        if (hasExpr && typeof o.expr === 'string') {
          try {
            const e = Expression.parse(o.expr);
            for (const f of e.fields()) {
              if (f === '$line' || f === '$bad') err([...at, 'expr'], `expression reads ${f}, which only the JSONL viewer's filter has (pipeline rows have no line)`);
              else if (!templateValues.has(f)) err([...at, 'expr'], `expression reads ${JSON.stringify(f)}, which is not a row field or parameter`);
            }
          } catch (e) {
            if (e instanceof ExpressionError) err([...at, 'expr'], `bad expression: ${e.message}`);
            else throw e;
          }
        }
        if (hasCls) checkTemplate('classify');
        if (typeof o.label_field === 'string') out.add(o.label_field);
        break;
      }
      case 'reward':
        if (options.conversation_field !== undefined) needField('conversation_field', o.conversation_field);
        else if (options.prompt_field === undefined || options.response_field === undefined) err(at, 'a reward stage needs `prompt_field` and `response_field`, or `conversation_field`');
        else { needField('prompt_field', o.prompt_field); needField('response_field', o.response_field); }
        out.add(String(o.output));
        out.add('reward');
        break;
      case 'dedup':
        needField('field', o.field);
        if (typeof o.threshold === 'number' && (o.threshold <= 0 || o.threshold > 1)) err([...at, 'threshold'], 'must be in (0, 1]');
        break;
      case 'sample':
      case 'limit':
        if (typeof o.count === 'number' && o.count < 0) err([...at, 'count'], 'must be >= 0');
        break;
      case 'format': {
        out = new Set();
        for (const f of (Array.isArray(o.keep) ? o.keep : []) as string[]) { needField('keep', f); out.add(String(f)); }
        for (const [fk, fv] of Object.entries((o.fields ?? {}) as Record<string, unknown>)) {
          if (typeof fv === 'string') for (const ph of placeholders(fv)) if (!templateValues.has(ph.split('.')[0]!)) err([...at, 'fields', fk], `placeholder {{${ph}}} has no value: not a row field or parameter`);
          out.add(fk);
        }
        if (out.size === 0) err(at, 'a format stage needs `fields` or `keep`');
        break;
      }
      case 'concat':
        break;
      case 'dialogue': {
        needField('opening_field', o.opening_field);
        const persona = typeof o.persona === 'string' ? o.persona : 'normal';
        if (options.user_template === undefined) o.user_template = `dialogue/user_${persona}`;
        checkTemplate('user_template', ['conversation', 'opening', 'turn']);
        if (options.assistant_template !== undefined) checkTemplate('assistant_template', ['opening']);
        out.add(String(o.output));
        break;
      }
      case 'postprocess':
        needField('field', o.field);
        if (o.op === 'diverse_qa' || o.op === 'nemotron_cc_diverse_qa') needField('document_field', o.document_field);
        if (o.op === 'require_prefix' && options.prefix === undefined) err(at, 'op require_prefix needs `prefix`');
        if (o.op === 'token_filter' && options.min_tokens === undefined && options.max_tokens === undefined) err(at, 'op token_filter needs `min_tokens` or `max_tokens`');
        out.add(typeof o.output === 'string' ? o.output : String(o.field));
        if (o.op === 'token_filter' && typeof o.count_field === 'string') out.add(o.count_field);
        break;
      case 'join':
        needField('group_by', o.group_by);
        needField('field', o.field);
        if (typeof o.order_by === 'string') needField('order_by', o.order_by);
        out.add('joined_rows');
        break;
      case 'segment':
        needField('field', o.field);
        if (!(typeof o.max_segment_tokens === 'number' && o.max_segment_tokens > 0) && paramRef(options.max_segment_tokens) === undefined
          && (options.max_input_tokens === undefined || options.prompt_template === undefined)) {
          err(at, 'a segment stage needs `max_segment_tokens` > 0, or `max_input_tokens` and `prompt_template`');
        }
        if (options.prompt_template !== undefined) checkTemplate('prompt_template', ['document']);
        out.add(String(o.index_field));
        out.add(String(o.count_field));
        break;
      case 'pairs':
        needField('group_by', o.group_by);
        needField('response_field', o.response_field);
        needField('score_field', o.score_field);
        out.delete(String(o.response_field));
        out.delete(String(o.score_field));
        for (const f of ['chosen', 'rejected', 'chosen_score', 'rejected_score', 'candidates']) out.add(f);
        break;
    }
    for (const k of ['output', 'as', 'index_field', 'label_field']) {
      const v = o[k];
      if (typeof v === 'string' && RESERVED_FIELDS.includes(v)) err([...at, k], `${JSON.stringify(v)} is reserved (every row has it)`);
      if (typeof v === 'string' && !NAME_RE.test(v) && !paramRef(v)) err([...at, k], 'field names are letters, digits and _');
    }
    fieldsOf.set(sname, out);
    stages.push({
      name: sname,
      kind,
      from,
      when: s.when,
      description: typeof s.description === 'string' ? s.description : undefined,
      options,
      index: i,
      line: src.lineOf(at),
      inputFields: [...input].sort(),
      outputFields: [...out].sort(),
    });
  });

  let output = stages[stages.length - 1]?.name ?? '';
  if (top.output !== undefined) {
    if (typeof top.output !== 'string' || !seen.has(top.output)) err(['output'], `unknown stage ${JSON.stringify(top.output)}`);
    else output = top.output;
  }
  if (!name) return { errors };
  return {
    def: { name, description: typeof top.description === 'string' ? top.description : '', file: src.file, parameters, endpoints, stages, output },
    errors,
  };
}

/**
 * The template names a `template` option can take: a plain name; with {{param}} placeholders, one
 * name per default/choice of the parameters; null when it depends on a row field (checked per row
 * before the stage sends anything); undefined when a placeholder is neither.
 */
function templateNameVariants(raw: string, params: Map<string, ParamSpec>, fields: Set<string>): Array<string | null | undefined> {
  const phs = placeholders(raw);
  if (phs.length === 0) return [raw];
  let variants: Record<string, string>[] = [{}];
  for (const ph of phs) {
    const p = params.get(ph);
    if (p && p.type === 'string') {
      const values = p.choices ?? (p.default !== undefined ? [String(p.default)] : []);
      variants = variants.flatMap((v) => values.map((x) => ({ ...v, [ph]: x })));
    } else if (fields.has(ph)) return [null];
    else return [undefined];
  }
  return variants.map((v) => raw.replace(/\{\{\s*([A-Za-z_]\w*)\s*\}\}/g, (_m, n: string) => v[n] ?? ''));
}

function intersect(sets: Set<string>[]): Set<string> {
  if (sets.length === 0) return new Set();
  return new Set([...sets[0]!].filter((x) => sets.every((s) => s.has(x))));
}

function checkOptionValue(spec: OptSpec, v: unknown, params: Map<string, ParamSpec>): string | undefined {
  switch (spec.type) {
    case 'int': return Number.isInteger(v) ? undefined : `expected an integer, got ${JSON.stringify(v)}`;
    case 'number': return typeof v === 'number' ? undefined : `expected a number, got ${JSON.stringify(v)}`;
    case 'bool': return typeof v === 'boolean' ? undefined : `expected true or false, got ${JSON.stringify(v)}`;
    case 'string': case 'template': case 'expr': case 'endpoint': case 'stage':
      return typeof v === 'string' && v.length > 0 ? undefined : `expected a string, got ${JSON.stringify(v)}`;
    case 'field':
      return typeof v === 'string' && v.length > 0 ? undefined : `expected a field name, got ${JSON.stringify(v)}`;
    case 'list': case 'fields': {
      if (!Array.isArray(v)) return `expected a list, got ${JSON.stringify(v)}`;
      for (const x of v) {
        const r = paramRef(x);
        if (r !== undefined) {
          const p = params.get(r);
          if (!p) return `{{${r}}} is not a parameter of this pipeline`;
          if (p.type === 'bool') return `parameter ${r} is bool, not usable in a list`;
        } else if (typeof x !== 'string' && typeof x !== 'number') return `list elements must be strings, got ${JSON.stringify(x)}`;
      }
      return undefined;
    }
    case 'map': case 'params':
      return v && typeof v === 'object' && !Array.isArray(v) ? undefined : `expected a mapping, got ${JSON.stringify(v)}`;
  }
}

/**
 * Problem with one model parameter value, or undefined. Known parameters are type- and
 * range-checked (what servers would reject one request at a time); other keys pass through.
 */
export function checkModelParam(key: string, v: unknown): string | undefined {
  const show = JSON.stringify(v);
  const posInt = () => (Number.isInteger(v) && (v as number) >= 1 ? undefined : `must be a whole number >= 1, got ${show}`);
  switch (key) {
    case 'temperature':
      return typeof v === 'number' && v >= 0 && v <= 2 ? undefined : `must be a number from 0 to 2, got ${show}`;
    case 'top_p':
      return typeof v === 'number' && v >= 0 && v <= 1 ? undefined : `must be a number from 0 to 1, got ${show}`;
    case 'top_k':
      return Number.isInteger(v) && (v as number) >= -1 ? undefined : `must be a whole number (-1 or 0 turn it off), got ${show}`;
    case 'max_tokens':
    case 'n':
      return posInt();
    case 'seed':
      return Number.isInteger(v) ? undefined : `must be a whole number, got ${show}`;
    case 'stop':
      return typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string')) ? undefined : `must be a string or a list of strings, got ${show}`;
    default:
      return undefined;
  }
}

/**
 * Model parameters of every stage with these parameter values (after `--set`), checked before any
 * request. Messages name file, line and field: `pipes/x.yaml:12: stages[1].params.temperature: ...`.
 */
export function checkStageModelParams(def: PipelineDef, params: Record<string, ParamValue>): string[] {
  const problems: string[] = [];
  for (const stage of def.stages) {
    for (const [k, spec] of Object.entries(STAGE_OPTIONS[stage.kind])) {
      const raw = stage.options[k];
      if (spec.type !== 'params' || !raw || typeof raw !== 'object' || Array.isArray(raw)) continue;
      for (const [pk, pv] of Object.entries(raw as Record<string, unknown>)) {
        const ref = paramRef(pv);
        const value = ref !== undefined && ref in params ? params[ref] : pv;
        const problem = checkModelParam(pk, value);
        if (problem) problems.push(`${def.file}${stage.line ? `:${stage.line}` : ''}: stages[${stage.index}].${k}.${pk}: ${problem}${ref ? ` (parameter ${ref})` : ''}`);
      }
    }
  }
  return problems;
}

/** Load and validate a file; throws the first error (use loadPipelineSource for all of them). */
export function loadPipelineFile(file: string, opts: ValidateOptions): PipelineDef {
  const r = loadPipelineSource(YamlSource.fromFile(file), opts);
  if (r.errors.length) throw new PipelineValidationError(r.errors);
  return r.def!;
}

/** Several validation errors at once; `message` lists them all, one per line. */
export class PipelineValidationError extends Error {
  override readonly name = 'PipelineValidationError';
  constructor(readonly errors: ValidationError[]) {
    super(errors.map((e) => e.message).join('\n'));
  }
}
