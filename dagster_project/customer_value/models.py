"""The two fits: BG/NBD (purchases and dropout) and Gamma-Gamma (spend per purchase), both by pymc-marketing
with flat priors (`HalfFlat`) fitted by MAP, which is maximum likelihood: the estimates of the published
CDNOW tables (Fader, Hardie & Lee 2005; Fader & Hardie 2013).

A fit is converged when every parameter is finite and positive and the point is a maximum one more Newton
step would not improve: the Hessian of the log-likelihood (in the log-parameters the optimiser moves) is
negative definite and that step would add at most `max_newton_gain` to the log-likelihood (the Newton
decrement / 2, the usual stopping rule of Newton's method; it does not grow with the data, unlike a bound
on the gradient, and a flat ridge of near-equivalent parameters does not fail it).
pymc's find_MAP does not report whether the optimiser stopped at an optimum (it returns the last point when
it runs out of evaluations), so the test is made on the result, after at most `newton_steps` Newton steps
from that point (`_polish`).
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
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


_KEPT = "_s2s_compiled"  # where a pymc model keeps the functions its MAP fit compiled


def _value_names(pm_model: Any, variables: Any) -> tuple[str, ...]:
    """The value variables a gradient is taken by, in order, as compile_dlogp reads `variables`."""
    if variables is None:
        return tuple(v.name for v in pm_model.continuous_value_vars)
    variables = variables if isinstance(variables, list | tuple) else [variables]
    return tuple((pm_model.rvs_to_values[v] if v in pm_model.rvs_to_values else v).name for v in variables)


@contextmanager
def _compiled_functions_kept() -> Iterator[None]:
    """While pymc's find_MAP runs, keep the log posterior and gradient it compiles on its model.

    The polish and the judgement need the same two functions (no Jacobian, every parameter), and
    compiling a function is mostly pytensor's graph rewriting: ~0.3-0.9 s each, ~1.8 s of a ~6 s fit of
    a small company's forecast and holdout, whatever the data's size. The functions kept are the
    library's own, called with the same arguments, so the fits are unchanged to the last bit."""
    import pymc as pm

    compile_logp, compile_dlogp = pm.Model.compile_logp, pm.Model.compile_dlogp

    # pymc's own signatures (`vars`, `sum` included): callers pass arguments as to the library's
    def keep_logp(self, vars=None, jacobian=True, sum=True, **compile_kwargs):
        function = compile_logp(self, vars=vars, jacobian=jacobian, sum=sum, **compile_kwargs)
        if vars is None and sum and not compile_kwargs:
            self.__dict__.setdefault(_KEPT, {})[("logp", jacobian)] = function
        return function

    def keep_dlogp(self, vars=None, jacobian=True, **compile_kwargs):
        function = compile_dlogp(self, vars=vars, jacobian=jacobian, **compile_kwargs)
        if not compile_kwargs:
            self.__dict__.setdefault(_KEPT, {})[("dlogp", jacobian, _value_names(self, vars))] = function
        return function

    pm.Model.compile_logp, pm.Model.compile_dlogp = keep_logp, keep_dlogp
    try:
        yield
    finally:
        pm.Model.compile_logp, pm.Model.compile_dlogp = compile_logp, compile_dlogp


def _data_as_shared(pm_model: Any, rows: int) -> Any:
    """The same model with its data held in shared variables rather than constants.

    pymc-marketing builds the data columns (BG/NBD's recency, frequency and T, Gamma-Gamma's frequency
    and mean spend) into the model as constants, and pytensor's cache of compiled C code is keyed by
    the graph, constants' values included: every new purchase history (every day in production) compiled
    9-14 C modules again, 3-8 s of a small company's fit. As shared variables of unfixed length, the
    data are inputs of the compiled code, which a later history reuses. The arrays replaced are those
    with one entry per row of the fitted data. The graph is rebuilt over them, as pymc's own
    `freeze_dims_and_data` does the other way round, so that no node keeps the old fixed length (which
    Gamma-Gamma's gradient would fold in as a number); pymc's `model_from_fgraph` then makes the model,
    with its variables, transforms and coordinates. It lists the free variables as it meets them in the
    graph (BG/NBD's alpha, r, b, a; the library declares alpha, a, b, r): the optimiser's coordinates
    are permuted, and parameters are stored by name (DECISIONLOG)."""
    import pytensor
    from pymc.model.fgraph import fgraph_from_model, model_from_fgraph
    from pytensor.graph import FunctionGraph
    from pytensor.tensor.variable import TensorConstant

    fgraph, _ = fgraph_from_model(pm_model)
    data = list(  # in the graph's order, so that the shared variables' names are the same every run
        dict.fromkeys(
            v
            for node in fgraph.toposort()
            for v in node.inputs
            if isinstance(v, TensorConstant) and v.ndim > 0 and v.data.shape[0] == rows
        )
    )
    replace = {
        constant: pytensor.shared(constant.data, name=f"s2s_data_{number}", shape=(None,) * constant.ndim)
        for number, constant in enumerate(data)
    }
    outputs = pytensor.clone_replace(fgraph.outputs, replace=replace, rebuild_strict=False)
    for old, new in zip(fgraph.outputs, outputs, strict=True):
        new.name = old.name
    rebuilt = FunctionGraph(outputs=outputs, clone=False)
    rebuilt._coords, rebuilt._dim_lengths = fgraph._coords, fgraph._dim_lengths  # as freeze_dims_and_data
    return model_from_fgraph(rebuilt, mutate_fgraph=True)


