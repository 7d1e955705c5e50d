"""What a published snapshot was built from, as one hash: the drops loaded, the code and config,
and the as-of date.

When a run's inputs hash to the published snapshot's, it has nothing to redo: the dbt build and the
quality validation yield nothing, Dagster skips the steps downstream of them (publish, alerts), and
the snapshot stays as it is. A run tagged `s2s/force=true` (`python -m dagster_project run --force`)
rebuilds anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import duckdb

from dagster_project.publish.snapshot import SNAPSHOT_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Everything a mart or a check is computed by: the dbt project and the Python package with its config.
_CODE = (
    "dbt/dbt_project.yml",
    "dbt/profiles.yml",
    "dbt/models",
    "dbt/macros",
    "dbt/seeds",
    "dbt/snapshots",
    "dbt/tests",
    "dagster_project",
)
_CODE_SUFFIXES = {".sql", ".yml", ".yaml", ".csv", ".py"}
FORCE_TAG = "s2s/force"


def code_digest(root: Path = PROJECT_ROOT) -> str:
    """sha256 over the path and bytes of every code and config file."""
    digest = hashlib.sha256()
    for entry in _CODE:
        path = root / entry
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for f in files:
            if f.suffix in _CODE_SUFFIXES and "__pycache__" not in f.parts:
                digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def deployment_digest() -> str:
    """sha256 over the deployment's policy.yml and mappings (they change what is measured and loaded)."""
    from dagster_project.deployment import POLICY_FILE, deployment_dir

    folder = deployment_dir()
    files = [folder / POLICY_FILE, *sorted((folder / "mappings").glob("*.y*ml"))]
    digest = hashlib.sha256()
    for f in files:
        if f.is_file():
            digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


def inputs_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """The drops in the manifest (each loaded or rejected once), the code, the deployment's policy
    and mappings, and S2S_AS_OF. A file repeating a drop's content (status duplicate) changes nothing
    the marts are built from."""
    drops = con.execute(
        "select count(*), coalesce(sum(hash(drop_id, status, loaded_at)), 0) from meta.drop_manifest "
        "where status <> 'duplicate'"
    ).fetchall()[0]
    as_of = os.environ.get("S2S_AS_OF", "")
    inputs = f"{drops[0]}:{drops[1]}|{as_of}|{code_digest()}|{deployment_digest()}"
    return hashlib.sha256(inputs.encode()).hexdigest()


def published_fingerprint(bi_dir: Path) -> dict | None:
    """The current snapshot's manifest (id, when, inputs_fingerprint), if a whole snapshot is there."""
    manifest, database = bi_dir / "snapshot.json", bi_dir / SNAPSHOT_FILE
    if not (manifest.is_file() and database.is_file()):
        return None
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))
    except ValueError:
        return None


def unchanged_snapshot(con: duckdb.DuckDBPyConnection, bi_dir: Path) -> dict | None:
    """The published snapshot's manifest when it was built from exactly these inputs (and, when the
    PostgreSQL target is on, PostgreSQL holds it too), else None."""
    from dagster_project.publish.postgres import postgres_is_current

    published = published_fingerprint(bi_dir)
    if (
        published
        and published.get("inputs_fingerprint") == inputs_fingerprint(con)
        and postgres_is_current(bi_dir, published.get("snapshot_id", ""))
    ):
        return published
    return None


def pending_drops(con: duckdb.DuckDBPyConnection, raw_dir: Path) -> list[str]:
    """Files in the raw folder that the manifest does not know by path, size and modification time,
    and entries the loader ignores that the audit does not record yet (a run records and names them)."""
    from dagster_project.contracts import load_contracts
    from dagster_project.ingest.drops import find_drops
    from dagster_project.ingest.inventory import pending_ignored
    from dagster_project.ingest.load import Manifest

    pending = []
    for contract in load_contracts().values():
        manifest = Manifest(con, contract)
        pending += [d.relative_path for d in find_drops(raw_dir, contract) if not manifest.unchanged(d)]
    return pending + pending_ignored(con, raw_dir)


def nothing_new(warehouse: Path, raw_dir: Path, bi_dir: Path) -> dict | None:
    """The published snapshot's manifest when a run would have nothing to do: no file in the raw
    folder is new and the snapshot was built from the same inputs. None when in doubt (no warehouse
    yet, or another process holds it)."""
    if not warehouse.is_file():
        return None
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return None
    try:
        return nothing_new_on(con, raw_dir, bi_dir)
    finally:
        con.close()


def nothing_new_on(con: duckdb.DuckDBPyConnection, raw_dir: Path, bi_dir: Path) -> dict | None:
    """`nothing_new` on an open warehouse connection."""
    try:
        if pending_drops(con, raw_dir):
            return None
        return unchanged_snapshot(con, bi_dir)
    except duckdb.CatalogException:  # no manifest yet
        return None
