"""Files that break or fool ingestion (issue 9, items 9-16 and 22), on hand-made files.

Every bad file is rejected or ignored by name with its reason, leaves a manifest or audit row so
that later runs are not blocked by it, and the good files beside it load.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from datetime import date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pytest
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import inspect as ingest_inspect
from dagster_project.ingest import load_entity
from dagster_project.ingest.inspect import ingest_limits
from dagster_project.quality.integrity import row_accounting

ACCOUNTS = load_contracts()["crm.accounts"]
HEADER = list(ACCOUNTS.column_names)


def account(account_id: str, name: str = "甲公司", updated_at: str = "2025-01-02") -> list[str]:
    return [account_id, name, "制造", "100", "华东", "上海", "上海", "R1", "30", "2025-01-01", updated_at]


def load(con, raw_dir: Path, batch_bytes: int | None = None):
    return load_entity(con, ACCOUNTS, raw_dir, batch_bytes=batch_bytes)


def audit(con) -> list[tuple]:
    return con.execute(
        "select source_file, rows_read, rows_loaded, rows_quarantined, status, rejected_reason "
        "from meta.ingest_audit order by source_file"
    ).fetchall()


def folder(raw_dir: Path) -> Path:
    path = raw_dir / "crm" / "accounts"
    path.mkdir(parents=True, exist_ok=True)
    return path


# -- item 9: a name is a name, never a glob pattern -------------------------------------------


def test_file_names_with_glob_characters_read_exactly_that_file(con, raw_dir):
    write_drop(raw_dir, "crm.accounts", "accounts_2026-11-03_x.csv", csv_text(HEADER, [account("A1")]))
    write_drop(raw_dir, "crm.accounts", "accounts_2026-11-03_[x].csv", csv_text(HEADER, [account("A2")]))
    write_drop(raw_dir, "crm.accounts", "accounts_2026-11-04_*.csv", csv_text(HEADER, [account("A3")]))
    write_drop(raw_dir, "crm.accounts", "accounts_2026-11-05_?.csv", csv_text(HEADER, [account("A4")]))

    load(con, raw_dir)

    assert con.execute("select account_id, _source_file from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "crm/accounts/accounts_2026-11-03_x.csv"),
        ("A2", "crm/accounts/accounts_2026-11-03_[x].csv"),
        ("A3", "crm/accounts/accounts_2026-11-04_*.csv"),
        ("A4", "crm/accounts/accounts_2026-11-05_?.csv"),
    ]
    assert [r[:5] for r in audit(con)] == [
        ("crm/accounts/accounts_2026-11-03_[x].csv", 1, 1, 0, "loaded"),
        ("crm/accounts/accounts_2026-11-03_x.csv", 1, 1, 0, "loaded"),
        ("crm/accounts/accounts_2026-11-04_*.csv", 1, 1, 0, "loaded"),
        ("crm/accounts/accounts_2026-11-05_?.csv", 1, 1, 0, "loaded"),
    ]


def test_drops_are_read_in_place_unless_their_name_needs_a_link_and_leave_no_scratch_folder(con, tmp_path, monkeypatch):
    """DuckDB reads a drop by its own path when that path holds no glob character and ends in a lower
    case suffix; otherwise through a link in a scratch folder (a raw folder whose own name has
    brackets, an upper case suffix), and a UTF-16 or gzip file through a UTF-8 copy written there as
    the file is scanned. No scratch folder is left behind, and none is made for the plain drop."""
    raw_dir = tmp_path / "raw[2026]"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr("tempfile.mkdtemp", lambda **kw: made.append(kw) or real_mkdtemp(**kw))
    write_drop(raw_dir, "crm.accounts", "accounts_2026-11-03.CSV", csv_text(HEADER, [account("A1")]))
    write_drop(raw_dir, "crm.accounts", "accounts_2026-11-05.csv", csv_text(HEADER, [account("A3")]))
    folder(raw_dir).joinpath("accounts_2026-11-04.Csv.GZ").write_bytes(
        gzip.compress(csv_text(HEADER, [account("A2")]).encode())
    )
    utf16 = folder(raw_dir) / "accounts_2026-11-06.csv"
    utf16.write_bytes(csv_text(HEADER, [account("A4")]).encode("utf-16"))

    load(con, raw_dir)

    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [
        ("A1",),
        ("A2",),
        ("A3",),
        ("A4",),
    ]
    assert [r[4] for r in audit(con)] == ["loaded"] * 4
    assert len(made) == 4  # three drops under a bracketed folder, and the UTF-16 copy
    assert list(scratch.iterdir()) == []

    made.clear()
    plain = tmp_path / "plain_raw"
    write_drop(plain, "crm.accounts", "accounts_2026-11-07.csv", csv_text(HEADER, [account("A5")]))
    load(con, plain)
    assert con.execute("select count(*) from raw_crm.accounts where account_id = 'A5'").fetchall() == [(1,)]
    assert made == []
    # gzip, whatever the case of its suffix: read from the copy the scan writes as it inflates the
    # file (DuckDB would inflate it again, on one thread)
    for account_id, name in [("A6", "accounts_2026-11-08.CSV.GZ"), ("A7", "accounts_2026-11-09.csv.gz")]:
        folder(plain).joinpath(name).write_bytes(gzip.compress(csv_text(HEADER, [account(account_id)]).encode()))
    load(con, plain)
    assert con.execute(
        "select account_id from raw_crm.accounts where account_id in ('A6', 'A7') order by 1"
    ).fetchall() == [
        ("A6",),
        ("A7",),
    ]
    assert len(made) == 2
    assert list(scratch.iterdir()) == []


def test_a_parquet_name_with_brackets_reads_exactly_that_file(con, raw_dir):
    path = folder(raw_dir)
    for account_id, name in [("P1", "accounts_2025-01-31_[1].parquet"), ("P2", "accounts_2025-01-31_1.parquet")]:
        values = ", ".join(f"'{v}' as {c}" for c, v in zip(HEADER, account(account_id), strict=True))
        duckdb.connect().execute(f"copy (select {values}) to '{path / name}' (format parquet)")

    load(con, raw_dir)

    assert con.execute("select account_id, _source_file from raw_crm.accounts order by 1").fetchall() == [
        ("P1", "crm/accounts/accounts_2025-01-31_[1].parquet"),
        ("P2", "crm/accounts/accounts_2025-01-31_1.parquet"),
    ]


# -- item 10: files that used to crash the step -------------------------------------------------


def _truncated_gzip(path: Path) -> None:
    rows = [account(f"T{i}") for i in range(3000)]
    whole = gzip.compress(csv_text(HEADER, rows).encode())
    path.write_bytes(whole[: len(whole) // 2])


def _long_header_field(path: Path) -> None:
    path.write_text(",".join(HEADER) + ",note" + "x" * 140_000 + "\n" + ",".join(account("H1")) + ",n\n")


def _corrupt_parquet(path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        f"copy (select 'A' || i as account_id, 'name' || i as account_name, '制造' as industry, i as employee_count, "
        f"'华东' as region, '上海' as province, '上海' as city, 'R1' as owner_rep_id, '2025-01-01' as created_at, "
        f"'2025-01-02' as updated_at from range(20000) t(i)) to '{path}' (format parquet)"
    )
    data = bytearray(path.read_bytes())
    for offset in range(1000, len(data) // 2, 997):  # the data pages; the footer stays readable
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _broken_xlsx(path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(HEADER)
    book.active.append(account("X1"))
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(buffer) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2] + b'<row r="9"><c'  # cut mid-element
            zout.writestr(item, data)


def _internal_column(name: str):
    def write(path: Path) -> None:
        path.write_text(csv_text([*HEADER, name], [[*account("I1"), "7"]]))

    return write


@pytest.mark.parametrize(
    ("name", "write", "reason"),
    [
        ("accounts_2025-01-10.csv.gz", _truncated_gzip, "truncated gzip file"),
        ("accounts_2025-01-10.csv", _long_header_field, "header cannot be read"),
        ("accounts_2025-01-10.parquet", _corrupt_parquet, "not a readable Parquet file"),
        ("accounts_2025-01-10.xlsx", _broken_xlsx, "not a readable xlsx workbook"),
        ("accounts_2025-01-10.csv", _internal_column("_line"), "column '_line' is reserved"),
        ("accounts_2025-01-10.csv", _internal_column("_drop_seq"), "column '_drop_seq' is reserved"),
        ("accounts_2025-01-10.csv", _internal_column("_problems"), "column '_problems' is reserved"),
        ("accounts_2025-01-10.csv", _internal_column("_source_file"), "column '_source_file' is reserved"),
        ("accounts_2025-01-10.csv", _internal_column("_RANK"), "column '_RANK' is reserved"),
    ],
    ids=["truncated_gz", "header_field_140k", "corrupt_parquet", "broken_xlsx_xml"]
    + [f"internal_{c}" for c in ("_line", "_drop_seq", "_problems", "_source_file", "_rank")],
)
def test_a_broken_file_is_rejected_by_name_and_the_others_load(con, raw_dir, tmp_path, name, write, reason):
    write(folder(raw_dir) / name)
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, [account("A1")]))

    result = load(con, raw_dir)

    rows = audit(con)
    assert [r[:5] for r in rows] == [
        (f"crm/accounts/{name}", 0, 0, 0, "rejected"),
        ("crm/accounts/accounts_2025-01-31.csv", 1, 1, 0, "loaded"),
    ]
    assert reason in rows[0][5]
    assert str(tmp_path) not in rows[0][5]  # item 22: no server path in a stored reason
    assert result.table_rows == 1
    assert con.execute("select source_file, status from meta.drop_manifest order by 1").fetchall() == [
        (f"crm/accounts/{name}", "rejected"),
        ("crm/accounts/accounts_2025-01-31.csv", "loaded"),
    ]
    load(con, raw_dir)  # the next run is not blocked by it, nor repeats it
    assert len(audit(con)) == 2


def test_a_header_naming_a_column_twice_is_rejected_with_a_reason_that_names_the_file_once(con, raw_dir):
    """The summary and the run log print "rejected <file>: <reason>": the reason itself does not
    start with the file again (it did: "crm/accounts/x.csv: crm/accounts/x.csv: column ...")."""
    header = [*HEADER[:2], "Account_Name", *HEADER[3:]]  # the third column spelt like the second
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-10.csv", csv_text(header, [account("A1")]))

    load(con, raw_dir)

    assert [r[4:] for r in audit(con)] == [("rejected", "column 'Account_Name' appears twice in the header")]


def test_a_file_with_both_kinds_of_line_end_loads_every_row_on_its_own_line_and_says_so(con, raw_dir):
    """Header CR LF, then LF, then a CR LF row, then a bad row (LF): DuckDB's reader stopped on such a
    file ("state machine reached an invalid state"). Every row loads, the bad one is quarantined under
    its physical line (5), and the audit notes the mixed line ends. The same rows gzipped load alike."""
    rows = [",".join(account(i)) for i in ("A1", "A2", "A3")] + [",".join(account("A4")).replace("100", "lots")]
    text = ",".join(HEADER) + "\r\n" + rows[0] + "\n" + rows[1] + "\r\n" + rows[2] + "\n" + rows[3] + "\n"
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_bytes(text.encode("utf-8"))
    folder(raw_dir).joinpath("accounts_2025-01-11.csv.gz").write_bytes(gzip.compress(text.replace("A", "G").encode()))

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(4, 3, 1, "loaded"), (4, 3, 1, "loaded")]
    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [
        ("A1",),
        ("A2",),
        ("A3",),
        ("G1",),
        ("G2",),
        ("G3",),
    ]
    assert con.execute("select source_file, line, column_name from meta.quarantine order by 1").fetchall() == [
        ("crm/accounts/accounts_2025-01-10.csv", 5, "employee_count"),
        ("crm/accounts/accounts_2025-01-11.csv.gz", 5, "employee_count"),
    ]
    notes = con.execute("select distinct note from meta.ingest_audit").fetchall()
    assert notes == [("line ends mixed CR LF and LF: read with each CR LF as LF",)]


def test_a_file_whose_lines_end_in_cr_alone_loads_every_row_and_says_so(con, raw_dir):
    """Excel for Mac's "CSV (Macintosh)" ends lines with CR alone: read as lines, the file was one
    line, and it was rejected ("header cannot be read: new-line character seen in unquoted field",
    or, past 2 MB, "the header is longer than 2,000,000 bytes"). Each CR is read as a line end: a
    quoted name with a line break (lines 2-3) stays one record, the bad row is quarantined under its
    line (5), the audit notes the line ends. The same rows gzipped, and in GBK, load alike."""
    rows = [",".join(account("A1", name='"甲\r公司"')), ",".join(account("A2"))]
    rows.append(",".join(account("A3")).replace("100", "lots"))
    text = "\r".join([",".join(HEADER), *rows, ",".join(account("A4"))]) + "\r"
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_bytes(text.encode("utf-8"))
    folder(raw_dir).joinpath("accounts_2025-01-11.csv.gz").write_bytes(gzip.compress(text.replace("A", "G").encode()))
    folder(raw_dir).joinpath("accounts_2025-01-12.csv").write_bytes(text.replace("A", "K").encode("gbk"))

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(4, 3, 1, "loaded")] * 3
    assert con.execute("select account_id, account_name from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "甲\n公司"),
        ("A2", "甲公司"),
        ("A4", "甲公司"),
        ("G1", "甲\n公司"),
        ("G2", "甲公司"),
        ("G4", "甲公司"),
        ("K1", "甲\n公司"),
        ("K2", "甲公司"),
        ("K4", "甲公司"),
    ]
    assert con.execute("select source_file, line, column_name from meta.quarantine order by 1").fetchall() == [
        ("crm/accounts/accounts_2025-01-10.csv", 5, "employee_count"),
        ("crm/accounts/accounts_2025-01-11.csv.gz", 5, "employee_count"),
        ("crm/accounts/accounts_2025-01-12.csv", 5, "employee_count"),
    ]
    notes = con.execute("select distinct note from meta.ingest_audit").fetchall()
    assert notes == [("line ends are CR only (classic Mac OS, Excel's CSV (Macintosh)): read with each CR as LF",)]


# Rows that are no records are probed in one of two forms, by the size of the drop
# (read._CONCATENATE_BELOW_ROWS): each test of them runs with both.
@pytest.fixture(params=["concatenation", "per_column"])
def no_record_probe(request, monkeypatch):
    if request.param == "per_column":
        monkeypatch.setattr("dagster_project.ingest.read._CONCATENATE_BELOW_ROWS", 0)
    return request.param


def test_two_exports_joined_into_one_file_quarantine_the_repeated_header_with_that_reason(
    con, raw_dir, no_record_probe
):
    """`cat jan.csv feb.csv > q1.csv` repeats the header on line 4. That row is quarantined under its
    line with one reason that says what it is (it was quarantined for each value failing its type:
    "employee_count: cannot read the value as bigint; ..."); the four records around it load. A row
    that repeats only some of the names is a record, checked as any."""
    jan = csv_text(HEADER, [account("A1"), account("A2")])
    feb = "\ufeff" + csv_text(HEADER, [account("B1"), account("B2")])  # Excel's "CSV UTF-8" starts with a BOM
    partly = ",".join(["C1", "account_name", *account("C1")[2:]]) + "\n"  # one name as a value: a record
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", jan + feb + partly)

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 6, 5, 1, "loaded", None)]
    assert con.execute("select line, column_name, reason, raw_record from meta.quarantine").fetchall() == [
        (
            4,
            None,
            "the header line again, as a row (two exports joined into one file?): not a record; "
            "the rows above and below it are read as usual",
            json.dumps({n: "\ufeff" * (n == HEADER[0]) + n for n in HEADER}, separators=(",", ":"), ensure_ascii=False),
        )
    ]
    assert con.execute("select account_id, account_name from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "甲公司"),
        ("A2", "甲公司"),
        ("B1", "甲公司"),
        ("B2", "甲公司"),
        ("C1", "account_name"),
    ]


def test_a_record_whose_first_value_is_its_columns_name_is_a_record(con, raw_dir, no_record_probe):
    """The probe for a repeated header tests the first named column alone: a record holding that
    name there (and values elsewhere) is looked at again in full, and loads."""
    write_drop(
        raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, [account("account_id"), account("A1")])
    )

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 2, 2, 0, "loaded", None)]
    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [("A1",), ("account_id",)]


def test_a_repeated_header_with_an_unnamed_column_is_the_header_again_too(con, raw_dir, no_record_probe):
    """pandas writes its index as a first column with no name (`,account_id,...`): the loader names it
    `_unnamed_1`, and joined exports repeat it empty. That row is the header again all the same."""
    header_line = "," + ",".join(HEADER) + "\n"
    rows = "".join(f"{i}," + ",".join(account(f"A{i}")) + "\n" for i in range(2))
    write_drop(
        raw_dir, "crm.accounts", "accounts_2025-01-31.csv", header_line + rows + header_line + rows.replace("A", "B")
    )

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 5, 4, 1, "loaded", None)]
    assert con.execute("select line, reason from meta.quarantine").fetchall() == [
        (
            4,
            "the header line again, as a row (two exports joined into one file?): not a record; "
            "the rows above and below it are read as usual",
        )
    ]


def test_a_csv_separated_by_semicolons_or_tabs_loads_and_says_so(con, raw_dir):
    """Excel in a European locale saves ";"-separated CSV, and some systems write tab-separated files
    named .csv: a header without a comma that splits on one of them sets the file's delimiter. A
    quoted name keeps its ";" and ","; a row with a field too many is quarantined on its line."""
    one = account("S1", name='"甲;乙,丙公司"')
    two = account("S2")
    text = ";".join(HEADER) + "\n" + ";".join(one) + "\n" + ";".join(two) + ";extra\n"
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_text(text)
    tabs = "\t".join(HEADER) + "\n" + "\t".join(account("T1")) + "\n"
    folder(raw_dir).joinpath("accounts_2025-01-11.csv").write_text(tabs)

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(2, 1, 1, "loaded"), (1, 1, 0, "loaded")]
    assert con.execute("select account_id, account_name from raw_crm.accounts order by 1").fetchall() == [
        ("S1", "甲;乙,丙公司"),
        ("T1", "甲公司"),
    ]
    assert con.execute("select line, reason from meta.quarantine").fetchall()[0][0] == 3
    notes = con.execute("select note from meta.ingest_audit order by source_file").fetchall()
    assert notes == [("fields separated by semicolons, not commas",), ("fields separated by tabs, not commas",)]


def test_rows_whose_every_field_is_empty_are_no_records_and_are_counted_in_the_note(con, raw_dir, no_record_probe):
    """Spreadsheets save rows they once used as ",,,,": three accounts, a blank row between two of
    them, two blank rows (one of spaces) and an empty line at the end. Each blank row was quarantined
    for its empty key (with the keyless row, 4 of 6 rows), so the file failed the quarantine share.
    A row with its key alone empty is still quarantined, on its line."""
    blank = "," * (len(HEADER) - 1)
    keyless = ",".join(account(""))
    lines = [
        ",".join(HEADER),
        ",".join(account("A1")),
        blank,
        ",".join(account("A2")),
        keyless,
        " ," + blank[1:],
        blank,
    ]
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_text("\n".join(lines) + "\n\n")

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(3, 2, 1, "loaded")]
    assert con.execute("select line, column_name from meta.quarantine").fetchall() == [(5, "account_id")]
    assert con.execute("select note from meta.ingest_audit").fetchall() == [
        ("3 blank rows (every field empty) skipped: no records",)
    ]
    assert row_accounting(con) == []


@pytest.mark.parametrize(
    ("row", "blank", "header_again"),
    [
        (",".join(['""'] * len(HEADER)), 1, False),  # quoted empty fields
        ("\u00a0" + "," * (len(HEADER) - 1), 1, False),  # a no-break space, which DuckDB's trim removes
        ("\u3000" + "," * (len(HEADER) - 1), 1, False),  # an ideographic space
        (",".join(f'"{h}"' for h in HEADER), 0, True),  # the header again in quotes, as Salesforce writes it
    ],
)
def test_blank_rows_and_a_header_again_in_quotes_or_after_unicode_spaces_are_found_by_the_lines_first_bytes(
    con, raw_dir, row, blank, header_again
):
    """The probe for rows that are no records runs only when the lines' first bytes allow one
    (read._may_hold_no_records). Each file holds one such row between two accounts, its line
    beginning otherwise than ",": it is still found, neither loaded nor quarantined as a record."""
    lines = [",".join(HEADER), ",".join(account("A1")), row, ",".join(account("A2"))]
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    load(con, raw_dir)

    quarantined = con.execute("select reason from meta.quarantine").fetchall()
    assert [r[0].split(",")[0] for r in quarantined] == (["the header line again"] if header_again else [])
    notes = con.execute("select note from meta.ingest_audit").fetchall()
    assert notes == [("1 blank row (every field empty) skipped: no records" if blank else None,)]
    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [("A1",), ("A2",)]
    assert row_accounting(con) == []


@pytest.mark.parametrize(
    ("rows", "probed"),
    [
        (["A1,x", "A2,y"], False),  # ids that begin otherwise than the first column's name: none can be there
        (['"A1","x"', '"A2","y"'], False),  # quoted, the byte after the quote tells
        (["A1,x", ",y"], True),  # a line that begins with the separator: its first field is empty
        (["A1,x", '"",y'], True),  # a quoted empty field
        (["A1,x", " A2,y"], True),  # a space, which trim removes
        (["A1,x", "\u3000A2,y"], True),  # an ideographic space (a byte of more than one): trim removes it too
        (["A1,x", "account_id,y"], True),  # the first column's name: the header again, perhaps
        (["A1,x", '"account_id",y'], True),
        (["A1,\r,", "A2,y"], True),  # a CR alone ends a record in an LF file: the next begins unseen
    ],
)
def test_the_probe_for_rows_that_are_no_records_runs_only_when_the_lines_first_bytes_allow_one(
    rows, probed, tmp_path, monkeypatch
):
    """Hand-made files of two columns: whether the probe ran, by the lines below the header."""
    from dagster_project.ingest import read as ingest_read
    from dagster_project.ingest.drops import Drop

    calls = []
    probe = ingest_read._drop_rows_that_are_no_records
    monkeypatch.setattr(
        ingest_read, "_drop_rows_that_are_no_records", lambda *a, **k: calls.append(1) or probe(*a, **k)
    )
    path = tmp_path / "accounts_2025-01-31.csv"
    path.write_text("account_id,account_name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    con = duckdb.connect()
    ingest_read.read_drop(con, Drop(path, path.name, date(2025, 1, 31), path.stat().st_size, 0))

    assert bool(calls) is probed


def test_a_title_above_the_header_is_rejected_naming_the_line_that_holds_the_header(con, raw_dir):
    """A report-style export: a title and a note line, then the header on line 3. The columns are "not
    in the file" only because they are on line 3; the reason says so."""
    body = csv_text(HEADER, [account("A1")])
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_text("客户报表\n导出时间:2025-01-10\n" + body)

    load(con, raw_dir)

    (reason,) = [r[5] for r in audit(con)]
    assert reason == (
        "missing required column(s) account_id (line 3 holds account_id: a title or note above the header? "
        "The header must be the first line: remove the 2 line(s) above it, or, for a company's export read "
        "through a mapping, set `header_row: 3` in its file rule)"
    )


