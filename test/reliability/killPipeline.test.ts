/**
 * `sdg run` (a pipeline of 20 stages: model stages, list parsing, expansions, concatenations)
 * SIGKILLed at random moments and restarted each time. The final output must be exactly the output
 * of an uninterrupted run of the same pipeline (answers depend only on prompt and seed), no stage
 * file may hold an id twice, and the extra requests caused by the kills are bounded by what was in
 * flight at each kill.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashString, lastUserText, startMockServer, type MockRequest, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';
import { prng, sleep } from './support';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'SIGKILL at random moments (sdg run, a 20-stage pipeline)';
const KILLS = 10;
const CONCURRENCY = 4;
const PARAMS = ['n_macro_topics=4', 'n_subtopics=4', 'n_openlines=8', 'n_revisions=3'];

/** Ten list items (more than any stage asks for: lists are trimmed) named after the prompt and seed: the same request always gets the same answer. */
function respond(req: MockRequest): string {
  const h = hashString(`${lastUserText(req)}:${req.seed}`).toString(36);
  return Array.from({ length: 10 }, (_, i) => `${i + 1}. item ${h} number ${i + 1}`).join('\n');
}

function sortedLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).sort();
}

describe('reliability: SIGKILL x10 of a pipeline run', function () {
  this.timeout(240_000);
  let dir: string;
  let fast: MockServer;
  let slow: MockServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-pipekill-'));
    fast = await startMockServer({ latency: { fixedMs: 5 }, logLimit: 0, respond });
    slow = await startMockServer({ latency: { fixedMs: 250 }, logLimit: 0, respond });
  });
  after(async () => {
    await fast.close();
    await slow.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(server: MockServer, out: string) {
    const args = ['--require', 'tsx/cjs', CLI, 'run', 'open_qa', '--base-url', server.url, '--model', 'mock-model',
      ...PARAMS.flatMap((p) => ['--set', p]), '--output-dir', out, '--concurrency', String(CONCURRENCY), '--quiet'];
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, output: () => text };
  }

  it('the output equals an uninterrupted run; no stage holds an id twice', async () => {
    const ref = start(fast, join(dir, 'reference'));
    assert.equal(await ref.exited, 0, ref.output());
    const chat = (m: MockServer) => m.stats.byPath['/v1/chat/completions'] ?? 0;
    const referenceRequests = chat(fast);

    const out = join(dir, 'killed');
    const random = prng(4242);
    let kills = 0;
    let finishedEarly = false;
    for (let k = 0; k < KILLS; k++) {
      const p = start(slow, out);
      let exited = false;
      void p.exited.then(() => (exited = true));
      const before = slow.stats.total;
      if (k % 2 === 0) {
        // A moment in time, mostly in start-up and the resume scan of the stage files.
        await sleep(200 + Math.floor(random() * 800));
      } else {
        // A moment in a model stage: after 1-8 more requests.
        const target = before + 1 + Math.floor(random() * 8);
        while (slow.stats.total < target && !exited) await sleep(10);
        await sleep(Math.floor(random() * 200));
      }
      if (exited) { finishedEarly = true; break; }
      p.child.kill('SIGKILL');
      await p.exited;
      kills++;
    }
    const last = start(slow, out);
    const code = await last.exited;
    assert.equal(code, 0, last.output());

    const want = sortedLines(join(dir, 'reference', 'output.jsonl'));
    const got = sortedLines(join(out, 'output.jsonl'));
    const stageDupes: string[] = [];
    for (const f of readdirSync(join(out, 'stages')).filter((x) => x.endsWith('.jsonl'))) {
      const ids = new Map<string, number>();
      for (const line of readFileSync(join(out, 'stages', f), 'utf8').split('\n').filter(Boolean)) {
        const id = (JSON.parse(line) as { id: string }).id;
        ids.set(id, (ids.get(id) ?? 0) + 1);
      }
      for (const [id, n] of ids) if (n > 1) stageDupes.push(`${f}: ${id} x${n}`);
    }
    const extra = chat(slow) - referenceRequests;
    const missing = want.filter((l) => !got.includes(l)).length;
    describeSection(SECTION, `\`sdg run open_qa\` (${PARAMS.join(', ')}: ${want.length} output rows, ${referenceRequests} model ` +
      `requests), concurrency ${CONCURRENCY}, 250 ms per answer, killed ${KILLS} times (even kills: a random 0.2-1 s after the ` +
      'start, odd kills: after 1-8 more requests reach the server), then run to the end. Compared with an uninterrupted ' +
      'run of the same pipeline against a server giving the same answers.');
    record(SECTION, 'processes SIGKILLed', kills);
    record(SECTION, 'output rows (killed run / uninterrupted run)', `${got.length} / ${want.length}`);
    record(SECTION, 'rows missing / extra / ids duplicated in any stage file', `${missing} / ${got.length - (want.length - missing)} / ${stageDupes.length}`);
    record(SECTION, `requests (killed run / uninterrupted run; at most ${CONCURRENCY} in flight per kill)`, `${chat(slow)} / ${referenceRequests}`);
    assert.equal(finishedEarly, false, 'the run finished before all kills: make it longer');
    assert.equal(kills, KILLS);
    // 4 topics + 16 subtopics = 20 subjects, 8 questions each, 3 revisions each.
    assert.equal(want.length, 20 * 8 * 3);
    assert.equal(referenceRequests, 1 + 4 + 20 + 160);
    assert.deepEqual(got, want);
    assert.deepEqual(stageDupes, []);
    assert.ok(extra >= 0 && extra <= kills * CONCURRENCY, `${extra} extra requests for ${kills} kills`);
    assert.ok(existsSync(join(out, 'manifest.json')));
    assert.equal((JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { status: string }).status, 'completed');
  });
});
