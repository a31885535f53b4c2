/**
 * Two writers on one run, and an output that is the input.
 *
 *  - 20 trials: after a crash (the previous writer SIGKILLed mid-run, its lock left behind), two
 *    identical `sdg generate` processes start together. Exactly one may run; the other must be
 *    refused with a message naming the running one's pid and host. The final output holds every
 *    item exactly once.
 *  - A lock of another host (a Slurm node sharing the file system) whose heartbeat is fresh is
 *    refused; once it has missed its heartbeats it is taken over. A running owner refreshes it.
 *  - `--output` as the input, a symlink to it or a hard link to it, with and without
 *    `--overwrite`: refused, the input unchanged byte for byte.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';
import { sleep, waitFor } from './support';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const LOCKS = 'Two writers on one run (locks)';
const INPUTS = 'Output that is the input';
const TRIALS = 20;
const PROBLEMS = 3000;

interface Proc { pid: number; exited: Promise<number | null>; code(): number | null | undefined; output(): string; kill(): void }

function sdg(args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', CLI, ...args], {
    cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let out = '';
  let code: number | null | undefined;
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => { code = c; resolve(c); }));
  return { pid: child.pid!, exited, code: () => code, output: () => out, kill: () => child.kill('SIGKILL') };
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

describe('reliability: two writers on one run', function () {
  this.timeout(600_000);
  let dir: string;
  let server: MockServer;
  let input: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-writers-'));
    input = join(dir, 'in.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < PROBLEMS; i++) lines.push(JSON.stringify({ problem: `What is ${i} + 1?`, expected_answer: String(i + 1) }));
    writeFileSync(input, lines.join('\n') + '\n');
    server = await startMockServer({ latency: { fixedMs: 40 }, logLimit: 0 });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const generate = (out: string, extra: string[] = []) => ['generate', '--input', input, '--output', out, '--prompt', 'generic_math',
    '--base-url', server.url, '--model', 'mock-model', '--num-samples', '2', '--max-tokens', '8', '--concurrency', '4', '--no-progress', ...extra];

  it(`${TRIALS} trials of two identical sdg generate after a crash: exactly one runs, the other is refused naming it; no duplicated rows`, async () => {
    const out = join(dir, 'race.jsonl');
    // The crash every trial starts from: a writer SIGKILLed mid-run (its lock stays behind).
    const first = sdg(generate(out));
    const base = server.stats.total;
    await waitFor(() => server.stats.total >= base + 10 || first.code() !== undefined, `first requests\n${first.output()}`);
    first.kill();
    await first.exited;

    let bothRan = 0;
    let refusedNamingOwner = 0;
    let neitherRan = 0;
    let finishedEarly = 0;
    const problems: string[] = [];
    for (let t = 0; t < TRIALS; t++) {
      assert.ok(existsSync(`${out}.lock`), `trial ${t}: the crashed writer's lock is there`);
      const a = sdg(generate(out));
      const b = sdg(generate(out));
      // The loser exits quickly; the winner keeps running.
      await waitFor(() => a.code() !== undefined || b.code() !== undefined, `trial ${t}: one of the two to exit\n${a.output()}\n${b.output()}`, 120_000);
      const loser = a.code() !== undefined ? a : b;
      const winner = loser === a ? b : a;
      const before = server.stats.total;
      // The winner must be running: it makes requests (or finishes).
      await waitFor(() => server.stats.total >= before + 12 || winner.code() !== undefined, `trial ${t}: the winner to run\n${winner.output()}`, 120_000);
      const loserCode = await loser.exited;
      if (winner.code() !== undefined) {
        if (winner.code() === 0 && loserCode === 0) bothRan++;
        else if (winner.code() !== 0 && loserCode !== 0) neitherRan++;
        else finishedEarly++;
      }
      const named = new RegExp(`being written by another process \\(pid ${winner.pid} on host ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);
      if (loserCode === 1 && named.test(loser.output())) refusedNamingOwner++;
      else problems.push(`trial ${t}: loser exit ${loserCode}: ${loser.output().trim().slice(0, 400)}`);
      winner.kill(); // the crash of the next trial
      await winner.exited;
    }
    // After the last crash, one writer finishes the job.
    const last = sdg(generate(out));
    const code = await last.exited;
    const rows = readFileSync(out, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { input_index: number; seed: number; sample_index: number; error: unknown });
    const perSample = new Map<string, number>();
    for (const r of rows) perSample.set(`${r.input_index}:${r.seed}:${r.sample_index}`, (perSample.get(`${r.input_index}:${r.seed}:${r.sample_index}`) ?? 0) + 1);
    const duplicated = [...perSample.values()].filter((n) => n > 1).length;
    const items = new Set(rows.map((r) => r.input_index)).size;

    describeSection(LOCKS, `${TRIALS} trials on one output (${PROBLEMS} problems x 2 samples, 40 ms per answer). Each trial starts from a ` +
      'crash: the previous writer was SIGKILLed mid-run and its lock file is left behind. Two identical `sdg generate` processes ' +
      'are started at the same moment; the first to exit must have been refused with a message naming the pid and host of ' +
      'the other, which must be running (requests reach the server). Then the runner is SIGKILLed for the next trial. ' +
      'Locks: created by link() from a complete temp file, stale takeover by rename-and-verify, a heartbeat for other hosts ' +
      '(docs/engine.md).');
    record(LOCKS, 'trials (two writers started together after a crash)', TRIALS);
    record(LOCKS, 'trials where exactly one ran and the other was refused naming it', refusedNamingOwner);
    record(LOCKS, 'trials where both ran', bothRan);
    record(LOCKS, 'trials where neither ran', neitherRan);
    record(LOCKS, 'final run: exit code / rows / problems', `${code} / ${rows.length} / ${items} of ${PROBLEMS}`);
    record(LOCKS, 'duplicated rows in the output', duplicated);

    assert.deepEqual(problems, []);
    assert.equal(refusedNamingOwner, TRIALS);
    assert.equal(bothRan + neitherRan + finishedEarly, 0);
    assert.equal(code, 0, last.output());
    assert.equal(duplicated, 0);
    assert.equal(rows.length, PROBLEMS * 2);
    assert.equal(items, PROBLEMS);
  });

  it('a lock of another host with a fresh heartbeat is refused (owner named), taken over once stale; a running owner refreshes it', async () => {
    const out = join(dir, 'slurm.jsonl');
    const lock = `${out}.lock`;
    writeFileSync(lock, JSON.stringify({ pid: 31337, host: 'gpu-node-17', started: new Date().toISOString(), since: new Date().toISOString(), token: 'abc', heartbeatMs: 15000 }) + '\n');
    const refused = sdg(generate(out, ['--limit', '50']));
    const refusedCode = await refused.exited;
    assert.equal(refusedCode, 1, refused.output());
    assert.match(refused.output(), /pid 31337 on host gpu-node-17/);
    assert.match(refused.output(), /expires/);
    assert.equal(existsSync(out), false, 'nothing written while refused');

    // Two minutes without a heartbeat: stale (default 8 x 15 s).
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(lock, old, old);
    const taker = sdg(generate(out, ['--limit', '200']), { SDG_LOCK_HEARTBEAT_MS: '150' });
    // While it runs, the lock is ours and its mtime moves (the heartbeat).
    await waitFor(() => existsSync(lock) && readFileSync(lock, 'utf8').includes(`"pid":${taker.pid}`) || taker.code() !== undefined, 'the takeover');
    const m1 = statSync(lock).mtimeMs;
    await sleep(600);
    const refreshed = existsSync(lock) && statSync(lock).mtimeMs > m1;
    const takerCode = await taker.exited;
    assert.equal(takerCode, 0, taker.output());
    assert.equal(existsSync(lock), false, 'released at the end');

    record(LOCKS, 'lock of another host, fresh heartbeat', `refused: "${/pid 31337 on host gpu-node-17[^;]*/.exec(refused.output())?.[0]}"`);
    record(LOCKS, 'lock of another host, 5 min without heartbeat', 'taken over, run completed');
    record(LOCKS, 'owner refreshed its lock while running (heartbeat 150 ms)', refreshed ? 'yes' : 'no');
    assert.ok(refreshed, 'the lock mtime did not move');
  });

  it('--output as the input, a symlink or a hard link to it: refused, with and without --overwrite; input unchanged', async () => {
    const before = sha(input);
    const cases: Array<[string, string]> = [];
    const symlink = join(dir, 'sym.jsonl');
    symlinkSync(input, symlink);
    const hardlink = join(dir, 'hard.jsonl');
    linkSync(input, hardlink);
    const dotted = join(dir, '.', 'x', '..', 'in.jsonl');
    cases.push(['same path', input], ['same file, another spelling', dotted], ['symlink to the input', symlink], ['hard link to the input', hardlink]);
    let tried = 0;
    const refusedLines: string[] = [];
    for (const [what, out] of cases) {
      for (const overwrite of [false, true]) {
        const p = sdg(generate(out, ['--limit', '5', ...(overwrite ? ['--overwrite'] : [])]));
        const code = await p.exited;
        tried++;
        assert.equal(code, 1, `${what}${overwrite ? ' --overwrite' : ''}: ${p.output()}`);
        assert.match(p.output(), /is the input file .*would destroy the input|--output must differ from --input/, `${what}: ${p.output()}`);
        assert.equal(sha(input), before, `${what}${overwrite ? ' --overwrite' : ''}: the input changed`);
        assert.equal(existsSync(`${out}.run`), false, `${what}: a run folder was created`);
        if (overwrite) refusedLines.push(what);
      }
    }
    describeSection(INPUTS, 'The output path given as the input itself, another spelling of it, a symlink to it and a hard link to ' +
      'it (same device and inode), each with and without `--overwrite`; the input is hashed before and after.');
    record(INPUTS, 'outputs tried (4 kinds x with/without --overwrite)', tried);
    record(INPUTS, 'refused before writing anything', `${tried} of ${tried}`);
    record(INPUTS, 'input bytes changed', sha(input) === before ? 'none' : 'CHANGED');
    record(INPUTS, 'kinds', refusedLines.join(', '));
  });
});
