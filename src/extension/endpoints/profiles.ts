/**
 * Endpoint profiles as kept in the `sdg.endpoints` setting: parsed and checked here (pure, no
 * `vscode`), so a bad entry is reported by name and field and the good ones still load.
 * Keys never live in settings: a profile carrying one is refused with a pointer to
 * "SDG: Set API Key...".
 */
import type { ApiKind, EndpointProfile, FormatterName, PoolServer, PresetName } from '../../core/llm/types';
import { isAbsolute, resolve } from 'node:path';
import { validateEndpoint } from '../../core/llm/presets';

/** The built-in conversation formatters (`chat-template` is offered beside them, with its file). */
export const FORMATTERS: readonly FormatterName[] = ['none', 'mixtral', 'llama2', 'nemotron', 'llama3', 'chatml'];
export const PRESETS: readonly PresetName[] = ['nvidia', 'openai', 'vllm', 'sglang', 'tensorrt-llm', 'nim', 'llamacpp', 'ollama', 'custom'];

/** SecretStorage key of an endpoint's API key. */
export function secretKeyFor(endpointName: string): string {
  return `sdg.apiKey.${endpointName}`;
}

export const ENDPOINT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/;
const SECRET_HEADER_RE = /^(authorization|x-api-key|api-key|proxy-authorization)$/i;
const FORBIDDEN_FIELDS = ['apiKey', 'api_key', 'key', 'token', 'secret'];

export interface ProfileIssue {
  /** Index in the settings array. */
  index: number;
  name?: string;
  message: string;
}

/**
 * Validate one profile: the settings-specific rules here (no keys in settings, names usable as
 * secret keys), every field rule in the core's `validateEndpoint`. Returns the cleaned profile
 * or a list of problems.
 */
/**
 * `baseDir`: where a relative `chatTemplateFile` lives (the workspace folder in VS Code); the
 * profile keeps the path as written, the check reads the file there.
 */
export function checkProfile(raw: unknown, baseDir?: string): { profile?: EndpointProfile; problems: string[] } {
  const problems: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return { problems: ['expected an object'] };
  const r = raw as Record<string, unknown>;
  for (const f of FORBIDDEN_FIELDS) if (f in r) problems.push(`${f}: API keys must not be in settings; use "SDG: Set API Key..." (kept in secret storage)`);
  if (typeof r.name !== 'string' || !ENDPOINT_NAME_RE.test(r.name)) problems.push('name: required; letters, digits, ".", "_", "-" or spaces, at most 64 characters');
  if (r.headers && typeof r.headers === 'object') {
    for (const k of Object.keys(r.headers)) if (SECRET_HEADER_RE.test(k)) problems.push(`headers.${k}: keys must not be in settings; use "SDG: Set API Key..."`);
  }
  const profile: EndpointProfile = {
    name: String(r.name ?? ''),
    baseUrl: typeof r.baseUrl === 'string' ? r.baseUrl.trim() : (r.baseUrl as string),
    model: typeof r.model === 'string' ? r.model.trim() : (r.model as string),
    apiKind: (r.apiKind ?? 'chat') as ApiKind,
  };
  for (const f of ['formatter', 'chatTemplateFile', 'chatTemplate', 'chatTemplateVars', 'preset', 'apiKeyEnv', 'headers', 'maxConcurrency', 'requestsPerMinute', 'tokensPerMinute', 'timeoutMs'] as const) {
    if (r[f] !== undefined && r[f] !== null) (profile as unknown as Record<string, unknown>)[f] = r[f];
  }
  // A pool: the server list is checked by the core; `baseUrl` is the first server's (kept for messages).
  if (r.servers !== undefined && r.servers !== null) {
    // Loaded on use: pool.ts pulls in the HTTP client, which activation does not need.
    const { validatePoolServers } = require('../../core/llm/pool') as typeof import('../../core/llm/pool.js');
    const poolProblems = validatePoolServers(r.servers, 'servers');
    for (const m of poolProblems) problems.push(m.replace(/^servers: servers/, 'servers'));
    if (!poolProblems.length) {
      profile.servers = (r.servers as PoolServer[]).map((s) => ({ baseUrl: s.baseUrl.trim(), ...(s.weight !== undefined ? { weight: s.weight } : {}), ...(s.maxConcurrency !== undefined ? { maxConcurrency: s.maxConcurrency } : {}) }));
      if (!profile.baseUrl) profile.baseUrl = profile.servers[0].baseUrl;
    }
  }
  const relativeTemplate = typeof profile.chatTemplateFile === 'string' && profile.chatTemplateFile && !isAbsolute(profile.chatTemplateFile);
  const checked = baseDir && relativeTemplate ? { ...profile, chatTemplateFile: resolve(baseDir, profile.chatTemplateFile!) } : profile;
  for (const p of validateEndpoint(checked)) problems.push(`${p.field}: ${p.message.replace(/^endpoint "[^"]*": /, '')}`);
  if (profile.headers && !Object.keys(profile.headers).length) delete profile.headers;
  return problems.length ? { problems } : { profile, problems };
}

