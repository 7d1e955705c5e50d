"""What a run prints at the end: the checks that failed and by how much, the ingestion accounting,
and where the warehouse and the published BI snapshot are."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.publish.assets import SNAPSHOT_KEY
from dagster_project.publish.fingerprint import unchanged_snapshot
from dagster_project.settings import Settings
from dagster_project.warehouse import open_warehouse


def _describe(evaluation) -> str:
    """The check's own description, or for a dbt test the number of rows that failed it."""
    if evaluation.description:
        return evaluation.description
    failed_rows = evaluation.metadata.get("dagster_dbt/failed_row_count")
    return f"{failed_rows.value} failing rows (dbt test)" if failed_rows else "failed"


_DBT_TEST_KINDS = (
    "relationships",
    "not_null",
    "unique_combination_of_columns",
    "unique",
    "accepted_values",
    "expression_is_true",
)


def _family(check_name: str) -> str:
    """The kind of a check, to group warnings: freshness, completeness, relationships (dbt), ..."""
    for kind in _DBT_TEST_KINDS:
        if check_name.startswith(kind + "_"):
            return f"{kind} (dbt tests)"
    return check_name.split("__")[0]


def print_run_summary(settings: Settings, result: dg.ExecuteInProcessResult, seconds: float) -> bool:
    """Print the summary; True when the run published a snapshot, or the published one is current."""
    evaluations = result.get_asset_check_evaluations()
    failed = [e for e in evaluations if not e.passed]
    blocking = [e for e in failed if e.severity == dg.AssetCheckSeverity.ERROR]
    published = any(e.asset_key == SNAPSHOT_KEY for e in result.get_asset_materialization_events() if e.asset_key)
    print(f"run {result.run_id}: {'succeeded' if result.success else 'FAILED'} in {seconds:.1f}s")
    print(
        f"checks: {len(evaluations) - len(failed)} passed, {len(blocking)} failed (error), "
        f"{len(failed) - len(blocking)} failed (warn)"
    )
    for e in sorted(blocking, key=lambda e: e.check_name):
        print(f"  [ERROR] {e.asset_key.to_user_string()} {e.check_name}: {_describe(e)}")
    warnings: dict[str, list] = {}
    for e in failed:
        if e.severity != dg.AssetCheckSeverity.ERROR:
            warnings.setdefault(_family(e.check_name), []).append(e)
    for family, items in sorted(warnings.items()):
        if len(items) <= 3:
            for e in items:
                print(f"  [warn] {e.asset_key.to_user_string()} {e.check_name}: {_describe(e)}")
        else:
            first = "; ".join(f"{e.asset_key.to_user_string()}: {_describe(e)}" for e in items[:2])
            print(f"  [warn] {family}: {len(items)} checks, e.g. {first}")
    for e in evaluations:  # the customer value model's own validation, passed or not (customer_value_validation)
        if e.check_name == "holdout_accuracy":
            print(f"  customer value model: {e.description}")
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            print(f"  step {event.step_key} failed: {error.message.strip().splitlines()[0] if error else ''}")

    if settings.warehouse.exists():
        with open_warehouse(settings.warehouse, read_only=True) as con:
            drops, rejected, read, loaded, quarantined = (
                v or 0
                for v in con.execute(
                    "select count(*), count(*) filter (status = 'rejected'), sum(rows_read), sum(rows_loaded), "
                    "sum(rows_quarantined) from meta.ingest_audit"
                ).fetchall()[0]
            )
        print(
            f"ingest audit (all runs): {drops} drops ({rejected} files rejected); "
            f"{read} rows read = {loaded} loaded + {quarantined} quarantined"
        )
    print(f"warehouse: {settings.warehouse.absolute()}")
    unchanged = None
    if not published and not blocking and result.success and settings.warehouse.exists():
        with open_warehouse(settings.warehouse, read_only=True) as con:
            unchanged = unchanged_snapshot(con, settings.bi_dir)
    if unchanged:
        print(
            f"nothing new since the BI snapshot {unchanged['snapshot_id']} (same drops, code and as-of date): "
            f"dbt build, quality validation and publish skipped; the snapshot is current: "
            f"{(settings.bi_dir / 'marts.duckdb').absolute()} (`run --force` rebuilds)"
        )
        return True
    if published:
        print(
            f"BI snapshot published: {(settings.bi_dir / 'marts.duckdb').absolute()} "
            f"(Parquet: {(settings.bi_dir / 'parquet').absolute()})"
        )
    else:
        reason = "blocking checks failed" if blocking else "the run did not reach the publish step"
        print(
            f"BI snapshot NOT published ({reason}); the previous snapshot, if any, is unchanged: "
            f"{(settings.bi_dir / 'marts.duckdb').absolute()}"
        )
    return published
