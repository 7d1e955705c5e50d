"""Loading an entity's drops into its raw table: one transaction per drop, newest version wins.

For each drop not loaded before (by content hash): read it, check every value, quarantine the bad
rows, and upsert the rest by key: a row replaces the stored one when its `updated_at` is newer, or
equal and its drop is newer. The drop's rows, its quarantine, its audit row and its manifest entry
commit together, so a process killed mid-drop leaves nothing of that drop and a rerun loads it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract
from dagster_project.ingest.drops import Drop, content_hash, find_drops
from dagster_project.ingest.integrity import orphan_counts
from dagster_project.ingest.read import FileRejected, read_drop
from dagster_project.ingest.validate import checked_select, extra_columns, missing_required, raw_record_sql
from dagster_project.warehouse import (
    LINEAGE_COLUMNS,
    add_extra_columns,
    ensure_meta,
    ensure_raw_table,
    fetch_one,
    quote,
)

log = logging.getLogger(__name__)
_OLDEST = "timestamp '0001-01-01'"


@dataclass
class DropOutcome:
    drop: Drop
    drop_id: str
    status: str  # loaded | rejected
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_superseded: int = 0
    encoding: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    rejected_reason: str | None = None


@dataclass
class EntityLoadResult:
    contract: Contract
    drops_found: int = 0
    drops_already_loaded: int = 0
    outcomes: list[DropOutcome] = field(default_factory=list)
    table_rows: int = 0
    orphans: dict[str, int] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(getattr(o, name) for o in self.outcomes)

    @property
    def rejected(self) -> list[DropOutcome]:
        return [o for o in self.outcomes if o.status == "rejected"]

    def metadata(self) -> dict[str, object]:
        """Figures for the Dagster materialization."""
        return {
            "table": self.contract.table,
            "table_rows": self.table_rows,
            "drops_found": self.drops_found,
            "drops_loaded": sum(o.status == "loaded" for o in self.outcomes),
            "drops_already_loaded": self.drops_already_loaded,
            "drops_rejected": len(self.rejected),
            "rows_read": self.total("rows_read"),
            "rows_loaded": self.total("rows_loaded"),
            "rows_quarantined": self.total("rows_quarantined"),
            "rows_inserted": self.total("rows_inserted"),
            "rows_updated": self.total("rows_updated"),
            "rows_superseded": self.total("rows_superseded"),
            "orphans": sum(self.orphans.values()),
            "orphans_by_key": ", ".join(f"{k}: {v}" for k, v in self.orphans.items()) or "none",
            "rejected_files": "; ".join(f"{o.drop.relative_path}: {o.rejected_reason}" for o in self.rejected)
            or "none",
        }


def _key_match(contract: Contract, left: str, right: str) -> str:
    return " and ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in contract.primary_key)


def _known_drop(con: duckdb.DuckDBPyConnection, contract: Contract, drop: Drop) -> tuple[bool, str | None]:
    """(already loaded?, content hash). An unchanged file (same path, size, mtime) is not re-hashed."""
    seen = fetch_one(
        con,
        "select 1 from meta.drop_manifest where source = ? and entity = ? and source_file = ? "
        "and file_bytes = ? and file_mtime_ns = ?",
        [contract.source, contract.entity, drop.relative_path, drop.size, drop.mtime_ns],
    )
    if seen:
        return True, None
    digest = content_hash(drop.path)
    seen = fetch_one(
        con,
        "select source_file from meta.drop_manifest where source = ? and entity = ? and content_sha256 = ?",
        [contract.source, contract.entity, digest],
    )
    if seen:
        log.info("%s: same content as %s, already loaded; skipped", drop.relative_path, seen[0])
        return True, digest
    return False, digest


def _record(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    o: DropOutcome,
    digest: str,
    run_id: str,
    started_at: datetime,
) -> None:
    """Manifest entry and audit row of a drop, inside the drop's transaction."""
    con.execute(
        "insert into meta.drop_manifest values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            o.drop_id,
            contract.source,
            contract.entity,
            digest,
            o.drop.relative_path,
            o.drop.drop_date,
            o.drop.size,
            o.drop.mtime_ns,
            o.status,
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )
    con.execute(
        "insert into meta.ingest_audit values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            o.drop_id,
            contract.source,
            contract.entity,
            o.drop.relative_path,
            o.drop.drop_date,
            o.encoding,
            o.rows_read,
            o.rows_loaded,
            o.rows_quarantined,
            o.rows_inserted,
            o.rows_updated,
            o.rows_superseded,
            o.extra_columns,
            o.status,
            o.rejected_reason,
            run_id,
            started_at.replace(tzinfo=None),
            datetime.now(UTC).replace(tzinfo=None),
        ],
    )


