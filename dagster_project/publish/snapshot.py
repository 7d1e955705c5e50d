"""The BI snapshot: schema `marts` of the warehouse, copied to its own DuckDB file and Parquet files.

Layout of the BI folder (default `data/warehouse/bi`):
  marts.duckdb            the snapshot database (schema `marts`), built beside it, then renamed over it
  parquet -> .snapshots/<id>/parquet   one Parquet file per mart; the link is swapped atomically
  snapshot.json           what the current snapshot holds (id, run, tables, row counts)
  .snapshots/<id>/        the versions; the newest few are kept for readers still using them

Everything is built in `.snapshots/<id>/` first; only complete builds are swapped in, so a failed
or killed publish leaves the previous snapshot as it was. Readers keep an open file: a rename gives
the new snapshot a new inode and never touches the one they hold, so they never block a run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import duckdb
import yaml

from dagster_project.warehouse import fetch_one, literal, quote

PUBLISH_CONFIG = Path(__file__).parent.parent / "config" / "publish.yml"
SNAPSHOT_FILE = "marts.duckdb"


@cache
def publish_config() -> dict:
    return yaml.safe_load(PUBLISH_CONFIG.read_text(encoding="utf-8"))


@dataclass
class PublishResult:
    snapshot_id: str
    bi_dir: Path
    tables: dict[str, int] = field(default_factory=dict)  # mart -> rows
    hashed_columns: list[str] = field(default_factory=list)
    dropped_columns: list[str] = field(default_factory=list)

    @property
    def database(self) -> Path:
        return self.bi_dir / SNAPSHOT_FILE


def _matches(name: str, patterns: list[str]) -> bool:
    return any(re.fullmatch(p, name, flags=re.IGNORECASE) for p in patterns)


def pii_salt(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse's salt for hashing personal data: S2S_PII_SALT, else one made once and kept."""
    if os.environ.get("S2S_PII_SALT"):
        return os.environ["S2S_PII_SALT"]
    con.execute("create schema if not exists meta")
    con.execute("create table if not exists meta.settings (name varchar primary key, value varchar)")
    row = fetch_one(con, "select value from meta.settings where name = 'pii_salt'")
    if row:
        return row[0]
    salt = secrets.token_hex(16)
    con.execute("insert into meta.settings values ('pii_salt', ?)", [salt])
    return salt


def _select_list(con: duckdb.DuckDBPyConnection, schema: str, table: str, result: PublishResult) -> str:
    """The snapshot's columns of a mart: personal names dropped (but those keep_columns lists), emails
    and phones hashed with the salt, which is bound as the query parameter `$salt` (never pasted into
    the SQL)."""
    config = publish_config()
    columns = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    selects = []
    for (name,) in columns:
        if _matches(f"{table}.{name}", config.get("keep_columns") or []):
            selects.append(quote(name))
        elif _matches(name, config["drop_columns"]):
            result.dropped_columns.append(f"{table}.{name}")
        elif _matches(name, config["hash_columns"]):
            result.hashed_columns.append(f"{table}.{name}")
            selects.append(
                f"case when {quote(name)} is null then null "
                f"else sha256($salt || lower(trim({quote(name)}::varchar))) end as {quote(name)}"
            )
        else:
            selects.append(quote(name))
    return ", ".join(selects)


def _copy_descriptions(con: duckdb.DuckDBPyConnection, schema: str, table: str, target: str) -> None:
    """The warehouse's table and column comments (dbt's descriptions, persisted by `persist_docs`) onto
    the snapshot's copy `target`, so that BI tools show them."""
    row = fetch_one(
        con,
        "select comment from duckdb_tables() where database_name = current_database() and schema_name = ? "
        "and table_name = ?",
        [schema, table],
    )
    if row and row[0]:
        con.execute(f"comment on table {target} is {literal(row[0])}")
    columns = con.execute(
        "select column_name, comment from duckdb_columns() where database_name = current_database() "
        "and schema_name = ? and table_name = ? and comment is not null",
        [schema, table],
    ).fetchall()
    published = {r[0] for r in con.execute(f"select column_name from (describe {target})").fetchall()}
    for name, comment in columns:
        if name in published:  # dropped personal columns have no copy to describe
            con.execute(f"comment on column {target}.{quote(name)} is {literal(comment)}")


