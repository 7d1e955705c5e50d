"""The warehouse file: connections and the tables that ingestion owns.

Layout: one schema per source (`raw_crm`, `raw_erp`, ...) with one table per entity, holding the
contract's columns (typed), any extra columns a drop brought (VARCHAR, passed through), and the
lineage columns below. Schema `meta` holds the drop manifest, the per-drop audit and the quarantine.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract
from dagster_project.yaml_text import parse_yaml

# Lineage columns appended to every raw table, after the contract's and the extra columns.
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_drop_id", "VARCHAR"),  # meta.drop_manifest.drop_id of the drop the row came from
    ("_drop_date", "DATE"),  # the drop's date, from its file name (else file mtime)
    ("_source_file", "VARCHAR"),  # path relative to the raw folder
    ("_source_line", "BIGINT"),  # 1-based line in the file (header = line 1)
    ("_loaded_at", "TIMESTAMP"),  # when the row was loaded (UTC)
)

META_DDL = """
create schema if not exists meta;
create table if not exists meta.drop_manifest (
    drop_id varchar primary key,        -- <source>.<entity>:<first 16 hex of content_sha256>
    source varchar not null,
    entity varchar not null,
    content_sha256 varchar not null,    -- a re-delivered drop (any name) has the same hash
    source_file varchar not null,       -- relative to the raw folder, as first seen
    drop_date date,
    file_bytes bigint,
    file_mtime_ns bigint,               -- with source_file and file_bytes: skips re-hashing unchanged files
    status varchar not null,            -- loaded | rejected | duplicate (same content as a drop before it)
    loaded_at timestamp not null
);
create table if not exists meta.ingest_audit (
    drop_id varchar not null,
    source varchar not null,
    entity varchar not null,
    source_file varchar not null,
    drop_date date,
    encoding varchar,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    rows_inserted bigint,               -- new keys
    rows_updated bigint,                -- replaced an older version of the key
    rows_superseded bigint,             -- accepted, but a newer version was already loaded
    extra_columns varchar[],
    -- loaded: read, rows loaded or quarantined; rejected: the file could not be loaded;
    -- ignored: not read (not a drop: other file type, folder, link out of the raw folder, no entity);
    -- duplicate: same content as a drop before it, nothing to load. Rows are 0 unless loaded.
    status varchar not null,
    rejected_reason varchar,            -- why rejected, ignored or duplicate
    run_id varchar,
    started_at timestamp not null,
    finished_at timestamp not null,
    note varchar                        -- a warning on a loaded drop (e.g. its date from the file's mtime)
);
create table if not exists meta.quarantine (
    drop_id varchar not null,
    source varchar not null,
    entity varchar not null,
    source_file varchar not null,
    line bigint,                        -- 1-based line in the file (header = line 1)
    column_name varchar,                -- null when the whole row is malformed
    value varchar,
    reason varchar not null,
    raw_record varchar,                 -- the row as read, so nothing is lost
    quarantined_at timestamp not null
);
-- completeness and validity results of every run (quality/expectations.py), kept as history;
-- published as marts.dq_completeness and marts.dq_validity by dbt (models/marts/ops/)
create table if not exists meta.dq_completeness (
    run_id varchar not null,
    checked_at timestamp not null,
    source varchar not null,
    entity varchar not null,
    field varchar not null,
    rows bigint not null,
    complete_rows bigint,           -- null when the field is not measured (status)
    completeness double,            -- complete_rows / rows; null for an empty table or a field not measured
    target double,
    passed boolean,                 -- null when not measured: not collected fields never pass or fail
    status varchar,                 -- measured | not collected | not delivered (deployment policy)
    severity varchar                -- error | warn: what a shortfall of this field does to the gate
);
create table if not exists meta.dq_validity (
    run_id varchar not null,
    checked_at timestamp not null,
    source varchar not null,
    entity varchar not null,
    field varchar not null,
    rule varchar not null,
    checked_rows bigint not null,   -- non-empty values
    failing_rows bigint not null,
    mostly double not null,
    passed boolean not null
);
-- What GX counted, kept so that a run validates only the drops it has not counted yet (quality/
-- expectations.py): one group per validation, its drops with their row counts at the time. A group
-- whose drop lost rows since (a newer drop replaced them) or whose expectations changed is dropped
-- and its drops are counted again; an entity's figures are the sums over its groups.
create table if not exists meta.dq_validated_drops (
    entity varchar not null,            -- <source>.<entity>
    suite_digest varchar not null,      -- what the counts depend on: measured fields, value rules
    group_id varchar not null,          -- the drops validated together, in one GX run
    drop_id varchar not null,           -- the raw rows' _drop_id ('' for rows without one)
    rows bigint not null                -- the drop's rows in the raw table when counted
);
-- the window of dbt's key tests on new rows, gone with them: raw keys have one engine (below)
drop table if exists meta.key_check_window;
drop table if exists meta.key_checks;
-- the asset check primary_keys_unique: through which load time each raw table's keys were found
-- unique (the next check counts the keys of rows loaded since), and with which key
create table if not exists meta.raw_key_checks (
    entity varchar not null,              -- <source>.<entity>
    primary_key varchar not null,         -- the contract's key columns, comma-separated
    checked_through timestamp not null,   -- the table's newest _loaded_at when the check passed
    run_id varchar
);
-- settings the warehouse keeps: pii_salt (publish/snapshot.py), meta_schema (ensure_meta, below)
create table if not exists meta.settings (name varchar primary key, value varchar);
create table if not exists meta.dq_validated_counts (
    group_id varchar not null,
    item varchar not null,              -- c__<field>: not null; v__<field>: the field's value rule
    element_count bigint not null,
    missing_count bigint not null,
    unexpected_count bigint not null
);
"""

# Before the dq history moved to meta, Python wrote it into marts (the schema dbt owns). A warehouse
# of that time keeps its history: the old tables are copied to meta once, then widened to today's
# columns (status and severity came with the deployment policy, which measures some fields not at all).
DQ_HISTORY_MOVE = """
create table meta.{table} as select * from marts.{table};
"""
_INGEST_AUDIT_NOTE = "alter table meta.ingest_audit add column if not exists note varchar"
DQ_COMPLETENESS_WIDEN = """
alter table meta.dq_completeness add column if not exists status varchar;
alter table meta.dq_completeness add column if not exists severity varchar;
alter table meta.dq_completeness alter column complete_rows drop not null;
alter table meta.dq_completeness alter column target drop not null;
alter table meta.dq_completeness alter column passed drop not null;
"""


WAREHOUSE_CONFIG = Path(__file__).parent / "config" / "warehouse.yml"


def warehouse_config(section: str) -> dict:
    """One section of config/warehouse.yml (duckdb, ingest, dagster)."""
    return parse_yaml(WAREHOUSE_CONFIG.read_text(encoding="utf-8")).get(section) or {}


TIME_ZONE: str = warehouse_config("duckdb")["time_zone"]  # see config/warehouse.yml
WORKER_NICENESS: dict[str, int] = warehouse_config("dagster")["worker_niceness"]  # per worker beside dbt
# An in-memory database of a connection's DuckDB instance, seen by all its cursors: what worker
# threads read (ingestion's drops, a mapping's lookup files) lands there (a temp table belongs to the
# cursor that made it).
SCRATCH_DATABASE = "s2s_scratch"


def attach_scratch(con: duckdb.DuckDBPyConnection) -> str:
    """Attach SCRATCH_DATABASE to the connection's DuckDB instance (once) and return its name."""
    con.execute(f"attach if not exists ':memory:' as {SCRATCH_DATABASE}")
    return SCRATCH_DATABASE


def duckdb_settings() -> dict[str, str]:
    """Memory limit and threads: config/warehouse.yml, overridden by S2S_DUCKDB_*."""
    config = warehouse_config("duckdb")
    return {
        "memory_limit": os.environ.get("S2S_DUCKDB_MEMORY_LIMIT") or str(config["memory_limit"]),
        "threads": os.environ.get("S2S_DUCKDB_THREADS") or str(config["threads"]),
    }


class WarehouseLocked(RuntimeError):
    """Another process holds the warehouse file (DuckDB allows one writer); the message names it."""


_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (.*?) \(PID (\d+)\)")


def _process_name(pid: int, executable: str) -> str:
    """The holder's command line (its first two words), else the executable DuckDB names."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return executable
    words = [w.decode(errors="replace") for w in words if w]
    if not words:
        return executable
    shown = " ".join([Path(words[0]).name, *words[1:2]])
    return shown + (" ..." if len(words) > 2 else "")


def locked_error(path: Path, exc: duckdb.Error) -> WarehouseLocked | None:
    """A one-line error naming the process that holds the file, if that is what `exc` says."""
    match = _LOCK_HOLDER.search(str(exc))
    if "Could not set lock" not in str(exc) or match is None:
        return None
    pid = int(match.group(2))
    return WarehouseLocked(
        f"the warehouse {path} is in use by another process, PID {pid} ({_process_name(pid, match.group(1))}): "
        "stop it or wait until it finishes, then run again"
    )


def connect(path: Path | str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file (creating its folder), with the warehouse's time zone as the session's;
    raises WarehouseLocked when another process holds it."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path), read_only=read_only, config=duckdb_settings())
    except duckdb.IOException as exc:
        locked = locked_error(path, exc)
        if locked is None:
            raise
        raise locked from None
    con.execute(f"set TimeZone = {literal(TIME_ZONE)}")
    return con


def check_not_locked(path: Path) -> None:
    """Raise WarehouseLocked when another process holds the warehouse file (a run would fail on every step)."""
    if Path(path).exists():
        connect(path).close()


@contextmanager
def open_warehouse(path: Path | str, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    con = connect(path, read_only=read_only)
    try:
        yield con
    finally:
        con.close()


def quote(identifier: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A SQL string literal, single-quoted."""
    return "'" + value.replace("'", "''") + "'"


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )


