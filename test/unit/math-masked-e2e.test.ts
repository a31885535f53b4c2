/**
 * Masked reference solutions end to end, over loopback HTTP on real GSM8K train problems:
 *   sdg generate (gsm8k_generate_masked, 3 seeds) -> sdg select-masked (CLI) ->
 *   sdg generate (gsm8k_text, --context-type masked_solution)
 * The scripted model rewrites the reference solution it is shown: seed 0 copies it (reveals the
 * answer), seed 1 hides every number, seed 2 hides only the final answer. The selection must
 * pick seed 1 (fewest digits) for every problem, and the second generation must show it.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readDataset } from '../../src/core/datasets';
import { generateSolutions } from '../../src/core/generate';
import { resolveEndpoint } from '../../src/core/llm/presets';
import { runSdg } from '../fixtures/math/sdg';
import { startMockServer, lastUserText, type MockServer } from '../support/mockServer';
import { datasetFile } from '../support/datasets';

const GSM8K_TRAIN = datasetFile('gsm8k/train.jsonl');
const PROBLEMS = 12;

const hideAllNumbers = (s: string) => s.replace(/\d[\d,]*(?:\.\d+)?/g, 'M');
const hideAnswer = (s: string, answer: string) => s.replace(new RegExp(`(?<![\\d.,])${answer.replace(/[.]/g, '\\.')}(?![\\d]|[.,]\\d)`, 'g'), 'M');

describe('masked solutions: generate -> select-masked -> generate with masked_solution context (GSM8K train, loopback model)', function () {
  this.timeout(240_000);
  let server: MockServer;
  const tmp = mkdtempSync(join(tmpdir(), 'sdg-masked-e2e-'));

  before(async () => {
    server = await startMockServer({
      logLimit: 10_000,
      respond: (req) => {
        const prompt = lastUserText(req);
        if (!/Masked solution:\s*$/.test(prompt)) return 'We follow the hint. \\boxed{0}';
        const start = prompt.lastIndexOf('Reference solution:\n') + 'Reference solution:\n'.length;
        const ref = prompt.slice(start, prompt.lastIndexOf('Masked solution:')).trim();
        if (req.seed === 0) return ref;
        if (req.seed === 1) return hideAllNumbers(ref);
        // Seed 2: hide only the last number of the reference (the final answer in GSM8K solutions).
        const nums = ref.match(/\d[\d,]*(?:\.\d+)?/g) ?? [];
        return nums.length ? hideAnswer(ref, nums[nums.length - 1]) : ref;
      },
    });
  });
  after(async () => {
    await server?.close();
  });

  it('selects the fully masked candidate for every problem and feeds it to the next generation', async () => {
    const endpoint = resolveEndpoint({ name: 'mock', baseUrl: server.url, model: 'teacher', apiKind: 'chat' });
    const candidates = join(tmp, 'masked-cands.jsonl');
    const r1 = await generateSolutions({ input: GSM8K_TRAIN, output: candidates, prompt: 'gsm8k_generate_masked', endpoint, numSeeds: 3, limit: PROBLEMS, concurrency: 8, params: { max_tokens: 2048 } });
    assert.equal(r1.status, 'completed', r1.error ?? '');

    const masked = join(tmp, 'gsm8k-train-masked.jsonl');
    const dataset = join(tmp, 'gsm8k-train-head.jsonl');
    // select-masked reads the same problems the generation read: the first PROBLEMS lines.
    writeFileSync(dataset, readFileSync(GSM8K_TRAIN, 'utf8').split('\n').slice(0, PROBLEMS).join('\n') + '\n');
    const printed = await runSdg(['select-masked', '--inputs', candidates, '--dataset', dataset, '--output', masked]);
    assert.match(printed, new RegExp(`${PROBLEMS} problems: ${PROBLEMS} masked solutions selected, 0 fell back`));

    const refs: Array<{ reference: string; answer: string }> = [];
    for await (const r of readDataset(dataset)) refs.push({ reference: String(r.reference_solution).trim(), answer: String(r.expected_answer) });
    const out = readFileSync(masked, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(out.length, PROBLEMS);
    out.forEach((row, i) => {
      assert.equal(row.masked_solution, hideAllNumbers(refs[i].reference), `problem ${i}`);
      assert.equal(row.masked_solution_fallback, false);
      assert.ok(typeof row.question === 'string' && typeof row.answer === 'string', 'original GSM8K fields kept');
    });

    server.resetStats();
    const labels = join(tmp, 'labels.jsonl');
    const r2 = await generateSolutions({ input: masked, output: labels, prompt: 'gsm8k_text', contextType: 'masked_solution', endpoint, numSeeds: 1, concurrency: 4, params: { max_tokens: 64 } });
    assert.equal(r2.status, 'completed', r2.error ?? '');
    const prompts = server.requests.filter((q) => q.path.endsWith('/chat/completions')).map((q) => {
      const msgs = q.body.messages as Array<{ role: string; content: string }>;
      return msgs[msgs.length - 1].content;
    });
    assert.equal(prompts.length, PROBLEMS);
    for (let i = 0; i < PROBLEMS; i++) {
      const m = hideAllNumbers(refs[i].reference);
      assert.ok(prompts.some((p) => p.includes(m)), `no prompt shows the masked solution of problem ${i}`);
    }
  });
});
