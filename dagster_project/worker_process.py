"""Worker processes beside the dbt build (quality/worker.py, customer_value/worker.py). Each has a folder
of its own with its job, its log and its answer; it dies with the run (PR_SET_PDEATHSIG, set by the
worker); one that fails keeps its folder as `<folder>.failed` and fails the step that waits for it,
naming its log. A worker's new folder clears what earlier runs left under its root, but the newest
failed folders (`dagster.failed_worker_folders_kept` in config/warehouse.yml) stay for reading."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from dagster_project.warehouse import warehouse_config

JOB_FILE, LOG_FILE = "job.json", "worker.log"
FAILED_SUFFIX = ".failed"


def new_folder(root: Path, clear: bool = True) -> Path:
    """A new, empty folder under `root` for one worker. Unless `clear` is False (a worker started before
    the run holds the warehouse: early_workers.py), what earlier runs left there goes first
    (`clear_leftovers`)."""
    if clear:
        clear_leftovers(root)
    folder = root / uuid.uuid4().hex
    folder.mkdir(parents=True)
    return folder


def clear_leftovers(root: Path, keep: Path | None = None) -> None:
    """Remove what earlier runs left under `root`: a folder of a run that stopped before collecting its
    worker, and failed folders but the newest few, whose logs the failed steps named. `keep`: this
    run's own worker folder. Called by a step of a run that holds the warehouse, so that another run
    cannot be using them (DuckDB lets one process open the file)."""
    keep_failed = int(warehouse_config("dagster")["failed_worker_folders_kept"])
    if root.is_dir():
        failed = sorted(
            (d for d in root.iterdir() if d.is_dir() and d.name.endswith(FAILED_SUFFIX)),
            key=lambda d: d.stat().st_mtime,
            reverse=True,
        )
        kept = {d.name for d in failed[:keep_failed]} | ({keep.name} if keep else set())
        for entry in root.iterdir():
            if entry.name in kept:
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def spawn(module: str, folder: Path, job: dict, stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
    """Write the job to `folder` and start `python -m <module> <job file>`, its output to the log."""
    (folder / JOB_FILE).write_text(json.dumps(job), encoding="utf-8")
    with open(folder / LOG_FILE, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, str(folder / JOB_FILE)], stdout=log, stderr=subprocess.STDOUT, stdin=stdin
        )


def tell(process: subprocess.Popen, line: str) -> None:
    """Write `line` (may be empty) to a worker's input and close it: one line, then end of input."""
    if process.stdin is None or process.stdin.closed:
        return
    try:
        if line:
            process.stdin.write(line.encode())
        process.stdin.close()
    except BrokenPipeError:  # it died: the step that waits for it reports its log
        pass


def failure(folder: Path, code: int | None, what: str) -> RuntimeError:
    """The error for a worker that failed (exit `code`, or no answer): its folder is kept, renamed."""
    log = folder / LOG_FILE
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.is_file() else ""
    kept = folder.with_name(folder.name + FAILED_SUFFIX)
    shutil.rmtree(kept, ignore_errors=True)
    folder.rename(kept)
    kept.touch()  # its mtime says when it failed: new_folder keeps the newest
    return RuntimeError(f"the {what} worker failed (exit {code}); its log: {kept / LOG_FILE}\n{tail}")
