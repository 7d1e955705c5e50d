"""Running a command and measuring it the way /usr/bin/time -v does: wall time, CPU time (user +
system, children included) and peak resident memory, from wait4(2)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Measurement:
    step: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def measure(step: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
            log: Path | None = None) -> Measurement:
    """Run `command` to completion; its output goes to `log` (or is discarded)."""
    out = log.open("w") if log else subprocess.DEVNULL
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=cwd, stdout=out,
                                stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        if log:
            out.close()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux: the largest of the child and the descendants it waited for.
    return Measurement(step, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode)
