"""The run's dbt fork server (dagster_project/dbt_forkserver.py): started by the ingest audit, the first
step after ingestion, when the run will build with dbt, so that dbt is imported on the core the short
steps before the build leave idle (started with ingestion it slowed ingestion by as much as it saved:
ingestion leaves room for one import, the customer value worker's, DECISIONLOG.md), or by the dbt step
itself; stopped after the run's last dbt step."""

import dagster as dg

from dagster_project import dbt_forkserver

# the op names of the two dbt steps (defs/dbt/assets.py), in the order a run takes them
DBT_STEPS = ("dbt_models", "dbt_models_after_python")


def planned_dbt_steps(context: dg.AssetExecutionContext) -> list[str]:
    planned = context.run.step_keys_to_execute  # None: every step of the job
    return [step for step in DBT_STEPS if planned is None or step in planned]


def warm_dbt(context: dg.AssetExecutionContext) -> None:
    if planned_dbt_steps(context):
        dbt_forkserver.start()


def dbt_steps_after(context: dg.AssetExecutionContext, step: str) -> bool:
    steps = planned_dbt_steps(context)
    return step in steps and steps.index(step) < len(steps) - 1
