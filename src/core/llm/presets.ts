/**
 * Endpoint presets (where each kind of server usually listens, how hard to push it) and the
 * checks every profile goes through before a run starts, so a typo in a URL or a missing key
 * fails at once with a message naming the field, not after the first thousand requests.
 */
import { checkLimit } from '../limits';
import { isFormatterName, FORMATTER_NAMES } from './formatters';
import { ChatTemplateFormatter, chatTemplateSource } from './chatTemplate';
import type { ApiKind, EndpointProfile, PresetName } from './types';

export interface EndpointPreset {
  name: PresetName;
  label: string;
  /** Empty for 'custom'. */
  baseUrl: string;
  apiKind: ApiKind;
  /** Hosted services: the environment variable the CLI reads the key from. */
  apiKeyEnv?: string;
  /** True for hosted services that always need a key. */
  requiresApiKey: boolean;
  maxConcurrency: number;
  requestsPerMinute?: number;
  timeoutMs: number;
  notes: string;
}

const MINUTE = 60_000;

export const PRESETS: Readonly<Record<PresetName, EndpointPreset>> = {
  nvidia: {
    name: 'nvidia', label: 'NVIDIA API catalog (build.nvidia.com)', baseUrl: 'https://integrate.api.nvidia.com/v1',
    apiKind: 'chat', apiKeyEnv: 'NVIDIA_API_KEY', requiresApiKey: true,
    // The free tier allows about 40 requests a minute; paid and enterprise keys allow more.
    maxConcurrency: 8, requestsPerMinute: 40, timeoutMs: 3 * MINUTE,
    notes: 'Hosted; keys start with nvapi-. Reward model: nvidia/nemotron-4-340b-reward.',
  },
  openai: {
    name: 'openai', label: 'OpenAI', baseUrl: 'https://api.openai.com/v1',
    apiKind: 'chat', apiKeyEnv: 'OPENAI_API_KEY', requiresApiKey: true,
    maxConcurrency: 16, requestsPerMinute: 500, timeoutMs: 3 * MINUTE,
    notes: 'Hosted; limits depend on your usage tier. max_tokens is sent as max_completion_tokens.',
  },
  vllm: {
    name: 'vllm', label: 'vLLM (vllm serve)', baseUrl: 'http://127.0.0.1:8000/v1',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 256, timeoutMs: 10 * MINUTE,
    notes: 'Self-hosted; batches continuously, so high concurrency pays off. --api-key enables auth.',
  },
  sglang: {
    name: 'sglang', label: 'SGLang (sglang.launch_server)', baseUrl: 'http://127.0.0.1:30000/v1',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 256, timeoutMs: 10 * MINUTE,
    notes: 'Self-hosted; batches continuously.',
  },
  'tensorrt-llm': {
    name: 'tensorrt-llm', label: 'TensorRT-LLM (trtllm-serve)', baseUrl: 'http://127.0.0.1:8000/v1',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 128, timeoutMs: 10 * MINUTE,
    notes: 'Self-hosted; concurrency above the engine\'s max batch size only queues.',
  },
  nim: {
    name: 'nim', label: 'NVIDIA NIM (self-hosted container)', baseUrl: 'http://127.0.0.1:8000/v1',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 128, timeoutMs: 10 * MINUTE,
    notes: 'Self-hosted NIM container; same API as the hosted catalog.',
  },
  llamacpp: {
    name: 'llamacpp', label: 'llama.cpp (llama-server)', baseUrl: 'http://127.0.0.1:8080/v1',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 4, timeoutMs: 10 * MINUTE,
    notes: 'Self-hosted; serves at most -np requests at once (default 4), match maxConcurrency to it.',
  },
  ollama: {
    name: 'ollama', label: 'Ollama', baseUrl: 'http://127.0.0.1:11434/v1',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 4, timeoutMs: 10 * MINUTE,
    notes: 'Self-hosted; parallelism is OLLAMA_NUM_PARALLEL. Ignores n > 1 on some versions.',
  },
  custom: {
    name: 'custom', label: 'Custom OpenAI-compatible server', baseUrl: '',
    apiKind: 'chat', requiresApiKey: false, maxConcurrency: 32, timeoutMs: 10 * MINUTE,
    notes: 'Any OpenAI-compatible server: set the base URL (ending in /v1 for most servers).',
  },
};

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function isPresetName(name: unknown): name is PresetName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(PRESETS, name);
}

