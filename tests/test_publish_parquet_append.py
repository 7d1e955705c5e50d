"""Joining two Parquet files by their row groups (publish/parquet_append.py): the footer codec keeps
every field, the joined file reads as both files' rows in two independent readers (DuckDB and
pyarrow), and whatever cannot be joined safely is refused."""

import struct

import duckdb
import pyarrow.parquet as pq
import pytest

from dagster_project.publish.parquet_append import (
    CannotAppend,
    append_row_groups,
    read_footer,
    read_struct,
    write_struct,
)

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


def test_the_codec_writes_the_compact_protocol_as_its_specification_spells_it():
    # bytes spelt by hand from the Thrift compact protocol: field header = (id delta << 4) | type, or
    # type alone then the zigzag varint id when the delta passes 15; i32 as a zigzag varint; a bool
    # field in its header's type (1 true, 2 false); a list header (size << 4) | element type, or 0xF_
    # then a varint size from 15 on; a map as a varint size, then (key type << 4) | value type
    fields = [
        [1, 5, 7],  # i32 7
        [2, 1, True],  # bool
        [3, 2, False],
        [20, 8, b"ab"],  # binary, id 20: delta 17, long form
        [21, 9, (1, [1, 2])],  # list of two bools, one byte each
        [22, 11, (8, 5, [(b"k", 3)])],  # map binary -> i32
        [23, 11, (0, 0, [])],  # empty map: its size only
        [24, 9, (5, list(range(16)))],  # 16 i32s: the long list header
        [25, 12, [[1, 6, -1]]],  # a struct holding i64 -1
    ]
    expected = bytes(
        [0x15, 0x0E, 0x11, 0x12, 0x08, 0x28, 0x02, 0x61, 0x62, 0x19, 0x21, 0x01, 0x02]
        + [0x1B, 0x01, 0x85, 0x01, 0x6B, 0x06, 0x1B, 0x00, 0x19, 0xF5, 0x10]
        + [2 * i for i in range(16)]
        + [0x1C, 0x16, 0x01, 0x00, 0x00]
    )
    out = bytearray()
    write_struct(out, fields)
    assert bytes(out) == expected
    assert read_struct(expected) == (fields, len(expected))


def _with_footer(source, target, change) -> None:
    """`target`: `source` with its footer tree changed by `change`, re-encoded."""
    meta, start = read_footer(source)
    change(meta)
    footer = bytearray()
    write_struct(footer, meta)
    target.write_bytes(source.read_bytes()[:start] + bytes(footer) + struct.pack("<I", len(footer)) + b"PAR1")


def test_metadata_a_page_index_or_a_footer_out_of_bounds_refuse_the_join(con, tmp_path):
    base, addition = tmp_path / "base.parquet", tmp_path / "add.parquet"
    _write(con, ROWS, base)
    _write(con, LATER, addition)
    out = tmp_path / "out.parquet"
    tagged = tmp_path / "tagged.parquet"
    con.execute(f"copy rows to '{tagged}' (format parquet, kv_metadata {{source: 'elsewhere'}})")
    with pytest.raises(CannotAppend, match="key value metadata"):
        append_row_groups(base, tagged, out)
    other_writer = tmp_path / "writer.parquet"
    _with_footer(addition, other_writer, lambda m: next(f for f in m if f[0] == 6).__setitem__(2, b"another writer"))
    with pytest.raises(CannotAppend, match="created by"):
        append_row_groups(base, other_writer, out)

    def add_offset_index(meta):  # field 4 of the first column chunk of the first row group
        row_group = next(f for f in meta if f[0] == 4)[2][1][0]
        chunk = next(f for f in row_group if f[0] == 1)[2][1][0]
        chunk.insert(next((i for i, f in enumerate(chunk) if f[0] > 4), len(chunk)), [4, 6, 1234])

    indexed = tmp_path / "indexed.parquet"
    _with_footer(addition, indexed, add_offset_index)
    with pytest.raises(CannotAppend, match="page index"):
        append_row_groups(base, indexed, out)
    too_long = tmp_path / "too_long.parquet"
    data = addition.read_bytes()
    too_long.write_bytes(data[:-8] + struct.pack("<I", len(data)) + b"PAR1")  # a length past the file
    with pytest.raises(CannotAppend, match="a footer of"):
        append_row_groups(base, too_long, out)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"PAR1" + b"\x19\xfc" * 8 + struct.pack("<I", 16) + b"PAR1")  # a list that runs off
    with pytest.raises(CannotAppend, match="does not decode"):
        append_row_groups(base, garbage, out)
