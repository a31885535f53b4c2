/**
 * Starts the mock model server by hand or for benchmarks and prints its base URL.
 *
 *   npx tsx test/support/mockServerMain.ts --port 8123 --latency-median 40 --latency-sigma 0.5 \
 *     --rate-429 0.1 --rate-500 0.05 --api-key secret --context-length 4096
 *   npx tsx test/support/mockServerMain.ts --config options.json     (MockServerOptions as JSON)
 *
 * Prints one line `MOCK_SERVER_URL=http://127.0.0.1:<port>/v1` on stdout when ready, and the
 * stats as JSON on SIGINT/SIGTERM (or on SIGUSR2 without stopping).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startMockServer, type FaultRule, type MockServerOptions } from './mockServer';

const USAGE = `Options:
  --port N               port (default: a free one)
  --config FILE          MockServerOptions as JSON (flags below override it)
  --json TEXT            MockServerOptions as inline JSON
  --api-key KEY          require "Authorization: Bearer KEY"
  --models a,b           known models (others get 404); default: any model
  --latency-ms N         fixed latency per answer
  --latency-median N     lognormal latency median (ms), with --latency-sigma S
  --latency-sigma S
  --words N              words in the default answer (default 24)
  --rate-429 F           fraction of first attempts answered 429 (Retry-After: --retry-after)
  --retry-after S        Retry-After seconds for --rate-429 (default: none)
  --rate-500 F           fraction of requests answered 500
  --rate-reset F         fraction of requests whose connection is reset before headers
  --context-length N     400 context-length error above N tokens (prompt chars/4 + max_tokens)
  --context-style S      openai | vllm | sglang | tensorrt-llm | llamacpp (default vllm)
  --seed N               fault / latency RNG seed
  --no-track-keys        do not count attempts per key (less memory for huge runs)
  --log-limit N          request bodies to keep (default 0 here)`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) {
    console.error(`--${name} must be a number, got "${v}"`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' }, config: { type: 'string' }, json: { type: 'string' },
      'api-key': { type: 'string' }, models: { type: 'string' },
      'latency-ms': { type: 'string' }, 'latency-median': { type: 'string' }, 'latency-sigma': { type: 'string' },
      words: { type: 'string' }, 'rate-429': { type: 'string' }, 'retry-after': { type: 'string' },
      'rate-500': { type: 'string' }, 'rate-reset': { type: 'string' },
      'context-length': { type: 'string' }, 'context-style': { type: 'string' },
      seed: { type: 'string' }, 'no-track-keys': { type: 'boolean' }, 'log-limit': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  let options: MockServerOptions = { logLimit: 0 };
  if (values.config) options = { ...options, ...JSON.parse(readFileSync(values.config, 'utf8')) };
  if (values.json) options = { ...options, ...JSON.parse(values.json) };
  const faults: FaultRule[] = [...(options.faults ?? [])];
  const rate429 = num('rate-429', values['rate-429']);
  if (rate429) faults.push({ fault: 'rate_limit', rate: rate429, attempts: 'first', retryAfterSeconds: num('retry-after', values['retry-after']) });
  const rate500 = num('rate-500', values['rate-500']);
  if (rate500) faults.push({ fault: 'server_error', rate: rate500 });
  const rateReset = num('rate-reset', values['rate-reset']);
  if (rateReset) faults.push({ fault: 'reset_before_headers', rate: rateReset });
  options.faults = faults;
  if (values.port) options.port = num('port', values.port);
  if (values['api-key']) options.apiKey = values['api-key'];
  if (values.models) options.models = values.models.split(',').map((s) => s.trim()).filter(Boolean);
  const fixed = num('latency-ms', values['latency-ms']);
  const median = num('latency-median', values['latency-median']);
  if (median !== undefined) options.latency = { medianMs: median, sigma: num('latency-sigma', values['latency-sigma']) ?? 0.5 };
  else if (fixed !== undefined) options.latency = fixed;
  if (values.words) options.defaultWords = num('words', values.words);
  if (values['context-length']) options.contextLength = num('context-length', values['context-length']);
  if (values['context-style']) options.contextErrorStyle = values['context-style'] as MockServerOptions['contextErrorStyle'];
  if (values.seed) options.seed = num('seed', values.seed);
  if (values['no-track-keys']) options.trackKeys = false;
  if (values['log-limit']) options.logLimit = num('log-limit', values['log-limit']);

  const server = await startMockServer(options);
  console.log(`MOCK_SERVER_URL=${server.url}`);
  const printStats = () => {
    const { byKey, latencies, ...rest } = server.stats;
    console.error(JSON.stringify({ ...rest, keys: byKey.size, ...(latencies ? { latenciesRecorded: latencies.length } : {}) }));
  };
  process.on('SIGUSR2', printStats);
  const stop = async () => {
    printStats();
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
