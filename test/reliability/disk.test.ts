/**
 * Disk full and unwritable output, as root in CI without special privileges:
 * - RLIMIT_FSIZE on the `sdg generate` process (`prlimit --fsize`): writes past the limit fail
 *   with EFBIG (Node ignores SIGXFSZ), exactly like a full disk in the middle of a run;
 * - an output path under a regular file (ENOTDIR: cannot be created, even by root);
 * - when the machine allows mounting (root in a VM/container with CAP_SYS_ADMIN), a 48 KiB tmpfs
 *   (real ENOSPC) and a read-only tmpfs (EROFS); otherwise those two are reported as not run.
 * Every case: a clear one-line error naming the file, a non-zero exit, no valid row lost, and a
 * later run with space completes the job with every item exactly once.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startMockServer, type MockServer } from '../support/mockServer';
import { describeSection, record } from './report';

const ROOT = join(__dirname, '..', '..');
const CLI = join(ROOT, 'src', 'cli', 'index.ts');
const SECTION = 'Disk full and unwritable output';
const PROBLEMS = 300;

interface OutRow { input_index: number; seed: number; error: string | null }

function run(args: string[], prefix: string[] = []): Promise<{ code: number | null; out: string }> {
  const cmd = [...prefix, process.execPath, '--require', 'tsx/cjs', CLI, ...args];
  const child = spawn(cmd[0], cmd.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
}

/** Parsed complete lines; a torn last line (the write cut by the limit) is counted apart. */
function rowsOf(file: string): { rows: OutRow[]; torn: number } {
  if (!existsSync(file)) return { rows: [], torn: 0 };
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const tail = lines.pop()!;
  return { rows: lines.filter(Boolean).map((l) => JSON.parse(l) as OutRow), torn: tail === '' ? 0 : 1 };
}

function canMount(dir: string): boolean {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
  if (r.status !== 0) return false;
  spawnSync('umount', [dir]);
  return true;
}

