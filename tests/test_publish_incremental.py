"""A publish starts from the previous snapshot: unchanged marts are kept (table and Parquet file),
changed ones rewritten, gone ones dropped, and the result reads exactly as a snapshot built whole."""

import hashlib
import json
import os
import shutil
import subprocess
from datetime import datetime

import duckdb
import pytest
from test_publish import make_marts

from dagster_project.publish import snapshot
from dagster_project.publish.snapshot import publish_snapshot


def published(bi) -> dict[str, list[tuple]]:
    """Every mart of the snapshot database, rows sorted, and the same from its Parquet files."""
    snap = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    tables = [r[0] for r in snap.execute("select table_name from information_schema.tables order by 1").fetchall()]
    content = {t: sorted(snap.execute(f'select * from marts.marts."{t}"').fetchall(), key=repr) for t in tables}
    comments = snap.execute(
        "select table_name, column_name, comment from duckdb_columns() where comment is not null order by 1, 2"
    ).fetchall()
    snap.close()
    parquet = {
        p.stem: sorted(duckdb.sql(f"select * from '{p}'").fetchall(), key=repr) for p in (bi / "parquet").glob("*")
    }
    assert parquet == content  # the two formats of one snapshot agree
    return {"tables": content, "comments": comments}


@pytest.fixture
def salted(monkeypatch):
    monkeypatch.setenv("S2S_PII_SALT", "pepper")


def test_only_the_changed_mart_is_rewritten_and_the_snapshot_equals_a_whole_build(con, tmp_path, salted):
    make_marts(con, 100)
    con.execute("create table marts.fct_big as select range as id, range % 7 as v from range(1000)")
    bi = tmp_path / "bi"
    first = publish_snapshot(con, bi, run_id="r1")
    assert first.rebuilt_because == "no previous snapshot" and first.reused == []
    big_parquet = (bi / "parquet" / "fct_big.parquet").resolve()

    con.execute("update marts.kpi set actual_value = 200")  # one value of one mart
    con.execute("delete from marts.fct_big where id = 999")  # one row fewer
    con.execute("create table marts.new_mart as select 1 as x")
    second = publish_snapshot(con, bi, run_id="r2")

    assert second.rebuilt_because is None
    assert second.reused == ["dim_contact"]  # kpi and fct_big changed, new_mart is new
    assert second.tables == {"dim_contact": 1, "fct_big": 999, "kpi": 1, "new_mart": 1}
    whole = publish_snapshot(con, tmp_path / "whole", run_id="w", rebuild=True)
    assert whole.rebuilt_because == "a full rebuild was asked for" and whole.reused == []
    assert published(bi) == published(tmp_path / "whole")
    assert published(bi)["tables"]["kpi"] == [("net_revenue", 200)]
    # the unchanged mart's Parquet file is the previous version's, linked; the changed one is new
    contact = bi / "parquet" / "dim_contact.parquet"
    assert contact.stat().st_nlink == 2
    assert (bi / "parquet" / "fct_big.parquet").resolve() != big_parquet
    manifest = json.loads((bi / "snapshot.json").read_text())
    assert manifest["built_from"] == first.snapshot_id and manifest["reused"] == ["dim_contact"]

    con.execute("drop table marts.new_mart")  # a mart the warehouse no longer has leaves the snapshot
    third = publish_snapshot(con, bi, run_id="r3")
    assert sorted(third.reused) == ["dim_contact", "fct_big", "kpi"]
    assert "new_mart" not in published(bi)["tables"]
    assert published(bi) == published(tmp_path / "whole") | {
        "tables": {k: v for k, v in published(tmp_path / "whole")["tables"].items() if k != "new_mart"}
    }


