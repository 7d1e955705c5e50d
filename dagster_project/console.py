"""What `run` shows on screen, and the run log that holds everything else.

On screen: one line per step with its duration and counts (the ingestion steps, one per entity, as a
single line), then the summary. Everything else (Dagster's event log at DEBUG, dagster-dbt's copy of
dbt's output, library output and Python warnings) goes to one file per run under the warehouse
folder, `logs/run-<UTC time>.log`, which the summary names. `--verbose` also puts it all on screen.

The routing uses Dagster's own logger mechanism (a job's loggers, chosen per run in the run config),
and Python's `logging.captureWarnings`. dagster-dbt writes dbt's lines to `sys.stdout` itself and
libraries print, so while the job runs `sys.stdout`/`sys.stderr` point at the log file.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import dagster as dg

KEEP_LOGS = 20  # run logs kept in the warehouse's logs/ folder (the oldest go first)
_FORMAT = "%(asctime)s - %(name)s - %(levelname)s - %(message)s"


def new_run_log(warehouse: Path, keep: int = KEEP_LOGS) -> Path:
    """A fresh log file beside the warehouse (`<warehouse folder>/logs/run-<UTC time>.log`)."""
    folder = warehouse.absolute().parent / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("run-*.log"))[: max(len(list(folder.glob("run-*.log"))) - keep + 1, 0)]:
        old.unlink(missing_ok=True)
    return folder / f"run-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}.log"


@dataclass
class _Step:
    seconds: float = 0.0
    assets: int = 0
    checks: int = 0
    checks_failed: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    drops_loaded: int = 0
    failed: bool = False
    started: float | None = None


def _count(value: object) -> int:
    raw = getattr(value, "value", value)
    return raw if isinstance(raw, int) else 0


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


class StepLines(logging.Handler):
    """A logging handler on the run's Dagster events: prints a line when a step ends, and collects
    the warnings logged during the run (printed once, grouped, in the summary)."""

    def __init__(self, out: TextIO, group_steps: dict[str, str]):
        super().__init__(level=logging.DEBUG)
        self.out = out
        self.group_steps = group_steps  # step key -> group shown as one line (the ingestion entities)
        self.steps: dict[str, _Step] = {}
        self.warnings: Counter = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        if event is None:
            if record.levelno >= logging.WARNING:
                self.warnings[_kind(meta.get("orig_message") or record.getMessage())] += 1
            return
        step_key = event.step_key
        if step_key is None:
            return
        step = self.steps.setdefault(step_key, _Step())
        kind = event.event_type_value
        if kind == "ASSET_MATERIALIZATION":
            step.assets += 1
            metadata = event.event_specific_data.materialization.metadata
            step.rows_loaded += _count(metadata.get("rows_loaded"))
            step.rows_quarantined += _count(metadata.get("rows_quarantined"))
            step.drops_loaded += _count(metadata.get("drops_loaded"))
        elif kind == "ASSET_CHECK_EVALUATION":
            step.checks += 1
            step.checks_failed += 0 if event.event_specific_data.passed else 1
        elif kind == "STEP_START":
            step.started = record.created
            if self.out.isatty() and step_key not in self.group_steps:  # a long step shows it is running
                print(f"  {step_key:<34} running", end="\r", file=self.out, flush=True)
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            step.seconds = max(record.created - (step.started or record.created), 0.001)
            step.failed = kind == "STEP_FAILURE"
            self._step_done(step_key)
        elif kind == "STEP_SKIPPED":
            self._print(f"  {step_key:<34} skipped (an upstream step failed)")

    def _step_done(self, step_key: str) -> None:
        group = self.group_steps.get(step_key)
        if group is None:
            self._print(self._line(step_key, self.steps[step_key], rows=False))
            return
        members = [k for k, g in self.group_steps.items() if g == group]
        if all(k in self.steps and (self.steps[k].seconds or self.steps[k].failed) for k in members):
            total = _Step(failed=any(self.steps[k].failed for k in members))
            for k in members:
                s = self.steps[k]
                total.seconds += s.seconds
                total.assets += s.assets
                total.rows_loaded += s.rows_loaded
                total.rows_quarantined += s.rows_quarantined
                total.drops_loaded += s.drops_loaded
                total.checks += s.checks
                total.checks_failed += s.checks_failed
            self._print(self._line(f"{group} ({len(members)} entities)", total, rows=True))

    @staticmethod
    def _line(name: str, step: _Step, rows: bool) -> str:
        parts = [_plural(step.assets, "asset")] if step.assets else ["nothing materialized"]
        if rows:  # the ingestion's own accounting (other assets' metadata may reuse these names)
            parts.append(
                f"{step.drops_loaded:,} drops, {step.rows_loaded:,} rows loaded, {step.rows_quarantined:,} quarantined"
            )
        if step.checks:
            failed = f" ({step.checks_failed} failed)" if step.checks_failed else ""
            parts.append(_plural(step.checks, "check") + failed)
        status = "FAILED" if step.failed else "ok"
        return f"  {name:<34} {status:<6} {_seconds(step.seconds):>7}  {', '.join(parts)}"

    def _print(self, line: str) -> None:
        print(f"{line}\033[K" if self.out.isatty() else line, file=self.out, flush=True)  # over "running"


def _kind(message: str) -> str:
    """A warning's kind: its first line with quoted names (a dbt test, a file) left out, so the 63
    copies of one dagster-dbt warning about 63 tests count as one kind."""
    return re.sub(r"`[^`]*[_./][^`]*`", "`…`", _first_line(message))


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


class _Tee:
    """A text stream writing to two streams (--verbose: the screen and the run log)."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


