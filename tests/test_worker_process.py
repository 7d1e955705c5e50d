"""The folders of the worker processes beside the dbt build (dagster_project/worker_process.py)."""

from __future__ import annotations

import os

from dagster_project.warehouse import warehouse_config
from dagster_project.worker_process import FAILED_SUFFIX, new_folder


def test_a_new_folder_clears_earlier_runs_but_the_newest_failed_folders(tmp_path) -> None:
    root = tmp_path / "frames"
    failed = []
    for age in range(5):  # five failed runs, the first the newest
        folder = root / f"run{age}{FAILED_SUFFIX}"
        folder.mkdir(parents=True)
        (folder / "worker.log").write_text(f"run {age} failed", encoding="utf-8")
        os.utime(folder, (1_700_000_000 - age * 60, 1_700_000_000 - age * 60))
        failed.append(folder)
    stopped = root / "a_run_that_stopped_before_collecting"
    stopped.mkdir()
    (stopped / "job.json").write_text("{}", encoding="utf-8")
    (root / "stray.tmp").write_text("x", encoding="utf-8")

    folder = new_folder(root)

    assert warehouse_config("dagster")["failed_worker_folders_kept"] == 3  # config/warehouse.yml
    assert folder.is_dir() and list(folder.iterdir()) == []
    left = sorted(p.name for p in root.iterdir())
    assert left == sorted(["run0.failed", "run1.failed", "run2.failed", folder.name])
    assert (root / "run0.failed" / "worker.log").read_text(encoding="utf-8") == "run 0 failed"


def test_a_new_folder_under_a_missing_root(tmp_path) -> None:
    folder = new_folder(tmp_path / "not" / "there")
    assert folder.is_dir() and folder.parent == tmp_path / "not" / "there"
