/**
 * The launch estimate (src/core/estimate): the figures the Studio confirms before a launch and
 * `sdg generate --dry-run` prints, on the real GSM8K sample with the built-in prompt config.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { approxTokens, estimate, formatEstimate, sampleIndices } from '../../src/core/estimate';
import { estimateGeneration } from '../../src/core/estimate/generation';
import { loadPromptConfig } from '../../src/core/prompts/promptConfig';
import { renderPrompt } from '../../src/core/prompts/render';
import { readDataset } from '../../src/core/datasets';
import { REPO_ROOT } from '../../scripts/real-parts/setup';
import { estimatePipeline, formatPipelineEstimate } from '../../src/core/estimate/pipeline';
import { dryRun, resolveParameters, resolvePipeline } from '../../src/core/pipeline';

const SAMPLE = join(REPO_ROOT, 'sample', 'data', 'gsm8k-test-20.jsonl');

describe('launch estimate (ext)', () => {
  it('counts items, requests, completions, tokens, time and cost', () => {
    const prompt = [{ role: 'user' as const, content: 'x'.repeat(400) }];
    const e = estimate({ items: 8320, samplesPerRequest: 2, samplePrompts: [prompt, prompt], maxTokens: 512, measuredRequestsPerSec: 4, prices: { inputPerMillion: 1, outputPerMillion: 2 } });
    assert.equal(e.requests, 8320);
    assert.equal(e.completions, 16640);
    assert.equal(e.promptTokensPerRequest, approxTokens(prompt));
    assert.equal(approxTokens(prompt), 100 + 4 + 2);
    assert.equal(e.promptTokens, 8320 * 106);
    assert.equal(e.maxCompletionTokens, 16640 * 512);
    assert.equal(e.expectedSeconds, 2080);
    assert.ok(e.cost && Math.abs(e.cost.prompt - (8320 * 106) / 1e6) < 1e-9 && Math.abs(e.cost.totalMax! - ((8320 * 106) / 1e6 + (16640 * 512 * 2) / 1e6)) < 1e-9);
    const text = formatEstimate(e).join('\n');
    assert.match(text, /requests: 8,320 \(16,640 completions\)/);
    assert.match(text, /expected time: ~34m 40s at 4\.00 req\/s measured/);
    assert.match(text, /cost: ~\$0\.8819 prompt, at most \$17\.92 in all/);
    const unknown = estimate({ items: null, samplePrompts: [], maxTokens: null });
    assert.deepEqual([unknown.requests, unknown.maxCompletionTokens, unknown.expectedSeconds, unknown.cost], [null, null, null, null]);
  });

  it('samples rows spread over the input', () => {
    assert.deepEqual(sampleIndices(5, 16), [0, 1, 2, 3, 4]);
    assert.deepEqual(sampleIndices(100, 4), [0, 25, 50, 75]);
    assert.deepEqual(sampleIndices(0, 4), []);
  });

  it('a labeling job: the rendered prompts of the real rows, seeds x rows requests', async () => {
    const config = loadPromptConfig('gsm8k_text');
    const e = await estimateGeneration({ input: SAMPLE, config, numSeeds: 416, numSamples: 1, maxTokens: 512, limit: 10, sample: 10 });
    assert.equal(e.items, 4160);
    assert.equal(e.sampled, 10);
    let sum = 0;
    for await (const row of readDataset(SAMPLE, { limit: 10 })) sum += approxTokens(renderPrompt(config, row));
    assert.equal(e.promptTokensPerRequest, Math.round(sum / 10), 'the mean of the exact prompts a run would send');
    assert.equal(e.maxCompletionTokens, 4160 * 512);
  });

  it('`sdg generate --dry-run` prints the same estimate', async () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'index.ts'), 'generate', '--input', SAMPLE, '--prompt', 'gsm8k_text', '--num-seeds', '416', '--max-tokens', '512', '--dry-run'], { encoding: 'utf8', cwd: REPO_ROOT, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const e = await estimateGeneration({ input: SAMPLE, config: loadPromptConfig('gsm8k_text'), numSeeds: 416, numSamples: 1, maxTokens: 512 });
    const printed = r.stdout.split('--- estimate ---\n')[1]?.split('\n--- request ---')[0];
    assert.equal(printed, formatEstimate(e).join('\n'));
    assert.match(printed!, /requests: 8,320/);
  });

  it('a pipeline: source rows, prompt tokens of each model stage\'s first prompt, a lower bound of requests; `sdg run --dry-run` prints it', async () => {
    const { def, templates } = resolvePipeline('gsm8k_explain', join(REPO_ROOT, 'sample', 'prompts'));
    const params = resolveParameters(def, { documents: SAMPLE }, {});
    const stages = dryRun(def, params, templates);
    const e = await estimatePipeline(def, params, stages);
    assert.equal(e.sourceRows, 20);
    assert.equal(e.stages.length, 1);
    assert.equal(e.stages[0].maxTokens, 512);
    assert.equal(e.stages[0].promptTokens, approxTokens(stages.find((s) => s.stage === e.stages[0].stage)!.messages!));
    assert.equal(e.minRequests, 20);
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'index.ts'), 'run', 'gsm8k_explain', '--workspace', join(REPO_ROOT, 'sample', 'prompts'), '--set', `documents=${SAMPLE}`, '--dry-run'], { encoding: 'utf8', cwd: REPO_ROOT, timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split('--- estimate ---\n')[1]?.trim(), formatPipelineEstimate(e).join('\n'));
  });
});

