"""The floor: DuckDB alone reading every raw file once into tables (no checks, no upsert, no dbt).

Run as `python bench/floor.py <raw_dir>`. CSV files in another encoding than UTF-8 are skipped
(DuckDB's wheel reads only UTF-8 here); their count is printed so the report can say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def read_everything(raw_dir: Path) -> tuple[int, int, int]:
    con = duckdb.connect()  # in memory: the floor writes no file
    files = rows = skipped = 0
    for folder in sorted(p for p in raw_dir.glob("*/*") if p.is_dir()):
        for i, path in enumerate(sorted(folder.iterdir())):
            name = path.name.lower()
            target = f"t_{folder.parent.name}_{folder.name}_{i}"
            if name.endswith(".parquet"):
                source = f"read_parquet({literal(str(path))})"
            elif name.endswith((".csv", ".csv.gz")):
                source = f"read_csv({literal(str(path))}, header = true, ignore_errors = true)"
            else:
                skipped += 1  # xlsx: not read by DuckDB's built-in extensions
                continue
            try:
                con.execute(f"create table {target} as select * from {source}")
            except duckdb.Error:
                skipped += 1  # e.g. the GBK drop
                continue
            rows += con.execute(f"select count(*) from {target}").fetchall()[0][0]
            con.execute(f"drop table {target}")
            files += 1
    return files, rows, skipped


if __name__ == "__main__":
    files, rows, skipped = read_everything(Path(sys.argv[1]))
    print(f"floor: {files} files, {rows} rows read, {skipped} files skipped")
