import { strict as assert } from 'node:assert';
import { describeEarlyStop } from '../../src/core/engine/fatal';
import { LlmError } from '../../src/core/llm/errors';

describe('engine: early-stop messages', () => {
  it('a request the client refused to build says nothing was sent, not that the server rejected it', () => {
    const err = new LlmError('bad_request', 'endpoint "m": formatter "mixtral" cannot render a conversation that ends with an assistant turn (nothing was sent to the server)', undefined, undefined, undefined, false);
    const text = describeEarlyStop(err, 3, { name: 'm', baseUrl: 'http://127.0.0.1:9/v1' });
    assert.match(text, /nothing was sent/);
    assert.doesNotMatch(text, /server rejected/);
  });

  it('a 400 from the server still points at the sampling parameters', () => {
    const text = describeEarlyStop(new LlmError('bad_request', 'HTTP 400: bad temperature', 400), 3, { baseUrl: 'http://127.0.0.1:9/v1' });
    assert.match(text, /server rejected the request \(400\) from http:\/\/127\.0\.0\.1:9\/v1: check the sampling parameters/);
  });
});
