"""Validation on the company's own history: fit BG/NBD on the calibration period (purchase days up to
as-of - holdout_days), predict each calibration customer's repeat purchase days in the holdout
(as-of - holdout_days, as-of], and compare with what they bought, by calibration frequency.

Customers whose first purchase falls in the holdout are not part of it (pymc-marketing's
rfm_train_test_split). The aggregate error is (predicted - actual) / actual of the total repeat
purchase days of the holdout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from dagster_project.customer_value.models import FitResult, fit_bg_nbd


@dataclass
class HoldoutResult:
    calibration_end: date
    holdout_days: int
    fit: FitResult | None
    by_frequency: pd.DataFrame  # empty when not validated
    actual_total: float | None = None
    predicted_total: float | None = None
    not_validated_reason: str | None = None

    @property
    def relative_error(self) -> float | None:
        if self.actual_total is None or self.predicted_total is None or self.actual_total == 0:
            return None
        return (self.predicted_total - self.actual_total) / self.actual_total


def frequency_buckets(
    calibration_frequency: np.ndarray, actual: np.ndarray, predicted: np.ndarray, max_bucket: int
) -> pd.DataFrame:
    """Customers, actual and predicted holdout purchases (totals and per customer) by calibration
    frequency; the last bucket holds every frequency >= max_bucket and is labelled 'max_bucket+'."""
    bucket = np.minimum(calibration_frequency.astype(int), max_bucket)
    frame = pd.DataFrame({"calibration_frequency": bucket, "actual": actual, "predicted": predicted})
    grouped = frame.groupby("calibration_frequency", as_index=False).agg(
        customers=("actual", "size"),
        actual_repeat_purchases=("actual", "sum"),
        predicted_repeat_purchases=("predicted", "sum"),
    )
    grouped["frequency_label"] = [f"{f}+" if f == max_bucket else str(f) for f in grouped["calibration_frequency"]]
    grouped["actual_per_customer"] = grouped["actual_repeat_purchases"] / grouped["customers"]
    grouped["predicted_per_customer"] = grouped["predicted_repeat_purchases"] / grouped["customers"]
    return grouped


def validate_on_holdout(purchases: pd.DataFrame, as_of: date, config: dict[str, Any]) -> HoldoutResult:
    from pymc_marketing.clv import rfm_train_test_split

    settings = config["validation"]
    holdout_days = int(settings["holdout_days"])
    calibration_end = as_of - timedelta(days=holdout_days)
    calibration = purchases["purchase_date"] <= pd.Timestamp(calibration_end)
    holdout = calibration.eq(False) & (purchases["purchase_date"] <= pd.Timestamp(as_of))
    calibration_customers = purchases.loc[calibration, "customer_id"].nunique()
    reason = None
    if calibration_customers < config["fit"]["min_customers"]:
        reason = (
            f"{calibration_customers} customers bought by {calibration_end} (as-of - {holdout_days} days), "
            f"fewer than {config['fit']['min_customers']}"
        )
    elif not holdout.any():
        reason = f"no purchase in the holdout ({calibration_end}, {as_of}]"
    if reason:
        return HoldoutResult(calibration_end, holdout_days, None, pd.DataFrame(), not_validated_reason=reason)

    split = rfm_train_test_split(
        purchases,
        customer_id_col="customer_id",
        datetime_col="purchase_date",
        train_period_end=pd.Timestamp(calibration_end),
        test_period_end=pd.Timestamp(as_of),
        time_unit="D",
    )
    fit = fit_bg_nbd(split, config["fit"])
    if not fit.converged:
        return HoldoutResult(
            calibration_end, holdout_days, fit, pd.DataFrame(), not_validated_reason="; ".join(fit.problems)
        )
    predicted = np.asarray(
        fit.model.expected_purchases(
            data=split[["customer_id", "frequency", "recency", "T"]], future_t=holdout_days
        ).values,
        dtype=float,
    ).reshape(-1)
    actual = split["test_frequency"].to_numpy(dtype=float)
    table = frequency_buckets(split["frequency"].to_numpy(), actual, predicted, int(settings["max_frequency_bucket"]))
    return HoldoutResult(
        calibration_end,
        holdout_days,
        fit,
        table,
        actual_total=float(actual.sum()),
        predicted_total=float(predicted.sum()),
    )
