"""The PostgreSQL publish target, against a real PostgreSQL server read back through psycopg: every
mart with its types, keys and descriptions; swapped in whole or not at all; a read-only role."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime
from decimal import Decimal

import duckdb
import psycopg
import pytest

from dagster_project.publish.keys import mart_primary_keys
from dagster_project.publish.postgres import pg_type, postgres_is_current, publish_to_postgres
from dagster_project.publish.snapshot import publish_snapshot


def pg_rows(dsn: str, sql: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(dsn) as pg:
        return pg.execute(sql, params).fetchall()


def normalised(value: object) -> object:
    """DuckDB and psycopg give the same Python types except for a few: compare like with like."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def test_every_mart_of_the_real_snapshot_reads_back_through_psycopg(small_company_snapshot, fresh_database):
    bi = small_company_snapshot["bi_dir"]
    keys = mart_primary_keys(small_company_snapshot["manifest"])
    # the big facts, views without key tests, declare their keys (meta.primary_key)
    assert keys["fct_activities"] == ["activity_id"] and keys["fct_web_events"] == ["event_id"]

    result = publish_to_postgres(bi, fresh_database, keys)

    snap = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    marts = [
        r[0] for r in snap.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
    ]
    assert len(marts) >= 25 and set(result.tables) == set(marts)
    assert result.tables == json.loads((bi / "snapshot.json").read_text())["tables"]  # rows COPY took
    for mart in marts:
        expected = sorted(
            (
                tuple(normalised(v) for v in row)
                for row in snap.execute(f'select * from marts.marts."{mart}"').fetchall()
            ),
            key=repr,
        )
        got = sorted(
            (tuple(normalised(v) for v in row) for row in pg_rows(fresh_database, f'select * from marts."{mart}"')),
            key=repr,
        )
        assert got == expected, mart
    snap.close()

    types = dict(
        pg_rows(
            fresh_database,
            "select table_name || '.' || column_name, format_type(atttypid, atttypmod) "
            "from information_schema.columns c join pg_attribute a on a.attrelid = "
            "(quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass and a.attname = c.column_name "
            "where table_schema = 'marts'",
        )
    )
    assert types["fct_order_lines.line_amount"] == "numeric(18,2)"
    assert types["fct_order_lines.order_date"] == "date"
    assert types["fct_order_lines.is_cancelled"] == "boolean"
    assert types["fct_order_lines.line_no"] == "bigint"
    assert types["fct_activities.occurred_at"] == "timestamp without time zone"
    assert types["balanced_scorecard.actual_value"] == "double precision"
    assert types["balanced_scorecard.kpi_name_zh"] == "text"
    assert types["ingest_audit.extra_columns"] == "text[]"

    primary_keys = {}
    for table, column in pg_rows(
        fresh_database,
        "select tc.table_name, kcu.column_name from information_schema.table_constraints tc "
        "join information_schema.key_column_usage kcu using (constraint_schema, constraint_name) "
        "where tc.constraint_type = 'PRIMARY KEY' and tc.table_schema = 'marts' order by kcu.ordinal_position",
    ):
        primary_keys.setdefault(table, []).append(column)
    assert primary_keys["fct_order_lines"] == ["order_id", "line_no"]  # unique_combination_of_columns test
    assert primary_keys["dim_customer"] == ["account_id"]  # primary_key test, not account_version_id (unique)
    assert primary_keys["balanced_scorecard"] == ["month_start_date", "region", "kpi_code"]

    descriptions = dict(
        pg_rows(
            fresh_database,
            "select c.relname, obj_description(c.oid, 'pg_class') from pg_class c "
            "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'marts' and c.relkind = 'r'",
        )
    )
    # the descriptions of dbt/models/marts/ops/_ops__models.yml
    assert descriptions["ingest_audit"] == (
        "Ingestion accounting per drop (file) from meta.ingest_audit; rows read = loaded + quarantined."
    )
    [(column_comment,)] = pg_rows(
        fresh_database,
        "select col_description('marts.alerts'::regclass, attnum) from pg_attribute "
        "where attrelid = 'marts.alerts'::regclass and attname = 'rule_name'",
    )
    assert column_comment == "English rule name."


