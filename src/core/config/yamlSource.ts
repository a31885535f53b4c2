/**
 * YAML files under `prompts/` (pipelines, templates, prompt configs, few-shot sets) are loaded
 * through here so that every error names the file, line and field. Aliases are capped (billion
 * laughs), sizes are capped, and unknown keys are reported by the validators that use `at()`.
 */
import { readFileSync, statSync } from 'node:fs';
import { Document, LineCounter, isNode, parseDocument, type Node } from 'yaml';

/** Largest YAML file we accept; prompt data is small, so anything bigger is a mistake. */
export const MAX_YAML_BYTES = 4 * 1024 * 1024;

export type FieldPath = ReadonlyArray<string | number>;

/** A user-facing error about data: `file:line:col: field: message`. */
export class ValidationError extends Error {
  override readonly name = 'ValidationError';
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string | undefined,
    readonly detail: string,
    readonly col?: number,
  ) {
    super(`${file}${line ? `:${line}${col ? `:${col}` : ''}` : ''}: ${field ? `${field}: ` : ''}${detail}`);
  }
}

/** `stages[2].template` style rendering of a field path. */
export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** A parsed YAML file that can say where any field is. */
export class YamlSource {
  private constructor(
    readonly file: string,
    readonly text: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  static fromFile(file: string): YamlSource {
    let size: number;
    try {
      size = statSync(file).size;
    } catch (e) {
      throw new ValidationError(file, undefined, undefined, `cannot read file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
    }
    if (size > MAX_YAML_BYTES) throw new ValidationError(file, undefined, undefined, `file is ${size} bytes; YAML files are limited to ${MAX_YAML_BYTES} bytes`);
    return YamlSource.fromText(file, readFileSync(file, 'utf8'));
  }

  static fromText(file: string, text: string): YamlSource {
    if (text.length > MAX_YAML_BYTES) throw new ValidationError(file, undefined, undefined, `text is ${text.length} characters; YAML is limited to ${MAX_YAML_BYTES}`);
    const lines = new LineCounter();
    const doc = parseDocument(text.replace(/^\uFEFF/, ''), { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    const src = new YamlSource(file, text, doc, lines);
    const err = doc.errors[0];
    if (err) {
      // With prettyErrors off, `linePos` is unset: derive the line from the offset.
      const pos = err.linePos?.[0] ?? (err.pos ? lines.linePos(err.pos[0]) : undefined);
      throw new ValidationError(file, pos?.line, undefined, `YAML syntax error: ${err.message.split('\n')[0]}`, pos?.col);
    }
    return src;
  }

  /** The plain JS value, with alias expansion capped to stop "billion laughs" documents. */
  toJS(): unknown {
    try {
      return this.doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new ValidationError(this.file, undefined, undefined, `YAML could not be expanded: ${(e as Error).message}`);
    }
  }

  /** 1-based line of the node at `path` (or of its nearest existing parent). */
  lineOf(path: FieldPath): number | undefined {
    for (let i = path.length; i >= 0; i--) {
      const node = path.length === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, i), true);
      if (isNode(node) && (node as Node).range) return this.lines.linePos((node as Node).range![0]).line;
      if (i === 0 && isNode(this.doc.contents) && this.doc.contents.range) return this.lines.linePos(this.doc.contents.range[0]).line;
    }
    return undefined;
  }

  /** A ValidationError pointing at `path`. */
  error(path: FieldPath, detail: string): ValidationError {
    return new ValidationError(this.file, this.lineOf(path), path.length ? formatFieldPath(path) : undefined, detail);
  }
}
