/**
 * Numbers out of range: every CLI flag and profile field with a hidden ceiling (Node's timer
 * range, buffers sized by rpm or concurrency, n samples held together) is refused with a message
 * naming the flag and the range, before any request; the largest accepted values work.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LIMITS } from '../../src/core/limits';
import { validateEndpoint } from '../../src/core/llm/presets';
import { parseProfiles } from '../../src/extension/endpoints/profiles';
import { paramSchemas } from '../../src/extension/studio/handlers';
import { MessageValidationError } from '../../src/extension/util/validate';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'Numbers out of range (flags, profiles)';

function sdg(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

describe('reliability: limits', function () {
  this.timeout(300_000);
  let dir: string;
  let server: MockServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-limits-'));
    writeFileSync(join(dir, 'in.jsonl'), Array.from({ length: 6 }, (_, i) => JSON.stringify({ problem: `${i} + 1?`, expected_answer: String(i + 1) })).join('\n') + '\n');
    server = await startMockServer({ latency: { fixedMs: 30 } });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const generate = (extra: string[]) => ['generate', '--input', join(dir, 'in.jsonl'), '--output', join(dir, `out-${Math.random().toString(36).slice(2)}.jsonl`),
    '--prompt', 'generic_math', '--base-url', server.url, '--model', 'mock-model', '--no-progress', ...extra];

  it('sdg generate and sdg run refuse out-of-range flags before any request, naming the flag and the bound', async () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['generate --timeout 3000000', generate(['--timeout', '3000000']), /--timeout must be at most 86400 s/],
      ['generate --rpm 1e12', generate(['--rpm', '1e12']), /--rpm must be at most 1000000/],
      ['generate --tpm 1e300', generate(['--tpm', '1e300']), /--tpm must be at most/],
      ['generate --concurrency 1e9', generate(['--concurrency', '1e9']), /--concurrency must be at most 10000/],
      ['generate --num-samples 1e6', generate(['--num-samples', '1e6']), /--num-samples must be at most 1024/],
      ['generate --num-seeds 1e7', generate(['--num-seeds', '1e7']), /--num-seeds must be at most 100000/],
      ['generate --max-tokens 1e12', generate(['--max-tokens', '1e12']), /--max-tokens must be at most/],
      ['generate --limit 1e300', generate(['--limit', '1e300']), /--limit must be a whole number below/],
      ['run --concurrency 1e9', ['run', 'open_qa', '--base-url', server.url, '--model', 'm', '--output-dir', join(dir, 'p1'), '--concurrency', '1e9'], /--concurrency must be at most 10000/],
      ['run --rpm 1e12', ['run', 'open_qa', '--base-url', server.url, '--model', 'm', '--output-dir', join(dir, 'p2'), '--rpm', '1e12'], /--rpm must be at most 1000000/],
    ];
    const before = server.stats.total;
    const shown: string[] = [];
    for (const [what, args, expected] of cases) {
      const { code, out } = await sdg(args);
      assert.equal(code, 1, `${what}: ${out}`);
      assert.match(out, expected, what);
      assert.doesNotMatch(out, /Invalid typed array|RangeError|at .*\.ts:\d+/, what);
      shown.push(`${what}: "${out.trim().replace(/^sdg: /, '')}"`);
    }
    assert.equal(server.stats.total, before, 'a request was sent');
    // The largest time-out works: requests are answered, not timed out after 1 ms.
    const ok = await sdg(generate(['--timeout', String(LIMITS.timeoutSeconds.max), '--concurrency', String(LIMITS.concurrency.max), '--num-samples', '4']));
    assert.equal(ok.code, 0, ok.out);

    describeSection(SECTION, 'Real `sdg generate` / `sdg run` processes with values past the hidden ceilings the attack found (a ' +
      'time-out above Node\'s timer range, rpm sizing a typed array, concurrency and n sizing memory); endpoint profiles from ' +
      'settings and Studio messages through the same ranges (src/core/limits.ts).');
    record(SECTION, 'out-of-range flags tried / refused before any request', `${cases.length} / ${cases.length}`);
    for (const s of shown.slice(0, 4)) record(SECTION, s.split(':')[0], s.slice(s.indexOf(':') + 2));
    record(SECTION, `largest accepted values (--timeout ${LIMITS.timeoutSeconds.max} --concurrency ${LIMITS.concurrency.max})`, 'run completed, no time-outs');
  });

  it('endpoint profiles (settings, endpoint files) and Studio messages use the same ranges', () => {
    const base = { name: 'e', baseUrl: 'http://127.0.0.1:8000/v1', model: 'm', apiKind: 'chat' as const };
    const bad: Array<[string, Record<string, number>]> = [
      ['timeoutMs', { timeoutMs: 3_000_000_000 }],
      ['requestsPerMinute', { requestsPerMinute: 1e12 }],
      ['maxConcurrency', { maxConcurrency: 1e9 }],
      ['tokensPerMinute', { tokensPerMinute: 1e300 }],
    ];
    let refused = 0;
    for (const [field, patch] of bad) {
      const problems = validateEndpoint({ ...base, ...patch });
      assert.ok(problems.some((p) => p.field === field && /must be at most/.test(p.message)), `${field}: ${JSON.stringify(problems)}`);
      const { profiles, issues } = parseProfiles([{ ...base, ...patch }]);
      assert.equal(profiles.length, 0);
      assert.ok(issues.some((i) => i.message.startsWith(`${field}:`)), JSON.stringify(issues));
      const schema = paramSchemas['endpoints.save'] as unknown as (v: unknown, w: string) => unknown;
      assert.throws(() => schema({ profile: { ...base, ...patch } }, 'params'), (e: unknown) => e instanceof MessageValidationError && /at most/.test(e.message));
      refused++;
    }
    assert.deepEqual(validateEndpoint({ ...base, timeoutMs: LIMITS.timeoutMs.max, maxConcurrency: LIMITS.concurrency.max }), []);
    record(SECTION, 'out-of-range profile fields refused (core check, settings, Studio)', `${refused} of ${bad.length}`);
  });
});
