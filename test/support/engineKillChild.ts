/**
 * A job process for the kill test (test/unit/engine-kill.test.ts): labels items 0..count-1
 * against a model server, two rows per item (n = 2), resuming whatever the run folder holds.
 * Usage: node --require tsx/cjs test/support/engineKillChild.ts <runDir> <baseUrl> <count> <concurrency>
 */
import { runItems } from '../../src/core/engine';
import { createClient } from '../../src/core/llm/client';
import { openRun } from '../../src/core/run';

interface Row { id: string; n: number; c?: number; text?: string; error?: string | null }

async function main(): Promise<void> {
  const [runDir, baseUrl, countArg, concurrencyArg] = process.argv.slice(2);
  const count = Number(countArg);
  const client = createClient({ name: 'mock', baseUrl, model: 'mock-model', apiKind: 'chat' });
  const run = await openRun<Row>({
    runDir, kind: 'generate', name: 'kill-test', config: { model: 'mock-model', n: 2 },
    keyOf: (r) => r.id, rowsPerItem: (r) => r.n,
  });
  process.stdout.write(`opened ${JSON.stringify(run.output.recovery)}\n`);
  async function* items() {
    for (let i = 0; i < count; i++) yield i;
  }
  const result = await runItems<number, Row>({
    items: items(),
    keyOf: (i) => `item-${i}`,
    async execute(i, ctx) {
      const res = await ctx.query(client, [{ role: 'user', content: `item-${i}` }], { n: 2, max_tokens: 16, seed: i });
      return res.choices.map((c, j) => ({ id: `item-${i}`, n: 2, c: j, text: c.text, error: null }));
    },
    errorRow: (i, e) => ({ id: `item-${i}`, n: 1, error: e instanceof Error ? e.message : String(e) }),
    sink: run.output,
    concurrency: Number(concurrencyArg),
    total: count,
    manifest: run.manifest,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  await run.close();
  await client.close();
  process.stdout.write(`result ${JSON.stringify({ status: result.status, done: result.done, failed: result.failed, skipped: result.skipped, error: result.error })}\n`);
  process.exitCode = result.status === 'completed' ? 0 : 1;
}

main().catch((e) => {
  process.stderr.write(`child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 2;
});
