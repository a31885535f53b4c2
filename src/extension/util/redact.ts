/**
 * Scrubs secrets from anything that goes to the log channel or to a webview: Authorization
 * headers, bearer tokens, common API-key shapes, and every key value the extension has loaded
 * from SecretStorage in this session.
 */
import { redactSecrets } from '../../core/llm/presets';

const knownSecrets = new Set<string>();

/** Remember a key so that it is scrubbed wherever it shows up later. Short values are ignored (too many false hits). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) knownSecrets.add(value);
}

const PATTERNS: Array<[RegExp, string]> = [
  [/(authorization\s*[:=]\s*)("?)[^"\r\n,}]+/gi, '$1$2[redacted]'],
  [/((?:api[-_]?key|x-api-key|access[-_]?token)["']?\s*[:=]\s*["']?)[^"'\s,}]+/gi, '$1[redacted]'],
];

export function redact(text: string): string {
  let out = redactSecrets(String(text), [...knownSecrets]);
  for (const [re, repl] of PATTERNS) out = out.replace(re, repl);
  return out;
}

/** The message of an error, redacted; never its stack with request objects. */
export function errorMessage(e: unknown): string {
  return redact(e instanceof Error ? e.message : String(e));
}
