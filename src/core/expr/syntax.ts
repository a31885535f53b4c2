/**
 * The one expression language of SDG Studio: pipeline `filter` stages (`expr:`) and the JSONL
 * viewer's filter box. Parsed by hand (no eval, no Function: pipeline files come from users,
 * records come from models, and the webview CSP forbids it anyway).
 *
 *   expr     := or
 *   or       := and ( "||" and )*
 *   and      := equality ( "&&" equality )*
 *   equality := relation ( ( "==" | "!=" | "contains" | "=~" ) relation )*
 *   relation := sum ( ( "<" | "<=" | ">" | ">=" ) sum )*
 *   sum      := product ( ( "+" | "-" ) product )*
 *   product  := unary ( ( "*" | "/" | "%" ) unary )*
 *   unary    := ( "!" | "-" ) unary | primary
 *   primary  := number | string | true | false | null | call | path | "(" expr ")"
 *   call     := function "(" ( expr ( "," expr )* )? ")"
 *   path     := ( name | "[" key "]" ) ( "." name | "[" index "]" | "[" string "]" )*
 *
 * A /regex/flags literal may appear right of `=~` and as the pattern argument of matches().
 * Strings use '...' or "..." with JSON escapes (plus \'). Special paths: `$line` (1-based line
 * number, viewer) and `$bad` (true for malformed lines, viewer). Docs: docs/expressions.md.
 */
import type { PathSegment } from '../viewer/fieldPath';
import { FUNCTIONS, type ExprFunction } from './functions';

/** A syntax error with the 1-based column where it was found (message ends "at column N"). */
export class ExprSyntaxError extends Error {
  /** 0-based offset into the source (column - 1). */
  readonly position: number;
  constructor(message: string, readonly column: number) {
    super(`${message} at column ${column}`);
    this.name = 'ExprSyntaxError';
    this.position = column - 1;
  }
}

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'contains' | '=~';
export type ArithOp = '+' | '-' | '*' | '/' | '%';

export type ExprNode =
  | { type: 'literal'; value: string | number | boolean | null }
  | { type: 'regex'; regex: RegExp }
  | { type: 'path'; segments: PathSegment[]; special?: '$line' | '$bad' }
  | { type: 'not'; operand: ExprNode }
  | { type: 'neg'; operand: ExprNode }
  | { type: 'and' | 'or'; left: ExprNode; right: ExprNode }
  | { type: 'compare'; op: CompareOp; left: ExprNode; right: ExprNode }
  | { type: 'arith'; op: ArithOp; left: ExprNode; right: ExprNode }
  | { type: 'call'; name: string; fn: ExprFunction; args: ExprNode[] };

type Token =
  | { kind: 'num'; value: number; col: number }
  | { kind: 'str'; value: string; col: number }
  | { kind: 'regex'; value: RegExp; col: number }
  | { kind: 'name'; value: string; col: number }
  | { kind: 'op'; value: string; col: number }
  | { kind: 'end'; col: number };