# What ensure_meta builds, stored in meta.settings once built: a step that finds it there skips the
# statements (~7 ms; a small company's ingestion called it 40 times, 0.3 s). A release that changes
# them changes the digest, so the next call runs them on a warehouse made before it.
_META_SCHEMA = hashlib.sha256(
    "\0".join([META_DDL, DQ_HISTORY_MOVE, DQ_COMPLETENESS_WIDEN, _INGEST_AUDIT_NOTE]).encode()
).hexdigest()[:16]


def _meta_is_current(con: duckdb.DuckDBPyConnection) -> bool:
    # two queries, not a query that fails on a warehouse without the table (a failed statement
    # would abort a caller's open transaction)
    if not _table_exists(con, "meta", "settings"):
        return False
    row = fetch_one(con, "select value from meta.settings where name = 'meta_schema'")
    return row is not None and row[0] == _META_SCHEMA


def ensure_meta(con: duckdb.DuckDBPyConnection) -> None:
    """Create the meta tables, or bring those of a warehouse made by an earlier release up to date."""
    if _meta_is_current(con):
        return
    con.execute("create schema if not exists meta")
    for table in ("dq_completeness", "dq_validity"):
        if not _table_exists(con, "meta", table) and _table_exists(con, "marts", table):
            con.execute(DQ_HISTORY_MOVE.format(table=table))
    con.execute(META_DDL)
    con.execute(DQ_COMPLETENESS_WIDEN)
    con.execute(_INGEST_AUDIT_NOTE)  # warehouses made before it
    con.execute("insert or replace into meta.settings values ('meta_schema', ?)", [_META_SCHEMA])


