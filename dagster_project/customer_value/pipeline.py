"""The customer value step: read the purchase history, fit, score, validate, store; or reuse the stored
fit when the purchase days, the as-of date, the config and the library versions are those it was fitted on."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pandas as pd

from dagster_project.customer_value import history, store
from dagster_project.customer_value.config import customer_value_config
from dagster_project.customer_value.models import FitResult, fit_bg_nbd, fit_gamma_gamma, library_versions

FORECAST = "forecast"
VALIDATION = "holdout_validation"


@dataclass
class Outcome:
    forecast: dict[str, Any]  # the forecast's model-run row
    validation: dict[str, Any] | None  # the validation's model-run row
    reused: bool  # True: nothing changed since these fits, no fit ran
    seconds: float

    @property
    def problems(self) -> list[str]:
        """Fits that did not converge (each is an error, never a silent NULL)."""
        return [
            f"{run['purpose']} {run['model_run_id']}: {run['status_detail']}"
            for run in (self.forecast, self.validation)
            if run and run["status"] == "not_converged"
        ]


def inputs_fingerprint(con: duckdb.DuckDBPyConnection, as_of: date, config: dict[str, Any]) -> str:
    """What a fit depends on: the purchase days, the as-of date, the rules and the library versions."""
    parts = [
        history.purchase_days_fingerprint(con),
        as_of.isoformat(),
        json.dumps(config, sort_keys=True, default=str),
        repr(library_versions()),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _base_run(
    config: dict[str, Any],
    purpose: str,
    as_of: date,
    calibration_end: date,
    fingerprint: str,
    dagster_run_id: str | None,
) -> dict:
    versions = library_versions()
    return {
        "model_run_id": f"{purpose}-{as_of.isoformat()}-{uuid.uuid4().hex[:8]}",
        "dagster_run_id": dagster_run_id,
        "purpose": purpose,
        "as_of_date": as_of,
        "calibration_end_date": calibration_end,
        "fitted_at": datetime.now(UTC).replace(tzinfo=None),
        "inputs_fingerprint": fingerprint,
        "annual_discount_rate": config["annual_discount_rate"],
        "lifetime_horizon_months": config["lifetime_horizon_months"],
        "time_unit": "day",
        "fit_method": "map",
        "pymc_marketing_version": versions["pymc-marketing"],
        "pymc_version": versions["pymc"],
        "pytensor_version": versions["pytensor"],
    }


def _fit_columns(run: dict, fit: FitResult | None, prefix: str, names: tuple[str, ...]) -> None:
    if fit is None:
        return
    for name in names:
        run[f"{prefix}_{name}"] = fit.params[name]
    run[f"{prefix}_log_likelihood"] = fit.log_likelihood
    run[f"{prefix}_max_abs_gradient"] = fit.max_abs_gradient
    run[f"{prefix}_newton_gain"] = fit.newton_gain
    run[f"{prefix}_fit_seconds"] = round(fit.seconds, 3)


def _status(run: dict, fits: list[FitResult | None], not_fitted: str | None) -> None:
    problems = [p for fit in fits if fit is not None for p in fit.problems]
    if not_fitted:
        run["status"], run["status_detail"] = "not_fitted", not_fitted
    elif problems:
        run["status"], run["status_detail"] = "not_converged", "; ".join(problems)
    else:
        run["status"], run["status_detail"] = "converged", None


@dataclass
class Fits:
    """What one fit of the model yields, before it is stored: the two model-run rows, the scores to
    replace the stored ones with (None: keep them, the forecast did not converge), the holdout table."""

    forecast: dict[str, Any]
    scores: pd.DataFrame | None
    validation: dict[str, Any]
    holdout: pd.DataFrame
    seconds: float


def forecast(purchases, as_of: date, config: dict[str, Any], fingerprint: str, dagster_run_id: str | None):
    """Fit on the whole history to the as-of date: (the model-run row, the scores to store: new ones when
    both fits converged, none when not fitted, None to keep the stored ones when a fit did not converge)."""
    from dagster_project.customer_value.scoring import score_customers

    fit_config = config["fit"]
    run = _base_run(config, FORECAST, as_of, as_of, fingerprint, dagster_run_id)
    summary = history.summarize(purchases, as_of)
    repeat = int(((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).sum())
    run["customers"], run["repeat_customers"] = len(summary), repeat
    not_fitted = None
    if len(summary) < fit_config["min_customers"]:
        not_fitted = f"{len(summary)} customers, fewer than {fit_config['min_customers']}"
    elif repeat < fit_config["min_repeat_customers"]:
        not_fitted = f"{repeat} repeat buyers with a positive spend, fewer than {fit_config['min_repeat_customers']}"
    purchases_fit = spend_fit = None
    if not not_fitted:
        purchases_fit = fit_bg_nbd(summary, fit_config)
        if purchases_fit.converged:
            spend_fit = fit_gamma_gamma(summary, fit_config)
    _fit_columns(run, purchases_fit, "bgnbd", ("r", "alpha", "a", "b"))
    _fit_columns(run, spend_fit, "gg", ("p", "q", "v"))
    _status(run, [purchases_fit, spend_fit], not_fitted)
    scores = None
    if run["status"] == "converged":
        started = time.perf_counter()
        scores, population = score_customers(
            purchases_fit, spend_fit, summary, config["annual_discount_rate"], config["lifetime_horizon_months"]
        )
        run["scoring_seconds"] = round(time.perf_counter() - started, 3)
        run.update(population)
        scores = scores.assign(model_run_id=run["model_run_id"], as_of_date=as_of)
    elif run["status"] == "not_fitted":
        scores = store.empty_scores()  # no stale scores of an older as-of date
    return run, scores


def validate(purchases, as_of: date, config: dict[str, Any], fingerprint: str, dagster_run_id: str | None):
    """Fit on the history to the calibration end and compare with the holdout: (model-run row, table)."""
    from dagster_project.customer_value.validation import validate_on_holdout

    result = validate_on_holdout(purchases, as_of, config)
    run = _base_run(config, VALIDATION, as_of, result.calibration_end, fingerprint, dagster_run_id)
    run["holdout_days"] = result.holdout_days
    run["customers"] = result.fit.customers if result.fit else 0
    run["holdout_max_abs_relative_error"] = config["validation"]["max_abs_relative_error"]
    _fit_columns(run, result.fit, "bgnbd", ("r", "alpha", "a", "b"))
    fit_failed = result.fit is not None and not result.fit.converged
    _status(run, [result.fit], None if fit_failed else result.not_validated_reason)
    run["holdout_actual_repeat_purchases"] = result.actual_total
    run["holdout_predicted_repeat_purchases"] = result.predicted_total
    run["holdout_relative_error"] = result.relative_error
    table = result.by_frequency.assign(model_run_id=run["model_run_id"]) if len(result.by_frequency) else None
    return run, table if table is not None else store.empty_holdout()


def fit(
    purchases: pd.DataFrame, as_of: date, config: dict[str, Any], fingerprint: str, dagster_run_id: str | None
) -> Fits:
    """Both fits on a purchase history (history.purchase_days), without the warehouse: what the step
    runs in its own process, or the worker beside the dbt build (customer_value/worker.py)."""
    started = time.perf_counter()
    purchases = purchases[purchases["purchase_date"] <= pd.Timestamp(as_of)]
    forecast_run, scores = forecast(purchases, as_of, config, fingerprint, dagster_run_id)
    validation_run, holdout = validate(purchases, as_of, config, fingerprint, dagster_run_id)
    return Fits(forecast_run, scores, validation_run, holdout, time.perf_counter() - started)


def store_fits(con: duckdb.DuckDBPyConnection, fits: Fits) -> None:
    if fits.scores is not None:
        store.replace_scores(con, fits.scores)
    store.record_model_run(con, fits.forecast)
    store.replace_holdout(con, fits.holdout)
    store.record_model_run(con, fits.validation)


def _reusable(con: duckdb.DuckDBPyConnection, fingerprint: str) -> Outcome | None:
    latest = store.latest_run(con, FORECAST)
    if not latest or latest["inputs_fingerprint"] != fingerprint:
        return None
    if latest["status"] == "converged":
        stored = con.execute(
            "select count(*) from ml.customer_value_scores where model_run_id = ?", [latest["model_run_id"]]
        ).fetchall()[0][0]
        if stored != latest["customers"]:
            return None
    validation = store.latest_run(con, VALIDATION)
    if not validation or validation["inputs_fingerprint"] != fingerprint:
        return None
    return Outcome(latest, validation, reused=True, seconds=0.0)


def reusable_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    """The inputs' fingerprint of the stored fits that a step would reuse, if there are such fits."""
    store.ensure_ml_tables(con)
    latest = store.latest_run(con, FORECAST)
    if latest and _reusable(con, latest["inputs_fingerprint"]):
        return latest["inputs_fingerprint"]
    return None


def run_customer_value(
    con: duckdb.DuckDBPyConnection,
    dagster_run_id: str | None = None,
    force: bool = False,
    config: dict[str, Any] | None = None,
    fitted: Callable[[str], Fits | None] | None = None,
) -> Outcome:
    """Fit, score and validate as of int_as_of_date; `config` defaults to config/customer_value.yml.
    `fitted(fingerprint)`: the fits a worker made beside the dbt build on the inputs of that
    fingerprint, else None (then they are made here)."""
    config = config or customer_value_config()
    store.ensure_ml_tables(con)
    as_of = history.as_of_date(con)
    fingerprint = inputs_fingerprint(con, as_of, config)
    if not force and (reused := _reusable(con, fingerprint)):
        return reused
    fits = fitted(fingerprint) if fitted else None
    if fits is None:
        fits = fit(history.purchase_days(con), as_of, config, fingerprint, dagster_run_id)
    store_fits(con, fits)
    return Outcome(fits.forecast, fits.validation, reused=False, seconds=fits.seconds)
