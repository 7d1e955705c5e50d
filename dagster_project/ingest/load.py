"""Loading an entity's drops into its raw table: batches of drops, newest version wins.

New drops (by content hash) are read and checked one by one into a temporary batch table, outside
any transaction, so a file that cannot be read is rejected without disturbing the others. The
batch's good rows are then upserted by key in one transaction, together with the quarantine, the
audit row of every drop and their manifest entries: a process killed mid-batch leaves nothing of
the batch, and a rerun loads it. Batches are bounded in bytes (config/warehouse.yml), so many small
drops share the fixed cost of a transaction while a big drop stays on its own; the next batch's
drops are read while a batch is written (`_DropReader`).

Upsert rule: a row replaces the stored version of its key when its `updated_at` is newer, or equal
and its drop is newer (drop date, then file name). The rule is a total order, so applying a batch
at once gives the table that applying its drops one by one gives; the audit counts are those of
the one-by-one application too (see `_compare`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract
from dagster_project.ingest.drops import Drop, content_hash, find_drops
from dagster_project.ingest.inspect import TextFacts
from dagster_project.ingest.inventory import IgnoredEntry, record_ignored, scan_entity_folder
from dagster_project.ingest.read import FileRejected, MalformedRow, ReadResult, read_drop
from dagster_project.ingest.validate import (
    checked_select,
    extra_columns,
    not_delivered_columns,
    raw_record_sql,
    reject_missing_required,
)
from dagster_project.warehouse import (
    LINEAGE_COLUMNS,
    SCRATCH_DATABASE,
    add_extra_columns,
    attach_scratch,
    duckdb_settings,
    ensure_meta,
    ensure_raw_table,
    fetch_one,
    ingest_batch_bytes,
    insert_rows,
    quote,
)

log = logging.getLogger(__name__)
_OLDEST = "timestamp '0001-01-01'"


@dataclass
class DropOutcome:
    drop: Drop
    drop_id: str
    status: str  # loaded | rejected | duplicate
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_superseded: int = 0
    encoding: str | None = None
    extra_columns: list[str] = field(default_factory=list)
    rejected_reason: str | None = None  # why rejected, or what a duplicate repeats
    note: str | None = None  # a warning on the drop (its date from the file's modification time)
    not_delivered: list[str] = field(default_factory=list)  # contract columns absent: NULL
    rows_skipped: int = 0  # rows a mapping's skip rule leaves out (not records: not read)


@dataclass
class EntityLoadResult:
    contract: Contract
    drops_found: int = 0
    drops_already_loaded: int = 0  # unchanged files, and re-delivered content (then also in `duplicates`)
    outcomes: list[DropOutcome] = field(default_factory=list)
    duplicates: list[DropOutcome] = field(default_factory=list)
    ignored: list[IgnoredEntry] = field(default_factory=list)  # newly recorded as ignored
    table_rows: int = 0

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
            "rejected_files": "; ".join(f"{o.drop.relative_path}: {o.rejected_reason}" for o in self.rejected)
            or "none",
            "columns_not_delivered": self.not_delivered_summary() or "none",
            "rows_skipped_by_mapping": self.total("rows_skipped"),
            "duplicate_files": "; ".join(f"{o.drop.relative_path}: {o.rejected_reason}" for o in self.duplicates)
            or "none",
            "ignored_files": "; ".join(f"{e.relative_path}: {e.reason}" for e in self.ignored) or "none",
            "warnings": "; ".join(o.drop.date_warning for o in self.outcomes if o.drop.date_warning) or "none",
        }

    def not_delivered_summary(self) -> str:
        """Contract columns absent from this load's drops, once per entity: `industry (12 of 12 drops)`."""
        loaded = [o for o in self.outcomes if o.status == "loaded"]
        counts: dict[str, int] = {}
        for o in loaded:
            for name in o.not_delivered:
                counts[name] = counts.get(name, 0) + 1
        order = self.contract.column_names
        return ", ".join(f"{n} ({counts[n]} of {len(loaded)} drops)" for n in order if n in counts)


def _key_match(contract: Contract, left: str, right: str) -> str:
    return " and ".join(f"{left}.{quote(k)} = {right}.{quote(k)}" for k in contract.primary_key)