describe('reliability: disk full and unwritable output', function () {
  this.timeout(120_000);
  let dir: string;
  let server: MockServer;
  let input: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sdg-rel-disk-'));
    input = join(dir, 'in.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < PROBLEMS; i++) lines.push(JSON.stringify({ problem: `What is ${i} + 1?`, expected_answer: String(i + 1) }));
    writeFileSync(input, lines.join('\n') + '\n');
    server = await startMockServer({ latency: { fixedMs: 5 }, logLimit: 0 });
    describeSection(SECTION, `\`sdg generate\` over ${PROBLEMS} problems. The file size limit is set on the child process with ` +
      '`prlimit --fsize` (no privileges needed: writes past it fail with EFBIG, like a full disk). When mounting is allowed ' +
      'a 48 KiB tmpfs gives a real ENOSPC and a read-only tmpfs gives EROFS. After each failure the same command runs ' +
      'again with room to write and must finish with every item exactly once.');
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const gen = (output: string, extra: string[] = []) => ['generate', '--input', input, '--output', output, '--prompt', 'generic_math',
    '--base-url', server.url, '--model', 'mock-model', '--max-tokens', '16', '--concurrency', '8', '--no-progress', ...extra];

  async function failThenResume(label: string, output: string, first: { code: number | null; out: string }, resumeOutput = output) {
    const before = rowsOf(output);
    const msg = first.out.trim().split('\n').filter((l) => /sdg:|error|Stopped|full|limit|read-only/i.test(l)).pop() ?? first.out.trim();
    record(SECTION, `${label}: exit code / message`, `${first.code} / ${msg.slice(0, 220)}`);
    record(SECTION, `${label}: valid rows kept / torn tail`, `${before.rows.length} / ${before.torn}`);
    const again = await run(gen(resumeOutput));
    const after = rowsOf(resumeOutput);
    const keys = new Map<string, number>();
    for (const r of after.rows) keys.set(`${r.input_index}:${r.seed}`, (keys.get(`${r.input_index}:${r.seed}`) ?? 0) + 1);
    const dup = [...keys.values()].filter((n) => n > 1).length;
    const lost = PROBLEMS - keys.size;
    record(SECTION, `${label}: after a run with room, items lost / duplicated`, `${lost} / ${dup}`);
    assert.notEqual(first.code, 0, first.out);
    assert.equal(again.code, 0, again.out);
    assert.equal(lost, 0);
    assert.equal(dup, 0);
    assert.ok(after.rows.every((r) => r.error == null));
    return { before, msg };
  }

  it('RLIMIT_FSIZE (EFBIG) mid-run: a clear error naming the file, rows kept, resume completes', async () => {
    const output = join(dir, 'fsize', 'out.jsonl');
    mkdirSync(join(dir, 'fsize'));
    // prlimit (util-linux) sets the limit in bytes; without it, the shell's ulimit (512-byte blocks in POSIX sh).
    const hasPrlimit = spawnSync('prlimit', ['--version']).status === 0;
    const first = await run(gen(output), hasPrlimit ? ['prlimit', '--fsize=40000', '--'] : ['sh', '-c', 'ulimit -f 78 && exec "$0" "$@"']);
    const { before, msg } = await failThenResume('RLIMIT_FSIZE 40 000 bytes', output, first);
    assert.match(msg, /file size limit reached while writing .*out\.jsonl/);
    assert.ok(before.rows.length > 10 && before.rows.length < PROBLEMS, `${before.rows.length} rows before the limit`);
  });

  it('an output folder that cannot be created (ENOTDIR, even as root): a clear error before any request', async () => {
    const blocker = join(dir, 'not-a-folder');
    writeFileSync(blocker, 'x');
    const requestsBefore = server.stats.total;
    const r = await run(gen(join(blocker, 'out.jsonl')));
    const msg = r.out.trim().split('\n').pop() ?? '';
    record(SECTION, 'output under a regular file: exit code / message', `${r.code} / ${msg.slice(0, 220)}`);
    record(SECTION, 'output under a regular file: requests sent', server.stats.total - requestsBefore);
    assert.notEqual(r.code, 0);
    assert.match(msg, /not-a-folder/);
    assert.doesNotMatch(r.out, /\n\s+at /, 'a stack trace instead of a message');
    assert.equal(server.stats.total - requestsBefore, 0);
  });

  it('a real full disk (48 KiB tmpfs) and a read-only folder, when mounting is allowed', async function () {
    const mnt = join(dir, 'mnt');
    if (!canMount(mnt)) {
      record(SECTION, 'tmpfs ENOSPC / EROFS', 'not run: mounting is not permitted on this machine');
      this.skip();
    }
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=48k', 'tmpfs', mnt]).status, 0);
    try {
      const output = join(mnt, 'out.jsonl');
      const first = await run(gen(output));
      // Move the kept rows to a disk with room and resume there (what a user does after freeing space).
      const roomy = join(dir, 'moved');
      mkdirSync(roomy);
      spawnSync('cp', ['-a', `${mnt}/.`, roomy]);
      const moved = join(roomy, 'out.jsonl');
      const { before, msg } = await failThenResume('tmpfs 48 KiB (ENOSPC)', moved, first);
      assert.match(msg, /disk full while writing .*(out\.jsonl|manifest|\.run)/);
      assert.ok(before.rows.length > 10, `${before.rows.length} rows kept; ${first.out}`);
    } finally {
      spawnSync('umount', [mnt]);
    }
    assert.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mnt]).status, 0);
    try {
      const r = await run(gen(join(mnt, 'out.jsonl')));
      const msg = r.out.trim().split('\n').pop() ?? '';
      record(SECTION, 'read-only tmpfs (EROFS): exit code / message', `${r.code} / ${msg.slice(0, 220)}`);
      assert.notEqual(r.code, 0);
      assert.match(msg, /read-only/);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
});
