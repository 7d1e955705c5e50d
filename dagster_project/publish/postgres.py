"""The optional PostgreSQL publish target: every mart of the BI snapshot, typed, keyed and described,
for BI tools that connect to PostgreSQL (Power BI, Tableau, ...).

Off unless `S2S_PG_DSN` holds a libpq connection string. Each publish loads the snapshot into a new
schema (`<schema>__building`), then swaps it in with two renames in one transaction, so a reader (a
Power BI refresh) sees the previous marts or the new ones, never a half-loaded schema. The read-only
role (config/publish.yml, `postgres.reader_role`) may use the schema and select from its tables.

Rows travel as CSV: DuckDB writes each mart to a file, PostgreSQL's COPY parses it (both in C). Lists
become PostgreSQL arrays, structs and maps `jsonb`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.publish.snapshot import SNAPSHOT_FILE, publish_config
from dagster_project.warehouse import literal, quote

PG_DSN_ENV = "S2S_PG_DSN"
MARKER_FILE = "postgres.json"  # in the BI folder: which snapshot PostgreSQL holds

_SCALAR_TYPES = {
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(39, 0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20, 0)",
    "UHUGEINT": "numeric(39, 0)",
    "FLOAT": "real",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTERVAL": "interval",
    "UUID": "uuid",
    "BLOB": "bytea",
    "JSON": "jsonb",
}


def postgres_dsn() -> str | None:
    """The target's connection string, or None: PostgreSQL publishing is off."""
    return os.environ.get(PG_DSN_ENV) or None


def postgres_config() -> dict:
    return publish_config()["postgres"]


def dsn_digest(dsn: str) -> str:
    """Names the target without keeping its password: publishing to another server is a new target."""
    return hashlib.sha256(dsn.encode()).hexdigest()[:16]


@dataclass
class Column:
    name: str
    duckdb_type: str
    comment: str | None

    @property
    def pg_type(self) -> str:
        return pg_type(self.duckdb_type)

    def select_expression(self) -> str:
        """The DuckDB expression whose CSV text PostgreSQL reads as `pg_type`."""
        name, kind = quote(self.name), self.duckdb_type.upper()
        if kind.endswith("[]") and _is_scalar(kind[:-2]):
            # an array literal {"a","b",NULL}: every element quoted, backslashes and quotes escaped
            element = """coalesce('"' || replace(replace(e::varchar, '\\', '\\\\'), '"', '\\"') || '"', 'NULL')"""
            elements = f"array_to_string(list_transform({name}, lambda e: {element}), ',')"
            return f"case when {name} is null then null else '{{' || {elements} || '}}' end"
        if self.pg_type == "jsonb" and kind != "JSON":
            return f"to_json({name})::varchar"
        if kind == "BLOB":
            return f"'\\x' || hex({name})"
        return name


def _is_scalar(duckdb_type: str) -> bool:
    return duckdb_type.upper() in _SCALAR_TYPES or duckdb_type.upper().startswith("DECIMAL")


def pg_type(duckdb_type: str) -> str:
    """The PostgreSQL type of a DuckDB column type (lists of scalars: arrays; nested types: jsonb)."""
    kind = duckdb_type.upper()
    if kind in _SCALAR_TYPES:
        return _SCALAR_TYPES[kind]
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", kind)
    if decimal:
        return f"numeric({decimal[1]}, {decimal[2]})"
    if kind.endswith("[]") and _is_scalar(kind[:-2]):
        return pg_type(kind[:-2]) + "[]"
    if kind.startswith("ENUM"):
        return "text"
    return "jsonb"  # STRUCT, MAP, UNION, nested lists


@dataclass
class Mart:
    name: str
    comment: str | None
    columns: list[Column]
    primary_key: list[str] = field(default_factory=list)


def read_marts(snapshot: duckdb.DuckDBPyConnection, schema: str, keys: dict[str, list[str]]) -> list[Mart]:
    """Every table of the attached snapshot `snap` with its columns, types, comments and key."""
    marts = []
    tables = snapshot.execute(
        "select table_name, comment from duckdb_tables() where database_name = 'snap' and schema_name = ? order by 1",
        [schema],
    ).fetchall()
    for name, comment in tables:
        columns = [
            Column(*row)
            for row in snapshot.execute(
                "select column_name, data_type, comment from duckdb_columns() where database_name = 'snap' "
                "and schema_name = ? and table_name = ? order by column_index",
                [schema, name],
            ).fetchall()
        ]
        key = [c for c in keys.get(name, []) if c in {col.name for col in columns}]
        marts.append(Mart(name, comment, columns, key if len(key) == len(keys.get(name, [])) else []))
    return marts


@dataclass
class PostgresResult:
    schema: str
    tables: dict[str, int] = field(default_factory=dict)  # mart -> rows
    primary_keys: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0


def _create_table(pg, schema: str, mart: Mart) -> None:
    columns = ", ".join(f"{quote(c.name)} {c.pg_type}" for c in mart.columns)
    pg.execute(f"create table {quote(schema)}.{quote(mart.name)} ({columns})")