@dataclass
class _Pending:
    """A drop of the batch, with what reading it left for the batch's transaction."""

    outcome: DropOutcome
    digest: str
    seq: int  # its number in the batch (`_drop_seq`)
    started: datetime | None = None  # when its read began: its batch's start, or earlier when read ahead
    name: str = ""  # its number in the entity's load, unique across batches: its read's table is named by it
    malformed: list[MalformedRow] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # a mapped drop's names for contract columns
    day_order_unknown: tuple[str, ...] = ()  # a mapped drop's dates that its mapping cannot read day-first or not
    text: TextFacts = field(default_factory=TextFacts)  # what the scan of its file found (CSV)


class Manifest:
    """What the manifest already holds for the entity, read once per load."""

    def __init__(self, con: duckdb.DuckDBPyConnection, contract: Contract):
        rows = con.execute(
            "select source_file, file_bytes, file_mtime_ns, content_sha256, status from meta.drop_manifest "
            "where source = ? and entity = ? order by loaded_at",
            [contract.source, contract.entity],
        ).fetchall()
        self.files = {(f, b, m) for f, b, m, _, _ in rows}
        # each file's content as last seen (the newest row): the same again is a touch, no news; an
        # earlier content of the same file again (a backup restored over a broken copy) loads again
        self.latest = {f: h for f, _, _, h, _ in rows}
        self.contents = {(f, h) for f, _, _, h, _ in rows}
        self.records = Counter(f for f, _, _, _, _ in rows)  # manifest rows per file: a restore's id
        # content -> (the file that first brought it, loaded | rejected); duplicates point at it
        self.originals: dict[str, tuple[str, str]] = {}
        for f, _, _, h, status in rows:
            if status != "duplicate":
                self.originals.setdefault(h, (f, status))

    def unchanged(self, drop: Drop) -> bool:
        """The file was loaded, rejected or found a duplicate before with the same path, size and mtime."""
        return (drop.relative_path, drop.size, drop.mtime_ns) in self.files


def _create_batch_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """`_batch`: every row read from the batch's drops, typed, with its problems and in-drop rank."""
    columns = [f"{quote(c.name)} {c.type.upper()}" for c in contract.columns]
    con.execute(
        f"""
        create or replace temp table _batch (
            _drop_seq integer, _line bigint, {", ".join(columns)},
            _problems struct(column_name varchar, "value" varchar, reason varchar)[],
            _rank bigint, _kept_line bigint, _raw_record varchar
        )
        """
    )


def _read_drop(con: duckdb.DuckDBPyConnection, contract: Contract, p: _Pending) -> list[str]:
    """Read one drop into `_drop_raw` (through its mapping, if any) and return its header; raises
    FileRejected."""
    from dagster_project.mapping.apply import read_mapped_drop  # the mapping package reads drops too

    drop = p.outcome.drop
    read = read_mapped_drop(con, drop, contract) if drop.mapping else read_drop(con, drop)
    return _took_read(contract, p, read)


def _took_read(contract: Contract, p: _Pending, read: ReadResult) -> list[str]:
    """Record on the drop what reading it found, and return its header; raises FileRejected."""
    drop = p.outcome.drop
    p.outcome.encoding = read.encoding
    reject_missing_required(contract, read.header, drop.path, read.encoding)
    p.outcome.extra_columns = extra_columns(contract, read.header)
    p.outcome.not_delivered = not_delivered_columns(contract, read.header)
    p.outcome.rows_skipped = getattr(read, "rows_skipped", 0)
    if read.notes:
        p.outcome.note = "; ".join(n for n in (p.outcome.note, *read.notes) if n)
    p.labels = getattr(read, "labels", {})
    p.day_order_unknown = getattr(read, "day_order_unknown", ())
    p.text = read.text
    p.malformed = read.malformed
    return read.header