def test_a_new_description_a_new_column_or_a_new_salt_rewrites_the_mart(con, tmp_path, monkeypatch, salted):
    make_marts(con, 100)
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1")

    con.execute("comment on column marts.kpi.actual_value is 'Net revenue, CNY'")
    assert publish_snapshot(con, bi, run_id="r2").reused == ["dim_contact"]
    assert ("kpi", "actual_value", "Net revenue, CNY") in published(bi)["comments"]

    con.execute("alter table marts.dim_contact add column city varchar")  # all NULL: same rows otherwise
    assert publish_snapshot(con, bi, run_id="r3").reused == ["kpi"]

    monkeypatch.setenv("S2S_PII_SALT", "salt")  # hashed emails and phones change with the salt
    result = publish_snapshot(con, bi, run_id="r4")
    assert result.reused == ["kpi"]
    [(email,)] = (
        duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
        .execute("select email from marts.marts.dim_contact")
        .fetchall()
    )
    assert email == hashlib.sha256(b"saltzhang.wei@example.cn").hexdigest()


def test_the_copy_is_rebuilt_when_replaced_marts_leave_too_much_free_space(con, tmp_path, monkeypatch, salted):
    make_marts(con, 100)
    con.execute("create table marts.fct_big as select range as id, md5(range::varchar) as v from range(300000)")
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1")
    con.execute("update marts.fct_big set v = v || 'x'")
    config = dict(snapshot.publish_config())
    monkeypatch.setattr(snapshot, "publish_config", lambda: config)

    config["compact_above_free_fraction"] = 1.0  # never: the copy keeps the freed blocks for reuse
    assert publish_snapshot(con, bi, run_id="r2").rebuilt_because is None
    snap = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    free, total = snap.execute("select free_blocks, total_blocks from pragma_database_size()").fetchone()
    snap.close()
    assert free > 0

    con.execute("update marts.fct_big set v = v || 'y'")
    config["compact_above_free_fraction"] = free / total / 2
    result = publish_snapshot(con, bi, run_id="r3")
    assert result.rebuilt_because == "freed space passed compact_above_free_fraction"
    assert result.reused == []
    snap = duckdb.connect(str(bi / "marts.duckdb"), read_only=True)
    assert snap.execute("select free_blocks from pragma_database_size()").fetchone()[0] < free
    assert snap.execute("select count(*) from marts.marts.fct_big where v like '%xy'").fetchone()[0] == 300000
    snap.close()


def test_a_snapshot_from_an_older_version_without_digests_is_rebuilt(con, tmp_path, salted):
    make_marts(con, 100)
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1")
    manifest = json.loads((bi / "snapshot.json").read_text())
    del manifest["digests"]
    (bi / "snapshot.json").write_text(json.dumps(manifest))

    result = publish_snapshot(con, bi, run_id="r2")

    assert result.rebuilt_because.startswith("the previous snapshot has no digests") and result.reused == []


