"""A publish starts from the previous snapshot: unchanged marts are kept (table and Parquet file),
changed ones rewritten, gone ones dropped, and the result reads exactly as a snapshot built whole."""

import hashlib
import json
import subprocess

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
