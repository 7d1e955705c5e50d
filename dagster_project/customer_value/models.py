"""The two fits: BG/NBD (purchases and dropout) and Gamma-Gamma (spend per purchase), both by pymc-marketing
with flat priors (`HalfFlat`) fitted by MAP, which is maximum likelihood: the estimates of the published
CDNOW tables (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

A fit is converged when every parameter is finite and positive and the point is a maximum one more Newton
step would not improve: the Hessian of the log-likelihood (in the log-parameters the optimiser moves) is
negative definite and that step would add at most `max_newton_gain` to the log-likelihood (the Newton
decrement / 2, the usual stopping rule of Newton's method; it does not grow with the data, unlike a bound
on the gradient, and a flat ridge of near-equivalent parameters does not fail it).
pymc's find_MAP does not report whether the optimiser stopped at an optimum (it returns the last point when
it runs out of evaluations), so the test is made on the result.
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
    newton_gain: float  # log-likelihood one more Newton step would add (Newton decrement / 2)
    seconds: float
    problems: list[str] = field(default_factory=list)
    model: Any = None  # the fitted pymc-marketing model

    @property
    def converged(self) -> bool:
        return not self.problems


def use_compile_dir(folder: Path) -> None:
    """Keep pytensor's compiled C code in `folder` (kept between runs and deployments), unless
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


def _log_likelihood_and_newton_gain(model: Any, params: dict[str, float]) -> tuple[float, float, float]:
    """At the fitted parameters, in the optimiser's coordinates (log of each parameter): the log posterior
    (= log-likelihood under flat priors), the largest |gradient|, and the log-likelihood one more Newton
    step would add, g' (-H)^-1 g / 2 (inf when the Hessian, taken by central differences of the gradient,
    is not negative definite, i.e. the point is not a maximum)."""
    pm_model = model.model
    point = {}
    for value_var in pm_model.value_vars:
        rv = pm_model.values_to_rvs[value_var]
        transform = pm_model.rvs_to_transforms.get(rv)
        value = np.asarray(params[rv.name], dtype=float)
        point[value_var.name] = transform.forward(value).eval() if transform is not None else value
    log_likelihood = float(pm_model.compile_logp(jacobian=False)(point))
    dlogp = pm_model.compile_dlogp(jacobian=False)
    names = [v.name for v in pm_model.value_vars]
    gradient = np.asarray(dlogp(point), dtype=float)
    h = 1e-5
    hessian = np.empty((len(names), len(names)))
    for i, name in enumerate(names):
        up, down = dict(point), dict(point)
        up[name], down[name] = point[name] + h, point[name] - h
        hessian[:, i] = (np.asarray(dlogp(up), dtype=float) - np.asarray(dlogp(down), dtype=float)) / (2 * h)
    hessian = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(hessian)) or np.max(np.linalg.eigvalsh(hessian)) >= 0:
        return log_likelihood, float(np.max(np.abs(gradient))), float("inf")
    gain = float(gradient @ np.linalg.solve(-hessian, gradient)) / 2
    return log_likelihood, float(np.max(np.abs(gradient))), gain


def _judge(result: FitResult, max_newton_gain: float) -> None:
    for name, value in result.params.items():
        if not np.isfinite(value) or value <= 0:
            result.problems.append(f"{result.model_name} parameter {name} = {value} is not a positive number")
    if not np.isfinite(result.log_likelihood):
        result.problems.append(f"{result.model_name} log-likelihood is {result.log_likelihood}")
    if not result.newton_gain <= max_newton_gain:
        result.problems.append(
            f"{result.model_name} stopped away from an optimum: one more Newton step would add "
            f"{result.newton_gain:.3g} to the log-likelihood (allowed {max_newton_gain:g}); "
            f"|gradient| {result.max_abs_gradient:.3g}"
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
    log_likelihood, gradient, gain = _log_likelihood_and_newton_gain(model, params)
    result = FitResult("bg_nbd", len(summary), params, log_likelihood, gradient, gain, time.perf_counter() - started)
    result.model = model
    _judge(result, fit_config["max_newton_gain"])
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
    log_likelihood, gradient, gain = _log_likelihood_and_newton_gain(model, params)
    result = FitResult("gamma_gamma", len(data), params, log_likelihood, gradient, gain, time.perf_counter() - started)
    result.model = model
    _judge(result, fit_config["max_newton_gain"])
    return result
