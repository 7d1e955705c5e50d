"""Worker processes beside the dbt build (quality/worker.py, customer_value/worker.py). Each has a folder
of its own with its job, its log and its answer; it dies with the run (PR_SET_PDEATHSIG, set by the
worker); one that fails keeps its folder as `<folder>.failed` and fails the step that waits for it,
naming its log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

JOB_FILE, LOG_FILE = "job.json", "worker.log"


def spawn(module: str, folder: Path, job: dict, stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
    """Write the job to `folder` and start `python -m <module> <job file>`, its output to the log."""
    (folder / JOB_FILE).write_text(json.dumps(job), encoding="utf-8")
    with open(folder / LOG_FILE, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, str(folder / JOB_FILE)], stdout=log, stderr=subprocess.STDOUT, stdin=stdin
        )


def failure(folder: Path, code: int | None, what: str) -> RuntimeError:
    """The error for a worker that failed (exit `code`, or no answer): its folder is kept, renamed."""
    log = folder / LOG_FILE
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.is_file() else ""
    kept = folder.with_name(folder.name + ".failed")
    shutil.rmtree(kept, ignore_errors=True)
    folder.rename(kept)
    return RuntimeError(f"the {what} worker failed (exit {code}); its log: {kept / LOG_FILE}\n{tail}")
