"""Reading one drop into a temporary all-VARCHAR table, keeping malformed rows aside.

Every format lands in the same shape, `_drop_raw(_line, <header columns as VARCHAR>)`, so that
validation is written once. `_line` is the 1-based physical line in a CSV file (header = 1), the
sheet row in an xlsx file, and the 1-based row number in a Parquet file.

A file that cannot be read is rejected (FileRejected, the reason naming paths relative to the raw
folder); the checks of its bytes before DuckDB reads it are in `inspect.py`. Errors of the machine
rather than of the file (disk full, out of memory) are raised as they are: the file is not to blame.
"""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Protocol

import duckdb

from dagster_project.ingest.drops import Drop, detect_encoding
from dagster_project.ingest.inspect import (
    HEAD_CHARS,
    FileRejected,
    Limits,
    LineHeads,
    LongLine,
    PreparedCsv,
    ScratchFolder,
    TextFacts,
    blank_lines_as_duckdb_numbers_them,
    check_reserved,
    cr_line_ends_only,
    cr_to_lf_copy,
    decoded,
    exact_read_path,
    gbk_text,
    gzip_errors,
    ingest_limits,
    open_bytes,
    prepare_csv,
    read_csv_header,
    scrub_paths,
    utf8_copy,
    write_without,
)
from dagster_project.warehouse import literal, quote

__all__ = ["FileRejected", "MalformedRow", "ReadResult", "read_drop"]


class FileLayout(Protocol):
    """Where a file's records are (a mapping's file rule, or a lookup): the header's line or sheet
    row, the xlsx sheet (None: the first) and the lines or rows at the end that are no records."""

    header_row: int
    sheet: str | None
    footer_rows: int


@dataclass
class MalformedRow:
    line: int | None
    reason: str
    raw_record: str | None