def _check_group(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    header: list[str],
    tables: dict[int, str],
    labels: dict[str, str] | None = None,
    day_order_unknown: tuple[str, ...] = (),
    text: TextFacts | None = None,
) -> None:
    """Check the rows of the drops `tables` (same header; each drop's sequence number -> the table it
    was read into) and append them to `_batch`.

    One statement for the group rather than one per drop: the checks are a large expression, and
    planning it is most of the cost of a small drop. The group is a view over the drops' tables, not
    a table of them: copying 3.5 M rows cost 0.6 s.
    """
    con.execute(
        "create or replace temp view _group_raw as "
        + " union all by name ".join(f"select {seq}::integer as _drop_seq, * from {t}" for seq, t in tables.items())
    )
    for name in extra_columns(contract, header):
        con.execute(f"alter table _batch add column if not exists {quote(name)} varchar")
    order = f"{quote(contract.updated_at)} desc nulls last, _line" if contract.updated_at else "_line"
    key = ", ".join(quote(k) for k in contract.primary_key)
    good = "len(c._problems) = 0"
    # Good rows are ranked within their drop and key (1 = kept; ties: the newest updated_at, then
    # the first line). Only keys seen twice in a drop need ranking: found by a hash aggregate,
    # which is much cheaper than ordering every row. The row as read is kept, as JSON, only for
    # the rows that go to quarantine (a problem, or a duplicate key in the drop).
    checked = checked_select(
        contract,
        header,
        "_group_raw",
        ("_drop_seq", "_line"),
        labels,
        day_order_unknown=day_order_unknown,
        text=text,
    )
    con.execute(
        f"""
        insert into _batch by name
        with checked as materialized (
            select * from ({checked})
        ),
        repeated as (
            select _drop_seq, {key} from checked c where {good} group by all having count(*) > 1
        ),
        ranked as (
            select _drop_seq, _line, row_number() over w as _rank, first_value(_line) over w as _kept_line
            from checked c semi join repeated r on r._drop_seq = c._drop_seq and {_key_match(contract, "r", "c")}
            where {good}
            window w as (partition by _drop_seq, {key} order by {order})
        ),
        quarantined as (
            select r._drop_seq, r._line, {raw_record_sql(header)} as _raw_record
            from _group_raw r
            where (r._drop_seq, r._line) in (
                select (_drop_seq, _line) from checked c where not {good}
                union all select (_drop_seq, _line) from ranked where _rank > 1
            )
        )
        select c.*, case when {good} then coalesce(k._rank, 1) end as _rank,
               case when {good} then coalesce(k._kept_line, c._line) end as _kept_line, q._raw_record
        from checked c left join ranked k using (_drop_seq, _line) left join quarantined q using (_drop_seq, _line)
        """
    )
    _drop_group(con, tables)


def _drop_group(con: duckdb.DuckDBPyConnection, tables: dict[int, str]) -> None:
    con.execute("; ".join(["drop view if exists _group_raw", *(f"drop table if exists {t}" for t in tables.values())]))


_SCRATCH = SCRATCH_DATABASE  # the drops read by worker threads land there
_MAPPED_TABLE = "_mapped_drop_{seq}"  # a mapped drop's rows, until its group is checked