def _quarantine(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    o: DropOutcome,
    header: list[str],
    malformed: list,
    now: datetime,
) -> None:
    ids = [o.drop_id, contract.source, contract.entity, o.drop.relative_path]
    if malformed:
        con.executemany(
            "insert into meta.quarantine values (?, ?, ?, ?, ?, null, null, ?, ?, ?)",
            [[*ids, m.line, m.reason, m.raw_record, now] for m in malformed],
        )
    params = [*ids, now]
    con.execute(
        f"""
        insert into meta.quarantine
        select ?, ?, ?, ?, c._line, c._problems[1].column_name, c._problems[1].value,
               array_to_string(list_transform(c._problems, lambda p: p.reason), '; '), {raw_record_sql(header)}, ?
        from _drop_checked c join _drop_raw r on r._line = c._line
        where len(c._problems) > 0
        """,
        params,
    )
    key_text = " || '/' || ".join(f"v.{quote(k)}::varchar" for k in contract.primary_key)
    con.execute(
        f"""
        insert into meta.quarantine
        select ?, ?, ?, ?, v._line, ?, {key_text},
               'duplicate key (' || ? || ') in the drop: line ' || v._kept_line || ' kept',
               {raw_record_sql(header)}, ?
        from _drop_valid v join _drop_raw r on r._line = v._line
        where v._rank > 1
        """,
        [*ids, ",".join(contract.primary_key), ", ".join(contract.primary_key), now],
    )


def _upsert(con: duckdb.DuckDBPyConnection, contract: Contract, o: DropOutcome, now: datetime) -> None:
    t, pk0 = contract.table, quote(contract.primary_key[0])
    newer = "true"
    if contract.updated_at:
        u = quote(contract.updated_at)
        newer = (
            f"case when coalesce(s.{u}, {_OLDEST}) <> coalesce(t.{u}, {_OLDEST}) "
            f"then coalesce(s.{u}, {_OLDEST}) > coalesce(t.{u}, {_OLDEST}) else {{tie}} end"
        )
    # On a tie the newer drop wins; the drop being loaded wins against an equal (re-named) one.
    tie = "(s._drop_date, s._source_file) >= (t._drop_date, t._source_file)"
    newer = newer.replace("{tie}", tie) if contract.updated_at else tie
    con.execute(
        """
        create or replace temp table _drop_new as
        select s.* exclude (_problems, _rank, _kept_line), ? as _drop_id, ?::date as _drop_date,
               ? as _source_file, s._line as _source_line, ?::timestamp as _loaded_at
        from _drop_valid s where s._rank = 1
        """,
        [o.drop_id, o.drop.drop_date, o.drop.relative_path, now],
    )
    con.execute(
        f"""
        create or replace temp table _drop_cmp as
        select s._line, t.{pk0} is not null as existed,
               t.{pk0} is null or ({newer}) as wins
        from _drop_new s left join {t} t on {_key_match(contract, "s", "t")}
        """
    )
    counts = fetch_one(
        con,
        "select count(*) filter (wins and not existed), count(*) filter (wins and existed), "
        "count(*) filter (not wins) from _drop_cmp",
    )
    o.rows_inserted, o.rows_updated, o.rows_superseded = counts
    if o.rows_updated:
        con.execute(
            f"""
            delete from {t} using (
                select s.* from _drop_new s semi join _drop_cmp c on c._line = s._line and c.wins and c.existed
            ) s where {_key_match(contract, t, "s")}
            """
        )
    if o.rows_inserted or o.rows_updated:
        con.execute(
            f"""
            insert into {t} by name
            select s.* exclude (_line)
            from _drop_new s semi join _drop_cmp c on c._line = s._line and c.wins
            """
        )


