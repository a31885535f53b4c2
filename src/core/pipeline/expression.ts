/**
 * The small expression language of `filter` stages, e.g.
 *   `words(question) >= 8 && !contains(lower(question), "as an ai")`
 * Parsed once (so validation reports syntax errors and unknown fields before any request) and
 * evaluated per row. No `eval`: rows come from models and pipeline files come from users.
 *
 * Grammar: || && ! == != < <= > >= + - * / %, parentheses, numbers, "strings" or 'strings',
 * true false null, field names (dotted: `rewards.helpfulness`), and the functions in FUNCTIONS.
 */

export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
  constructor(message: string, readonly position?: number) {
    super(message);
  }
}

type Node =
  | { t: 'lit'; v: unknown }
  | { t: 'ref'; name: string }
  | { t: 'un'; op: '!' | '-'; e: Node }
  | { t: 'bin'; op: string; l: Node; r: Node }
  | { t: 'call'; fn: string; args: Node[] };

const FUNCTIONS: Record<string, { arity: [number, number]; fn: (...a: unknown[]) => unknown }> = {
  len: { arity: [1, 1], fn: (x) => (typeof x === 'string' || Array.isArray(x) ? x.length : x == null ? 0 : String(x).length) },
  words: { arity: [1, 1], fn: (x) => String(x ?? '').split(/\s+/).filter(Boolean).length },
  lines: { arity: [1, 1], fn: (x) => String(x ?? '').split('\n').filter((l) => l.trim()).length },
  lower: { arity: [1, 1], fn: (x) => String(x ?? '').toLowerCase() },
  upper: { arity: [1, 1], fn: (x) => String(x ?? '').toUpperCase() },
  trim: { arity: [1, 1], fn: (x) => String(x ?? '').trim() },
  number: { arity: [1, 1], fn: (x) => Number(x) },
  contains: { arity: [2, 2], fn: (a, b) => (Array.isArray(a) ? a.includes(b) : String(a ?? '').includes(String(b))) },
  startsWith: { arity: [2, 2], fn: (a, b) => String(a ?? '').startsWith(String(b)) },
  endsWith: { arity: [2, 2], fn: (a, b) => String(a ?? '').endsWith(String(b)) },
  matches: { arity: [2, 3], fn: (a, re, flags) => new RegExp(String(re), flags === undefined ? '' : String(flags)).test(String(a ?? '')) },
  min: { arity: [2, 2], fn: (a, b) => Math.min(Number(a), Number(b)) },
  max: { arity: [2, 2], fn: (a, b) => Math.max(Number(a), Number(b)) },
};

const PRECEDENCE: Record<string, number> = {
  '||': 1, '&&': 2, '==': 3, '!=': 3, '<': 4, '<=': 4, '>': 4, '>=': 4, '+': 5, '-': 5, '*': 6, '/': 6, '%': 6,
};

interface Token { k: 'num' | 'str' | 'id' | 'op' | 'end'; v: string; pos: number }

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) { i++; continue; }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^[0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?/i.exec(src.slice(i))!;
      out.push({ k: 'num', v: m[0], pos: i });
      i += m[0].length;
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let s = '';
      while (j < src.length && src[j] !== c) {
        if (src[j] === '\\' && j + 1 < src.length) { j++; s += src[j] === 'n' ? '\n' : src[j] === 't' ? '\t' : src[j]; }
        else s += src[j];
        j++;
      }
      if (j >= src.length) throw new ExpressionError(`unterminated string starting at column ${i + 1}`, i);
      out.push({ k: 'str', v: s, pos: i });
      i = j + 1;
      continue;
    }
    const id = /^[A-Za-z_][\w]*(?:\.[A-Za-z_0-9]\w*)*/.exec(src.slice(i));
    if (id) { out.push({ k: 'id', v: id[0], pos: i }); i += id[0].length; continue; }
    const op = /^(\|\||&&|==|!=|<=|>=|[<>!+\-*/%(),])/.exec(src.slice(i));
    if (op) { out.push({ k: 'op', v: op[0], pos: i }); i += op[0].length; continue; }
    throw new ExpressionError(`unexpected character ${JSON.stringify(c)} at column ${i + 1}`, i);
  }
  out.push({ k: 'end', v: '', pos: src.length });
  return out;
}

/** A parsed expression: evaluate per row, list the fields it reads (for validation). */
export class Expression {
  private constructor(readonly source: string, private readonly root: Node) {}

