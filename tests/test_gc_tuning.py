"""The garbage collector's tuning (issue 14, start-up and small-company time): off while the code
loads, then what was loaded frozen; full collections rare in `s2s run` started from the command line,
Python's defaults anywhere else. The time it saves is measured by bench/, not here."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project import gc_tuning

REPO = Path(__file__).resolve().parents[1]


def test_loading_collects_nothing_then_freezes_what_it_loaded_and_restores_the_collector() -> None:
    assert gc.isenabled()
    collections = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        frozen_before = gc.get_freeze_count()
        with gc_tuning.loading_without_collection():
            assert not gc.isenabled()
            loaded = [[i] for i in range(50_000)]  # far more allocations than generation 0's threshold
        assert collections == []
        assert gc.isenabled()
        assert gc.get_freeze_count() >= frozen_before + len(loaded)
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()


def test_a_failed_load_still_restores_the_collector() -> None:
    with pytest.raises(ImportError), gc_tuning.loading_without_collection():
        import dagster_project.no_such_module  # noqa: F401
    assert gc.isenabled()
    gc.unfreeze()


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with gc_tuning.loading_without_collection():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


PROBE = """
import gc, json, sys
sys.argv = ["s2s", *sys.argv[1:]]
from dagster_project.cli import main
code = main() if sys.argv[1] != "--from-python" else main(sys.argv[2:])
print(json.dumps({"code": code, "threshold": gc.get_threshold()}))
"""


@pytest.mark.parametrize(
    ("command", "threshold"),
    [
        (["run"], list(gc_tuning.BATCH_THRESHOLDS)),  # the command line: one job, then exit
        (["--from-python", "run"], [700, 10, 10]),  # main(argv) from Python (tests, notebooks): defaults
    ],
)
def test_only_the_run_command_line_is_tuned_for_a_batch(tmp_path, command, threshold) -> None:
    args = [*command, "--raw-dir", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb")]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=120
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 2  # no extracts: the run stops before any step
    assert result["threshold"] == threshold
    assert gc_tuning.BATCH_THRESHOLDS[2] > 10


def test_importing_the_code_location_freezes_it_and_leaves_the_defaults() -> None:
    probe = (
        "import gc; import dagster_project.definitions; "
        "print(gc.isenabled(), gc.get_threshold(), gc.get_freeze_count() > 100_000)"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == "True (700, 10, 10) True"