def load_drop(con: duckdb.DuckDBPyConnection, contract: Contract, drop: Drop, digest: str, run_id: str) -> DropOutcome:
    """Load one drop in its own transaction; a rejected file is recorded in a transaction of its own."""
    started = datetime.now(UTC)
    outcome = DropOutcome(drop=drop, drop_id=f"{contract.name}:{digest[:16]}", status="loaded")
    con.execute("begin transaction")
    try:
        read = read_drop(con, drop)
        outcome.encoding = read.encoding
        missing = missing_required(contract, read.header)
        if missing:
            raise FileRejected(f"missing required column(s) {', '.join(missing)}")
        outcome.extra_columns = extra_columns(contract, read.header)
        con.execute(f"create or replace temp table _drop_checked as {checked_select(contract, read.header)}")
        order = f"{quote(contract.updated_at)} desc nulls last, _line" if contract.updated_at else "_line"
        key = ", ".join(quote(k) for k in contract.primary_key)
        con.execute(
            f"""
            create or replace temp table _drop_valid as
            select *, row_number() over w as _rank, first_value(_line) over w as _kept_line
            from _drop_checked where len(_problems) = 0
            window w as (partition by {key} order by {order})
            """
        )
        read_rows, bad_rows = fetch_one(con, "select count(*), count(*) filter (len(_problems) > 0) from _drop_checked")
        dup_rows = fetch_one(con, "select count(*) from _drop_valid where _rank > 1")[0]
        outcome.rows_read = read_rows + len(read.malformed)
        outcome.rows_quarantined = len(read.malformed) + bad_rows + dup_rows
        outcome.rows_loaded = outcome.rows_read - outcome.rows_quarantined
        now = datetime.now(UTC).replace(tzinfo=None)
        add_extra_columns(con, contract, outcome.extra_columns)
        _quarantine(con, contract, outcome, read.header, read.malformed, now)
        _upsert(con, contract, outcome, now)
        _record(con, contract, outcome, digest, run_id, started)
        con.execute("commit")
    except FileRejected as exc:
        con.execute("rollback")
        rejected = DropOutcome(
            drop=drop,
            drop_id=outcome.drop_id,
            status="rejected",
            encoding=outcome.encoding,
            rejected_reason=str(exc),
        )
        log.error("%s rejected: %s", drop.relative_path, exc)
        con.execute("begin transaction")
        _record(con, contract, rejected, digest, run_id, started)
        con.execute("commit")
        return rejected
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        for temp in ("_drop_raw", "_drop_checked", "_drop_valid", "_drop_new", "_drop_cmp"):
            con.execute(f"drop table if exists {temp}")
    return outcome


def load_entity(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    raw_dir: Path,
    *,
    run_id: str | None = None,
    on_drop: Callable[[DropOutcome], None] | None = None,
) -> EntityLoadResult:
    """Load every new drop of the entity from `raw_dir`, oldest first."""
    run_id = run_id or uuid.uuid4().hex
    ensure_meta(con)
    ensure_raw_table(con, contract)
    drops = find_drops(raw_dir, contract)
    result = EntityLoadResult(contract=contract, drops_found=len(drops))
    for drop in drops:
        known, digest = _known_drop(con, contract, drop)
        if known:
            result.drops_already_loaded += 1
            continue
        outcome = load_drop(con, contract, drop, digest, run_id)
        result.outcomes.append(outcome)
        if on_drop:
            on_drop(outcome)
    result.table_rows = fetch_one(con, f"select count(*) from {contract.table}")[0]
    result.orphans = orphan_counts(con, contract)
    return result


__all__ = ["DropOutcome", "EntityLoadResult", "LINEAGE_COLUMNS", "load_drop", "load_entity"]
