"""bench/side_by_side.py: two checkouts timed on the same extracts, runs alternated. No timing is
asserted: the statistics against values computed by hand, and the tool against real runs."""

import json
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOL = REPO / "bench" / "side_by_side.py"
sys.path.insert(0, str(TOOL.parent))
from side_by_side import paired_difference, run_order  # noqa: E402  (bench/ is scripts, not a package)


def test_paired_difference_against_a_hand_computed_interval():
    # differences B - A: -1, -1, -1, -2; mean -1.25; sample sd 0.5 (squares 0.0625 x 3 + 0.5625 = 0.75,
    # / 3); standard error 0.25; t(0.975, 3 df) = 3.182446; half-width 0.795612
    d = paired_difference([10, 12, 11, 13], [9, 11, 10, 11])
    assert d.mean == pytest.approx(-1.25)
    assert d.low == pytest.approx(-2.045612, abs=1e-5) and d.high == pytest.approx(-0.454388, abs=1e-5)
    assert (d.a_median, d.b_median, d.b_lower, d.pairs) == (11.5, 10.5, 4, 4)
    assert d.verdict == "B lower"
    higher = paired_difference([9, 11, 10, 11], [10, 12, 11, 13])
    assert higher.low == pytest.approx(0.454388, abs=1e-5) and higher.verdict == "B higher"


def test_an_interval_holding_zero_is_noise_and_no_interval_without_spread():
    # differences +2, -2, +1: mean 1/3; sd sqrt(((5/3)^2 + (7/3)^2 + (2/3)^2) / 2) = sqrt(13/3) = 2.081666;
    # se sqrt(13/9) = 1.201850; t(0.975, 2 df) = 4.302653; half-width 5.171145
    d = paired_difference([10, 10, 10], [12, 8, 11])
    assert d.low == pytest.approx(1 / 3 - 5.171145, abs=1e-6) and d.high == pytest.approx(1 / 3 + 5.171145, abs=1e-6)
    assert d.verdict == "within noise" and d.b_lower == 1
    one = paired_difference([10], [9])
    assert (one.mean, one.low, one.high, one.verdict) == (-1, None, None, "one pair, no interval")
    # every pair 1 s apart, as Dagster's rounded step times can be: no interval, no verdict either way
    same = paired_difference([10, 11], [9, 10])
    assert (same.mean, same.low, same.high, same.verdict) == (-1, None, None, "no spread, no interval")
    with pytest.raises(ValueError):
        paired_difference([1, 2], [1])


def test_runs_alternate_so_that_a_steady_drift_falls_on_both_sides():
    order = run_order(4)
    assert [side for _, side in order] == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert [pair for pair, _ in order] == [0, 0, 1, 1, 2, 2, 3, 3]
    # a drift adding 1 s per run: over an even number of pairs both sides gain the same in total
    assert sum(t for t, (_, s) in enumerate(order) if s == "a") == sum(t for t, (_, s) in enumerate(order) if s == "b")


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory):
    raw = tmp_path_factory.mktemp("side_by_side") / "raw"
    subprocess.run(
        [sys.executable, "-m", "dagster_project", "generate", "--scale", "0.01", "--seed", "7", "--profile", "clean"]
        + ["--end", "2026-10-31", "--out", str(raw)],
        check=True,
        capture_output=True,
        cwd=REPO,
    )
    return raw