class _DropReader:
    """Reads an entity's drops, batch after batch. DuckDB reads a gzip file on one thread, so CSV drops
    are read in worker threads, as many at once as DuckDB has threads, each on its own cursor, into
    `_SCRATCH`, while the batch is checked in order; once a batch's drops are all read, the next
    batch's are read ahead while this one is checked and written (`read_ahead`). A mapped CSV drop is
    read there too, as its file reads; it is mapped on `con` (its lookups are temp tables of `con`),
    with its batch's other drops of its file rule, when the first is taken. Other formats are read
    on `con` when taken. Every read is the same as before, rejections and all. Measured:
    DECISIONLOG.md (issue 14)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, contract: Contract, batches: list[list[_Pending]]):
        self.con, self.contract = con, contract
        self.futures: dict[str, Future[list[str] | ReadResult]] = {}  # a mapped drop's: the read, unmapped
        self.mapped: list[_Pending] = []
        self.mapped_reads: dict[int, ReadResult | FileRejected] | None = None
        aside = sum(len(self._aside(batch)) for batch in batches)
        workers = int(duckdb_settings()["threads"])
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="s2s-read") if aside > 1 and workers > 1 else None
        if self.pool is not None:
            attach_scratch(con)

    @staticmethod
    def _aside(batch: list[_Pending]) -> list[_Pending]:
        return [p for p in batch if p.outcome.drop.format in ("csv", "csv.gz")]

    def start(self, batch: list[_Pending]) -> None:
        """Begin a batch: its CSV drops not read ahead go to the workers; its mapped drops are mapped
        together, per file rule, when the first is taken."""
        self.mapped = [p for p in batch if p.outcome.drop.mapping is not None]
        self.mapped_reads = None
        self.read_ahead(batch)

    def read_ahead(self, batch: list[_Pending]) -> None:
        """Hand the batch's CSV drops to the workers (those not handed over already)."""
        if self.pool is None:
            return
        for p in self._aside(batch):
            if p.name not in self.futures:
                p.started = p.started or datetime.now(UTC)
                self.futures[p.name] = self.pool.submit(self._read_aside, p)

    def _read_aside(self, p: _Pending) -> list[str] | ReadResult:
        """Read the drop into its table in `_SCRATCH` (the cursor's temp tables are its own)."""
        cursor = self.con.cursor()
        table = f"{_SCRATCH}._drop_raw_{p.name}"
        try:
            drop = p.outcome.drop
            read = read_drop(cursor, drop, into=table)
            return read if drop.mapping else _took_read(self.contract, p, read)
        except BaseException:  # a rejected drop's table, whatever of it was made, goes
            with contextlib.suppress(duckdb.Error):
                cursor.execute(f"drop table if exists {table}")
            raise
        finally:
            cursor.close()

    def take(self, p: _Pending) -> tuple[list[str], str]:
        """The drop's header and the table holding its rows; raises FileRejected."""
        if p.outcome.drop.mapping is not None:
            return self._take_mapped(p)
        future = self.futures.pop(p.name, None)
        if future is not None:
            return future.result(), f"{_SCRATCH}._drop_raw_{p.name}"
        header = _read_drop(self.con, self.contract, p)
        self.con.execute(f"alter table _drop_raw rename to _drop_raw_{p.seq}")
        return header, f"_drop_raw_{p.seq}"

    def _take_mapped(self, p: _Pending) -> tuple[list[str], str]:
        from dagster_project.mapping.apply import read_mapped_drops  # the mapping package reads drops too

        if self.mapped_reads is None:
            self.mapped_reads = {}
            by_rule: dict[str, dict[int, Drop]] = {}
            read_already: dict[int, tuple[ReadResult | FileRejected, str]] = {}
            try:
                for q in self.mapped:
                    by_rule.setdefault(q.outcome.drop.mapping.digest, {})[q.seq] = q.outcome.drop
                    future = self.futures.pop(q.name, None)
                    if future is not None:
                        table = f"{_SCRATCH}._drop_raw_{q.name}"
                        try:
                            read_already[q.seq] = (future.result(), table)
                        except FileRejected as exc:
                            read_already[q.seq] = (exc, table)
                for drops in by_rule.values():
                    self.mapped_reads.update(
                        read_mapped_drops(self.con, drops, self.contract, _MAPPED_TABLE, read_already)
                    )
            finally:  # mapped or not (a batch that fails), the workers' reads are done with
                if read_already:
                    self.con.execute("; ".join(f"drop table if exists {t}" for _, t in read_already.values()))
        read = self.mapped_reads.pop(p.seq)
        if isinstance(read, FileRejected):
            raise read
        table = _MAPPED_TABLE.format(seq=p.seq)
        try:
            return _took_read(self.contract, p, read), table
        except FileRejected:
            self.con.execute(f"drop table if exists {table}")
            raise

    def end_batch(self) -> None:
        """Drop the batch's mapped reads that no group took (the batch failed part-way)."""
        untaken = [seq for seq, read in (self.mapped_reads or {}).items() if not isinstance(read, FileRejected)]
        self.mapped_reads = None
        if untaken:
            self.con.execute("; ".join(f"drop table if exists {_MAPPED_TABLE.format(seq=seq)}" for seq in untaken))

    def close(self) -> None:
        """Wait for the reads in flight and drop what no batch took (a batch failed)."""
        self.end_batch()
        if self.pool is None:
            return
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.futures:
            self.con.execute("; ".join(f"drop table if exists {_SCRATCH}._drop_raw_{name}" for name in self.futures))
            self.futures = {}


def _stage_drops(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    batch: list[_Pending],
    reader: _DropReader,
    next_batch: list[_Pending],
) -> None:
    """Read the batch's drops into `_batch`; a drop that cannot be read is marked rejected. Once the
    batch's drops are read, the next batch's are read ahead."""
    _create_batch_table(con, contract)
    group: dict[int, str] = {}  # drops read and not yet checked, all with the header and labels below
    group_header: list[str] | None = None
    group_labels: dict[str, str] = {}
    group_day_order: tuple[str, ...] = ()
    group_text = TextFacts()
    reader.start(batch)
    try:
        for p in batch:
            try:
                header, table = reader.take(p)
            except FileRejected as exc:
                o = p.outcome
                p.outcome = DropOutcome(
                    drop=o.drop,
                    drop_id=o.drop_id,
                    status="rejected",
                    encoding=o.encoding,
                    rejected_reason=str(exc),
                    note=o.note,
                )
                log.error("%s rejected: %s", o.drop.relative_path, exc)
                continue
            if group and (header, p.labels, p.day_order_unknown) != (group_header, group_labels, group_day_order):
                try:
                    _check_group(con, contract, group_header or [], group, group_labels, group_day_order, group_text)
                except BaseException:
                    _drop_group(con, {p.seq: table})  # taken, in no group yet (the group's go below)
                    raise
                group = {}
            group_text = p.text | group_text if group else p.text  # one check for the group: what any drop needs
            group[p.seq] = table
            group_header, group_labels, group_day_order = header, p.labels, p.day_order_unknown
        # the workers are free: the next batch is read while this one is checked and written, which
        # keeps the core that reading one gzip file leaves idle busy (a drop bigger than a batch)
        reader.read_ahead(next_batch)
        if group:
            _check_group(con, contract, group_header or [], group, group_labels, group_day_order, group_text)
            group = {}
    finally:
        reader.end_batch()
        _drop_group(con, group)


