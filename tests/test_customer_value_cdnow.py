"""The customer value step reproduces the published CDNOW estimates from the CDNOW sample's transactions.

Published (calibration period to 1997-09-30, 2,357 customers, time in weeks):
- BG/NBD, Fader, Hardie & Lee (2005), Table / section 5: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426,
  log-likelihood = -9582.4.
- Gamma-Gamma, Fader & Hardie (2013), on the 946 repeat buyers: p = 6.25, q = 3.74, gamma = 15.44.
The step works in days: alpha in weeks = alpha in days / 7, and the log-likelihood in days is the one in
weeks minus ln(7) x the total repeat purchases (each repeat purchase's density scales by 1/7).
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from dagster_project.customer_value.config import customer_value_config
from dagster_project.customer_value.history import summarize
from dagster_project.customer_value.models import fit_bg_nbd, fit_gamma_gamma, spend_fit_data

CDNOW = Path(__file__).parent / "data" / "cdnow" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)


def significant(value: float, digits: int = 3) -> float:
    return float(f"{value:.{digits}g}")


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    raw = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["full_id", "customer_id", "date", "cds", "value"],
        dtype={"date": str},
    )
    purchases = pd.DataFrame(
        {
            "customer_id": raw["customer_id"],
            "purchase_date": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "purchase_value": raw["value"],
        }
    )
    calibration = purchases[purchases["purchase_date"] <= pd.Timestamp(CALIBRATION_END)]
    return summarize(calibration, CALIBRATION_END)


def test_summary_has_the_published_counts(cdnow_summary: pd.DataFrame) -> None:
    # 2,357 customers, 2,457 repeat purchases in calibration, 946 repeat buyers (Fader & Hardie 2013);
    # customer 1: x = 2, t_x = 30.43 weeks, T = 38.86 weeks (the published summary's first row).
    assert len(cdnow_summary) == 2357
    assert cdnow_summary["frequency"].sum() == 2457
    assert (cdnow_summary["frequency"] > 0).sum() == 946
    first = cdnow_summary.set_index("customer_id").loc[1]
    assert (first["frequency"], round(first["recency"] / 7, 2), round(first["T"] / 7, 2)) == (2, 30.43, 38.86)
    # zbar: mean of the repeat purchases 1997-01-18 (29.73) and 1997-08-02 (14.96); the first is excluded
    assert first["monetary_value"] == pytest.approx((29.73 + 14.96) / 2, abs=1e-9)


def test_bg_nbd_reproduces_the_published_parameters(cdnow_summary: pd.DataFrame) -> None:
    fit = fit_bg_nbd(cdnow_summary, customer_value_config()["fit"])
    assert fit.converged, fit.problems
    weeks = {**fit.params, "alpha": fit.params["alpha"] / 7}
    assert {k: significant(v) for k, v in weeks.items()} == {"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43}
    log_likelihood_weeks = fit.log_likelihood + math.log(7) * 2457
    assert round(log_likelihood_weeks, 1) == -9582.4


def test_gamma_gamma_reproduces_the_published_parameters(cdnow_summary: pd.DataFrame) -> None:
    assert len(spend_fit_data(cdnow_summary)) == 946
    fit = fit_gamma_gamma(cdnow_summary, customer_value_config()["fit"])
    assert fit.converged, fit.problems
    assert {k: significant(v) for k, v in fit.params.items()} == {"p": 6.25, "q": 3.74, "v": 15.4}


def test_a_fit_stopped_early_is_not_converged(cdnow_summary: pd.DataFrame) -> None:
    """Three evaluations of the log posterior leave the optimiser far from the optimum: the step must say
    so (a blocking check), never report those parameters as a fit."""
    fit = fit_bg_nbd(cdnow_summary, {**customer_value_config()["fit"], "maxeval": 3})
    assert not fit.converged
    assert "stopped away from an optimum" in fit.problems[0]


def test_newton_steps_finish_a_fit_the_optimiser_left_short_of_the_optimum(cdnow_summary: pd.DataFrame) -> None:
    """Ten evaluations leave L-BFGS-B near the optimum but short of it (0.88 of log-likelihood to gain, as a
    large company's flat ridge did at scale 30); Newton steps from there reach the published estimates.
    With no Newton step allowed, the same fit is reported as not converged."""
    config = customer_value_config()["fit"]
    short = fit_bg_nbd(cdnow_summary, {**config, "maxeval": 10, "newton_steps": 0})
    assert not short.converged and short.newton_gain > 0.1
    fit = fit_bg_nbd(cdnow_summary, {**config, "maxeval": 10})
    assert fit.converged, fit.problems
    weeks = {**fit.params, "alpha": fit.params["alpha"] / 7}
    assert {k: significant(v) for k, v in weeks.items()} == {"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43}
    # the model predicts with the polished parameters, not the optimiser's last point
    assert float(fit.model.idata.posterior["a"].values.squeeze()) == fit.params["a"]


def test_the_polish_reuses_the_functions_find_map_compiled_and_fits_the_same(cdnow_summary, monkeypatch) -> None:
    """find_MAP compiles the log posterior and its gradient; the polish and the judgement take those two
    (customer_value/models.py `_compiled_functions_kept`) instead of compiling them again, and every figure
    of the fit is the same, to the last bit, as with functions compiled anew."""
    import contextlib

    import pymc as pm

    from dagster_project.customer_value import models

    compiled = []
    compile_fn = pm.Model.compile_fn

    def counting(self, *args, **kwargs):
        compiled.append(kwargs.get("outs", args[0] if args else None))
        return compile_fn(self, *args, **kwargs)

    monkeypatch.setattr(pm.Model, "compile_fn", counting)
    library_methods = (pm.Model.compile_logp, pm.Model.compile_dlogp)
    config = customer_value_config()["fit"]
    kept = fit_bg_nbd(cdnow_summary, config)
    compiled_by_the_fit = len(compiled)
    compiled.clear()
    logp, dlogp = models._compiled(kept.model)  # what the polish and the judgement took
    assert compiled == []  # find_MAP's two functions, kept on the model: nothing compiled again
    assert {id(logp), id(dlogp)} <= {id(f) for f in kept.model.model.__dict__[models._KEPT].values()}
    assert (pm.Model.compile_logp, pm.Model.compile_dlogp) == library_methods  # put back after the fit

    compiled.clear()
    monkeypatch.setattr(models, "_compiled_functions_kept", contextlib.nullcontext)
    anew = fit_bg_nbd(cdnow_summary, config)
    assert len(compiled) == compiled_by_the_fit + 2  # without them, the polish compiles its own two
    assert kept.converged and anew.converged
    assert kept.params == anew.params
    assert (kept.log_likelihood, kept.max_abs_gradient, kept.newton_gain) == (
        anew.log_likelihood,
        anew.max_abs_gradient,
        anew.newton_gain,
    )


def test_a_purchase_history_never_fitted_before_compiles_no_code(cdnow_summary, monkeypatch) -> None:
    """pytensor keeps the C code it compiles in a cache keyed by the graph, constants' values included.
    With the data as shared variables (customer_value/models.py `_data_as_shared`), a history never
    fitted before (each day's, in production) runs on the code compiled for an earlier one; with the data
    as constants, as pymc-marketing builds the models, the same history compiles again (the control that
    shows the count sees compiles)."""
    import uuid

    import pytensor.link.c.cmodule as cmodule

    from dagster_project.customer_value import models

    compiled: list[str] = []
    compile_str = cmodule.GCC_compiler.compile_str

    def counting(module_name, src_code, *args, **kwargs):
        compiled.append(module_name)
        return compile_str(module_name, src_code, *args, **kwargs)

    monkeypatch.setattr(cmodule.GCC_compiler, "compile_str", staticmethod(counting))
    config = customer_value_config()["fit"]

    def compiles_to_fit(summary: pd.DataFrame) -> int:
        compiled.clear()
        fits = fit_bg_nbd(summary, config), fit_gamma_gamma(summary, config)
        assert all(fit.converged for fit in fits), [fit.problems for fit in fits]
        return len(compiled)

    def never_seen() -> pd.DataFrame:
        """Fewer customers, and every T moved by a fraction of a day drawn at random: values no run
        on this machine has compiled for."""
        draw = uuid.uuid4().int
        return cdnow_summary.iloc[1 + draw % 100 :].assign(T=lambda s: s["T"] + (1 + draw % 10**6) / 10**7)

    compiles_to_fit(cdnow_summary)  # the models' code, compiled now or found in the cache
    assert compiles_to_fit(never_seen()) == 0
    monkeypatch.setattr(models, "_data_as_shared", lambda pm_model, rows: pm_model)
    assert compiles_to_fit(never_seen()) > 0


def test_newton_step_by_hand_and_a_curvature_too_small_to_tell() -> None:
    """H = diag(-2, -0.5), g = (1, 1): the step (-H)^-1 g = (0.5, 2) adds g'step / 2 = 1.25. An eigenvalue
    1e-9 of the largest's size, below min_curvature_ratio (1e-8), is the finite differences' noise: no
    maximum is claimed; one at 1e-7 is curvature (an ill-conditioned but real maximum)."""
    import numpy as np

    from dagster_project.customer_value.models import _newton_step

    ratio = customer_value_config()["fit"]["min_curvature_ratio"]
    assert ratio == 1e-8
    step, gain = _newton_step(np.array([1.0, 1.0]), np.diag([-2.0, -0.5]), ratio)
    assert step.tolist() == [0.5, 2.0] and gain == 1.25
    assert _newton_step(np.array([1.0, 1.0]), np.diag([-2.0, -2e-9]), ratio) == (None, float("inf"))
    step, gain = _newton_step(np.array([1.0, 1.0]), np.diag([-2.0, -2e-9]), 0.0)
    assert gain == pytest.approx(0.25 + 0.5 / 2e-9)
    step, gain = _newton_step(np.array([1e-7, 1e-7]), np.diag([-2.0, -2e-7]), ratio)
    assert gain == pytest.approx((1e-14 / 2 + 1e-14 / 2e-7) / 2)
    assert _newton_step(np.array([1.0, 1.0]), np.diag([-2.0, 3.0]), ratio) == (None, float("inf"))


@pytest.mark.parametrize("failure", ["the rewrite raises", "the fit on the rewritten model fails"])
def test_a_model_whose_data_cannot_be_made_shared_is_fitted_as_built(cdnow_summary, monkeypatch, failure) -> None:
    """The shared data only save compiling: if pymc's graph internals change under the rewrite, or the
    fit fails on the rewritten model, the library's model as built is fitted, with a SharedDataWarning,
    and gives the published estimates."""
    from dagster_project.customer_value import models

    def broken(pm_model, rows):
        if failure == "the rewrite raises":
            raise AttributeError("'FunctionGraph' object has no attribute '_coords'")
        return object()  # no model: find_MAP fails on it

    monkeypatch.setattr(models, "_data_as_shared", broken)
    with pytest.warns(models.SharedDataWarning, match="data kept as constants"):
        fit = fit_bg_nbd(cdnow_summary, customer_value_config()["fit"])
    assert fit.converged, fit.problems
    weeks = {**fit.params, "alpha": fit.params["alpha"] / 7}
    assert {k: significant(v) for k, v in weeks.items()} == {"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43}