  static parse(source: string): Expression {
    const toks = tokenize(source);
    let p = 0;
    const peek = () => toks[p]!;
    const expect = (v: string) => {
      const t = toks[p]!;
      if (t.v !== v || (t.k !== 'op')) throw new ExpressionError(`expected "${v}" at column ${t.pos + 1}`, t.pos);
      p++;
    };
    const primary = (): Node => {
      const t = toks[p++]!;
      if (t.k === 'num') return { t: 'lit', v: Number(t.v) };
      if (t.k === 'str') return { t: 'lit', v: t.v };
      if (t.k === 'op' && (t.v === '!' || t.v === '-')) return { t: 'un', op: t.v, e: binary(7) };
      if (t.k === 'op' && t.v === '(') { const e = binary(0); expect(')'); return e; }
      if (t.k === 'id') {
        if (t.v === 'true' || t.v === 'false') return { t: 'lit', v: t.v === 'true' };
        if (t.v === 'null') return { t: 'lit', v: null };
        if (peek().k === 'op' && peek().v === '(') {
          const f = FUNCTIONS[t.v];
          if (!f) throw new ExpressionError(`unknown function ${t.v}() (known: ${Object.keys(FUNCTIONS).join(', ')})`, t.pos);
          p++;
          const args: Node[] = [];
          if (!(peek().k === 'op' && peek().v === ')')) {
            for (;;) {
              args.push(binary(0));
              if (peek().k === 'op' && peek().v === ',') { p++; continue; }
              break;
            }
          }
          expect(')');
          if (args.length < f.arity[0] || args.length > f.arity[1]) throw new ExpressionError(`${t.v}() takes ${f.arity[0] === f.arity[1] ? f.arity[0] : `${f.arity[0]}-${f.arity[1]}`} argument(s), got ${args.length}`, t.pos);
          return { t: 'call', fn: t.v, args };
        }
        return { t: 'ref', name: t.v };
      }
      throw new ExpressionError(t.k === 'end' ? 'unexpected end of expression' : `unexpected "${t.v}" at column ${t.pos + 1}`, t.pos);
    };
    const binary = (minPrec: number): Node => {
      let left = primary();
      for (;;) {
        const t = peek();
        const prec = t.k === 'op' ? PRECEDENCE[t.v] : undefined;
        if (prec === undefined || prec < minPrec) break;
        p++;
        const right = binary(prec + 1);
        left = { t: 'bin', op: t.v, l: left, r: right };
      }
      return left;
    };
    const root = binary(0);
    if (peek().k !== 'end') throw new ExpressionError(`unexpected "${peek().v}" at column ${peek().pos + 1}`, peek().pos);
    return new Expression(source, root);
  }

  /** Top-level names of the fields the expression reads (`rewards.helpfulness` -> `rewards`). */
  fields(): string[] {
    const out = new Set<string>();
    const walk = (n: Node): void => {
      if (n.t === 'ref') out.add(n.name.split('.')[0]!);
      else if (n.t === 'un') walk(n.e);
      else if (n.t === 'bin') { walk(n.l); walk(n.r); }
      else if (n.t === 'call') n.args.forEach(walk);
    };
    walk(this.root);
    return [...out];
  }

  evaluate(values: Record<string, unknown>): unknown {
    const ev = (n: Node): unknown => {
      switch (n.t) {
        case 'lit': return n.v;
        case 'ref': {
          let cur: unknown = values;
          for (const part of n.name.split('.')) cur = cur != null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part] : undefined;
          return cur;
        }
        case 'un': return n.op === '!' ? !truthy(ev(n.e)) : -Number(ev(n.e));
        case 'call': return FUNCTIONS[n.fn]!.fn(...n.args.map(ev));
        case 'bin': {
          if (n.op === '&&') return truthy(ev(n.l)) && truthy(ev(n.r));
          if (n.op === '||') return truthy(ev(n.l)) || truthy(ev(n.r));
          const a = ev(n.l);
          const b = ev(n.r);
          switch (n.op) {
            case '==': return a === b || (a == null && b == null);
            case '!=': return !(a === b || (a == null && b == null));
            case '<': return (a as number) < (b as number);
            case '<=': return (a as number) <= (b as number);
            case '>': return (a as number) > (b as number);
            case '>=': return (a as number) >= (b as number);
            case '+': return typeof a === 'string' || typeof b === 'string' ? String(a ?? '') + String(b ?? '') : Number(a) + Number(b);
            case '-': return Number(a) - Number(b);
            case '*': return Number(a) * Number(b);
            case '/': return Number(a) / Number(b);
            case '%': return Number(a) % Number(b);
          }
          throw new ExpressionError(`unknown operator ${n.op}`);
        }
      }
    };
    return ev(this.root);
  }

  test(values: Record<string, unknown>): boolean {
    return truthy(this.evaluate(values));
  }
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return Boolean(v);
}
