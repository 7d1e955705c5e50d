"""Jobs. Everything runs in one process (see definitions.py): DuckDB allows a single writer."""

import dagster as dg

refresh_job = dg.define_asset_job(
    "refresh_warehouse",
    selection=dg.AssetSelection.all(),
    description="Ingest every new drop, build the marts, check them, publish the BI snapshot, send alerts.",
)
