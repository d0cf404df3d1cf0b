# retool's Python fork server ("zygote").
#
# Runs inside a worker sandbox. It imports the configured libraries once,
# then forks one fresh child per execution; the zygote itself never runs
# user code. Frames on fd 3: 4-byte big-endian length + JSON; an exec
# request carries three file descriptors (stdin, stdout, stderr) owned by
# the host, which reads the output directly.
import ast
import ctypes
import io
import json
import os
import resource
import select
import signal
import socket
import struct
import sys
import traceback

WORK_ROOT = os.getcwd()
# Every execution's work dir has this one path (each is removed before the
# next is made), so HOME is set once here rather than in every child.
EXEC_DIR = os.path.join(WORK_ROOT, "e")
os.environ["HOME"] = EXEC_DIR
EXEC_UID = int(os.environ.get("RETOOL_EXEC_UID", "-1"))
ISOLATED = os.environ.get("RETOOL_ISOLATED") == "1"
PRELOAD = [m for m in os.environ.get("RETOOL_PRELOAD", "").split(",") if m]
STAR = [m for m in os.environ.get("RETOOL_STAR_IMPORT", "").split(",") if m]
FETCH_MAX = 16 << 20
# Set by the host for this process's own loading (see driver.go), not for
# the programs an execution starts.
os.environ.pop("LD_BIND_NOW", None)

libc = ctypes.CDLL(None, use_errno=True)
# Bound here, not on first use in each child: binding makes objects, and
# every object a child makes or touches costs it a copied page.
_prctl = libc.prctl
_capset = libc.capset
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
# capset's arguments, built once here: a child that builds them makes two
# ctypes array types of its own, which cost it ~0.15 ms of CPU and ~50
# copied pages (measured by forking this module's imports here).
_CAP_HEADER = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
_CAP_NONE = (ctypes.c_uint32 * 6)()
try:
    with open("/proc/sys/kernel/cap_last_cap") as _f:
        CAP_LAST = int(_f.read())
except OSError:
    CAP_LAST = 40

# Processes of the same user may open a dumpable process's /proc/PID/mem;
# executions never share the zygote's user where the host allows, and
# this closes that door where it does not (one-id user namespaces).
_prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
# What an execution leaves running is handed to this process, not to init:
# see kill_leftovers.
_prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

for _m in PRELOAD:
    try:
        __import__(_m)
    except ImportError as _e:
        print("zygote: preload %s skipped: %s" % (_m, _e), file=sys.stderr)
BASE_GLOBALS = {"__name__": "__main__", "__builtins__": __builtins__}
for _m in STAR:
    exec("from %s import *" % _m, BASE_GLOBALS)

sock = socket.socket(fileno=3)


def send(obj):
    send_frame(json.dumps(obj).encode())


def send_frame(data):
    sock.sendall(struct.pack(">I", len(data)) + data)


_ANCILLARY = socket.CMSG_SPACE(8 * 4)  # room for an exec's descriptors