class SharedDataWarning(RuntimeWarning):
    """The fit runs on the library's model as built: its data could not be made shared variables."""


def _fit(model: Any, data: pd.DataFrame, maxeval: int) -> None:
    """MAP fit of the model on `data`, its data as shared variables (`_data_as_shared`). The rewrite only
    saves compiling: if it or the fit on it fails (a pymc whose graph internals differ: the rewrite
    reads two attributes pymc's own `freeze_dims_and_data` uses), the library's model as built is
    fitted, as before the rewrite, with a SharedDataWarning; that fit's own failure is raised."""
    with warnings.catch_warnings(), _compiled_functions_kept():
        warnings.simplefilter("ignore", category=UserWarning)
        model.build_model(data)
        try:
            model.model = _data_as_shared(model.model, len(data))
            model.fit(method="map", progressbar=False, maxeval=maxeval)  # the model built above, no data again
            return
        except Exception as exc:  # noqa: BLE001 - an optimisation: the library's own model fits the same
            warnings.warn(
                f"customer value fit: data kept as constants ({exc!r}); each new history compiles",
                SharedDataWarning,
                stacklevel=2,
            )
        model.fit(data=data, method="map", progressbar=False, maxeval=maxeval)


def _to_point(pm_model: Any, params: dict[str, float]) -> dict[str, np.ndarray]:
    """The parameters in the optimiser's coordinates (the log of each positive parameter)."""
    point = {}
    for value_var in pm_model.value_vars:
        rv = pm_model.values_to_rvs[value_var]
        transform = pm_model.rvs_to_transforms.get(rv)
        value = np.asarray(params[rv.name], dtype=float)
        point[value_var.name] = transform.forward(value).eval() if transform is not None else value
    return point


def _to_params(pm_model: Any, point: dict[str, np.ndarray]) -> dict[str, float]:
    params = {}
    for value_var in pm_model.value_vars:
        rv = pm_model.values_to_rvs[value_var]
        transform = pm_model.rvs_to_transforms.get(rv)
        value = point[value_var.name]
        params[rv.name] = float(transform.backward(value).eval() if transform is not None else value)
    return params