def test_a_title_row_above_an_xlsx_header_is_named_in_the_rejection_too(con, raw_dir):
    """The same for a workbook: a title in A1, the header in sheet row 2."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["客户报表"])
    book.active.append(HEADER)
    book.active.append(account("X1"))
    book.save(folder(raw_dir) / "accounts_2025-01-10.xlsx")

    load(con, raw_dir)

    assert [r[5] for r in audit(con)] == [
        "missing required column(s) account_id (line 2 holds account_id: a title or note above the header? "
        "The header must be the first line: remove the 1 line(s) above it, or, for a company's export read "
        "through a mapping, set `header_row: 2` in its file rule)"
    ]


GZIP_BOMB = """
import gzip, sys
from pathlib import Path
from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.warehouse import connect
raw = Path(sys.argv[1])
con = connect(sys.argv[2])
load_entity(con, load_contracts()["crm.accounts"], raw)
reason = con.execute("select rejected_reason from meta.ingest_audit").fetchall()[0][0]
# VmHWM is this process's own peak: getrusage's maxrss would carry pytest's size over the fork
peak_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(peak_kib // 1024, reason, sep="\\n")
"""


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"\0" * 64, "the first line (the header) is longer than 2,000,000 bytes"),  # no line break at all
        (b"A1,x,y,100,E,SH,SH,R1,2025-01-01,2025-01-02\n", "gzip bomb: "),  # a header, then 1 GiB of rows
    ],
    ids=["zeros", "repeated_rows"],
)
def test_a_gzip_bomb_is_rejected_in_bounded_memory(raw_dir, tmp_path, line, reason):
    # 1 GiB in ~1-3 MB of gzip: read whole, the header line alone (zeros) or the rows would fill memory
    block = line * ((1 << 24) // len(line))
    with gzip.open(folder(raw_dir) / "accounts_2025-01-10.csv.gz", "wb", compresslevel=9) as fh:
        if line.endswith(b"\n"):
            fh.write(",".join(HEADER).encode() + b"\n")
        for _ in range(64):
            fh.write(block)

    done = subprocess.run(
        [sys.executable, "-c", GZIP_BOMB, str(raw_dir), str(tmp_path / "bomb.duckdb")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "S2S_DUCKDB_MEMORY_LIMIT": "500MB"},
    )

    assert done.returncode == 0, done.stderr[-3000:]
    peak_mib, stored = done.stdout.strip().split("\n", 1)
    assert stored.startswith(reason)
    assert int(peak_mib) < 600  # the GiB never sits in memory


# -- item 11: a line longer than DuckDB's buffer must not vanish ------------------------------


def test_a_row_with_a_40_mb_field_is_quarantined_not_lost(con, raw_dir):
    text = csv_text(HEADER, [account("A1")])  # line 2
    text += ",".join(account("A2", name="x" * 40_000_000)) + "\n"  # line 3: 40 MB
    text += ",".join(account("A3")) + "\n"  # line 4
    text += ",".join(account("A4")) + ",EXTRA\n"  # line 5: one field too many
    text += ",".join(account("A5", name="y" * 3_000_000)) + "\n"  # line 6: 3 MB
    text += ",".join(account("A6")) + "\n"  # line 7
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(6, 3, 3, "loaded")]
    assert con.execute("select account_id, _source_line from raw_crm.accounts order by 1").fetchall() == [
        ("A1", 2),
        ("A3", 4),
        ("A6", 7),
    ]
    quarantined = con.execute("select line, reason, length(raw_record) from meta.quarantine order by line").fetchall()
    assert [q[0] for q in quarantined] == [3, 5, 6]
    # 40,000,000 + 53 bytes of the other ten fields (UTF-8) + 10 commas
    assert quarantined[0][1].startswith("line of 40,000,063 bytes is longer than the maximum of 2,000,000")
    assert quarantined[0][2] < 20_000  # kept as its beginning, not 40 MB in the quarantine
    assert "TOO MANY COLUMNS" in quarantined[1][1]
    assert quarantined[2][1].startswith("line of 3,000,063 bytes is longer than the maximum of 2,000,000")
    assert row_accounting(con) == []


def test_a_file_cut_mid_row_quarantines_that_row_with_one_reason_naming_the_column(con, raw_dir):
    """A transfer that stopped mid-row: the last row has 4 of its 11 fields. DuckDB reports it once per
    missing column; the quarantine says it once, at the first missing column (`region`, the 5th)."""
    text = csv_text(HEADER, [account("A1"), account("A2")])  # lines 2-3
    text += ",".join(account("A3")[:4])  # line 4, no newline: the file ends there
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(3, 2, 1, "loaded")]
    assert con.execute("select line, column_name, reason, raw_record from meta.quarantine").fetchall() == [
        (
            4,
            None,
            "malformed row: MISSING COLUMNS: Expected Number of Columns: 11 Found: 4 (at column region)",
            "A3,甲公司,制造,100",
        )
    ]
    assert row_accounting(con) == []


def test_a_long_line_in_a_gzip_and_a_gbk_file_is_quarantined_too(con, raw_dir):
    rows = [account("A1"), account("A2", name="长" * 1_000_000), account("A3")]  # 3 MB in UTF-8, 2 MB in GBK
    with gzip.open(folder(raw_dir) / "accounts_2025-01-31.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(csv_text(HEADER, rows))
    text = csv_text(HEADER, [account("B1"), account("B2", name="长" * 20_000_000), account("B3", name="杭州")])
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", text, encoding="gbk")

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(3, 2, 1, "loaded"), (3, 2, 1, "loaded")]
    assert con.execute("select account_id, account_name, _source_line from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "甲公司", 2),
        ("A3", "甲公司", 4),
        ("B1", "甲公司", 2),
        ("B3", "杭州", 4),
    ]
    assert con.execute("select source_file, line from meta.quarantine order by 1").fetchall() == [
        ("crm/accounts/accounts_2025-01-31.csv.gz", 3),
        ("crm/accounts/accounts_2025-02-28.csv", 3),
    ]


@pytest.mark.parametrize("copy_max_bytes", [1 << 30, 200])
def test_a_gzip_drop_loads_the_same_from_its_inflated_copy_or_past_the_copys_cap(
    con, raw_dir, monkeypatch, copy_max_bytes
):
    """A .csv.gz is read by DuckDB from the copy its line scan writes as it inflates it; past
    gzip_copy_max_mb of text (here 200 bytes, below this file's ~1.6 kB) the copy stops and DuckDB
    reads the .gz itself. The same rows, lines and quarantine either way."""
    limits = dataclasses.replace(ingest_limits(), gzip_copy_max_bytes=copy_max_bytes)
    monkeypatch.setattr("dagster_project.ingest.read.ingest_limits", lambda: limits)
    read_in_place = []  # (the file, whether a copy is left beside it)
    in_place = ingest_inspect.exact_read_path

    def spy(path: Path, workdir):
        read_in_place.append((path.name, (workdir / "drop.csv").exists()))
        return in_place(path, workdir)

    monkeypatch.setattr(ingest_inspect, "exact_read_path", spy)
    rows = [account(f"A{i}") for i in range(1, 13)]
    rows[4] = [*account("A5")[:9], "not a date", "2025-01-02"]  # line 6: a bad value
    text = csv_text(HEADER, rows) + ",".join(account("A13")) + ",extra\n"  # line 14: a field too many
    folder(raw_dir).joinpath("accounts_2025-01-31.csv.gz").write_bytes(gzip.compress(text.encode()))

    load(con, raw_dir)

    assert read_in_place == ([] if copy_max_bytes > len(text.encode()) else [("accounts_2025-01-31.csv.gz", False)])
    loaded = con.execute("select account_id, _source_line from raw_crm.accounts order by _source_line").fetchall()
    assert loaded == [(f"A{i}", i + 1) for i in range(1, 13) if i != 5]
    quarantined = con.execute("select line, reason, raw_record from meta.quarantine order by line").fetchall()
    assert [q[0] for q in quarantined] == [6, 14]
    assert quarantined[0][1] == "created_at: cannot read the value as timestamp" and "not a date" in quarantined[0][2]
    assert "TOO MANY COLUMNS" in quarantined[1][1] and quarantined[1][2].endswith("2025-01-02,extra")
    assert [r[1:5] for r in audit(con)] == [(13, 11, 2, "loaded")]
    assert row_accounting(con) == []


_READ_ONE_DROP = """
import resource, signal, sys
from datetime import date
from pathlib import Path

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
if sys.argv[2] != "unlimited":
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.RLIM_INFINITY))
import duckdb
from dagster_project.ingest import inspect
from dagster_project.ingest.drops import Drop
from dagster_project.ingest.read import read_drop

