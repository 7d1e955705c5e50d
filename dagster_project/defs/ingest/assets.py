"""One asset per entity contract: load the entity's new drops into `raw_<source>.<entity>`."""

import dagster as dg

from dagster_project.contracts import Contract, load_contracts
from dagster_project.ingest import load_entity
from dagster_project.ingest.integrity import refresh_orphans
from dagster_project.ingest.load import DropOutcome
from dagster_project.resources import WarehouseResource, nothing_new_in_run
from dagster_project.warehouse import ensure_raw_table


def raw_asset_key(contract: Contract) -> dg.AssetKey:
    """`raw_<source>/<entity>`: the same key dagster-dbt gives the dbt source of the table."""
    return dg.AssetKey([contract.schema, contract.entity])


def build_ingest_asset(contract: Contract) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_asset_key(contract),
        group_name=contract.schema,
        kinds={"duckdb", contract.source},
        description=f"{contract.description} Loaded from data/raw/{contract.source}/{contract.entity}/.",
        metadata={"contract": str(contract.path.name), "primary_key": ", ".join(contract.primary_key)},
        # a run with nothing new materializes nothing: Dagster then skips every step downstream
        # (the checks of the raw tables, dbt, quality, publish, alerts) at no cost (issue 14)
        output_required=False,
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        idle = nothing_new_in_run(context, warehouse)
        if idle:
            context.log.info(
                f"{contract.name}: nothing to load, and the snapshot {idle['snapshot_id']} was built from the same "
                "drops, code and as-of date (tag the run s2s/force=true to rebuild)"
            )
            return
        _start_workers(context, warehouse)
        with warehouse.connect() as con:
            result = load_entity(
                con,
                contract,
                warehouse.raw_path,
                run_id=context.run.run_id,
                on_batch=lambda outcomes: context.log.info("\n".join(map(_drop_line, outcomes))),
            )
        for outcome in result.rejected:
            context.log.error(f"rejected {outcome.drop.relative_path}: {outcome.rejected_reason}")
        if result.not_delivered_summary():  # once per entity, not once per row
            context.log.warning(f"{contract.name}: not delivered (loaded as NULL): {result.not_delivered_summary()}")
        for outcome in result.outcomes:
            if outcome.drop.date_warning:
                context.log.warning(outcome.drop.date_warning)
        for outcome in result.duplicates:
            context.log.info(f"duplicate {outcome.drop.relative_path}: {outcome.rejected_reason}")
        for entry in result.ignored:
            context.log.warning(f"ignored {entry.relative_path}: {entry.reason}")
        yield dg.MaterializeResult(metadata=result.metadata())

    return _ingest


def _drop_line(o: DropOutcome) -> str:
    """What became of one drop. A batch's lines go out as one log message: Dagster stores each message
    as an event (~0.8 ms of the step's thread), and a small company has ~600 drops in ~20 batches."""
    counts = f"read {o.rows_read}, loaded {o.rows_loaded}, quarantined {o.rows_quarantined}"
    return f"{o.drop.relative_path}: {o.status}, {counts}" + (f" ({o.rejected_reason})" if o.rejected_reason else "")


def _start_workers(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """Start the workers that run beside the dbt build, when the run plans it: the customer value fit,
    which imports pymc-marketing (~4-5 s of CPU) and waits for dbt to build its inputs, and Great
    Expectations, which imports GX (~2.4 s) and waits for the dbt step to write its frames. Started
    here, their imports overlap ingestion, which leaves a core idle on a small company or a new day,
    instead of the dbt build, which keeps both busy (they run at a low priority: ingestion keeps its
    core); `run` starts them earlier still, before the run, and here they are adopted
    (early_workers.py). Once per run: later steps find them. Not when the run has no dbt step to hand them their
    work (the customer value and quality steps then work themselves)."""
    from dagster_project.defs.customer_value.assets import start_fitting
    from dagster_project.defs.dbt.warm import DBT_STEPS, planned_dbt_steps
    from dagster_project.defs.quality.assets import start_gx_worker

    if DBT_STEPS[0] in planned_dbt_steps(context):
        start_fitting(context, warehouse)
        start_gx_worker(context, warehouse)


INGEST_ASSETS = [build_ingest_asset(c) for c in load_contracts().values()]


ORPHANS_KEY = dg.AssetKey(["meta", "orphans"])


@dg.asset(
    key=ORPHANS_KEY,
    group_name="raw_integrity",
    kinds={"duckdb"},
    deps=[raw_asset_key(c) for c in load_contracts().values()],
    description="Rows whose foreign key points nowhere, once every entity is loaded (one row per row and key).",
)
def orphans(warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect() as con:
        for contract in load_contracts().values():
            ensure_raw_table(con, contract)  # an entity never loaded is an empty table: dbt reads it
        total = refresh_orphans(con, list(load_contracts().values()))
        by_entity = con.execute(
            "select source || '.' || entity, count(*) from meta.orphans group by all order by 1"
        ).fetchall()
    return dg.MaterializeResult(metadata={"orphan_rows": total, **{f"orphans {name}": n for name, n in by_entity}})