def _gradient_and_hessian(pm_model: Any, dlogp: Any, point: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The gradient, and the Hessian by central differences of the gradient, in the optimiser's coordinates."""
    gradient = np.asarray(dlogp(point), dtype=float)
    h = 1e-5
    names = [v.name for v in pm_model.value_vars]
    hessian = np.empty((len(names), len(names)))
    for i, name in enumerate(names):
        up, down = dict(point), dict(point)
        up[name], down[name] = point[name] + h, point[name] - h
        hessian[:, i] = (np.asarray(dlogp(up), dtype=float) - np.asarray(dlogp(down), dtype=float)) / (2 * h)
    return gradient, (hessian + hessian.T) / 2


def _newton_step(
    gradient: np.ndarray, hessian: np.ndarray, min_curvature_ratio: float
) -> tuple[np.ndarray | None, float]:
    """(-H)^-1 g, the step to the maximum of the local quadratic, and the log-likelihood it would add,
    g' (-H)^-1 g / 2; (None, inf) where the Hessian is not negative definite (not near a maximum).
    An eigenvalue within `min_curvature_ratio` of the largest one's size counts as zero: the Hessian is
    taken by finite differences, and on a direction where the log-likelihood is flat to that precision
    (a parameter the data cannot pin down) the sign of its eigenvalue is noise."""
    if not np.all(np.isfinite(hessian)):
        return None, float("inf")
    eigenvalues = np.linalg.eigvalsh(hessian)
    if np.max(eigenvalues) >= -min_curvature_ratio * np.max(np.abs(eigenvalues)):
        return None, float("inf")
    step = np.linalg.solve(-hessian, gradient)
    return step, float(gradient @ step) / 2


def _compiled(model: Any) -> tuple[Any, Any]:
    """The model's log posterior and its gradient (no Jacobian), for the polish and the judgement: those
    find_MAP compiled (`_compiled_functions_kept`), else compiled here, once for both."""
    pm_model = model.model
    kept = pm_model.__dict__.get(_KEPT, {})
    logp = kept.get(("logp", False))
    dlogp = kept.get(("dlogp", False, _value_names(pm_model, None)))
    if logp is None:
        logp = pm_model.compile_logp(jacobian=False)
    if dlogp is None:
        dlogp = pm_model.compile_dlogp(jacobian=False)
    return logp, dlogp


def _log_likelihood_and_newton_gain(
    model: Any, params: dict[str, float], compiled: tuple[Any, Any], min_curvature_ratio: float
) -> tuple[float, float, float]:
    """At the fitted parameters, in the optimiser's coordinates (log of each parameter): the log posterior
    (= log-likelihood under flat priors), the largest |gradient|, and the log-likelihood one more Newton
    step would add (inf when the Hessian, taken by central differences of the gradient, is not negative
    definite, i.e. the point is not a maximum)."""
    pm_model = model.model
    logp, dlogp = compiled
    point = _to_point(pm_model, params)
    log_likelihood = float(logp(point))
    gradient, hessian = _gradient_and_hessian(pm_model, dlogp, point)
    _, gain = _newton_step(gradient, hessian, min_curvature_ratio)
    return log_likelihood, float(np.max(np.abs(gradient))), gain


def _polish(
    model: Any, names: tuple[str, ...], fit_config: dict[str, Any], compiled: tuple[Any, Any]
) -> dict[str, float]:
    """Newton steps from where find_MAP stopped, while one more would add over `max_newton_gain` and at most
    `newton_steps` of them; a step that would lower the log-likelihood is halved. L-BFGS stops on a small
    relative change of the objective, which on a large company (a sum over 100k customers) can leave it on a
    flat ridge short of the optimum (scale 30: 0.04 of log-likelihood to gain); Newton's method, with the
    exact gradient, finishes there in a few steps. Far from a maximum (the Hessian not negative definite)
    nothing is done, and the judgement reports it. The fitted parameters are written back to the model."""
    pm_model = model.model
    logp, dlogp = compiled
    point = _to_point(pm_model, _fitted(model, names))
    order = [v.name for v in pm_model.value_vars]
    for _ in range(int(fit_config["newton_steps"])):
        step, gain = _newton_step(*_gradient_and_hessian(pm_model, dlogp, point), fit_config["min_curvature_ratio"])
        if step is None or gain <= fit_config["max_newton_gain"]:
            break
        current, scale = float(logp(point)), 1.0
        while scale >= 1 / 64:
            trial = {name: point[name] + scale * step[i] for i, name in enumerate(order)}
            if float(logp(trial)) >= current:
                point = trial
                break
            scale /= 2
        else:
            break
    params = _to_params(pm_model, point)
    for name in names:
        model.idata.posterior[name].values[...] = params[name]
    return params


def _judge(result: FitResult, max_newton_gain: float) -> None:
    for name, value in result.params.items():
        if not np.isfinite(value) or value <= 0:
            result.problems.append(f"{result.model_name} parameter {name} = {value} is not a positive number")
    if not np.isfinite(result.log_likelihood):
        result.problems.append(f"{result.model_name} log-likelihood is {result.log_likelihood}")
    if np.isinf(result.newton_gain):
        # Not near any maximum: typically a parameter running off to 0 or to a huge value, which no
        # finite estimate fits (BG/NBD on a history where no customer seems to stop buying); the
        # fitted values show which one.
        fitted = ", ".join(f"{name} = {value:.3g}" for name, value in result.params.items())
        result.problems.append(
            f"{result.model_name} stopped away from an optimum: the log-likelihood has no maximum there "
            f"that the data pin down (the Hessian is not negative definite, or flat in a direction to the "
            f"precision of its finite differences: fit.min_curvature_ratio) at {fitted}. A parameter near 0 "
            f"or very large cannot be estimated from this history (for BG/NBD, e.g. one in which no customer seems "
            f"to stop buying); |gradient| {result.max_abs_gradient:.3g}"
        )
    elif not result.newton_gain <= max_newton_gain:
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
    compiled = _compiled(model)
    params = _polish(model, BG_NBD_PARAMS, fit_config, compiled)
    log_likelihood, gradient, gain = _log_likelihood_and_newton_gain(
        model, params, compiled, fit_config["min_curvature_ratio"]
    )
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
    compiled = _compiled(model)
    params = _polish(model, GAMMA_GAMMA_PARAMS, fit_config, compiled)
    log_likelihood, gradient, gain = _log_likelihood_and_newton_gain(
        model, params, compiled, fit_config["min_curvature_ratio"]
    )
    result = FitResult("gamma_gamma", len(data), params, log_likelihood, gradient, gain, time.perf_counter() - started)
    result.model = model
    _judge(result, fit_config["max_newton_gain"])
    return result