/** A profile as a user may write it: everything optional, the preset fills the rest. */
export type PartialEndpointProfile = Partial<EndpointProfile>;

/**
 * Fills a partial profile from its preset (default 'custom'). Explicit fields win. Does not
 * validate: call `validateEndpoint` on the result. An unknown preset name is kept so that
 * validation can report it.
 */
export function resolveEndpoint(partial: PartialEndpointProfile): EndpointProfile {
  const presetName = partial.preset ?? 'custom';
  const preset: EndpointPreset | undefined = isPresetName(presetName) ? PRESETS[presetName] : undefined;
  const out: EndpointProfile = {
    name: partial.name ?? presetName,
    baseUrl: (partial.baseUrl ?? tritonRoot(partial.apiKind, preset?.baseUrl) ?? '').trim(),
    model: (partial.model ?? '').trim(),
    apiKind: partial.apiKind ?? preset?.apiKind ?? 'chat',
    preset: presetName,
  };
  const hasTemplate = partial.chatTemplate !== undefined || partial.chatTemplateFile !== undefined;
  // A template given without a formatter name means: render with it.
  const formatter = partial.formatter ?? (hasTemplate && out.apiKind !== 'chat' ? 'chat-template' : undefined);
  if (formatter !== undefined) out.formatter = formatter;
  if (partial.chatTemplate !== undefined) out.chatTemplate = partial.chatTemplate;
  if (partial.chatTemplateFile !== undefined) out.chatTemplateFile = partial.chatTemplateFile;
  if (partial.chatTemplateVars !== undefined) out.chatTemplateVars = { ...partial.chatTemplateVars };
  const apiKeyEnv = partial.apiKeyEnv ?? preset?.apiKeyEnv;
  if (apiKeyEnv !== undefined) out.apiKeyEnv = apiKeyEnv;
  if (partial.apiKeyHeader !== undefined) out.apiKeyHeader = partial.apiKeyHeader;
  if (partial.headers !== undefined) out.headers = { ...partial.headers };
  out.maxConcurrency = partial.maxConcurrency ?? preset?.maxConcurrency;
  const rpm = partial.requestsPerMinute ?? preset?.requestsPerMinute;
  if (rpm !== undefined) out.requestsPerMinute = rpm;
  if (partial.tokensPerMinute !== undefined) out.tokensPerMinute = partial.tokensPerMinute;
  if (partial.stream !== undefined) out.stream = partial.stream;
  if (partial.maxResponseBytes !== undefined) out.maxResponseBytes = partial.maxResponseBytes;
  if (partial.servers !== undefined) out.servers = partial.servers.map((s) => ({ ...s }));
  out.timeoutMs = partial.timeoutMs ?? preset?.timeoutMs;
  if (out.maxConcurrency === undefined) delete out.maxConcurrency;
  if (out.timeoutMs === undefined) delete out.timeoutMs;
  return out;
}

/** Triton serves at the server root (`/v2/...`): a preset's OpenAI base URL loses its `/v1`. */
function tritonRoot(apiKind: ApiKind | undefined, presetUrl: string | undefined): string | undefined {
  return apiKind === 'triton' && presetUrl ? presetUrl.replace(/\/v1\/?$/, '') : presetUrl;
}

export interface EndpointProblem {
  /** The profile field at fault, e.g. "baseUrl". */
  field: keyof EndpointProfile;
  message: string;
}

const positiveOrAbsent = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v) && v > 0);

