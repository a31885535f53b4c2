/**
 * Evaluation of parsed expressions. Runs once per line in the viewer (millions of lines), so it
 * walks the tree directly and allocates nothing for comparisons, paths or function calls.
 * Never throws: type mismatches give false/NaN, missing fields are null.
 */
import { getPath } from '../viewer/fieldPath';
import { containsValue, looseEqual, toNumber, toText } from './functions';
import type { ExprNode } from './syntax';

/** What an expression sees. `record` is undefined for malformed lines (viewer: `bad` true). */
export interface ExprContext {
  record: unknown;
  /** 1-based line number (`$line`); 0 where there is no line (pipeline rows). */
  line: number;
  bad: boolean;
}

export function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return Boolean(v);
}

/** Ordering only between two numbers or two strings; anything else is "no order". */
function order(a: unknown, b: unknown): number | undefined {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  return undefined;
}

/** The value of an expression for one record (numbers, strings, booleans, null, record parts). */
export function evaluateValue(node: ExprNode, ctx: ExprContext): unknown {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'regex':
      return node.regex;
    case 'path':
      if (node.special === '$line') return ctx.line;
      if (node.special === '$bad') return ctx.bad;
      return ctx.bad ? undefined : getPath(ctx.record, node.segments);
    case 'and':
    case 'or':
    case 'not':
      return evaluate(node, ctx);
    case 'neg':
      return -toNumber(evaluateValue(node.operand, ctx));
    case 'compare': {
      const a = evaluateValue(node.left, ctx);
      if (node.op === '=~') {
        if (typeof a !== 'string' && typeof a !== 'number') return false;
        // Flags are limited to imsu (no g/y), so test() keeps no state between lines.
        return (node.right as { regex: RegExp }).regex.test(typeof a === 'string' ? a : String(a));
      }
      const b = evaluateValue(node.right, ctx);
      switch (node.op) {
        case '==':
          return looseEqual(a, b);
        case '!=':
          return !looseEqual(a, b);
        case 'contains':
          return containsValue(a, b);
        default: {
          const c = order(a, b);
          if (c === undefined || Number.isNaN(c)) return false;
          return node.op === '<' ? c < 0 : node.op === '<=' ? c <= 0 : node.op === '>' ? c > 0 : c >= 0;
        }
      }
    }
    case 'arith': {
      const a = evaluateValue(node.left, ctx);
      const b = evaluateValue(node.right, ctx);
      switch (node.op) {
        case '+':
          return typeof a === 'string' || typeof b === 'string' ? toText(a) + toText(b) : toNumber(a) + toNumber(b);
        case '-':
          return toNumber(a) - toNumber(b);
        case '*':
          return toNumber(a) * toNumber(b);
        case '/':
          return toNumber(a) / toNumber(b);
        case '%':
          return toNumber(a) % toNumber(b);
      }
      return undefined;
    }
    case 'call': {
      const args = node.args;
      const a = args.length > 0 ? evaluateValue(args[0]!, ctx) : undefined;
      const b = args.length > 1 ? evaluateValue(args[1]!, ctx) : undefined;
      const c = args.length > 2 ? evaluateValue(args[2]!, ctx) : undefined;
      return node.fn.call(a, b, c);
    }
  }
}

/** Whether a record passes the expression (its value, tested for truthiness). */
export function evaluate(node: ExprNode, ctx: ExprContext): boolean {
  // Boolean nodes directly: the hot path of viewer filters (`a == 1 && b < 2`).
  switch (node.type) {
    case 'and':
      return evaluate(node.left, ctx) && evaluate(node.right, ctx);
    case 'or':
      return evaluate(node.left, ctx) || evaluate(node.right, ctx);
    case 'not':
      return !evaluate(node.operand, ctx);
    case 'compare':
      return evaluateValue(node, ctx) as boolean;
    default:
      return truthy(evaluateValue(node, ctx));
  }
}
