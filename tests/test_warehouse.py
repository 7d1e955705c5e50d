"""dagster_project/warehouse.py: helpers every step uses to write the warehouse."""

from datetime import datetime

import duckdb
import pytest

from dagster_project.warehouse import INSERT_ROWS_PER_STATEMENT, insert_rows


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
