"""Run settings: where the raw extracts, the warehouse and the BI snapshot live, and the as-of date.

Each comes from an `S2S_` environment variable with a default relative to the working directory,
and every CLI command can override it with a flag.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

DEFAULT_RAW_DIR = "data/raw"
DEFAULT_WAREHOUSE = "data/warehouse/warehouse.duckdb"
DEFAULT_BI_DIR = "data/warehouse/bi"


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    bi_dir: Path
    as_of: date | None  # None: the newest order date in the data

    @classmethod
    def from_env(cls) -> Settings:
        as_of = os.environ.get("S2S_AS_OF") or None
        return cls(
            raw_dir=Path(os.environ.get("S2S_RAW_DIR") or DEFAULT_RAW_DIR),
            warehouse=Path(os.environ.get("S2S_WAREHOUSE") or DEFAULT_WAREHOUSE),
            bi_dir=Path(os.environ.get("S2S_BI_DIR") or DEFAULT_BI_DIR),
            as_of=date.fromisoformat(as_of) if as_of else None,
        )

    def with_overrides(self, **values: object) -> Settings:
        """A copy with the given fields replaced, ignoring those left as None."""
        return replace(self, **{k: v for k, v in values.items() if v is not None})

    def export(self) -> None:
        """Write the settings back to the environment, for the Dagster and dbt processes."""
        os.environ["S2S_RAW_DIR"] = str(self.raw_dir.absolute())
        os.environ["S2S_WAREHOUSE"] = str(self.warehouse.absolute())
        os.environ["S2S_BI_DIR"] = str(self.bi_dir.absolute())
        from dagster_project.deployment import deployment_dir  # the company's policy and mappings

        os.environ["S2S_DEPLOYMENT_DIR"] = str(deployment_dir().absolute())
        if self.as_of:
            os.environ["S2S_AS_OF"] = self.as_of.isoformat()
        from dagster_project.warehouse import TIME_ZONE, duckdb_settings  # the same for dbt's connection

        duck = duckdb_settings()
        os.environ["S2S_DUCKDB_MEMORY_LIMIT"] = duck["memory_limit"]
        os.environ["S2S_DUCKDB_THREADS"] = duck["threads"]
        os.environ["S2S_TIME_ZONE"] = TIME_ZONE
        # Dagster hands the planned events of a new run (one per asset and check) to the run history
        # as one batch, which dagster_project/run_history.py stores in one transaction
        os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", str(PLANNED_EVENTS_PER_BATCH))


# Planned events Dagster buffers before it writes them (DAGSTER_EVENT_BATCH_SIZE): more than a run of
# this project plans (~570), so that a run's are written at once.
PLANNED_EVENTS_PER_BATCH = 1000

DAGSTER_YAML = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
# Dagster's SQLite run history, opening each file once per process (dagster_project/run_history.py)
storage:
  custom:
    module: dagster_project.run_history
    class: KeptOpenSqliteStorage
    config:
      base_dir:
        env: DAGSTER_HOME
"""
# What earlier versions wrote, as they wrote it: such a file is replaced by DAGSTER_YAML (same files,
# same history). A file that differs from all of them was edited by a person and is kept.
_EARLIER_DAGSTER_YAMLS = (
    """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
""",
)


def ensure_dagster_home() -> Path:
    """DAGSTER_HOME (default `.dagster_home`), so runs persist for the UI. Its dagster.yaml queues runs
    one at a time (a scheduled run and a sensor's run must not both write the DuckDB file) and keeps
    the run history's SQLite connections open (dagster_project/run_history.py). A dagster.yaml a
    person wrote or edited is left as it is."""
    home = Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").absolute()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") in _EARLIER_DAGSTER_YAMLS:
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def relax_run_history_fsync() -> None:
    """Let the SQLite files of Dagster's run history (under DAGSTER_HOME) skip fsync, if configured.

    Dagster's local storage opens, commits and closes a SQLite connection per event, and each close
    syncs the file to disk: ~10 ms an event on this machine, and a run of this project logs ~1,500
    events (one per dbt model and test, planned and done). With `synchronous = OFF` it is <1 ms. The
    cost: an OS crash or power cut may lose or corrupt the run history (never the warehouse, which
    DuckDB keeps durable). Set `dagster.run_history_fsync: true` in config/warehouse.yml to keep the
    default, and use Dagster's Postgres storage in production.
    """
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from dagster_project.warehouse import warehouse_config

    if warehouse_config("dagster").get("run_history_fsync", True):
        return
    home = str(Path(os.environ.get("DAGSTER_HOME") or ".dagster_home").absolute())

    @event.listens_for(Engine, "connect")
    def _no_fsync(dbapi_connection, _record) -> None:
        if isinstance(dbapi_connection, sqlite3.Connection):
            files = [row[2] for row in dbapi_connection.execute("pragma database_list").fetchall()]
            if any(f and f.startswith(home + os.sep) for f in files):
                dbapi_connection.execute("pragma synchronous = off")
