"""Integrity of the loaded tables: row accounting per drop, unique keys, orphan shares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb

from dagster_project.contracts import Contract, load_contracts
from dagster_project.warehouse import insert_rows, quote


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


def duplicate_keys(con: duckdb.DuckDBPyConnection, contract: Contract, since: datetime | None = None) -> int:
    """Rows beyond the first of their primary key, plus rows with an empty key part. With `since`, the
    keys of the rows loaded after it only, each counted against every row: a duplicate always has a
    row loaded after the last check that found none, since ingestion replaces a key's rows and never
    edits a key in place. After, not at: `since` is the newest load time the passing check saw, and
    ingestion stamps a batch's rows with one time, so every row of that time was checked then (at
    it, the scale-10 activities' last batch, 880 k rows, was counted again on every run)."""
    key = ", ".join(quote(k) for k in contract.primary_key)
    not_null = " and ".join(f"{quote(k)} is not null" for k in contract.primary_key)
    if since is not None:
        new, total = con.execute(
            f"select count(*) filter (_loaded_at > ?), count(*) from {contract.table}", [since]
        ).fetchall()[0]
        if not new:  # nothing loaded since the passing check
            return 0
        if new * 2 > total:  # most rows are new: counting every key is cheaper than matching them
            since = None
    if since is None:
        return con.execute(
            f"select count(*) - count(distinct ({key})) + count(*) filter (not ({not_null})) from {contract.table}"
        ).fetchall()[0][0]
    return con.execute(
        f"""
        with new_keys as (select distinct {key} from {contract.table} where _loaded_at > $since and {not_null})
        select (select count(*) - count(distinct ({key})) from {contract.table} semi join new_keys using ({key}))
             + (select count(*) from {contract.table} where _loaded_at > $since and not ({not_null}))
        """,
        {"since": since},
    ).fetchall()[0][0]


def key_check_windows(con: duckdb.DuckDBPyConnection, contracts: list[Contract], force: bool) -> dict[str, datetime]:
    """Per entity, the load time through which a passing check found its keys unique, when the
    contract's key is still the one checked (nothing on a forced run: every key is checked)."""
    if force:
        return {}
    rows = con.execute("select entity, primary_key, checked_through from meta.raw_key_checks").fetchall()
    keys = {c.name: ", ".join(c.primary_key) for c in contracts}
    return {entity: through for entity, key, through in rows if keys.get(entity) == key}


def newest_loads(con: duckdb.DuckDBPyConnection, contracts: list[Contract]) -> dict[str, datetime | None]:
    """Each raw table's newest load time (UTC, as ingestion stamps it), no later than now: a row
    stamped in the future by a wrong clock stays in the next check's window."""
    now = datetime.now(UTC).replace(tzinfo=None)
    newest = {c.name: con.execute(f"select max(_loaded_at) from {c.table}").fetchall()[0][0] for c in contracts}
    return {name: min(value, now) if value else value for name, value in newest.items()}


def record_key_checks(
    con: duckdb.DuckDBPyConnection, contracts: list[Contract], through: dict[str, datetime | None], run_id: str
) -> None:
    """After a passing check: the keys of each table are unique through its newest load time then."""
    rows = [(c.name, ", ".join(c.primary_key), through[c.name], run_id) for c in contracts if through[c.name]]
    con.execute("begin transaction")
    try:
        con.execute("delete from meta.raw_key_checks")
        insert_rows(con, "insert into meta.raw_key_checks values (?, ?, ?, ?)", rows)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def orphan_shares(
    con: duckdb.DuckDBPyConnection, delivered: Callable[[str], bool] | None = None
) -> list[tuple[str, str, int, int, float]]:
    """(entity, foreign key, orphan rows, rows, share) from meta.orphans, per foreign key. With
    `delivered` (the policy's), a key pointing at an entity the company does not deliver is left out:
    every row would be its orphan (an ERP-only company's order lines and their products)."""
    contracts = load_contracts()
    counts = con.execute(
        "select source || '.' || entity, foreign_key, references_entity, count(*) from meta.orphans "
        "group by all order by all"
    ).fetchall()
    shares = []
    for entity, fk, parent, n in counts:
        if delivered is not None and not delivered(parent):
            continue
        total = con.execute(f"select count(*) from {contracts[entity].table}").fetchall()[0][0]
        shares.append((entity, fk, n, total, n / total if total else 0.0))
    return shares
