"""Compare every mart of two warehouses row by row: proof that a refactoring changed no output.

    cp warehouse.duckdb /tmp/before.duckdb      # before the change: keep a copy of the warehouse
    .venv/bin/python bench/compare_marts.py /tmp/before.duckdb warehouse.duckdb

Each side is a warehouse file; its `marts` schema is read (a copy, not Parquet: Parquet has no
HUGEINT, so types would differ by the export alone). Rows are compared as multisets
(order-insensitive, duplicates counted: EXCEPT ALL both ways). The table sets and each table's
columns and types must match too. Exits 1 on any difference, listing the first differing rows.

Left out of the comparison, each for a reason (RUN_SPECIFIC below): columns that record when or by
which run a row was built, which differ between two builds of the same data by construction.
Floating-point columns are compared at 12 significant digits: DuckDB's parallel aggregation sums
doubles in a non-deterministic order, so two builds of the same query may differ in the last bits.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

# column -> why it is not compared (any table that has it)
RUN_SPECIFIC: dict[str, str] = {
    "_loaded_at": "when the ingest loaded the row: the run's clock",
    "run_id": "the run that checked or loaded (a new id per run)",
    "dagster_run_id": "the Dagster run that fitted the customer-value model (a new id per run)",
    "model_run_id": "the customer-value model run: purpose, as-of date and a random uuid4 suffix",
    "started_at": "when the ingest of a drop started: the run's clock",
    "finished_at": "when the ingest of a drop finished: the run's clock",
    "checked_at": "when the data-quality check ran: the run's clock",
    "fitted_at": "when the customer-value model was fitted: the run's clock",
    "bgnbd_fit_seconds": "how long a fit took: the machine's load",
    "gg_fit_seconds": "how long a fit took: the machine's load",
    "scoring_seconds": "how long scoring took: the machine's load",
}
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}
SIGNIFICANT_DIGITS = 12
SHOW_ROWS = 5


def attach(con: duckdb.DuckDBPyConnection, side: str, path: Path) -> dict[str, str]:
    """Attach a warehouse read-only as `side`; mart name -> relation.

    A mart that is a view (dbt writes its SQL with the warehouse's own catalog name, the file's stem,
    which the alias `side` is not) is read through a connection of its own and compared as a copy."""
    with duckdb.connect(str(path), read_only=True) as own:
        views = [
            name
            for (name,) in own.execute(
                "select view_name from duckdb_views() where schema_name = 'marts' and not internal order by 1"
            ).fetchall()
        ]
        for name in views:
            con.register(f"{side}__{name}", own.sql(f'select * from marts."{name}"').to_arrow_table())
    con.execute(f"attach '{path}' as {side} (read_only)")
    rows = con.execute(
        "select table_name from duckdb_tables() where database_name = ? and schema_name = 'marts' order by 1",
        [side],
    ).fetchall()
    marts = {name: f'{side}.marts."{name}"' for (name,) in rows}
    return marts | {name: f'"{side}__{name}"' for name in views}


def columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"describe select * from {relation}").fetchall()}


def comparable(name: str, kind: str) -> str:
    if kind in FLOAT_TYPES:
        return f'printf(\'%.{SIGNIFICANT_DIGITS}g\', "{name}") as "{name}"'
    return f'"{name}"'


def compare_table(con: duckdb.DuckDBPyConnection, name: str, before: str, after: str) -> list[str]:
    cols_before, cols_after = columns(con, before), columns(con, after)
    if cols_before != cols_after:
        only_before = {k: v for k, v in cols_before.items() if cols_after.get(k) != v}
        only_after = {k: v for k, v in cols_after.items() if cols_before.get(k) != v}
        return [f"{name}: columns differ: before {only_before}, after {only_after}"]
    kept = [col for col in cols_before if col not in RUN_SPECIFIC]
    select = ", ".join(comparable(col, cols_before[col]) for col in kept)
    problems = []
    counts = [con.execute(f"select count(*) from {rel}").fetchone()[0] for rel in (before, after)]
    if counts[0] != counts[1]:
        problems.append(f"{name}: {counts[0]} rows before, {counts[1]} after")
    for label, left, right in (("only before", before, after), ("only after", after, before)):
        query = f"select {select} from {left} except all select {select} from {right}"
        extra = con.execute(f"select count(*) from ({query})").fetchone()[0]
        if extra:
            sample = con.execute(f"{query} limit {SHOW_ROWS}").fetchall()
            problems.append(f"{name}: {extra} rows {label}, e.g.\n    " + "\n    ".join(map(str, sample)))
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("before", type=Path, help="warehouse file before the change")
    parser.add_argument("after", type=Path, help="warehouse file after the change")
    args = parser.parse_args()
    con = duckdb.connect()
    before, after = attach(con, "before", args.before), attach(con, "after", args.after)
    problems = [f"mart only before: {name}" for name in sorted(before.keys() - after.keys())]
    problems += [f"mart only after: {name}" for name in sorted(after.keys() - before.keys())]
    for name in sorted(before.keys() & after.keys()):
        problems += compare_table(con, name, before[name], after[name])
    compared = len(before.keys() & after.keys())
    for line in problems:
        print(line)
    skipped = sorted({col for name in before for col in columns(con, before[name]) if col in RUN_SPECIFIC})
    print(f"{compared} marts compared; run-specific columns left out: {', '.join(skipped) or 'none'}")
    print("identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
