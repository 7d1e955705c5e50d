"""Running a command and measuring it the way /usr/bin/time -v does: wall time, CPU time (user +
system, children included) and peak resident memory, from wait4(2).

wait4 gives the peak of the largest single process (the run, or its dbt subprocess). A sampler
thread (psutil, every 0.2 s) adds the peak of the whole process tree at one instant and which
process held the most, to tell where memory goes."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass
class Measurement:
    step: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    returncode: int
    peak_tree_rss_mib: float = 0.0  # sampled: all processes of the command at one instant
    peak_by_process: dict[str, float] = field(default_factory=dict)  # sampled peak of each program

    def as_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


class _TreeSampler(threading.Thread):
    """Samples the RSS of a process and its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.2):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_total = 0.0
        self.peak_by_process: dict[str, float] = {}
        self.done = threading.Event()

    @staticmethod
    def _label(p: psutil.Process) -> str:
        cmd = p.cmdline()
        words = [os.path.basename(w) for w in cmd[:4] if not w.startswith("-")]
        return (" ".join(words[:3]) or p.name())[:60]

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self.done.wait(self.interval):
            total = 0.0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for p in procs:
                try:
                    rss = p.memory_info().rss / 2**20
                    name = self._label(p)
                except psutil.Error:
                    continue
                total += rss
                self.peak_by_process[name] = max(self.peak_by_process.get(name, 0.0), round(rss, 1))
            self.peak_total = max(self.peak_total, total)


def measure(
    step: str, command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, log: Path | None = None
) -> Measurement:
    """Run `command` to completion; its output goes to `log` (or is discarded)."""
    out = log.open("w") if log else subprocess.DEVNULL
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(
            command, env={**os.environ, **(env or {})}, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        sampler = _TreeSampler(proc.pid)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        sampler.done.set()
        sampler.join()
    finally:
        if log:
            out.close()
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux: the largest of the child and the descendants it waited for.
    top = dict(sorted(sampler.peak_by_process.items(), key=lambda kv: -kv[1])[:4])
    return Measurement(
        step, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, sampler.peak_total, top
    )