def _counts_by_drop(con: duckdb.DuckDBPyConnection, counts: str, table: str) -> dict[int, tuple[int, int, int]]:
    """Three counts per drop of the batch: {_drop_seq: (a, b, c)}."""
    rows = con.execute(f"select _drop_seq, {counts} from {table} group by _drop_seq").fetchall()
    return {seq: tuple(values) for seq, *values in rows}


def _count_rows(con: duckdb.DuckDBPyConnection, batch: list[_Pending]) -> None:
    counts = _counts_by_drop(
        con, "count(*), count(*) filter (len(_problems) > 0), count(*) filter (_rank > 1)", "_batch"
    )
    for p in batch:
        if p.outcome.status != "loaded":
            continue
        read, bad, dup = counts.get(p.seq, (0, 0, 0))
        o = p.outcome
        o.rows_read = read + len(p.malformed)
        o.rows_quarantined = len(p.malformed) + bad + dup
        o.rows_loaded = o.rows_read - o.rows_quarantined


def _quarantine(con: duckdb.DuckDBPyConnection, contract: Contract, batch: list[_Pending], now: datetime) -> None:
    ids = {p.seq: [p.outcome.drop_id, contract.source, contract.entity, p.outcome.drop.relative_path] for p in batch}
    insert_rows(
        con,
        "insert into meta.quarantine values (?, ?, ?, ?, ?, null, null, ?, ?, ?)",
        [[*ids[p.seq], m.line, m.reason, m.raw_record, now] for p in batch for m in p.malformed],
    )
    if not any(p.outcome.rows_quarantined > len(p.malformed) for p in batch):
        return
    key_text = " || '/' || ".join(f"b.{quote(k)}::varchar" for k in contract.primary_key)
    con.execute(
        f"""
        insert into meta.quarantine
        select d.drop_id, ?, ?, d.source_file, b._line,
               case when b._rank > 1 then ? else b._problems[1].column_name end,
               case when b._rank > 1 then {key_text} else b._problems[1].value end,
               case when b._rank > 1
                    then 'duplicate key (' || ? || ') in the drop: line ' || b._kept_line || ' kept'
                    else array_to_string(list_transform(b._problems, lambda p: p.reason), '; ') end,
               b._raw_record, ?
        from _batch b join _batch_drops d using (_drop_seq)
        where len(b._problems) > 0 or b._rank > 1
        """,
        [contract.source, contract.entity, ",".join(contract.primary_key), ", ".join(contract.primary_key), now],
    )


