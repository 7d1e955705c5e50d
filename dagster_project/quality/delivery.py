"""What each entity's drops amount to, from `meta.ingest_audit`: delivered, declared not delivered,
delivered but every file rejected, or never delivered. The gate, completeness and freshness read it.

An entity with a loaded drop is delivered even when its table is empty (a header-only drop: no
returns this period). An entity with no loaded drop is not, unless the deployment's policy.yml
declares it not delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from dagster_project.contracts import Contract, load_contracts
from dagster_project.deployment import Policy, load_policy
from dagster_project.ingest.read import HEADER_AGAIN

POLICY_HINT = "the deployment's policy.yml"


@dataclass(frozen=True)
class Delivery:
    entity: str  # <source>.<entity>
    folder: str  # <source>/<entity>/
    declared_not_delivered: bool
    loaded_drops: int = 0
    newest_drop: date | None = None  # drop date of the newest loaded drop
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, reason), when nothing loaded

    @property
    def delivered(self) -> bool:
        return self.loaded_drops > 0

    @property
    def passed(self) -> bool:
        """Delivered, or declared not delivered: an empty table of it is legitimate."""
        return self.delivered or self.declared_not_delivered

    def describe(self) -> str:
        if self.delivered:
            drops = "1 drop" if self.loaded_drops == 1 else f"{self.loaded_drops} drops"
            return f"{self.entity}: {drops} loaded, the newest of {self.newest_drop}"
        if self.declared_not_delivered:
            return f"{self.entity}: declared not delivered (policy.yml)"
        if self.rejected:
            files = "; ".join(f"{f}: {reason}" for f, reason in self.rejected)
            return (
                f"{self.entity}: every delivered file was rejected, nothing of it is loaded: {files} "
                f"(fix the files, or declare {self.entity} not delivered in {POLICY_HINT})"
            )
        return (
            f"{self.entity}: not delivered: no file in {self.folder} "
            f"(deliver it, or declare {self.entity} not delivered in {POLICY_HINT})"
        )


def delivery_status(con: duckdb.DuckDBPyConnection, policy: Policy | None = None) -> dict[str, Delivery]:
    """The delivery of every contract's entity, keyed by `<source>.<entity>`."""
    policy = policy or load_policy()
    rows = con.execute(
        """
        select source || '.' || entity, status, source_file, rejected_reason, drop_date
        from meta.ingest_audit where status in ('loaded', 'rejected')
        order by source_file
        """
    ).fetchall()
    by_entity: dict[str, list[tuple]] = {}
    for entity, *rest in rows:
        by_entity.setdefault(entity, []).append(tuple(rest))
    return {name: _delivery(contract, by_entity.get(name, []), policy) for name, contract in load_contracts().items()}


def _delivery(contract: Contract, rows: list[tuple], policy: Policy) -> Delivery:
    loaded = [drop_date for status, _, _, drop_date in rows if status == "loaded"]
    return Delivery(
        entity=contract.name,
        folder=f"{contract.source}/{contract.entity}/",
        declared_not_delivered=not policy.is_delivered(contract.name),
        loaded_drops=len(loaded),
        newest_drop=max((d for d in loaded if d is not None), default=None),
        rejected=[] if loaded else [(f, reason) for status, f, reason, _ in rows if status == "rejected"],
    )


def new_files_this_run(con: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, list[tuple[str, str]]]:
    """(files loaded, [(file, reason) rejected]) by the ingestion of this run."""
    rows = con.execute(
        "select status, source_file, rejected_reason from meta.ingest_audit "
        "where run_id = ? and status in ('loaded', 'rejected') order by source_file",
        [run_id],
    ).fetchall()
    loaded = sum(status == "loaded" for status, _, _ in rows)
    return loaded, [(f, reason) for status, f, reason in rows if status == "rejected"]


def quarantine_shares(con: duckdb.DuckDBPyConnection, limit: float, example: bool = False) -> list[tuple]:
    """(file, quarantined, read, share) of the drops quarantining more than `limit` of their rows,
    judging each file by its latest delivery: a corrected file re-delivered under its name replaces
    the judgement, also when its content was loaded before under another name (then the file is a
    duplicate and that load's share is its share). With `example`, a fifth item: the first
    quarantined line of that load and its reason ("line 2: InvoiceDate: ..."), so that the check
    says why without a look into meta.quarantine; a repeated header comes first, as it explains the
    rest (two exports joined into one file repeat their keys too)."""
    # a duplicate's drop_id is its original's, `<source>.<entity>:<16 hex>`, plus `:<8 hex>` of its path
    rows = con.execute(
        """
        with latest as (
            select source_file,
                   case when status = 'duplicate' then regexp_replace(drop_id, ':[0-9a-f]{8}$', '')
                        else drop_id end as content_drop_id,
                   rows_quarantined, rows_read,
                   row_number() over (partition by source, entity, source_file order by finished_at desc) as n
            from meta.ingest_audit where status in ('loaded', 'duplicate')
        ),
        loads as (
            select drop_id, any_value(rows_quarantined) as rows_quarantined, any_value(rows_read) as rows_read
            from meta.ingest_audit where status = 'loaded' group by drop_id
        ),
        judged as (
            select l.source_file, l.content_drop_id,
                   coalesce(d.rows_quarantined, 0) as rows_quarantined, coalesce(d.rows_read, 0) as rows_read
            from latest as l left join loads as d on d.drop_id = l.content_drop_id
            where l.n = 1
        )
        select source_file, rows_quarantined, rows_read, rows_quarantined / rows_read as share,
               (select coalesce('line ' || q.line || ': ', '') || q.reason from meta.quarantine as q
                where q.drop_id = judged.content_drop_id
                order by q.reason = ? desc, q.line nulls first limit 1) as example
        from judged where rows_read > 0 and rows_quarantined / rows_read > ?
        order by share desc, source_file
        """,
        [HEADER_AGAIN, limit],
    ).fetchall()
    return rows if example else [row[:4] for row in rows]