def _copy_rows(pg, snapshot: duckdb.DuckDBPyConnection, schema: str, mart: Mart, work: Path) -> int:
    """The mart's rows: DuckDB writes them as CSV, PostgreSQL's COPY reads the file in 1 MiB chunks.
    Returns the number of rows PostgreSQL took."""
    csv_file = work / f"{mart.name}.csv"
    select = ", ".join(f"{c.select_expression()} as {quote(c.name)}" for c in mart.columns)
    # every non-NULL value quoted: an empty string stays '' and a NULL stays NULL in PostgreSQL's CSV
    snapshot.execute(
        f"copy (select {select} from snap.{quote(publish_config()['schema'])}.{quote(mart.name)}) "
        f"to {literal(str(csv_file))} (format csv, header false, force_quote *)"
    )
    columns = ", ".join(quote(c.name) for c in mart.columns)
    cursor = pg.cursor()
    with (
        csv_file.open("rb") as fh,
        cursor.copy(f"copy {quote(schema)}.{quote(mart.name)} ({columns}) from stdin (format csv)") as copy,
    ):
        while chunk := fh.read(1 << 20):
            copy.write(chunk)
    csv_file.unlink()
    return cursor.rowcount


def _describe_and_key(pg, schema: str, mart: Mart) -> None:
    table = f"{quote(schema)}.{quote(mart.name)}"
    if mart.primary_key:
        key = ", ".join(quote(c) for c in mart.primary_key)
        pg.execute(f"alter table {table} add primary key ({key})")
    if mart.comment:
        pg.execute(f"comment on table {table} is {literal(mart.comment)}")
    for column in mart.columns:
        if column.comment:
            pg.execute(f"comment on column {table}.{quote(column.name)} is {literal(column.comment)}")


def _ensure_reader_role(pg, role: str) -> None:
    """The read-only role BI logins are granted (`grant <role> to <login>`); created once, no login."""
    exists = pg.execute("select 1 from pg_roles where rolname = %s", [role]).fetchone()
    if not exists:
        pg.execute(f"create role {quote(role)} nologin")


def publish_to_postgres(bi_dir: Path, dsn: str, keys: dict[str, list[str]]) -> PostgresResult:
    """Load the published snapshot of `bi_dir` into PostgreSQL and swap it in atomically."""
    import psycopg

    started = time.monotonic()
    config = postgres_config()
    schema, role = config["schema"], config["reader_role"]
    building, previous = f"{schema}__building", f"{schema}__previous"
    result = PostgresResult(schema=schema)
    snapshot = duckdb.connect()
    snapshot.execute(f"attach {literal(str(bi_dir / SNAPSHOT_FILE))} as snap (read_only)")
    try:
        marts = read_marts(snapshot, publish_config()["schema"], keys)
        with psycopg.connect(dsn) as pg, tempfile.TemporaryDirectory(prefix="s2s-pg-") as work:
            pg.execute("set client_encoding to 'UTF8'")
            _ensure_reader_role(pg, role)
            pg.execute(f"drop schema if exists {quote(building)} cascade")  # left by a failed publish
            pg.execute(f"create schema {quote(building)}")
            for mart in marts:
                _create_table(pg, building, mart)
                result.tables[mart.name] = _copy_rows(pg, snapshot, building, mart, Path(work))
                _describe_and_key(pg, building, mart)
                if mart.primary_key:
                    result.primary_keys[mart.name] = mart.primary_key
            comment = f"S2S Warehouse marts, snapshot {_snapshot_id(bi_dir)}"
            pg.execute(f"comment on schema {quote(building)} is {literal(comment)}")
            pg.execute(f"grant usage on schema {quote(building)} to {quote(role)}")
            pg.execute(f"grant select on all tables in schema {quote(building)} to {quote(role)}")
            pg.commit()
            # The swap: two renames in one short transaction; readers resolve `marts.x` to the old or
            # the new table. The old schema is dropped afterwards, once its last reader is done.
            pg.execute(f"drop schema if exists {quote(previous)} cascade")
            if _schema_exists(pg, schema):
                pg.execute(f"alter schema {quote(schema)} rename to {quote(previous)}")
            pg.execute(f"alter schema {quote(building)} rename to {quote(schema)}")
            pg.commit()
            pg.execute(f"drop schema if exists {quote(previous)} cascade")
            pg.commit()
    finally:
        snapshot.close()
    _write_marker(bi_dir, dsn)
    result.seconds = time.monotonic() - started
    return result


def _schema_exists(pg, schema: str) -> bool:
    return pg.execute("select 1 from pg_namespace where nspname = %s", [schema]).fetchone() is not None


def _snapshot_id(bi_dir: Path) -> str:
    return json.loads((bi_dir / "snapshot.json").read_text(encoding="utf-8"))["snapshot_id"]


def _write_marker(bi_dir: Path, dsn: str) -> None:
    marker = {"snapshot_id": _snapshot_id(bi_dir), "target": dsn_digest(dsn)}
    tmp = bi_dir / f".{MARKER_FILE}.tmp"
    tmp.write_text(json.dumps(marker), encoding="utf-8")
    os.replace(tmp, bi_dir / MARKER_FILE)


def postgres_is_current(bi_dir: Path, snapshot_id: str) -> bool:
    """True when PostgreSQL publishing is off, or the target holds this snapshot."""
    dsn = postgres_dsn()
    if not dsn:
        return True
    try:
        marker = json.loads((bi_dir / MARKER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("snapshot_id") == snapshot_id and marker.get("target") == dsn_digest(dsn)
