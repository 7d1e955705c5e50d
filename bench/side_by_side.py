"""Time two checkouts of the code on the same extracts, their runs alternated: a speed change told
apart from the host's drift.

    git worktree add /tmp/before <commit>          # the code before the change
    .venv/bin/python bench/side_by_side.py /tmp/before . --raw /tmp/raw10 --pairs 4

The host of this project drifts by up to half its speed within an hour (bench/HISTORY.md), so two
full runs timed one after the other tell little: a change must be timed beside the code before it.
Each pair runs one full materialization (`python -m dagster_project run`, a new warehouse each time)
of each checkout, in the order A B, then B A, then A B, B A ...: over an even number of pairs, a
steady drift falls on both sides alike (with an odd number A runs first once more, and the report
says so). One unmeasured run of each side comes first (`--no-warmup` skips it): it parses the
checkout's dbt project and fills the machine's caches.

With `--new-day <folder>` the runs are new days instead: the folder holds one day's drops, held back
from `--raw` (bench/new_day.py's `split_last_day`, as the benchmark's new day). Each side's first
run is its full run on `--raw` without them, and its warehouse, snapshot and Dagster history are
kept as that side's base; each measured run starts from a copy of its side's base, with the day's
drops moved into `--raw` for the run and back after it.

    .venv/bin/python bench/new_day.py /tmp/raw10 2026-10-31 /tmp/day10    # hold the last day back
    .venv/bin/python bench/side_by_side.py /tmp/before . --raw /tmp/raw10 --new-day /tmp/day10

For the wall time, the CPU time (user + system of the run and of the children it waited for), the
peak memory (the largest process), ingestion's steps summed and each Dagster step, the report gives
both sides' medians, the mean of the paired differences B - A, its 95% confidence interval
(Student's t on the differences, by scipy) and in how many pairs B was lower. An interval that
holds 0 says: no difference that this many pairs can tell from the drift. Results in `--out`:
side_by_side.json and side_by_side.md. Each run's printed output and its full run log are kept in
`<work>/logs`. A failed run stops the comparison (exit 1) and is named with its side and log, after
the runs so far are written.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import measure  # noqa: E402
from new_day import deliver  # noqa: E402
from run import END, STATE, run_env, run_log, step_profile  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
INGEST_STEP_PREFIX = "raw_"  # one Dagster step per entity: raw_<source>__<entity>


def run_order(pairs: int) -> list[tuple[int, str]]:
    """(pair, side) in the order they run: A B, B A, A B, B A, ..."""
    return [(i, side) for i in range(pairs) for side in (("a", "b") if i % 2 == 0 else ("b", "a"))]


@dataclass(frozen=True)
class Difference:
    """B - A over paired runs: the mean, its 95% interval, and in how many pairs B was lower. No
    interval with one pair, nor when every pair differs by the same amount (Dagster rounds a step's
    time: equal differences are a rounding, not a certainty)."""

    a_median: float
    b_median: float
    mean: float
    low: float | None
    high: float | None
    b_lower: int
    pairs: int

    @property
    def verdict(self) -> str:
        if self.pairs == 1:
            return "one pair, no interval"
        if self.low is None:
            return "no spread, no interval"
        if self.low <= 0 <= self.high:
            return "within noise"
        return "B lower" if self.high < 0 else "B higher"


def paired_difference(a: list[float], b: list[float]) -> Difference:
    """The paired differences b[i] - a[i]: their mean and Student's t 95% interval (scipy)."""
    from scipy import stats

    if len(a) != len(b) or not a:
        raise ValueError(f"paired runs needed, got {len(a)} and {len(b)}")
    differences = [y - x for x, y in zip(a, b, strict=True)]
    low = high = None
    if len(set(differences)) > 1:
        interval = stats.ttest_rel(b, a).confidence_interval(0.95)
        low, high = float(interval.low), float(interval.high)
    return Difference(
        a_median=statistics.median(a),
        b_median=statistics.median(b),
        mean=statistics.fmean(differences),
        low=low,
        high=high,
        b_lower=sum(d < 0 for d in differences),
        pairs=len(a),
    )


