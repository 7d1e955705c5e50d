"""A load killed with SIGKILL mid-batch leaves no half-loaded drop, and a rerun finishes the job.

The drops are ~17 MB each and batches are set to 40 MB: two drops per transaction.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from dagster_project.contracts import load_contracts

ROWS_PER_DROP = 300_000
DROPS = 4


def write_activity_drops(raw_dir: Path) -> None:
    folder = raw_dir / "crm" / "activities"
    folder.mkdir(parents=True)
    con = duckdb.connect()
    for d in range(DROPS):
        first = d * ROWS_PER_DROP
        con.execute(
            f"""
            copy (
                select 'ACT' || lpad(i::varchar, 9, '0') as activity_id, 'R' || (i % 150) as rep_id,
                       'A' || (i % 4000) as account_id, null as lead_id, null as opportunity_id,
                       ['call', 'visit', 'email', 'meeting', 'demo'][1 + i % 5] as activity_type,
                       timestamp '2025-01-01 09:00:00' + to_minutes(i) as occurred_at,
                       (i % 3 <> 0) as is_effective
                from range({first}, {first + ROWS_PER_DROP}) t(i)
            ) to '{folder}/activities_2025-0{d + 1}-28.csv' (header)
            """
        )


def ingest(raw_dir: Path, warehouse: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "S2S_RAW_DIR": str(raw_dir), "S2S_WAREHOUSE": str(warehouse), "S2S_INGEST_BATCH_MB": "40"}
    return subprocess.Popen(
        [sys.executable, "-m", "dagster_project", "ingest", "--entity", "crm.activities"], env=env, **popen
    )


def table_state(warehouse: Path) -> tuple:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            "select count(*), count(distinct activity_id), sum(hash(activity_id, rep_id, occurred_at, is_effective)) "
            "from raw_crm.activities"
        ).fetchall()[0]
        audit = con.execute("select count(*), sum(rows_loaded) from meta.ingest_audit").fetchall()[0]
        manifest = con.execute("select count(*) from meta.drop_manifest").fetchall()[0][0]
        return rows, audit, manifest
    finally:
        con.close()


def test_killed_load_leaves_whole_drops_and_rerun_matches(tmp_path: Path):
    raw_dir = tmp_path / "raw"
    write_activity_drops(raw_dir)
    assert load_contracts()["crm.activities"].primary_key == ("activity_id",)

    reference = tmp_path / "reference.duckdb"
    assert ingest(raw_dir, reference).wait(timeout=300) == 0
    expected = table_state(reference)
    assert expected[0][:2] == (DROPS * ROWS_PER_DROP, DROPS * ROWS_PER_DROP)

    killed = tmp_path / "killed.duckdb"
    proc = ingest(raw_dir, killed, stderr=subprocess.PIPE, text=True)
    # wait until the first drop has committed, then kill while the next one is loading
    for line in proc.stderr:
        if "activities_2025-01-28.csv: loaded" in line:
            break
    time.sleep(0.3)
    assert proc.poll() is None, "the load finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    (count, distinct, _), (drops, loaded), manifest = table_state(killed)
    assert 1 <= drops < DROPS and drops % 2 == 0  # whole batches of two drops
    assert manifest == drops
    assert count == distinct == loaded == drops * ROWS_PER_DROP  # whole drops only

    assert ingest(raw_dir, killed).wait(timeout=300) == 0
    assert table_state(killed) == expected