def _compare(con: duckdb.DuckDBPyConnection, contract: Contract, several_drops: bool) -> None:
    """`_batch_cmp`: for each good row of the batch, whether it wins, and whether its key existed.

    As if the drops were applied one by one: a row wins when its priority (updated_at, drop date,
    file) is at least that of every earlier version of its key (the stored row, then the batch's
    earlier drops); the key existed when there is any earlier version. The last winner is final.
    """
    t, key, pk0 = contract.table, ", ".join(quote(k) for k in contract.primary_key), quote(contract.primary_key[0])

    def priority(updated_at: str, drop_date: str, source_file: str) -> str:
        newest = f"u := coalesce({updated_at}, {_OLDEST}), " if contract.updated_at else ""
        return f"struct_pack({newest}d := {drop_date}, f := {source_file})"

    u = quote(contract.updated_at or "")
    stored_priority = priority(f"t.{u}", "t._drop_date", "t._source_file")
    n_key = ", ".join(f"n.{quote(k)}" for k in contract.primary_key)
    # A key met once in the batch is judged against its stored row by a join; only keys in several
    # drops of the batch need the ordered comparison (a window over far fewer rows).
    repeated = f"select {key} from new_rows group by all having count(*) > 1" if several_drops else ""
    con.execute(
        f"""
        create or replace temp table _batch_cmp as
        with new_rows as materialized (
            select {key}, b._drop_seq, b._line, {priority(f"b.{u}", "d.drop_date", "d.source_file")} as _priority
            from _batch b join _batch_drops d using (_drop_seq)
            where b._rank = 1
        ),
        repeated as materialized ({repeated or f"select {key} from new_rows where false"}),
        once as (
            select {n_key}, n._drop_seq, n._line, t.{pk0} is not null as existed,
                   t.{pk0} is null or n._priority >= {stored_priority} as wins, t.{pk0} is not null as _stored
            from new_rows n left join {t} t on {_key_match(contract, "n", "t")}
            where not exists (select 1 from repeated r where {_key_match(contract, "r", "n")})
        ),
        candidates as (
            select {key}, -1 as _drop_seq, null::bigint as _line, {stored_priority} as _priority
            from {t} t semi join repeated r on {_key_match(contract, "t", "r")}
            union all
            select n.* from new_rows n semi join repeated r on {_key_match(contract, "n", "r")}
        ),
        ordered as (
            select *, max(_priority) over (partition by {key} order by _drop_seq
                                          rows between unbounded preceding and 1 preceding) as _best_before,
                   bool_or(_drop_seq = -1) over (partition by {key}) as _stored
            from candidates
        ),
        judged as (
            select *, _best_before is not null as existed,
                   _best_before is null or _priority >= _best_before as wins
            from ordered
        )
        select {key}, _drop_seq, _line, existed, wins, _stored, wins as final from once
        union all
        select {key}, _drop_seq, _line, existed, wins, _stored,
               wins and _drop_seq = max(_drop_seq) filter (wins) over (partition by {key}) as final
        from judged where _drop_seq >= 0
        """
    )


def _upsert(con: duckdb.DuckDBPyConnection, contract: Contract, batch: list[_Pending], now: datetime) -> None:
    t = contract.table
    counts = _counts_by_drop(
        con,
        "count(*) filter (wins and not existed), count(*) filter (wins and existed), count(*) filter (not wins)",
        "_batch_cmp",
    )
    for p in batch:
        if p.outcome.status == "loaded":
            p.outcome.rows_inserted, p.outcome.rows_updated, p.outcome.rows_superseded = counts.get(p.seq, (0, 0, 0))
    key = ", ".join(quote(k) for k in contract.primary_key)
    if fetch_one(con, "select count(*) from _batch_cmp where final and _stored")[0]:
        con.execute(
            f"delete from {t} using (select {key} from _batch_cmp where final and _stored) s "
            f"where {_key_match(contract, t, 's')}"
        )
    # `_batch_cmp` judges every kept row (rank 1); when all are final (a first load, new keys only),
    # the rows to insert are those kept rows, and the join that finds the final ones can go (a
    # quarter of the insert's time on 3.5 M rows).
    all_final = not fetch_one(con, "select count(*) from _batch_cmp where not final")[0]
    final = (
        "where b._rank = 1"
        if all_final
        else "semi join _batch_cmp c on c._drop_seq = b._drop_seq and c._line = b._line and c.final"
    )
    con.execute(
        f"""
        insert into {t} by name
        select b.* exclude (_drop_seq, _line, _problems, _rank, _kept_line, _raw_record),
               d.drop_id as _drop_id, d.drop_date as _drop_date, d.source_file as _source_file,
               b._line as _source_line, ?::timestamp as _loaded_at
        from _batch b join _batch_drops d using (_drop_seq)
        {final}
        """,
        [now],
    )


def _record(con: duckdb.DuckDBPyConnection, contract: Contract, batch: list[_Pending], run_id: str) -> None:
    """Manifest entry and audit row of every drop of the batch, inside the batch's transaction."""
    finished = datetime.now(UTC).replace(tzinfo=None)
    insert_rows(
        con,
        "insert into meta.drop_manifest values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                o.drop_id,
                contract.source,
                contract.entity,
                p.digest,
                o.drop.relative_path,
                o.drop.drop_date,
                o.drop.size,
                o.drop.mtime_ns,
                o.status,
                finished,
            ]
            for p in batch
            for o in [p.outcome]
        ],
    )
    insert_rows(
        con,
        f"insert into meta.ingest_audit ({AUDIT_COLUMNS}) values ({', '.join(['?'] * 19)})",
        [
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
                p.started.replace(tzinfo=None),
                finished,
                o.note,
            ]
            for p in batch
            for o in [p.outcome]
        ],
    )