@pytest.mark.slow
def test_the_same_checkout_twice_runs_and_reports_every_figure(small_sample, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(REPO), str(REPO), "--raw", str(small_sample), "--pairs", "1"]
        + ["--no-warmup", "--work", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "side_by_side.json").read_text())
    assert [len(result["runs"][s]) for s in ("a", "b")] == [1, 1]
    for side in ("a", "b"):
        run = result["runs"][side][0]
        assert run["returncode"] == 0 and Path(run["log"]).name == f"{side}-pair1.log"
        assert run["figures"]["ingest_s"] > 0 and run["figures"]["step dbt_models"] > 0
        # the full run log is kept beside what the run printed (its warehouse folder is removed)
        assert "STEP_SUCCESS" in Path(run["run_log"]).read_text() and Path(run["log"]).is_file()
    differences = result["differences"]
    assert {"wall_s", "cpu_s", "peak_rss_mib", "ingest_s", "step dbt_models"} <= differences.keys()
    # one pair: a difference, no interval
    assert differences["wall_s"]["low"] is None and differences["wall_s"]["verdict"] == "one pair, no interval"
    table = (out / "side_by_side.md").read_text()
    assert "| wall_s |" in table and "An odd number of pairs (1): A ran first in 1 of them" in table
    assert not (tmp_path / "work" / "a").exists()  # the warehouses are removed, the logs kept


@pytest.mark.slow
def test_new_days_start_from_each_sides_full_run_and_the_day_goes_back_after(small_sample, tmp_path):
    """--new-day: each side's first run is its full run without the day; each measured run starts
    from a copy of that state and reads the day's drops only; the day's files end where they were."""
    from new_day import split_last_day

    raw, day = tmp_path / "raw", tmp_path / "day"
    shutil.copytree(small_sample, raw)
    split_last_day(raw, date(2026, 10, 31), day)
    day_files = sorted(p.relative_to(day) for p in day.rglob("*") if p.is_file())
    assert len(day_files) >= 5
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(REPO), str(REPO), "--raw", str(raw), "--new-day", str(day), "--pairs", "1"]
        + ["--work", str(tmp_path / "work"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((out / "side_by_side.json").read_text())
    assert result["new_day"] == str(day) and [len(result["runs"][s]) for s in ("a", "b")] == [1, 1]
    for side in ("a", "b"):
        printed = Path(result["runs"][side][0]["log"]).read_text()
        ingested = re.search(r"^  ingest \(\d+ entities\) .*?, ([\d,]+) drops,", printed, flags=re.MULTILINE)
        assert ingested and int(ingested[1]) == len(day_files), printed[-2000:]  # the day, on the full run's state
        full = (tmp_path / "work" / "logs" / f"{side}-warmup.log").read_text()
        assert int(re.search(r"^  ingest \(\d+ entities\) .*?, ([\d,]+) drops,", full, flags=re.MULTILINE)[1]) > 500
    assert sorted(p.relative_to(day) for p in day.rglob("*") if p.is_file()) == day_files  # taken back
    assert not any((raw / f).exists() for f in day_files)
    assert "(new days: the drops of" in (out / "side_by_side.md").read_text()
    assert not (tmp_path / "work" / "a-base").exists()


def test_each_side_runs_its_own_checkout_and_a_failed_run_is_named(small_sample, tmp_path):
    """Side A is a copy of the package whose `run` exits at once: the tool must run that copy (not
    the package the interpreter's environment installed), stop, and name the side and its log."""
    broken = tmp_path / "broken"
    shutil.copytree(REPO / "dagster_project", broken / "dagster_project")
    cli = broken / "dagster_project" / "cli.py"
    text = cli.read_text(encoding="utf-8")
    marker = '    """Materialize every asset (the daily job).'
    assert marker in text
    cli.write_text(text.replace(marker, "    raise SystemExit(3)\n" + marker, 1), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(TOOL), str(broken), str(REPO), "--raw", str(small_sample), "--pairs", "1"]
        + ["--no-warmup", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"side A ({broken}) failed, exit 3" in proc.stderr
    assert str(tmp_path / "work" / "logs" / "a-pair1.log") in proc.stderr
    written = json.loads((tmp_path / "out" / "side_by_side.json").read_text())
    assert [(f["side"], f["label"], f["returncode"]) for f in written["failed"]] == [("a", "pair1", 3)]
    assert written["runs"] == {"a": [], "b": []} and written["differences"] == {}
