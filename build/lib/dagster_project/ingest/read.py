"""Reading one drop into a temporary all-VARCHAR table, keeping malformed rows aside.

Every format lands in the same shape, `_drop_raw(_line, <header columns as VARCHAR>)`, so that
validation is written once. `_line` is the 1-based physical line in a CSV file (header = 1), the
sheet row in an xlsx file, and the 1-based row number in a Parquet file.
"""

from __future__ import annotations

import csv
import gzip
import io
import tempfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path

import duckdb

from dagster_project.ingest.drops import Drop, detect_encoding, transcode_to_utf8
from dagster_project.warehouse import literal, quote


class FileRejected(Exception):
    """The whole file cannot be loaded; the message says why (and names the column if one is missing)."""


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


def _check_header(names: list[str], drop: Drop) -> list[str]:
    header = [n.strip() for n in names]
    seen: set[str] = set()
    for i, name in enumerate(header):
        if not name:
            header[i] = name = f"_unnamed_{i + 1}"
        if name.lower() in seen:
            raise FileRejected(f"{drop.relative_path}: column {name!r} appears twice in the header")
        seen.add(name.lower())
    return header


def _read_csv_header(path: Path, encoding: str) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as fh:
        first = fh.readline()
    text_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        line = first.decode(text_encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"header is not valid {encoding}: {exc}") from exc
    rows = list(csv.reader(io.StringIO(line)))
    if not rows or not any(c.strip() for c in rows[0]):
        raise FileRejected("empty file: no header row")
    return rows[0]


def _load_csv(con: duckdb.DuckDBPyConnection, path: Path, header: list[str]) -> list[MalformedRow]:
    columns = "{" + ", ".join(f"{literal(h)}: 'VARCHAR'" for h in header) + "}"
    con.execute("drop table if exists reject_errors; drop table if exists reject_scans")
    con.execute(
        f"""
        create or replace temp table _drop_raw as
        select row_number() over () + 1 as _line, *
        from read_csv({literal(str(path))}, columns = {columns}, header = true, auto_detect = false,
                      delim = ',', quote = '"', escape = '"', store_rejects = true)
        """
    )
    rejects = con.execute(
        """
        select line, string_agg(distinct error_type || ': ' || error_message, '; '), any_value(csv_line)
        from reject_errors group by line order by line
        """
    ).fetchall()
    malformed = [MalformedRow(line=r[0], reason=f"malformed row: {r[1]}", raw_record=r[2]) for r in rejects]
    if malformed:
        # Lines shift past each malformed line: good rows numbered above `line_i - i` (the i-th
        # malformed line, 1-based i) sit i lines further down.
        con.execute("create or replace temp table _reject_offsets (after_line bigint, offset_lines bigint)")
        offsets = {m.line - i: i for i, m in enumerate(malformed, start=1)}  # adjacent ones: the last wins
        con.executemany("insert into _reject_offsets values (?, ?)", list(offsets.items()))
        con.execute(
            """
            create or replace temp table _drop_raw as
            select r._line + coalesce(o.offset_lines, 0) as _line, r.* exclude (_line)
            from _drop_raw r asof left join _reject_offsets o on r._line > o.after_line
            order by r._line
            """
        )
        con.execute("drop table _reject_offsets")
    return malformed


def _load_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    try:
        names = [r[0] for r in con.execute(f"describe select * from read_parquet({literal(str(path))})").fetchall()]
    except duckdb.Error as exc:
        raise FileRejected(f"not a readable Parquet file: {exc}") from exc
    casts = ", ".join(f"{quote(n)}::varchar as {quote(n.strip())}" for n in names)
    con.execute(
        f"""
        create or replace temp table _drop_raw as
        select row_number() over () as _line, {casts} from read_parquet({literal(str(path))})
        """
    )
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


def _load_xlsx(con: duckdb.DuckDBPyConnection, path: Path, drop: Drop) -> list[str]:
    import pandas as pd  # only xlsx drops need it; kept out of start-up
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise FileRejected(f"not a readable xlsx workbook: {exc}") from exc
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        first = next(rows, None)
        if first is None or not any(c is not None for c in first):
            raise FileRejected("empty first sheet: no header row")
        header = _check_header([_cell_text(c) or "" for c in first], drop)
        records = []
        for sheet_row, values in enumerate(rows, start=2):
            if values is None or all(v is None for v in values):
                continue  # blank sheet rows carry no record
            cells = [_cell_text(v) for v in values[: len(header)]]
            cells += [None] * (len(header) - len(cells))
            records.append([sheet_row, *cells])
    finally:
        workbook.close()
    frame = pd.DataFrame(records, columns=["_line", *header], dtype=object)
    frame["_line"] = frame["_line"].astype("int64")
    con.register("_xlsx_frame", frame)
    casts = ", ".join(f"{quote(h)}::varchar as {quote(h)}" for h in header)
    con.execute(f"create or replace temp table _drop_raw as select _line, {casts} from _xlsx_frame")
    con.unregister("_xlsx_frame")
    return header


def read_drop(con: duckdb.DuckDBPyConnection, drop: Drop) -> ReadResult:
    """Fill temp table `_drop_raw` from the drop; raise FileRejected when the file cannot be read."""
    if drop.format == "parquet":
        return ReadResult(header=_check_header(_load_parquet(con, drop.path), drop), encoding=None)
    if drop.format == "xlsx":
        return ReadResult(header=_load_xlsx(con, drop.path, drop), encoding=None)

    encoding = detect_encoding(drop.path)
    header = _check_header(_read_csv_header(drop.path, encoding), drop)
    try:
        if encoding == "utf-8":
            malformed = _load_csv(con, drop.path, header)
        else:
            with tempfile.TemporaryDirectory(prefix="s2s_transcode_") as tmp:
                utf8_copy = Path(tmp) / "drop.csv"
                try:
                    transcode_to_utf8(drop.path, encoding, utf8_copy)
                except UnicodeDecodeError as exc:
                    raise FileRejected(f"not valid {encoding} at byte {exc.start}: {exc.reason}") from exc
                malformed = _load_csv(con, utf8_copy, header)
    except duckdb.Error as exc:
        raise FileRejected(f"cannot be parsed as CSV: {exc}") from exc
    return ReadResult(header=header, encoding=encoding, malformed=malformed)
