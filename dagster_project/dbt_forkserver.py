"""dbt imported once per run, ahead of its dbt steps: a fork server for `s2s-dbt`.

Each `dbt build` that dagster-dbt starts is a new process, and it spends ~1.6 s importing dbt and
its DuckDB adapter before it reads the project (~1.3 s and ~0.4 s on the small company, a third of
its second dbt step). Before each of a run's two dbt steps, the run works on one core: ingestion and
Great Expectations before the first, the customer value fit before the second. So the run starts
this server early: a process that imports dbt, then waits. Once a child has ended and no request
waits, the server warms up for the next one (`_warm_up`): what every dbt command builds on first use
is then built once, in the server, and inherited.

`s2s-dbt` (dbt_child.py) finds the server through S2S_DBT_FORKSERVER and hands it its command line,
environment, working folder and standard streams; the server forks a child that runs dbt on those
streams and reports its exit status, which `s2s-dbt` exits with. dagster-dbt reads the same output
from the same process it started. With no server (not Linux, dbt run by hand, a server that is gone
or failed) `s2s-dbt` runs dbt itself, as before: the server can only save time.

Lifetimes: the server dies with the run's process (PR_SET_PDEATHSIG), when the run stops it after its
last dbt step, and after IDLE_SECONDS without a request. A child dies when its `s2s-dbt` goes: its
connection closes. A signal to `s2s-dbt` (dagster-dbt interrupts dbt on a cancelled run) is passed
on to the child. Only a process of the same user may connect (SO_PEERCRED).
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

ENV = "S2S_DBT_FORKSERVER"  # the server's address, for `s2s-dbt`
IDLE_SECONDS = 300
READY_SECONDS = 10
_STATUS = struct.Struct("!i")
_server: subprocess.Popen | None = None
_lock = threading.Lock()


def available() -> bool:
    """Unix sockets that pass file descriptors, and parent-death signals: Linux."""
    return sys.platform.startswith("linux")


# --- the run's side -------------------------------------------------------------------------------


def start() -> None:
    """Start this process's server, unless one runs; `s2s-dbt` started from here then uses it."""
    global _server
    if not available():
        return
    with _lock:
        if _server is not None and _server.poll() is None:
            return
        address = f"\0s2s-dbt-{os.getpid()}-{secrets.token_hex(8)}"  # abstract: no file to clean up
        server = subprocess.Popen(
            [sys.executable, "-m", "dagster_project.dbt_forkserver", address.lstrip("\0")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in the terminal goes to the run, which stops dbt
        )
        # it says when it listens (~0.1 s, before it imports dbt): a client then never finds no server
        ready, _, _ = select.select([server.stdout], [], [], READY_SECONDS)
        if not ready or server.stdout.readline() != b"listening\n":
            server.kill()
            server.wait()
            return
        server.stdout.close()
        _server = server
        os.environ[ENV] = address.lstrip("\0")


def stop() -> None:
    """Stop this process's server (its running children finish their builds)."""
    global _server
    with _lock:
        os.environ.pop(ENV, None)
        if _server is not None:
            _server.terminate()
            _server.wait()
            _server = None


# --- the server -----------------------------------------------------------------------------------


def _same_user(conn: socket.socket) -> bool:
    credentials = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", credentials)
    return uid == os.getuid()


def serve(name: str) -> None:
    """Listen at abstract address `name`, import dbt, then fork a child per request; once a child has
    ended and no request waits, warm up for the next (`_warm_up`, once)."""
    from dagster_project.dbt_child import die_with_parent

    parent = os.getppid()
    die_with_parent()
    if os.getppid() != parent:
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(8)  # a client that comes while dbt is imported waits here, not in a second import
    os.write(1, b"listening\n")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    from dagster_project.dbt_child import import_dbt

    import_dbt()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    signal.signal(signal.SIGTERM, _stop)
    # until warmed up: the newest request, and a pipe that reads EOF when its child has ended
    watching: tuple[dict, int] | None = None
    warmed = False
    while True:
        watched = [listener] if watching is None else [listener, watching[1]]
        ready, _, _ = select.select(watched, [], [], IDLE_SECONDS)
        if not ready:
            return
        if listener not in ready:  # the watched child ended and no request waits
            assert watching is not None
            request, ended = watching
            os.close(ended)
            _warm_up(request)
            watching, warmed = None, True
            continue
        conn, _ = listener.accept()
        if not _same_user(conn):
            conn.close()
            continue
        try:
            conn.settimeout(READY_SECONDS)  # a client sends its request as soon as it connects
            request, fds = _receive(conn)
            conn.settimeout(None)
        except (OSError, ValueError):
            conn.close()
            continue
        ended, child_end = os.pipe()  # the child holds `child_end` until it exits
        if os.fork() == 0:
            listener.close()
            os.close(ended)
            _child(conn, request, fds)  # does not return
        os.close(child_end)
        for fd in fds:
            os.close(fd)
        conn.close()
        if watching is not None:  # a newer child: warm up after it instead
            os.close(watching[1])
        watching = None if warmed else (request, ended)
        if warmed:
            os.close(ended)


_warming: str | None = None  # the warm-up's folder while it runs: removed if the server is stopped then


def _stop(*_args) -> None:
    if _warming:
        shutil.rmtree(_warming, ignore_errors=True)
    os._exit(0)


def _warm_up(request: dict) -> bool:
    """Do once, in the server, what every dbt command does first and a child would do again: dbt
    validates its project and profile against JSON schemas it builds on first use, and mashumaro
    writes each artifact class's (de)serialiser on first use. A `dbt ls` of the last request's
    project, on a copy of its partial parse, does all of it: ~0.55 s of each later child's start
    (DECISIONLOG, "The dbt fork server warms up"). It runs after a child ended, when the run is in
    its Python steps, not beside a build; it reads no warehouse. What dbt keeps per process beyond
    that is reset after it (deprecations already shown, the environment's metadata, the adapter and
    its manifest), so a child starts as one from a server that only imported dbt. Best effort: on any
    failure the children start as before. True when the `dbt ls` succeeded."""
    global _warming
    env = request.get("env") or {}
    target = Path(request.get("cwd") or ".") / env.get("DBT_TARGET_PATH", "target")
    parsed = target / "partial_parse.msgpack"
    if not parsed.is_file():  # without it dbt parses the whole project: seconds, not worth it
        return False
    saved_env, saved_cwd, stderr = dict(os.environ), os.getcwd(), None
    try:
        # beside the invocation folders, named as they are: the dbt step prunes a folder left behind
        _warming = tempfile.mkdtemp(prefix="dbt_warm-", dir=target.parent)
        shutil.copyfile(parsed, Path(_warming) / parsed.name)
        os.environ.clear()
        os.environ.update(env, DBT_TARGET_PATH=_warming, DBT_LOG_PATH=_warming)
        os.chdir(request["cwd"])
        stderr = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)  # stdout is /dev/null already (serve)
        os.close(devnull)
        from dagster_project.dbt_child import invoke_cli

        return invoke_cli(["dbt", "ls", "--resource-type", "model", "--no-write-json", "--log-level-file", "none"]) == 0
    except BaseException:  # noqa: BLE001 - an optimisation: the children start as they did
        return False
    finally:
        _forget_invocation()
        sys.stdout.flush()
        sys.stderr.flush()
        if stderr is not None:
            os.dup2(stderr, 2)
            os.close(stderr)
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        if _warming:
            shutil.rmtree(_warming, ignore_errors=True)
            _warming = None