def figures(measured: dict, steps: dict[str, float]) -> dict[str, float]:
    """What one run is compared by: wall, CPU, peak memory, ingestion's steps summed, each step."""
    ingest = sum(v for k, v in steps.items() if k.startswith(INGEST_STEP_PREFIX))
    return {
        "wall_s": measured["wall_s"],
        "cpu_s": measured["cpu_s"],
        "peak_rss_mib": measured["peak_rss_mib"],
        "ingest_s": ingest,
        **{f"step {k}": v for k, v in steps.items()},
    }


def one_run(code: Path, python: str, raw: Path, work: Path, log: Path, as_of: str, base: Path | None = None) -> dict:
    """A run of the checkout `code` under `work`: on a new warehouse, or on a copy of the state kept
    in `base` (a new day). What it prints goes to `log`; its full run log (under the warehouse,
    which the side's next run removes) is copied beside it."""
    for part in STATE:
        shutil.rmtree(work / part, ignore_errors=True)
        if base and (base / part).exists():
            shutil.copytree(base / part, work / part, symlinks=True)
    env = {
        **run_env(raw, work, as_of),
        # the checkout's own package, whichever checkout the interpreter's environment installed
        "PYTHONPATH": os.pathsep.join([str(code.absolute()), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    m = measure("full", [python, "-m", "dagster_project", "run"], env=env, log=log, cwd=code)
    result = {**m.as_dict(), "log": str(log)}
    full_log = run_log(log)
    if full_log != log and full_log.is_file():
        result["run_log"] = str(log.with_suffix(".run.log"))
        shutil.copyfile(full_log, result["run_log"])
    if m.returncode == 0:
        result["figures"] = figures(result, step_profile(full_log))
    return result


def compare(runs: dict[str, list[dict]], min_step_s: float) -> dict[str, Difference]:
    """Each figure both sides have in every run; steps under `min_step_s` (median) left out."""
    names = [n for n in runs["a"][0]["figures"] if all(n in r["figures"] for side in runs.values() for r in side)]
    out = {}
    for name in names:
        a = [r["figures"][name] for r in runs["a"]]
        b = [r["figures"][name] for r in runs["b"]]
        if name.startswith("step ") and max(statistics.median(a), statistics.median(b)) < min_step_s:
            continue
        out[name] = paired_difference(a, b)
    return out


def report(differences: dict[str, Difference], a: Path, b: Path, pairs: int, new_day: Path | None = None) -> str:
    def number(v: float | None) -> str:
        return "" if v is None else f"{v:,.1f}"

    lines = [
        f"A: {a}  B: {b}" + (f"  (new days: the drops of {new_day} on each side's full run)" if new_day else ""),
        "",
        "| figure | A (median) | B (median) | B - A (mean) | 95% interval | B lower | verdict |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for name, d in differences.items():
        interval = "" if d.low is None else f"[{number(d.low)}, {number(d.high)}]"
        lines.append(
            f"| {name} | {number(d.a_median)} | {number(d.b_median)} | {d.mean:+,.1f} | {interval} "
            f"| {d.b_lower} of {d.pairs} | {d.verdict} |"
        )
    if pairs % 2:
        lines += [
            "",
            f"An odd number of pairs ({pairs}): A ran first in {pairs // 2 + 1} of them; "
            "a steady drift is not cancelled.",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="a checkout of the code (the one before the change)")
    parser.add_argument("b", type=Path, help="another checkout (the one after it)")
    parser.add_argument("--raw", type=Path, required=True, help="the extracts both read (a generated sample)")
    parser.add_argument("--pairs", type=int, default=4, help="pairs of measured runs (even: a steady drift cancels)")
    parser.add_argument("--as-of", default=END.isoformat(), help="S2S_AS_OF of every run")
    parser.add_argument("--python-a", default=sys.executable, help="interpreter of checkout A (default: this one)")
    parser.add_argument("--python-b", default=sys.executable, help="interpreter of checkout B")
    parser.add_argument("--no-warmup", action="store_true", help="skip the unmeasured first run of each side")
    parser.add_argument(
        "--new-day",
        type=Path,
        help="a folder of one day's drops held back from --raw: time new days on each side's full run",
    )
    parser.add_argument("--min-step", type=float, default=1.0, help="steps faster than this (s) are left out")
    parser.add_argument("--work", type=Path, default=BENCH_DIR / "work" / "side_by_side")
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "results", help="default: bench/results beside this file"
    )
    args = parser.parse_args()
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    if args.new_day and args.no_warmup:
        parser.error("--new-day needs each side's first run: it is the base every new day starts from")
    day_files = (
        sorted(p.relative_to(args.new_day) for p in args.new_day.rglob("*") if p.is_file()) if args.new_day else []
    )
    if args.new_day and not day_files:
        parser.error(f"--new-day {args.new_day}: no drops in it")
    if any((args.raw / f).exists() for f in day_files):
        parser.error(f"the day's drops are in --raw already: {args.raw / day_files[0]}; hold them back first")

    sides = {"a": (args.a, args.python_a), "b": (args.b, args.python_b)}
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.work / "logs"
    shutil.rmtree(logs, ignore_errors=True)  # this comparison's logs only
    logs.mkdir(parents=True)
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    failed: list[dict] = []

    def store(differences: dict[str, Difference]) -> None:
        stored = {"a": str(args.a), "b": str(args.b), "new_day": args.new_day and str(args.new_day)}
        stored |= {"runs": runs, "failed": failed}
        stored["differences"] = {k: {**vars(v), "verdict": v.verdict} for k, v in differences.items()}
        (args.out / "side_by_side.json").write_text(json.dumps(stored, indent=2), encoding="utf-8")

    def base(side: str) -> Path:
        return args.work / f"{side}-base"

    def run(side: str, label: str) -> dict:
        code, python = sides[side]
        work, log = args.work / side, logs / f"{side}-{label}.log"
        if not args.new_day or label == "warmup":
            result = one_run(code, python, args.raw, work, log, args.as_of)
        else:
            try:
                deliver(args.new_day, args.raw)
                missing = [f for f in day_files if not (args.raw / f).exists()]
                if missing:  # a day taken back by hand, or lost: timing a smaller day would mislead
                    raise SystemExit(f"the day's drop {args.new_day / missing[0]} is gone; hold the day back again")
                result = one_run(code, python, args.raw, work, log, args.as_of, base(side))
            finally:  # the day taken back: the next run, and the user's folder, find --raw as it was
                deliver_back(args.raw, args.new_day, day_files)
        print(f"  {side.upper()} {label}: {result['wall_s']:.1f}s wall, {result['cpu_s']:.1f}s cpu", flush=True)
        if result["returncode"] != 0:
            failed.append({**result, "side": side, "label": label})
            store({})  # the runs so far, and the failed one
            raise SystemExit(f"side {side.upper()} ({code}) failed, exit {result['returncode']}: {result['log']}")
        return result

    if not args.no_warmup:
        for side in sides:
            run(side, "warmup")
            if args.new_day:  # the side's full run: the state each of its new days starts from
                shutil.rmtree(base(side), ignore_errors=True)
                for part in (p for p in STATE if (args.work / side / p).exists()):  # no bi/: the gate blocked it
                    shutil.copytree(args.work / side / part, base(side) / part, symlinks=True)
    for i, side in run_order(args.pairs):
        runs[side].append(run(side, f"pair{i + 1}"))
    differences = compare(runs, args.min_step)
    text = report(differences, args.a, args.b, args.pairs, args.new_day)
    print(text)
    (args.out / "side_by_side.md").write_text(text, encoding="utf-8")
    store(differences)
    for side in sides:  # the warehouses; the logs stay
        shutil.rmtree(args.work / side, ignore_errors=True)
        shutil.rmtree(base(side), ignore_errors=True)
    return 0


def deliver_back(raw: Path, held: Path, files: list[Path]) -> None:
    """Move the day's drops (`files`, relative paths) from `raw` back to `held`."""
    for name in files:
        if (raw / name).exists():
            (held / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(raw / name, held / name)


if __name__ == "__main__":
    sys.exit(main())
