"""The window of dbt's key tests on new rows (`unique_keys_of_new_rows`, dbt/tests/generic).

Before a dbt build the step opens the window: `meta.key_check_window.since` is the newest raw load
time that the last passing build of the same step and the same dbt code had checked, so the test
checks only the keys of rows loaded since (each against every row). NULL, i.e. every key, on the
first build, on a forced run and after any change to the dbt project. After the build the window is
closed (NULL again, so dbt run by hand checks every key), and a passing build records the newest
raw load time it started from in `meta.key_checks`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from dagster_project.contracts import load_contracts
from dagster_project.warehouse import ensure_meta, fetch_one


@dataclass(frozen=True)
class KeyCheckWindow:
    build: str
    digest: str
    since: datetime | None  # None: every key is checked
    through: datetime | None  # newest raw load time when the build started


def newest_load(con: duckdb.DuckDBPyConnection) -> datetime | None:
    existing = {
        f"{schema}.{table}"
        for schema, table in con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall()
    }
    tables = [c.table for c in load_contracts().values() if c.table in existing]
    if not tables:
        return None
    union = " union all ".join(f"select max(_loaded_at) as loaded_at from {t}" for t in tables)
    return fetch_one(con, f"select max(loaded_at) from ({union})")[0]


def open_window(con: duckdb.DuckDBPyConnection, build: str, digest: str, force: bool) -> KeyCheckWindow:
    ensure_meta(con)
    checked = fetch_one(
        con, "select checked_through from meta.key_checks where build = ? and dbt_sources_digest = ?", [build, digest]
    )
    since = None if force or not checked else checked[0]
    window = KeyCheckWindow(build, digest, since, newest_load(con))
    _set_since(con, since)
    return window


def close_window(con: duckdb.DuckDBPyConnection, window: KeyCheckWindow, passed: bool, run_id: str) -> None:
    _set_since(con, None)
    if passed and window.through is not None:
        con.execute("delete from meta.key_checks where build = ?", [window.build])
        con.execute(
            "insert into meta.key_checks values (?, ?, ?, ?)", [window.build, window.digest, window.through, run_id]
        )


def _set_since(con: duckdb.DuckDBPyConnection, since: datetime | None) -> None:
    con.execute("delete from meta.key_check_window")
    con.execute("insert into meta.key_check_window values (?)", [since])
