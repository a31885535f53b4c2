/**
 * Stages that call a model, one engine item per input row: generate, parse_list, filter
 * (classify), reward, dialogue. `executeModelItem` returns the rows the item produces (possibly
 * none, which the runner records as an `_empty` marker).
 */
import { isLlmError } from '../llm/errors';
import type { LlmClient, ModelParams } from '../llm/types';
import { renderTemplate } from '../prompts/template';
import type { ParamValue, PipelineDef, StageDef } from './definition';
import { isListConversionError, parseListLocally, type ListConversionError } from './listParse';
import { renderValue } from './localStages';
import { childRow, type Row } from './rows';
import { convertResponseToList, generateDialogue, parseYesNo, type ModelCaller, type Persona } from './steps';
import { renderMessages, type TemplateStore } from './templates';

export interface ModelStageContext {
  def: PipelineDef;
  stage: StageDef;
  opts: Record<string, unknown>;
  params: Record<string, ParamValue>;
  templates: TemplateStore;
  client(role: string): LlmClient;
  /**
   * parse_list: the generate stage whose answers this stage converts, when there is one. A retry
   * sends that stage's request again (same template and values, a new seed) instead of parsing
   * the same stored answer again.
   */
  producer?: { stage: StageDef; opts: Record<string, unknown> };
  /** parse_list: whether the stage converts the pipeline's first answer (the default of `keep_partial`). */
  firstList?: boolean;
  /** parse_list: requests already made for items that failed in an earlier session (row id -> count). */
  priorAttempts?: ReadonlyMap<string, number>;
}

/** A reward stage's model answered, but without scores (it is not a reward model). */
export class RewardScoresMissingError extends Error {
  override readonly name = 'RewardScoresMissingError';
}

export interface ItemResult {
  rows: Row[];
  /** Why no row was produced (filtered, ignored conversion failure). */
  emptyReason?: string;
}

/** Stable 20-bit number from a row id (FNV-1a), so an item's seed does not depend on row order. */
export function seedOffset(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return h % 1_048_576;
}

/**
 * Model params of a stage for one item. A `seed` becomes seed + a number derived from the row id:
 * every item gets its own seed, and the same item gets the same seed in any rerun.
 */
export function itemParams(raw: unknown, rowId: string): ModelParams {
  const p = { ...((raw as Record<string, unknown>) ?? {}) } as Record<string, unknown>;
  const known = ['n', 'seed', 'temperature', 'top_p', 'top_k', 'max_tokens', 'stop', 'extra'];
  const extra: Record<string, unknown> = { ...((p.extra as Record<string, unknown>) ?? {}) };
  for (const k of Object.keys(p)) if (!known.includes(k)) { extra[k] = p[k]; delete p[k]; }
  if (Object.keys(extra).length) p.extra = extra;
  if (typeof p.seed === 'number') p.seed = p.seed + seedOffset(rowId);
  if (typeof p.stop === 'string') p.stop = [p.stop];
  return p as ModelParams;
}

/** Seed distance between two attempts of one item (above any row-id offset, see seedOffset). */
export const ATTEMPT_SEED_STRIDE = 1_048_576;

/**
 * Seed of a fresh request for an item whose answer could not be used: attempt 0 is the original
 * request; attempt k adds k strides to its seed (the row-id seed when the stage sets none), so
 * every retry asks for a different sample and a rerun of the same attempt sends the same seed.
 */
export function attemptSeed(seed: number | undefined, rowId: string, attempt: number): number {
  return (seed ?? seedOffset(rowId)) + attempt * ATTEMPT_SEED_STRIDE;
}

/** Template values of a row: parameters, then row fields, then the stage's `vars`. */
export function templateValues(c: Pick<ModelStageContext, 'params' | 'opts' | 'stage'>, row: Row): Record<string, unknown> {
  const base = { ...c.params, ...row };
  const vars: Record<string, unknown> = {};
  for (const [k, v] of Object.entries((c.opts.vars as Record<string, unknown>) ?? {})) vars[k] = renderValue(v, base, `stage ${c.stage.name} vars.${k}`);
  return { ...base, ...vars };
}

/** A template option with row placeholders filled ("coding/problems_{{level}}"). */
export function templateName(raw: unknown, values: Record<string, unknown>, stage: StageDef): string {
  const s = String(raw);
  return s.includes('{{') ? renderTemplate(s, values, `stage ${stage.name} template name`) : s;
}

