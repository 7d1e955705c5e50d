"""Resources shared by every asset: the warehouse file and the raw folder, configured once."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from dagster_project.warehouse import open_warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file, the raw extract folder it is loaded from, and the BI snapshot folder."""

    path: str
    raw_dir: str
    bi_dir: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # DuckDB allows one writing process per file: the jobs run in process, one step at a time.
        with open_warehouse(self.path) as con:
            yield con

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)


def warehouse_resource() -> WarehouseResource:
    return WarehouseResource(
        path=dg.EnvVar("S2S_WAREHOUSE"), raw_dir=dg.EnvVar("S2S_RAW_DIR"), bi_dir=dg.EnvVar("S2S_BI_DIR")
    )