AUDIT_COLUMNS = (
    "drop_id, source, entity, source_file, drop_date, encoding, rows_read, rows_loaded, rows_quarantined, "
    "rows_inserted, rows_updated, rows_superseded, extra_columns, status, rejected_reason, run_id, started_at, "
    "finished_at, note"
)


def _pending_batches(drops: list[tuple[Drop, str, str]], max_bytes: int) -> list[list[_Pending]]:
    """The drops (with their content hashes and drop ids) in batches (`_batches`), each to be loaded."""
    return [
        [
            _Pending(
                outcome=DropOutcome(drop=drop, drop_id=drop_id, status="loaded", note=drop.date_note),
                digest=digest,
                seq=seq,
                name=f"{number}_{seq}",
            )
            for seq, (drop, digest, drop_id) in enumerate(batch)
        ]
        for number, batch in enumerate(_batches(drops, max_bytes))
    ]


def load_batch(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    batch: list[_Pending],
    run_id: str,
    reader: _DropReader,
    next_batch: list[_Pending],
) -> list[DropOutcome]:
    """Load a batch of drops in one transaction; a file that cannot be read is recorded as rejected
    and the others load. `reader` reads them, and reads `next_batch` ahead."""
    for p in batch:
        p.started = p.started or datetime.now(UTC)
    try:
        _stage_drops(con, contract, batch, reader, next_batch)
        con.execute(
            "create or replace temp table _batch_drops (_drop_seq integer, drop_id varchar, "
            "drop_date date, source_file varchar)"
        )
        insert_rows(
            con,
            "insert into _batch_drops values (?, ?, ?, ?)",
            [[p.seq, p.outcome.drop_id, p.outcome.drop.drop_date, p.outcome.drop.relative_path] for p in batch],
        )
        _count_rows(con, batch)
        now = datetime.now(UTC).replace(tzinfo=None)
        con.execute("begin transaction")
        try:
            add_extra_columns(con, contract, sorted({c for p in batch for c in p.outcome.extra_columns}))
            _quarantine(con, contract, batch, now)
            _compare(con, contract, several_drops=sum(p.outcome.status == "loaded" for p in batch) > 1)
            _upsert(con, contract, batch, now)
            _record(con, contract, batch, run_id)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
    finally:
        con.execute(
            "; ".join(
                ["drop view if exists _group_raw"]
                + [f"drop table if exists {t}" for t in ("_drop_raw", "_batch", "_batch_drops", "_batch_cmp")]
            )
        )
    return [p.outcome for p in batch]


def _batches(pending: list[tuple], max_bytes: int) -> list[list[tuple]]:
    """Consecutive drops, oldest first, up to `max_bytes` of files per batch (a bigger drop alone)."""
    batches: list[list[tuple]] = []
    size = 0
    for item in pending:
        if not batches or size + item[0].size > max_bytes:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += item[0].size
    return batches


def _duplicate(contract: Contract, drop: Drop, digest: str, original: str, status: str, this_run: bool) -> DropOutcome:
    """The audit outcome of a file whose content an earlier drop brought already."""
    when = "in this run" if this_run else "before"
    then = "nothing to load" if status == "loaded" else "not read again"
    path_digest = hashlib.sha256(drop.relative_path.encode()).hexdigest()[:8]
    return DropOutcome(
        drop=drop,
        drop_id=f"{contract.name}:{digest[:16]}:{path_digest}",
        status="duplicate",
        rejected_reason=f"same content as {original}, {status} {when}: {then}",
    )


