"""The Dagster code location: gathers each concern's assets, checks, jobs and automation."""

import dagster as dg

from dagster_project.defs.ingest.assets import INGEST_ASSETS, orphans
from dagster_project.resources import warehouse_resource
from dagster_project.settings import Settings

# Defaults for the S2S_ variables (absolute paths), so `dagster dev` works without any set.
Settings.from_env().export()

ALL_ASSETS = [*INGEST_ASSETS, orphans]

# Everything, in one process: DuckDB allows a single writer per file.
refresh_job = dg.define_asset_job("refresh_warehouse", selection=dg.AssetSelection.all())

defs = dg.Definitions(
    assets=ALL_ASSETS,
    jobs=[refresh_job],
    resources={"warehouse": warehouse_resource()},
    executor=dg.in_process_executor,
)
