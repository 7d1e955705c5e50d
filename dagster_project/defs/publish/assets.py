"""Publish the marts to the BI snapshot, after every blocking check of the run has passed."""

from pathlib import Path

import dagster as dg

from dagster_project.defs.quality.assets import AUDIT_KEY, DELIVERY_KEY, DQ_KEY, ORPHANS_KEY
from dagster_project.publish.cleanup import remove_partial_snapshot
from dagster_project.publish.fingerprint import FORCE_TAG, inputs_fingerprint
from dagster_project.publish.keys import primary_keys_from_file
from dagster_project.publish.postgres import postgres_config, postgres_dsn, publish_to_postgres
from dagster_project.publish.snapshot import publish_snapshot
from dagster_project.resources import WarehouseResource

SNAPSHOT_KEY = dg.AssetKey(["bi", "marts_snapshot"])
POSTGRES_KEY = dg.AssetKey(["bi", "marts_postgres"])


def build_publish_asset(mart_keys: list[dg.AssetKey]) -> dg.AssetsDefinition:
    """The publish asset, downstream of every mart and of the assets that carry blocking checks."""

    @dg.asset(
        key=SNAPSHOT_KEY,
        group_name="publish",
        kinds={"duckdb", "parquet"},
        # DQ_KEY (the quality gate's checks) is also a mart: each key once
        deps=list(dict.fromkeys([*mart_keys, DQ_KEY, AUDIT_KEY, DELIVERY_KEY, ORPHANS_KEY])),
        description="Schema marts copied to the BI snapshot (DuckDB file + Parquet), swapped in atomically.",
    )
    def marts_snapshot(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        from dagster_project.defs.dbt.assets import dbt_project

        bi_dir = Path(warehouse.bi_dir)
        for name in remove_partial_snapshot(bi_dir):  # left by a killed publish
            context.log.info(f"removed {name}, left by an unfinished publish")
        try:
            with warehouse.connect() as con:
                result = publish_snapshot(
                    con,
                    bi_dir,
                    run_id=context.run.run_id,
                    inputs_fingerprint=inputs_fingerprint(con),
                    rebuild=context.run.tags.get(FORCE_TAG) == "true",  # a forced run rebuilds every mart
                    keys=primary_keys_from_file(dbt_project.manifest_path),
                )
        except BaseException:
            # a failed publish (disk full, ...) leaves nothing behind; the published snapshot is intact
            for name in remove_partial_snapshot(bi_dir):
                context.log.warning(f"removed {name}, left by the failed publish")
            raise
        how = (
            f"built whole: {result.rebuilt_because}"
            if result.rebuilt_because
            else f"{len(result.reused)} unchanged, {len(result.updated)} by their new rows"
            f" ({sum(1 for t in result.updated if result.parquet_appends.get(t))} Parquet files extended)"
        )
        context.log.info(f"published {len(result.tables)} marts to {result.database} ({how})")
        return dg.MaterializeResult(
            metadata={
                "snapshot": dg.MetadataValue.path(str(result.database)),
                "parquet_folder": dg.MetadataValue.path(str(result.bi_dir / "parquet")),
                "snapshot_id": result.snapshot_id,
                "marts": len(result.tables),
                "rows": sum(result.tables.values()),
                "marts_copied_whole": len(result.tables) - len(result.reused) - len(result.updated),
                "marts_by_new_rows": ", ".join(result.updated) or "none",
                # their Parquet files extended by the new rows' row groups, not written again
                "parquet_extended": ", ".join(t for t in result.updated if result.parquet_appends.get(t)) or "none",
                "marts_unchanged": len(result.reused),
                "built_whole_because": result.rebuilt_because or "no: built from the previous snapshot",
                "hashed_columns": ", ".join(result.hashed_columns) or "none",
                "dropped_columns": ", ".join(result.dropped_columns) or "none",
            }
        )

    return marts_snapshot


@dg.asset(
    key=POSTGRES_KEY,
    group_name="publish",
    kinds={"postgres"},
    deps=[SNAPSHOT_KEY],
    description="The BI snapshot's marts in PostgreSQL (S2S_PG_DSN): typed, keyed, described, swapped in atomically.",
)
def marts_postgres(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    from dagster_project.defs.dbt.assets import dbt_project

    dsn = postgres_dsn()
    if not dsn:
        raise dg.Failure("S2S_PG_DSN is not set: the PostgreSQL target is off")
    keys = primary_keys_from_file(dbt_project.manifest_path)
    result = publish_to_postgres(Path(warehouse.bi_dir), dsn, keys)
    keyless = sorted(set(result.tables) - set(result.primary_keys))
    context.log.info(
        f"published {len(result.tables)} marts to PostgreSQL schema {result.schema} in {result.seconds:.1f}s"
    )
    return dg.MaterializeResult(
        metadata={
            "schema": result.schema,
            "reader_role": postgres_config()["reader_role"],
            "marts": len(result.tables),
            "rows": sum(result.tables.values()),
            "seconds": round(result.seconds, 1),
            "marts_without_primary_key": ", ".join(keyless) or "none",
        }
    )
