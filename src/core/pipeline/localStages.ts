/**
 * Stages that need no model: source, expand, cross, filter (expression), dedup, sample, limit,
 * format, concat, postprocess, pairs. Each streams its input rows and writes rows through `emit`;
 * the runner writes them to a temp file renamed into place at the end, so a killed local stage is
 * simply run again (they are cheap and deterministic for a given input file).
 */
import { promises as fsp } from 'node:fs';
import { extname, join } from 'node:path';
import { readJsonl } from '../io/jsonl';
import { TemplateError, placeholders, renderTemplate } from '../prompts/template';
import { exactKey, MinHashDeduper } from './dedup';
import { paramRef, type ParamValue, type PipelineDef, type StageDef } from './definition';
import { Expression } from '../expr';
import { childRow, readStageRows, seededRandom, type Row } from './rows';
import {
  afterPrefix, diverseQaPostprocess, knowledgeListPostprocess, PASSAGE_LINES, removeLines, removeMarkdown, removeQuotes, seededQaRandom, segmentDocument,
} from './nemotronCc';
import { renderMessages, type TemplateStore } from './templates';
import { loadTokenizer, promptPrefixTokens } from './tokens';

export interface LocalStageContext {
  def: PipelineDef;
  stage: StageDef;
  opts: Record<string, unknown>;
  params: Record<string, ParamValue>;
  /** Path of each input stage's file, in `from` order. */
  inputs: string[];
  /** Path of any stage's file (for `cross.with_stage`). */
  stageFile(name: string): string;
  emit(row: Row): Promise<void>;
  signal?: AbortSignal;
  /** Templates of the pipeline (a segment stage measures its prompt template). */
  templates?: TemplateStore;
}

/** Renders a `format`/`vars` value: "{{field}}" alone keeps the value's type; other strings are templates. */
export function renderValue(v: unknown, values: Record<string, unknown>, where: string): unknown {
  if (typeof v !== 'string') return v;
  const ref = paramRef(v) ?? (/^\{\{\s*([\w.]+)\s*\}\}$/.exec(v)?.[1]);
  if (ref !== undefined) {
    let cur: unknown = values;
    for (const part of ref.split('.')) cur = cur != null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
    if (cur === undefined || cur === null) throw new TemplateError(`${where}: no value for placeholder {{${ref}}}`, [ref]);
    return cur;
  }
  return placeholders(v).length ? renderTemplate(v, values, where) : v;
}

