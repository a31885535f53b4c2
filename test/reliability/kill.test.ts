/**
 * `sdg generate` SIGKILLed at 20 random moments (some during start-up and the resume scan, some
 * mid-run, some with a torn line added at the tail) and restarted each time. At every kill the
 * rows on disk are compared with the server's per-item request log: an item complete on disk
 * must never be requested again, and the final output must hold every item exactly once.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readManifest } from '../../src/core/run';
import { lastUserText, startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';
import { prng, sleep, waitFor } from './support';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'SIGKILL at random moments (sdg generate)';
// Enough work (~30 s at 50 req/s) that 20 kill cycles never reach the end, even on a quiet machine.
const PROBLEMS = 1500;
const SAMPLES = 2;
const KILLS = 20;

interface OutRow { input_index: number; seed: number; sample_index: number; error: string | null }

/** Keys ("index:seed") of items whose SAMPLES rows are all on disk, consecutive and without error. */
function completeOnDisk(file: string): { complete: Set<string>; rows: number } {
  const complete = new Set<string>();
  if (!existsSync(file)) return { complete, rows: 0 };
  let run: string | null = null;
  let runLen = 0;
  let rows = 0;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    let r: OutRow;
    try { r = JSON.parse(line) as OutRow; } catch { run = null; continue; }
    rows++;
    const key = `${r.input_index}:${r.seed}`;
    if (r.error != null) { run = null; continue; }
    if (key === run) runLen++;
    else { run = key; runLen = 1; }
    if (runLen === SAMPLES) complete.add(key);
  }
  return { complete, rows };
}

describe('reliability: SIGKILL x20 and restart', function () {
  this.timeout(280_000);
  let dir: string;
  let server: MockServer;
  const requested = new Map<string, number>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-kill-'));
    const lines: string[] = [];
    for (let i = 0; i < PROBLEMS; i++) lines.push(JSON.stringify({ problem: `PID${i}X: what is ${i} + 1?`, expected_answer: String(i + 1) }));
    writeFileSync(join(dir, 'in.jsonl'), lines.join('\n') + '\n');
    server = await startMockServer({
      latency: { fixedMs: 120 },
      logLimit: 0,
      fault(req) {
        const m = /PID(\d+)X/.exec(lastUserText(req));
        if (m) {
          const key = `${m[1]}:${req.seed}`;
          requested.set(key, (requested.get(key) ?? 0) + 1);
        }
        return null;
      },
    });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start() {
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, 'generate', '--input', join(dir, 'in.jsonl'),
      '--output', join(dir, 'out.jsonl'), '--prompt', 'generic_math', '--base-url', server.url, '--model', 'mock-model',
      '--num-samples', String(SAMPLES), '--max-tokens', '16', '--concurrency', '6', '--no-progress'], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' },
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, output: () => out };
  }

  it('every item exactly once; nothing on disk at a kill is requested again', async () => {
    const file = join(dir, 'out.jsonl');
    const random = prng(20261123);
    const protectedAt = new Map<string, number>();
    let kills = 0;
    let tornTails = 0;
    let killsBeforeFirstRequest = 0;
    let finishedEarly = 0;
    for (let k = 0; k < KILLS; k++) {
      const before = server.stats.total;
      const p = start();
      let exitedOnItsOwn = false;
      void p.exited.then(() => (exitedOnItsOwn = true));
      if (k % 2 === 0) {
        // A moment in time: may fall in start-up, the resume scan, or the run.
        await sleep(200 + Math.floor(random() * 2500));
      } else {
        // A moment in the run: after 1..60 more requests.
        const target = before + 1 + Math.floor(random() * 60);
        await waitFor(() => server.stats.total >= target || exitedOnItsOwn, `request ${target}\n${p.output()}`);
        await sleep(Math.floor(random() * 150));
      }
      if (exitedOnItsOwn) { finishedEarly++; break; }
      if (server.stats.total === before) killsBeforeFirstRequest++;
      p.child.kill('SIGKILL');
      await p.exited;
      kills++;
      if (k % 4 === 3 && existsSync(file)) {
        // A torn write at the tail, as a crash in the middle of write(2) would leave.
        appendFileSync(file, '{"input_index":99999,"seed":0,"sample_ind');
        tornTails++;
      }
      // The server answers requests already sent; let them settle before reading the log.
      await sleep(150);
      for (const key of completeOnDisk(file).complete) if (!protectedAt.has(key)) protectedAt.set(key, requested.get(key) ?? 0);
    }
    const last = start();
    const code = await last.exited;

    const { complete, rows } = completeOnDisk(file);
    const all = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as OutRow);
    const perKey = new Map<string, number>();
    for (const r of all) perKey.set(`${r.input_index}:${r.seed}`, (perKey.get(`${r.input_index}:${r.seed}`) ?? 0) + 1);
    const duplicated = [...perKey.values()].filter((n) => n > SAMPLES).length;
    const missing = PROBLEMS - complete.size;
    const reRequested = [...protectedAt].filter(([key, n]) => requested.get(key) !== n).map(([key]) => key);
    const requestedTwice = [...requested.values()].filter((n) => n > 1).length;
    const m = await readManifest(join(dir, 'out.jsonl.run'));

    describeSection(SECTION, `${PROBLEMS} problems x ${SAMPLES} samples (one request per problem, n = ${SAMPLES}), concurrency 6, ` +
      `120 ms per answer, real \`sdg generate\` processes. Even kills: a random time 0.2-2.7 s after the process starts; odd ` +
      'kills: after 1-60 more requests reach the server. Every 4th kill also appends a torn line. After each kill the rows ' +
      'on disk are read and the server\'s per-item request counts noted; the last run must not request any of those items again.');
    record(SECTION, 'processes SIGKILLed', kills);
    record(SECTION, 'kills before the restarted process sent a request', killsBeforeFirstRequest);
    record(SECTION, 'torn lines appended', tornTails);
    record(SECTION, 'items complete on disk at some kill (protected)', protectedAt.size);
    record(SECTION, 'protected items requested again', reRequested.length);
    record(SECTION, 'items requested more than once (in flight at a kill)', requestedTwice);
    record(SECTION, 'final rows / items', `${rows} / ${complete.size} of ${PROBLEMS}`);
    record(SECTION, 'items lost / duplicated', `${missing} / ${duplicated}`);
    record(SECTION, 'final manifest status', m?.status ?? 'none');

    assert.equal(code, 0, last.output());
    assert.equal(finishedEarly, 0, 'the run finished before 20 kills: make it longer');
    assert.equal(kills, KILLS);
    assert.equal(missing, 0);
    assert.equal(duplicated, 0);
    assert.equal(all.length, PROBLEMS * SAMPLES);
    assert.ok(all.every((r) => r.error == null));
    assert.deepEqual(reRequested, []);
    assert.ok(protectedAt.size > 0);
    assert.ok(requestedTwice <= kills * 6, `${requestedTwice} items requested twice`);
    assert.equal(m?.status, 'completed');
  });
});
