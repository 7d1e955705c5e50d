"""The two fits: BG/NBD (purchases and dropout) and Gamma-Gamma (spend per purchase), both by pymc-marketing
with flat priors (`HalfFlat`) fitted by MAP, which is maximum likelihood: the estimates of the published
CDNOW tables (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

A fit is converged when every parameter is finite and positive and the log-likelihood's gradient at the
optimum (in the log-parameters the optimiser moves) is near zero: at most `max_gradient_per_customer` x
customers. pymc's find_MAP does not report whether the optimiser stopped at an optimum (it returns the last
point when it runs out of evaluations), so the test is made on the result.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BG_NBD_PARAMS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")


@dataclass
class FitResult:
    """One fitted model, with what is needed to trace and judge it."""

    model_name: str  # bg_nbd | gamma_gamma
    customers: int
    params: dict[str, float]
    log_likelihood: float
    max_abs_gradient: float
    seconds: float
    problems: list[str] = field(default_factory=list)
    model: Any = None  # the fitted pymc-marketing model

    @property
    def converged(self) -> bool:
        return not self.problems


def use_compile_dir(folder: Path) -> None:
    """Keep pytensor's compiled C code in `folder` (per deployment, kept between runs), unless
    PYTENSOR_FLAGS already names one. Must run before pytensor is first imported."""
    flags = os.environ.get("PYTENSOR_FLAGS", "")
    if "compiledir" in flags:
        return
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={folder}") if f)


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("pymc-marketing", "pymc", "pytensor")}


def _flat_priors(names: tuple[str, ...]) -> dict[str, Any]:
    from pymc_marketing.prior import Prior

    return {name: Prior("HalfFlat") for name in names}


def _fit(model: Any, data: pd.DataFrame, maxeval: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        model.fit(data=data, method="map", progressbar=False, maxeval=maxeval)


def _log_likelihood_and_gradient(model: Any, params: dict[str, float]) -> tuple[float, float]:
    """Log posterior (= log-likelihood under flat priors) and the largest |gradient| in the
    optimiser's coordinates (log of each parameter), at the fitted parameters."""
    pm_model = model.model
    point = {}
    for value_var in pm_model.value_vars:
        rv = pm_model.values_to_rvs[value_var]
        transform = pm_model.rvs_to_transforms.get(rv)
        value = np.asarray(params[rv.name], dtype=float)
        point[value_var.name] = transform.forward(value).eval() if transform is not None else value
    log_likelihood = float(pm_model.compile_logp(jacobian=False)(point))
    gradient = np.asarray(pm_model.compile_dlogp(jacobian=False)(point), dtype=float)
    return log_likelihood, float(np.max(np.abs(gradient))) if gradient.size else 0.0


def _judge(result: FitResult, max_gradient_per_customer: float) -> None:
    for name, value in result.params.items():
        if not np.isfinite(value) or value <= 0:
            result.problems.append(f"{result.model_name} parameter {name} = {value} is not a positive number")
    if not np.isfinite(result.log_likelihood):
        result.problems.append(f"{result.model_name} log-likelihood is {result.log_likelihood}")
    limit = max_gradient_per_customer * result.customers
    if not result.max_abs_gradient <= limit:
        result.problems.append(
            f"{result.model_name} stopped away from an optimum: |gradient| {result.max_abs_gradient:.3g} > "
            f"{limit:.3g} ({max_gradient_per_customer:g} x {result.customers} customers)"
        )


def _fitted(model: Any, names: tuple[str, ...]) -> dict[str, float]:
    posterior = model.idata.posterior
    return {name: float(posterior[name].values.squeeze()) for name in names}


def fit_bg_nbd(summary: pd.DataFrame, fit_config: dict[str, Any]) -> FitResult:
    """BG/NBD on customer_id, frequency (repeat purchase days), recency and T (days)."""
    from pymc_marketing.clv import BetaGeoModel

    started = time.perf_counter()
    model = BetaGeoModel(model_config=_flat_priors(BG_NBD_PARAMS))
    _fit(model, summary[["customer_id", "frequency", "recency", "T"]], fit_config["maxeval"])
    params = _fitted(model, BG_NBD_PARAMS)
    log_likelihood, gradient = _log_likelihood_and_gradient(model, params)
    result = FitResult("bg_nbd", len(summary), params, log_likelihood, gradient, time.perf_counter() - started)
    result.model = model
    _judge(result, fit_config["max_gradient_per_customer"])
    return result


def spend_fit_data(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers Gamma-Gamma is fitted on: repeat buyers whose mean repeat purchase value is positive
    (a purchase day cancelled out by returns leaves no spend to model)."""
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    return repeat[["customer_id", "frequency", "monetary_value"]]


def fit_gamma_gamma(summary: pd.DataFrame, fit_config: dict[str, Any]) -> FitResult:
    """Gamma-Gamma on the repeat buyers' number of repeat purchases and mean repeat purchase value."""
    from pymc_marketing.clv import GammaGammaModel

    data = spend_fit_data(summary)
    started = time.perf_counter()
    model = GammaGammaModel(model_config=_flat_priors(GAMMA_GAMMA_PARAMS))
    _fit(model, data, fit_config["maxeval"])
    params = _fitted(model, GAMMA_GAMMA_PARAMS)
    log_likelihood, gradient = _log_likelihood_and_gradient(model, params)
    result = FitResult("gamma_gamma", len(data), params, log_likelihood, gradient, time.perf_counter() - started)
    result.model = model
    _judge(result, fit_config["max_gradient_per_customer"])
    return result