def recv():
    """Reads one frame and the descriptors that came with it. The header is
    read on its own: descriptors ride with their frame's first byte, and a
    larger read could take a kill frame and the next exec frame together.
    (recvmsg and one recv of the body, not socket.recv_fds: its array and
    lists cost the zygote copied pages after every fork.)"""
    head, fds = b"", []
    while len(head) < 4:
        msg, anc, _, _ = sock.recvmsg(4 - len(head), _ANCILLARY)
        if not msg:
            raise EOFError
        head += msg
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += struct.unpack("%di" % (len(data) // 4), data[:len(data) - len(data) % 4])
    n = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < n:
        chunk = sock.recv(n - len(body), socket.MSG_WAITALL)
        if not chunk:
            raise EOFError
        body += chunk
    return json.loads(body), fds


def remove_tree(path):
    """Removes a directory tree of any depth without recursion (user code
    can nest directories deeper than Python's stack) and without long
    paths: one directory descriptor at a time, climbing back through "..".
    Only called once every process of the execution is dead."""
    try:
        os.rmdir(path)  # most executions leave their work dir empty
        return
    except OSError:
        pass
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    names = []
    budget = 10_000_000
    try:
        while budget > 0:
            budget -= 1
            sub = None
            with os.scandir(fd) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        sub = e.name
                        break
                    try:
                        os.unlink(e.name, dir_fd=fd)
                    except OSError:
                        pass
            if sub is not None:
                try:
                    child = os.open(sub, flags, dir_fd=fd)
                except OSError:
                    os.rmdir(sub, dir_fd=fd)  # unreadable and empty, or raise
                    continue
                os.close(fd)
                fd = child
                names.append(sub)
                continue
            if not names:
                break
            parent = os.open("..", flags, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(path)


def safe_path(wd, rel):
    if not rel or rel.startswith("/") or ".." in rel.split("/"):
        raise ValueError("path %r escapes the work dir" % rel)
    full = os.path.realpath(os.path.join(wd, rel))
    if full != wd and not full.startswith(wd + "/"):
        raise ValueError("path %r escapes the work dir" % rel)
    return full


def compile_code(src):
    """Compiles src into its body and, when the last statement is a bare
    expression, that expression on its own (None otherwise)."""
    tree = ast.parse(src, "<code>", "exec")
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), "<code>", "eval")
    return compile(tree, "<code>", "exec"), last


def run_code(compiled, g, display=False):
    """Runs compiled code in globals g; a bare last expression has its value
    printed, or, with display, returned as its repr (a notebook's
    text/plain)."""
    body, last = compiled
    exec(body, g)
    if last is not None:
        value = eval(last, g)
        if value is not None:
            if display:
                return repr(value)
            print(value)
    return None


# Sources up to this size are compiled by the zygote before it forks (see
# precompile); a larger one, by its child, where the execution's limits
# bound what compiling it costs.
PRECOMPILE_MAX = 64 << 10


def precompile(src):
    """Compiles an execution's code in the zygote, before the fork: the
    child then inherits the code objects instead of building the parser's
    and compiler's objects on pages it must copy (measured: ~40 fewer
    copied pages and ~0.17 ms less CPU an execution). Returns the compiled
    code, the exception compiling raised (the child raises it as its own),
    or None for a source the child compiles itself. Called while fd 2 is
    already the execution's stderr, so that compile-time warnings reach
    the user as they would from the child."""
    if not isinstance(src, str) or len(src) > PRECOMPILE_MAX:
        return None
    try:
        return compile_code(src)
    except Exception as e:  # SyntaxError, ValueError (NUL), RecursionError, MemoryError
        e.__traceback__ = None
        return e


def report_exception():
    etype, value, tb = sys.exc_info()
    # Hide the driver's own frames: the traceback starts in the user's code.
    while tb is not None and tb.tb_frame.f_code.co_filename != "<code>":
        tb = tb.tb_next
    if isinstance(value, SyntaxError):
        tb = None
    traceback.print_exception(etype, value, tb, file=sys.stderr)


RLIMITS = (("cpu", resource.RLIMIT_CPU), ("fsize", resource.RLIMIT_FSIZE),
           ("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC),
           ("as", resource.RLIMIT_AS))


def rlimits(req, session):
    """The (resource, (soft, hard)) pairs a child sets, worked out in the
    zygote: the less a child does before user code, the fewer pages it
    copies."""
    rl = req.get("rlimits", {})
    out = [(resource.RLIMIT_CORE, (0, 0))]
    for name, key in RLIMITS:
        v = rl.get(name, 0)
        if v > 0 and not (session and name == "cpu"):  # a session sets cpu per execution
            out.append((key, (v, v + 1 if name == "cpu" else v)))
    return out


def setup_identity(limits, wd, session):
    """In a forked child: own session, limits, the execution user. An
    execution's child gets its work dir, stdio and OOM score from the
    zygote (see fork_with) and keeps the zygote's HOME (the work dir's fixed
    path); a session's child does all of it here and gets its own HOME."""
    os.setsid()
    if not ISOLATED:
        # Isolated, the worker's init exits with the zygote and the kernel
        # then kills every process of the namespace.
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if session or not OOM_BY_ZYGOTE:
        try:
            # The OOM killer takes the execution, not the zygote. (os.open:
            # a Python file object here costs a child ~150 µs more.)
            fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
            os.write(fd, b"1000")
            os.close(fd)
        except OSError:
            pass
    # Below the zygote in its own cgroup: a fork bomb's hundred spinning
    # processes must not starve the zygote that has to kill them.
    os.setpriority(os.PRIO_PROCESS, 0, 10)
    for key, value in limits:
        resource.setrlimit(key, value)
    drop_capabilities()
    if session:
        os.chdir(wd)
        os.environ["HOME"] = wd


def drop_capabilities():
    """Leaves the child with no capability now or after any exec: the
    bounding set is emptied (while CAP_SETPCAP is still held), then the
    child becomes the execution user, then whatever remains is cleared
    (in a one-id user namespace the child stays the namespace's root)."""
    if EXEC_UID < 0:
        # Still the namespace's root: an exec would regain the bounding
        # set. With an execution user of its own, setuid clears every
        # capability and no_new_privs keeps exec from granting any.
        for cap in range(CAP_LAST + 1):
            _prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    if EXEC_UID >= 0:
        os.setgroups([])
        os.setgid(EXEC_UID)
        os.setuid(EXEC_UID)
    if _capset(_CAP_HEADER, _CAP_NONE) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def prepare_stdio():
    """Builds, once, the stdin, stdout and stderr every child uses: fds 0-2
    become stand-in pipes, which each child replaces with the host's by
    dup2, so the wrappers over them are made here and not in every child
    (where they cost ~50 copied pages). A wrapper remembers whether its
    file was seekable when it was made: over a pipe, like the host's. The
    zygote's own messages go on to the stream it started with."""
    global LOG, STAND_INS
    LOG = io.TextIOWrapper(io.FileIO(os.dup(2), "w"), encoding="utf-8",
                           errors="backslashreplace", write_through=True)
    for fd in (0, 1, 2):
        r, w = os.pipe()
        os.dup2(r if fd == 0 else w, fd)
        os.close(r)
        os.close(w)
    # Kept to put back on 0-2 after each fork (the host's pipes are there
    # while the zygote forks: see fork_with).
    STAND_INS = (os.dup(0), os.dup(1), os.dup(2))
    sys.__stdin__, sys.__stdout__, sys.__stderr__ = new_stdio()
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, LOG, LOG


def new_stdio():
    return (io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8", errors="replace"),
            io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                             errors="backslashreplace", write_through=True),
            io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                             errors="backslashreplace", write_through=True))