in_place = inspect.exact_read_path
inspect.exact_read_path = lambda path, workdir: print("read in place:", path.name) or in_place(path, workdir)
path = Path(sys.argv[1])
con = duckdb.connect()
read = read_drop(con, Drop(path, "crm/accounts/" + path.name, date(2025, 1, 31), path.stat().st_size, 0))
print("lines:", [r[0] for r in con.execute("select _line from _drop_raw order by 1").fetchall()])
print("malformed:", [(m.line, m.reason) for m in read.malformed])
"""


@pytest.mark.parametrize("rows", [12, 2000])
def test_a_gzip_drop_whose_copy_the_temp_folder_cannot_take_is_read_from_the_gz(raw_dir, tmp_path, rows):
    """The scratch folder is the system's temp folder, which may be small or in memory: when it takes
    no more of a gzip drop's copy, DuckDB reads the .gz itself. A real write failure: the reading
    process may write files of at most 300 bytes (RLIMIT_FSIZE). A copy of 12 rows (~1.6 kB) fails
    when its buffer is flushed at the end; one of 2,000 rows (~260 kB) fails at a write."""
    text = csv_text(HEADER, [account(f"A{i}") for i in range(1, rows + 1)])
    text += ",".join(account(f"A{rows + 1}")) + ",extra\n"
    drop = folder(raw_dir) / "accounts_2025-01-31.csv.gz"
    drop.write_bytes(gzip.compress(text.encode()))
    script = tmp_path / "read_one_drop.py"
    script.write_text(_READ_ONE_DROP, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "TMPDIR": str(tmp_path)}
    said = {}
    for limit in ("unlimited", "300"):
        done = subprocess.run(
            [sys.executable, str(script), str(drop), limit], capture_output=True, text=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr
        said[limit] = done.stdout.splitlines()
    # read from the copy: rows on lines 2 to rows + 1, the last line malformed
    assert said["unlimited"][0] == "lines: " + str(list(range(2, rows + 2)))
    assert said["unlimited"][1].startswith(f"malformed: [({rows + 2}, 'malformed row: TOO MANY COLUMNS")
    assert len(said["unlimited"]) == 2
    # the copy failed: read from the .gz, the same
    assert said["300"] == ["read in place: accounts_2025-01-31.csv.gz", *said["unlimited"]]


# -- a batch's CSV drops are read in worker threads (issue 14); what they give is what one thread gives


def _mixed_batch(raw_dir: Path) -> None:
    """Five CSV drops of one batch: good, malformed rows, a missing key column, a duplicate key, gzip."""
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, [account("A1"), account("A2")]))
    text = csv_text(HEADER, [account("B1"), [*account("B2")[:9], "not a date", "2025-01-02"]])
    text += ",".join(account("B3")) + ",extra\n"  # line 4: a field too many
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", text)
    write_drop(raw_dir, "crm.accounts", "accounts_2025-03-31.csv", csv_text(HEADER[1:], [account("C1")[1:]]))
    rows = [account("A1", name="乙公司", updated_at="2025-04-01"), account("D1"), account("D1", name="丙公司")]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-04-30.csv", csv_text(HEADER, rows))
    with gzip.open(folder(raw_dir) / "accounts_2025-05-31.csv.gz", "wt", encoding="utf-8") as fh:
        fh.write(csv_text(HEADER, [account("E1"), account("A2", name="丁公司", updated_at="2025-05-01")]))


def _loaded(con) -> tuple[list, list, list]:
    return (
        con.execute("select * exclude (_loaded_at) from raw_crm.accounts order by account_id").fetchall(),
        con.execute(
            "select source_file, line, column_name, reason, raw_record from meta.quarantine order by 1, 2"
        ).fetchall(),
        [r[:5] for r in audit(con)],
    )


def test_a_batchs_csv_drops_read_in_worker_threads_load_as_one_thread_loads_them(tmp_path, raw_dir, monkeypatch):
    """The five drops are one batch, or five (a drop by drop load). With DuckDB's two threads they are
    read on two worker cursors into the scratch database, which is left empty; drop by drop, each
    batch's drop is read while the batch before it is checked and written. With one thread they are
    read on the run's connection as before. The raw rows, the quarantine and the audit are the same
    each way, and as worked out by hand."""
    from dagster_project.ingest import load as load_module
    from dagster_project.warehouse import connect

    read_ahead = []  # (the batch being loaded, the drops handed to the workers while it is)
    loading = []
    original_load_batch, original_read_ahead = load_module.load_batch, load_module._DropReader.read_ahead

    def load_batch(con, contract, batch, *args):
        loading.append([p.name for p in batch])
        return original_load_batch(con, contract, batch, *args)

    def record_read_ahead(self, batch):
        read_ahead.append((loading[-1] if loading else None, [p.name for p in batch]))
        return original_read_ahead(self, batch)

    monkeypatch.setattr(load_module, "load_batch", load_batch)
    monkeypatch.setattr(load_module._DropReader, "read_ahead", record_read_ahead)
    _mixed_batch(raw_dir)
    results = {}
    for threads, batch_bytes in (("2", None), ("2", 1), ("1", None)):
        monkeypatch.setenv("S2S_DUCKDB_THREADS", threads)
        read_ahead.clear()
        loading.clear()
        con = connect(tmp_path / f"w{threads}_{batch_bytes}" / "warehouse.duckdb")
        load(con, raw_dir, batch_bytes)
        scratch = con.execute("select count(*) from duckdb_databases() where database_name = 's2s_scratch'")
        attached = scratch.fetchone()[0]
        left = con.execute("select count(*) from duckdb_tables() where database_name = 's2s_scratch'").fetchone()[0]
        results[threads, batch_bytes] = (attached, left, *_loaded(con))
        assert row_accounting(con) == []
        con.close()
        if batch_bytes == 1:  # each drop is read while the batch before it is loaded
            # a batch hands its own drops over when it starts (none left: read ahead), then the next
            assert [(during, names) for during, names in read_ahead if names and names != during] == [
                (["0_0"], ["1_0"]),
                (["1_0"], ["2_0"]),
                (["2_0"], ["3_0"]),
                (["3_0"], ["4_0"]),
            ]

    assert results["2", None][:2] == (1, 0)  # read aside, nothing left behind
    assert results["2", 1][:2] == (1, 0)
    assert results["1", None][:2] == (0, 0)  # read on the run's connection
    assert results["2", None][2:] == results["1", None][2:] == results["2", 1][2:]
    rows, quarantine, audit_rows = results["2", None][2:]
    assert audit_rows == [
        ("crm/accounts/accounts_2025-01-31.csv", 2, 2, 0, "loaded"),
        ("crm/accounts/accounts_2025-02-28.csv", 3, 1, 2, "loaded"),
        ("crm/accounts/accounts_2025-03-31.csv", 0, 0, 0, "rejected"),
        ("crm/accounts/accounts_2025-04-30.csv", 3, 2, 1, "loaded"),
        ("crm/accounts/accounts_2025-05-31.csv.gz", 2, 2, 0, "loaded"),
    ]
    assert [(r[0], r[1]) for r in rows] == [
        ("A1", "乙公司"),  # the April drop's newer updated_at
        ("A2", "丁公司"),  # the May drop's
        ("B1", "甲公司"),
        ("D1", "甲公司"),  # line 3 of its drop kept: the first of two equal updated_at
        ("E1", "甲公司"),
    ]
    assert [(q[0].rsplit("/", 1)[1], q[1], q[2]) for q in quarantine] == [
        ("accounts_2025-02-28.csv", 3, "created_at"),
        ("accounts_2025-02-28.csv", 4, None),
        ("accounts_2025-04-30.csv", 4, "account_id"),
    ]


def test_a_batch_that_fails_leaves_no_read_ahead_behind(tmp_path, raw_dir, monkeypatch):
    """Drop by drop with two threads, the second batch is read while the first is written. When
    writing the first fails, the load stops with the error, nothing of it is stored, and the second
    batch's read is dropped from the scratch database; the next load loads everything."""
    from dagster_project.ingest import load as load_module
    from dagster_project.warehouse import connect

    monkeypatch.setenv("S2S_DUCKDB_THREADS", "2")
    _mixed_batch(raw_dir)
    original_upsert = load_module._upsert

    read = []
    next_batch_read = threading.Event()
    original_read_aside = load_module._DropReader._read_aside

    def read_aside(self, p):
        header = original_read_aside(self, p)
        read.append(p.name)
        if p.name == "1_0":
            next_batch_read.set()
        return header

    def failing_upsert(con, contract, batch, now):
        assert next_batch_read.wait(30)  # fails only once the second batch is in the scratch database
        raise duckdb.IOException("disk full")

    con = connect(tmp_path / "warehouse.duckdb")
    monkeypatch.setattr(load_module._DropReader, "_read_aside", read_aside)
    monkeypatch.setattr(load_module, "_upsert", failing_upsert)
    with pytest.raises(duckdb.IOException, match="disk full"):
        load(con, raw_dir, batch_bytes=1)
    assert read == ["0_0", "1_0"]  # the second batch was read ahead, into the scratch database
    assert con.execute("select count(*) from duckdb_tables() where database_name = 's2s_scratch'").fetchone() == (0,)
    assert con.execute("select count(*) from raw_crm.accounts").fetchone() == (0,)
    assert audit(con) == []

    monkeypatch.setattr(load_module, "_upsert", original_upsert)
    load(con, raw_dir, batch_bytes=1)
    assert [r[4] for r in audit(con)] == ["loaded", "loaded", "rejected", "loaded", "loaded"]
    assert [r[0] for r in con.execute("select account_id from raw_crm.accounts order by 1").fetchall()] == [
        "A1",
        "A2",
        "B1",
        "D1",
        "E1",
    ]
    con.close()


