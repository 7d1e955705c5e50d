"""The run's dbt fork server (dagster_project/dbt_forkserver.py): `s2s-dbt` hands its command to a
process that imported dbt already. What dagster-dbt sees must not change: the same output on the
same pipe, the same exit status, dbt gone when the run is killed, and dbt run alone when there is no
server. Real dbt builds of this project, real processes and signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.test_dbt_child import WRAPPED_DBT, dbt_args, ended, env_for, has_open, node_events

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux's")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = ["build", "--select", "status_labels", "--indirect-selection", "cautious"]


@pytest.fixture
def server():
    """A server started as the run starts it; its address in this process's environment."""
    from dagster_project import dbt_forkserver

    dbt_forkserver.start()
    try:
        yield os.environ[dbt_forkserver.ENV]
    finally:
        dbt_forkserver.stop()


def run(command: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, int]:
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=600)
    return subprocess.CompletedProcess(command, process.returncode, out, err), process.pid


def event_pids(stdout: str) -> set[int]:
    pids = set()
    for line in stdout.splitlines():
        try:
            pids.add(json.loads(line)["info"]["pid"])
        except (ValueError, KeyError):
            continue
    return pids


def test_a_build_through_the_server_writes_and_ends_as_one_run_alone(tmp_path, server):
    from dagster_project.dbt_forkserver import ENV

    env = {**env_for(tmp_path / "warehouse.duckdb"), "DBT_LOG_FORMAT": "json", "DAGSTER_DBT_CLI": "true"}
    alone = {k: v for k, v in env.items() if k != ENV}
    assert env[ENV] == server

    served, client = run(dbt_args([*WRAPPED_DBT, *BUILD], tmp_path / "served"), env)
    by_itself, by_itself_pid = run(dbt_args([*WRAPPED_DBT, *BUILD], tmp_path / "alone"), alone)

    assert served.returncode == by_itself.returncode == 0, served.stderr[-2000:]
    assert node_events(served.stdout) == node_events(by_itself.stdout) != []
    # dbt ran in another process (the server's child) and wrote to the pipe s2s-dbt was given
    assert event_pids(served.stdout) and client not in event_pids(served.stdout)
    assert event_pids(by_itself.stdout) == {by_itself_pid}

    # a failing command fails the same way: its status and message
    missing = ["run-operation", "no_such_macro"]
    served, _ = run(dbt_args([*WRAPPED_DBT, *missing], tmp_path / "served"), env)
    by_itself, _ = run(dbt_args([*WRAPPED_DBT, *missing], tmp_path / "alone"), alone)
    assert served.returncode == by_itself.returncode != 0
    assert "no_such_macro" in served.stdout and "no_such_macro" in by_itself.stdout


def test_without_a_server_s2s_dbt_runs_dbt_itself(tmp_path):
    from dagster_project.dbt_forkserver import ENV

    env = {**env_for(tmp_path / "warehouse.duckdb"), "DBT_LOG_FORMAT": "json", ENV: "s2s-dbt-nobody-listens"}
    done, client = run(dbt_args([*WRAPPED_DBT, *BUILD], tmp_path / "target"), env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert event_pids(done.stdout) == {client}


PARENT = """
import subprocess, sys, time
from dagster_project import dbt_forkserver
dbt_forkserver.start()
client = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(dbt_forkserver._server.pid, client.pid, flush=True)
time.sleep(300)
"""

# a query that runs for minutes and prints nothing until it ends
BUSY = ["show", "--inline", "select sum(a.range * b.range) from range(100000) a, range(1000000000) b"]


def dbt_in_its_query(server: psutil.Process, warehouse, within: float = 120) -> psutil.Process:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for child in server.children():
            if has_open(child, warehouse):
                return child
        time.sleep(0.1)
    raise AssertionError("no child of the server opened the warehouse")


def test_a_killed_run_leaves_neither_the_server_nor_dbt_running(tmp_path):
    """As test_dbt_child's parent-death test: the run's process is killed outright mid-query."""
    warehouse = tmp_path / "warehouse.duckdb"
    command = dbt_args([*WRAPPED_DBT, *BUSY], tmp_path / "target")
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, *command], stdout=subprocess.PIPE, text=True, env=env_for(warehouse), cwd=REPO
    )
    server_pid, client_pid = map(int, parent.stdout.readline().split())
    server, client = psutil.Process(server_pid), psutil.Process(client_pid)
    dbt = dbt_in_its_query(server, warehouse)
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert ended(client, within=30)
        assert ended(dbt, within=30)
        assert ended(server, within=30)
    finally:
        for process in (dbt, client, server):
            if process.is_running():
                process.kill()


