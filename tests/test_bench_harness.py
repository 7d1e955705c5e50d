"""The benchmark harness runs end to end at a tiny scale, so it cannot rot. No timing is asserted:
the figures are the benchmark's output, judged by a person against the targets in the issue."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"
sys.path.insert(0, str(BENCH.parent))
from run import STEPS, step_profile  # noqa: E402  (bench/ is scripts, not a package)


def test_harness_measures_every_step_and_the_peer_agrees(tmp_path):
    out = tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--scales",
            "0.02",
            "--profile",
            "clean",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
            "--repeat",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())["0.02"]
    for step in STEPS:
        assert results[step]["returncode"] == 0, step
        assert results[step]["wall_s"] > 0 and results[step]["peak_rss_mib"] > 0, step
    # --repeat 2: each timed step ran twice, and the faster run (the lower median of two) stands
    for step in ("floor", "full", "startup", "noop", "noop_dagster", "incremental"):
        runs = results[step]["wall_s_runs"]
        # (the figure is rounded to 2 digits, the runs to 3: 0.9654 s stands as 0.97 and is listed as 0.965)
        assert len(runs) == 2 and results[step]["wall_s"] == pytest.approx(min(runs), abs=0.006), step
    assert "wall_s_runs" not in results["generate"] and "wall_s_runs" not in results["pandas_peer"]

    def drops_loaded(log: str) -> int:  # from the run's ingest line: "..., 1,234 drops, ..."
        found = re.findall(r"^\s*ingest \(.*?([\d,]+) drops,", (out / log).read_text(), re.M)
        assert len(found) == 1, f"{log}: no ingest line (a run that found nothing new?)"
        return int(found[0].replace(",", ""))

    # each full run started from nothing; each new day from the state the full run left, with the day
    # delivered again: both read exactly the day's drops
    assert drops_loaded("scale-0.02-full.log") == drops_loaded("scale-0.02-full.2.log") > results["new_day_files"]
    for log in ("scale-0.02-incremental.log", "scale-0.02-incremental.2.log"):
        assert drops_loaded(log) == results["new_day_files"] > 0, log
    assert results["full"]["peak_tree_rss_mib"] > 0 and results["full"]["peak_by_process"]
    # the lines a user sees: the step lines and the summary, whose last line names the run log read below
    assert 10 < results["full"]["lines_printed"] < 200
    assert sum(results["new_day_rows"].values()) > 0 and results["new_day_files"] == len(results["new_day_rows"])
    assert results["peer_vs_marts"]["agree"] is True
    assert results["peer_vs_marts"]["rfm"]["customers"] > 10
    assert "raw_crm__activities" in results["full_steps"] and "dbt_models" in results["full_steps"]
    assert results["full_dbt_slowest"] and results["incremental_dbt_slowest"]
    assert set(results["ratios"]) == {"full_over_floor", "incremental_over_full", "pandas_over_marts"}
    table = (out / "results.md").read_text()
    assert "| 0.02 | full |" in table and "| target | figure | met |" in table
    assert not (tmp_path / "work" / "scale-0.02").exists()  # the data is removed unless --keep


def test_step_profile_reads_dagster_s_durations_of_a_minute_and_more(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(
        'Finished execution of step "fast" in 450ms.\n'
        'Finished execution of step "dbt_models" in 5.5s.\n'
        'Finished execution of step "bi__marts_snapshot" in 1m5s.\n'
        'Finished execution of step "raw_crm__activities" in 3m24s.\n'
        'Finished execution of step "slow" in 1h1m.\n'
    )
    assert step_profile(log) == {
        "slow": 3660.0,
        "raw_crm__activities": 204.0,
        "bi__marts_snapshot": 65.0,
        "dbt_models": 5.5,
        "fast": 0.45,
    }


def test_compare_reads_finds_a_reader_that_reads_a_damaged_file_otherwise(tmp_path):
    """bench/compare_reads.py: the same checkout read twice agrees; a copy of the reader that keeps
    the header repeated inside a file as a row (as the reader before 2026-12-06 did for a mapped
    export) is found, naming the file and the fields that differ."""
    from compare_reads import read_with, write_drops  # noqa: PLC0415

    root = Path(__file__).resolve().parent.parent
    raw = tmp_path / "raw"
    write_drops(raw, files=60, seed=5)
    same = read_with(root, raw)
    assert same == read_with(root, raw)
    assert any("rejected" in v for v in same.values()) and any(v.get("malformed") for v in same.values())

    changed = tmp_path / "changed"
    changed.mkdir()
    subprocess.run(["cp", "-r", str(root / "dagster_project"), str(changed)], check=True)
    read_py = changed / "dagster_project" / "ingest" / "read.py"
    text = read_py.read_text(encoding="utf-8")
    read_py.write_text(text.replace("if not found:\n        return 0, []", "if True:\n        return 0, []"))
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH.parent / "compare_reads.py"),
            str(root),
            str(changed),
            "--files",
            "60",
            "--seed",
            "5",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    differing = [line for line in proc.stdout.splitlines() if line.startswith("  crm/accounts/")]
    assert differing and any("malformed" in line for line in differing), proc.stdout
    assert "the header line again" in proc.stdout  # the before side's reason, as printed