export async function executeModelItem(c: ModelStageContext, row: Row, caller: ModelCaller, signal: AbortSignal): Promise<ItemResult> {
  const { def, stage, opts } = c;
  const request = { signal };
  const child = (id: string, fields: Record<string, unknown>, extraProv: Record<string, unknown> = {}) => {
    const r = childRow(row, id, def.name, stage.name, fields);
    Object.assign(r.provenance, extraProv);
    return r;
  };
  switch (stage.kind) {
    case 'generate': {
      const values = templateValues(c, row);
      const tname = templateName(opts.template, values, stage);
      const template = c.templates.get(tname);
      const params = itemParams(opts.params, row.id);
      const res = await caller.query(c.client(String(opts.endpoint)), renderMessages(template, values), params, request);
      const output = String(opts.output);
      const prov = { template: tname, ...(params.seed !== undefined ? { seed: params.seed } : {}) };
      if (params.n === undefined && res.choices.length === 1) return { rows: [child(row.id, { [output]: res.choices[0]!.text }, prov)] };
      return { rows: res.choices.map((ch, i) => child(`${row.id}.c${i}`, { [output]: ch.text, choice_index: i }, prov)) };
    }
    case 'parse_list':
      return parseListItem(c, row, caller, request);
    case 'filter': {
      const values = templateValues(c, row);
      const tname = templateName(opts.classify, values, stage);
      const params = { temperature: 0, max_tokens: 16, ...itemParams(opts.params, row.id), n: 1 };
      const res = await caller.query(c.client(String(opts.endpoint)), renderMessages(c.templates.get(tname), values), params, request);
      const answer = parseYesNo(res.choices[0]?.text ?? '');
      const labelField = typeof opts.label_field === 'string' ? opts.label_field : undefined;
      if (answer !== opts.keep) return { rows: [], emptyReason: answer ? `classified ${answer}` : `unclear classification answer: ${JSON.stringify((res.choices[0]?.text ?? '').slice(0, 80))}` };
      return { rows: [child(row.id, labelField ? { [labelField]: answer } : {}, { template: tname })] };
    }
    case 'reward': {
      let messages;
      if (typeof opts.conversation_field === 'string') {
        const conv = row[opts.conversation_field];
        if (!Array.isArray(conv)) throw new Error(`row ${row.id}: ${opts.conversation_field} is not a conversation (list of {role, content})`);
        messages = conv as Array<{ role: 'user' | 'assistant' | 'system'; content: string }>;
      } else {
        messages = [
          { role: 'user' as const, content: String(row[String(opts.prompt_field)] ?? '') },
          { role: 'assistant' as const, content: String(row[String(opts.response_field)] ?? '') },
        ];
      }
      const client = c.client(String(opts.endpoint));
      const noScores = () => new RewardScoresMissingError(
        `the model ${client.endpoint.model} answered without reward scores: it is not a reward model. Give the stage's endpoint role (${opts.endpoint}) a reward model such as nvidia/nemotron-4-340b-reward`);
      let scores: Record<string, number>;
      try {
        scores = await caller.queryReward(client, messages, request);
      } catch (e) {
        // The server answered, just not with scores: the base URL is fine, the model is not.
        if (isLlmError(e) && e.kind === 'bad_response' && /no reward scores/.test(e.message)) throw noScores();
        throw e;
      }
      if (Object.keys(scores).length === 0) throw noScores();
      const fields: Record<string, unknown> = { [String(opts.output)]: scores };
      for (const [k, v] of Object.entries(scores)) fields[`${opts.prefix ?? 'reward_'}${k}`] = v;
      const values = Object.values(scores);
      const score = opts.score === 'sum' ? values.reduce((a, b) => a + b, 0)
        : opts.score === 'mean' ? (values.length ? values.reduce((a, b) => a + b, 0) / values.length : 0)
          : scores[String(opts.score)];
      if (typeof score !== 'number') throw new Error(`reward model returned no "${opts.score}" score (categories: ${Object.keys(scores).join(', ') || 'none'})`);
      fields.reward = score;
      return { rows: [child(row.id, fields)] };
    }
    case 'dialogue': {
      const values = templateValues(c, row);
      const persona = String(opts.persona ?? 'normal') as Persona;
      const userT = c.templates.get(templateName(opts.user_template ?? `dialogue/user_${persona}`, values, stage));
      const assistantT = opts.assistant_template !== undefined ? c.templates.get(templateName(opts.assistant_template, values, stage)) : undefined;
      const userParams = itemParams(opts.user_params, row.id);
      const assistantParams = itemParams(opts.assistant_params, row.id);
      const conversation = await generateDialogue(c.client(String(opts.user_endpoint)), c.client(String(opts.assistant_endpoint)), {
        opening: String(row[String(opts.opening_field)] ?? ''),
        turns: Number(opts.turns),
        endWith: opts.end_with === 'user' ? 'user' : 'assistant',
        persona,
        userTemplate: userT,
        assistantTemplate: assistantT,
        values,
        userParams,
        assistantParams,
        request,
        caller,
      });
      const seed = assistantParams.seed ?? userParams.seed;
      return { rows: [child(row.id, { [String(opts.output)]: conversation }, { template: userT.name, ...(seed !== undefined ? { seed } : {}) })] };
    }
    default:
      throw new Error(`stage kind ${stage.kind} does not call a model`);
  }
}

