/**
 * The expression language shared by pipeline `filter` stages and the JSONL viewer's filter box.
 * Reference: docs/expressions.md.
 */
import { evaluate, evaluateValue } from './evaluate';
import { parseExpr, referencedPaths, usesSpecials, type ExprNode } from './syntax';

export { ExprSyntaxError, parseExpr, printExpr, referencedPaths, exprFields, usesSpecials } from './syntax';
export type { ExprNode, CompareOp, ArithOp } from './syntax';
export { evaluate, evaluateValue, truthy } from './evaluate';
export type { ExprContext } from './evaluate';
export { FUNCTIONS as EXPR_FUNCTIONS, containsValue, toNumber, toText } from './functions';
export type { ExprFunction } from './functions';

/**
 * A parsed expression over plain objects (pipeline rows merged with parameters): parse once,
 * list the fields it reads for validation, evaluate per row.
 */
export class Expression {
  private constructor(
    readonly source: string,
    readonly root: ExprNode,
  ) {}

  /** Throws ExprSyntaxError (message ends "at column N") when the text is not an expression. */
  static parse(source: string): Expression {
    return new Expression(source, parseExpr(source));
  }

  /**
   * Top-level names of the fields the expression reads (`rewards.helpfulness` -> `rewards`),
   * plus `$line`/`$bad` when used, so a caller without lines can reject them as unknown.
   */
  fields(): string[] {
    const out = new Set<string>();
    for (const p of referencedPaths(this.root)) out.add(String(p[0]));
    for (const s of usesSpecials(this.root)) out.add(s);
    return [...out];
  }

  evaluate(values: Record<string, unknown>): unknown {
    return evaluateValue(this.root, { record: values, line: 0, bad: false });
  }

  test(values: Record<string, unknown>): boolean {
    return evaluate(this.root, { record: values, line: 0, bad: false });
  }
}