def ensure_raw_table(con: duckdb.DuckDBPyConnection, contract: Contract) -> None:
    """Create the entity's raw table if it does not exist yet (empty, typed from the contract), and
    add a column the contract gained since (null in the rows loaded before; rows load by name)."""
    con.execute(f"create schema if not exists {contract.schema}")
    cols = [f"{quote(c.name)} {c.type.upper()}" for c in contract.columns]
    cols += [f"{quote(n)} {t}" for n, t in LINEAGE_COLUMNS]
    con.execute(f"create table if not exists {contract.table} ({', '.join(cols)})")
    present = {
        row[0]
        for row in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [contract.schema, contract.entity],
        ).fetchall()
    }
    for column in contract.columns:
        if column.name not in present:
            # the rows loaded before lacked the column: they take its default, as a drop without it
            # would (a key column such as targets.rep_id must not be null: keys match with `=`)
            default = f" default {literal(column.default)}" if column.default is not None else ""
            con.execute(f"alter table {contract.table} add column {quote(column.name)} {column.type.upper()}{default}")


def add_extra_columns(con: duckdb.DuckDBPyConnection, contract: Contract, names: list[str]) -> None:
    """Pass-through columns a drop brought beyond the contract: kept as VARCHAR."""
    for name in names:
        con.execute(f"alter table {contract.table} add column if not exists {quote(name)} varchar")


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """First row of a query, reading the result to its end (DuckDB 2 refuses further work on a
    connection whose last result was only partly fetched)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


# Rows per INSERT statement of insert_rows: one statement for the manifest rows of a few hundred drops,
# small enough that DuckDB parses it in milliseconds.
INSERT_ROWS_PER_STATEMENT = 500


def insert_rows(con: duckdb.DuckDBPyConnection, sql: str, rows: list) -> None:
    """Insert `rows` with `sql`, an INSERT ending in one `values (...)` group of placeholders, as
    multi-row statements. DuckDB's executemany runs the statement once per row, ~0.5 ms each: 0.3 s
    for the manifest rows of 600 drops, 0.03 s as one statement. An empty list inserts nothing."""
    head, found, group = sql.rpartition(" values ")
    group = group.strip()
    if not found or not (group.startswith("(") and group.endswith(")")):
        raise ValueError(f"insert_rows needs an INSERT ending in `values (...)`: {sql}")
    for start in range(0, len(rows), INSERT_ROWS_PER_STATEMENT):
        part = rows[start : start + INSERT_ROWS_PER_STATEMENT]
        con.execute(f"{head} values {', '.join([group] * len(part))}", [value for row in part for value in row])


def ingest_batch_bytes() -> int:
    """Most bytes of drop files loaded in one transaction (config/warehouse.yml, S2S_INGEST_BATCH_MB)."""
    config = warehouse_config("ingest")
    return int(os.environ.get("S2S_INGEST_BATCH_MB") or config["batch_mb"]) << 20