export async function runLocalStage(c: LocalStageContext): Promise<void> {
  const { def, stage, opts, params } = c;
  const input = () => readStageRows(c.inputs[0]!, c.signal);
  const emitChild = (parent: Row, id: string, fields: Record<string, unknown>, parents?: Record<string, unknown>) =>
    c.emit(childRow(parent, id, def.name, stage.name, fields, parents));
  switch (stage.kind) {
    case 'source':
      return runSource(c);
    case 'expand': {
      const field = String(opts.field);
      const as = String(opts.as);
      const indexField = typeof opts.index_field === 'string' ? opts.index_field : `${as}_index`;
      for await (const row of input()) {
        const list = row[field];
        if (!Array.isArray(list)) throw new Error(`stage ${stage.name}: row ${row.id} field ${field} is not a list`);
        const { [field]: _drop, ...rest } = row;
        void _drop;
        for (let j = 0; j < list.length; j++) {
          await emitChild(rest as Row, `${row.id}.${j}`, { [as]: list[j], [indexField]: j }, { [as]: list[j] });
        }
      }
      return;
    }
    case 'cross': {
      const as = String(opts.as);
      let values: unknown[];
      if (Array.isArray(opts.with)) values = opts.with;
      else {
        values = [];
        const wf = String(opts.with_field ?? as);
        for await (const r of readStageRows(c.stageFile(String(opts.with_stage)), c.signal)) values.push(r[wf]);
      }
      for await (const row of input()) {
        for (let j = 0; j < values.length; j++) await emitChild(row, `${row.id}.x${j}`, { [as]: values[j] }, { [as]: values[j] });
      }
      return;
    }
    case 'filter': {
      const expr = Expression.parse(String(opts.expr));
      for await (const row of input()) {
        if (expr.test({ ...params, ...row })) await emitChild(row, row.id, {});
      }
      return;
    }
    case 'dedup': {
      const field = String(opts.field);
      if (opts.method === 'exact') {
        const seen = new Set<string>();
        for await (const row of input()) {
          const key = exactKey(String(row[field] ?? ''));
          if (seen.has(key)) continue;
          seen.add(key);
          await emitChild(row, row.id, {});
        }
      } else {
        const d = new MinHashDeduper({ threshold: Number(opts.threshold), shingleSize: Number(opts.shingle_size), numPerm: Number(opts.num_perm), seed: Number(opts.seed) });
        for await (const row of input()) if (!d.isDuplicate(String(row[field] ?? ''))) await emitChild(row, row.id, {});
      }
      return;
    }
    case 'sample': {
      // Reservoir sampling (memory: `count` rows), emitted in input order.
      const count = Number(opts.count);
      const rand = seededRandom(Number(opts.seed));
      const kept: Array<{ i: number; row: Row }> = [];
      let i = 0;
      for await (const row of input()) {
        if (kept.length < count) kept.push({ i, row });
        else {
          const j = Math.floor(rand() * (i + 1));
          if (j < count) kept[j] = { i, row };
        }
        i++;
      }
      kept.sort((a, b) => a.i - b.i);
      for (const k of kept) await emitChild(k.row, k.row.id, {});
      return;
    }
    case 'limit': {
      const count = Number(opts.count);
      let i = 0;
      if (count <= 0) return;
      for await (const row of input()) {
        await emitChild(row, row.id, {});
        if (++i >= count) break;
      }
      return;
    }
    case 'format': {
      const keep = (opts.keep as string[]) ?? [];
      const fields = (opts.fields as Record<string, unknown>) ?? {};
      for await (const row of input()) {
        const values = { ...params, ...row };
        const out: Row = { id: row.id, provenance: { ...row.provenance, pipeline: def.name, stage: stage.name, parent_id: row.id } };
        for (const k of keep) out[k] = row[k];
        for (const [k, v] of Object.entries(fields)) out[k] = renderValue(v, values, `stage ${stage.name} fields.${k}`);
        await c.emit(out);
      }
      return;
    }
    case 'concat': {
      for (let k = 0; k < c.inputs.length; k++) {
        for await (const row of readStageRows(c.inputs[k]!, c.signal)) await emitChild(row, `${k}:${row.id}`, {});
      }
      return;
    }
    case 'postprocess': {
      const field = String(opts.field);
      const output = typeof opts.output === 'string' ? opts.output : field;
      for await (const row of input()) {
        const text = String(row[field] ?? '');
        let value: string;
        const tokenizer = typeof opts.tokenizer === 'string' && opts.tokenizer ? loadTokenizer(opts.tokenizer) : undefined;
        const extra: Record<string, unknown> = {};
        if (opts.op === 'knowledge_list') value = stripBullets(text);
        else if (opts.op === 'strip_preamble') value = stripPreamble(text);
        else if (opts.op === 'remove_markdown') value = removeMarkdown(text);
        else if (opts.op === 'remove_quotes') value = removeQuotes(text);
        else if (opts.op === 'remove_lines') value = removeLines(text, Array.isArray(opts.patterns) ? opts.patterns.map(String) : PASSAGE_LINES);
        else if (opts.op === 'nemotron_cc_knowledge_list') value = knowledgeListPostprocess(text);
        else if (opts.op === 'require_prefix') {
          const rest = afterPrefix(text, String(opts.prefix));
          if (rest === undefined) continue; // the answer does not start as asked: dropped, like the reference
          value = rest;
        } else if (opts.op === 'token_filter') {
          // Without a tokenizer there is nothing to count: rows pass unchanged.
          if (tokenizer) {
            const n = tokenizer.count(text);
            if (n < Number(opts.min_tokens ?? 0) || (typeof opts.max_tokens === 'number' && n > opts.max_tokens)) continue;
            if (typeof opts.count_field === 'string') extra[opts.count_field] = n;
          } else if (typeof opts.count_field === 'string') extra[opts.count_field] = null;
          value = text;
        } else if (opts.op === 'nemotron_cc_diverse_qa') {
          const doc = String(row[String(opts.document_field)] ?? '');
          value = diverseQaPostprocess(doc, text, {
            prefix: typeof opts.prefix === 'string' ? opts.prefix : undefined,
            maxPairs: Number(opts.max_pairs),
            tokenizer,
            random: seededQaRandom(Number(opts.seed) + hashId(row.id)),
          });
          if (!value) continue; // no usable pairs: dropped, like the reference
        } else {
          const doc = String(row[String(opts.document_field)] ?? '');
          const pairs = selectQaPairs(text, doc, {
            wordsPerPair: Number(opts.words_per_pair), maxPairs: Number(opts.max_pairs), seed: Number(opts.seed) + hashId(row.id),
          });
          if (pairs.length === 0) continue; // nothing usable came back: the row is dropped
          value = opts.prepend_document === false ? pairs.join('\n\n') : `${doc}\n\n${pairs.join('\n\n')}`;
        }
        if (!value.trim() && opts.op !== 'token_filter' && opts.op !== 'remove_lines' && opts.op !== 'remove_markdown' && opts.op !== 'remove_quotes') continue;
        await emitChild(row, row.id, { [output]: value, ...extra });
      }
      return;
    }
    case 'pairs':
      return runPairs(c);
    case 'join':
      return runJoin(c);
    case 'segment': {
      const field = String(opts.field);
      const indexField = String(opts.index_field);
      const countField = String(opts.count_field);
      const tokenizerPath = String(opts.tokenizer ?? '');
      const tokenizer = tokenizerPath ? loadTokenizer(tokenizerPath) : undefined;
      let maxSegmentTokens = Number(opts.max_segment_tokens ?? 0);
      if (tokenizer && !(maxSegmentTokens > 0)) {
        // The reference: max_input_tokens - tokens of the prompt around a "placeholder" document - 2.
        if (typeof opts.max_input_tokens !== 'number' || typeof opts.prompt_template !== 'string' || !c.templates) {
          throw new Error(`stage ${stage.name}: set max_segment_tokens, or max_input_tokens and prompt_template`);
        }
        const messages = renderMessages(c.templates.get(opts.prompt_template), { ...params, document: 'placeholder' });
        maxSegmentTokens = opts.max_input_tokens - promptPrefixTokens(tokenizer, messages) - 2;
        if (maxSegmentTokens < 1) throw new Error(`stage ${stage.name}: the prompt ${opts.prompt_template} alone takes ${opts.max_input_tokens - maxSegmentTokens - 2} tokens, more than max_input_tokens ${opts.max_input_tokens}`);
      }
      for await (const row of input()) {
        const text = String(row[field] ?? '');
        // Without a tokenizer a document is not measured: it is one segment.
        const segments = tokenizer
          ? segmentDocument(text, {
            tokenizer, separator: String(opts.separator), minDocumentTokens: Number(opts.min_document_tokens),
            maxSegmentTokens, minSegmentTokens: Number(opts.min_segment_tokens),
          })
          : [{ text, tokens: null as number | null }];
        for (let k = 0; k < segments.length; k++) {
          await emitChild(row, `${row.id}.s${k}`, { [field]: segments[k]!.text, [indexField]: k, [countField]: segments[k]!.tokens }, { [indexField]: k });
        }
      }
      return;
    }
    default:
      throw new Error(`stage kind ${stage.kind} is not a local stage`);
  }
}

