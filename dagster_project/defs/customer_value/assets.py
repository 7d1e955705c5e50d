"""The customer value model as a Dagster step between two dbt steps: it reads the order facts dbt built
(intermediate.int_orders_aggregated_from_lines, int_as_of_date), writes schema `ml`, and the dbt models of
models/marts/customer_value/ read `ml` as sources. Its checks sit in the gate: a fit that did not converge
blocks the marts downstream and the publish step.

The fit itself runs in a worker process beside the first dbt build (customer_value/worker.py): the run's
first ingestion step starts it, or adopts the one `run` started before the run (`start_fitting`,
early_workers.py; the dbt step does, when the run has no ingestion step), the dbt step
tells it when dbt has built its inputs (`tell_when_inputs_built`), and this step collects and stores
its fits."""

from collections.abc import Iterable, Iterator
from pathlib import Path

import dagster as dg

from dagster_project import early_workers
from dagster_project.customer_value import worker
from dagster_project.quality.config import severity
from dagster_project.resources import WarehouseResource, skip_unchanged

SCORES_KEY = dg.AssetKey(["ml", "customer_value_scores"])
RUNS_KEY = dg.AssetKey(["ml", "customer_value_model_runs"])
HOLDOUT_KEY = dg.AssetKey(["ml", "customer_value_holdout"])
# the dbt models the fit reads (customer_value/history.py), which the worker waits for
INPUT_KEYS = [dg.AssetKey(table.split(".")) for table in worker.INPUTS]


def start_fitting(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> worker.Fitting | None:
    """When this run will fit the model: start the worker that fits it beside the dbt build
    (customer_value/worker.py), or adopt the one `run` started before the run (early_workers.py) and
    name the run and the stored fits to it; it imports pymc-marketing and waits for dbt to build its
    inputs. Called by the run's first ingestion step (unless the run has nothing new) and by the dbt
    step, which finds that worker, or starts one when the run has no ingestion step. A worker another
    run started in this process and never collected (its dbt step did not run) is stopped first."""
    for run_id in [r for r in _STARTED if r != context.run.run_id]:
        _STARTED.pop(run_id).discard()
    planned = context.run.step_keys_to_execute
    if planned is not None and customer_value_model.op.name not in planned:  # the step's key: its op
        return None
    if started := _STARTED.get(context.run.run_id):
        return started
    from dagster_project.customer_value.pipeline import reusable_fingerprint
    from dagster_project.publish.fingerprint import FORCE_TAG

    force = context.run.tags.get(FORCE_TAG) == "true"
    with warehouse.connect() as con:
        reusable = None if force else reusable_fingerprint(con)
    if early := early_workers.take_fitting(Path(warehouse.path)):  # `run` started one before the run
        try:
            early.assign(reusable, context.run.run_id)
        except BaseException:
            early.discard()
            raise
    fitting = _STARTED[context.run.run_id] = early or worker.start(
        early_workers.fitting_root(Path(warehouse.path)), compile_dir(warehouse), reusable, context.run.run_id
    )
    context.log.info(
        f"customer value: worker process {'started by `run`, taken' if early else 'started'} by "
        f"{context.op_def.name}; it imports pymc-marketing and waits for dbt to build its inputs"
    )
    return fitting


def discard_fitting(context: dg.AssetExecutionContext) -> None:
    """The dbt step skipped (nothing changed since the snapshot): stop the worker the run's ingestion
    started or adopted, since Dagster will not run the customer value step that would collect it."""
    if fitting := _STARTED.pop(context.run.run_id, None):
        fitting.discard()


def tell_when_inputs_built(
    context: dg.AssetExecutionContext, events: Iterable, fitting: worker.Fitting | None, target_path: Path
) -> Iterator:
    """dbt's events, passed on; the worker told where its inputs are as soon as dbt built both."""
    waiting = set(INPUT_KEYS)
    for event in events:
        yield event
        if fitting is None or not waiting or not isinstance(event, dg.Output):
            continue
        waiting.discard(context.asset_key_for_output(event.output_name))
        if not waiting:
            fitting.inputs_ready(target_path)
            context.log.info("customer value: fitting in a worker process beside the dbt build (its inputs are built)")


_STARTED: dict[str, worker.Fitting] = {}  # run id -> the worker started for it (start_fitting)


def _severity(kind: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if severity(kind) == "error" else dg.AssetCheckSeverity.WARN


def compile_dir(warehouse: WarehouseResource) -> Path:
    """pytensor's compile cache (customer_value/worker.py `compile_dir_for`)."""
    return worker.compile_dir_for(Path(warehouse.path))


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SCORES_KEY,
            deps=INPUT_KEYS,
            group_name="customer_value",
            kinds={"duckdb", "python"},
            description="Per customer at the as-of date: BG/NBD inputs, probability alive, expected purchases, "
            "expected purchase value and predicted value (pymc-marketing).",
        ),
        dg.AssetSpec(
            RUNS_KEY,
            deps=INPUT_KEYS,
            group_name="customer_value",
            kinds={"duckdb", "python"},
            description="One row per model fit: as-of, customers, parameters, log-likelihood, library versions, "
            "seconds.",
        ),
        dg.AssetSpec(
            HOLDOUT_KEY,
            deps=INPUT_KEYS,
            group_name="customer_value",
            kinds={"duckdb", "python"},
            description="Holdout validation: predicted vs actual repeat purchases by calibration frequency.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "model_converged",
            asset=SCORES_KEY,
            blocking=severity("customer_value_convergence") == "error",
            description="Both fits (forecast and holdout validation) stopped at an optimum with valid parameters.",
        ),
        dg.AssetCheckSpec(
            "model_fitted",
            asset=SCORES_KEY,
            blocking=severity("customer_value_fitted") == "error",
            description="The history has enough customers and repeat buyers to fit the models.",
        ),
        dg.AssetCheckSpec(
            "holdout_accuracy",
            asset=HOLDOUT_KEY,
            blocking=severity("customer_value_holdout") == "error",
            description="Predicted holdout repeat purchases within the configured error of the actual ones.",
        ),
    ],
    can_subset=True,  # yields nothing when nothing changed since the published snapshot
)
def customer_value_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    fitting = _STARTED.pop(context.run.run_id, None)
    if skip_unchanged(context, warehouse, "customer value model"):
        if fitting:
            fitting.discard()
        return
    from dagster_project.customer_value.models import use_compile_dir

    use_compile_dir(compile_dir(warehouse))  # before pytensor is imported
    from dagster_project.customer_value.pipeline import run_customer_value
    from dagster_project.publish.fingerprint import FORCE_TAG

    if fitting:
        context.log.info("customer value: collecting the worker's fits")
    try:
        with warehouse.connect() as con:
            outcome = run_customer_value(
                con,
                dagster_run_id=context.run.run_id,
                force=context.run.tags.get(FORCE_TAG) == "true",
                fitted=fitting.fits_for if fitting else None,
            )
    finally:
        if fitting:
            fitting.discard()  # when the stored fits were reused, the worker's are not needed
    forecast, validation = outcome.forecast, outcome.validation
    context.log.info(
        ("reused the fits of the same inputs: " if outcome.reused else f"fitted in {outcome.seconds:.1f}s: ")
        + f"{forecast['model_run_id']} ({forecast['status']}), {validation['model_run_id']} ({validation['status']})"
    )
    yield from _materializations(forecast, validation, outcome.reused)
    yield from _checks(outcome)


