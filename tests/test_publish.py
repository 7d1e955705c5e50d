"""The BI snapshot: only marts, personal data hashed or dropped, swapped in whole or not at all."""

import hashlib
import json
import subprocess
import sys

import duckdb
import pytest

from dagster_project.publish.snapshot import _copy_descriptions, publish_snapshot


def make_marts(con, revenue: int) -> None:
    con.execute("create schema if not exists marts; create schema if not exists raw_crm")
    con.execute("create or replace table raw_crm.secret as select 1 as x")
    con.execute(f"create or replace table marts.kpi as select 'net_revenue' as kpi_code, {revenue} as actual_value")
    con.execute(
        "create or replace table marts.dim_contact as select 'C1' as contact_id, '张伟' as full_name, "
        "'Zhang.Wei@example.cn ' as email, '13812345678' as phone, '经理' as title"
    )


def file_digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_copies_marts_only_and_masks_personal_data(con, tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_PII_SALT", "pepper")
    make_marts(con, 100)
    bi = tmp_path / "bi"

    result = publish_snapshot(con, bi, run_id="r1")

    assert result.tables == {"dim_contact": 1, "kpi": 1}
    snap = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    schemas = {r[0] for r in snap.execute("select distinct table_schema from information_schema.tables").fetchall()}
    assert schemas == {"marts"}
    row = snap.execute("select * from marts.marts.dim_contact").fetchall()
    columns = [d[0] for d in snap.description]
    snap.close()
    expected_email = hashlib.sha256(b"pepperzhang.wei@example.cn").hexdigest()
    expected_phone = hashlib.sha256(b"pepper13812345678").hexdigest()
    assert columns == ["contact_id", "email", "phone", "title"]  # full_name dropped
    assert row == [("C1", expected_email, expected_phone, "经理")]
    parquet = duckdb.sql(f"select * from '{bi / 'parquet' / 'dim_contact.parquet'}'").fetchall()
    assert parquet == row
    manifest = json.loads((bi / "snapshot.json").read_text())
    assert manifest["tables"] == {"dim_contact": 1, "kpi": 1} and manifest["run_id"] == "r1"


def test_failed_publish_leaves_previous_snapshot_byte_identical(con, tmp_path):
    make_marts(con, 100)
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="good")
    before = {p.name: file_digest(p) for p in [bi / "marts.duckdb", bi / "snapshot.json"]}
    parquet_before = (bi / "parquet").resolve()

    con.execute("create or replace table marts.broken as select 1 as x")
    con.execute("create or replace view marts.broken_view as select * from marts.broken")
    con.execute("drop table marts.broken")  # the view now fails to read: the build fails mid-way
    with pytest.raises(duckdb.Error):
        publish_snapshot(con, bi, run_id="bad")

    assert {p.name: file_digest(p) for p in [bi / "marts.duckdb", bi / "snapshot.json"]} == before
    assert (bi / "parquet").resolve() == parquet_before
    con.execute("drop view marts.broken_view")
    publish_snapshot(con, bi, run_id="next")
    assert not list(bi.glob(".marts.duckdb.*"))  # the next publish clears what the failed one left


def test_reader_holding_snapshot_does_not_block_next_publish(con, tmp_path):
    make_marts(con, 100)
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="first")
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); print('open', flush=True); "
            "time.sleep(3); print(c.execute('select actual_value from marts.marts.kpi').fetchall()[0][0], flush=True)",
            str(bi / "marts.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "open"

    make_marts(con, 200)
    publish_snapshot(con, bi, run_id="second")  # while the reader holds the old file

    assert reader.stdout.readline().strip() == "100"  # the reader keeps its consistent old snapshot
    assert reader.wait(timeout=30) == 0
    fresh = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    assert fresh.execute("select actual_value from marts.marts.kpi").fetchall() == [(200,)]
    fresh.close()


def test_a_salt_with_a_quote_is_bound_not_pasted_into_sql(con, tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_PII_SALT", "it's; drop table x --")
    make_marts(con, 100)

    publish_snapshot(con, tmp_path / "bi", run_id="r1")

    snap = duckdb.connect(str(tmp_path / "bi" / "marts.duckdb"), read_only=True)
    email, phone = snap.execute("select email, phone from marts.marts.dim_contact").fetchall()[0]
    snap.close()
    assert email == hashlib.sha256(b"it's; drop table x --zhang.wei@example.cn").hexdigest()
    assert phone == hashlib.sha256(b"it's; drop table x --13812345678").hexdigest()


def test_table_and_column_descriptions_travel_to_the_snapshot(con, tmp_path):
    make_marts(con, 100)
    con.execute("comment on table marts.kpi is 'One row per KPI: the actual value.'")
    con.execute("comment on column marts.kpi.actual_value is '实际值 (CNY)'")
    con.execute("comment on column marts.dim_contact.email is 'Salted hash of the contact''s email'")

    publish_snapshot(con, tmp_path / "bi", run_id="r1")

    snap = duckdb.connect(str(tmp_path / "bi" / "marts.duckdb"), read_only=True)
    query = "select table_name, comment from duckdb_tables() where schema_name = 'marts'"
    tables = dict(snap.execute(query).fetchall())
    columns = {
        (t, c): comment
        for t, c, comment in snap.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = 'marts'"
        ).fetchall()
    }
    snap.close()
    assert tables == {"kpi": "One row per KPI: the actual value.", "dim_contact": None}
    assert columns[("kpi", "actual_value")] == "实际值 (CNY)"
    assert columns[("dim_contact", "email")] == "Salted hash of the contact's email"
    assert columns[("kpi", "kpi_code")] is None


def test_rep_names_stay_in_the_team_marts_only(con, tmp_path):
    """config/publish.yml keep_columns: a rep's name is published in rep_performance (colleagues are
    ranked by name) but still dropped from dim_sales_rep."""
    con.execute("create schema if not exists marts")
    con.execute("create or replace table marts.rep_performance as select 'R1' as rep_id, '王伟' as rep_name")
    con.execute("create or replace table marts.dim_sales_rep as select 'R1' as rep_id, '王伟' as rep_name")
    bi = tmp_path / "bi"

    result = publish_snapshot(con, bi, run_id="r1")

    snap = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    assert snap.execute("select * from marts.marts.rep_performance").fetchall() == [("R1", "王伟")]
    assert snap.execute("select * from marts.marts.dim_sales_rep").fetchall() == [("R1",)]
    snap.close()
    assert result.dropped_columns == ["dim_sales_rep.rep_name"]


def test_a_comment_that_cannot_be_written_raises_its_own_error_and_leaves_no_transaction_open(tmp_path):
    """The snapshot writes a mart's comments in one transaction; when one fails (here: the copy is in a
    database attached read-only), that error is raised and the transaction rolled back, so the
    connection goes on (the publish then detaches the snapshot in its `finally`)."""
    duckdb.connect(str(tmp_path / "ro.duckdb")).execute("create table t (a int)").close()
    con = duckdb.connect()
    con.execute("create schema marts; create table marts.t (a int)")
    con.execute("comment on table marts.t is 'the table'; comment on column marts.t.a is 'the column'")
    con.execute(f"attach '{tmp_path / 'ro.duckdb'}' as ro (read_only)")

    with pytest.raises(duckdb.Error, match="read-only") as raised:
        _copy_descriptions(con, "marts", "t", "ro.t")

    assert "aborted" not in str(raised.value)
    assert con.execute("select 1").fetchall() == [(1,)]
    con.execute("detach ro")