const OPS = ['&&', '||', '==', '!=', '<=', '>=', '=~', '<', '>', '!', '(', ')', '.', '[', ']', '+', '-', '*', '/', '%', ','];
const REGEX_FLAGS = /^[imsu]*$/;
const NUMBER = /^(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?/;
// A hyphen inside a name is kept when a letter follows (`model-name`); `n-1` and `a - b` subtract.
const NAME = /^[A-Za-z_$][\w$]*(?:-[A-Za-z_$][\w$]*)*/;

function compileRegex(body: string, flags: string, col: number): RegExp {
  if (!REGEX_FLAGS.test(flags)) throw new ExprSyntaxError(`unsupported regex flag in "${flags}" (use i, m, s, u)`, col);
  try {
    return new RegExp(body, flags);
  } catch (e) {
    throw new ExprSyntaxError(`bad regex: ${(e as Error).message}`, col);
  }
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  // `/` starts a regex and `.5` a number only where an operand may start.
  const operandExpected = (): boolean => {
    const last = out[out.length - 1];
    if (!last) return true;
    if (last.kind === 'op') return last.value !== ')' && last.value !== ']';
    // `contains` is the infix operator unless it is a field name after a dot (`a.contains`).
    const before = out[out.length - 2];
    return last.kind === 'name' && last.value === 'contains' && !(before?.kind === 'op' && before.value === '.');
  };
  while (i < src.length) {
    const c = src[i]!;
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
          raw += src[j + 1] === "'" ? "'" : src[j]! + src[j + 1]!;
          j += 2;
        } else {
          const ch = src[j]!;
          // Raw control characters are fine inside a filter string; JSON.parse wants them escaped.
          raw += ch === '"' ? '\\"' : ch < ' ' ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}` : ch;
          j++;
        }
      }
      if (j >= src.length) throw new ExprSyntaxError('unterminated string', col);
      let value: string;
      try {
        value = JSON.parse(`"${raw}"`) as string;
      } catch {
        throw new ExprSyntaxError('bad escape in string (JSON escapes only: write \\\\ for a backslash)', col);
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
      if (j >= src.length) throw new ExprSyntaxError('unterminated regex', col);
      const flags = /^[a-z]*/.exec(src.slice(j + 1))![0];
      if (!REGEX_FLAGS.test(flags)) throw new ExprSyntaxError(`unsupported regex flag in "${flags}" (use i, m, s, u)`, j + 2);
      out.push({ kind: 'regex', value: compileRegex(src.slice(i + 1, j), flags, col), col });
      i = j + 1 + flags.length;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && operandExpected())) {
      const num = NUMBER.exec(src.slice(i));
      if (num) {
        out.push({ kind: 'num', value: Number(num[0]), col });
        i += num[0].length;
        continue;
      }
    }
    const name = NAME.exec(src.slice(i));
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
    if (c === '=') throw new ExprSyntaxError('unexpected "=" (use == to compare)', col);
    if (c === '&' || c === '|') throw new ExprSyntaxError(`unexpected "${c}" (use ${c}${c})`, col);
    throw new ExprSyntaxError(`unexpected character "${c}"`, col);
  }
  out.push({ kind: 'end', col: src.length + 1 });
  return out;
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

const EQUALITY = new Set(['==', '!=', '=~']);
const RELATION = new Set(['<', '<=', '>', '>=']);

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): ExprNode {
    const node = this.or();
    const t = this.peek();
    if (t.kind !== 'end') throw new ExprSyntaxError(`unexpected ${describe(t)}`, t.col);
    return node;
  }

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private isOp(v: string): boolean {
    const t = this.peek();
    return t.kind === 'op' && t.value === v;
  }

  private or(): ExprNode {
    let left = this.and();
    while (this.isOp('||')) {
      this.pos++;
      left = { type: 'or', left, right: this.and() };
    }
    return left;
  }

  private and(): ExprNode {
    let left = this.equality();
    while (this.isOp('&&')) {
      this.pos++;
      left = { type: 'and', left, right: this.equality() };
    }
    return left;
  }

  private equality(): ExprNode {
    let left = this.relation();
    for (;;) {
      const t = this.peek();
      const op = t.kind === 'op' && EQUALITY.has(t.value) ? t.value : t.kind === 'name' && t.value === 'contains' ? 'contains' : undefined;
      if (!op) return left;
      this.pos++;
      const next = this.peek();
      if (op === '=~') {
        left = { type: 'compare', op, left, right: this.regexOperand() };
        continue;
      }
      if (next.kind === 'regex') throw new ExprSyntaxError(`a regex can only follow =~, not ${op}`, next.col);
      left = { type: 'compare', op: op as CompareOp, left, right: this.relation() };
    }
  }

  /** Right of =~: a /regex/ or a string literal (compiled once, here). */
  private regexOperand(): ExprNode {
    const t = this.peek();
    if (t.kind === 'regex') {
      this.pos++;
      return { type: 'regex', regex: t.value };
    }
    const right = this.relation();
    if (right.type === 'literal' && typeof right.value === 'string') return { type: 'regex', regex: compileRegex(right.value, '', t.col) };
    throw new ExprSyntaxError('=~ needs a /regex/ or a string on its right', t.col);
  }

  private relation(): ExprNode {
    let left = this.sum();
    for (;;) {
      const t = this.peek();
      if (!(t.kind === 'op' && RELATION.has(t.value))) return left;
      this.pos++;
      left = { type: 'compare', op: t.value as CompareOp, left, right: this.sum() };
    }
  }

  private sum(): ExprNode {
    let left = this.product();
    while (this.isOp('+') || this.isOp('-')) {
      const op = (this.tokens[this.pos++] as { value: ArithOp }).value;
      left = { type: 'arith', op, left, right: this.product() };
    }
    return left;
  }

  private product(): ExprNode {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = (this.tokens[this.pos++] as { value: ArithOp }).value;
      left = { type: 'arith', op, left, right: this.unary() };
    }
    return left;
  }

  private unary(): ExprNode {
    if (this.isOp('!')) {
      this.pos++;
      return { type: 'not', operand: this.unary() };
    }
    if (this.isOp('-')) {
      this.pos++;
      const operand = this.unary();
      // Fold `-3` into a literal so it reads (and prefilters) like the number it is.
      if (operand.type === 'literal' && typeof operand.value === 'number') return { type: 'literal', value: -operand.value };
      return { type: 'neg', operand };
    }
    return this.primary();
  }

  private primary(): ExprNode {
    const t = this.peek();
    switch (t.kind) {
      case 'num':
      case 'str':
        this.pos++;
        return { type: 'literal', value: t.value };
      case 'regex':
        throw new ExprSyntaxError('a regex can only follow =~ or be the pattern of matches()', t.col);
      case 'name': {
        if (t.value === 'true' || t.value === 'false') {
          this.pos++;
          return { type: 'literal', value: t.value === 'true' };
        }
        if (t.value === 'null') {
          this.pos++;
          return { type: 'literal', value: null };
        }
        const after = this.tokens[this.pos + 1]!;
        if (after.kind === 'op' && after.value === '(') return this.call();
        if (t.value === 'contains') throw new ExprSyntaxError('expected a value before "contains"', t.col);
        return this.path();
      }
      case 'op':
        if (t.value === '(') {
          this.pos++;
          const inner = this.or();
          const close = this.peek();
          if (!(close.kind === 'op' && close.value === ')')) throw new ExprSyntaxError(`expected ")" but found ${describe(close)}`, close.col);
          this.pos++;
          return inner;
        }
        if (t.value === '[') return this.path();
        throw new ExprSyntaxError(`expected a value but found ${describe(t)}`, t.col);
      case 'end':
        throw new ExprSyntaxError('expression ends too early: expected a value', t.col);
    }
  }

  private call(): ExprNode {
    const t = this.tokens[this.pos] as { value: string; col: number };
    const fn = Object.prototype.hasOwnProperty.call(FUNCTIONS, t.value) ? FUNCTIONS[t.value] : undefined;
    if (!fn) throw new ExprSyntaxError(`unknown function ${t.value}() (known: ${Object.keys(FUNCTIONS).join(', ')})`, t.col);
    this.pos += 2;
    const args: ExprNode[] = [];
    if (!this.isOp(')')) {
      for (;;) {
        const a = this.peek();
        const next = this.tokens[this.pos + 1]!;
        // matches(x, /re/flags): the pattern may be a regex literal.
        if (a.kind === 'regex' && fn.regexArg === args.length && next.kind === 'op' && (next.value === ')' || next.value === ',')) {
          this.pos++;
          args.push({ type: 'regex', regex: a.value });
        } else args.push(this.or());
        if (!this.isOp(',')) break;
        this.pos++;
      }
    }
    const close = this.peek();
    if (!(close.kind === 'op' && close.value === ')')) throw new ExprSyntaxError(`expected "," or ")" but found ${describe(close)}`, close.col);
    this.pos++;
    if (args.length < fn.minArgs || args.length > fn.maxArgs) {
      const n = fn.minArgs === fn.maxArgs ? `${fn.minArgs}` : `${fn.minArgs}-${fn.maxArgs}`;
      throw new ExprSyntaxError(`${t.value}() takes ${n} argument(s), got ${args.length}`, t.col);
    }
    if (fn.regexArg !== undefined) {
      // A constant pattern (and flags) is compiled once here, so a bad one is a syntax error.
      const pat = args[fn.regexArg];
      const flags = args[fn.regexArg + 1];
      if (pat?.type === 'literal' && typeof pat.value === 'string' && (flags === undefined || (flags.type === 'literal' && typeof flags.value === 'string'))) {
        const f = flags ? String((flags as { value: string }).value) : '';
        args.splice(fn.regexArg, 2, { type: 'regex', regex: compileRegex(pat.value, f, t.col) });
      } else if (pat?.type === 'regex' && flags !== undefined) {
        throw new ExprSyntaxError(`${t.value}(): give flags inside the /regex/flags literal, not as an argument`, t.col);
      }
    }
    return { type: 'call', name: t.value, fn, args };
  }

  private path(): ExprNode {
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
        if (n.kind !== 'name' && n.kind !== 'num') throw new ExprSyntaxError(`expected a field name after "." but found ${describe(n)}`, n.col);
        segments.push(String(n.value));
        this.pos++;
      } else if (this.isOp('[')) {
        this.pos++;
        const n = this.peek();
        if (n.kind === 'num' && Number.isInteger(n.value) && n.value >= 0) segments.push(n.value);
        else if (n.kind === 'str') segments.push(n.value);
        else throw new ExprSyntaxError(`expected an index or a quoted key inside [ ] but found ${describe(n)}`, n.col);
        this.pos++;
        const close = this.peek();
        if (!(close.kind === 'op' && close.value === ']')) throw new ExprSyntaxError(`expected "]" but found ${describe(close)}`, close.col);
        this.pos++;
      } else break;
    }
    if (segments.length === 0) throw new ExprSyntaxError('expected a field name', first.col);
    const special = segments.length === 1 && (segments[0] === '$line' || segments[0] === '$bad') ? (segments[0] as '$line' | '$bad') : undefined;
    return special ? { type: 'path', segments, special } : { type: 'path', segments };
  }
}

/** Parse an expression; throws ExprSyntaxError (with a 1-based column) when it is bad. */
export function parseExpr(source: string): ExprNode {
  if (source.trim() === '') throw new ExprSyntaxError('empty filter expression', 1);
  return new Parser(tokenize(source)).parse();
}

const PLAIN_NAME = /^[A-Za-z_$][\w$]*(?:-[A-Za-z_$][\w$]*)*$/;
const KEYWORDS = new Set(['true', 'false', 'null', 'contains']);

function printNumber(n: number): string {
  if (n === Infinity) return '1e999';
  if (n === -Infinity) return '-1e999';
  if (Object.is(n, -0)) return '-0';
  return String(n);
}

/** Source text for a node that parses back to the same tree (binary nodes fully parenthesised). */
export function printExpr(node: ExprNode): string {
  switch (node.type) {
    case 'literal':
      return typeof node.value === 'number' ? printNumber(node.value) : typeof node.value === 'string' ? JSON.stringify(node.value) : String(node.value);
    case 'regex':
      return `/${node.regex.source}/${node.regex.flags}`;
    case 'path':
      if (node.special) return node.special;
      return node.segments
        .map((s, i) =>
          typeof s === 'number' ? `[${s}]` : PLAIN_NAME.test(s) && !(i === 0 && (KEYWORDS.has(s) || s === '$line' || s === '$bad')) ? (i === 0 ? s : `.${s}`) : `[${JSON.stringify(s)}]`,
        )
        .join('');
    case 'not':
      return `!(${printExpr(node.operand)})`;
    case 'neg':
      return `-(${printExpr(node.operand)})`;
    case 'and':
      return `(${printExpr(node.left)} && ${printExpr(node.right)})`;
    case 'or':
      return `(${printExpr(node.left)} || ${printExpr(node.right)})`;
    case 'compare':
    case 'arith':
      return `(${printExpr(node.left)} ${node.op} ${printExpr(node.right)})`;
    case 'call':
      return `${node.name}(${node.args.map(printExpr).join(', ')})`;
  }
}

/** Calls `visit` for every path node of the tree, left to right. */
function forEachPath(node: ExprNode, visit: (n: Extract<ExprNode, { type: 'path' }>) => void): void {
  switch (node.type) {
    case 'path':
      return visit(node);
    case 'not':
    case 'neg':
      return forEachPath(node.operand, visit);
    case 'and':
    case 'or':
    case 'compare':
    case 'arith':
      forEachPath(node.left, visit);
      return forEachPath(node.right, visit);
    case 'call':
      for (const a of node.args) forEachPath(a, visit);
      return;
    default:
      return;
  }
}

/** Every field path an expression reads (specials `$line`/`$bad` excluded), in first-use order. */
export function referencedPaths(node: ExprNode): PathSegment[][] {
  const out: PathSegment[][] = [];
  const seen = new Set<string>();
  forEachPath(node, (n) => {
    const key = JSON.stringify(n.segments);
    if (n.special || seen.has(key)) return;
    seen.add(key);
    out.push(n.segments);
  });
  return out;
}

/** The specials (`$line`, `$bad`) an expression reads: only the viewer provides them. */
export function usesSpecials(node: ExprNode): Array<'$line' | '$bad'> {
  const out = new Set<'$line' | '$bad'>();
  forEachPath(node, (n) => {
    if (n.special) out.add(n.special);
  });
  return [...out];
}

/** Dotted names of the fields an expression reads (`items[0].t` -> `items.0.t`). */
export function exprFields(node: ExprNode): string[] {
  return referencedPaths(node).map((p) => p.map(String).join('.'));
}
