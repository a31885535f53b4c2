/**
 * The local sandbox with a real python3: state across blocks, limits (time, memory, network,
 * output), errors fed back as text, the worker pool bound, clean-up, and a clear start error.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { LocalSandbox, RemoteSandbox, SandboxSetupError, OUTPUT_CUT_MARKER } from '../../src/core/sandbox';
import { testPython } from './sandbox-python';

describe('sandbox: local python workers', function () {
  this.timeout(60_000);
  const py = testPython();
  let sandbox: LocalSandbox;
  before(async function () {
    if (!py.python) this.skip();
    sandbox = new LocalSandbox({ python: py.python!, workers: 2, timeoutSeconds: 2, memoryMb: 512, maxOutputChars: 200 });
    await sandbox.start();
  });
  after(() => sandbox?.close());

  it('keeps state across the blocks of one session, not between sessions; shows the last expression', async () => {
    const a = sandbox.session();
    const b = sandbox.session();
    assert.deepEqual((await a.execute('total = 6 * 7\nprint("set")')).output, 'set');
    const r = await a.execute('def double(v):\n    return 2 * v\ndouble(total)');
    assert.equal(r.status, 'completed');
    assert.equal(r.output, '84');
    const other = await b.execute('total');
    assert.equal(other.status, 'error');
    assert.match(other.output, /NameError: name 'total' is not defined$/);
    await a.close();
    await b.close();
  });

  it('stops `while True: pass` at the time limit, and the session goes on with its earlier state', async () => {
    const s = sandbox.session();
    await s.execute('kept = "yes"');
    const started = Date.now();
    const r = await s.execute('while True: pass');
    assert.equal(r.status, 'timeout');
    assert.equal(r.output, 'Timed out');
    assert.ok(Date.now() - started < 6000, `took ${Date.now() - started} ms`);
    const after = await s.execute('print(kept)');
    assert.equal(after.status, 'completed');
    assert.equal(after.output, 'yes');
    await s.close();
  });

  it('kills a worker stuck in C code; the other solutions on it get their state back (replayed)', async () => {
    const own = new LocalSandbox({ python: py.python!, workers: 1, timeoutSeconds: 1 });
    await own.start();
    const a = own.session();
    const b = own.session();
    await a.execute('keep = 41');
    // sum over a range runs in C without checking signals: only the kill from Node stops it.
    const stuck = await b.execute('sum(range(10**13))');
    assert.equal(stuck.status, 'timeout');
    const again = await a.execute('keep + 1');
    assert.deepEqual({ status: again.status, output: again.output }, { status: 'completed', output: '42' });
    assert.equal((await b.execute('print("b goes on")')).output, 'b goes on');
    await a.close();
    await b.close();
    await own.close();
  });

  it('turns a memory bomb into a MemoryError under the limit; the worker survives', async () => {
    // Its own sandbox with a generous time limit: zero-filling pages is slow on a busy machine.
    const own = new LocalSandbox({ python: py.python!, workers: 1, timeoutSeconds: 30, memoryMb: 512 });
    await own.start();
    const s = own.session();
    const r = await s.execute('blocks = []\nwhile True:\n    blocks.append(bytearray(100 * 1024 * 1024))');
    assert.equal(r.status, 'error');
    assert.match(r.output, /MemoryError/);
    const next = await s.execute('print(sum(range(10)))');
    assert.equal(next.output, '45');
    await s.close();
    await own.close();
  });

  it('gives executed code no network (or says clearly that it could not)', async () => {
    const s = sandbox.session();
    const r = await s.execute('import socket\nsocket.create_connection(("1.1.1.1", 53), timeout=2)\nprint("connected")');
    await s.close();
    const info = await sandbox.start();
    if (info.network === 'none') {
      assert.equal(info.warning, null);
      assert.equal(r.status, 'error');
      assert.match(r.output, /OSError|unreachable/i);
    } else {
      assert.match(info.warning ?? '', /no network isolation/);
    }
    // Loopback of the host is not reachable either: the namespace has its own (down) loopback.
    const server: Server = createServer((_q, res) => res.end('hello'));
    await new Promise<void>((r2) => server.listen(0, '127.0.0.1', () => r2()));
    const port = (server.address() as { port: number }).port;
    const s2 = sandbox.session();
    const local = await s2.execute(`import urllib.request\nprint(urllib.request.urlopen("http://127.0.0.1:${port}/", timeout=2).read())`);
    await s2.close();
    server.close();
    if (info.network === 'none') assert.equal(local.status, 'error', local.output);
  });

  it('cuts long output to the limit with the marker', async () => {
    const s = sandbox.session();
    const r = await s.execute('for i in range(100000):\n    print(i)');
    assert.equal(r.status, 'completed');
    assert.equal(r.truncated, true);
    assert.ok(r.output.endsWith(OUTPUT_CUT_MARKER));
    assert.equal(r.output.length, 200 + OUTPUT_CUT_MARKER.length);
    await s.close();
  });

  it('reports a syntax error and an exception as their last traceback lines, output before them kept', async () => {
    const s = sandbox.session();
    const syntax = await s.execute('x = (1 +\nprint(x)');
    assert.equal(syntax.status, 'error');
    assert.match(syntax.output, /SyntaxError/);
    assert.ok(!syntax.output.includes('driver'), syntax.output);
    // The traceback names the block "<code>", never a tag the loop looks for.
    assert.match(syntax.output, /^File "<code>", line 1/);
    const exc = await s.execute('print("before")\n1 / 0');
    assert.equal(exc.status, 'error');
    assert.match(exc.output, /^before\n/);
    assert.match(exc.output, /ZeroDivisionError: division by zero$/);
    await s.close();
  });

  it('runs many sessions on the fixed pool of workers (never one Python per session)', async () => {
    const sessions = Array.from({ length: 24 }, () => sandbox.session());
    const pids = await Promise.all(sessions.map((s) => s.execute('import os\nos.getpid()').then((r) => r.output)));
    assert.ok(new Set(pids).size <= 2, `pids: ${[...new Set(pids)].join(', ')}`);
    await Promise.all(sessions.map((s) => s.close()));
  });

  it('works in a temporary folder per session that is removed afterwards', async () => {
    const own = new LocalSandbox({ python: py.python!, workers: 1 });
    await own.start();
    const s = own.session();
    const cwd = (await s.execute('import os\nopen("scratch.txt", "w").write("x")\nprint(os.getcwd())')).output;
    assert.ok(cwd.startsWith(tmpdir()), cwd);
    assert.ok(existsSync(`${cwd}/scratch.txt`));
    await s.close();
    assert.equal(existsSync(cwd), false, 'session folder left behind');
    await own.close();
    const root = cwd.split('/').slice(0, -2).join('/');
    assert.equal(existsSync(root), false, `sandbox folder left behind: ${root}`);
  });

  it('a missing interpreter is a clear error at start', async () => {
    const bad = new LocalSandbox({ python: 'python3-that-does-not-exist' });
    await assert.rejects(bad.start(), (e: Error) => e instanceof SandboxSetupError && /"python3-that-does-not-exist" was not found.*--python/.test(e.message));
  });
});

describe('sandbox: remote server (NeMo-Skills /execute protocol)', function () {
  this.timeout(30_000);
  let server: Server;
  let url = '';
  const received: Array<Record<string, unknown>> = [];
  const deleted: string[] = [];
  before(async () => {
    // A loopback server answering like nemo_skills/code_execution/local_sandbox/local_sandbox_server.py:
    // JSON body in, {process_status, stdout, stderr} out; state per session_id for ipython.
    const state = new Map<string, Record<string, number>>();
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        if (req.method === 'DELETE' && req.url?.startsWith('/sessions/')) {
          deleted.push(req.url.slice('/sessions/'.length));
          res.end('{}');
          return;
        }
        if (req.method !== 'POST' || req.url !== '/execute') {
          res.statusCode = 404;
          res.end();
          return;
        }
        const j = JSON.parse(body) as Record<string, any>;
        received.push(j);
        const code = String(j.generated_code);
        const vars = state.get(String(j.session_id)) ?? {};
        state.set(String(j.session_id), vars);
        res.setHeader('content-type', 'application/json');
        // A tiny interpreter for the test's blocks: "name = N", "print(expr)", "fail", "hang".
        if (code === 'hang') return void res.end(JSON.stringify({ process_status: 'timeout', stdout: '', stderr: 'Timed out\n' }));
        if (code === 'fail') return void res.end(JSON.stringify({ process_status: 'error', stdout: 'partial\n', stderr: 'Traceback (most recent call last):\n  File "<ipython>", line 1\nValueError: bad\n' }));
        let stdout = '';
        for (const line of code.split('\n')) {
          const set = /^(\w+) = (\d+)$/.exec(line);
          if (set) vars[set[1]!] = Number(set[2]);
          const pr = /^print\((.+)\)$/.exec(line);
          if (pr) stdout += `${pr[1]!.split('*').map((t) => (/^\d+$/.test(t.trim()) ? Number(t) : vars[t.trim()] ?? NaN)).reduce((a, b) => a * b, 1)}\n`;
        }
        res.end(JSON.stringify({ process_status: 'completed', stdout, stderr: '' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  after(() => server?.close());

  it('posts the reference fields, keeps state through session_id, maps status, deletes the session', async () => {
    const sb = new RemoteSandbox({ url, timeoutSeconds: 7, maxOutputChars: 500 });
    const info = await sb.start();
    assert.equal(info.kind, 'remote');
    const s = sb.session();
    assert.equal((await s.execute('x = 6')).status, 'completed');
    const r = await s.execute('print(x * 7)');
    assert.deepEqual({ status: r.status, output: r.output }, { status: 'completed', output: '42' });
    const f = await s.execute('fail');
    assert.equal(f.status, 'error');
    assert.equal(f.output, 'partial\nTraceback (most recent call last):\n  File "<ipython>", line 1\nValueError: bad');
    const t = await s.execute('hang');
    assert.deepEqual({ status: t.status, output: t.output }, { status: 'timeout', output: 'Timed out' });
    await s.close();
    const last = received.at(-1)!;
    assert.deepEqual(Object.keys(last).sort(), ['generated_code', 'language', 'max_output_characters', 'session_id', 'std_input', 'timeout', 'traceback_verbosity']);
    assert.equal(last.language, 'ipython');
    assert.equal(last.timeout, 7);
    assert.equal(typeof last.session_id, 'string');
    assert.deepEqual(deleted, [last.session_id]);
  });

  it('a server that is down is a clear error at start', async () => {
    const sb = new RemoteSandbox({ url: 'http://127.0.0.1:9/' });
    await assert.rejects(sb.start(), (e: Error) => e instanceof SandboxSetupError && /sandbox server http:\/\/127\.0\.0\.1:9 is not usable/.test(e.message));
  });
});
