"""Writing drops: integer-coded frames rendered by DuckDB into CSV, gzip CSV, Parquet; targets into xlsx.

Frames carry ids, days and times as integers (-1 = null) and a kind per column says how to render
it: `id:<prefix>:<width>`, `hex:<prefix>:<width>`, `ts`, `date`, `money`, `dec6`, `bool`, `int`,
`float`; text and categorical columns are written as they are.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from pathlib import Path

import duckdb
import pandas as pd

FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
GZIP_LEVEL = 4
INT_KINDS = ("id", "hex", "ts", "date", "bool", "int")
FLOAT_KINDS = ("money", "dec6", "float")


def kind_of(kinds: dict[str, str], column: str) -> str:
    return kinds.get(column, "text").split(":")[0]


def _expr(column: str, kind: str, tz_offset: bool) -> str:
    c = f'"{column}"'
    base = kind.split(":")
    if base[0] == "id":
        return f"case when {c} >= 0 then '{base[1]}' || lpad(cast({c} as varchar), {base[2]}, '0') end"
    if base[0] == "hex":
        return f"case when {c} >= 0 then '{base[1]}' || lpad(lower(to_hex({c})), {base[2]}, '0') end"
    if base[0] == "ts":
        ts = f"make_timestamp(cast({c} as bigint) * 1000000)"
        if tz_offset:
            return f"case when {c} >= 0 then strftime({ts}, '%Y-%m-%d %H:%M:%S') || '+08:00' end"
        return f"case when {c} >= 0 then {ts} end"
    if base[0] == "date":
        return f"case when {c} >= 0 then date '1970-01-01' + cast({c} as integer) end"
    if base[0] == "money":
        return f"cast(round({c}, 2) as decimal(18,2))"
    if base[0] == "dec6":
        return f"cast(round({c}, 6) as decimal(18,6))"
    if base[0] == "bool":
        return f"case when {c} >= 0 then {c} = 1 end"
    if base[0] == "int":
        return f"case when {c} >= 0 then cast({c} as bigint) end"
    return c


def select_sql(columns: list[str], kinds: dict[str, str], tz_offset: bool = False) -> str:
    parts = [f'{_expr(c, kinds.get(c, "text"), tz_offset)} as "{c}"' for c in columns]
    return "select " + ", ".join(parts) + " from drop_frame"


def write_frame(
    con: duckdb.DuckDBPyConnection,
    frame: pd.DataFrame,
    columns: list[str],
    kinds: dict[str, str],
    path: Path,
    fmt: str,
    tz_offset: bool = False,
) -> None:
    """Write one drop; `fmt` is csv, csv.gz or parquet."""
    con.register("drop_frame", frame)
    try:
        sql = select_sql(columns, kinds, tz_offset)
        target = str(path).replace("'", "''")
        if fmt == "parquet":
            con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet)")
        elif fmt == "csv.gz":
            # DuckDB's own gzip is several times slower than zlib at a middle level; no name, no time.
            plain = path.with_name(path.name + ".tmp")
            plain_target = str(plain).replace("'", "''")
            con.execute(f"COPY ({sql}) TO '{plain_target}' (HEADER, DELIMITER ',', COMPRESSION none)")
            path.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=GZIP_LEVEL, mtime=0))
            plain.unlink()
        else:
            con.execute(f"COPY ({sql}) TO '{target}' (HEADER, DELIMITER ',', COMPRESSION none)")
    finally:
        con.unregister("drop_frame")


def write_xlsx(
    con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, columns: list[str], kinds: dict[str, str], path: Path
) -> None:
    """Write one drop as the first sheet of a workbook, byte-identical for identical content."""
    from openpyxl import Workbook

    con.register("drop_frame", frame)
    try:
        rows = con.execute(select_sql(columns, kinds)).fetchall()
    finally:
        con.unregister("drop_frame")
    wb = Workbook()
    ws = wb.active
    ws.title = "targets"
    ws.append(list(columns))
    for row in rows:
        ws.append(list(row))
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(normalize_zip(buffer.getvalue()))


def normalize_zip(data: bytes) -> bytes:
    """Same archive with fixed entry times and document timestamps (openpyxl stamps both with now)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = re.sub(
                    rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)", rb"\g<1>2020-01-01T00:00:00Z\g<3>", body
                )
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            dst.writestr(entry, body)
    return out.getvalue()


def add_bom(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())


def reencode(path: Path, encoding: str) -> None:
    path.write_bytes(path.read_bytes().decode("utf-8").encode(encoding))