function hashId(id: string): number {
  let h = 0;
  for (let i = 0; i < id.length; i++) h = (Math.imul(h, 31) + id.charCodeAt(i)) >>> 0;
  return h;
}

async function runSource(c: LocalStageContext): Promise<void> {
  const { opts, def, stage } = c;
  const limit = typeof opts.limit === 'number' ? opts.limit : Infinity;
  const seed: Row = { id: '', provenance: { pipeline: def.name, stage: stage.name, parents: {} } };
  let n = 0;
  if (Array.isArray(opts.values)) {
    const as = String(opts.as ?? 'value');
    for (const v of opts.values) {
      if (n >= limit) return;
      await c.emit({ id: `${n}`, [as]: v, provenance: { ...seed.provenance, parents: { [as]: v } } });
      n++;
    }
    return;
  }
  const as = String(opts.as ?? 'document');
  const textField = String(opts.text_field ?? 'text');
  const keep = (opts.keep as string[]) ?? [];
  const emitDoc = async (text: string, file: string, extra: Record<string, unknown>) => {
    await c.emit({ id: `${n}`, ...extra, [as]: text, document_index: n, file, provenance: { ...seed.provenance, parents: { document_index: n } } });
    n++;
  };
  for (const path of (opts.documents as string[]) ?? []) {
    let st;
    try {
      st = await fsp.stat(path);
    } catch (e) {
      throw new Error(`stage ${stage.name}: cannot read document ${path} (${(e as NodeJS.ErrnoException).code ?? e})`);
    }
    if (st.isDirectory()) {
      const names = (await fsp.readdir(path)).filter((f) => /\.(txt|md|markdown|text)$/i.test(f)).sort();
      for (const name of names) {
        if (n >= limit) return;
        await emitDoc(await fsp.readFile(join(path, name), 'utf8'), join(path, name), {});
      }
    } else if (extname(path).toLowerCase() === '.jsonl') {
      for await (const rec of readJsonl<Record<string, unknown>>(path, { signal: c.signal })) {
        if (n >= limit) return;
        if (rec.error !== undefined || !rec.value || typeof rec.value !== 'object') throw new Error(`${path} line ${rec.line}: ${rec.error ?? 'not a JSON object'}`);
        const text = rec.value[textField];
        if (typeof text !== 'string') throw new Error(`${path} line ${rec.line}: no string field ${JSON.stringify(textField)} (set text_field)`);
        const extra: Record<string, unknown> = {};
        for (const k of keep) extra[k] = rec.value[k];
        await emitDoc(text, path, extra);
      }
    } else {
      if (n >= limit) return;
      await emitDoc(await fsp.readFile(path, 'utf8'), path, {});
    }
  }
}