class _RunLogFile:
    """The run log file, never the reason a run fails: on a full disk (the log lives beside the
    warehouse) the first write error is kept, later lines are dropped, and the summary says so."""

    def __init__(self, path: Path):
        self.stream = path.open("a", encoding="utf-8", buffering=1)
        self.failed: str | None = None

    def write(self, text: str) -> int:
        if self.failed is None:
            try:
                self.stream.write(text)
            except OSError as exc:
                self.failed = exc.strerror or str(exc)
        return len(text)

    def flush(self) -> None:
        if self.failed is None:
            try:
                self.stream.flush()
            except OSError as exc:
                self.failed = exc.strerror or str(exc)

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        try:
            self.stream.close()
        except OSError as exc:
            self.failed = self.failed or exc.strerror or str(exc)


@dataclass
class RunConsole:
    """The run's log file and screen: `loggers()`/`run_config()` for the job, `capture()` around it."""

    log_path: Path
    verbose: bool
    group_steps: dict[str, str]
    screen: TextIO = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        self.log = _RunLogFile(self.log_path)
        self.steps = StepLines(self.screen, self.group_steps)
        self.python_warnings: Counter = Counter()
        self._logger_defs = self._make_logger_defs()

    def _logger(self, name: str, handler: logging.Handler) -> logging.Logger:
        logger = logging.Logger(f"s2s.{name}", logging.DEBUG)
        logger.addHandler(handler)
        return logger

    def logger_defs(self) -> dict[str, dg.LoggerDefinition]:
        return self._logger_defs

    def _make_logger_defs(self) -> dict[str, dg.LoggerDefinition]:
        """The run log (Dagster's DEBUG event log, as its console logger would print it) and the step
        lines; with --verbose also Dagster's own console logger."""
        file_handler = logging.StreamHandler(self.log)
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        run_log = self._logger("run_log", file_handler)
        steps = self._logger("steps", self.steps)
        defs = {
            "run_log": dg.LoggerDefinition(lambda _: run_log, description="the run's log file"),
            "steps": dg.LoggerDefinition(lambda _: steps, description="one line per step"),
        }
        if self.verbose:
            defs["console"] = dg.colored_console_logger
        return defs

    def run_config(self) -> dict:
        loggers: dict = {name: {} for name in self.logger_defs()}
        if self.verbose:  # Dagster's own console logger, at DEBUG as when a job names no loggers
            loggers["console"] = {"config": {"log_level": "DEBUG"}}
        return {"loggers": loggers}

    @contextlib.contextmanager
    def capture(self) -> Iterator[None]:
        """Everything written to stdout/stderr and every Python warning goes to the run log (and, with
        --verbose, to the screen too)."""
        stdout, stderr = (_Tee(sys.stdout, self.log), _Tee(sys.stderr, self.log)) if self.verbose else (self.log,) * 2
        counter = _WarningCounter(self.python_warnings, self.log)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr), warnings.catch_warnings():
            previous, warnings.showwarning = warnings.showwarning, counter.show
            try:
                yield
            finally:
                warnings.showwarning = previous
                self.log.flush()

    def warning_lines(self, limit: int = 3) -> list[str]:
        """The warnings logged during the run, each kind once with its count (the log has them all)."""
        grouped = Counter({f"[log] {m}": n for m, n in self.steps.warnings.items()})
        grouped.update({f"[python] {m}": n for m, n in self.python_warnings.items()})
        if not grouped:
            return []
        lines = [f"warnings: {sum(grouped.values())} ({len(grouped)} kinds), in the run log"]
        for message, count in grouped.most_common(limit):
            lines.append(f"  {count}x {message[:150]}")
        if len(grouped) > limit:
            lines.append(f"  ... {len(grouped) - limit} more kinds")
        return lines

    def close(self) -> None:
        self.log.close()


@dataclass
class _WarningCounter:
    counts: Counter
    log: TextIO

    def show(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.counts[f"{category.__name__}: {_first_line(str(message))}"] += 1
        self.log.write(warnings.formatwarning(message, category, filename, lineno, line))