def make_mart(con, rows: list[tuple]) -> None:
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.tricky (id integer, label varchar, amount decimal(18, 2), big hugeint, "
        "ratio double, tags varchar[], seen_at timestamp, day date, flag boolean)"
    )
    con.executemany("insert into marts.tricky values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


TRICKY = [
    (1, "", Decimal("0.10"), 12345678901234567890123, 0.1, ["a", None, 'say "hi"', "back\\slash"],
     datetime(2026, 1, 2, 3, 4, 5, 600000), date(2026, 1, 2), True),
    (2, None, None, None, None, None, None, None, None),
    (3, "华东, \"引号\"\nnew line", Decimal("-99.99"), -1, float("inf"), [], None, date(1999, 12, 31), False),
    (4, "\\.", Decimal("1.00"), 0, -0.5, ["\\."], None, None, None),
]  # fmt: skip


def test_hand_made_values_arrive_exactly(con, tmp_path, fresh_database):
    make_mart(con, TRICKY)
    publish_snapshot(con, tmp_path / "bi", run_id="r1")

    publish_to_postgres(tmp_path / "bi", fresh_database, {"tricky": ["id"]})

    rows = pg_rows(fresh_database, "select * from marts.tricky order by id")
    assert rows == TRICKY
    assert pg_rows(
        fresh_database, "select label is null, label = '' from marts.tricky where id in (1, 2) order by id"
    ) == [
        (False, True),
        (True, None),
    ]


def test_duckdb_types_map_to_postgres_types():
    assert pg_type("DECIMAL(38,2)") == "numeric(38, 2)"
    assert pg_type("HUGEINT") == "numeric(39, 0)"
    assert pg_type("VARCHAR[]") == "text[]"
    assert pg_type("DATE[]") == "date[]"
    assert pg_type("STRUCT(a INTEGER)") == "jsonb"
    assert pg_type("TIMESTAMP WITH TIME ZONE") == "timestamptz"


def test_a_failed_publish_leaves_the_previous_marts_whole(con, tmp_path, fresh_database):
    make_mart(con, TRICKY[:2])
    publish_snapshot(con, tmp_path / "bi", run_id="good")
    publish_to_postgres(tmp_path / "bi", fresh_database, {"tricky": ["id"]})

    make_mart(con, [TRICKY[0], TRICKY[0], TRICKY[2]])  # id 1 twice: the primary key cannot be built
    publish_snapshot(con, tmp_path / "bi", run_id="duplicate key")
    with pytest.raises(psycopg.errors.UniqueViolation):
        publish_to_postgres(tmp_path / "bi", fresh_database, {"tricky": ["id"]})

    assert pg_rows(fresh_database, "select id from marts.tricky order by id") == [(1,), (2,)]
    assert not postgres_is_current_for(tmp_path / "bi", fresh_database)  # the next run publishes again

    make_mart(con, TRICKY[2:])
    publish_snapshot(con, tmp_path / "bi", run_id="fixed")
    publish_to_postgres(tmp_path / "bi", fresh_database, {"tricky": ["id"]})
    assert pg_rows(fresh_database, "select id from marts.tricky order by id") == [(3,), (4,)]
    schemas = {r[0] for r in pg_rows(fresh_database, "select nspname from pg_namespace where nspname like 'marts%'")}
    assert schemas == {"marts"}  # nothing left of the building or the previous schema
    assert postgres_is_current_for(tmp_path / "bi", fresh_database)


def postgres_is_current_for(bi, dsn: str) -> bool:
    snapshot_id = json.loads((bi / "snapshot.json").read_text())["snapshot_id"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("S2S_PG_DSN", dsn)
        return postgres_is_current(bi, snapshot_id)


def test_readers_see_the_old_or_the_new_marts_never_a_half_publish(con, tmp_path, fresh_database):
    con.execute("create schema marts")
    con.execute("create table marts.a as select range as id, 'old' as version from range(20000)")
    con.execute("create table marts.b as select range as id, 'old' as version from range(20000)")
    publish_snapshot(con, tmp_path / "bi", run_id="old")
    publish_to_postgres(tmp_path / "bi", fresh_database, {"a": ["id"], "b": ["id"]})
    con.execute("create or replace table marts.a as select range as id, 'new' as version from range(30000)")
    con.execute("create or replace table marts.b as select range as id, 'new' as version from range(30000)")
    publish_snapshot(con, tmp_path / "bi", run_id="new")

    seen: set[tuple] = set()
    errors: list[Exception] = []
    stop = threading.Event()

    def read() -> None:
        with psycopg.connect(fresh_database, autocommit=True) as reader:
            while not stop.is_set():
                try:
                    for table in ("a", "b"):
                        seen.add(
                            reader.execute(f"select version, count(*) from marts.{table} group by 1").fetchall()[0]
                        )
                except Exception as exc:  # noqa: BLE001 - any failure of a reader is the finding
                    errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        publish_to_postgres(tmp_path / "bi", fresh_database, {"a": ["id"], "b": ["id"]})
        publish_to_postgres(tmp_path / "bi", fresh_database, {"a": ["id"], "b": ["id"]})
    finally:
        stop.set()
        reader.join(timeout=60)
    assert errors == []
    assert seen <= {("old", 20000), ("new", 30000)} and ("new", 30000) in seen


def test_the_reader_role_reads_and_cannot_write(con, tmp_path, fresh_database):
    make_mart(con, TRICKY[:1])
    publish_snapshot(con, tmp_path / "bi", run_id="r1")
    publish_to_postgres(tmp_path / "bi", fresh_database, {"tricky": ["id"]})
    with psycopg.connect(fresh_database, autocommit=True) as admin:
        admin.execute("drop role if exists powerbi_refresh")
        admin.execute("create role powerbi_refresh login in role s2s_bi_reader")
    bi_login = fresh_database.replace("user=postgres", "user=powerbi_refresh")

    assert pg_rows(bi_login, "select id, label from marts.tricky") == [(1, "")]
    for statement in (
        "insert into marts.tricky (id) values (9)",
        "delete from marts.tricky",
        "create table marts.mine (x int)",
        "drop table marts.tricky",
    ):
        with psycopg.connect(bi_login) as pg, pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.execute(statement)