def test_a_group_that_fails_its_check_leaves_no_read_behind(tmp_path, raw_dir, monkeypatch):
    """Two drops of one batch with different headers are two groups: the first is checked when the
    second has been taken. When that check fails, the load stops with the error and neither drop's
    rows stay in the scratch database (the second's did, taken and in no group yet)."""
    from dagster_project.ingest import load as load_module
    from dagster_project.warehouse import connect

    monkeypatch.setenv("S2S_DUCKDB_THREADS", "2")
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, [account("A1")]))
    rows = [[*account("B1"), "a note"]]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", csv_text([*HEADER, "notes"], rows))

    def failing_check(*args, **kwargs):
        raise duckdb.IOException("disk full")

    monkeypatch.setattr(load_module, "_check_group", failing_check)
    con = connect(tmp_path / "warehouse.duckdb")
    with pytest.raises(duckdb.IOException, match="disk full"):
        load(con, raw_dir)
    assert con.execute("select count(*) from duckdb_tables() where database_name = 's2s_scratch'").fetchone() == (0,)
    con.close()


# -- item 12: what the loader does not read is recorded, with the reason ------------------------


def test_files_the_loader_does_not_read_are_recorded_as_ignored(con, raw_dir):
    path = folder(raw_dir)
    (path / "accounts_2025-01-31.txt").write_text("notes")
    (path / "accounts_2025-01-31.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (path / "accounts").write_text("no extension")
    (path / "accounts_2025-02-28.csv").mkdir()
    (path / ".accounts_2025-03-31.csv.partial").write_text("a transfer in progress")  # hidden: skipped silently
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, [account("A1")]))

    load(con, raw_dir)
    load(con, raw_dir)  # recorded once, not once per run

    assert [(r[0], r[4], r[5]) for r in audit(con) if r[4] == "ignored"] == [
        ("crm/accounts/accounts", "ignored", "no file extension: not read (accepted: .csv, .csv.gz, .parquet, .xlsx)"),
        (
            "crm/accounts/accounts_2025-01-31.txt",
            "ignored",
            "file type .txt is not read (accepted: .csv, .csv.gz, .parquet, .xlsx)",
        ),
        (
            "crm/accounts/accounts_2025-01-31.xls",
            "ignored",
            "Excel 97-2003 .xls is not read: save it as .xlsx (accepted: .csv, .csv.gz, .parquet, .xlsx)",
        ),
        ("crm/accounts/accounts_2025-02-28.csv", "ignored", "a folder, not a file: entity folders hold files only"),
    ]
    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(1,)]
    assert row_accounting(con) == []


def test_folders_that_match_no_entity_are_recorded_with_the_closest_name(con, raw_dir):
    from dagster_project.ingest.inventory import record_stray_entries

    (raw_dir / "crm" / "opportunity").mkdir(parents=True)
    (raw_dir / "crm" / "opportunity" / "opportunity_2025-01-31.csv").write_text("a,b\n1,2\n")
    (raw_dir / "markting").mkdir()
    (raw_dir / "crm" / "README.md").write_text("exports")
    (raw_dir / "erp").mkdir()
    (raw_dir / "erp" / "products").write_text("a file where the entity folder belongs")
    folder(raw_dir)

    record_stray_entries(con, raw_dir, run_id="r1")
    record_stray_entries(con, raw_dir, run_id="r2")

    assert con.execute(
        "select source, entity, source_file, status, rejected_reason, rows_read, run_id "
        "from meta.ingest_audit order by 3"
    ).fetchall() == [
        ("crm", "", "crm/README.md", "ignored", "not in an entity folder (<source>/<entity>/<file>)", 0, "r1"),
        (
            "crm",
            "opportunity",
            "crm/opportunity",
            "ignored",
            "folder matches no entity: did you mean crm/opportunities? Its files are not read",
            0,
            "r1",
        ),
        ("erp", "", "erp/products", "ignored", "not in an entity folder (<source>/<entity>/<file>)", 0, "r1"),
        (
            "markting",
            "",
            "markting",
            "ignored",
            "folder matches no source: did you mean marketing? Its files are not read",
            0,
            "r1",
        ),
    ]


