"""dagster_project/warehouse.py: helpers every step uses to write the warehouse."""

from datetime import datetime

import duckdb
import pytest

from dagster_project.warehouse import INSERT_ROWS_PER_STATEMENT, ensure_meta, insert_rows


def test_insert_rows_writes_every_row_as_given_across_several_statements():
    con = duckdb.connect()
    con.execute("create table t (id integer, name varchar, seen_at timestamp, note varchar, fixed varchar)")
    count = 2 * INSERT_ROWS_PER_STATEMENT + 3  # three statements, the last one short
    rows = [
        [i, f"o'brien {i}" if i % 3 else None, datetime(2026, 1, 1 + i % 28, 8, 30) if i % 2 else None, "x, y"]
        for i in range(count)
    ]
    insert_rows(con, "insert into t values (?, ?, ?, ?, 'literal')", rows)
    stored = con.execute("select id, name, seen_at, note, fixed from t order by id").fetchall()
    assert stored == [(*row, "literal") for row in map(tuple, rows)]


def test_insert_rows_with_a_column_list_and_or_ignore():
    con = duckdb.connect()
    con.execute("create table t (a integer primary key, b varchar, c varchar default 'd')")
    insert_rows(con, "insert or ignore into t (a, b) values (?, ?)", [[1, "first"], [1, "again"], [2, None]])
    assert con.execute("select * from t order by a").fetchall() == [(1, "first", "d"), (2, None, "d")]


def test_insert_rows_of_no_rows_inserts_nothing_and_a_statement_without_values_is_refused():
    con = duckdb.connect()
    con.execute("create table t (a integer)")
    insert_rows(con, "insert into t values (?)", [])
    assert con.execute("select count(*) from t").fetchone() == (0,)
    with pytest.raises(ValueError, match="values"):
        insert_rows(con, "insert into t select ?", [[1]])


def test_ensure_meta_brings_a_warehouse_of_an_earlier_release_up_to_date_and_skips_a_current_one(tmp_path):
    """A warehouse whose meta tables were made by a release before (no column `note`, another stored
    digest) is brought up to date; one made by this release is left as it is (the statements are
    skipped: a table dropped by hand stays dropped, which is how the skip shows)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    ensure_meta(con)
    con.execute("alter table meta.ingest_audit drop column note")
    con.execute("update meta.settings set value = 'an earlier release' where name = 'meta_schema'")

    ensure_meta(con)

    columns = [r[0] for r in con.execute("select column_name from (describe meta.ingest_audit)").fetchall()]
    assert columns[-1] == "note"
    con.execute("drop table meta.quarantine")
    ensure_meta(con)
    assert con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'meta' and table_name = 'quarantine'"
    ).fetchall() == [(0,)]
