"""`s2s-dbt` makes dbt die with the process that started it (issue 9, item 19).

dbt started by a run that is then killed with SIGKILL used to live on, holding the warehouse's
lock, as long as it had nothing to write (a broken pipe only stops it at its next log line). Here
the "dbt" beside the interpreter is a stand-in that sleeps without writing, so only the
parent-death signal can end it. The full run is killed during a real dbt build in
test_end_to_end.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

PARENT = """
import subprocess, sys, time
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
time.sleep(120)
"""


def ended(process: psutil.Process, within: float) -> bool:
    """Whether the process ends within `within` seconds; a zombie has ended (it waits for a reaper
    that may never come here: the container's init does not reap)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def fake_virtualenv(folder: Path) -> Path:
    """A folder with this Python and a `dbt` that sleeps for two minutes, writing nothing."""
    folder.mkdir()
    python = folder / "python"
    python.symlink_to(sys.executable)
    dbt = folder / "dbt"
    dbt.write_text("#!/bin/sh\nexec sleep 120\n")
    dbt.chmod(0o755)
    return python


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals are Linux's")
@pytest.mark.parametrize("wrapped", [True, False], ids=["s2s-dbt", "plain_dbt"])
def test_dbt_dies_with_its_parent_only_through_the_wrapper(tmp_path, wrapped):
    python = fake_virtualenv(tmp_path / "venv")
    command = [str(python), "-m", "dagster_project.dbt_child"] if wrapped else [str(tmp_path / "venv" / "dbt")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *command], stdout=subprocess.PIPE, text=True, env=env)
    dbt = psutil.Process(int(parent.stdout.readline()))
    try:
        deadline = time.monotonic() + 30
        while dbt.status() != psutil.STATUS_ZOMBIE and dbt.name() != "sleep" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dbt.name() == "sleep" and dbt.status() != psutil.STATUS_ZOMBIE  # "dbt" is running
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()

        assert ended(dbt, within=30 if wrapped else 5) is wrapped
    finally:
        if dbt.is_running():
            dbt.kill()