# -- item 13: a re-delivered file is recorded as a duplicate of the drop it repeats ---------------


def test_a_redelivered_file_is_recorded_as_a_duplicate(con, raw_dir):
    text = csv_text(HEADER, [account("A1"), account("A2")])
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)
    load(con, raw_dir)
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28_resent.csv", text)
    write_drop(raw_dir, "crm.accounts", "accounts_2025-03-31_again.csv", text)

    load(con, raw_dir)
    load(con, raw_dir)

    assert [(r[0], r[1], r[4], r[5]) for r in audit(con)] == [
        ("crm/accounts/accounts_2025-01-31.csv", 2, "loaded", None),
        (
            "crm/accounts/accounts_2025-02-28_resent.csv",
            0,
            "duplicate",
            "same content as crm/accounts/accounts_2025-01-31.csv, loaded before: nothing to load",
        ),
        (
            "crm/accounts/accounts_2025-03-31_again.csv",
            0,
            "duplicate",
            "same content as crm/accounts/accounts_2025-01-31.csv, loaded before: nothing to load",
        ),
    ]
    assert row_accounting(con) == []
    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(2,)]

    # touched without a change (a copy tool resets times): no news, no second record
    for name in ("accounts_2025-01-31.csv", "accounts_2025-02-28_resent.csv"):
        os.utime(folder(raw_dir) / name, (1_800_000_000, 1_800_000_000))
    result = load(con, raw_dir)
    assert (result.outcomes, result.duplicates, len(audit(con))) == ([], [], 3)


def test_a_good_file_restored_over_a_broken_copy_is_judged_by_what_the_file_holds_now(con, raw_dir):
    """Good content A, then a broken copy B under the same name (a cut row, and a changed name for A2
    at the same updated_at), then A restored from a backup: A loads again, so its values win again
    (a tie goes to the later load) and the delivery check judges the file by A (nothing quarantined),
    not by B. Again B, again A: each time one more load with its own drop id."""
    from dagster_project.quality.delivery import quarantine_shares

    name = "accounts_2025-01-31.csv"
    good = csv_text(HEADER, [account("A1"), account("A2"), account("A3")])
    broken = csv_text(HEADER, [account("A1"), account("A2", name="乙公司")]) + ",".join(account("A3")[:4])
    path = f"crm/accounts/{name}"
    for i, text in enumerate([good, broken, good, broken, good]):
        write_drop(raw_dir, "crm.accounts", name, text)
        os.utime(folder(raw_dir) / name, (1_800_000_000 + i, 1_800_000_000 + i))  # each copy a new time
        load(con, raw_dir)
        # the broken copy quarantines 1 of its 3 rows; the good one none
        assert quarantine_shares(con, 0.05) == ([(path, 1, 3, 1 / 3)] if text == broken else [])
        name_of_a2 = con.execute("select account_name from raw_crm.accounts where account_id = 'A2'").fetchall()
        assert name_of_a2 == [("乙公司",)] if text == broken else [("甲公司",)]

    in_order = "select rows_read, rows_quarantined, status from meta.ingest_audit order by finished_at"
    assert con.execute(in_order).fetchall() == [
        (3, 0, "loaded"),  # A
        (3, 1, "loaded"),  # B
        (3, 0, "loaded"),  # A again
        (3, 1, "loaded"),  # B again
        (3, 0, "loaded"),  # A again
    ]
    ids = [r[0] for r in con.execute("select drop_id from meta.drop_manifest order by loaded_at").fetchall()]
    assert len(set(ids)) == 5 and ids[2].startswith(ids[0] + ":r") and ids[3].startswith(ids[1] + ":r")
    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(3,)]
    assert row_accounting(con) == []
    assert load(con, raw_dir).outcomes == []  # nothing new after it


# -- item 14: drop dates in the common spellings; a warning when the file's time stands in ------


def test_drop_dates_in_common_spellings_and_a_warning_for_mtime(con, raw_dir, caplog):
    for name, account_id in [
        ("accounts_20250131.csv", "A1"),
        ("accounts_2025_02_28.csv", "A2"),
        ("accounts.2025.03.31.csv", "A3"),
        ("accounts_2025-04-30.csv", "A4"),
        ("accounts_latest.csv", "A5"),
        ("accounts_20251399.csv", "A6"),  # not a date: the modification time stands in
    ]:
        write_drop(raw_dir, "crm.accounts", name, csv_text(HEADER, [account(account_id)]))
    for name in ("accounts_latest.csv", "accounts_20251399.csv"):
        stamp = datetime(2025, 6, 15, 12, 0).timestamp()
        os.utime(folder(raw_dir) / name, (stamp, stamp))

    with caplog.at_level("WARNING"):
        load(con, raw_dir)

    assert con.execute("select account_id, _drop_date from raw_crm.accounts order by 1").fetchall() == [
        ("A1", date(2025, 1, 31)),
        ("A2", date(2025, 2, 28)),
        ("A3", date(2025, 3, 31)),
        ("A4", date(2025, 4, 30)),
        ("A5", date(2025, 6, 15)),
        ("A6", date(2025, 6, 15)),
    ]
    warned = sorted(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert warned == [
        "crm/accounts/accounts_20251399.csv: no date in the file name (YYYY-MM-DD, YYYYMMDD, YYYY_MM_DD or "
        "YYYY.MM.DD); its modification date 2025-06-15 is the drop date",
        "crm/accounts/accounts_latest.csv: no date in the file name (YYYY-MM-DD, YYYYMMDD, YYYY_MM_DD or "
        "YYYY.MM.DD); its modification date 2025-06-15 is the drop date",
    ]
    notes = con.execute("select source_file, note from meta.ingest_audit where note is not null order by 1").fetchall()
    assert [n[0] for n in notes] == ["crm/accounts/accounts_20251399.csv", "crm/accounts/accounts_latest.csv"]
    assert notes[0][1] == "drop date 2025-06-15 from the file's modification time (no date in the name)"


# -- item 15: symbolic links out of the raw folder are not followed ------------------------------


def test_a_symlink_leading_out_of_the_raw_folder_is_not_followed(con, raw_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.csv").write_text(csv_text(HEADER, [account("OUT")]))
    inside = raw_dir / "archive"
    inside.mkdir()
    (inside / "accounts_2025-01-31.csv").write_text(csv_text(HEADER, [account("IN")]))
    (folder(raw_dir) / "accounts_2025-02-28.csv").symlink_to(outside / "secret.csv")
    (folder(raw_dir) / "accounts_2025-01-31.csv").symlink_to(inside / "accounts_2025-01-31.csv")

    load(con, raw_dir)

    assert con.execute("select account_id from raw_crm.accounts").fetchall() == [("IN",)]
    assert [(r[0], r[4], r[5]) for r in audit(con)] == [
        ("crm/accounts/accounts_2025-01-31.csv", "loaded", None),
        (
            "crm/accounts/accounts_2025-02-28.csv",
            "ignored",
            "symbolic link leading out of the raw folder: not followed",
        ),
    ]


# -- item 16: a declared or detected encoding that does not fit the bytes is rejected ------------


def test_a_file_declared_gbk_that_is_utf8_is_rejected_not_loaded_as_mojibake(con, raw_dir):
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.gbk.csv", csv_text(HEADER, [account("A1", "杭州星辰")]))

    load(con, raw_dir)

    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(0,)]
    (row,) = audit(con)
    assert row[4] == "rejected"
    assert row[5] == (
        "the name declares GBK, but the file is UTF-8 (decoding it as GBK would give mojibake): rename it without .gbk"
    )


def test_a_file_in_another_encoding_is_rejected(con, raw_dir):
    rows = [
        [f"A{i}", "Café Zürich", "Mfg", "100", "East", "SH", "SH", "R1", "2025-01-01", "2025-01-02"] for i in range(50)
    ]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, rows), encoding="cp1252")

    load(con, raw_dir)

    (row,) = audit(con)
    assert (row[4], row[5].split(" at byte")[0]) == ("rejected", "the file is neither UTF-8 nor GBK/GB18030")
    assert " (line 2): save it as UTF-8" in row[5]  # Café on the first record
    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(0,)]


@pytest.mark.parametrize(
    ("records_above", "name"),
    [(200, "accounts_2025-01-31.csv"), (30_000, "accounts_2025-01-31.csv"), (200, "accounts_2025-01-31.csv.gz")],
    ids=["in_the_first_mib", "past_the_first_mib", "gzip"],
)
def test_a_gbk_line_in_a_utf8_file_is_quarantined_as_gbk_reads_it_and_the_rest_loads(con, raw_dir, records_above, name):
    """Two exports joined into one file, one of them saved by Excel on a Chinese Windows: a UTF-8 file
    whose line below the records above it is GBK. Within the file's first MiB the whole file was
    rejected (neither UTF-8 nor GBK), past it DuckDB quarantined the line with its text turned to
    `?` and a reason naming no cause. Either way now the line alone is quarantined, kept as GBK
    reads it, with a reason that says so; every other record loads. A line that is no GBK either
    keeps its bytes as \\x escapes. More such lines than ingest.max_share_of_lines_not_utf8 (1%) of
    the first MiB's reject the file, naming the first (the next test)."""
    above = [account(f"A{i}", name="上海甲乙科技有限公司") for i in range(records_above)]
    text = csv_text(HEADER, above).encode()
    gbk_line = ",".join(account("B1", name="北京丙丁贸易公司")).encode("gb18030") + b"\n"
    below = csv_text(HEADER, [account("C1", name="广州某公司")]).split("\n", 1)[1].encode()
    data = text + gbk_line + below
    folder(raw_dir).joinpath(name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)

    load(con, raw_dir)

    gbk_at = records_above + 2
    assert audit(con) == [(f"crm/accounts/{name}", records_above + 2, records_above + 1, 1, "loaded", None)]
    assert con.execute("select line, column_name, reason, raw_record from meta.quarantine").fetchall() == [
        (
            gbk_at,
            None,
            "a line in GBK (or another double-byte Chinese encoding) in a UTF-8 file (two exports joined into one "
            "file, one saved by Excel on a Chinese Windows?): kept as GBK reads it; save the file as UTF-8 and "
            "deliver it again",
            ",".join(account("B1", name="北京丙丁贸易公司")),
        )
    ]
    assert con.execute("select account_name from raw_crm.accounts where account_id = 'C1'").fetchall() == [
        ("广州某公司",)
    ]


def test_a_line_past_the_first_mib_in_no_encoding_keeps_its_bytes_as_escapes(con, raw_dir):
    """A Windows-1252 line (Café Zürich) past the first MiB of a UTF-8 file is no GBK either: it is
    quarantined with its other bytes as \\x escapes, nothing of it lost, and a reason that says why."""
    text = csv_text(HEADER, [account(f"A{i}", name="上海甲乙科技有限公司") for i in range(30_000)]).encode()
    fields = ["W1", "Café Zürich", "Mfg", "100", "East", "SH", "SH", "R1", "30", "2025-01-01", "2025-01-02"]
    western = ",".join(fields).encode("cp1252") + b"\n"
    folder(raw_dir).joinpath("accounts_2025-01-31.csv").write_bytes(text + western)

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 30_001, 30_000, 1, "loaded", None)]
    assert con.execute("select line, reason, raw_record from meta.quarantine").fetchall() == [
        (
            30_002,
            "not UTF-8, as the rest of the file is: kept with its other bytes as \\x escapes; save the file as UTF-8 "
            "and deliver it again (or, for a company's export read through a mapping, give its encoding)",
            ",".join(["W1", "Caf\\xe9 Z\\xfcrich", *fields[2:]]),
        )
    ]


