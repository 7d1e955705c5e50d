"""Resources shared by every asset: the warehouse file and the raw folder, configured once."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from dagster_project.warehouse import connect, open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file, the raw extract folder it is loaded from, and the BI snapshot folder."""

    path: str
    raw_dir: str
    bi_dir: str

    # Opened by a run (setup_for_execution) on its first `connect`, kept open between its steps, closed
    # by `release` and at the run's end. See `connect`.
    _keeper: duckdb.DuckDBPyConnection | None = PrivateAttr(default=None)
    _keeping: bool = PrivateAttr(default=False)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._keeping = True

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self.release()
        self._keeping = False

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the warehouse for one step. DuckDB allows one writing process per file: the
        jobs run in process, one step at a time. In a run, one more connection stays open between
        steps: DuckDB keeps a file open while any connection to it is, so each step's connection joins
        the open database (~1 ms) instead of reading its catalogue again, and its close does not
        checkpoint (DECISIONLOG, "One open warehouse per run")."""
        if self._keeping and self._keeper is None:
            self._keeper = connect(self.path)
        with open_warehouse(self.path) as con:
            yield con

    def release(self) -> None:
        """Close the connection kept open between steps (a checkpoint), so that another process (dbt)
        can open the file; the next `connect` opens it again."""
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)


def warehouse_resource() -> WarehouseResource:
    return WarehouseResource(
        path=dg.EnvVar("S2S_WAREHOUSE"), raw_dir=dg.EnvVar("S2S_RAW_DIR"), bi_dir=dg.EnvVar("S2S_BI_DIR")
    )


def skip_unchanged(context: dg.AssetExecutionContext, warehouse: WarehouseResource, work: str) -> bool:
    """True (and say so in the log) when the published snapshot was built from this run's inputs:
    the asset then yields nothing. A run tagged s2s/force=true never skips."""
    from dagster_project.publish.fingerprint import FORCE_TAG, unchanged_snapshot

    if context.run.tags.get(FORCE_TAG) == "true":
        return False
    with warehouse.connect() as con:
        published = unchanged_snapshot(con, Path(warehouse.bi_dir))
    if published:
        context.log.info(
            f"{work} skipped: the snapshot {published['snapshot_id']} was built from the same drops, code and "
            "as-of date (tag the run s2s/force=true to rebuild)"
        )
    return published is not None


# run id -> the answer of `nothing_new_in_run` (a process runs one job at a time: one entry)
_RUN_HAS_NOTHING_NEW: dict[str, dict | None] = {}


def nothing_new_in_run(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dict | None:
    """The published snapshot's manifest when this run has nothing to load or rebuild: no file in the
    raw folder is new and the snapshot was built from the same inputs (`run`'s own pre-check). Every
    ingestion step asks; the first answer holds for the whole run in this process (a file delivered
    while the run goes on is the next run's). A run tagged s2s/force=true always loads."""
    from dagster_project.publish.fingerprint import FORCE_TAG, nothing_new_on

    if context.run.tags.get(FORCE_TAG) == "true":
        return None
    run_id = context.run.run_id
    if run_id not in _RUN_HAS_NOTHING_NEW:
        _RUN_HAS_NOTHING_NEW.clear()
        idle = None
        if Path(warehouse.path).is_file():  # through the run's connection: a read-only one cannot open beside it
            with warehouse.connect() as con:
                idle = nothing_new_on(con, warehouse.raw_path, Path(warehouse.bi_dir))
        _RUN_HAS_NOTHING_NEW[run_id] = idle
    return _RUN_HAS_NOTHING_NEW[run_id]
