"""Time two checkouts of the code on the same extracts, their runs alternated: a speed change told
apart from the host's drift.

    git worktree add /tmp/before <commit>          # the code before the change
    .venv/bin/python bench/side_by_side.py /tmp/before . --raw /tmp/raw10 --pairs 3

The host of this project drifts by up to half its speed within an hour (bench/HISTORY.md), so two
full runs timed one after the other tell little: a change must be timed beside the code before it.
Each pair runs one full materialization (`python -m dagster_project run`, a new warehouse each time)
of each checkout, in the order A B, then B A, then A B ...: a drift that is steady over two pairs
falls on both sides alike. One unmeasured run of each side comes first (`--no-warmup` skips it):
it parses a checkout's dbt project and fills the machine's caches.

For the wall time, the CPU time (user + system, children included), the peak memory and each
Dagster step (and ingestion's steps summed), the report gives both sides' medians, the mean of the
paired differences B - A, its 95% confidence interval (Student's t on the differences, by scipy)
and in how many pairs B was faster. An interval that holds 0 says: no difference this many pairs
can tell from the drift. Results: `--out` (side_by_side.json, side_by_side.md); exit 1 when a run
fails, naming its log.
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
from run import END, STATE, run_log, step_profile  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
INGEST_STEP_PREFIX = "raw_"  # one Dagster step per entity: raw_<source>__<entity>


@dataclass(frozen=True)
class Difference:
    """B - A over paired runs: the mean, its 95% interval (None with one pair), B faster in how many."""

    a_median: float
    b_median: float
    mean: float
    low: float | None
    high: float | None
    b_faster: int
    pairs: int

    @property
    def within_noise(self) -> bool:
        return self.low is None or self.low <= 0 <= self.high


def paired_difference(a: list[float], b: list[float]) -> Difference:
    """The paired differences b[i] - a[i]: their mean and Student's t 95% interval (scipy)."""
    from scipy import stats

    if len(a) != len(b) or not a:
        raise ValueError(f"paired runs needed, got {len(a)} and {len(b)}")
    differences = [y - x for x, y in zip(a, b, strict=True)]
    low = high = None
    if len(a) > 1:
        if len(set(differences)) == 1:  # no spread: the interval is the one value
            low = high = differences[0]
        else:
            interval = stats.ttest_rel(b, a).confidence_interval(0.95)
            low, high = float(interval.low), float(interval.high)
    return Difference(
        a_median=statistics.median(a),
        b_median=statistics.median(b),
        mean=statistics.fmean(differences),
        low=low,
        high=high,
        b_faster=sum(d < 0 for d in differences),
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


def one_run(code: Path, python: str, raw: Path, work: Path, log: Path, as_of: str) -> dict:
    """A full run of the checkout `code` on a new warehouse under `work`."""
    for part in STATE:
        shutil.rmtree(work / part, ignore_errors=True)
    env = {
        "S2S_RAW_DIR": str(raw.absolute()),
        "S2S_WAREHOUSE": str(work.absolute() / "warehouse" / "warehouse.duckdb"),
        "S2S_BI_DIR": str(work.absolute() / "bi"),
        "DAGSTER_HOME": str(work.absolute() / "dagster_home"),
        "S2S_AS_OF": as_of,
        # the checkout's own package, whichever checkout the interpreter's environment installed
        "PYTHONPATH": os.pathsep.join([str(code.absolute()), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    m = measure("full", [python, "-m", "dagster_project", "run"], env=env, log=log, cwd=code)
    result = {**m.as_dict(), "log": str(log)}
    if m.returncode == 0:
        result["figures"] = figures(result, step_profile(run_log(log)))
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


def report(differences: dict[str, Difference], a: Path, b: Path) -> str:
    def number(v: float | None) -> str:
        return "" if v is None else f"{v:,.1f}"

    lines = [
        f"A: {a}  B: {b}",
        "",
        "| figure | A (median) | B (median) | B - A (mean) | 95% interval | B faster | verdict |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for name, d in differences.items():
        interval = "" if d.low is None else f"[{number(d.low)}, {number(d.high)}]"
        verdict = "within noise" if d.within_noise else ("B lower" if d.high < 0 else "B higher")
        lines.append(
            f"| {name} | {number(d.a_median)} | {number(d.b_median)} | {d.mean:+,.1f} | {interval} "
            f"| {d.b_faster} of {d.pairs} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="a checkout of the code (the one before the change)")
    parser.add_argument("b", type=Path, help="another checkout (the one after it)")
    parser.add_argument("--raw", type=Path, required=True, help="the extracts both read (a generated sample)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--as-of", default=END.isoformat(), help="S2S_AS_OF of every run")
    parser.add_argument("--python-a", default=sys.executable, help="interpreter of checkout A (default: this one)")
    parser.add_argument("--python-b", default=sys.executable, help="interpreter of checkout B")
    parser.add_argument("--no-warmup", action="store_true", help="skip the unmeasured first run of each side")
    parser.add_argument("--min-step", type=float, default=1.0, help="steps faster than this (s) are left out")
    parser.add_argument("--work", type=Path, default=Path("/tmp/s2s-side-by-side"))
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "results")
    args = parser.parse_args()

    sides = {"a": (args.a, args.python_a), "b": (args.b, args.python_b)}
    args.out.mkdir(parents=True, exist_ok=True)
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def run(side: str, label: str) -> dict:
        code, python = sides[side]
        result = one_run(code, python, args.raw, args.work / side, logs / f"{side}-{label}.log", args.as_of)
        print(f"  {side.upper()} {label}: {result['wall_s']:.1f}s wall, {result['cpu_s']:.1f}s cpu", flush=True)
        if result["returncode"] != 0:
            raise SystemExit(f"side {side.upper()} ({code}) failed, exit {result['returncode']}: {result['log']}")
        return result

    if not args.no_warmup:
        for side in sides:
            run(side, "warmup")
    runs: dict[str, list[dict]] = {"a": [], "b": []}
    for i in range(args.pairs):
        for side in ("a", "b") if i % 2 == 0 else ("b", "a"):
            runs[side].append(run(side, f"pair{i + 1}"))
    differences = compare(runs, args.min_step)
    text = report(differences, args.a, args.b)
    print(text)
    (args.out / "side_by_side.md").write_text(text, encoding="utf-8")
    stored = {
        "a": str(args.a),
        "b": str(args.b),
        "runs": runs,
        "differences": {k: vars(v) for k, v in differences.items()},
    }
    (args.out / "side_by_side.json").write_text(json.dumps(stored, indent=2), encoding="utf-8")
    shutil.rmtree(args.work / "a", ignore_errors=True)
    shutil.rmtree(args.work / "b", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
