"""Scoring against the closed-form formulas, on a hand-computable fixture.

BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"):
  P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))   (FHL 2008 note)
  E[Y(t) | x, t_x, T] = (a + b + x - 1) / (a - 1) x [1 - ((alpha + T) / (alpha + T + t))^(r + x)
                        x 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]
                        / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))      (eq. 10)
Gamma-Gamma (Fader & Hardie 2013): E[Z | x, m] = p (v + x m) / (p x + q - 1); population mean p v / (q - 1).

Parameters r = 1, alpha = 10, a = 2, b = 2 make the x = 0 case elementary:
2F1(1, 2; 3; z) = 2 (-ln(1 - z) - z) / z^2. (With b = 1 exactly, pymc-marketing 0.19.2 returns NaN for x = 0:
it multiplies [x > 0] = 0 by a / (b + x - 1) = a / 0.)
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from dagster_project.customer_value.models import FitResult
from dagster_project.customer_value.scoring import monthly_rate, score_customers

R, ALPHA, A, B = 1.0, 10.0, 2.0, 2.0
P, Q, V = 6.0, 4.0, 15.0


def fitted(model_class, params: dict[str, float], data: pd.DataFrame, name: str) -> FitResult:
    """A pymc-marketing model carrying the given parameters as its (MAP) posterior."""
    import arviz as az

    model = model_class()
    model.build_model(data)
    model.idata = az.from_dict(posterior={k: np.array([[v]]) for k, v in params.items()})
    return FitResult(name, len(data), params, float("nan"), 0.0, 0.0, 0.0, model=model)


def expected_purchases(x: float, t_x: float, T: float, t: float) -> float:
    """FHL 2005 eq. 10, written out."""
    bracket = 1 - ((ALPHA + T) / (ALPHA + T + t)) ** (R + x) * hyp2f1(R + x, B + x, A + B + x - 1, t / (ALPHA + T + t))
    denominator = 1 + (A / (B + x - 1) * ((ALPHA + T) / (ALPHA + t_x)) ** (R + x) if x > 0 else 0.0)
    return (A + B + x - 1) / (A - 1) * bracket / denominator


@pytest.fixture(scope="module")
def scores() -> pd.DataFrame:
    from pymc_marketing.clv import BetaGeoModel, GammaGammaModel

    summary = pd.DataFrame(
        {
            "customer_id": ["new", "loyal"],
            "frequency": [0.0, 2.0],
            "recency": [0.0, 20.0],
            "T": [30.0, 30.0],
            "monetary_value": [0.0, 20.0],
        }
    )
    bg = fitted(
        BetaGeoModel,
        {"r": R, "alpha": ALPHA, "a": A, "b": B},
        summary[["customer_id", "frequency", "recency", "T"]],
        "bg_nbd",
    )
    gg = fitted(GammaGammaModel, {"p": P, "q": Q, "v": V}, summary[summary["frequency"] > 0], "gamma_gamma")
    frame, population = score_customers(bg, gg, summary, annual_discount_rate=0.10, lifetime_horizon_months=24)
    assert population == {"gg_population_mean": 30.0, "gg_population_mean_source": "gamma_gamma"}  # 6 x 15 / 3
    return frame.set_index("account_id")


def test_probability_alive_by_hand(scores: pd.DataFrame) -> None:
    # new: x = 0 -> 1. loyal: 1 / (1 + 2 / (2 + 2 - 1) x (40 / 30)^3) = 1 / (1 + 128/81) = 81/209
    assert scores.loc["new", "probability_alive"] == 1.0
    assert scores.loc["loyal", "probability_alive"] == pytest.approx(81 / 209, rel=1e-12)


def test_expected_purchases_by_hand_and_by_the_formula(scores: pd.DataFrame) -> None:
    # new, t = 40: z = 40 / 80 = 1/2; 3 x [1 - (1/2) x 8 (ln 2 - 1/2)] = 9 - 12 ln 2 = 0.682234
    assert expected_purchases(0, 0, 30, 40) == pytest.approx(9 - 12 * math.log(2), rel=1e-12)
    for customer, (x, t_x) in {"new": (0, 0), "loyal": (2, 20)}.items():
        for horizon in (90, 365):
            assert scores.loc[customer, f"expected_purchases_{horizon}d"] == pytest.approx(
                expected_purchases(x, t_x, 30, horizon), rel=1e-10
            )
    # loyal, t = 90: 5 x [1 - (40/130)^3 x 2F1(3, 4; 5; 90/130)] x 81/209
    by_hand = 5 * (1 - (40 / 130) ** 3 * hyp2f1(3, 4, 5, 90 / 130)) * 81 / 209
    assert scores.loc["loyal", "expected_purchases_90d"] == pytest.approx(by_hand, rel=1e-10)


def test_expected_purchase_value_by_hand(scores: pd.DataFrame) -> None:
    # loyal: 6 x (15 + 2 x 20) / (6 x 2 + 4 - 1) = 330 / 15 = 22; new: population mean 6 x 15 / 3 = 30
    assert scores.loc["loyal", "expected_purchase_value"] == pytest.approx(22.0, rel=1e-12)
    assert scores.loc["new", "expected_purchase_value"] == pytest.approx(30.0, rel=1e-12)
    assert bool(scores.loc["loyal", "is_spend_from_own_history"]) and not bool(
        scores.loc["new", "is_spend_from_own_history"]
    )


def test_twelve_month_value_is_the_discounted_sum_of_monthly_purchases(scores: pd.DataFrame) -> None:
    # new (x = 0): E[Y(t)] = 3 [1 - (1 - z) 2 (-ln(1 - z) - z) / z^2], z = t / (40 + t); 30-day months, 10% a year
    def purchases_new(t: float) -> float:
        z = t / (40 + t)
        return 3 * (1 - (1 - z) * 2 * (-math.log(1 - z) - z) / z**2) if t else 0.0

    rate = 1.10 ** (1 / 12) - 1
    assert monthly_rate(0.10) == pytest.approx(rate)
    expected = sum(30 * (purchases_new(30 * m) - purchases_new(30 * (m - 1))) / (1 + rate) ** m for m in range(1, 13))
    assert scores.loc["new", "predicted_clv_12m"] == pytest.approx(expected, rel=1e-10)
    assert scores.loc["new", "predicted_clv_if_alive_12m"] == pytest.approx(expected, rel=1e-10)  # P(alive) = 1
    loyal = scores.loc["loyal"]
    assert loyal["predicted_clv_if_alive_12m"] == pytest.approx(loyal["predicted_clv_12m"] * 209 / 81, rel=1e-10)
    assert loyal["predicted_lifetime_value"] > loyal["predicted_clv_12m"]  # 24 months > 12


def test_with_q_at_most_one_the_observed_mean_of_repeat_buyers_stands_in() -> None:
    # q = 0.9: p v / (q - 1) is no mean (the spend distribution has none), so a customer without own
    # spend history gets the mean of the repeat buyers' mean spend: (20 + 50) / 2 = 35; a customer with
    # one purchase day and no repeat (frequency 0) is left out of that mean. Repeat buyers keep their
    # conditional mean p (v + x m) / (p x + q - 1): a = 6 (15 + 2 x 20) / (12 - 0.1) = 330 / 11.9;
    # b = 6 (15 + 1 x 50) / (6 - 0.1) = 390 / 5.9.
    from pymc_marketing.clv import GammaGammaModel

    from dagster_project.customer_value.scoring import expected_purchase_value

    summary = pd.DataFrame(
        {
            "customer_id": ["a", "b", "once"],
            "frequency": [2.0, 1.0, 0.0],
            "recency": [20.0, 10.0, 0.0],
            "T": [30.0, 30.0, 30.0],
            "monetary_value": [20.0, 50.0, 0.0],
        }
    )
    gg = fitted(GammaGammaModel, {"p": P, "q": 0.9, "v": V}, summary[summary["frequency"] > 0], "gamma_gamma")
    value, individual, population_mean, source = expected_purchase_value(gg, summary)
    assert (population_mean, source) == (35.0, "observed_repeat_buyers")
    assert list(individual) == [True, True, False]
    assert value == pytest.approx([330 / 11.9, 390 / 5.9, 35.0], rel=1e-12)


def test_discounted_values_equal_the_library_s_customer_lifetime_value(monkeypatch) -> None:
    """discounted_values evaluates every month in blocks of customers (ROWS_PER_CALL); its figures are
    those of pymc_marketing.clv.customer_lifetime_value, which calls the model once per month."""
    from pymc_marketing.clv import BetaGeoModel
    from pymc_marketing.clv.utils import customer_lifetime_value

    from dagster_project.customer_value import scoring

    summary = pd.DataFrame(
        {
            "customer_id": [f"C{i}" for i in range(7)],
            "frequency": [0.0, 2.0, 1.0, 5.0, 0.0, 3.0, 9.0],
            "recency": [0.0, 20.0, 3.0, 200.0, 0.0, 40.0, 350.0],
            "T": [30.0, 30.0, 90.0, 400.0, 5.0, 41.0, 365.0],
        }
    )
    bg = fitted(BetaGeoModel, {"r": R, "alpha": ALPHA, "a": A, "b": B}, summary, "bg_nbd")
    value = np.array([30.0, 26.5, 12.0, 80.0, 30.0, 1.0, 400.0])
    monkeypatch.setattr(scoring, "ROWS_PER_CALL", 3 * 24)  # blocks of 3 customers: 3 calls
    twelve, twenty_four = scoring.discounted_values(bg, summary, value, [12, 24], annual_rate=0.10)
    for months, ours in ((12, twelve), (24, twenty_four)):
        library = customer_lifetime_value(
            bg.model,
            summary.assign(future_spend=value),
            future_t=months,
            discount_rate=monthly_rate(0.10),
            time_unit="D",
        )
        assert ours == pytest.approx(np.asarray(library.values, dtype=float).reshape(-1), rel=1e-12)
    assert (twenty_four > twelve).all()