/** Parse the whole setting: good profiles, plus issues for the bad ones and duplicate names. */
export function parseProfiles(raw: unknown, baseDir?: string): { profiles: EndpointProfile[]; issues: ProfileIssue[] } {
  const profiles: EndpointProfile[] = [];
  const issues: ProfileIssue[] = [];
  if (raw === undefined || raw === null) return { profiles, issues };
  if (!Array.isArray(raw)) return { profiles, issues: [{ index: -1, message: 'sdg.endpoints must be an array of endpoint profiles' }] };
  const seen = new Set<string>();
  raw.forEach((entry, index) => {
    const { profile, problems } = checkProfile(entry, baseDir);
    const name = entry && typeof entry === 'object' && typeof (entry as { name?: unknown }).name === 'string' ? (entry as { name: string }).name : undefined;
    for (const message of problems) issues.push({ index, name, message });
    if (!profile) return;
    if (seen.has(profile.name)) {
      issues.push({ index, name: profile.name, message: `name: "${profile.name}" is used by an earlier endpoint; this one is ignored` });
      return;
    }
    seen.add(profile.name);
    profiles.push(profile);
  });
  return { profiles, issues };
}

/** A profile as stored back into settings: only the fields users write, no empty ones. */
export function toSettingsEntry(p: EndpointProfile): Record<string, unknown> {
  const out: Record<string, unknown> = { name: p.name, baseUrl: p.baseUrl, model: p.model, apiKind: p.apiKind };
  for (const f of ['formatter', 'chatTemplateFile', 'chatTemplate', 'chatTemplateVars', 'preset', 'apiKeyEnv', 'headers', 'maxConcurrency', 'requestsPerMinute', 'tokensPerMinute', 'timeoutMs', 'servers'] as const) {
    const val = p[f];
    if (val !== undefined && !(typeof val === 'object' && !Object.keys(val).length)) out[f] = val;
  }
  return out;
}

/** Replace (by `previousName`, for renames) or append a profile in the settings array. */
export function upsertEntry(entries: readonly unknown[], profile: EndpointProfile, previousName?: string): unknown[] {
  const target = previousName ?? profile.name;
  const out = [...entries];
  const i = out.findIndex((e) => e && typeof e === 'object' && (e as { name?: unknown }).name === target);
  if (profile.name !== target && out.some((e) => e && typeof e === 'object' && (e as { name?: unknown }).name === profile.name)) {
    throw new Error(`an endpoint named "${profile.name}" already exists`);
  }
  if (previousName === undefined && i >= 0) throw new Error(`an endpoint named "${profile.name}" already exists`);
  if (i >= 0) out[i] = toSettingsEntry(profile);
  else out.push(toSettingsEntry(profile));
  return out;
}

export function removeEntry(entries: readonly unknown[], name: string): unknown[] {
  return entries.filter((e) => !(e && typeof e === 'object' && (e as { name?: unknown }).name === name));
}
