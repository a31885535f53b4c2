/**
 * The loopback mock server answering pipeline prompts like a cooperative model (numbered lists
 * of the requested count...: test/fixtures/pipelines/fakeModel.ts), for `sdg run` benchmarks.
 *   node --import tsx bench/workers/pipelineMock.ts --json '{"latency":{"medianMs":200,"sigma":0.8}}'
 * Prints MOCK_SERVER_URL=... when ready; GET <origin>/mock/stats gives its stats.
 */
import { startMockServer, type MockServerOptions } from '../../test/support/mockServer';
import { fakeModel } from '../../test/fixtures/pipelines/fakeModel';
import { parseFlags } from '../lib';

async function main() {
  const flags = parseFlags(process.argv.slice(2));
  const options = JSON.parse(typeof flags.json === 'string' ? flags.json : '{}') as MockServerOptions;
  const server = await startMockServer({ ...options, respond: fakeModel() });
  console.log(`MOCK_SERVER_URL=${server.url}`);
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
