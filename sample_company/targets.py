"""Strategic targets, set each January from the previous year's actuals (grains: see sample.yml)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd

from sample_company.customers import Customers
from sample_company.products import Products
from sample_company.sales import Orders, Returns
from sample_company.timeline import DAY, Timeline, day_of, year_of


def targets_table(
    cfg: dict,
    timeline: Timeline,
    cust: Customers,
    orders: Orders,
    ret: Returns,
    products: Products,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """strategy/targets: one drop per plan year (the January drop), at the grains documented in sample.yml."""
    tc = cfg["targets"]
    regions = cfg["regions"]["names"]
    lines = [ln["name"] for ln in cfg["products"]["lines"]]
    growth = cfg["revenue"]["annual_growth"]
    first_year = timeline.drop_dates[0].year
    last_year = timeline.end_date.year
    actual = _actuals(timeline, cust, orders, ret, products)
    new_q = _new_customers_per_quarter(timeline, cust)

    def full_year(y: int) -> bool:
        return day_of(date(y, 1, 1)) >= timeline.start_day

    def full_quarter(y: int, q: int) -> bool:
        return day_of(date(y, 3 * q - 2, 1)) >= timeline.start_day

    rows = []
    plan_years = [y for y in range(first_year, last_year + 1) if full_year(y)]
    for i, y in enumerate(plan_years):
        is_last = y == last_year
        uplift = tc["last_year_uplift"] if is_last else tc["earlier_uplift"][min(i, len(tc["earlier_uplift"]) - 1)]
        for r, rname in enumerate(regions):
            prev = actual(y - 1, r) if full_year(y - 1) else actual(y, r) / (1 + growth)
            value = np.round(prev * uplift * rng.uniform(0.98, 1.02), -4)
            rows.append((str(y), rname, "*", "net_revenue", float(value), y))
        if is_last:
            prev_lines = np.array([actual(y - 1, None, li) for li in range(len(lines))])
            region_total = sum(r[4] for r in rows if r[0] == str(y) and r[3] == "net_revenue")
            split = prev_lines / prev_lines.sum() * region_total
            for li, lname in enumerate(lines):
                rows.append((str(y), "*", lname, "net_revenue", float(np.round(split[li], -4)), y))
        for q in range(1, 5):
            if full_quarter(y - 1, q):
                prev = new_q.get((y - 1, q), 0)
            else:
                prev = new_q.get((y, q), 0) / (1 + cfg["customers"]["active_growth"])
            value = max(1, round(prev * tc["new_customer_uplift"]))
            rows.append((f"{y}-Q{q}", "*", "*", "new_customers", float(value), y))
    frame = pd.DataFrame(rows, columns=["period", "region", "product_line", "metric", "target_value", "plan_year"])
    jan = np.array([day_of(date(int(y), 1, 15)) for y in frame["plan_year"]])
    frame["_drop"] = np.maximum(timeline.drop_of(jan * DAY), 0)
    frame = frame[frame["_drop"] < timeline.n_drops]
    return frame.drop(columns=["plan_year"])


TARGETS_KINDS: dict[str, str] = {}


def _actuals(
    timeline: Timeline, cust: Customers, orders: Orders, ret: Returns, products: Products
) -> Callable[..., float]:
    """Actual net revenue (CNY) per calendar year, region and product line: actual(year, region, line)."""
    live = ~orders.is_cancelled[orders.l_order]
    l_year = year_of(orders.day[orders.l_order])[live]
    l_region = cust.region[orders.cust[orders.l_order]][live]
    l_line = products.line[orders.l_sku][live]
    l_cny = orders.l_amount_cny[live]
    seen = ret.returned_at <= (timeline.end_day + 1) * DAY - 1
    r_year = year_of(ret.returned_at[seen] // DAY)
    r_region = cust.region[orders.cust[ret.order[seen]]]
    r_line = products.line[orders.l_sku[ret.line[seen]]]
    r_cny = ret.amount_cny[seen]

    def actual(year: int, region: int | None = None, line: int | None = None) -> float:
        lm = l_year == year
        rm = r_year == year
        if region is not None:
            lm, rm = lm & (l_region == region), rm & (r_region == region)
        if line is not None:
            lm, rm = lm & (l_line == line), rm & (r_line == line)
        return float(l_cny[lm].sum() - r_cny[rm].sum())

    return actual


def _new_customers_per_quarter(timeline: Timeline, cust: Customers) -> dict[tuple[int, int], int]:
    """Customers acquired in the history, per (year, quarter) of their first order."""
    new_q = {}
    acq = cust.first_day[(cust.first_day >= timeline.start_day) & (cust.first_day <= timeline.end_day)]
    for d in acq:
        dd = date.fromordinal(date(1970, 1, 1).toordinal() + int(d))
        key = (dd.year, (dd.month - 1) // 3 + 1)
        new_q[key] = new_q.get(key, 0) + 1
    return new_q