def test_a_utf8_file_with_more_gbk_lines_than_its_share_is_rejected_naming_the_first(con, raw_dir):
    """One GBK line below one record is a third of the file's lines, over
    ingest.max_share_of_lines_not_utf8 (1%): the file's encoding is to be fixed, not its rows. The
    reason names the byte and the line."""
    gbk_line = ",".join(account("B1", name="北京丙丁贸易公司")).encode("gb18030") + b"\n"
    text = csv_text(HEADER, [account("A1", name="上海甲乙科技有限公司")]).encode()
    folder(raw_dir).joinpath("accounts_2025-01-31.csv").write_bytes(text + gbk_line)

    load(con, raw_dir)

    (row,) = audit(con)
    assert row[4:] == (
        "rejected",
        f"the file is neither UTF-8 nor GBK/GB18030 at byte {len(text) + 3} (line 3): save it as UTF-8, or, for a "
        "company's export read through a mapping, give its encoding (`encoding: cp1252`)",
    )


@pytest.mark.parametrize(
    ("encoding", "mark", "found"),
    [("utf-16-le", "\ufeff", "utf-16"), ("utf-16-be", "\ufeff", "utf-16"), ("utf-16-le", "", "utf-16-le")],
)
def test_a_utf16_file_loads_tab_separated_with_its_line_numbers(con, raw_dir, encoding, mark, found):
    """Excel's "Unicode text" and the ad platforms' "CSV for Excel": UTF-16 with a byte order mark,
    fields separated by tabs (some tools leave the mark out: every other byte is then zero, on one
    side). Every line break and tab is two bytes there; the file loads as its text says, and a
    malformed line is quarantined under its own line number (4)."""
    lines = ["\t".join(HEADER), "\t".join(account("A1", "杭州星辰")), "\t".join(account("A2", "Café Zürich"))]
    lines += ["A3\ttoo few fields", "\t".join(account("A4", "北京"))]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", mark + "\r\n".join(lines) + "\r\n", encoding)

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 4, 3, 1, "loaded", None)]
    assert con.execute("select encoding from meta.ingest_audit").fetchall() == [(found,)]
    assert con.execute("select account_id, account_name from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "杭州星辰"),
        ("A2", "Café Zürich"),
        ("A4", "北京"),
    ]
    assert con.execute("select line, raw_record from meta.quarantine").fetchall() == [(4, "A3\ttoo few fields")]


def test_western_text_that_happens_to_be_valid_gbk_is_rejected_naming_the_line_both_ways(con, raw_dir):
    # every accented letter here is followed by an ASCII letter, so the cp1252 bytes are valid GBK
    rows = [
        [f"A{i}", name, "Mfg", "100", "East", "Bayern", city, "R1", "30", "2025-01-01", "2025-01-02"]
        for i, (name, city) in enumerate([("Kuehne AG", "Berlin"), ("Müller GmbH", "München"), ("Köhler", "Köln")])
    ]
    text = csv_text(HEADER, rows)
    text.encode("cp1252").decode("gb18030")  # valid GBK: before this check it loaded as mojibake
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text, encoding="cp1252")

    load(con, raw_dir)

    (row,) = audit(con)
    assert row[4] == "rejected"
    # ü, ü, ö, ö: 4 of the 4 non-ASCII characters; the first on line 3 (the header is line 1)
    as_gbk = "Müller".encode("cp1252").decode("gb18030")
    assert row[5].startswith(
        "the file is not UTF-8, and read as GBK it looks like Western text: 4 of its 4 non-ASCII characters "
        f"are rare Chinese characters glued to a Latin letter, the first on line 3: '{as_gbk}' "
        "(as Windows-1252: 'Müller')"
    ), row[5]
    assert "`encoding: cp1252`" in row[5]
    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(0,)]


def test_chinese_text_in_gbk_with_rare_characters_and_latin_words_still_loads(con, raw_dir):
    # traditional and rare characters (outside GB2312) and Chinese glued to Latin letters, as in real names
    names = ["臺灣積體電路", "鴻海精密", "喆珺玥昇", "iPhone手机代理", "A级客户", "與iPhone代理"]
    write_drop(
        raw_dir,
        "crm.accounts",
        "accounts_2025-01-31.csv",
        csv_text(HEADER, [account(f"A{i}", name) for i, name in enumerate(names)]),
        encoding="gbk",
    )

    load(con, raw_dir)

    (row,) = audit(con)
    assert row[1:5] == (6, 6, 0, "loaded")
    assert sorted(r[0] for r in con.execute("select account_name from raw_crm.accounts").fetchall()) == sorted(names)


def test_a_file_declared_utf8_that_is_gbk_is_rejected(con, raw_dir):
    write_drop(
        raw_dir,
        "crm.accounts",
        "accounts_2025-01-31.utf8.csv",
        csv_text(HEADER, [account("A1", "杭州星辰")]),
        encoding="gbk",
    )

    load(con, raw_dir)

    (row,) = audit(con)
    assert row[4] == "rejected"
    assert row[5].startswith("the name declares UTF-8, but the file is not valid UTF-8 at byte ")


# -- item 22: stored reasons name files relative to the raw folder -------------------------------


def test_rejection_reasons_carry_no_server_path(con, raw_dir, tmp_path):
    (folder(raw_dir) / "accounts_2025-01-31.parquet").write_bytes(b"this is not parquet")

    load(con, raw_dir)

    (row,) = audit(con)
    assert row[4] == "rejected"
    assert str(tmp_path) not in row[5] and "/tmp" not in row[5]
    assert row[5].startswith("not a readable Parquet file: ")
    assert "crm/accounts/accounts_2025-01-31.parquet" in row[5]


# -- the run summary names every file of the run that was rejected, ignored or a duplicate ------


def test_the_run_summary_names_every_rejected_ignored_and_duplicate_file(con, raw_dir, tmp_path, capsys):
    from dagster_project.report import _print_ingestion
    from dagster_project.settings import Settings

    text = csv_text(HEADER, [account("A1")])
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)
    load_entity(con, ACCOUNTS, raw_dir, run_id="first")
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", text)  # the same content again
    write_drop(raw_dir, "crm.accounts", "accounts_2025-03-31.csv", "name,city\nx,y\n")  # no key column
    (folder(raw_dir) / "accounts_2025-03-31.txt").write_text("notes")
    write_drop(raw_dir, "crm.accounts", "accounts_2025-04-30.csv", csv_text(HEADER, [account("A2")]))
    load_entity(con, ACCOUNTS, raw_dir, run_id="second")
    con.close()

    settings = Settings(
        raw_dir=raw_dir, warehouse=tmp_path / "warehouse" / "warehouse.duckdb", bi_dir=tmp_path, as_of=None
    )
    _print_ingestion(settings, "second")
    lines = capsys.readouterr().out.splitlines()

    # rejected first, then ignored, then duplicates; the loaded files of the run and the first run's stay out
    assert lines[0] == "files of this run:"
    assert lines[1].startswith("  [REJECTED] crm/accounts/accounts_2025-03-31.csv: missing required column")
    assert lines[2] == (
        "  [ignored] crm/accounts/accounts_2025-03-31.txt: file type .txt is not read "
        "(accepted: .csv, .csv.gz, .parquet, .xlsx)"
    )
    assert lines[3] == (
        "  [duplicate] crm/accounts/accounts_2025-02-28.csv: same content as crm/accounts/accounts_2025-01-31.csv, "
        "loaded before: nothing to load"
    )
    assert (
        lines[4]
        == "ingest audit (all runs): 3 drops (1 files rejected, 1 ignored); 2 rows read = 2 loaded + 0 quarantined"
    )
    assert len(lines) == 5


@pytest.mark.parametrize("name", ["accounts_2025-01-31.csv", "accounts_2025-01-31.csv.gz"])
def test_a_stray_quote_costs_its_own_line_only_and_the_lines_below_it_load(con, raw_dir, name):
    """A quote that opens a field and never closes runs the field on through the lines below it to
    the next quote: CSV readers swallow those records into one malformed row. Here two stray quotes
    (lines 4 and 7) would have swallowed lines 4-7 into one row and lines 8-9 into another. Each
    stray line is set apart and quarantined alone, under its own number; the others load, and a
    quoted field that does close two lines further down (line 3) is still one record. The same for
    a gzip file (whose stray lines were looked for in its compressed bytes, so never found: lines 5-9
    were lost, counted as part of one quarantined row)."""
    rows = [
        csv_text(HEADER, [account("A1", "甲公司\n(总部)")]).split("\n", 1)[1],  # lines 2-3: a closed multi-line field
        'A2,"乙公司,制造,100,华东,上海,上海,R1,30,2025-01-01,2025-01-02\n',  # line 4: never closes
        csv_text(HEADER, [account("A3"), account("A4")]).split("\n", 1)[1],  # lines 5-6
        'A5,"丙,制造,100,华东,上海,上海,R1,30,2025-01-01,2025-01-02\n',  # line 7
        csv_text(HEADER, [account("A6"), account("A7")]).split("\n", 1)[1],  # lines 8-9
    ]
    text = ",".join(HEADER) + "\n" + "".join(rows)
    if name.endswith(".gz"):
        with gzip.open(folder(raw_dir) / name, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        write_drop(raw_dir, "crm.accounts", name, text)

    load(con, raw_dir)

    assert audit(con) == [(f"crm/accounts/{name}", 7, 5, 2, "loaded", None)]
    quarantined = con.execute("select line, reason, raw_record from meta.quarantine order by line").fetchall()
    assert [(q[0], q[2]) for q in quarantined] == [
        (4, 'A2,"乙公司,制造,100,华东,上海,上海,R1,30,2025-01-01,2025-01-02'),
        (7, 'A5,"丙,制造,100,华东,上海,上海,R1,30,2025-01-01,2025-01-02'),
    ]
    assert quarantined[0][1].startswith("malformed row: a quoted field opens on this line and does not close on it")
    assert con.execute("select account_id, account_name from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "甲公司\n(总部)"),
        ("A3", "甲公司"),
        ("A4", "甲公司"),
        ("A6", "甲公司"),
        ("A7", "甲公司"),
    ]


def test_lines_holding_nul_bytes_are_quarantined_not_loaded_with_a_nul_inside_a_key(con, raw_dir):
    """NUL bytes are in no text file, only in a damaged one: a byte turned to zero inside a key
    (line 3: `A\\x002` would have loaded as a key matching nothing) and a tail of zeros a crash left
    (line 5). Each such line is quarantined under its number, its NULs shown as \\0; the rest load."""
    text = csv_text(HEADER, [account("A1"), account("A2"), account("A3")]).replace("A2,", "A\x002,")
    path = write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)
    path.write_bytes(path.read_bytes() + b"\x00" * 3000)

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 4, 2, 2, "loaded", None)]
    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [("A1",), ("A3",)]
    quarantined = con.execute("select line, reason, raw_record from meta.quarantine order by line").fetchall()
    assert [q[0] for q in quarantined] == [3, 5]
    assert quarantined[0][2] == ",".join(account("A\\02"))
    assert quarantined[1][2] == "\\0" * 3000
    assert quarantined[0][1] == (
        "the line holds NUL bytes (a damaged file?): not read as a record; raw_record shows them as \\0"
    )


