/**
 * A small, safe filter language over JSONL records (no eval, no Function: webview CSP and the
 * fact that record files are untrusted both forbid it).
 *
 *   expr    := or
 *   or      := and ( "||" and )*
 *   and     := unary ( "&&" unary )*
 *   unary   := "!" unary | compare
 *   compare := primary ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "=~" ) primary )?
 *   primary := number | string | regex | true | false | null | path | "(" expr ")"
 *   path    := name ( "." name | "[" index "]" | "[" string "]" )*
 *
 * Strings use '...' or "..." with JSON-style escapes; regexes are /body/flags (or a string on
 * the right of =~). Special paths: `$line` (1-based line number), `$bad` (true for malformed
 * lines). A bare path is tested for truthiness: `is_correct && !flagged`.
 */
import { getPath, type PathSegment } from './fieldPath';

export class FilterSyntaxError extends Error {
  constructor(message: string, readonly column: number) {
    super(`${message} at column ${column}`);
    this.name = 'FilterSyntaxError';
  }
}

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains' | '=~';

export type FilterNode =
  | { type: 'literal'; value: string | number | boolean | null }
  | { type: 'regex'; regex: RegExp }
  | { type: 'path'; segments: PathSegment[]; special?: '$line' | '$bad' }
  | { type: 'not'; operand: FilterNode }
  | { type: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { type: 'compare'; op: CompareOp; left: FilterNode; right: FilterNode };

type Token =
  | { kind: 'num'; value: number; col: number }
  | { kind: 'str'; value: string; col: number }
  | { kind: 'regex'; value: RegExp; col: number }
  | { kind: 'name'; value: string; col: number }
  | { kind: 'op'; value: string; col: number }
  | { kind: 'end'; col: number };

const OPS = ['&&', '||', '==', '!=', '<=', '>=', '=~', '<', '>', '!', '(', ')', '.', '[', ']'];

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  // A `/` starts a regex only where an operand may start (after an operator or at the start).
  const operandExpected = (): boolean => {
    const last = out[out.length - 1];
    return !last || (last.kind === 'op' && last.value !== ')' && last.value !== ']') || (last.kind === 'name' && last.value === 'contains');
  };
  while (i < src.length) {
    const c = src[i];
    const col = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let raw = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\') {
          if (j + 1 >= src.length) break;
          raw += src[j] + src[j + 1];
          j += 2;
        } else {
          raw += src[j] === '"' ? '\\"' : src[j];
          j++;
        }
      }
      if (j >= src.length) throw new FilterSyntaxError('unterminated string', col);
      let value: string;
      try {
        value = JSON.parse(`"${raw.replace(/\\'/g, "'")}"`) as string;
      } catch {
        throw new FilterSyntaxError('bad escape in string', col);
      }
      out.push({ kind: 'str', value, col });
      i = j + 1;
      continue;
    }
    if (c === '/' && operandExpected()) {
      let j = i + 1;
      let inClass = false;
      while (j < src.length && (src[j] !== '/' || inClass)) {
        if (src[j] === '\\') j++;
        else if (src[j] === '[') inClass = true;
        else if (src[j] === ']') inClass = false;
        j++;
      }
      if (j >= src.length) throw new FilterSyntaxError('unterminated regex', col);
      const body = src.slice(i + 1, j);
      const fm = /^[a-z]*/.exec(src.slice(j + 1))![0];
      if (/[^imsu]/.test(fm)) throw new FilterSyntaxError(`unsupported regex flag in "${fm}" (use i, m, s, u)`, j + 2);
      let re: RegExp;
      try {
        re = new RegExp(body, fm);
      } catch (e) {
        throw new FilterSyntaxError(`bad regex: ${(e as Error).message}`, col);
      }
      out.push({ kind: 'regex', value: re, col });
      i = j + 1 + fm.length;
      continue;
    }
    const num = /^-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)/.exec(src.slice(i));
    if (num && ((c !== '-' && c !== '.') || operandExpected())) {
      out.push({ kind: 'num', value: Number(num[0]), col });
      i += num[0].length;
      continue;
    }
    const name = /^[A-Za-z_$][\w$-]*/.exec(src.slice(i));
    if (name) {
      out.push({ kind: 'name', value: name[0], col });
      i += name[0].length;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (op) {
      out.push({ kind: 'op', value: op, col });
      i += op.length;
      continue;
    }
    if (c === '=') throw new FilterSyntaxError('unexpected "=" (use == to compare)', col);
    if (c === '&' || c === '|') throw new FilterSyntaxError(`unexpected "${c}" (use ${c}${c})`, col);
    throw new FilterSyntaxError(`unexpected character "${c}"`, col);
  }
  out.push({ kind: 'end', col: src.length + 1 });
  return out;
}

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): FilterNode {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'end') throw new FilterSyntaxError(`unexpected ${describe(t)}`, t.col);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.pos];
  }

  private isOp(v: string): boolean {
    const t = this.peek();
    return (t.kind === 'op' && t.value === v) || (t.kind === 'name' && t.value === v && v === 'contains');
  }

  private or(): FilterNode {
    let left = this.and();
    while (this.isOp('||')) {
      this.pos++;
      left = { type: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): FilterNode {
    let left = this.unary();
    while (this.isOp('&&')) {
      this.pos++;
      left = { type: 'and', left, right: this.unary() };
    }
    return left;
  }

  private unary(): FilterNode {
    if (this.isOp('!')) {
      this.pos++;
      return { type: 'not', operand: this.unary() };
    }
    return this.compare();
  }

  private compare(): FilterNode {
    const left = this.primary();
    const t = this.peek();
    const op = t.kind === 'op' && ['==', '!=', '<', '<=', '>', '>=', '=~'].includes(t.value) ? t.value : t.kind === 'name' && t.value === 'contains' ? 'contains' : undefined;
    if (!op) return left;
    this.pos++;
    const right = this.primary();
    if (op === '=~') {
      if (right.type === 'literal' && typeof right.value === 'string') {
        try {
          return { type: 'compare', op, left, right: { type: 'regex', regex: new RegExp(right.value) } };
        } catch (e) {
          throw new FilterSyntaxError(`bad regex: ${(e as Error).message}`, this.tokens[this.pos - 1].col);
        }
      }
      if (right.type !== 'regex') throw new FilterSyntaxError('=~ needs a /regex/ or a string on its right', this.tokens[this.pos - 1].col);
    } else if (right.type === 'regex') {
      throw new FilterSyntaxError(`a regex can only follow =~, not ${op}`, this.tokens[this.pos - 1].col);
    }
    return { type: 'compare', op: op as CompareOp, left, right };
  }

  private primary(): FilterNode {
    const t = this.peek();
    switch (t.kind) {
      case 'num':
        this.pos++;
        return { type: 'literal', value: t.value };
      case 'str':
        this.pos++;
        return { type: 'literal', value: t.value };
      case 'regex':
        this.pos++;
        return { type: 'regex', regex: t.value };
      case 'name': {
        if (t.value === 'true' || t.value === 'false') {
          this.pos++;
          return { type: 'literal', value: t.value === 'true' };
        }
        if (t.value === 'null') {
          this.pos++;
          return { type: 'literal', value: null };
        }
        if (t.value === 'contains') throw new FilterSyntaxError('expected a value before "contains"', t.col);
        return this.path();
      }
      case 'op':
        if (t.value === '(') {
          this.pos++;
          const inner = this.or();
          const close = this.peek();
          if (!(close.kind === 'op' && close.value === ')')) throw new FilterSyntaxError(`expected ")" but found ${describe(close)}`, close.col);
          this.pos++;
          return inner;
        }
        if (t.value === '[') return this.path();
        throw new FilterSyntaxError(`expected a value but found ${describe(t)}`, t.col);
      case 'end':
        throw new FilterSyntaxError('expression ends too early: expected a value', t.col);
    }
  }

  private path(): FilterNode {
    const segments: PathSegment[] = [];
    const first = this.peek();
    if (first.kind === 'name') {
      segments.push(first.value);
      this.pos++;
    }
    for (;;) {
      if (this.isOp('.')) {
        this.pos++;
        const n = this.peek();
        if (n.kind !== 'name' && n.kind !== 'num') throw new FilterSyntaxError(`expected a field name after "." but found ${describe(n)}`, n.col);
        segments.push(String(n.value));
        this.pos++;
      } else if (this.isOp('[')) {
        this.pos++;
        const n = this.peek();
        if (n.kind === 'num' && Number.isInteger(n.value) && n.value >= 0) segments.push(n.value);
        else if (n.kind === 'str') segments.push(n.value);
        else throw new FilterSyntaxError(`expected an index or a quoted key inside [ ] but found ${describe(n)}`, n.col);
        this.pos++;
        const close = this.peek();
        if (!(close.kind === 'op' && close.value === ']')) throw new FilterSyntaxError(`expected "]" but found ${describe(close)}`, close.col);
        this.pos++;
      } else break;
    }
    if (segments.length === 0) throw new FilterSyntaxError('expected a field name', first.col);
    const special = segments.length === 1 && (segments[0] === '$line' || segments[0] === '$bad') ? (segments[0] as '$line' | '$bad') : undefined;
    return special ? { type: 'path', segments, special } : { type: 'path', segments };
  }
}

function describe(t: Token): string {
  switch (t.kind) {
    case 'end':
      return 'end of expression';
    case 'str':
      return `string ${JSON.stringify(t.value)}`;
    case 'regex':
      return `regex ${String(t.value)}`;
    default:
      return `"${String(t.value)}"`;
  }
}

/** Parse a filter expression; throws FilterSyntaxError (with a 1-based column) when it is bad. */
export function parseFilter(source: string): FilterNode {
  if (source.trim() === '') throw new FilterSyntaxError('empty filter', 1);
  return new Parser(tokenize(source)).parse();
}

/** What a filter sees of one line. `record` is undefined for malformed lines. */
export interface FilterContext {
  record: unknown;
  line: number;
  bad: boolean;
}

function valueOf(node: FilterNode, ctx: FilterContext): unknown {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'regex':
      return node.regex;
    case 'path':
      if (node.special === '$line') return ctx.line;
      if (node.special === '$bad') return ctx.bad;
      return ctx.bad ? undefined : getPath(ctx.record, node.segments);
    default:
      return evaluate(node, ctx);
  }
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return Boolean(v);
}