def test_a_signal_to_s2s_dbt_is_passed_on_to_dbt(tmp_path, server):
    """dagster-dbt stops the dbt it started with a signal (an interrupt, then a termination). s2s-dbt
    passes SIGINT and SIGTERM on to dbt, the server's child. Shown with SIGTERM, whose default action
    ends dbt at once wherever it is (dbt's own handling of an interrupt depends on what it is doing):
    dbt ends by the signal, and s2s-dbt, which was not terminated, says that dbt ended without an
    exit status. Without the forwarding, s2s-dbt itself would die of the signal (status -15)."""
    from dagster_project import dbt_forkserver

    warehouse = tmp_path / "warehouse.duckdb"
    client = subprocess.Popen(
        dbt_args([*WRAPPED_DBT, *BUSY], tmp_path / "target"),
        env=env_for(warehouse),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    dbt = dbt_in_its_query(psutil.Process(dbt_forkserver._server.pid), warehouse)
    try:
        client.send_signal(signal.SIGTERM)
        _, err = client.communicate(timeout=60)
        assert ended(dbt, within=30)
        assert client.returncode == 1
        assert f"dbt (process {dbt.pid}) ended without an exit status" in err
    finally:
        if dbt.is_running():
            dbt.kill()
        if client.poll() is None:
            client.kill()


WARM_UP_THEN_BUILD = """
import json, os, sys
from pathlib import Path
from dagster_project.dbt_child import import_dbt, invoke_cli
from dagster_project.dbt_forkserver import _warm_up

request, build, out = json.loads(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
import_dbt()
from dbt.contracts.project import Project
schemas = lambda: Project.json_schema.__func__.cache_info().currsize
before = {"schemas": schemas(), "env": dict(os.environ), "cwd": os.getcwd()}
warmed = _warm_up(request)
after = {"schemas": schemas(), "env": dict(os.environ), "cwd": os.getcwd()}
sys.stdout.flush()
out.write_text(json.dumps({"warmed": warmed, "before": before, "after": after}))
sys.exit(invoke_cli(build))  # dbt's changes applied once, by the warm-up, and a build still runs as alone
"""


def test_the_server_warms_up_without_the_warehouse_and_a_build_after_it_runs_as_one_alone(tmp_path):
    """The server's warm-up (`_warm_up`, run after a child ends): a `dbt ls` on a copy of the last
    request's partial parse, in the server's own process. Shown in a process of its own: it succeeds
    while another process holds the warehouse (so it never opens it), builds what children would build
    again (dbt's JSON schemas: the project's, cached after), leaves the environment, folder and the
    request's target folder as they were, removes its own folder, and a build in the same process then
    gives the same node events as a build alone (dbt's changes, applied by both, are applied once)."""
    from tests.test_dbt_child import DBT_DIR

    warehouse = tmp_path / "warehouse.duckdb"
    env = {**env_for(warehouse), "DBT_LOG_FORMAT": "json", "DAGSTER_DBT_CLI": "true"}
    alone, _ = run(dbt_args([*WRAPPED_DBT, *BUILD], tmp_path / "first"), env)  # the first child's build
    assert alone.returncode == 0, alone.stderr[-2000:]
    first_target = sorted(p.name for p in (tmp_path / "first").iterdir())
    assert "partial_parse.msgpack" in first_target

    request_env = {**env, "DBT_TARGET_PATH": str(tmp_path / "first"), "DBT_PROJECT_DIR": str(DBT_DIR)}
    request_env["DBT_PROFILES_DIR"] = str(DBT_DIR)
    request = {"env": request_env, "cwd": str(DBT_DIR), "argv": [*WRAPPED_DBT, *BUILD]}
    build = ["dbt", *dbt_args(BUILD, tmp_path / "second")]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys, time; c = duckdb.connect({str(warehouse)!r}); print(1, flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "1"  # the warehouse is held by another process
        out = tmp_path / "warm.json"
        warm_env = {**env, "DAGSTER_DBT_CLI": "true"}
        warmed_up = subprocess.run(
            [sys.executable, "-c", WARM_UP_THEN_BUILD, json.dumps(request), json.dumps(build), str(out)],
            env=warm_env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert warmed_up.returncode != 0  # its build could not open the held warehouse; the warm-up could
        assert "lock" in (warmed_up.stdout + warmed_up.stderr).lower()
        result = json.loads(out.read_text())
    finally:
        holder.kill()
        holder.wait()
    assert result["warmed"] is True
    assert result["before"]["schemas"] == 0 and result["after"]["schemas"] > 0
    assert result["after"]["env"] == result["before"]["env"] and result["after"]["cwd"] == result["before"]["cwd"]
    assert sorted(p.name for p in (tmp_path / "first").iterdir()) == first_target
    assert not list(tmp_path.glob("dbt_warm-*"))  # its own folder, beside the request's, removed

    # the warehouse is free again: the same process builds, as a build alone does
    again = subprocess.Popen(
        [sys.executable, "-c", WARM_UP_THEN_BUILD, json.dumps(request), json.dumps(build), str(out)],
        env=warm_env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr[-2000:]
    assert json.loads(out.read_text())["warmed"] is True
    assert node_events(stdout) == node_events(alone.stdout) != []


def test_a_server_warms_up_after_its_first_child_and_its_next_child_builds_as_one_alone(tmp_path, server):
    """The server's loop: requests as dagster-dbt sends them (target folder in DBT_TARGET_PATH, one per
    invocation). No warm-up before the first request; after its child ended the server warms up once
    (its folder, `dbt_warm-*` beside the target folders, appears and is removed); the next child's
    build gives the same node events as dbt alone."""
    from tests.test_dbt_child import DBT_DIR

    warehouse = tmp_path / "warehouse.duckdb"
    env = {**env_for(warehouse), "DBT_LOG_FORMAT": "json", "DAGSTER_DBT_CLI": "true", "DBT_PROJECT_DIR": str(DBT_DIR)}
    env["DBT_PROFILES_DIR"] = str(DBT_DIR)
    command = [*WRAPPED_DBT, *BUILD]

    def build(target: str, environment: dict) -> subprocess.CompletedProcess:
        done, _ = run(command, {**environment, "DBT_TARGET_PATH": str(tmp_path / target)})
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    alone = build("alone", {k: v for k, v in env.items() if k != "S2S_DBT_FORKSERVER"})
    assert not list(tmp_path.glob("dbt_warm-*"))
    first = build("first", env)
    seen, deadline = False, time.monotonic() + 120
    while time.monotonic() < deadline:
        warming = list(tmp_path.glob("dbt_warm-*"))
        if warming:
            seen = True
        elif seen:
            break
        time.sleep(0.02)
    assert seen and not list(tmp_path.glob("dbt_warm-*"))  # warmed up after the first child, and cleaned up
    second = build("second", env)
    assert node_events(first.stdout) == node_events(second.stdout) == node_events(alone.stdout) != []
    time.sleep(2)  # a second warm-up would have begun by now
    assert not list(tmp_path.glob("dbt_warm-*"))  # once: not again after the second child