@dataclass
class ReadResult:
    header: list[str]  # column names as found in the file (trimmed)
    encoding: str | None
    malformed: list[MalformedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # warnings on how the file was read
    text: TextFacts = field(default_factory=TextFacts)  # a CSV file's, from the scan before the read


UNNAMED = "_unnamed_"  # a column whose header cell is empty is named by this and its position
RAW_TABLE = "_drop_raw"  # where a drop is read, unless the caller names another table (`into`)


def _create(table: str) -> str:
    """The statement's head that (re)creates the table a drop is read into: `_drop_raw` is a temp
    table; another (a reading thread's, in the scratch database) is the caller's, by its full name."""
    if table != RAW_TABLE and "." not in table:  # unqualified, it would be made in the warehouse
        raise ValueError(f"a drop is read into temp table {RAW_TABLE} or a table named in full, not {table!r}")
    return f"create or replace {'temp ' if table == RAW_TABLE else ''}table {table}"


def _check_header(names: list[str]) -> list[str]:
    header = [n.strip() for n in names]
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            header[i] = name = f"{UNNAMED}{i + 1}"
        if name.lower() in seen:
            raise FileRejected(f"column {name!r} appears twice in the header")
        seen.add(name.lower())
    check_reserved(header)
    return header


def _actual_line(line: int, removed: list[int]) -> int:
    """A line number of the copy DuckDB read, as a line of the file (the removed lines counted back)."""
    shift = 0
    for r in removed:  # sorted
        if r > line + shift:
            break
        shift += 1
    return line + shift


# One message per line and kind of error, at the first column it concerns: DuckDB reports a row cut
# short (a transfer that stopped mid-row) once per missing column, "Found: 8", "Found: 9" ...
_REJECTS_BY_LINE = """
with by_kind as (
    select
        line,
        error_type || ': ' || arg_min(error_message, column_idx)
        || coalesce(' (at column ' || arg_min(column_name, column_idx) || ')', '') as message,
        any_value(csv_line) as csv_line,
    from reject_errors
    group by line, error_type
)
-- DuckDB's csv_line of a CR LF file starts with the LF before it: not part of the record
select line, string_agg(message, '; ' order by message), ltrim(any_value(csv_line), chr(10))
from by_kind group by line order by line
"""


def _load_csv(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    header: list[str],
    max_line_bytes: int | None = None,
    long_lines: list[LongLine] | None = None,
    delimiter: str = ",",
    quoted_line_breaks: bool = False,
    blank_lines: list[int] | None = None,
    table: str = RAW_TABLE,
) -> list[MalformedRow]:
    """`long_lines` were cut out of the file at `path` before: they are quarantined by their line
    numbers, and the lines DuckDB reports are numbered as in the file. `quoted_line_breaks`: the
    file may hold a line break inside a quoted field (PreparedCsv), which puts every record below it
    a line further down than DuckDB, counting records, numbers it. `blank_lines`: the file's blank
    lines, which DuckDB skips without a row, so the rows below sit lower; None when the file has no
    empty line at all. With quoted line breaks, the lines are found again in the file DuckDB reads
    (this one), as DuckDB numbers them; only whether there are any is taken from the list."""
    long_lines = long_lines or []
    if len(header) == 1:  # DuckDB reads a blank line of a one-column file as a row (an empty field)
        blank_lines = None
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    line_limit = f", max_line_size = {max_line_bytes}" if max_line_bytes else ""
    read = (
        f"{_create(table)} as select row_number() over () + 1 as _line, * "
        f"from read_csv({literal(str(path))}, columns = {columns}, header = true, auto_detect = false, "
        f"""delim = {literal(delimiter)}, quote = '"', escape = '"'{line_limit}"""
    )
    # Most files have no malformed line: read without DuckDB's reject tables first (dropping,
    # filling and counting them was ~1 of a small file's 2 ms). A malformed line fails the read,
    # and the file is read again keeping such lines in the reject tables, as each was before.
    try:
        con.execute(read + ")")
        rejects: list[tuple] = []
    except duckdb.Error as exc:
        if _machine_error(exc) or isinstance(exc, duckdb.InterruptException):
            raise
        con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
        con.execute(read + ", store_rejects = true)")
        rejects = con.execute(_REJECTS_BY_LINE).fetchall()
    removed = [ln.line for ln in long_lines]
    breaks: dict[int, int] = {}
    if quoted_line_breaks:
        # record numbers -> lines of the copy DuckDB read: past the malformed records and the blank
        # lines (both as DuckDB numbers lines: without the breaks inside quoted fields), then past
        # the line breaks inside the quoted fields of the records above
        # (scanned again only when the file has an empty line at all: a second pass over the file)
        blank = blank_lines_as_duckdb_numbers_them(path) if blank_lines is not None else []
        skipped = sorted({r[0] for r in rejects} | set(blank))
        _shift_lines(con, _past(skipped), table)
        breaks = _quoted_line_breaks(con, header, rejects, table)
        _shift_lines(con, _cumulative(breaks), table)
    malformed = [
        MalformedRow(
            line=_actual_line(r[0] + sum(n for at, n in breaks.items() if at < r[0]), removed),
            reason=f"malformed row: {r[1]}",
            raw_record=r[2],
        )
        for r in rejects
    ]
    malformed += [MalformedRow(ln.line, ln.reason(max_line_bytes or 0), ln.head) for ln in long_lines]
    malformed.sort(key=lambda m: m.line)
    # Lines shift past each malformed and blank line (or, once the records are lines, past each
    # line cut out)
    skipped = removed if quoted_line_breaks else sorted({m.line for m in malformed} | set(blank_lines or []))
    _shift_lines(con, _past(skipped), table)
    return malformed


def _past(lines: list[int]) -> dict[int, int]:
    """Offsets that move rows numbered 2, 3, ... past the given lines (sorted): rows numbered above
    `line_i - i` (the i-th line, 1-based i) sit i lines further down. Adjacent lines: the last wins."""
    return {line - i: i for i, line in enumerate(lines, start=1)}


def _cumulative(breaks: dict[int, int]) -> dict[int, int]:
    """Offsets that move each row down by the line breaks of the rows above it."""
    offsets: dict[int, int] = {}
    total = 0
    for line in sorted(breaks):
        total += breaks[line]
        offsets[line] = total
    return offsets


def _shift_lines(con: duckdb.DuckDBPyConnection, offsets: dict[int, int], table: str = RAW_TABLE) -> None:
    """Add to each row's `_line` the offset of the greatest `after_line` below it."""
    if not offsets:
        return
    con.execute("create or replace temp table _line_offsets (after_line bigint, offset_lines bigint)")
    con.executemany("insert into _line_offsets values (?, ?)", list(offsets.items()))
    con.execute(
        f"""
        {_create(table)} as
        select r._line + coalesce(o.offset_lines, 0) as _line, r.* exclude (_line)
        from {table} r asof left join _line_offsets o on r._line > o.after_line
        order by r._line
        """
    )
    con.execute("drop table _line_offsets")


def _quoted_line_breaks(
    con: duckdb.DuckDBPyConnection, header: list[str], rejects: list[tuple], table: str = RAW_TABLE
) -> dict[int, int]:
    """Record number -> the line breaks inside its quoted fields, for the records that have any: the
    rows read (their values keep the breaks) and the malformed records (their text as DuckDB gives it)."""
    if not header:
        return {}
    count = " + ".join(f"coalesce(len({quote(h)}) - len(replace({quote(h)}, chr(10), '')), 0)" for h in header)
    rows = con.execute(f"select _line, n from (select _line, {count} as n from {table}) where n > 0").fetchall()
    breaks = dict(rows)
    for line, _, text in rejects:
        if text and (n := text.rstrip("\r\n").count("\n")):
            breaks[line] = n
    return breaks


def _first_line(exc: BaseException) -> str:
    """DuckDB's message without the SQL it quotes after it."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _machine_error(exc: BaseException) -> bool:
    """Errors of the machine, not of the file: never a reason to reject a file for good."""
    text = str(exc)
    return isinstance(exc, (duckdb.OutOfMemoryException, MemoryError)) or any(
        marker in text for marker in ("No space left on device", "Could not set lock", "Out of Memory")
    )


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path, table: str = RAW_TABLE) -> list[str]:
    try:
        names = [r[0] for r in con.execute(f"describe select * from read_parquet({literal(str(path))})").fetchall()]
        casts = ", ".join(f"{quote(n)}::varchar as {quote(n.strip())}" for n in names)
        # A row's line is its place in the file (1 = the first row). DuckDB's file_row_number gives it
        # while both threads scan; row_number() over () numbered the rows on one thread after the scan
        # (scale 10: 9.4 M web events 2.3 s -> 1.2 s). A file that has a column of that name (DuckDB
        # then refuses the option) is numbered the old way, in the same order.
        source = f"read_parquet({literal(str(path))}"
        if any(n.lower() == "file_row_number" for n in names):
            line, source = "row_number() over ()", source + ")"
        else:
            line, source = "file_row_number + 1", source + ", file_row_number = true)"
        con.execute(f"{_create(table)} as select {line} as _line, {casts} from {source}")
    except duckdb.Error as exc:  # a footer that cannot be read, or corrupt pages behind a good footer
        if _machine_error(exc):
            raise
        raise FileRejected(f"not a readable Parquet file: {_first_line(exc)}") from exc
    return names


def _cell_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _sheet(workbook, name: str | None):
    """The sheet a mapping's file rule names (`sheet:`, any case), else the first."""
    if name is None:
        return workbook.worksheets[0]
    found = [ws for ws in workbook.worksheets if ws.title.strip().lower() == name.strip().lower()]
    if not found:
        titles = ", ".join(ws.title for ws in workbook.worksheets)
        raise FileRejected(f"no sheet named {name!r} (the mapping's sheet); the workbook's sheets: {titles}")
    return found[0]


def _xlsx_records(
    workbook, header_row: int = 1, sheet: str | None = None, footer_rows: int = 0
) -> tuple[list[str], list[list]]:
    """The sheet's header (on sheet row `header_row`) and its non-blank rows below it, each led by its
    sheet row number; the first sheet unless a mapping names one."""
    rows = _sheet(workbook, sheet).iter_rows(values_only=True)
    for _ in range(header_row - 1):
        next(rows, None)
    first = next(rows, None)
    if first is None or not any(c is not None for c in first):
        which = f"sheet {sheet!r}" if sheet else "first sheet"
        others = (
            ""
            if sheet or len(workbook.worksheets) == 1
            else (
                f" (the workbook's sheets: {', '.join(ws.title for ws in workbook.worksheets)}: for a company's "
                "export read through a mapping, name the one to read with `sheet:` in its file rule)"
            )
        )
        raise FileRejected(f"empty {which}: no header row{_on_row(header_row)}{others}")
    header = _check_header([_cell_text(c) or "" for c in first])
    records = []
    for sheet_row, values in enumerate(rows, start=header_row + 1):
        if values is None or all(v is None for v in values):
            continue  # blank sheet rows carry no record
        cells = [_cell_text(v) for v in values[: len(header)]]
        cells += [None] * (len(header) - len(cells))
        records.append([sheet_row, *cells])
    if footer_rows:
        if len(records) < footer_rows:
            raise FileRejected(
                f"has fewer than {footer_rows} rows below the header: no footer of that size (footer_rows)"
            )
        records = records[:-footer_rows]
    return header, records


def _reject_uncomputed_formulas(path: Path, sheet: str | None, header: list[str], records: list[list]) -> None:
    """Raise FileRejected when an empty cell of the records holds a formula that was never computed: a
    workbook keeps each formula's value as last computed, which is what is read, and a program that
    does not calculate (a script's xlsx writer) saves none. Read as empty, those values were lost
    without a word. A formula computed to an empty text is saved as such (a text value, `t="str"`) and
    reads as empty, rightly. Looked for only when a record has an empty cell, in two more reads of
    those rows (xlsx drops are small; CSV exports never pay it)."""
    if not _holds_formulas(path):
        return
    empty = {(record[0], i) for record in records for i, cell in enumerate(record[1:]) if cell is None}
    saved = _xlsx_cells(path, sheet, empty, data_only=True)  # as read: (value, type) of each empty cell
    uncomputed = {at for at, (_, kind) in saved.items() if kind != "str"}  # an empty text is a value
    found = [
        (row, header[i], formula)
        for (row, i), (value, _) in sorted(_xlsx_cells(path, sheet, uncomputed, data_only=False).items())
        if (formula := _formula_text(value)) is not None
    ]
    if found:
        row, column, formula = found[0]
        raise FileRejected(
            f"{len(found)} formula cell(s) have no saved value, e.g. row {row}, column {column}: {formula[:80]} "
            "(the program that wrote the workbook does not calculate; open and save it in Excel or "
            "LibreOffice, or export the values, and deliver it again)"
        )


_FORMULA_ELEMENT = re.compile(rb"<(?:\w+:)?f[\s>/]")  # <f>, <f t="shared" .../>, a prefixed <x:f>


def _holds_formulas(path: Path) -> bool:
    """Whether any sheet of the workbook holds a formula: its XML, scanned in the zip (a sheet of
    100 k rows in well under a second), which spares the other reads a workbook without one."""
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with book.open(name) as xml:
                tail = b""
                while chunk := xml.read(1 << 20):
                    if _FORMULA_ELEMENT.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
    return False


def _formula_text(value: object) -> str | None:
    """A cell's formula as openpyxl reads it without values: `=...`, or an array formula's text."""
    if isinstance(value, str) and value.startswith("="):
        return value
    text = getattr(value, "text", None)  # openpyxl's ArrayFormula (a formula over a range, {=...})
    return text if type(value).__name__ == "ArrayFormula" and isinstance(text, str) else None


def _xlsx_cells(path: Path, sheet: str | None, cells: set[tuple[int, int]], data_only: bool) -> dict:
    """{(sheet row, column index): (value, openpyxl data type)} of `cells`, read as values (data_only) or
    as formulas."""
    from openpyxl import load_workbook

    if not cells:
        return {}
    first, last = min(row for row, _ in cells), max(row for row, _ in cells)
    workbook = load_workbook(path, read_only=True, data_only=data_only)
    try:
        rows = _sheet(workbook, sheet).iter_rows(min_row=first, max_row=last)
        return {
            (row, i): (cell.value, getattr(cell, "data_type", None))
            for row, values in enumerate(rows, start=first)
            for i, cell in enumerate(values)
            if (row, i) in cells
        }
    finally:
        workbook.close()


def _on_row(header_row: int) -> str:
    return "" if header_row == 1 else f" on row {header_row} (the mapping's header_row)"


def _load_xlsx(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    header_row: int = 1,
    sheet: str | None = None,
    footer_rows: int = 0,
    table: str = RAW_TABLE,
) -> list[str]:
    import pandas as pd  # only xlsx drops need it; kept out of start-up
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        if _machine_error(exc):
            raise
        raise FileRejected(f"not a readable xlsx workbook: {exc}") from exc
    try:
        header, records = _xlsx_records(workbook, header_row, sheet, footer_rows)
        if any(cell is None for record in records for cell in record):
            _reject_uncomputed_formulas(path, sheet, header, records)
    except FileRejected:
        raise
    except Exception as exc:  # the sheet's XML is read lazily: broken XML shows only here
        if _machine_error(exc):
            raise
        raise FileRejected(f"not a readable xlsx workbook: {type(exc).__name__}: {exc}") from exc
    finally:
        workbook.close()
    frame = pd.DataFrame(records, columns=["_line", *header], dtype=object)
    frame["_line"] = frame["_line"].astype("int64")
    con.register("_xlsx_frame", frame)
    casts = ", ".join(f"{quote(h)}::varchar as {quote(h)}" for h in header)
    con.execute(f"{_create(table)} as select _line, {casts} from _xlsx_frame")
    con.unregister("_xlsx_frame")
    return header


BOM = "\ufeff"
HEADER_AGAIN = (
    "the header line again, as a row (two exports joined into one file?): not a record; "
    "the rows above and below it are read as usual"
)


# below this many rows, blank rows are probed by one concatenation of the columns (see _drop_rows_that_are_no_records)
_CONCATENATE_BELOW_ROWS = 20_000


# Bytes that may begin a field that trims to nothing: the space, or the first byte of a character of
# more than one (DuckDB's trim removes the Unicode spaces too; the byte order mark); and, to be safe,
# every byte below it (line ends, a blank line's CR, tab)
_MAY_TRIM = frozenset(range(0x21)) | frozenset(range(0x80, 0x100))


def _may_hold_no_records(heads: LineHeads, header: list[str], delimiter: str) -> bool:
    """Whether a CSV file whose lines begin as `heads` says may hold a row that is blank or the
    header again: such a row's first field trims to nothing or to the first column's name, so its
    line begins with the separator, a byte trim may remove, that name's first byte, or a quote
    followed by one of these (or by the closing quote)."""
    name = header[0]
    if '"' in name:  # a quote in the name: quoted, it reads otherwise; not worth the case
        return True
    name_byte = set() if name.startswith(UNNAMED) else {name.encode()[0]}
    first = _MAY_TRIM | {delimiter.encode()[0]} | name_byte
    after_quote = _MAY_TRIM | {ord('"')} | name_byte
    return bool(heads.first & first or heads.after_quote & after_quote)


def _drop_rows_that_are_no_records(
    con: duckdb.DuckDBPyConnection, header: list[str], table: str = RAW_TABLE
) -> tuple[int, list[MalformedRow]]:
    """Delete the rows of `table` (`_drop_raw`) that are no records: (how many were blank, the header again).
    A row whose every field is empty, as spreadsheets save rows they once used (",,,,,"), is none,
    as a blank xlsx row is none; left in, each was quarantined for its empty key, and a few of them
    put a small file over the quarantine share. A row whose every field is its own column's name
    (two named columns at least; a column the header leaves unnamed is empty) is the header again:
    exports joined into one file (`cat jan.csv feb.csv`) repeat it, the first name after a byte
    order mark when Excel wrote them. It is quarantined with that reason, not with one for each
    value failing its type, nor loaded when every column is text.
    Found here, on the file as read, so that a company's export read through a mapping (whose
    values are transformed before they are checked) is judged as a native drop is."""
    # A few hundred daily files of a small company hold none of them: a probe that is cheap to
    # plan finds that first. DuckDB plans a condition over every column in ~3 ms, more than reading
    # the file; the probe tests one concatenation for blank rows (small drops) and one named column
    # for the header. On a large drop running the condition costs more than planning it, and ANDs
    # cost least: DuckDB tests the next column only on rows still in (25 ms rather than 37 ms with
    # coalesce, and 91 ms with the concatenation, for a 417 k-row drop whose first column is never empty).
    (rows,) = con.execute(f"select count(*) from {table}").fetchone() or (0,)
    if rows < _CONCATENATE_BELOW_ROWS:
        empty = "trim(concat(" + ", ".join(quote(h) for h in header) + ")) = ''"
    else:
        empty = " and ".join(f"nullif(trim({quote(h)}), '') is null" for h in header)
    named = [(i, h) for i, h in enumerate(header) if not h.startswith(UNNAMED)]
    values = {
        i: f"ltrim(trim({quote(h)}), {literal(BOM)})" if i == 0 else f"trim({quote(h)})" for i, h in enumerate(header)
    }
    again = "false"
    if len(named) >= 2:
        probe = f"({empty}) or {values[named[0][0]]} = {literal(named[0][1])}"
        # a column the header leaves unnamed (pandas' index column) is empty on the repeated header too
        again = " and ".join(
            f"nullif({values[i]}, '') is null" if h.startswith(UNNAMED) else f"{values[i]} = {literal(h)}"
            for i, h in enumerate(header)
        )
    else:
        probe = empty
    (found,) = con.execute(f"select exists (select 1 from {table} where {probe})").fetchone() or (False,)
    if not found:
        return 0, []
    record = "to_json(struct_pack(" + ", ".join(f"{quote(h)} := {quote(h)}" for h in header) + "))::varchar"
    deleted = con.execute(
        f"delete from {table} where ({empty}) or ({again}) "
        f"returning _line, ({again}) as header_again, case when ({again}) then {record} end"
    ).fetchall()
    repeated = [MalformedRow(line, HEADER_AGAIN, raw) for line, is_header, raw in deleted if is_header]
    return len(deleted) - len(repeated), sorted(repeated, key=lambda m: m.line)


NOT_UTF8 = "INVALID ENCODING"  # in DuckDB's reason for a line of a UTF-8 file that is not UTF-8
_GBK_LINE = (
    "a line in GBK (or another double-byte Chinese encoding) in a UTF-8 file (two exports joined into one "
    "file, one saved by Excel on a Chinese Windows?): kept as GBK reads it; save the file as UTF-8 and "
    "deliver it again"
)
_LINE_IN = (
    "a line in {encoding}, the mapping's encoding, in a file that is otherwise UTF-8: kept as {encoding} "
    "reads it; save the file in one encoding and deliver it again"
)
_UNDECODABLE_LINE = (
    "not UTF-8, as the rest of the file is: kept with its other bytes as \\x escapes; save the file "
    "as UTF-8 and deliver it again (or, for a company's export read through a mapping, give its encoding)"
)


def _named_not_utf8(path: Path, malformed: list[MalformedRow], given: str | None = None) -> list[MalformedRow]:
    """DuckDB quarantines a record of a UTF-8 file that is not UTF-8, with a reason that names no cause
    and the bytes it cannot read turned to `?` in its text. Such a record (its line, and the lines a
    quoted line break in it carries on to) is read again from the file: kept as the mapping's
    encoding (`given`) reads it, else as GBK reads it when it is GBK text, else with its bytes as
    \\x escapes, each with a reason that says which. Nothing of it is lost."""
    spans = {m.line: (m.raw_record or "").count("\n") + 1 for m in malformed if m.line and NOT_UTF8 in m.reason}
    if not spans:
        return malformed
    owner = {start + k: start for start, count in spans.items() for k in range(count)}
    parts: dict[int, list[bytes]] = {}
    last = max(owner)
    with gzip_errors(), open_bytes(path) as fh:
        for number, raw in enumerate(fh, start=1):
            if number in owner:
                parts.setdefault(owner[number], []).append(raw)
            if number >= last:
                break
    named = []
    for m in malformed:
        raw = b"".join(parts[m.line]).rstrip(b"\r\n") if m.line in spans and m.line in parts else None
        if raw is None or decoded(raw, "utf-8") is not None:  # not found as the file's lines
            named.append(m)
        elif given and given != "utf-8" and (text := decoded(raw, given)) is not None:
            named.append(MalformedRow(m.line, _LINE_IN.format(encoding=given), text))
        elif (text := gbk_text(raw)) is not None:
            named.append(MalformedRow(m.line, _GBK_LINE, text))
        else:
            named.append(MalformedRow(m.line, _UNDECODABLE_LINE, raw.decode("utf-8", errors="backslashreplace")))
    return named


def _blank_rows_note(blank: int) -> list[str]:
    return [f"{blank} blank row{'s' if blank != 1 else ''} (every field empty) skipped: no records"] if blank else []


_DELIMITER_NAMES = {";": "semicolons", "\t": "tabs", "|": "'|'"}


def _from_header_row(path: Path, header_row: int, workdir: Path | ScratchFolder) -> Path:
    """A copy of the CSV file from line `header_row` on (the lines above it are a title or notes)."""
    copy = workdir / "from_header_row.csv"
    with gzip_errors(), open_bytes(path) as source, copy.open("wb") as out:
        for _ in range(header_row - 1):
            if not source.readline():
                raise FileRejected(f"has fewer than {header_row} lines: no header on line {header_row} (header_row)")
        while chunk := source.read(1 << 20):
            out.write(chunk)
    return copy


_FOOTER_TAIL = 1 << 20  # a footer is looked for in the last MiB


def _blank_line(line: bytes) -> bool:
    """No characters but spaces, quotes and separators: `""`, `,,,` (no record, no footer text)."""
    return not line.strip(b' \t\r\n",;|')


def _without_footer(path: Path, lines: int, workdir: Path | ScratchFolder) -> Path:
    """A copy of the CSV file without its last `lines` non-blank lines (a mapping's footer_rows: report
    exports end with "Generated by ...", 制表人, a copyright), nor the blank lines around them."""
    copy = workdir / "without_footer.csv"
    with gzip_errors(), open_bytes(path) as source, copy.open("wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    with copy.open("r+b") as fh:
        start = max(0, fh.seek(0, 2) - _FOOTER_TAIL)
        fh.seek(start)
        pieces = fh.read().split(b"\n")  # the tail's lines (the first may be cut)
        ends, position = [], 0
        for piece in pieces:
            position += len(piece)
            ends.append(position)  # where its line break is
            position += 1
        found = 0
        for k in range(len(pieces) - 1, -1, -1):  # from the last line up, blank lines left out
            if _blank_line(pieces[k]):
                continue
            if found == lines:  # the last line that is no footer: cut after its line break
                fh.truncate(start + min(ends[k] + 1, position - 1))
                return copy
            found += 1
    raise FileRejected(
        f"fewer than {lines + 1} lines (the header included) in its last MiB: no footer of {lines} lines (footer_rows)"
    )


def _footer_note(lines: int) -> list[str]:
    return [f"the last {lines} line(s) not read (footer_rows)"] if lines else []


_SEPARATOR_HINT = re.compile(rb'^"?sep=(.)"?\r?\n')


def _separator_hint(path: Path) -> str:
    """`sep=;` when the file's first line is Excel's separator hint (`sep=;`, `sep=,`), else ""."""
    with gzip_errors(), open_bytes(path) as fh:
        first = fh.readline(64)
    found = _SEPARATOR_HINT.match(first.removeprefix(b"\xef\xbb\xbf"))
    return f"sep={found.group(1).decode('latin-1')}" if found else ""


def _trailing_separator_in_header_only(path: Path, encoding: str, names: list[str], delimiter: str) -> bool:
    """The header ends with a separator (an empty last name) and the first record has one field fewer:
    the export writes a separator after the header's last name only. Read as a column, every row of
    the file would be one field short, and quarantined."""
    if len(names) < 2 or names[-1].strip():
        return False
    with gzip_errors(), open_bytes(path) as fh:
        fh.readline()
        first = fh.readline(1 << 20).decode("utf-8-sig" if encoding == "utf-8" else encoding, errors="replace")
    try:
        record = next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter), None)
    except csv.Error:
        return False
    return record is not None and len(record) == len(names) - 1