/** Every problem of a profile, each naming its field. Empty when the profile is usable. */
export function validateEndpoint(profile: EndpointProfile): EndpointProblem[] {
  const problems: EndpointProblem[] = [];
  const add = (field: keyof EndpointProfile, message: string) => problems.push({ field, message });
  const where = profile?.name ? `endpoint "${profile.name}"` : 'endpoint';
  if (!profile || typeof profile !== 'object') return [{ field: 'name', message: 'endpoint profile is missing' }];
  if (!profile.name || typeof profile.name !== 'string') add('name', `${where}: name is required`);
  if (profile.preset !== undefined && !isPresetName(profile.preset)) {
    add('preset', `${where}: unknown preset "${profile.preset}"; choose one of: ${PRESET_NAMES.join(', ')}`);
  }
  if (!profile.baseUrl) add('baseUrl', `${where}: baseUrl is required (e.g. http://127.0.0.1:8000/v1)`);
  else {
    let url: URL | undefined;
    try { url = new URL(profile.baseUrl); } catch { /* reported below */ }
    if (!url) add('baseUrl', `${where}: baseUrl "${profile.baseUrl}" is not a valid URL (e.g. http://127.0.0.1:8000/v1)`);
    else if (url.protocol !== 'http:' && url.protocol !== 'https:') add('baseUrl', `${where}: baseUrl must start with http:// or https://, got "${url.protocol}"`);
    else if (url.username || url.password) add('baseUrl', `${where}: baseUrl must not contain credentials; use an API key instead`);
    else if (/\/(chat\/)?completions\/?$/.test(url.pathname)) {
      add('baseUrl', `${where}: baseUrl should be the API root (e.g. ${url.origin}/v1), not the ${url.pathname} endpoint`);
    } else if (profile.apiKind === 'triton' && /\/v2(\/|$)/.test(url.pathname)) {
      add('baseUrl', `${where}: with apiKind "triton", baseUrl is the server root (e.g. ${url.origin}); /v2/models/<model>/generate is added`);
    }
  }
  if (!profile.model || typeof profile.model !== 'string') add('model', `${where}: model is required (the name the server serves, see its /v1/models)`);
  if (profile.apiKind !== 'chat' && profile.apiKind !== 'completions' && profile.apiKind !== 'triton') {
    add('apiKind', `${where}: apiKind must be "chat", "completions" or "triton", got ${JSON.stringify(profile.apiKind)}`);
  }
  if (profile.formatter !== undefined && !isFormatterName(profile.formatter)) {
    add('formatter', `${where}: unknown formatter "${profile.formatter}"; choose one of: ${FORMATTER_NAMES.join(', ')}`);
  } else if ((profile.apiKind === 'completions' || profile.apiKind === 'triton') && profile.formatter === undefined) {
    add('formatter', `${where}: apiKind "${profile.apiKind}" needs a conversation formatter (${FORMATTER_NAMES.join(', ')}) to turn messages into a prompt`);
  } else if (profile.formatter === 'chat-template') {
    chatTemplateProblems(profile, where, add);
  }
  if (profile.chatTemplateVars !== undefined && (typeof profile.chatTemplateVars !== 'object' || profile.chatTemplateVars === null || Array.isArray(profile.chatTemplateVars))) {
    add('chatTemplateVars', `${where}: chatTemplateVars must be an object of name: value`);
  }
  for (const field of ['maxConcurrency', 'requestsPerMinute', 'tokensPerMinute', 'timeoutMs', 'maxResponseBytes'] as const) {
    if (!positiveOrAbsent(profile[field])) add(field, `${where}: ${field} must be a positive number, got ${JSON.stringify(profile[field])}`);
  }
  if (profile.maxConcurrency !== undefined && !Number.isInteger(profile.maxConcurrency)) {
    add('maxConcurrency', `${where}: maxConcurrency must be a whole number, got ${profile.maxConcurrency}`);
  }
  // Upper bounds shared with the CLI flags (src/core/limits.ts): a time-out above Node's timer
  // range fires at once, a huge rpm or concurrency sizes buffers by it.
  for (const [field, limit] of [['maxConcurrency', 'concurrency'], ['requestsPerMinute', 'requestsPerMinute'], ['tokensPerMinute', 'tokensPerMinute'], ['timeoutMs', 'timeoutMs']] as const) {
    const value = profile[field];
    const problem = positiveOrAbsent(value) && value !== undefined ? checkLimit(limit, value) : null;
    if (problem && /at most/.test(problem)) add(field, `${where}: ${field} ${problem}`);
  }
  if (profile.stream !== undefined && typeof profile.stream !== 'boolean') {
    add('stream', `${where}: stream must be true or false, got ${JSON.stringify(profile.stream)}`);
  }
  if (profile.apiKeyEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(profile.apiKeyEnv)) {
    add('apiKeyEnv', `${where}: apiKeyEnv must be an environment variable name (like NVIDIA_API_KEY), not the key itself`);
  }
  if (profile.apiKeyHeader !== undefined && !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(profile.apiKeyHeader)) {
    add('apiKeyHeader', `${where}: apiKeyHeader must be an HTTP header name (like api-key), got ${JSON.stringify(profile.apiKeyHeader)}`);
  }
  if (profile.headers !== undefined) {
    if (typeof profile.headers !== 'object' || profile.headers === null) add('headers', `${where}: headers must be an object of name: value`);
    else {
      for (const [k, v] of Object.entries(profile.headers)) {
        if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) add('headers', `${where}: header name "${k}" is not a valid HTTP header name`);
        else if (typeof v !== 'string') add('headers', `${where}: header "${k}" must be a string`);
        else if (/[\r\n]/.test(v)) add('headers', `${where}: header "${k}" must not contain line breaks`);
      }
    }
  }
  return problems;
}

