"""Purchase history per customer, read from the order facts built by dbt.

A purchase is a purchase day: every order of an account that is not cancelled and is dated on or
before the as-of date (`intermediate.int_orders_aggregated_from_lines`), grouped by order date;
its value is the net revenue of those orders (returns subtracted). BG/NBD counts repeat purchase
days, as the published CDNOW analyses do (pymc-marketing's `rfm_summary` groups by day too).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import duckdb

if TYPE_CHECKING:  # imported where used: the code location imports this module for its table names,
    import pandas as pd  # and pandas is a quarter of a second of its start-up

ORDERS_TABLE = "intermediate.int_orders_aggregated_from_lines"
AS_OF_TABLE = "intermediate.int_as_of_date"

PURCHASE_DAYS_SQL = f"""
select
    account_id as customer_id,
    order_date as purchase_date,
    cast(sum(net_revenue) as double) as purchase_value,
from {ORDERS_TABLE}
where account_id is not null
group by all
"""


def as_of_date(con: duckdb.DuckDBPyConnection) -> date:
    """The run's reference date, as dbt resolved it (int_as_of_date: var as_of, else newest order)."""
    rows = con.execute(f"select as_of_date from {AS_OF_TABLE}").fetchall()
    if len(rows) != 1:
        raise ValueError(f"{AS_OF_TABLE} must hold exactly one row, found {len(rows)}")
    return rows[0][0]


def purchase_days(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """customer_id, purchase_date (datetime64), purchase_value: one row per customer and day."""
    import pandas as pd

    frame = con.execute(PURCHASE_DAYS_SQL + " order by 1, 2").df()
    frame["purchase_date"] = pd.to_datetime(frame["purchase_date"])
    return frame


def purchase_days_fingerprint(con: duckdb.DuckDBPyConnection) -> str:
    """Order-independent digest of the purchase days (count and sum of row hashes): equal digests
    mean the fit would see the same data."""
    count, digest = con.execute(
        f"select count(*), coalesce(sum(hash(customer_id, purchase_date, purchase_value)), 0) "
        f"from ({PURCHASE_DAYS_SQL})"
    ).fetchall()[0]
    return f"{count}:{digest}"


def summarize(purchases: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """BG/NBD inputs per customer at the as-of date, in days (pymc-marketing's rfm_summary):
    frequency = repeat purchase days (purchase days - 1); recency = last - first purchase day;
    T = as-of date - first purchase day; monetary_value = mean value of the repeat purchase days
    (the first purchase day excluded, 0 without repeats). No purchase at all (a company whose ERP is
    not delivered): no customer, where rfm_summary fails on the empty frame."""
    import pandas as pd
    from pymc_marketing.clv import rfm_summary

    if purchases.empty:
        columns = {"frequency": "float64", "recency": "float64", "T": "float64", "monetary_value": "float64"}
        return pd.DataFrame(
            {"customer_id": purchases["customer_id"], **{c: pd.Series(dtype=t) for c, t in columns.items()}}
        )
    return rfm_summary(
        purchases,
        customer_id_col="customer_id",
        datetime_col="purchase_date",
        monetary_value_col="purchase_value",
        observation_period_end=pd.Timestamp(as_of),
        time_unit="D",
    )