_OPEN_QUOTE_RETRIES = 20  # re-reads of a file with lines whose quote never closes


@dataclass(frozen=True)
class OpenQuoteLine:
    """A line whose quoted field never closes on it: read as CSV, the field ran on through the lines
    below to the next quote (or to the end of the file), and those records were lost with it. It is
    cut out of the copy DuckDB reads and quarantined alone, so the lines below it load."""

    line: int  # in the file (header = 1)
    start: int  # byte span in the copy DuckDB read first (long lines already cut), line break included
    end: int
    head: str

    def reason(self, limit: int) -> str:
        return (
            "malformed row: a quoted field opens on this line and does not close on it (a stray quote?); "
            "the line is set apart so that the lines below it are read as their own records"
        )


def _open_quote_lines(
    path: Path, malformed: list[MalformedRow], long_lines: list[LongLine], cut: list[OpenQuoteLine]
) -> list[OpenQuoteLine]:
    """The lines that start malformed records run on over several lines from an unterminated quote,
    not cut yet, with their byte spans in `path` (the copy without the long lines). DuckDB numbers
    a record by the records before it, so the line is looked for from that number on (a quoted
    line break above it puts it further down) by the text DuckDB reported for it."""
    wanted = sorted(
        (_copy_line(m.line, long_lines), m.raw_record.split("\n", 1)[0].rstrip("\r"))
        for m in malformed
        if m.line is not None
        and "unterminated quote" in m.reason
        and m.raw_record
        and "\n" in m.raw_record.rstrip("\r\n")
    )
    done = {c.start for c in cut}
    found: list[OpenQuoteLine] = []
    removed = sorted(ln.line for ln in long_lines)
    with gzip_errors(), open_bytes(path) as fh:  # a gzip file's lines and offsets are its text's
        offset = 0
        for number, raw in enumerate(fh, start=1):
            if not wanted:
                break
            if number >= wanted[0][0] and offset not in done:
                text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                match = next((w for w in wanted if w[0] <= number and w[1] == text), None)
                if match is not None:
                    wanted.remove(match)
                    line = _actual_line(number, removed)
                    found.append(OpenQuoteLine(line, offset, offset + len(raw), text[:HEAD_CHARS]))
            offset += len(raw)
    return found