/** A chat template that is missing, unreadable or does not parse is reported before the run, on its field. */
function chatTemplateProblems(profile: EndpointProfile, where: string, add: (field: keyof EndpointProfile, message: string) => void): void {
  if (profile.chatTemplate !== undefined && (typeof profile.chatTemplate !== 'string' || !profile.chatTemplate.trim())) {
    add('chatTemplate', `${where}: chatTemplate must be the Jinja text of a chat template`);
    return;
  }
  if (profile.chatTemplate === undefined && (typeof profile.chatTemplateFile !== 'string' || !profile.chatTemplateFile)) {
    add('chatTemplateFile', `${where}: formatter "chat-template" needs chatTemplateFile (the model's tokenizer_config.json or a .jinja file) or chatTemplate`);
    return;
  }
  try {
    // Loads and compiles it: a bad file or template fails here, not at the first request.
    new ChatTemplateFormatter(chatTemplateSource(profile));
  } catch (e) {
    add(profile.chatTemplate !== undefined ? 'chatTemplate' : 'chatTemplateFile', `${where}: ${(e as Error).message}`);
  }
}

export class EndpointConfigError extends Error {
  override readonly name = 'EndpointConfigError';
  constructor(readonly problems: EndpointProblem[]) {
    super(problems.map((p) => p.message).join('\n'));
  }
}

/** Throws EndpointConfigError listing every problem. */
export function assertValidEndpoint(profile: EndpointProfile): EndpointProfile {
  const problems = validateEndpoint(profile);
  if (problems.length) throw new EndpointConfigError(problems);
  return profile;
}

/** True when the profile talks to a hosted service that always needs a key. */
export function requiresApiKey(profile: EndpointProfile): boolean {
  if (profile.preset && isPresetName(profile.preset) && PRESETS[profile.preset].requiresApiKey) return true;
  try {
    const host = new URL(profile.baseUrl).hostname;
    return host === 'api.openai.com' || host.endsWith('.api.nvidia.com');
  } catch {
    return false;
  }
}

/**
 * The API key for a profile, for the CLI: read from the environment variable `apiKeyEnv`.
 * Missing but required (hosted presets, or `apiKeyEnv` given explicitly) throws an error that
 * names the variable. Local servers without `apiKeyEnv` get undefined (no Authorization header).
 */
export function resolveApiKey(profile: EndpointProfile, env: Record<string, string | undefined> = process.env): string | undefined {
  const varName = profile.apiKeyEnv;
  const value = varName ? env[varName]?.trim() : undefined;
  if (value) return value;
  if (varName) {
    throw new EndpointConfigError([{
      field: 'apiKeyEnv',
      message: `endpoint "${profile.name}": no API key: set the environment variable ${varName}` +
        (requiresApiKey(profile) ? '' : ' (or remove apiKeyEnv if the server needs no key)'),
    }]);
  }
  if (requiresApiKey(profile)) {
    throw new EndpointConfigError([{ field: 'apiKeyEnv', message: `endpoint "${profile.name}": ${profile.baseUrl} needs an API key: set apiKeyEnv to the name of an environment variable holding it` }]);
  }
  return undefined;
}

/** The one redaction function lives in src/core/redact.ts (URLs with credentials too). */
export { redactSecrets } from '../redact';