def test_a_duckdb_1x_cli_reads_a_snapshot_built_from_the_previous_one(con, tmp_path, salted, old_duckdb_cli):
    make_marts(con, 100)
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1")
    make_marts(con, 300)
    assert publish_snapshot(con, bi, run_id="r2").reused == ["dim_contact"]

    out = subprocess.run(
        [
            str(old_duckdb_cli),
            "-readonly",
            "-csv",
            "-noheader",
            str(bi / "marts.duckdb"),
            "-c",
            "select actual_value from marts.marts.kpi union all select count(*) from marts.marts.dim_contact",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["300", "1"]


def _facts(con, rows: list[tuple]) -> None:
    con.execute("create or replace table marts.fct_touch (touch_id varchar, amount integer, _loaded_at timestamp)")
    con.executemany("insert into marts.fct_touch values (?, ?, ?)", rows)


def test_a_keyed_mart_takes_its_new_rows_and_falls_back_to_a_whole_copy_when_they_do_not_add_up(con, tmp_path, salted):
    make_marts(con, 100)
    day1, day2, day3 = "2026-10-01 08:00:00", "2026-10-02 08:00:00", "2026-10-03 08:00:00"
    _facts(con, [("T1", 10, day1), ("T2", 20, day1), ("T3", 30, day1)])
    keys = {"fct_touch": ["touch_id"], "dim_contact": ["contact_id"]}
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1", keys=keys)

    # a new day: T2 re-delivered with a new amount, T4 new; the contact's email changed (hashed column)
    con.execute("update marts.fct_touch set amount = 21, _loaded_at = ? where touch_id = 'T2'", [day2])
    con.execute("insert into marts.fct_touch values ('T4', 40, ?)", [day2])
    con.execute("update marts.dim_contact set email = 'new@example.cn'")
    second = publish_snapshot(con, bi, run_id="r2", keys=keys)

    assert second.updated == ["fct_touch"]  # by its new rows; dim_contact hashes emails: copied whole
    assert second.reused == ["kpi"] and second.tables["fct_touch"] == 4
    assert published(bi)["tables"]["fct_touch"] == [
        ("T1", 10, datetime(2026, 10, 1, 8)),
        ("T2", 21, datetime(2026, 10, 2, 8)),
        ("T3", 30, datetime(2026, 10, 1, 8)),
        ("T4", 40, datetime(2026, 10, 2, 8)),
    ]
    assert published(bi) == published_whole(con, tmp_path / "whole2")

    # changed without a newer load time (re-converted at a late rate) and a deleted row: the new rows
    # alone do not give the mart's rows, so it is copied whole
    con.execute("update marts.fct_touch set amount = 11 where touch_id = 'T1'")
    con.execute("insert into marts.fct_touch values ('T5', 50, ?)", [day3])
    third = publish_snapshot(con, bi, run_id="r3", keys=keys)
    assert third.updated == [] and "fct_touch" not in third.reused
    assert ("T1", 11, datetime(2026, 10, 1, 8)) in published(bi)["tables"]["fct_touch"]
    assert published(bi) == published_whole(con, tmp_path / "whole3")

    # rows stamped at the copy's newest load time (a clock set back) are not taken as new: a changed
    # value (only the hash sum differs) and a new row (the count too); each time the sums differ and
    # the mart is copied whole, the rows included
    con.execute("update marts.fct_touch set amount = 51 where touch_id = 'T5'")  # T5: stamped day3
    restamped = publish_snapshot(con, bi, run_id="r3a", keys=keys)
    assert restamped.updated == [] and ("T5", 51, datetime(2026, 10, 3, 8)) in published(bi)["tables"]["fct_touch"]
    con.execute("insert into marts.fct_touch values ('T7', 70, ?)", [day3])
    stamped_back = publish_snapshot(con, bi, run_id="r3b", keys=keys)
    assert stamped_back.updated == [] and ("T7", 70, datetime(2026, 10, 3, 8)) in published(bi)["tables"]["fct_touch"]
    con.execute("delete from marts.fct_touch where touch_id = 'T7'")

    con.execute("delete from marts.fct_touch where touch_id = 'T3'")
    fourth = publish_snapshot(con, bi, run_id="r4", keys=keys)
    assert fourth.updated == [] and fourth.tables["fct_touch"] == 4
    assert published(bi) == published_whole(con, tmp_path / "whole4")

    # without a declared key the mart is copied whole
    con.execute("insert into marts.fct_touch values ('T6', 60, '2026-10-04 08:00:00')")
    assert publish_snapshot(con, bi, run_id="r5").updated == []
    assert published(bi) == published_whole(con, tmp_path / "whole5")


def published_whole(con, bi) -> dict:
    publish_snapshot(con, bi, run_id="whole", rebuild=True)
    return published(bi)


def _row_groups(bi, mart: str) -> list[int]:
    """Rows per row group of the published Parquet file of `mart`."""
    path = bi / "parquet" / f"{mart}.parquet"
    return [
        r[0]
        for r in duckdb.sql(
            f"select distinct row_group_id, row_group_num_rows from parquet_metadata('{path}') order by 1"
        )
        .project("row_group_num_rows")
        .fetchall()
    ]


def test_a_mart_with_new_rows_only_has_its_parquet_file_extended_not_written_again(con, tmp_path, monkeypatch, salted):
    make_marts(con, 100)
    day1, day2, day3, day4 = (f"2026-10-0{d} 08:00:00" for d in (1, 2, 3, 4))
    _facts(con, [("T1", 10, day1), ("T2", 20, day1), ("T3", None, day1)])
    keys = {"fct_touch": ["touch_id"]}
    bi = tmp_path / "bi"
    config = dict(snapshot.publish_config())
    monkeypatch.setattr(snapshot, "publish_config", lambda: config)
    config["parquet_max_appends"] = 2
    first = publish_snapshot(con, bi, run_id="r1", keys=keys)
    assert first.parquet_appends["fct_touch"] == 0 and _row_groups(bi, "fct_touch") == [3]

    # a day of new rows only: the file is the previous one plus one row group of the two new rows
    con.executemany("insert into marts.fct_touch values (?, ?, ?)", [("T4", 40, day2), ("T5", None, day2)])
    second = publish_snapshot(con, bi, run_id="r2", keys=keys)
    assert second.updated == ["fct_touch"] and second.parquet_appends["fct_touch"] == 1
    assert _row_groups(bi, "fct_touch") == [3, 2]
    assert published(bi)["tables"]["fct_touch"] == [  # the Parquet file agrees with the table (published())
        ("T1", 10, datetime(2026, 10, 1, 8)),
        ("T2", 20, datetime(2026, 10, 1, 8)),
        ("T3", None, datetime(2026, 10, 1, 8)),
        ("T4", 40, datetime(2026, 10, 2, 8)),
        ("T5", None, datetime(2026, 10, 2, 8)),
    ]
    manifest = json.loads((bi / "snapshot.json").read_text())
    assert manifest["parquet_appends"]["fct_touch"] == 1 and manifest["parquet_appends"]["kpi"] == 0
    # the row group statistics of the added group are its own: a reader skipping by them finds T4
    path = bi / "parquet" / "fct_touch.parquet"
    assert duckdb.sql(f"select amount from '{path}' where touch_id = 'T4'").fetchall() == [(40,)]
    stats = duckdb.sql(
        f"select stats_min_value, stats_max_value from parquet_metadata('{path}') "
        "where row_group_id = 1 and path_in_schema = 'touch_id'"
    ).fetchall()
    assert stats == [("T4", "T5")]

    # unchanged: the file is kept and so is its count; a new description changes no row: the file is
    # the previous version's (one inode), not extended by nothing
    assert publish_snapshot(con, bi, run_id="r2a", keys=keys).parquet_appends["fct_touch"] == 1
    before = (bi / "parquet" / "fct_touch.parquet").stat().st_ino
    con.execute("comment on column marts.fct_touch.amount is 'the touch''s amount'")
    described = publish_snapshot(con, bi, run_id="r2b", keys=keys)
    assert described.updated == ["fct_touch"] and described.parquet_appends["fct_touch"] == 1
    assert (bi / "parquet" / "fct_touch.parquet").stat().st_ino == before and _row_groups(bi, "fct_touch") == [3, 2]

    # the second extension in a row, then the limit (parquet_max_appends = 2): written whole again
    con.execute("insert into marts.fct_touch values ('T6', 60, ?)", [day3])
    assert publish_snapshot(con, bi, run_id="r3", keys=keys).parquet_appends["fct_touch"] == 2
    assert _row_groups(bi, "fct_touch") == [3, 2, 1]
    con.execute("insert into marts.fct_touch values ('T7', 70, ?)", [day4])
    fourth = publish_snapshot(con, bi, run_id="r4", keys=keys)
    assert fourth.updated == ["fct_touch"] and fourth.parquet_appends["fct_touch"] == 0
    assert _row_groups(bi, "fct_touch") == [7]
    assert published(bi) == published_whole(con, tmp_path / "whole4")

    # a row replaced by a newer version: its old version is in the previous file, so written whole
    con.execute("insert into marts.fct_touch values ('T8', 80, '2026-10-05 08:00:00')")
    assert publish_snapshot(con, bi, run_id="r5", keys=keys).parquet_appends["fct_touch"] == 1
    con.execute("update marts.fct_touch set amount = 21, _loaded_at = '2026-10-06 08:00:00' where touch_id = 'T2'")
    sixth = publish_snapshot(con, bi, run_id="r6", keys=keys)
    assert sixth.updated == ["fct_touch"] and sixth.parquet_appends["fct_touch"] == 0
    assert _row_groups(bi, "fct_touch") == [8]
    assert published(bi) == published_whole(con, tmp_path / "whole6")


def test_new_rows_that_would_change_a_column_from_required_to_optional_write_the_file_whole(con, tmp_path, salted):
    # DuckDB writes a column REQUIRED when the table's statistics say it has no NULL; a NULL arriving
    # in it makes the whole file OPTIONAL there, so the old file's row groups cannot be kept
    make_marts(con, 100)
    _facts(con, [("T1", 10, "2026-10-01 08:00:00")])
    keys = {"fct_touch": ["touch_id"]}
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1", keys=keys)
    path = bi / "parquet" / "fct_touch.parquet"
    repetition = f"select repetition_type from parquet_schema('{path}') where name = 'amount'"
    assert duckdb.sql(repetition).fetchall() == [("REQUIRED",)]
    con.execute("insert into marts.fct_touch values ('T2', null, '2026-10-02 08:00:00')")
    second = publish_snapshot(con, bi, run_id="r2", keys=keys)
    assert second.updated == ["fct_touch"] and second.parquet_appends["fct_touch"] == 0
    assert duckdb.sql(repetition).fetchall() == [("OPTIONAL",)] and _row_groups(bi, "fct_touch") == [2]
    assert published(bi) == published_whole(con, tmp_path / "whole")


def test_a_database_that_snapshot_json_does_not_describe_is_not_built_on(con, tmp_path, salted):
    # a publish killed after marts.duckdb was swapped in and before snapshot.json was: the database
    # holds rows the manifest's Parquet files do not; the next publish builds whole
    make_marts(con, 100)
    _facts(con, [("T1", 10, "2026-10-01 08:00:00")])
    bi = tmp_path / "bi"
    publish_snapshot(con, bi, run_id="r1", keys={"fct_touch": ["touch_id"]})
    database = bi / "marts.duckdb"
    stat = database.stat()
    os.utime(database, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # another file than described
    con.execute("insert into marts.fct_touch values ('T2', 20, '2026-10-02 08:00:00')")
    second = publish_snapshot(con, bi, run_id="r2", keys={"fct_touch": ["touch_id"]})
    assert second.rebuilt_because == "marts.duckdb is not the file snapshot.json describes (a publish stopped halfway?)"
    assert second.updated == [] and published(bi) == published_whole(con, tmp_path / "whole")
    # a copy that keeps size and time (cp -a, shutil.copytree) is still the file described
    copied = tmp_path / "copied"
    shutil.copytree(bi, copied, symlinks=True)
    con.execute("insert into marts.fct_touch values ('T3', 30, '2026-10-03 08:00:00')")
    assert publish_snapshot(con, copied, run_id="r3", keys={"fct_touch": ["touch_id"]}).rebuilt_because is None
    # a snapshot.json written before it recorded the file: built whole once, and said why
    manifest = json.loads((copied / "snapshot.json").read_text())
    del manifest["database_file"]
    (copied / "snapshot.json").write_text(json.dumps(manifest))
    older = publish_snapshot(con, copied, run_id="r4", keys={"fct_touch": ["touch_id"]})
    assert (
        older.rebuilt_because == "the previous snapshot.json records no database file (published by an older version)"
    )
