/**
 * The Python side of the local sandbox: one long-lived `python3 -c DRIVER` worker that holds the
 * namespaces of several solutions ("sessions") and runs one code block at a time.
 *
 * Protocol: JSON lines. Requests arrive on fd 3, replies leave on fd 4, so nothing the model's
 * code prints (sys.stdout, os.write(1, ...)) can corrupt them; fd 0 is /dev/null.
 *   {"id": 1, "op": "ping"}                               -> {"id": 1, "ok": true, "python": "3.11.2 ..."}
 *   {"id": 2, "op": "exec", "session": "s1", "code": "...", "timeout": 10,
 *    "max_chars": 1000, "error_lines": 5, "replay": ["..."]?}
 *        -> {"id": 2, "status": "completed"|"error"|"timeout", "stdout": "...", "stdout_cut": false,
 *            "error": "last lines of the traceback" | null, "reset": false}
 *   {"id": 3, "op": "drop", "session": "s1"}              -> {"id": 3, "ok": true}
 *
 * A block runs like an IPython cell: a bare expression on its last line is printed (repr), so
 * `x` at the end shows x. The wall-clock limit is an interval timer raising a BaseException
 * (`except Exception` in the model's code cannot swallow it); code stuck in C is killed from
 * Node after a grace period. After a time-out or a MemoryError the session's namespace is
 * dropped (`reset: true`): a half-run block or a huge object must not stay behind, and Node
 * replays the session's earlier successful blocks on its next execution.
 */
export const DRIVER_SOURCE = String.raw`
import ast, builtins, io, json, linecache, os, resource, shutil, signal, sys, traceback, warnings

warnings.filterwarnings('ignore')
ROOT = sys.argv[1]
MEM = int(sys.argv[2])
if MEM > 0:
    for lim in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
        try:
            resource.setrlimit(lim, (MEM, MEM))
        except (ValueError, OSError):
            pass
REQ = os.fdopen(3, 'r', encoding='utf-8', errors='replace')
RES = os.fdopen(4, 'w', encoding='utf-8')
FILENAME = '<code>'
sessions = {}


class SandboxTimeout(BaseException):
    pass


def on_alarm(signum, frame):
    raise SandboxTimeout()


signal.signal(signal.SIGALRM, on_alarm)


class Capped(io.TextIOBase):
    """Keeps the first 'cap' characters; counts the rest (a print loop cannot fill the memory)."""
    def __init__(self, cap):
        self.cap = cap
        self.parts = []
        self.size = 0
        self.cut = False
    def writable(self):
        return True
    def write(self, s):
        s = str(s)
        room = self.cap - self.size
        if room > 0:
            self.parts.append(s[:room])
            self.size += min(len(s), room)
        if len(s) > max(room, 0):
            self.cut = True
        return len(s)
    def value(self):
        return ''.join(self.parts)


def run_block(code, ns):
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    tree = ast.parse(code, FILENAME, 'exec')
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, FILENAME, 'exec'), ns)
    if last is not None:
        value = eval(compile(last, FILENAME, 'eval'), ns)
        if value is not None:
            print(repr(value))


def error_text(exc, lines):
    te = traceback.TracebackException.from_exception(exc)
    # Only the model's own frames: the driver's and libraries' internals say nothing useful.
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename == FILENAME])
    text = ''.join(te.format()).rstrip('\n').split('\n')
    return '\n'.join(text[-lines:]) if lines > 0 else text[-1]


def session_dir(sid):
    d = os.path.join(ROOT, 's_' + ''.join(c for c in sid if c.isalnum() or c in '-_'))
    os.makedirs(d, exist_ok=True)
    return d


def execute(req):
    sid = req['session']
    timeout = float(req.get('timeout') or 10)
    if req.get('replay') is not None or sid not in sessions:
        sessions[sid] = {'__name__': '__main__', '__builtins__': builtins}
        for block in req.get('replay') or []:
            os.chdir(session_dir(sid))
            quiet = Capped(0)
            old = sys.stdout, sys.stderr
            sys.stdout = sys.stderr = quiet
            try:
                signal.setitimer(signal.ITIMER_REAL, timeout)
                run_block(block, sessions[sid])
            except BaseException:
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                sys.stdout, sys.stderr = old
    ns = sessions[sid]
    os.chdir(session_dir(sid))
    out = Capped(int(req.get('max_chars') or 1000) + 1)
    old = sys.stdout, sys.stderr, sys.stdin
    sys.stdout, sys.stderr, sys.stdin = out, Capped(0), io.StringIO('')
    status, error, reset = 'completed', None, False
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        run_block(req['code'], ns)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except SandboxTimeout:
        status, error, reset = 'timeout', 'Timed out', True
    except MemoryError as e:
        signal.setitimer(signal.ITIMER_REAL, 0)
        status, error, reset = 'error', error_text(e, int(req.get('error_lines', 5))), True
    except BaseException as e:
        signal.setitimer(signal.ITIMER_REAL, 0)
        status, error = 'error', error_text(e, int(req.get('error_lines', 5)))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        sys.stdout, sys.stderr, sys.stdin = old
    if reset:
        sessions.pop(sid, None)
    return {'status': status, 'stdout': out.value(), 'stdout_cut': out.cut, 'error': error, 'reset': reset}


def main():
    try:
        for line in REQ:
            if not line.strip():
                continue
            req = json.loads(line)
            op = req.get('op')
            try:
                if op == 'exec':
                    reply = execute(req)
                elif op == 'drop':
                    sessions.pop(req['session'], None)
                    shutil.rmtree(session_dir(req['session']), ignore_errors=True)
                    os.chdir(ROOT)
                    reply = {'ok': True}
                elif op == 'ping':
                    reply = {'ok': True, 'python': sys.version.split()[0], 'executable': sys.executable}
                else:
                    reply = {'ok': False, 'error': 'unknown op %r' % op}
            except BaseException as e:
                reply = {'status': 'error', 'stdout': '', 'stdout_cut': False, 'error': 'sandbox error: %s: %s' % (type(e).__name__, e), 'reset': True}
                sessions.pop(req.get('session'), None)
            reply['id'] = req.get('id')
            RES.write(json.dumps(reply) + '\n')
            RES.flush()
    finally:
        # Node closed the pipe (or died): nothing may stay behind.
        os.chdir('/')
        shutil.rmtree(ROOT, ignore_errors=True)
        # The last worker out removes the run's sandbox folder too (Node may be gone: SIGKILL).
        parent = os.path.dirname(ROOT)
        if os.path.basename(parent).startswith('sdg-sandbox-'):
            try:
                os.rmdir(parent)
            except OSError:
                pass


main()
`;
