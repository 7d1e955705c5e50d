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


def interrupted_in_its_query(tmp_path, env: dict[str, str], server: psutil.Process | None) -> tuple[int, str]:
    """Start dbt's busy query through s2s-dbt, interrupt s2s-dbt once dbt is in it: (status, output)."""
    warehouse = tmp_path / "warehouse.duckdb"
    client = subprocess.Popen(
        dbt_args([*WRAPPED_DBT, *BUSY], tmp_path / "target"),
        env={**env, "S2S_WAREHOUSE": str(warehouse)},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    dbt = dbt_in_its_query(server, warehouse) if server else psutil.Process(client.pid)
    if not server:
        deadline = time.monotonic() + 120
        while not has_open(dbt, warehouse) and time.monotonic() < deadline:
            time.sleep(0.1)
    try:
        client.send_signal(signal.SIGINT)
        out, _ = client.communicate(timeout=60)
        assert ended(dbt, within=30)
        return client.returncode, out
    finally:
        for process in (dbt, psutil.Process(client.pid) if client.poll() is None else None):
            if process is not None and process.is_running():
                process.kill()


def test_an_interrupt_to_s2s_dbt_stops_dbt_as_it_stops_dbt_run_alone(tmp_path, server):
    """dagster-dbt stops dbt on a cancelled run by interrupting the process it started: dbt gets the
    interrupt itself (its own KeyboardInterrupt, its status 2), not just the end of its client."""
    from dagster_project import dbt_forkserver

    env = env_for(tmp_path / "unused.duckdb")
    alone = {k: v for k, v in env.items() if k != dbt_forkserver.ENV}
    served = interrupted_in_its_query(tmp_path / "served", env, psutil.Process(dbt_forkserver._server.pid))
    by_itself = interrupted_in_its_query(tmp_path / "alone", alone, None)
    assert served[0] == by_itself[0] == 2
    assert "KeyboardInterrupt" in served[1] and "KeyboardInterrupt" in by_itself[1]
