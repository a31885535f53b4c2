/**
 * A small runtime schema for messages that arrive from webviews. Every request handler states
 * the shape of its params with these, so nothing from the webview is used unchecked.
 * Errors name the field: `params.profile.baseUrl: expected a string`.
 */
import { checkLimit, type LimitName } from '../../core/limits';

export class MessageValidationError extends Error {
  override readonly name = 'MessageValidationError';
}

export type Check<T> = (value: unknown, where: string) => T;

function fail(where: string, detail: string): never {
  throw new MessageValidationError(`${where}: ${detail}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? 'a string' : typeof value === 'object' ? 'an object' : String(typeof value);
}

export const v = {
  string(opts: { max?: number; min?: number; pattern?: RegExp; label?: string } = {}): Check<string> {
    const max = opts.max ?? 100_000;
    return (value, where) => {
      if (typeof value !== 'string') fail(where, `expected a string, got ${describe(value)}`);
      if (value.length > max) fail(where, `longer than ${max} characters`);
      if (opts.min !== undefined && value.length < opts.min) fail(where, opts.min === 1 ? 'must not be empty' : `shorter than ${opts.min} characters`);
      if (opts.pattern && !opts.pattern.test(value)) fail(where, `must be ${opts.label ?? `matching ${opts.pattern}`}`);
      return value;
    };
  },
  int(opts: { min?: number; max?: number } = {}): Check<number> {
    return (value, where) => {
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(where, `expected an integer, got ${describe(value)}`);
      if (opts.min !== undefined && value < opts.min) fail(where, `must be at least ${opts.min}`);
      if (opts.max !== undefined && value > opts.max) fail(where, `must be at most ${opts.max}`);
      return value;
    };
  },
  number(opts: { min?: number; max?: number } = {}): Check<number> {
    return (value, where) => {
      if (typeof value !== 'number' || !Number.isFinite(value)) fail(where, `expected a number, got ${describe(value)}`);
      if (opts.min !== undefined && value < opts.min) fail(where, `must be at least ${opts.min}`);
      if (opts.max !== undefined && value > opts.max) fail(where, `must be at most ${opts.max}`);
      return value;
    };
  },
  /** A number in one of the shared ranges of src/core/limits.ts (the CLI flags use the same). */
  limit(name: LimitName): Check<number> {
    return (value, where) => {
      if (typeof value !== 'number') fail(where, `expected a number, got ${describe(value)}`);
      const problem = checkLimit(name, value);
      if (problem) fail(where, problem);
      return value;
    };
  },
  boolean(): Check<boolean> {
    return (value, where) => (typeof value === 'boolean' ? value : fail(where, `expected true or false, got ${describe(value)}`));
  },
  literal<T extends string>(...options: T[]): Check<T> {
    return (value, where) => (typeof value === 'string' && (options as string[]).includes(value) ? (value as T) : fail(where, `expected one of ${options.join(', ')}`));
  },
  optional<T>(check: Check<T>): Check<T | undefined> {
    return (value, where) => (value === undefined || value === null ? undefined : check(value, where));
  },
  array<T>(item: Check<T>, opts: { max?: number } = {}): Check<T[]> {
    const max = opts.max ?? 10_000;
    return (value, where) => {
      if (!Array.isArray(value)) fail(where, `expected an array, got ${describe(value)}`);
      if (value.length > max) fail(where, `more than ${max} items`);
      return value.map((x, i) => item(x, `${where}[${i}]`));
    };
  },
  /** Any JSON value (a dataset row, a parameter value), bounded in size. */
  json(opts: { maxChars?: number } = {}): Check<unknown> {
    const maxChars = opts.maxChars ?? 1_000_000;
    return (value, where) => {
      let text: string | undefined;
      try {
        text = JSON.stringify(value);
      } catch {
        fail(where, 'is not JSON-serialisable');
      }
      if (text === undefined) fail(where, 'is not a JSON value');
      if (text.length > maxChars) fail(where, `larger than ${maxChars} characters of JSON`);
      return JSON.parse(text) as unknown;
    };
  },
  record<T>(item: Check<T>, opts: { maxKeys?: number } = {}): Check<Record<string, T>> {
    const maxKeys = opts.maxKeys ?? 1000;
    return (value, where) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) fail(where, `expected an object, got ${describe(value)}`);
      const entries = Object.entries(value as Record<string, unknown>);
      if (entries.length > maxKeys) fail(where, `more than ${maxKeys} keys`);
      const out: Record<string, T> = Object.create(null);
      for (const [k, x] of entries) {
        if (k === '__proto__' || k === 'constructor' || k === 'prototype') fail(`${where}.${k}`, 'reserved key');
        out[k] = item(x, `${where}.${k}`);
      }
      return { ...out };
    };
  },
  /** An object with exactly these keys (unknown keys are an error: they hint at a version mismatch). */
  object<S extends Record<string, Check<unknown>>>(shape: S): Check<{ [K in keyof S]: ReturnType<S[K]> }> {
    return (value, where) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) fail(where, `expected an object, got ${describe(value)}`);
      const obj = value as Record<string, unknown>;
      for (const k of Object.keys(obj)) if (!(k in shape)) fail(`${where}.${k}`, 'unknown field');
      const out: Record<string, unknown> = {};
      for (const [k, check] of Object.entries(shape)) {
        const r = check(obj[k], `${where}.${k}`);
        if (r !== undefined) out[k] = r;
      }
      return out as { [K in keyof S]: ReturnType<S[K]> };
    };
  },
};

/** Names users give endpoints: also the SecretStorage key suffix, so keep them plain. */
export const ENDPOINT_NAME = v.string({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9._ -]*$/, label: 'letters, digits, ".", "_", "-" or spaces, starting with a letter or digit' });
