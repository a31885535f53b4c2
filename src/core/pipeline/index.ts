/** Pipelines: YAML-defined multi-stage generation (see docs/pipelines.md). */
export * from './definition';
export * from './listParse';
export { Expression, ExprSyntaxError as ExpressionError } from '../expr';
export * from './dedup';
export * from './templates';
export * from './builtins';
export * from './rows';
export * from './steps';
export * from './loader';
export * from './runner';
export { runLocalStage, stripBullets, stripPreamble, parseQaPairs, selectQaPairs, renderValue } from './localStages';
export { executeModelItem, itemParams, attemptSeed, ATTEMPT_SEED_STRIDE, RewardScoresMissingError } from './modelStages';
export * from './nemotronCc';
export { loadTokenizer, type TokenCounter } from './tokens';
