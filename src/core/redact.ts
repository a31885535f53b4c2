/**
 * The one redaction of secrets in text, for everything the CLI prints, the extension logs or
 * shows, and the run folder stores (config.json, command.json, manifest.json):
 *
 *  - the given secrets (the API keys in use),
 *  - Authorization values (`Bearer ...`, `Basic ...`) and well-known key shapes (`sk-...`, `nvapi-...`),
 *  - credentials inside URLs: the user-info part (`https://user:pass@host` -> `https://***@host`)
 *    and query parameters named like a credential (`?api_key=...`, `&token=...`, `&sig=...`),
 *    found by pattern so that URLs too broken to parse are redacted as well.
 */

const AUTH_VALUE = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{4,}/gi;
const KEY_SHAPES = /\b(?:nvapi|sk)-[A-Za-z0-9_-]{8,}/g;
/** scheme://user[:password]@ */
const URL_USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>`]+@/gi;
/** ?name=value / &name=value / ;name=value where the name says it is a credential. */
const URL_QUERY_SECRET = /([?&;][A-Za-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|auth|signature|sig|credential|session)[A-Za-z0-9_.-]*=)[^&#\s"'<>`]+/gi;

/** `Authorization: ...` and `api_key = ...`-style assignments in logged text (headers, dumps). */
const ASSIGNMENTS: Array<[RegExp, string]> = [
  [/(authorization\s*[:=]\s*)("?)[^"\r\n,}]+/gi, '$1$2***'],
  [/((?:api[-_]?key|x-api-key|access[-_]?token)["']?\s*[:=]\s*["']?)[^"'\s,}]+/gi, '$1***'],
];

/** Credentials inside URLs (user-info, credential-like query parameters) in any text. */
export function redactUrlCredentials(text: string): string {
  return String(text).replace(URL_USERINFO, '$1***@').replace(URL_QUERY_SECRET, '$1***');
}

/**
 * Replaces every occurrence of the given secrets, anything shaped like an Authorization value or
 * a well-known API key, and credentials inside URLs with "***". Use on every message that may
 * reach a log, a terminal, a UI or a file.
 */
export function redactSecrets(text: string, secrets: readonly (string | undefined | null)[] = []): string {
  let out = String(text);
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('***');
  }
  out = out.replace(AUTH_VALUE, (_m, scheme: string) => `${scheme} ***`).replace(KEY_SHAPES, '***');
  for (const [re, repl] of ASSIGNMENTS) out = out.replace(re, repl);
  return redactUrlCredentials(out);
}

/** A copy of a JSON-like value with every string passed through `redactSecrets` (keys kept). */
export function redactDeep<T>(value: T, secrets: readonly (string | undefined | null)[] = []): T {
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactSecrets(v, secrets);
    if (v === null || typeof v !== 'object' || depth > 200) return v;
    if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = walk(x, depth + 1);
    return out;
  };
  return walk(value, 0) as T;
}
