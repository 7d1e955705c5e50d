"""Referential integrity of the raw tables: rows whose foreign key points nowhere.

Orphans are loaded, not dropped; they are counted here, listed in `meta.orphans` and checked later.
"""

from __future__ import annotations

import duckdb

from dagster_project.contracts import Contract, ForeignKey, load_contracts, referenced_columns
from dagster_project.warehouse import fetch_one, quote


def _table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(
        fetch_one(
            con,
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        )
    )


def _orphan_filter(contract: Contract, fk: ForeignKey) -> str:
    target = load_contracts()[fk.references]
    ref_cols = referenced_columns(fk)
    not_null = " and ".join(f"c.{quote(col)} is not null" for col in fk.columns)
    match = " and ".join(f"r.{quote(rc)} = c.{quote(col)}" for col, rc in zip(fk.columns, ref_cols, strict=True))
    return f"{not_null} and not exists (select 1 from {target.table} r where {match})"


def orphan_counts(con: duckdb.DuckDBPyConnection, contract: Contract) -> dict[str, int]:
    """Orphan rows per foreign key, for the keys whose referenced table is loaded already."""
    counts = {}
    for fk in contract.foreign_keys:
        if not _table_exists(con, load_contracts()[fk.references].table):
            continue
        n = fetch_one(con, f"select count(*) from {contract.table} c where {_orphan_filter(contract, fk)}")[0]
        counts[f"{','.join(fk.columns)}->{fk.references}"] = n
    return counts


def refresh_orphans(con: duckdb.DuckDBPyConnection, contracts: list[Contract]) -> int:
    """Rebuild `meta.orphans` (one row per orphan row and foreign key) for the given entities."""
    con.execute(
        """
        create table if not exists meta.orphans (
            source varchar, entity varchar, key_value varchar, foreign_key varchar,
            fk_value varchar, references_entity varchar
        )
        """
    )
    total = 0
    con.execute("begin transaction")
    for contract in contracts:
        con.execute("delete from meta.orphans where source = ? and entity = ?", [contract.source, contract.entity])
        for fk in contract.foreign_keys:
            if not _table_exists(con, contract.table) or not _table_exists(con, load_contracts()[fk.references].table):
                continue
            key = " || '/' || ".join(f"c.{quote(k)}::varchar" for k in contract.primary_key)
            fk_value = " || '/' || ".join(f"c.{quote(k)}::varchar" for k in fk.columns)
            con.execute(
                f"""
                insert into meta.orphans
                select ?, ?, {key}, ?, {fk_value}, ?
                from {contract.table} c where {_orphan_filter(contract, fk)}
                """,
                [contract.source, contract.entity, ",".join(fk.columns), fk.references],
            )
    con.execute("commit")
    total = fetch_one(con, "select count(*) from meta.orphans")[0]
    return total