def test_the_line_scanner_finds_a_nul_line_across_chunk_boundaries():
    """Files are scanned in chunks: a line holding a NUL is found with its number and byte span
    whichever chunk the NUL and the line's end fall in."""
    from dagster_project.ingest.inspect import NulLine, _LineScanner

    data = b"h\nab\x00c\nok\nx" + b"y" * 5 + b"\x00z\nlast\x00"
    for size in (1, 2, 3, 5, 8, len(data)):
        scanner = _LineScanner(limit=1000)
        for i in range(0, len(data), size):
            scanner.feed(data[i : i + size])
        found = scanner.finish()
        assert [(type(f), f.line, data[f.start : f.end]) for f in found] == [
            (NulLine, 2, b"ab\x00c\n"),
            (NulLine, 4, b"xyyyyy\x00z\n"),
            (NulLine, 5, b"last\x00"),
        ], size


def test_excels_separator_hint_above_the_header_is_read_past_and_its_separator_used(con, raw_dir):
    """Files written for Excel may start with `sep=;`, the separator to split by. The hint is no
    header: it is read past, its separator used (the values hold commas), and lines keep their
    numbers (the malformed last line is quarantined as line 5)."""
    rows = [account("A1", "Acme, Inc."), account("A2", "甲, 乙")]
    text = "sep=;\r\n" + "\r\n".join(";".join(r) for r in [HEADER, *rows]) + "\r\nA3;too few\r\n"

    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", "\ufeff" + text)
    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 3, 2, 1, "loaded", None)]
    assert con.execute("select account_id, account_name from raw_crm.accounts order by 1").fetchall() == [
        ("A1", "Acme, Inc."),
        ("A2", "甲, 乙"),
    ]
    assert con.execute("select line from meta.quarantine").fetchall() == [(5,)]
    (note,) = con.execute("select note from meta.ingest_audit").fetchall()[0]
    assert "line 1 is Excel's separator hint (sep=;): not read" in note


def test_ids_excel_turned_into_scientific_notation_are_quarantined_naming_the_cause(con, raw_dir):
    """A CSV opened and saved in Excel loses long numeric ids: 123456789012 becomes 1.23457E+11
    (1,23457E+11 in a European locale). Such a key (line 2) or foreign key (line 3) would match
    nothing; the row is quarantined, saying why. An id that merely holds "E+" loads (line 5)."""
    rows = [
        account("1.23457E+11"),
        [*account("A2")[:7], "1,5E+3", *account("A2")[8:]],
        account("A3"),
        account("AB1E+5X"),
    ]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(HEADER, rows))

    load(con, raw_dir)

    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [("A3",), ("AB1E+5X",)]
    assert con.execute("select line, column_name, value, reason from meta.quarantine order by line").fetchall() == [
        (
            line,
            column,
            value,
            f"{column}: a number as Excel writes it in scientific notation: the id's digits are lost (saved from "
            "Excel? keep the column as text, or export the file again)",
        )
        for line, column, value in ((2, "account_id", "1.23457E+11"), (3, "owner_rep_id", "1,5E+3"))
    ]


def test_a_separator_after_the_headers_last_name_only_is_no_column(con, raw_dir):
    """Some exports end the header with a separator their rows do not have (`...,updated_at,`). Read
    as a column, every row was one field short: 3 of 3 quarantined. It is no column (noted); a
    header whose rows do have the extra field keeps it as an unnamed column."""
    rows = "".join(",".join(account(f"A{i}")) + "\n" for i in range(3))
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", ",".join(HEADER) + ",\n" + rows)

    load(con, raw_dir)

    assert audit(con) == [("crm/accounts/accounts_2025-01-31.csv", 3, 3, 0, "loaded", None)]
    (note,) = con.execute("select note from meta.ingest_audit").fetchall()[0]
    assert note == "the header ends with a separator its rows do not have: no column"

    filled = "".join(",".join(account(f"B{i}")) + ",x\n" for i in range(2))
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", ",".join(HEADER) + ",\n" + filled)
    load(con, raw_dir)
    assert con.execute("select count(*) from raw_crm.accounts where account_id like 'B%'").fetchall() == [(2,)]
    assert con.execute("select count(*) from meta.quarantine").fetchall() == [(0,)]


@pytest.mark.parametrize("gzipped", [False, True])
def test_rows_below_a_line_break_inside_a_quoted_field_keep_their_own_line_numbers(con, raw_dir, gzipped):
    """CRM exports keep notes and names with line breaks, quoted. DuckDB numbers records, not lines:
    each break inside a field put every row below it a line higher than it is in the file. Here
    A1 spans lines 2-3 and A4 lines 6-8; a bad value (line 5), a row with a field too many (lines
    9-10, a break in its name too) and a line over the limit (12) are quarantined under their first
    lines, and every loaded row keeps its own first line."""
    bad_date = [*account("A3")[:9], "not a date", "2025-01-02"]
    text = csv_text(
        HEADER, [account("A1", "甲公司\n(总部)"), account("A2"), bad_date, account("A4", "a\nb\nc")]
    )  # lines 1-8
    text += ",".join(account("A5", '"x\ny"')) + ",extra\n"  # lines 9-10: a field too many
    text += csv_text(HEADER, [account("A6"), account("A7", name="长" * 1_000_000), account("A8")]).split("\n", 1)[1]
    name = "accounts_2025-01-31.csv"
    if gzipped:
        with gzip.open(folder(raw_dir) / f"{name}.gz", "wt", encoding="utf-8", newline="") as fh:
            fh.write(text)
    else:
        write_drop(raw_dir, "crm.accounts", name, text)

    load(con, raw_dir)

    assert con.execute("select account_id, _source_line from raw_crm.accounts order by 1").fetchall() == [
        ("A1", 2),
        ("A2", 4),
        ("A4", 6),
        ("A6", 11),
        ("A8", 13),
    ]
    quarantined = con.execute("select line, reason from meta.quarantine order by line").fetchall()
    assert [q[0] for q in quarantined] == [5, 9, 12]
    assert "not a date" in con.execute("select raw_record from meta.quarantine where line = 5").fetchone()[0]
    assert "TOO MANY COLUMNS" in quarantined[1][1]
    assert quarantined[2][1].startswith("line of 3,000,063 bytes is longer than the maximum")
    assert row_accounting(con) == []


def test_the_line_scanner_tells_a_line_break_inside_quotes_across_chunk_boundaries():
    from dagster_project.ingest.inspect import _LineScanner

    plain = _LineScanner(limit=1_000)
    for chunk in (b'id,name\n1,"a ""quoted"" ', b'word"\n2,b\n'):  # quotes doubled inside a field: even
        plain.feed(chunk)
    assert not plain.quoted_line_breaks
    broken = _LineScanner(limit=1_000)
    for chunk in (b'id,name\n1,"a', b"\nb", b'"\n2,c\n'):  # the field's quote opens in one chunk, closes in the third
        broken.feed(chunk)
    assert broken.quoted_line_breaks


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_rows_below_blank_lines_keep_their_own_line_numbers(con, raw_dir, line_end):
    """DuckDB skips a blank line without a row, and numbered every row below one a line too high: an
    error in the file's line 9 was reported for line 7. Blank lines 3, 4 and 7 here: the bad date
    (line 6) and the row with a field too many (line 8) are quarantined under their lines, and the
    rows loaded keep theirs."""
    bad_date = [*account("A3")[:9], "not a date", "2025-01-02"]
    lines = [HEADER, account("A1"), [], [], account("A2"), bad_date, [], [*account("A4"), "extra"], account("A5")]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", "".join(",".join(ln) + line_end for ln in lines))

    load(con, raw_dir)

    assert con.execute("select account_id, _source_line from raw_crm.accounts order by 1").fetchall() == [
        ("A1", 2),
        ("A2", 5),
        ("A5", 9),
    ]
    assert con.execute("select line from meta.quarantine order by line").fetchall() == [(6,), (8,)]
    assert row_accounting(con) == []


def test_blank_lines_beside_quoted_line_breaks_and_a_stray_quote_keep_the_rows_line_numbers(con, raw_dir):
    """The same with line breaks inside quoted fields, where DuckDB numbers lines without those
    breaks, and a stray quote (line 6) that is cut out and read again: a blank line inside a quoted
    value (line 9) is part of the value, not a blank line; lines 4, 7 and 12 are blank."""
    bad_date = [*account("A5")[:9], "not a date", "2025-01-02"]
    text = (
        csv_text(HEADER, [account("A1", "甲公司\n(总部)")])  # lines 1-3
        + "\n"  # line 4
        + ",".join(account("A2"))
        + "\n"  # line 5
        + 'A3,"乙公司,制造,100,华东,上海,上海,R1,30,2025-01-01,2025-01-02\n'  # line 6: never closes
        + "\n"  # line 7
        + csv_text(HEADER, [account("A4", "a\n\nb"), bad_date]).split("\n", 1)[1]  # lines 8-11
        + "\n"  # line 12
        + ",".join(account("A6"))
        + "\n"  # line 13
    )
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)

    load(con, raw_dir)

    assert con.execute("select account_id, _source_line from raw_crm.accounts order by 1").fetchall() == [
        ("A1", 2),
        ("A2", 5),
        ("A4", 8),
        ("A6", 13),
    ]
    assert con.execute("select line from meta.quarantine order by line").fetchall() == [(6,), (11,)]
    assert con.execute("select account_name from raw_crm.accounts where account_id = 'A4'").fetchone() == ("a\n\nb",)
    assert row_accounting(con) == []


def test_the_line_scanner_finds_blank_lines_across_chunk_boundaries():
    """A blank line is found whichever chunk its line end, and the CR of a CR LF end, fall in; one
    inside a quoted field is not blank, and DuckDB's number for a line leaves such breaks out."""
    from dagster_project.ingest.inspect import _LineScanner

    for data, expected in (
        (b'h\n\n1,"a\n\nb"\n\n2\n', [(2, 2), (6, 4)]),
        (b'h\r\n\r\n1,"a\r\n\r\nb"\r\n\r\n2\r\n', [(2, 2), (6, 4)]),
    ):
        for size in (1, 2, 3, 5, len(data)):
            scanner = _LineScanner(limit=1000)
            for i in range(0, len(data), size):
                scanner.feed(data[i : i + size])
            scanner.finish()
            assert scanner.blank == expected, (data, size)


