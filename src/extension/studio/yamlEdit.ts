/**
 * Edits of YAML files from the Studio (templates, few-shot sets) through the `yaml` Document
 * API, so comments, key order and untouched formatting survive a save. Pure (text in, text out).
 */
import { Document, isMap, isScalar, isSeq, parseDocument, Scalar, YAMLMap, YAMLSeq, type Node } from 'yaml';

export type FieldPath = Array<string | number>;

function parse(text: string): Document.Parsed {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length) {
    const e = doc.errors[0];
    throw new Error(`YAML syntax error${e.linePos ? ` at line ${e.linePos[0].line}` : ''}: ${e.message.split('\n')[0]}`);
  }
  return doc;
}

/** The string at `field` (the whole document when `field` is empty), or undefined. */
export function readTextField(text: string, field: FieldPath): string | undefined {
  const doc = parse(text);
  if (!field.length) return text;
  const v = doc.getIn(field);
  return typeof v === 'string' ? v : undefined;
}

/** A scalar that prints multi-line text as a `|` block (readable prompts), one-liners plainly. */
function textScalar(value: string, like?: Scalar): Scalar {
  const s = new Scalar(value);
  if (value.includes('\n')) s.type = Scalar.BLOCK_LITERAL;
  else if (like && (like.type === Scalar.QUOTE_DOUBLE || like.type === Scalar.QUOTE_SINGLE)) s.type = like.type;
  if (like) {
    s.comment = like.comment;
    s.commentBefore = like.commentBefore;
    s.spaceBefore = like.spaceBefore;
  }
  return s;
}

/** Sets the string at `field`, keeping every comment of the file. */
export function setTextField(text: string, field: FieldPath, value: string): string {
  if (!field.length) return value;
  const doc = parse(text);
  const existing = doc.getIn(field, true) as Node | undefined;
  doc.setIn(field, textScalar(value, isScalar(existing) ? existing : undefined));
  return doc.toString({ lineWidth: 0 });
}

function exampleNode(doc: Document, ex: Record<string, string>): YAMLMap {
  const map = new YAMLMap();
  for (const [k, v] of Object.entries(ex)) if (v !== '' || k === 'problem') map.set(doc.createNode(k), textScalar(v));
  return map;
}

/**
 * Replaces the `examples` list of a few-shot file. Unchanged examples keep their nodes (and so
 * their comments), also when moved; changed and new ones are written as block scalars.
 */
export function setFewShotExamples(text: string, examples: Array<Record<string, string>>): string {
  const doc = parse(text.trim() ? text : 'examples: []\n');
  if (doc.contents && !isMap(doc.contents)) throw new Error('a few-shot file must be a mapping with an "examples" list');
  const old = doc.get('examples', true);
  const oldItems = isSeq(old) ? [...old.items] : [];
  const pool = oldItems.map((node) => ({ node, json: JSON.stringify((node as Node & { toJSON(): unknown }).toJSON?.() ?? null) }));
  const seq = new YAMLSeq();
  for (const ex of examples) {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(ex)) if (v !== '' || k === 'problem') clean[k] = v;
    const key = JSON.stringify(clean);
    const i = pool.findIndex((p) => p.json === key);
    if (i >= 0) {
      seq.items.push(pool[i].node);
      pool.splice(i, 1);
    } else seq.items.push(exampleNode(doc, clean));
  }
  if (isSeq(old)) {
    seq.commentBefore = old.commentBefore;
    seq.comment = old.comment;
  }
  if (!doc.contents) doc.contents = doc.createNode({}) as unknown as typeof doc.contents;
  doc.set('examples', seq);
  return doc.toString({ lineWidth: 0 });
}