def _copy_line(line: int, long_lines: list[LongLine]) -> int:
    """A line of the file as numbered in the copy without its long lines."""
    return line - sum(1 for ln in long_lines if ln.line < line)


def _load_csv_past_open_quotes(
    con: duckdb.DuckDBPyConnection,
    prepared: PreparedCsv,
    header: list[str],
    limits: Limits,
    delimiter: str,
    workdir: Path | ScratchFolder,
    table: str = RAW_TABLE,
) -> list[MalformedRow]:
    """`_load_csv` of the prepared copy, read again without each line whose quote never closes (at
    most _OPEN_QUOTE_RETRIES times): such a line is quarantined alone (OpenQuoteLine)."""
    breaks, blank = prepared.quoted_line_breaks, (prepared.blank_lines if prepared.empty_lines else None)
    malformed = _load_csv(
        con, prepared.path, header, limits.max_line_bytes, prepared.long_lines, delimiter, breaks, blank, table
    )
    cut: list[OpenQuoteLine] = []
    for attempt in range(_OPEN_QUOTE_RETRIES):
        found = _open_quote_lines(prepared.path, malformed, prepared.long_lines, cut)
        if not found:
            break
        cut = sorted(cut + found, key=lambda c: c.line)
        copy = workdir / f"without_open_quotes_{attempt}.csv"
        with gzip_errors(), open_bytes(prepared.path) as src:  # the copy is plain text
            write_without(iter(lambda: src.read(1 << 20), b""), [(c.start, c.end) for c in cut], copy)
        cut_lines = sorted([*prepared.long_lines, *cut], key=lambda c: c.line)
        malformed = _load_csv(con, copy, header, limits.max_line_bytes, cut_lines, delimiter, breaks, blank, table)
    return malformed


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    drop: Drop,
    workdir: Path | ScratchFolder,
    limits: Limits,
    header_row: int = 1,
    encoding: str | None = None,
    footer_rows: int = 0,
    table: str = RAW_TABLE,
) -> ReadResult:
    given, encoding = encoding, detect_encoding(drop.path, encoding)
    path, text_encoding = drop.path, encoding
    if encoding.startswith("utf-16"):  # decoded first: the steps below find lines and fields by their bytes
        path, text_encoding = utf8_copy(drop.path, encoding, workdir / "from_utf16.csv", limits), "utf-8"
    cr_only = cr_line_ends_only(path, limits.max_line_bytes)
    if cr_only:  # read as lines, the file is one line: each CR becomes the line end it is
        path, text_encoding = cr_to_lf_copy(path, text_encoding, workdir / "from_cr.csv", limits), "utf-8"
    separator_hint = header_row == 1 and _separator_hint(path)
    if separator_hint:  # Excel's `sep=;` line above the header: read past it, as a title
        header_row = 2
    path = path if header_row == 1 else _from_header_row(path, header_row, workdir)
    path = path if not footer_rows else _without_footer(path, footer_rows, workdir)
    hinted = separator_hint[-1] if separator_hint else None
    names, delimiter = read_csv_header(path, text_encoding, limits.max_line_bytes, hinted)
    trailing = _trailing_separator_in_header_only(path, text_encoding, names, delimiter)
    header = _check_header(names[:-1] if trailing else names)
    prepared = prepare_csv(path, text_encoding, workdir, limits, delimiter)
    try:
        malformed = _load_csv_past_open_quotes(con, prepared, header, limits, delimiter, workdir, table)
    except duckdb.Error as exc:
        if _machine_error(exc):
            raise
        raise FileRejected(f"cannot be parsed as CSV: {_first_line(exc)}") from exc
    notes = ["line ends mixed CR LF and LF: read with each CR LF as LF"] if prepared.mixed_line_ends else []
    if cr_only:
        notes.append("line ends are CR only (classic Mac OS, Excel's CSV (Macintosh)): read with each CR as LF")
    if header_row > 1:  # lines are numbered as in the file
        above = header_row - 1
        con.execute(f"update {table} set _line = _line + {above}")
        malformed = [MalformedRow(m.line and m.line + above, m.reason, m.raw_record) for m in malformed]
        notes.append(
            f"line 1 is Excel's separator hint ({separator_hint}): not read"
            if separator_hint
            else f"header on line {header_row} (header_row): the {above} line(s) above it not read"
        )
    if encoding == "utf-8" and not cr_only:  # read as the file's own lines (a CR-only file's stay as DuckDB gave them)
        malformed = _named_not_utf8(drop.path, malformed, given)
    # the probe for such rows scans every row (scale 10's activities: ~0.1 CPU s per 441 k rows); the
    # lines' first bytes, known from the scan before the read, mostly show that none can be there
    maybe = _may_hold_no_records(prepared.line_heads, header, delimiter)
    blank, repeated_header = _drop_rows_that_are_no_records(con, header, table) if maybe else (0, [])
    if repeated_header:
        malformed = sorted([*malformed, *repeated_header], key=lambda m: (m.line is None, m.line or 0))
    notes += _blank_rows_note(blank)
    if delimiter != ",":
        notes.append(f"fields separated by {_DELIMITER_NAMES.get(delimiter, repr(delimiter))}, not commas")
    notes += _footer_note(footer_rows)
    if trailing:
        notes.append("the header ends with a separator its rows do not have: no column")
    return ReadResult(header=header, encoding=encoding, malformed=malformed, notes=notes, text=prepared.text)