def setup_stdio(fds):
    """Makes the host's pipes a session's stdin, stdout and stderr, with
    fresh wrappers for each execution: one must not read what the last
    left in stdin's buffer. (An execution's child inherits them: see
    fork_with.)"""
    for target, fd in enumerate(fds[:3]):
        os.dup2(fd, target)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    sys.stdin, sys.stdout, sys.stderr = new_stdio()


def write_files(req, wd):
    import base64

    for f in req.get("files", []):
        path = safe_path(wd, f["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(base64.b64decode(f["data"]))


def run_request(req, g, shown=None, compiled=None):
    """Runs one request's code, or what precompile made of it; returns the
    exit code it stands for. With shown (a list), a displayed last value is
    appended to it."""
    code = 0
    try:
        if compiled is None:
            compiled = compile_code(req["code"])
        elif isinstance(compiled, BaseException):
            raise compiled
        value = run_code(compiled, g, display=shown is not None and req.get("display", False))
        if value is not None:
            shown.append(value)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, (int, type(None))):
            print(e.code, file=sys.stderr)
    except BaseException:
        report_exception()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return code & 0xFF


def child_main(req, limits, wd, g, compiled):
    code = 1
    try:
        setup_identity(limits, wd, False)
        # Nothing but stdio reaches user code (the host socket least of all).
        os.closerange(3, 1 << 20)
        write_files(req, wd)
        code = run_request(req, g, compiled=compiled)
    except BaseException:
        try:
            report_exception()
        except BaseException:
            pass
    os._exit(code)


def session_main(req, wd):
    """A session: one long-lived child that keeps its globals across
    executions. It takes over the control socket; the zygote only waits."""
    try:
        setup_identity(rlimits(req, True), wd, True)
        _prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except BaseException as e:
        send({"ev": "exit", "id": req.get("id"), "error": "session setup: %s" % e})
        os._exit(1)
    g = dict(BASE_GLOBALS)
    send({"ev": "session", "id": req.get("id")})
    saved = [os.dup(0), os.dup(1), os.dup(2)]
    while True:
        try:
            msg, fds = recv()
        except EOFError:
            os._exit(0)
        if msg.get("op") != "exec":
            for fd in fds:
                os.close(fd)
            continue
        before = resource.getrusage(resource.RUSAGE_SELF)
        cpu = msg.get("rlimits", {}).get("cpu", 0)
        if cpu > 0:
            # RLIMIT_CPU counts the process's whole life: each execution
            # gets its own allowance on top of what the session used.
            used = int(before.ru_utime + before.ru_stime) + 1
            resource.setrlimit(resource.RLIMIT_CPU, (used + cpu, resource.RLIM_INFINITY))
        ev = {"ev": "exit", "id": msg.get("id"), "code": 1, "signal": 0}
        try:
            setup_stdio(fds)
            write_files(msg, wd)
            shown = []
            ev["code"] = run_request(msg, g, shown)
            if shown:
                ev["display"] = shown[0]
        except BaseException:
            report_exception()
        for target, fd in enumerate(saved):
            os.dup2(fd, target)
        kill_leftovers(os.getpid(), keep=(os.getppid(),))
        after = resource.getrusage(resource.RUSAGE_SELF)
        ev["utime_us"] = int((after.ru_utime - before.ru_utime) * 1e6)
        ev["stime_us"] = int((after.ru_stime - before.ru_stime) * 1e6)
        ev["maxrss_kb"] = after.ru_maxrss
        ev["files"], ev["errors"] = fetch(wd, msg.get("fetch", []))
        send(ev)


def children():
    """This process's children, or None where the kernel does not list them."""
    try:
        fd = os.open("/proc/thread-self/children", os.O_RDONLY)
    except OSError:
        return None
    try:
        data = b""
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(fd)
    return [int(p) for p in data.split()]


def reap():
    """Collects the exit status of every child already dead."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_namespace():
    """Isolated, the worker's pid namespace holds its init, this process
    and the execution's processes only: kill(-1) reaches all of the last
    at once. Killed one by one, a fork bomb refills the pids freed under
    it: with a 2 s wall time, bombs were answered after 2.3-3.8 s, and
    the CPU their cleanup took stalled the other workers' executions;
    with kill(-1), after 2.04-2.45 s. A process forking at that moment
    has its fork aborted by the pending SIGKILL."""
    try:
        os.kill(-1, signal.SIGKILL)
    except OSError:
        pass


def kill_leftovers(child, keep=()):
    """Kills what an execution left behind: daemons, stopped or zombie kin.
    This process is a child subreaper, so whatever outlived the execution's
    process was handed to it: no children means nothing left, which one
    small read tells (listing /proc cost ~80 µs an execution). Otherwise
    every process but the spared ones is killed (the whole namespace when
    isolated; else this process's descendants, which reach it as their
    parents die) until none is left."""
    kids = children()
    if kids is not None and not kids:
        return
    if kids is None and not ISOLATED:
        try:
            os.killpg(child, signal.SIGKILL)
        except OSError:
            pass
        return
    if ISOLATED and not keep:
        kill_namespace()
    spared = {1, os.getpid()} | set(keep)
    for _ in range(1000):
        if ISOLATED:
            others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in spared]
        else:
            others = children() or []
        if not others:
            return
        for p in others:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        reap()
        select.select([], [], [], 0.001)
    raise RuntimeError("leftover processes survive SIGKILL")


IPC_RMID = 0


# Made and bound once: objects made per execution cost the zygote copied
# pages after every fork.
_ipc_buf = (ctypes.c_int * 32)()
_shmctl, _msgctl, _semctl = libc.shmctl, libc.msgctl, libc.semctl


def ipc_in_use():
    """Whether the namespace holds any System V IPC object: three *_INFO
    calls, cheaper than reading /proc/sysvipc after every execution."""
    buf = _ipc_buf
    if _shmctl(0, 14, buf) >= 0 and buf[0]:  # SHM_INFO: used_ids
        return True
    if _msgctl(0, 12, buf) >= 0 and buf[0]:  # MSG_INFO: msgpool (queues in use)
        return True
    if _semctl(0, 0, 19, buf) >= 0 and buf[7]:  # SEM_INFO: semusz (sets in use)
        return True
    return False


def remove_ipc():
    """Removes System V IPC objects an execution created (the worker has
    its own IPC namespace, so all of them are the execution's). Only their
    owner may remove them, so a short-lived child does it as that user."""
    if not ipc_in_use():
        return
    found = []
    for kind in ("shm", "msg", "sem"):
        try:
            with open("/proc/sysvipc/" + kind) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        found += [(kind, int(r.split()[1])) for r in rows if len(r.split()) > 1]
    if not found:
        return
    pid = os.fork()
    if pid == 0:
        try:
            if EXEC_UID >= 0:
                os.setgid(EXEC_UID)
                os.setuid(EXEC_UID)
            for kind, ident in found:
                if kind == "shm":
                    libc.shmctl(ident, IPC_RMID, None)
                elif kind == "msg":
                    libc.msgctl(ident, IPC_RMID, None)
                else:
                    libc.semctl(ident, 0, IPC_RMID, 0)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


_empty_sizes = {}


def clean_shared():
    """Empties what executions share besides their work dir: /tmp,
    /dev/shm, POSIX message queues and System V IPC, so nothing carries
    over to the next one. A tmpfs directory's size counts its entries, so
    one still at its empty size is skipped without being listed."""
    if not ISOLATED:
        return
    for d in ("/tmp", "/dev/shm", "/dev/mqueue"):
        try:
            if d in _empty_sizes and os.stat(d).st_size == _empty_sizes[d]:
                continue
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            p = os.path.join(d, n)
            if os.path.isdir(p) and not os.path.islink(p):
                remove_tree(p)
            else:
                try:
                    os.unlink(p)
                except OSError:
                    pass
        if d != "/dev/mqueue" and not os.listdir(d):
            _empty_sizes[d] = os.stat(d).st_size
    remove_ipc()


def fetch(wd, names):
    import base64
    out, errors = [], []
    for rel in names:
        try:
            path = safe_path(wd, rel)
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                st = os.fstat(fd)
                if not (st.st_mode & 0o170000 == 0o100000):
                    raise ValueError("%s is not a regular file" % rel)
                if st.st_size > FETCH_MAX:
                    raise ValueError("%s is larger than %d bytes" % (rel, FETCH_MAX))
                data = os.read(fd, FETCH_MAX + 1)
            finally:
                os.close(fd)
            out.append({"path": rel, "data": base64.b64encode(data).decode()})
        except (OSError, ValueError) as e:
            errors.append("fetch %s: %s" % (rel, e.strerror if isinstance(e, OSError) else e))
    return out, errors


# One poller for the zygote's life (a select per execution made more
# objects, each a copied page).
_poller = select.poll()
_poller.register(sock, select.POLLIN)


def wait_child(pid):
    """Waits for the child while honouring kill requests from the host."""
    pidfd = os.pidfd_open(pid)
    _poller.register(pidfd, select.POLLIN)
    try:
        while True:
            if any(fd == pidfd for fd, _ in _poller.poll()):
                break
            msg, fds = recv()
            for fd in fds:
                os.close(fd)
            if msg.get("op") == "kill":
                if ISOLATED:
                    kill_namespace()
                    continue
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
    finally:
        _poller.unregister(pidfd)
        os.close(pidfd)
    _, status, ru = os.wait4(pid, 0)
    return status, ru


def make_work_dir(wd):
    try:
        os.mkdir(wd, 0o700)
    except FileExistsError:
        # What the last cleanup left is removed now; if that fails too, the
        # error reaches the host, which replaces the worker, rather than
        # let the files reach this execution.
        remove_tree(wd)
        os.mkdir(wd, 0o700)
    if EXEC_UID >= 0:
        os.chown(wd, EXEC_UID, EXEC_UID)


def fork_with(fds, wd, src):
    """Forks a child that starts in wd, with the host's pipes as its stdin,
    stdout and stderr, the OOM killer's first pick, and src precompiled.
    The zygote sets all of that on itself around the fork, where it costs
    a few system calls, rather than in the child, where every call touches
    shared pages that the child then copies (measured: ~20 fewer faults
    and ~0.1 ms less CPU an execution). Returns the pid and, in the child,
    what precompile made of src."""
    try:
        os.chdir(wd)
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__
        compiled = precompile(src)
        if OOM_BY_ZYGOTE:
            os.pwrite(OOM_FD, b"1000", 0)
        pid = os.fork()
    except BaseException:
        restore_zygote(fds)
        raise
    if pid != 0:
        restore_zygote(fds)
        return pid, None
    return pid, compiled


def restore_zygote(fds):
    """Undoes fork_with's changes to the zygote."""
    if OOM_BY_ZYGOTE:
        os.pwrite(OOM_FD, OOM_OWN, 0)
    sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, LOG, LOG
    for target, fd in enumerate(STAND_INS):
        os.dup2(fd, target)
    for fd in fds:
        os.close(fd)


def do_exec(req, fds):
    wd = EXEC_DIR
    make_work_dir(wd)
    limits = rlimits(req, False)
    g = dict(BASE_GLOBALS)
    pid, compiled = fork_with(fds, wd, req.get("code"))
    if pid == 0:
        child_main(req, limits, wd, g, compiled)
    status, ru = wait_child(pid)
    kill_leftovers(pid)
    files, errors = fetch(wd, req.get("fetch", []))
    remove_tree(wd)
    clean_shared()
    code, sig = -1, 0
    if os.WIFEXITED(status):
        code = os.WEXITSTATUS(status)
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    if files or errors:
        send({"ev": "exit", "id": req.get("id"), "code": code, "signal": sig,
              "utime_us": int(ru.ru_utime * 1e6), "stime_us": int(ru.ru_stime * 1e6),
              "maxrss_kb": ru.ru_maxrss, "files": files, "errors": errors})
    else:
        # The usual event, formatted without the JSON encoder, whose objects
        # cost the zygote ~25 copied pages after every fork.
        send_frame(EXIT_EVENT % (req.get("id"), code, sig, int(ru.ru_utime * 1e6),
                                 int(ru.ru_stime * 1e6), ru.ru_maxrss))


EXIT_EVENT = (b'{"ev":"exit","id":%d,"code":%d,"signal":%d,"utime_us":%d,'
              b'"stime_us":%d,"maxrss_kb":%d}')


def warm_up():
    """Runs the per-execution code paths once in the zygote: what they
    initialise lazily (the compiler's state, io wrappers) is then shared
    with every child instead of being rebuilt, page by copied page, in each
    one. Measured here: a child's compile went from 1.1 ms to 0.4 ms CPU."""
    import gc

    saved = sys.stdout
    try:
        sys.stdout = io.StringIO()
        run_code(compile_code("x = [i * i for i in range(3)]\nprint(x)\nx"), dict(BASE_GLOBALS))
        run_code(compile_code("y = 1"), dict(BASE_GLOBALS), display=True)
    finally:
        sys.stdout = saved
    json.loads(json.dumps({"ev": "exit", "files": [], "errors": []}))
    # Keep the collector away from the zygote's objects in every child:
    # scanning them would copy their pages.
    gc.collect()
    gc.freeze()


def oom_by_zygote():
    """Whether the zygote can raise its OOM score for a fork and lower it
    again (an unprivileged process may, down to the floor a privileged
    writer set): then the child inherits 1000 without writing it."""
    try:
        fd = os.open("/proc/self/oom_score_adj", os.O_RDWR)
    except OSError:
        return -1, b"", False
    try:
        own = os.pread(fd, 16, 0).strip()
    except OSError:
        os.close(fd)
        return -1, b"", False
    try:
        os.pwrite(fd, b"1000", 0)
        os.pwrite(fd, own, 0)
        if os.pread(fd, 16, 0).strip() == own:
            return fd, own, True
    except OSError:
        pass
    try:
        os.pwrite(fd, own, 0)
    except OSError:
        pass
    os.close(fd)
    return -1, b"", False


OOM_FD, OOM_OWN, OOM_BY_ZYGOTE = oom_by_zygote()


def main():
    prepare_stdio()
    warm_up()
    send({"ev": "ready", "pid": os.getpid(), "version": sys.version.split()[0], "exec_uid": EXEC_UID})
    while True:
        try:
            req, fds = recv()
        except EOFError:
            return
        op = req.get("op")
        if op == "exec":
            try:
                do_exec(req, fds)
            except Exception as e:
                send({"ev": "exit", "id": req.get("id"), "error": "zygote: %s" % e})
        elif op == "session":
            for fd in fds:
                os.close(fd)
            wd = os.path.join(WORK_ROOT, "s")
            make_work_dir(wd)
            pid = os.fork()
            if pid == 0:
                session_main(req, wd)
            # The session owns the socket now; the worker ends with it.
            os.waitpid(pid, 0)
            return
        else:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":
    main()
