"""Carving "one new day of drops" out of a generated sample, for the incremental benchmark.

The sample's drops are monthly; the last one of each entity is dated on the end date. For each
entity with a date field (the contract's freshness field), the rows of that last drop dated on its
newest day, when that is the end date or the day before, are moved into a drop of their own,
`<entity>_<end date>_day.<ext>`, which sorts after the monthly file. The day before counts because
the sample's activities and training records end there (what a rep logs reaches the next morning's
export): taking only rows dated on the end date left the activities, the biggest entity, out of the
day (until 2026-12-08; bench/HISTORY.md). `split_last_day` moves the day files aside (the state
before the day arrived) and `deliver` puts them back (the day's delivery).
"""

from __future__ import annotations

import shutil
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb

from dagster_project.contracts import load_contracts
from dagster_project.ingest.drops import find_drops
from dagster_project.warehouse import literal


def _reader(path: Path) -> str:
    if path.name.endswith(".parquet"):
        return f"read_parquet({literal(str(path))})"
    return f"read_csv({literal(str(path))}, header = true, all_varchar = true)"


def _writer(path: Path) -> str:
    if path.name.endswith(".parquet"):
        return "(format parquet)"
    return "(header, compression gzip)" if path.name.endswith(".gz") else "(header)"


def split_last_day(raw_dir: Path, day: date, holding: Path) -> dict[str, int]:
    """Split each last drop's newest day (the end date or the day before) into a day drop, moved to
    `holding`. Returns rows per entity."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'Asia/Shanghai'")
    moved = {}
    for contract in load_contracts().values():
        drops = find_drops(raw_dir, contract)
        if not contract.freshness_field or not drops:
            continue
        last = drops[-1].path
        if last.name.endswith(".xlsx") or drops[-1].drop_date != day:
            continue
        try:
            con.execute(f"create or replace table drop_rows as select * from {_reader(last)}")
        except duckdb.Error:
            continue  # e.g. a drop in another encoding: it stays whole
        dated = f"try_cast(left({contract.freshness_field}::varchar, 10) as date)"
        newest = con.execute(f"select max({dated}) from drop_rows where {dated} <= date '{day}'").fetchall()[0][0]
        if newest is None or newest < day - timedelta(days=1):
            continue
        on_day = f"{dated} = date '{newest}'"
        n = con.execute(f"select count(*) from drop_rows where {on_day}").fetchall()[0][0]
        suffix = "".join(last.suffixes[-2:]) if last.name.endswith(".gz") else last.suffix
        day_file = holding / contract.source / contract.entity / last.name.replace(suffix, f"_day{suffix}")
        day_file.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"copy (select * from drop_rows where {on_day}) to {literal(str(day_file))} {_writer(last)}")
        tmp = last.with_name(".rest-" + last.name)
        con.execute(
            f"copy (select * from drop_rows where not coalesce({on_day}, false)) to {literal(str(tmp))} {_writer(last)}"
        )
        tmp.replace(last)
        moved[contract.name] = n
    return moved


def deliver(holding: Path, raw_dir: Path) -> int:
    """Move the held-back day drops into the raw folder."""
    files = [p for p in holding.rglob("*") if p.is_file()]
    for path in files:
        target = raw_dir / path.relative_to(holding)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    return len(files)


if __name__ == "__main__":
    raw, day, holding = Path(sys.argv[1]), date.fromisoformat(sys.argv[2]), Path(sys.argv[3])
    print(split_last_day(raw, day, holding))