@pytest.mark.parametrize(
    ("data", "padded", "scientific"),
    [
        (b"h1,h2\na,b\nc,d\n", False, False),
        (b"h1,h2\r\na,b\r\nc,d", False, False),  # CR LF ends: DuckDB's trim leaves CR; so does the reader
        (b"h1,h2\na,2026-01-01 08:30\n", False, False),  # a space inside a value is kept
        (b"h1,h2\na, b\n", True, False),  # after the separator
        (b"h1,h2\na ,b\n", True, False),  # before it
        (b"h1,h2\na,b \n", True, False),  # before the line end
        (b"h1,h2\n a,b\n", True, False),  # after a line end
        (b'h1,h2\n"a ",b\n', True, False),  # inside quotes
        (b"h1,h2\na,b ", True, False),  # at the end of the file
        (b" h1,h2\na,b\n", True, False),  # at its start
        ("h1,h2\na,\u3000b\n".encode(), True, False),  # an ideographic space
        ("h1,h2\na,甲\n".encode(), True, False),  # any character of more than one byte: it may be a space
        (b"h1;h2\na, b\n", False, False),  # beside another file's separator: inside a value
        (b"h1,h2\n1.23457E+11,b\n", False, True),
        (b"h1,h2\n1.5e+3,b\n", False, False),  # Excel writes a capital E
    ],
)
def test_the_line_scanner_tells_whether_a_field_may_have_spaces_at_its_edges_or_hold_excels_e_plus(
    data, padded, scientific
):
    """Hand-made files, fed in chunks of every size: the checks trim values, and look for Excel's
    scientific notation, only where the scan finds they may apply (`TextFacts`). The separator is the
    header's (`,` unless the header says `;`)."""
    from dagster_project.ingest.inspect import _LineScanner

    delimiter = ";" if data.startswith(b"h1;") else ","
    starts = [i + 1 for i, b in enumerate(data) if b == 10 and i + 1 < len(data)]  # the lines below the first
    heads = {data[i] for i in starts}
    after_quote = {data[i + 1] for i in starts if data[i] == 34 and i + 1 < len(data)}
    for size in range(1, len(data) + 1):
        scanner = _LineScanner(limit=1000, delimiter=delimiter)
        for i in range(0, len(data), size):
            scanner.feed(data[i : i + size])
        scanner.finish()
        assert (scanner.padded, scanner.scientific) == (padded, scientific), (data, size)
        assert set(np.flatnonzero(scanner.first_bytes).tolist()) == heads, (data, size)
        assert set(np.flatnonzero(scanner.after_quote_bytes).tolist()) == after_quote, (data, size)
    unknown = _LineScanner(limit=1000)  # the separator not known: a field may have spaces
    unknown.feed(b"h1,h2\na,b\n")
    unknown.finish()
    assert unknown.padded


def test_duckdbs_trim_removes_no_ascii_character_but_the_space():
    """The line scanner counts a field padded only when a space or a byte of a longer character sits
    at its edge: that holds while DuckDB's trim removes no other ASCII character (not tab, CR or LF)."""
    con = duckdb.connect()
    trimmed = con.execute(
        "select list(i order by i) from range(1, 128) t(i) where trim(chr(i::int) || 'a') <> chr(i::int) || 'a'"
    ).fetchone()[0]
    assert trimmed == [32]


def test_values_with_spaces_at_their_edges_load_trimmed_and_excels_e_plus_is_still_found(con, raw_dir):
    """Three drops of one batch, checked together: a plain one either side of one with values padded
    by spaces, a no-break space and an ideographic space (in and out of quotes), and an id in
    Excel's notation. The padded values load trimmed and the Excel id is quarantined, though the
    plain drops (ASCII only) need neither check: the group is checked for what any drop needs."""
    from dagster_project.ingest.drops import Drop
    from dagster_project.ingest.read import read_drop

    def ascii_account(account_id: str) -> list[str]:
        return [account_id, "Acme", "Mfg", "100", "East", "SH", "SH", "R1", "30", "2025-01-01", "2025-01-02"]

    plain = csv_text(HEADER, [ascii_account("A1"), ascii_account("A2")])
    later = csv_text(HEADER, [ascii_account("C1")])
    padded = ",".join(HEADER) + "\n"
    padded += ",".join([" B1 ", *account("B1")[1:]]) + "\n"
    padded += ",".join(['" B2\u00a0"', *account("B2")[1:]]) + "\n"
    padded += ",".join(["B3\u3000", *account("B3")[1:]]) + "\n"
    padded += ",".join(["4.56789E+11", *account("B4")[1:]]) + "\n"
    folder(raw_dir).joinpath("accounts_2025-01-10.csv").write_text(plain, encoding="utf-8")
    folder(raw_dir).joinpath("accounts_2025-01-11.csv").write_text(padded, encoding="utf-8")
    folder(raw_dir).joinpath("accounts_2025-01-12.csv").write_text(later, encoding="utf-8")
    facts = []
    for name in ("accounts_2025-01-10.csv", "accounts_2025-01-11.csv", "accounts_2025-01-12.csv"):
        path = folder(raw_dir) / name
        read = read_drop(duckdb.connect(), Drop(path, name, date(2025, 1, 10), path.stat().st_size, 0))
        facts.append((read.text.padded, read.text.scientific))
    assert facts == [(False, False), (True, True), (False, False)]  # alone, the plain drops need neither

    load(con, raw_dir)

    assert [r[1:5] for r in audit(con)] == [(2, 2, 0, "loaded"), (4, 3, 1, "loaded"), (1, 1, 0, "loaded")]
    assert con.execute("select account_id from raw_crm.accounts order by 1").fetchall() == [
        ("A1",),
        ("A2",),
        ("B1",),
        ("B2",),
        ("B3",),
        ("C1",),
    ]
    assert con.execute("select source_file, line, column_name from meta.quarantine").fetchall() == [
        ("crm/accounts/accounts_2025-01-11.csv", 5, "account_id")
    ]


def test_western_text_whose_accents_start_its_words_is_rejected_too(con, raw_dir):
    """French names whose only accented letter starts the word (`Émile`, `Éric`, `Œuvre`): none sits
    after a Latin letter, and the file loaded as GBK mojibake (`蒻ile`). As GBK, each accent with the
    letter after it is one rare character followed by the rest of the word in lowercase."""
    rows = [
        [f"A{i}", name, "Mfg", "100", "East", "IDF", "Paris", "R1", "30", "2025-01-01", "2025-01-02"]
        for i, name in enumerate(["Émile Roux", "Éric Dupont", "Œuvre SA", "Dubois SARL"])
    ]
    text = csv_text(HEADER, rows)
    assert text.encode("cp1252").decode("gb18030").count("蒻ile") == 1  # valid GBK, read as mojibake
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text, encoding="cp1252")

    load(con, raw_dir)

    (row,) = audit(con)
    assert row[4] == "rejected"
    assert row[5].startswith(
        "the file is not UTF-8, and read as GBK it looks like Western text: 3 of its 3 non-ASCII characters "
        "are rare Chinese characters glued to a Latin letter, the first on line 2: '蒻ile' (as Windows-1252: 'Émile')"
    ), row[5]
    assert con.execute("select count(*) from raw_crm.accounts").fetchall() == [(0,)]


def test_blank_lines_only_below_a_stray_quote_are_found_once_it_is_cut_out(con, raw_dir):
    """The first scan of this file sees its blank lines (4 and 6) inside the field the stray quote of
    line 3 opens, so none outside quotes; once the line is cut out they are blank lines, found by
    scanning the file again (it has empty lines at all), and the rows below them keep their lines."""
    text = (
        csv_text(HEADER, [account("A1")])  # lines 1-2
        + 'A2,"乙公司,制造,100,华东,上海,上海,R1,30,2025-01-01,2025-01-02\n'  # line 3: never closes
        + "\n"  # line 4
        + ",".join(account("A3"))
        + "\n\n"  # lines 5-6
        + ",".join(account("A4"))
        + "\n"  # line 7
    )
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", text)

    load(con, raw_dir)

    assert con.execute("select account_id, _source_line from raw_crm.accounts order by 1").fetchall() == [
        ("A1", 2),
        ("A3", 5),
        ("A4", 7),
    ]
    assert con.execute("select line from meta.quarantine").fetchall() == [(3,)]


def test_a_one_column_files_blank_line_is_a_row_duckdb_reads_so_the_rows_below_keep_their_lines(tmp_path):
    """DuckDB reads a blank line of a one-column file as a row with an empty field (deleted as a blank
    row afterwards), not as a line it skips: the rows below it are numbered right already."""
    from dagster_project.ingest.drops import Drop
    from dagster_project.ingest.read import read_drop

    path = tmp_path / "ids_2025-01-31.csv"
    path.write_text("id\nx\n\ny\n", encoding="utf-8")
    con = duckdb.connect()

    read_drop(con, Drop(path, path.name, date(2025, 1, 31), path.stat().st_size, 0))

    assert con.execute("select _line, id from _drop_raw order by _line").fetchall() == [(2, "x"), (4, "y")]


def test_an_xlsx_whose_formulas_were_never_computed_is_rejected_naming_the_cell_and_one_saved_loads(con, raw_dir):
    """A workbook keeps each formula's last computed value, which is what is read. Written by a script
    (openpyxl saves none), X1's employee_count formula read as empty: the value was lost without a
    word. The file is now rejected naming the first such cell's row, column and formula (of two).
    The same workbook as Excel saves it (the values kept beside the formulas; here written into its
    XML) loads them, and a formula computed to an empty text (`=T(0)`, saved as a text value) is an
    empty province, rightly."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(HEADER)
    with_formulas = account("X1")
    with_formulas[3], with_formulas[5] = "=50*2", "=T(0)"
    book.active.append(with_formulas)
    book.active.append(account("X2"))
    script_saved = folder(raw_dir) / "accounts_2025-01-10.xlsx"
    book.save(script_saved)
    excel_saved = folder(raw_dir) / "accounts_2025-01-11.xlsx"
    with zipfile.ZipFile(script_saved) as source, zipfile.ZipFile(excel_saved, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode()
                assert '<c r="D2"><f>50*2</f><v /></c>' in xml and '<c r="F2"><f>T(0)</f><v /></c>' in xml
                xml = xml.replace('<c r="D2"><f>50*2</f><v /></c>', '<c r="D2"><f>50*2</f><v>100</v></c>')
                empty_text = '<c r="F2" t="str"><f>T(0)</f><v></v></c>'  # as Excel saves ""
                data = xml.replace('<c r="F2"><f>T(0)</f><v /></c>', empty_text).encode()
            target.writestr(item, data)

    load(con, raw_dir)

    assert audit(con) == [
        (
            "crm/accounts/accounts_2025-01-10.xlsx",
            0,
            0,
            0,
            "rejected",
            "2 formula cell(s) have no saved value, e.g. row 2, column employee_count: =50*2 (the program that "
            "wrote the workbook does not calculate; open and save it in Excel or LibreOffice, or export the "
            "values, and deliver it again)",
        ),
        ("crm/accounts/accounts_2025-01-11.xlsx", 2, 2, 0, "loaded", None),
    ]
    assert con.execute("select account_id, employee_count, province from raw_crm.accounts order by 1").fetchall() == [
        ("X1", 100, None),
        ("X2", 100, "上海"),
    ]


def test_an_array_formula_never_computed_rejects_the_workbook_too(con, raw_dir):
    """An array formula (Excel's {=...} over a range) reads as openpyxl's ArrayFormula, not as text
    starting with "=": it is found all the same, and named by its text."""
    from openpyxl import Workbook
    from openpyxl.worksheet.formula import ArrayFormula

    book = Workbook()
    book.active.append(HEADER)
    book.active.append(account("X1"))
    book.active["D2"] = ArrayFormula("D2", "=SUM(I2:I2)")  # employee_count
    book.save(folder(raw_dir) / "accounts_2025-01-10.xlsx")

    load(con, raw_dir)

    assert [r[4:] for r in audit(con)] == [
        (
            "rejected",
            "1 formula cell(s) have no saved value, e.g. row 2, column employee_count: =SUM(I2:I2) (the program "
            "that wrote the workbook does not calculate; open and save it in Excel or LibreOffice, or export the "
            "values, and deliver it again)",
        )
    ]