def _materializations(forecast: dict, validation: dict, reused: bool):
    yield dg.MaterializeResult(
        asset_key=SCORES_KEY,
        metadata={
            "model_run_id": forecast["model_run_id"],
            "status": forecast["status"],
            "customers": forecast["customers"],
            "reused_fit": reused,
            "as_of_date": str(forecast["as_of_date"]),
        },
    )
    yield dg.MaterializeResult(
        asset_key=RUNS_KEY,
        metadata={
            **{
                k: dg.MetadataValue.float(float(forecast[k]))
                for k in ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_v")
                if forecast.get(k) is not None
            },
            "bgnbd_log_likelihood": forecast.get("bgnbd_log_likelihood") or 0.0,
            "fit_seconds": (forecast.get("bgnbd_fit_seconds") or 0.0) + (forecast.get("gg_fit_seconds") or 0.0),
            "pymc_marketing_version": forecast["pymc_marketing_version"],
        },
    )
    yield dg.MaterializeResult(asset_key=HOLDOUT_KEY, metadata=_holdout_metadata(validation))


def _holdout_metadata(validation: dict) -> dict:
    metadata = {
        "model_run_id": validation["model_run_id"],
        "calibration_end_date": str(validation["calibration_end_date"]),
        "holdout_days": validation["holdout_days"],
        "status": validation["status"],
    }
    if validation.get("holdout_relative_error") is not None:
        metadata |= {
            "actual_repeat_purchases": validation["holdout_actual_repeat_purchases"],
            "predicted_repeat_purchases": round(validation["holdout_predicted_repeat_purchases"], 1),
            "relative_error": round(validation["holdout_relative_error"], 4),
        }
    return metadata


def _checks(outcome):
    forecast, validation = outcome.forecast, outcome.validation
    problems = outcome.problems
    yield dg.AssetCheckResult(
        check_name="model_converged",
        asset_key=SCORES_KEY,
        passed=not problems,
        severity=_severity("customer_value_convergence"),
        description="; ".join(problems)
        or f"converged: {forecast['model_run_id']} ({forecast['status']}), {validation['model_run_id']}",
        metadata={"max_abs_gradient": forecast.get("bgnbd_max_abs_gradient") or 0.0},
    )
    not_fitted = forecast["status"] == "not_fitted"
    yield dg.AssetCheckResult(
        check_name="model_fitted",
        asset_key=SCORES_KEY,
        passed=not not_fitted,
        severity=_severity("customer_value_fitted"),
        description=f"not fitted: {forecast['status_detail']}" if not_fitted else f"{forecast['customers']} customers",
    )
    yield _holdout_check(validation)


def _holdout_check(validation: dict) -> dg.AssetCheckResult:
    error, limit = validation.get("holdout_relative_error"), validation["holdout_max_abs_relative_error"]
    if error is None:
        passed = False
        description = f"not validated: {validation['status_detail'] or 'no repeat purchase in the holdout'}"
    else:
        passed = abs(error) <= limit
        description = (
            f"holdout of {validation['holdout_days']} days after {validation['calibration_end_date']}: predicted "
            f"{validation['holdout_predicted_repeat_purchases']:.1f} repeat purchases, actual "
            f"{validation['holdout_actual_repeat_purchases']:.0f} ({error:+.1%}; allowed +/-{limit:.0%})"
        )
    return dg.AssetCheckResult(
        check_name="holdout_accuracy",
        asset_key=HOLDOUT_KEY,
        passed=passed,
        severity=_severity("customer_value_holdout"),
        description=description,
        metadata=_holdout_metadata(validation),
    )
