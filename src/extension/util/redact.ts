/**
 * Scrubs secrets from anything that goes to the log channel or to a webview: everything the
 * core's `redactSecrets` removes (Authorization values, key shapes, credentials in URLs), and
 * every key value the extension has loaded from SecretStorage in this session.
 */
import { redactSecrets } from '../../core/redact';

const knownSecrets = new Set<string>();

/** Remember a key so that it is scrubbed wherever it shows up later. Short values are ignored (too many false hits). */
export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 8) knownSecrets.add(value);
}

/** The core's one redaction (keys, Authorization values, URL credentials) plus the keys loaded here. */
export function redact(text: string): string {
  return redactSecrets(String(text), [...knownSecrets]);
}

/** The message of an error, redacted; never its stack with request objects. */
export function errorMessage(e: unknown): string {
  return redact(e instanceof Error ? e.message : String(e));
}
