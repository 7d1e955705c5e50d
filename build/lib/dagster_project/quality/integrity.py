"""Integrity of the loaded tables: row accounting per drop, unique keys, orphan shares."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from dagster_project.contracts import Contract, load_contracts
from dagster_project.warehouse import quote


@dataclass(frozen=True)
class Finding:
    subject: str
    problem: str


def row_accounting(con: duckdb.DuckDBPyConnection) -> list[Finding]:
    """Drops whose rows read != loaded + quarantined, or whose quarantine count disagrees."""
    rows = con.execute(
        """
        with q as (select drop_id, count(*) as n from meta.quarantine group by drop_id)
        select a.source_file, a.rows_read, a.rows_loaded, a.rows_quarantined, coalesce(q.n, 0)
        from meta.ingest_audit a left join q using (drop_id)
        where a.rows_read <> a.rows_loaded + a.rows_quarantined or a.rows_quarantined <> coalesce(q.n, 0)
        order by 1
        """
    ).fetchall()
    return [Finding(f, f"read {r} != loaded {ld} + quarantined {q} (quarantine holds {n})") for f, r, ld, q, n in rows]


def duplicate_keys(con: duckdb.DuckDBPyConnection, contract: Contract) -> int:
    key = ", ".join(quote(k) for k in contract.primary_key)
    not_null = " and ".join(f"{quote(k)} is not null" for k in contract.primary_key)
    return con.execute(
        f"select count(*) - count(distinct ({key})) + count(*) filter (not ({not_null})) from {contract.table}"
    ).fetchall()[0][0]


def orphan_shares(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, int, float]]:
    """(entity, foreign key, orphan rows, rows, share) from meta.orphans, per foreign key."""
    contracts = load_contracts()
    counts = con.execute(
        "select source || '.' || entity, foreign_key, count(*) from meta.orphans group by all order by all"
    ).fetchall()
    shares = []
    for entity, fk, n in counts:
        total = con.execute(f"select count(*) from {contracts[entity].table}").fetchall()[0][0]
        shares.append((entity, fk, n, total, n / total if total else 0.0))
    return shares
