"""The BI side through the real CLI (Dagster + dbt + publish) on a small sample: the PostgreSQL target
switched on after a first publish, every mart in PostgreSQL, and alerts sent from the snapshot."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from sample_company import generate

pytestmark = pytest.mark.slow


def run_cli(env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "dagster_project", "run"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done.returncode, done.stdout + done.stderr


def test_postgres_switched_on_later_gets_every_mart_then_nothing_new(tmp_path, fresh_database):
    generate(tmp_path / "raw", scale=0.05, seed=11, profile="clean")
    env = {
        "S2S_RAW_DIR": str(tmp_path / "raw"),
        "S2S_WAREHOUSE": str(tmp_path / "warehouse" / "warehouse.duckdb"),
        "S2S_BI_DIR": str(tmp_path / "bi"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    os.environ.pop("S2S_PG_DSN", None)
    code, out = run_cli(env)
    assert code == 0, out[-4000:]
    assert "BI snapshot published" in out
    sent = [json.loads(line) for line in (tmp_path / "warehouse" / "alerts.jsonl").read_text().splitlines()]
    snapshot = json.loads((tmp_path / "bi" / "snapshot.json").read_text())
    assert len(sent) == snapshot["tables"]["alerts"]  # the published alerts, each once

    with_postgres = {**env, "S2S_PG_DSN": fresh_database}
    code, out = run_cli(with_postgres)  # no new file, but PostgreSQL does not hold the snapshot yet
    assert code == 0, out[-4000:]
    assert "nothing new" not in out
    log = Path(out.split("full log (Dagster and dbt): ")[1].splitlines()[0]).read_text(encoding="utf-8")
    assert re.search(r"published \d+ marts to PostgreSQL schema marts in [\d.]+s", log)  # the step's own line
    snapshot = json.loads((tmp_path / "bi" / "snapshot.json").read_text())
    with psycopg.connect(fresh_database) as pg:
        counts = {
            table: pg.execute(f'select count(*) from marts."{table}"').fetchone()[0] for table in snapshot["tables"]
        }
    assert counts == snapshot["tables"]
    assert len((tmp_path / "warehouse" / "alerts.jsonl").read_text().splitlines()) == len(sent)  # not resent

    code, out = run_cli(with_postgres)
    assert code == 0, out[-4000:]
    assert "nothing new: no new drop" in out