/**
 * One parse_list item. The stored answer is converted first; when that fails and `retries` allows,
 * the producing generate stage's request is sent again with a new seed (attemptSeed) and the new
 * answer converted, up to `retries` more requests. An item that failed in an earlier session starts
 * with a fresh request (its stored answer already failed). What is left is then decided by
 * `on_failure`: `ignore` drops the item (the stage file records why), `error` fails it. With
 * `keep_partial` (default for the pipeline's first list) a list of the wrong length is kept, cut to
 * `count` when longer, because later stages can continue from fewer items.
 */
async function parseListItem(c: ModelStageContext, row: Row, caller: ModelCaller, request: { signal: AbortSignal }): Promise<ItemResult> {
  const { opts } = c;
  const field = String(opts.field);
  const count = typeof opts.count === 'number' ? opts.count : undefined;
  const retries = typeof opts.retries === 'number' && opts.retries > 0 ? opts.retries : 0;
  const keepPartial = typeof opts.keep_partial === 'boolean' ? opts.keep_partial : c.firstList === true;
  const producer = c.producer;
  const convert = (text: string) => convertResponseToList(c.client(String(opts.endpoint)), text, {
    expectedCount: count,
    trim: opts.trim === true,
    checkHallucination: opts.hallucination_check !== false,
    template: c.templates.get(String(opts.template)),
    params: itemParams(opts.params, row.id),
    caller,
    request,
  });
  // A fresh answer from the producing stage's request, with the seed of attempt `attempt`.
  const regenerate = async (attempt: number): Promise<{ text: string; template: string; seed: number }> => {
    const p = producer!;
    const values = templateValues({ params: c.params, opts: p.opts, stage: p.stage }, row);
    const tname = templateName(p.opts.template, values, p.stage);
    const base = itemParams(p.opts.params, row.id);
    const seed = attemptSeed(base.seed, row.id, attempt);
    const res = await caller.query(c.client(String(p.opts.endpoint)), renderMessages(c.templates.get(tname), values), { ...base, n: 1, seed }, request);
    return { text: res.choices[0]?.text ?? '', template: tname, seed };
  };

  const prior = c.priorAttempts?.get(row.id) ?? 0;
  // Attempt 0 is the stored answer; an item that failed before goes straight to a fresh request.
  let attempt = prior > 0 && producer ? prior : 0;
  const last = producer ? attempt + retries : 0;
  let regenerated: { text: string; template: string; seed: number } | undefined;
  let failure: ListConversionError | undefined;
  for (;;) {
    if (attempt > 0 && producer) regenerated = await regenerate(attempt);
    const text = regenerated ? regenerated.text : String(row[field] ?? '');
    try {
      const conv = await convert(text);
      return { rows: [listRow(c, row, field, conv.items, conv.method, attempt, regenerated)] };
    } catch (e) {
      if (!isListConversionError(e)) throw e;
      failure = e;
    }
    if (attempt >= last) break;
    attempt++;
  }
  failure.attempts = attempt + 1;
  const tries = failure.attempts > 1 ? ` (after ${failure.attempts} requests)` : '';
  if (opts.on_failure === 'ignore') {
    if (keepPartial && failure.reason === 'count_mismatch' && failure.list?.length) {
      const items = count !== undefined ? failure.list.slice(0, count) : failure.list;
      const answer = regenerated ? regenerated.text : String(row[field] ?? '');
      const out = listRow(c, row, field, items, parseListLocally(answer)?.length ? 'local' : 'model', attempt, regenerated);
      out.provenance.list_partial = { expected: failure.expected, got: failure.got };
      return { rows: [out] };
    }
    if (!keepPartial) return { rows: [], emptyReason: `ListConversionError (${failure.reason}): ${failure.message}${tries}` };
    // The pipeline's first list gave nothing usable: nothing to continue from, so the item fails
    // (the run stops; running it again sends a fresh request).
    failure.firstList = true;
  }
  throw failure;
}

/** The output row of a converted list; a list from a fresh request records its template, seed and attempt. */
function listRow(c: ModelStageContext, row: Row, field: string, items: string[], method: 'local' | 'model', attempt: number, regenerated?: { template: string; seed: number }): Row {
  // The raw response is not carried further: the list replaces it.
  const { [field]: _raw, ...rest } = row;
  void _raw;
  const out = childRow(rest as Row, row.id, c.def.name, c.stage.name, { [String(c.opts.output)]: items });
  out.provenance.list_method = method;
  if (regenerated) Object.assign(out.provenance, { template: regenerated.template, seed: regenerated.seed, list_attempt: attempt });
  return out;
}