def _read(
    con: duckdb.DuckDBPyConnection,
    drop: Drop,
    workdir: Path | ScratchFolder,
    limits: Limits,
    encoding: str | None,
    layout: FileLayout | None,
    table: str,
) -> ReadResult:
    if drop.format == "parquet":
        names = _load_parquet(con, exact_read_path(drop.path, workdir), table)
        return ReadResult(header=_check_header(names), encoding=None)
    # a mapped export's file rule may say the header is further down (a title above it), which
    # sheet to read and how many lines end it, and its mapping which encoding its files have when
    # they are not UTF-8
    source = getattr(drop, "mapping", None)
    layout = layout or (source.rule if source else None)
    header_row = layout.header_row if layout else 1
    footer = layout.footer_rows if layout else 0
    encoding = encoding or (source.mapping.encoding if source else None)
    if drop.format == "xlsx":
        sheet = layout.sheet if layout else None
        header = _load_xlsx(con, drop.path, header_row, sheet, footer, table)
        blank, repeated_header = _drop_rows_that_are_no_records(con, header, table)  # blank: cells of empty text
        notes = _blank_rows_note(blank) + _footer_note(footer)
        return ReadResult(header=header, encoding=None, malformed=repeated_header, notes=notes)
    return _read_csv(con, drop, workdir, limits, header_row, encoding, footer, table)


def read_drop(
    con: duckdb.DuckDBPyConnection,
    drop: Drop,
    limits: Limits | None = None,
    encoding: str | None = None,
    layout: FileLayout | None = None,
    into: str = RAW_TABLE,
) -> ReadResult:
    """Fill temp table `_drop_raw` from the drop (exactly this file: its name is never a glob
    pattern); raise FileRejected, naming paths relative to the raw folder, when it cannot be read.
    `encoding` and `layout`: of a file that is no drop of a file rule (a mapping's lookup files); a
    mapped drop's own are its mapping's and its file rule's. `into`: another table to fill, by its
    full name (a reading thread's, whose temp tables the loading connection cannot see): read there
    directly, the rows are not copied again (scale 10's 15.5 M activities: ~2.4 of 64 CPU s)."""
    with ScratchFolder() as workdir:
        try:
            return _read(con, drop, workdir, limits or ingest_limits(), encoding, layout, into)
        except FileRejected as exc:
            raise FileRejected(scrub_paths(str(exc), drop.path, drop.relative_path, workdir)) from exc