def _swap_symlink(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.tmp")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target, tmp)
    os.replace(tmp, link)  # rename(2): readers see the old or the new folder, never none


def _prune(versions: Path, keep: set[str], keep_previous: int) -> None:
    dirs = sorted((d for d in versions.iterdir() if d.is_dir()), key=lambda d: d.name, reverse=True)
    complete = [d for d in dirs if (d / "COMPLETE").exists()]
    survivors = {d.name for d in complete[: keep_previous + 1]} | keep
    for d in dirs:
        if d.name not in survivors:
            shutil.rmtree(d, ignore_errors=True)


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, bi_dir: Path, run_id: str, inputs_fingerprint: str | None = None
) -> PublishResult:
    """Copy schema `marts` of the open warehouse into a new snapshot and swap it in; the snapshot's
    manifest records the fingerprint of the inputs it was built from (see publish/fingerprint.py)."""
    schema = publish_config()["schema"]
    bi_dir = bi_dir.absolute()
    versions = bi_dir / ".snapshots"
    versions.mkdir(parents=True, exist_ok=True)
    snapshot_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    build = versions / snapshot_id
    build.mkdir()
    result = PublishResult(snapshot_id=snapshot_id, bi_dir=bi_dir)
    salt = pii_salt(con)
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1", [schema]
        ).fetchall()
    ]
    if not tables:
        raise RuntimeError(f"schema {schema!r} of the warehouse holds no tables: nothing to publish")

    for stale in bi_dir.glob(f".{SNAPSHOT_FILE}.*.building"):  # left by a killed publish
        stale.unlink()
    database = bi_dir / f".{SNAPSHOT_FILE}.{snapshot_id}.building"
    (build / "parquet").mkdir()
    # Tables have no row order to keep; letting DuckDB write in parallel makes the Parquet export
    # ~1/3 faster (scale 10: 9.4 M web events 4.1 s -> 2.7 s).
    con.execute("set preserve_insertion_order = false")
    # The storage version older readers understand (DuckDB 1.x CLIs, ODBC/JDBC drivers, BI tools).
    storage = literal(publish_config()["storage_version"])
    con.execute(f"attach {literal(str(database))} as bi_snapshot (storage_version {storage})")
    try:
        con.execute(f"create schema bi_snapshot.{schema}")
        for table in tables:
            hashed_before = len(result.hashed_columns)
            select = _select_list(con, schema, table, result)
            copy = f"bi_snapshot.{schema}.{quote(table)}"
            params = {"salt": salt} if len(result.hashed_columns) > hashed_before else {}
            con.execute(f"create table {copy} as select {select} from {schema}.{quote(table)}", params)
            _copy_descriptions(con, schema, table, copy)
            result.tables[table] = fetch_one(con, f"select count(*) from {copy}")[0]
            parquet = literal(str(build / "parquet" / f"{table}.parquet"))
            con.execute(f"copy {copy} to {parquet} (format parquet)")
    finally:
        con.execute("detach bi_snapshot")
    manifest = {
        "snapshot_id": snapshot_id,
        "run_id": run_id,
        "published_at": datetime.now(UTC).isoformat(),
        "schema": schema,
        "tables": result.tables,
        "hashed_columns": result.hashed_columns,
        "dropped_columns": result.dropped_columns,
        "inputs_fingerprint": inputs_fingerprint,
    }
    (build / "snapshot.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    (build / "COMPLETE").touch()

    # Swap in: each step is one rename, and each leaves a readable snapshot behind it.
    os.replace(database, bi_dir / SNAPSHOT_FILE)
    _swap_symlink(bi_dir / "parquet", f".snapshots/{snapshot_id}/parquet")
    tmp_manifest = bi_dir / ".snapshot.json.tmp"
    shutil.copyfile(build / "snapshot.json", tmp_manifest)
    os.replace(tmp_manifest, bi_dir / "snapshot.json")
    _prune(versions, {snapshot_id}, publish_config()["keep_previous"])
    return result
