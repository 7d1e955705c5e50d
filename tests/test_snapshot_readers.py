"""The published snapshot as its readers see it: DuckDB 1.x CLIs from PyPI open it, it carries the
dbt descriptions, and every query of the sql/ library runs on it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]


def test_a_duckdb_1x_cli_opens_the_snapshot_and_reads_every_mart(old_duckdb_cli, small_company_snapshot):
    bi = small_company_snapshot["bi_dir"]
    published = json.loads((bi / "snapshot.json").read_text(encoding="utf-8"))["tables"]
    counts = " union all ".join(f"select '{t}' as mart, count(*) as n from marts.marts.\"{t}\"" for t in published)

    out = subprocess.run(
        [str(old_duckdb_cli), "-readonly", "-csv", "-noheader", str(bi / "marts.duckdb"), "-c", counts],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert out.returncode == 0, out.stderr
    rows = dict(line.rsplit(",", 1) for line in out.stdout.splitlines())
    assert {mart: int(n) for mart, n in rows.items()} == published
    comment = subprocess.run(
        [str(old_duckdb_cli), "-readonly", "-csv", "-noheader", str(bi / "marts.duckdb"), "-c",
         "select comment from duckdb_columns() where table_name = 'alerts' and column_name = 'message_zh'"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert comment == "Chinese message."


def test_the_working_warehouse_format_is_not_what_1x_readers_get(old_duckdb_cli, small_company_snapshot):
    """The control: the warehouse (DuckDB 2 storage) is what a 1.x CLI cannot open, the snapshot is not."""
    out = subprocess.run(
        [str(old_duckdb_cli), "-readonly", str(small_company_snapshot["warehouse"]), "-c", "select 1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "version number" in out.stderr


def test_the_snapshot_carries_the_dbt_descriptions(small_company_snapshot):
    snap = duckdb.connect(str(small_company_snapshot["bi_dir"] / "marts.duckdb"), read_only=True)
    tables = dict(
        snap.execute("select table_name, comment from duckdb_tables() where schema_name = 'marts'").fetchall()
    )
    columns = {
        (t, c): comment
        for t, c, comment in snap.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"
        ).fetchall()
    }
    snap.close()
    # from dbt/models/marts/ops/_ops__models.yml and marts/scorecard/_scorecard__models.yml
    assert tables["ingest_audit"] == (
        "Ingestion accounting per drop (file) from meta.ingest_audit; rows read = loaded + quarantined."
    )
    assert tables["balanced_scorecard"].startswith("One row per month x region (and `*`) x KPI with actual, target")
    assert columns[("balanced_scorecard", "month_start_date")] == "First day of the month."
    assert columns[("alerts", "rule_name")] == "English rule name."
    described = sum(1 for c in columns.values() if c)
    assert described >= 0.9 * len(columns), f"{described} of {len(columns)} columns described"


@pytest.mark.parametrize("path", sorted((REPO / "sql").glob("*.sql")), ids=lambda p: p.name)
def test_every_sql_library_query_runs_on_the_published_snapshot(small_company_snapshot, path):
    """sql/README.md says every query works on the snapshot: attached under another name, as it shows."""
    con = duckdb.connect()
    con.execute(f"attach '{small_company_snapshot['bi_dir'] / 'marts.duckdb'}' as bi (read_only); use bi")
    rows = con.execute(path.read_text(encoding="utf-8")).fetchall()
    con.close()
    assert rows, f"{path.name} returned nothing on the small company's snapshot"


def test_the_sql_readme_command_works_with_a_1x_cli(old_duckdb_cli, small_company_snapshot):
    """The command sql/README.md gives, with a 1.x CLI."""
    snapshot = small_company_snapshot["bi_dir"] / "marts.duckdb"
    out = subprocess.run(
        [str(old_duckdb_cli), "-csv", "-c", f"attach '{snapshot}' as bi (read_only); use bi;", "-c",
         ".read sql/03_funnel.sql"],
        cwd=REPO, capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith("funnel,")