def _forget_invocation() -> None:
    """Reset what a dbt command leaves in its process for the next (dbt's own test fixtures do the same)."""
    try:
        from dbt.adapters.factory import reset_adapters
        from dbt_common.events import functions

        from dbt import deprecations

        deprecations.reset_deprecations()
        functions.metadata_vars = None
        reset_adapters()
    except Exception:  # noqa: BLE001, S110 - a dbt without these: nothing of them to reset
        pass


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    _, fds, _, _ = socket.recv_fds(conn, 1, 3)
    try:
        (size,) = _STATUS.unpack(_read_exactly(conn, _STATUS.size))
        return json.loads(_read_exactly(conn, size)), fds
    except BaseException:
        for fd in fds:  # the client's streams: not kept when its request does not arrive whole
            os.close(fd)
        raise


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("the client went away")
        data += chunk
    return data


def _child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    """Run one dbt command on the client's streams, with its environment and folder."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if len(fds) != 3:
            raise ConnectionError("expected the client's three standard streams")
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        conn.sendall(_STATUS.pack(os.getpid()))  # the client now forwards its signals here
        threading.Thread(target=_end_with_client, args=(conn,), daemon=True).start()
        from dagster_project.dbt_child import run_dbt

        try:
            code = run_dbt(request["argv"])
        except BaseException:  # noqa: BLE001 - reported on the client's stderr, as dbt's own crash would be
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        conn.sendall(_STATUS.pack(code))
    finally:
        os._exit(code)


def _end_with_client(conn: socket.socket) -> None:
    """The client sends nothing after its request: a read returns only when it has gone."""
    try:
        conn.recv(1)
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGKILL)


# --- `s2s-dbt`'s side -----------------------------------------------------------------------------


def run_through_server(argv: list[str], wait_seconds: float = 60.0) -> int | None:
    """Run dbt with `argv` in a child of the server named by S2S_DBT_FORKSERVER and return its exit
    status; None when there is no server to take it (the caller then runs dbt itself)."""
    name = os.environ.get(ENV)
    if not name or not available():
        return None
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(wait_seconds)  # the server may still be importing dbt: the request waits
        conn.connect("\0" + name)
        env = {k: v for k, v in os.environ.items() if k != ENV}
        request = json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}).encode()
        socket.send_fds(conn, [b"r"], [0, 1, 2])
        conn.sendall(_STATUS.pack(len(request)) + request)
        (child,) = _STATUS.unpack(_read_exactly(conn, _STATUS.size))
    except OSError:  # no server, or it went away before a child took the request
        conn.close()
        return None
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda number, _frame: os.kill(child, number))
    conn.settimeout(None)
    try:
        (code,) = _STATUS.unpack(_read_exactly(conn, _STATUS.size))
    except OSError:
        print(f"s2s-dbt: dbt (process {child}) ended without an exit status", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    serve(sys.argv[1])