/** Strip list markers ("- ", "* ", "1. ") from every line; drop blank lines. */
export function stripBullets(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^\s*(?:[-*•+]|\d{1,3}[.)])\s+/, '').trim())
    .filter(Boolean)
    .join('\n');
}

/** Drop a first line like "Here is the rewritten text:" that models like to add. */
export function stripPreamble(text: string): string {
  const lines = text.trim().split('\n');
  if (lines.length > 1 && /^(sure|certainly|here(?:'s| is| are)|below is)\b.*:?\s*$/i.test(lines[0]!.trim()) && lines[0]!.length < 160) lines.shift();
  return lines.join('\n').trim();
}

/** "Question: ... Answer: ..." pairs of a response, each kept whole. */
export function parseQaPairs(text: string): string[] {
  const pairs: string[] = [];
  const re = /(?:^|\n)\s*(?:\*\*)?Q(?:uestion)?\s*\d*\s*[:.](?:\*\*)?\s*([\s\S]*?)\n\s*(?:\*\*)?A(?:nswer)?\s*\d*\s*[:.](?:\*\*)?\s*([\s\S]*?)(?=\n\s*(?:\*\*)?Q(?:uestion)?\s*\d*\s*[:.]|$)/gi;
  for (const m of text.matchAll(re)) {
    const q = m[1]!.trim();
    const a = m[2]!.trim();
    if (q && a) pairs.push(`Question: ${q}\nAnswer: ${a}`);
  }
  return pairs;
}

/**
 * The diverse-QA post-processor: keep a number of pairs proportional to the document length
 * (one per `wordsPerPair` words, at least 1, at most `maxPairs`), chosen at random (seeded) so a
 * long answer's first pairs are not always the ones kept.
 */
export function selectQaPairs(response: string, document: string, o: { wordsPerPair: number; maxPairs: number; seed: number }): string[] {
  const pairs = parseQaPairs(response);
  if (pairs.length === 0) return [];
  const words = document.split(/\s+/).filter(Boolean).length;
  const want = Math.min(pairs.length, o.maxPairs, Math.max(1, Math.ceil(words / Math.max(1, o.wordsPerPair))));
  const rand = seededRandom(o.seed);
  const idx = pairs.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return idx.slice(0, want).sort((a, b) => a - b).map((i) => pairs[i]!);
}

async function runPairs(c: LocalStageContext): Promise<void> {
  const { opts, stage, def } = c;
  const groupBy = String(opts.group_by);
  const respField = String(opts.response_field);
  const scoreField = String(opts.score_field);
  const minMargin = Number(opts.min_margin ?? 0);
  // One pass keeping only the best and worst row per group: memory is two rows per prompt.
  const groups = new Map<string, { best: Row; worst: Row; bestScore: number; worstScore: number; count: number; order: number }>();
  for await (const row of readStageRows(c.inputs[0]!, c.signal)) {
    const key = JSON.stringify(row[groupBy] ?? null);
    const score = Number(row[scoreField]);
    if (!Number.isFinite(score)) continue;
    const g = groups.get(key);
    if (!g) groups.set(key, { best: row, worst: row, bestScore: score, worstScore: score, count: 1, order: groups.size });
    else {
      g.count++;
      if (score > g.bestScore) { g.best = row; g.bestScore = score; }
      if (score < g.worstScore) { g.worst = row; g.worstScore = score; }
    }
  }
  for (const g of [...groups.values()].sort((a, b) => a.order - b.order)) {
    if (g.count < 2 || g.best === g.worst || g.bestScore - g.worstScore < minMargin) continue;
    const { [respField]: _r, [scoreField]: _s, choice_index: _c, ...rest } = g.best;
    void _r; void _s; void _c;
    // Candidates of one prompt are its choices (`<prompt id>.c<i>`): the pair is named after the prompt.
    const promptId = g.best.id.replace(/\.c\d+$/, '');
    await c.emit(childRow(rest as Row, `${promptId}.pair`, def.name, stage.name, {
      chosen: g.best[respField],
      rejected: g.worst[respField],
      chosen_score: g.bestScore,
      rejected_score: g.worstScore,
      candidates: g.count,
    }));
  }
}

/**
 * Joins the rows of each group (DocumentJoiner without max_length): texts in `order_by` order,
 * separated by `separator`; the other fields from the group's first row. A first pass counts the
 * rows of every group, so a group is written as soon as its last row has been read: memory holds
 * one number per group and the rows of groups still incomplete, not the whole file.
 */
async function runJoin(c: LocalStageContext): Promise<void> {
  const { opts, def, stage } = c;
  const groupBy = String(opts.group_by);
  const field = String(opts.field);
  const orderBy = typeof opts.order_by === 'string' ? opts.order_by : undefined;
  const separator = String(opts.separator ?? '\n');
  const keyOf = (r: Row) => JSON.stringify(r[groupBy] ?? null);
  const remaining = new Map<string, number>();
  for await (const row of readStageRows(c.inputs[0]!, c.signal)) remaining.set(keyOf(row), (remaining.get(keyOf(row)) ?? 0) + 1);
  const open = new Map<string, Array<{ row: Row; at: number }>>();
  let at = 0;
  for await (const row of readStageRows(c.inputs[0]!, c.signal)) {
    const key = keyOf(row);
    const rows = open.get(key) ?? [];
    rows.push({ row, at: at++ });
    const left = remaining.get(key)! - 1;
    if (left > 0) { open.set(key, rows); remaining.set(key, left); continue; }
    open.delete(key);
    remaining.delete(key);
    if (orderBy) rows.sort((a, b) => Number(a.row[orderBy]) - Number(b.row[orderBy]) || a.at - b.at);
    const first = rows[0]!.row;
    const text = rows.map((r) => String(r.row[field] ?? '')).join(separator);
    // Named after the group: `<first row's id>.j` (the group's rows are its parents).
    await c.emit(childRow(first, `${first.id}.j`, def.name, stage.name, { [field]: text, joined_rows: rows.length }));
  }
}