def _record_duplicates(con: duckdb.DuckDBPyConnection, contract: Contract, found: list[tuple], run_id: str) -> None:
    """Manifest and audit rows of re-delivered files (zero rows each), in one transaction: the
    manifest row spares the next run hashing the file again."""
    now = datetime.now(UTC)
    batch = [_Pending(outcome=o, digest=digest, seq=i, started=now) for i, (o, digest) in enumerate(found)]
    con.execute("begin transaction")
    try:
        _record(con, contract, batch, run_id)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def _record_touched(con: duckdb.DuckDBPyConnection, contract: Contract, touched: list[tuple[Drop, str]]) -> None:
    """A file copied or synced again with a new modification time and the same content: its manifest
    row takes the file's size and time, so that the next run knows it without hashing it again and
    `run` (or the schedule) can tell there is nothing new (a copy without `-p`, a sync tool)."""
    for drop, _ in touched:
        log.info("%s: modification time changed, content unchanged: nothing to load", drop.relative_path)
    con.executemany(
        "update meta.drop_manifest set file_bytes = ?, file_mtime_ns = ? "
        "where source = ? and entity = ? and source_file = ? and content_sha256 = ?",
        [
            [drop.size, drop.mtime_ns, contract.source, contract.entity, drop.relative_path, digest]
            for drop, digest in touched
        ],
    )


def load_entity(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    raw_dir: Path,
    *,
    run_id: str | None = None,
    on_drop: Callable[[DropOutcome], None] | None = None,
    on_batch: Callable[[list[DropOutcome]], None] | None = None,
    batch_bytes: int | None = None,
) -> EntityLoadResult:
    """Load every new drop of the entity from `raw_dir`, oldest first; record what its folder holds
    that is not a drop (ignored) and files repeating an earlier drop's content (duplicate).
    `on_drop` hears of each drop loaded (or rejected), `on_batch` of each batch's drops at once."""
    run_id = run_id or uuid.uuid4().hex
    ensure_meta(con)
    ensure_raw_table(con, contract)
    folder = scan_entity_folder(raw_dir, contract)  # the native folder's drops and what it holds besides
    drops = find_drops(raw_dir, contract)  # those drops and the files the deployment's mappings route here
    result = EntityLoadResult(contract=contract, drops_found=len(drops))
    result.ignored = record_ignored(con, folder.ignored, run_id)
    manifest = Manifest(con, contract)
    pending, repeats, first_seen, touched = [], [], {}, []
    for drop in drops:
        if manifest.unchanged(drop):  # not re-hashed
            result.drops_already_loaded += 1
            continue
        digest = content_hash(drop.path, drop.identity_salt)
        if manifest.latest.get(drop.relative_path) == digest:  # the same file, touched: nothing new
            result.drops_already_loaded += 1
            touched.append((drop, digest))
            continue
        if (drop.relative_path, digest) in manifest.contents:  # restored: what the file holds now
            # the content's id is its first load's: this load's adds the path and its count of records
            restore = hashlib.sha256(f"{drop.relative_path}\0{manifest.records[drop.relative_path]}".encode())
            pending.append((drop, digest, f"{contract.name}:{digest[:16]}:r{restore.hexdigest()[:8]}"))
            continue
        if digest in manifest.originals or digest in first_seen:
            result.drops_already_loaded += 1
            repeats.append((drop, digest))
            continue
        first_seen[digest] = drop.relative_path
        pending.append((drop, digest, f"{contract.name}:{digest[:16]}"))
        if drop.date_warning:
            log.warning(drop.date_warning)
    batches = _pending_batches(pending, batch_bytes or ingest_batch_bytes())
    reader = _DropReader(con, contract, batches)
    try:
        for number, batch in enumerate(batches):
            next_batch = batches[number + 1] if number + 1 < len(batches) else []
            outcomes = load_batch(con, contract, batch, run_id, reader, next_batch)  # loaded or rejected
            result.outcomes.extend(outcomes)
            if on_drop:
                for outcome in outcomes:
                    on_drop(outcome)
            if on_batch and outcomes:
                on_batch(outcomes)
    finally:
        reader.close()  # a batch that failed leaves the next one's reads: dropped
    statuses = {o.drop.relative_path: o.status for o in result.outcomes}
    found = []
    for drop, digest in repeats:
        this_run = digest not in manifest.originals
        original = first_seen[digest] if this_run else manifest.originals[digest][0]
        status = statuses[original] if this_run else manifest.originals[digest][1]
        outcome = _duplicate(contract, drop, digest, original, status, this_run)
        log.info("%s: %s", drop.relative_path, outcome.rejected_reason)
        result.duplicates.append(outcome)
        found.append((outcome, digest))
    if found:
        _record_duplicates(con, contract, found, run_id)
    if touched:
        _record_touched(con, contract, touched)
    result.table_rows = fetch_one(con, f"select count(*) from {contract.table}")[0]
    return result


__all__ = ["DropOutcome", "EntityLoadResult", "LINEAGE_COLUMNS", "Manifest", "load_entity"]
