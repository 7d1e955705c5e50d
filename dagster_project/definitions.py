"""The Dagster code location: gathers each concern's assets, checks, jobs and automation."""

from dagster_project.gc_tuning import loading_without_collection

# Loading is ~1/4 faster without the garbage collector (dagster_project/gc_tuning.py).
with loading_without_collection():
    import dagster as dg

    from dagster_project.defs.alerts.assets import alerts_sent
    from dagster_project.defs.customer_value.assets import customer_value_model
    from dagster_project.defs.dbt.assets import dbt_models, dbt_models_after_python, dbt_resource
    from dagster_project.defs.deployment.assets import field_policy
    from dagster_project.defs.ingest.assets import INGEST_ASSETS, orphans
    from dagster_project.defs.publish.assets import build_publish_asset, marts_postgres
    from dagster_project.defs.quality.assets import (
        delivery,
        dq_gate,
        dq_results,
        ingest_audit,
        orphan_share,
        primary_keys_unique,
        source_freshness,
    )
    from dagster_project.jobs import refresh_job
    from dagster_project.publish.postgres import postgres_dsn
    from dagster_project.resources import warehouse_resource
    from dagster_project.schedules import daily_refresh
    from dagster_project.sensors import new_drops_sensor
    from dagster_project.settings import Settings, relax_run_history_fsync

# Defaults for the S2S_ variables (absolute paths), so `dagster dev` works without any set.
Settings.from_env().export()
relax_run_history_fsync()

DBT_ASSETS = [dbt_models, dbt_models_after_python]
MART_KEYS = [key for dbt_assets in DBT_ASSETS for key in dbt_assets.keys if key.path[0] == "marts"]
marts_snapshot = build_publish_asset(MART_KEYS)

defs = dg.Definitions(
    assets=[
        *INGEST_ASSETS,
        orphans,
        ingest_audit,
        delivery,
        dq_results,
        field_policy,
        *DBT_ASSETS,
        marts_snapshot,
        alerts_sent,
        customer_value_model,
    ]
    + ([marts_postgres] if postgres_dsn() else []),  # the PostgreSQL target is on when S2S_PG_DSN is set
    asset_checks=[primary_keys_unique, orphan_share, source_freshness, dq_gate],
    jobs=[refresh_job],
    schedules=[daily_refresh],
    sensors=[new_drops_sensor],
    resources={"warehouse": warehouse_resource(), "dbt": dbt_resource()},
    # One step at a time, in one process: DuckDB allows a single writer per file.
    executor=dg.in_process_executor,
)
