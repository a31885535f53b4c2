import { strict as assert } from 'node:assert';
import {
  EndpointConfigError, PRESETS, PRESET_NAMES, assertValidEndpoint, redactSecrets, resolveApiKey, resolveEndpoint, validateEndpoint,
} from '../../src/core/llm/presets';
import type { EndpointProfile } from '../../src/core/llm/types';

const fields = (p: EndpointProfile) => validateEndpoint(p).map((x) => x.field);

describe('endpoint presets', () => {
  it('has the documented base URLs and hosted key variables', () => {
    assert.equal(PRESETS.nvidia.baseUrl, 'https://integrate.api.nvidia.com/v1');
    assert.equal(PRESETS.nvidia.apiKeyEnv, 'NVIDIA_API_KEY');
    assert.equal(PRESETS.openai.baseUrl, 'https://api.openai.com/v1');
    assert.equal(PRESETS.openai.apiKeyEnv, 'OPENAI_API_KEY');
    assert.equal(PRESETS.vllm.baseUrl, 'http://127.0.0.1:8000/v1');
    assert.equal(PRESETS.sglang.baseUrl, 'http://127.0.0.1:30000/v1');
    assert.equal(PRESETS['tensorrt-llm'].baseUrl, 'http://127.0.0.1:8000/v1');
    assert.equal(PRESETS.nim.baseUrl, 'http://127.0.0.1:8000/v1');
    assert.equal(PRESETS.llamacpp.baseUrl, 'http://127.0.0.1:8080/v1');
    assert.equal(PRESETS.ollama.baseUrl, 'http://127.0.0.1:11434/v1');
    for (const name of PRESET_NAMES) {
      const p = PRESETS[name];
      assert.ok(p.maxConcurrency > 0 && p.timeoutMs > 0, name);
      if (name !== 'custom') assert.deepEqual(validateEndpoint(resolveEndpoint({ preset: name, model: 'm' })), [], name);
    }
  });

  it('resolveEndpoint fills from the preset and keeps explicit fields', () => {
    const p = resolveEndpoint({ preset: 'nvidia', model: 'meta/llama-3.1-70b-instruct' });
    assert.deepEqual(p, {
      name: 'nvidia', baseUrl: 'https://integrate.api.nvidia.com/v1', model: 'meta/llama-3.1-70b-instruct', apiKind: 'chat',
      preset: 'nvidia', apiKeyEnv: 'NVIDIA_API_KEY', maxConcurrency: 8, requestsPerMinute: 40, timeoutMs: 180_000,
    });
    const q = resolveEndpoint({ preset: 'vllm', name: 'gpu1', baseUrl: 'http://10.0.0.5:8000/v1', model: 'x', maxConcurrency: 64, apiKind: 'completions', formatter: 'llama3' });
    assert.equal(q.baseUrl, 'http://10.0.0.5:8000/v1');
    assert.equal(q.maxConcurrency, 64);
    assert.equal(q.name, 'gpu1');
    assert.equal(q.formatter, 'llama3');
    assert.equal(q.apiKeyEnv, undefined);
  });

  it('validateEndpoint names each bad field', () => {
    const base = resolveEndpoint({ preset: 'vllm', model: 'm' });
    assert.deepEqual(fields({ ...base, baseUrl: 'localhost:8000' }), ['baseUrl']);
    assert.match(validateEndpoint({ ...base, baseUrl: 'not a url' })[0].message, /not a valid URL/);
    assert.match(validateEndpoint({ ...base, baseUrl: 'ftp://x/v1' })[0].message, /http:\/\/ or https:\/\//);
    assert.match(validateEndpoint({ ...base, baseUrl: 'http://h:8000/v1/chat/completions' })[0].message, /API root \(e.g. http:\/\/h:8000\/v1\)/);
    assert.match(validateEndpoint({ ...base, baseUrl: 'http://u:p@h/v1' })[0].message, /credentials/);
    assert.deepEqual(fields({ ...base, model: '' }), ['model']);
    assert.deepEqual(fields({ ...base, apiKind: 'completions' }), ['formatter']);
    assert.match(validateEndpoint({ ...base, apiKind: 'completions' })[0].message, /needs a conversation formatter/);
    assert.deepEqual(fields({ ...base, formatter: 'vicuna' as never }), ['formatter']);
    assert.deepEqual(fields({ ...base, maxConcurrency: 0 }), ['maxConcurrency']);
    assert.deepEqual(fields({ ...base, maxConcurrency: 2.5 }), ['maxConcurrency']);
    assert.deepEqual(fields({ ...base, requestsPerMinute: -1 }), ['requestsPerMinute']);
    assert.deepEqual(fields({ ...base, timeoutMs: Number.NaN }), ['timeoutMs']);
    assert.deepEqual(fields({ ...base, apiKeyEnv: 'nvapi-abc123456' }), ['apiKeyEnv']);
    assert.deepEqual(fields({ ...base, headers: { 'bad header': 'x' } }), ['headers']);
    assert.deepEqual(fields({ ...base, preset: 'together' as never }), ['preset']);
    assert.deepEqual(fields({ ...base, stream: 'yes' as never }), ['stream']);
    assert.deepEqual(fields({ ...base, stream: true }), []);
    assert.deepEqual(fields({ ...base, apiKeyHeader: 'api key' }), ['apiKeyHeader']);
    assert.deepEqual(fields({ ...base, apiKeyHeader: 'api-key' }), []);
    assert.deepEqual(fields(resolveEndpoint({ model: 'm' })), ['baseUrl']);
    assert.throws(() => assertValidEndpoint({ ...base, model: '', maxConcurrency: -2 }), (e: unknown) =>
      e instanceof EndpointConfigError && e.problems.length === 2 && /model is required/.test(e.message) && /maxConcurrency/.test(e.message));
  });

  it('resolveApiKey reads the named variable and names it when missing', () => {
    const nv = resolveEndpoint({ preset: 'nvidia', model: 'm' });
    assert.equal(resolveApiKey(nv, { NVIDIA_API_KEY: ' nvapi-xyz ' }), 'nvapi-xyz');
    assert.throws(() => resolveApiKey(nv, {}), /set the environment variable NVIDIA_API_KEY/);
    assert.throws(() => resolveApiKey({ ...nv, apiKeyEnv: undefined }, {}), /needs an API key/);
    const local = resolveEndpoint({ preset: 'vllm', model: 'm' });
    assert.equal(resolveApiKey(local, {}), undefined);
    assert.throws(() => resolveApiKey({ ...local, apiKeyEnv: 'VLLM_KEY' }, {}), /VLLM_KEY \(or remove apiKeyEnv/);
    assert.equal(resolveApiKey({ ...local, apiKeyEnv: 'VLLM_KEY' }, { VLLM_KEY: 'k' }), 'k');
  });

  it('redactSecrets hides given secrets, Authorization values and well-known key shapes', () => {
    const out = redactSecrets('key=mysecret1 auth: Bearer abc.def-123 other nvapi-AAAABBBBCCCC and sk-proj-1234567890 end', ['mysecret1']);
    assert.equal(out, 'key=*** auth: Bearer *** other *** and *** end');
    assert.equal(redactSecrets('nothing here', [undefined, '']), 'nothing here');
  });
});
