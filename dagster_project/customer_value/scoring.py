"""Per-customer predictions from a converged BG/NBD + Gamma-Gamma pair (pymc-marketing's formulas).

- probability_alive: P(alive | frequency, recency, T) (Fader, Hardie & Lee 2008 note, eq. on p. 2).
- expected_purchases_90d / _365d: E[Y(t) | frequency, recency, T], t = 90 / 365 days (FHL 2005, eq. 10).
- probability_no_purchase_365d: P(no purchase day in (T, T + 365]) (Hardie's notes, eq. 34).
- expected_purchase_value: Gamma-Gamma E[value of a purchase day] (Fader & Hardie 2013, eq. 5) for repeat
  buyers with a positive mean repeat value; the population mean p v / (q - 1) for every other customer
  (when q <= 1 that mean does not exist: the observed mean of all repeat purchase days, see
  population_mean_value).
- predicted_clv_12m: sum over months m = 1..12 (30 days each, the library's month) of
  expected_purchase_value x (E[Y(30 m)] - E[Y(30 (m - 1))]) / (1 + monthly rate) ** m, monthly rate =
  (1 + annual_discount_rate) ** (1 / 12) - 1 (pymc_marketing.clv.customer_lifetime_value's sum; see
  discounted_values).
- predicted_clv_if_alive_12m: predicted_clv_12m / probability_alive, the value at stake should the customer
  still be active (BG/NBD's E[Y(t)] is P(alive) x the purchases of a customer known to be alive).
- predicted_lifetime_value: as predicted_clv_12m over `lifetime_horizon_months`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dagster_project.customer_value.models import FitResult

SHORT_HORIZON_DAYS = 90
LONG_HORIZON_DAYS = 365
CLV_HORIZON_MONTHS = 12


def monthly_rate(annual_discount_rate: float) -> float:
    return (1 + annual_discount_rate) ** (1 / 12) - 1


def _values(array) -> np.ndarray:
    """A MAP prediction (chain 1 x draw 1 x customers) as a plain vector."""
    return np.asarray(array.values, dtype=float).reshape(-1)


def population_mean_value(spend: FitResult, summary: pd.DataFrame) -> tuple[float, str]:
    """Mean value of a purchase day for a customer without spend history of their own: Gamma-Gamma's
    p v / (q - 1) when q > 1; when q <= 1 the fitted spend distribution has no finite mean (very uneven
    customers, as in B2B), so the observed average over the repeat buyers of their mean repeat purchase
    value stands in (the same quantity: Gamma-Gamma's population mean is the mean over customers of a
    customer's mean spend)."""
    p, q, v = (spend.params[k] for k in ("p", "q", "v"))
    if q > 1:
        return p * v / (q - 1), "gamma_gamma"
    repeat = summary[(summary["frequency"] > 0) & (summary["monetary_value"] > 0)]
    return float(repeat["monetary_value"].mean()), "observed_repeat_buyers"


def expected_purchase_value(spend: FitResult, summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Expected value of a purchase day; whether the customer's own history entered it (Gamma-Gamma's
    conditional mean (p (v + x m)) / (p x + q - 1) for a repeat buyer with a positive mean m); and the
    population mean given to everyone else, with its source."""
    individual = ((summary["frequency"] > 0) & (summary["monetary_value"] > 0)).to_numpy()
    population_mean, source = population_mean_value(spend, summary)
    own = _values(spend.model.expected_customer_spend(data=summary[individual]))
    value = np.full(len(summary), population_mean)
    value[individual] = own
    return value, individual, population_mean, source


# customers x months evaluated per call of the model's E[Y(t)]: bounds the memory of discounted_values
ROWS_PER_CALL = 1_000_000


def discounted_values(
    purchases: FitResult, summary: pd.DataFrame, purchase_value: np.ndarray, horizons: list[int], annual_rate: float
) -> list[np.ndarray]:
    """pymc_marketing.clv.customer_lifetime_value for each horizon (months), from the same model and
    the same sum: value x (E[Y(30 m)] - E[Y(30 (m - 1))]) / (1 + monthly rate) ** m over m = 1..horizon.
    The library calls the model's E[Y(t)] once per month and customer set (120 calls for ten years,
    ~7 s for 36 k customers); here each call takes a block of customers at every month of the longest
    horizon (one row per customer and month, t = 30 m), and the months are summed with numpy."""
    months = max(horizons)
    rfm = summary[["frequency", "recency", "T"]].reset_index(drop=True)
    discount = (1 + monthly_rate(annual_rate)) ** -np.arange(1, months + 1, dtype=float)
    block = max(1, ROWS_PER_CALL // months)
    totals: list[list[np.ndarray]] = [[] for _ in horizons]
    for start in range(0, len(rfm), block):
        part = rfm.iloc[start : start + block]
        rows = part.loc[part.index.repeat(months)].reset_index(drop=True)
        rows.insert(0, "customer_id", np.arange(len(rows)))  # unique per (customer, month): kept in order
        t = np.tile(30.0 * np.arange(1, months + 1), len(part))
        cumulative = _values(purchases.model.expected_purchases(data=rows, future_t=t)).reshape(len(part), months)
        per_month = np.diff(cumulative, axis=1, prepend=0.0)
        for total, horizon in zip(totals, horizons, strict=True):
            total.append((per_month[:, :horizon] * discount[:horizon]).sum(axis=1))
    return [purchase_value * np.concatenate(t) if t else np.zeros(0) for t in totals]


def score_customers(
    purchases: FitResult,
    spend: FitResult,
    summary: pd.DataFrame,
    annual_discount_rate: float,
    lifetime_horizon_months: int,
) -> tuple[pd.DataFrame, dict[str, float | str]]:
    """One row per customer of `summary` (the inputs in days and every prediction above), and the
    population mean value of a purchase day with its source."""
    bg = purchases.model
    rfm = summary[["customer_id", "frequency", "recency", "T"]]
    probability_alive = _values(bg.expected_probability_alive(data=rfm))
    value, individual, population_mean, source = expected_purchase_value(spend, summary)
    clv_12m, lifetime_value = discounted_values(
        purchases, summary, value, [CLV_HORIZON_MONTHS, lifetime_horizon_months], annual_discount_rate
    )
    scores = pd.DataFrame(
        {
            "account_id": summary["customer_id"].to_numpy(),
            "repeat_purchases": summary["frequency"].astype("int64").to_numpy(),
            "recency_days": summary["recency"].astype("int64").to_numpy(),
            "age_days": summary["T"].astype("int64").to_numpy(),
            "mean_repeat_purchase_value": summary["monetary_value"].to_numpy(),
            "probability_alive": probability_alive,
            "expected_purchases_90d": _values(bg.expected_purchases(data=rfm, future_t=SHORT_HORIZON_DAYS)),
            "expected_purchases_365d": _values(bg.expected_purchases(data=rfm, future_t=LONG_HORIZON_DAYS)),
            "probability_no_purchase_365d": _values(bg.expected_probability_no_purchase(t=LONG_HORIZON_DAYS, data=rfm)),
            "expected_purchase_value": value,
            "is_spend_from_own_history": individual,
            "predicted_clv_12m": clv_12m,
            "predicted_clv_if_alive_12m": np.where(probability_alive > 0, clv_12m / probability_alive, np.nan),
            "predicted_lifetime_value": lifetime_value,
        }
    )
    return scores, {"gg_population_mean": population_mean, "gg_population_mean_source": source}