function looseEqual(a: unknown, b: unknown): boolean {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (a === b) return true;
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') return JSON.stringify(a) === JSON.stringify(b);
  return false;
}

function order(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

/** Evaluate a parsed filter against one line. Type mismatches are false, never errors. */
export function evaluate(node: FilterNode, ctx: FilterContext): boolean {
  switch (node.type) {
    case 'and':
      return evaluate(node.left, ctx) && evaluate(node.right, ctx);
    case 'or':
      return evaluate(node.left, ctx) || evaluate(node.right, ctx);
    case 'not':
      return !evaluate(node.operand, ctx);
    case 'compare': {
      const a = valueOf(node.left, ctx);
      const b = valueOf(node.right, ctx);
      switch (node.op) {
        case '==':
          return looseEqual(a, b);
        case '!=':
          return !looseEqual(a, b);
        case 'contains':
          if (typeof a === 'string') return typeof b === 'string' || typeof b === 'number' ? a.includes(String(b)) : false;
          if (Array.isArray(a)) return a.some((x) => looseEqual(x, b));
          return false;
        case '=~': {
          if (typeof a !== 'string' && typeof a !== 'number') return false;
          const re = b as RegExp;
          re.lastIndex = 0;
          return re.test(String(a));
        }
        default: {
          const c = order(a, b);
          if (c === undefined || Number.isNaN(c)) return false;
          return node.op === '<' ? c < 0 : node.op === '<=' ? c <= 0 : node.op === '>' ? c > 0 : c >= 0;
        }
      }
    }
    default:
      return truthy(valueOf(node, ctx));
  }
}

/** The field names a filter reads (for a cheap raw-text prefilter and for the UI). */
export function filterFields(node: FilterNode): string[] {
  const out = new Set<string>();
  const walk = (n: FilterNode): void => {
    if (n.type === 'path' && !n.special) out.add(n.segments.map(String).join('.'));
    else if (n.type === 'not') walk(n.operand);
    else if (n.type === 'and' || n.type === 'or' || n.type === 'compare') {
      walk(n.left);
      walk(n.right);
    }
  };
  walk(node);
  return [...out];
}
