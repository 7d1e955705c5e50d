"""Joining two Parquet files by their row groups (publish/parquet_append.py): the footer codec keeps
every field, the joined file reads as both files' rows in two independent readers (DuckDB and
pyarrow), and whatever cannot be joined safely is refused."""

import struct

import duckdb
import pyarrow.parquet as pq
import pytest

from dagster_project.publish.parquet_append import CannotAppend, append_row_groups, read_footer, write_struct

# every type the marts hold, with NULLs: a dictionary-encoded text, integers (to HUGEINT, which Parquet
# holds as a double: 2^100 reads back equal), decimals,
# doubles, times with and without a zone, a date, a boolean, a list; and a struct (nested fields have
# their own schema entries)
ROWS = """
    select * from (values
        (1, 'north', 12.50::decimal(18, 2), timestamptz '2026-10-01 08:00:00+08', date '2026-10-01', true,
         [1, 2], {'a': 1, 'b': 'x'}, 0.25::double, 9000000000::bigint, 1267650600228229401496703205376::hugeint,
         1234567890123.4567::decimal(38, 4), timestamp '2026-10-01 08:00:00'),
        (2, 'north', null, timestamptz '2026-10-02 09:30:00+08', date '2026-10-02', false, [], {'a': 2, 'b': null},
         -1.5, -1, 0, 0, timestamp '2026-10-02 09:30:00'),
        (3, null, 0.01, null, null, null, null, null, null, null, null, null, null)
    ) as t (id, region, amount, seen_at, day, flag, tags, detail, ratio, big, huge, wide, plain)
"""
LATER = """
    select * from (values
        (4, 'south', 99.99::decimal(18, 2), timestamptz '2026-10-03 10:00:00+08', date '2026-10-03', true,
         [3], {'a': 3, 'b': 'y'}, 1e300::double, 7::bigint, 12::hugeint, 0.0001::decimal(38, 4),
         timestamp '2026-10-03 10:00:00'),
        (5, null, null, null, null, null, null, null, null, null, null, null, null)
    ) as t (id, region, amount, seen_at, day, flag, tags, detail, ratio, big, huge, wide, plain)
"""


def _write(con, select: str, path) -> None:
    con.execute(f"create or replace table rows as {select}")
    con.execute(f"copy rows to '{path}' (format parquet)")


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Shanghai'")
    return con


def test_a_footer_decodes_and_encodes_back_to_the_same_bytes(con, tmp_path):
    path = tmp_path / "a.parquet"
    _write(con, ROWS, path)
    meta, start = read_footer(path)
    data = path.read_bytes()
    (length,) = struct.unpack("<I", data[-8:-4])
    assert start == len(data) - 8 - length
    out = bytearray()
    write_struct(out, meta)
    assert bytes(out) == data[start : start + length]


def test_two_files_join_into_the_rows_of_both_for_duckdb_and_pyarrow(con, tmp_path):
    base, addition, joined = tmp_path / "base.parquet", tmp_path / "add.parquet", tmp_path / "joined.parquet"
    _write(con, ROWS, base)
    _write(con, LATER, addition)
    assert append_row_groups(base, addition, joined) == 5

    expected = sorted(con.execute(f"{ROWS} union all {LATER}").fetchall(), key=repr)
    assert sorted(con.execute(f"select * from '{joined}'").fetchall(), key=repr) == expected
    table = pq.read_table(joined)
    assert table.num_rows == 5 and pq.ParquetFile(joined).metadata.num_row_groups == 2
    assert sorted(table.column("id").to_pylist()) == [1, 2, 3, 4, 5]
    assert table.column("region").to_pylist()[3:] == ["south", None]
    assert [str(v) if v is not None else None for v in table.column("amount").to_pylist()] == [
        "12.50",
        None,
        "0.01",
        "99.99",
        None,
    ]
    assert table.column("tags").to_pylist()[3] == [3] and table.column("detail").to_pylist()[3] == {"a": 3, "b": "y"}
    assert table.column("ratio").to_pylist()[3] == 1e300 and table.column("big").to_pylist()[:2] == [9000000000, -1]
    # the second row group's statistics are the added file's: 4..5, and a filter on them finds its rows
    assert con.execute(
        f"select stats_min_value, stats_max_value from parquet_metadata('{joined}') "
        "where row_group_id = 1 and path_in_schema = 'id'"
    ).fetchall() == [("4", "5")]
    assert con.execute(f"select region from '{joined}' where id = 4").fetchall() == [("south",)]
    # joined again: three row groups
    again = tmp_path / "again.parquet"
    assert append_row_groups(joined, addition, again) == 7
    assert con.execute(
        f"select count(*), count(distinct row_group_id) from parquet_metadata('{again}') where path_in_schema = 'id'"
    ).fetchall() == [(3, 3)]
    assert sorted(r[0] for r in con.execute(f"select id from '{again}'").fetchall()) == [1, 2, 3, 4, 4, 5, 5]


def test_files_that_do_not_join_safely_are_refused(con, tmp_path):
    base = tmp_path / "base.parquet"
    _write(con, ROWS, base)
    other_type = tmp_path / "other_type.parquet"
    _write(con, LATER.replace("(4,", "(4::bigint,"), other_type)  # id BIGINT where the base has INTEGER
    required = tmp_path / "required.parquet"
    _write(con, "select 4 as id, 'south' as region", required)  # other columns, and REQUIRED ones
    for addition in (other_type, required):
        with pytest.raises(CannotAppend, match="differ in their schema"):
            append_row_groups(base, addition, tmp_path / "out.parquet")
    not_parquet = tmp_path / "not.parquet"
    not_parquet.write_bytes(b"id,region\n4,south\n")
    with pytest.raises(CannotAppend, match="not a Parquet file"):
        append_row_groups(base, not_parquet, tmp_path / "out.parquet")
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(base.read_bytes()[:-20] + base.read_bytes()[-8:])  # its footer cut short
    with pytest.raises(CannotAppend):
        append_row_groups(cut, base, tmp_path / "out.parquet")
