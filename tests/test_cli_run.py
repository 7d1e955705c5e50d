"""The CLI on a raw folder without extracts (issue 9, item 17) and on a warehouse another process
holds (item 19): one clear error, no sample written into a user's folder, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

from dagster_project.cli import main


def test_run_on_a_user_folder_without_extracts_is_an_error_showing_the_layout(tmp_path, capsys):
    raw = tmp_path / "exports"
    (raw / "crm" / "opportunity").mkdir(parents=True)
    (raw / "crm" / "opportunity" / "opp.csv").write_text("a,b\n1,2\n")
    (raw / "notes.txt").write_text("exports of November")

    code = main(["run", "--raw-dir", str(raw), "--warehouse", str(tmp_path / "w.duckdb"), "--sample-if-empty"])

    err = capsys.readouterr().err
    assert code == 2
    assert f"error: no extracts in {raw}: no file here is an extract the loader reads." in err
    assert f"  {raw}/crm/accounts/accounts_2026-11-24.csv" in err
    assert (
        "  crm: accounts, activities, cases, contacts, leads, opportunities, opportunity_stage_history, sales_reps"
        in err
    )
    assert "  crm/opportunity: folder matches no entity: did you mean crm/opportunities? Its files are not read" in err
    assert "  notes.txt: not in an entity folder (<source>/<entity>/<file>)" in err
    assert "python -m dagster_project generate --out" in err
    assert sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*")) == [
        "crm",
        "crm/opportunity",
        "crm/opportunity/opp.csv",
        "notes.txt",
    ]  # no sample generated into it
    assert not (tmp_path / "w.duckdb").exists()


def test_run_on_a_missing_folder_is_the_same_error(tmp_path, capsys):
    code = main(["run", "--raw-dir", str(tmp_path / "nowhere"), "--warehouse", str(tmp_path / "w.duckdb")])

    assert code == 2
    assert f"error: no extracts in {tmp_path / 'nowhere'}: the folder does not exist." in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(120)
"""


def test_a_warehouse_held_by_another_process_is_a_one_line_error_naming_it(tmp_path, raw_dir):
    from conftest import csv_text, write_drop

    write_drop(
        raw_dir, "erp.fx_rates", "fx_rates_2025-01-31.csv", csv_text(["rate_date", "currency", "cny_per_unit"], [])
    )
    warehouse = tmp_path / "held.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(warehouse)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = subprocess.run(
            [sys.executable, "-m", "dagster_project", "run", "--raw-dir", str(raw_dir), "--warehouse", str(warehouse)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")},
        )
    finally:
        holder.kill()
        holder.wait()

    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    assert lines == [
        f"error: the warehouse {warehouse} is in use by another process, PID {holder.pid} "
        f"({Path(sys.executable).name} -c ...): stop it or wait until it finishes, then run again"
    ]


def test_ingest_records_what_lies_outside_the_entity_folders(tmp_path, raw_dir, capsys):
    (raw_dir / "crm" / "opportunity").mkdir(parents=True)
    warehouse = tmp_path / "w.duckdb"

    assert main(["ingest", "--raw-dir", str(raw_dir), "--warehouse", str(warehouse)]) == 0

    assert (
        "ignored crm/opportunity: folder matches no entity: did you mean crm/opportunities?" in capsys.readouterr().err
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select source_file, status from meta.ingest_audit").fetchall() == [
        ("crm/opportunity", "ignored")
    ]
    con.close()


def test_a_policy_with_an_unknown_key_stops_the_run_before_it_starts_with_one_error(tmp_path, raw_dir, capsys):
    """Each step that reads policy.yml failed on it, and the summary said so four times; the run now
    checks the policy first and says it once."""
    from conftest import csv_text, write_drop

    write_drop(
        raw_dir, "erp.fx_rates", "fx_rates_2025-01-31.csv", csv_text(["rate_date", "currency", "cny_per_unit"], [])
    )
    (tmp_path / "deployment").mkdir()
    (tmp_path / "deployment" / "policy.yml").write_text("quarantine_share: warn\n")

    code = main(["run", "--raw-dir", str(raw_dir), "--warehouse", str(tmp_path / "w.duckdb")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == [
        f"error in the deployment folder: {tmp_path / 'deployment' / 'policy.yml'}: unknown keys ['quarantine_share'] "
        "(known: not_delivered, not_collected, completeness)"
    ]
    assert not (tmp_path / "w.duckdb").exists()
