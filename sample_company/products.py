"""The product master: product lines, SKUs with prices, costs, launches, repricing and return rates."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from sample_company.people import allocate
from sample_company.timeline import DAY, HOUR, Timeline, day_of, last_per_drop, month_id, month_start_day

OLDEST_LAUNCH = date(2014, 1, 1)


def _nice_price(p: np.ndarray) -> np.ndarray:
    """Round to two (under 10 000) or three significant digits, like a price list."""
    digits = np.floor(np.log10(p)).astype(int)
    keep = np.where(p < 10_000, 2, 3)
    step = 10.0 ** (digits - keep + 1)
    return np.maximum(np.round(p / step) * step, 1.0)


@dataclass
class Products:
    line: np.ndarray
    line_names: list[str]
    category: np.ndarray
    sku: np.ndarray
    name: np.ndarray
    base_price: np.ndarray
    base_cost: np.ndarray
    launched_day: np.ndarray
    new_days: int
    is_new_at_end: np.ndarray
    return_rate: np.ndarray
    value_weight: np.ndarray  # share of revenue a SKU draws within its line (line share x popularity)
    change_days: np.ndarray  # repricing days
    price_mult: np.ndarray  # [sku, changes + 1] cumulative list price multiplier
    cost_mult: np.ndarray
    month_ids: np.ndarray  # months covered by the weights below
    new_share: np.ndarray  # [month] share of order-line value drawn from products flagged new at the end
    weights_new: np.ndarray  # [month, sku] sampling weights among those products (price-sorted order)
    weights_old: np.ndarray  # [month, sku] sampling weights among the others
    by_price: np.ndarray  # SKU indices sorted by base price

    @property
    def n(self) -> int:
        return len(self.sku)

    def step(self, day: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.change_days, np.asarray(day), side="right")

    def price_at(self, sku: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.round(self.base_price[sku] * self.price_mult[sku, self.step(day)], 2)

    def cost_at(self, sku: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.round(self.base_cost[sku] * self.cost_mult[sku, self.step(day)], 2)

    def is_new_at(self, sku: np.ndarray, day: np.ndarray) -> np.ndarray:
        return (day >= self.launched_day[sku]) & (day < self.launched_day[sku] + self.new_days)


def build_products(cfg: dict, timeline: Timeline, scale: float, rng: np.random.Generator) -> Products:
    pc = cfg["products"]
    lines = pc["lines"]
    n_total = max(round(pc["skus"] * scale ** pc["scale_exponent"]), 4 * len(lines))
    per_line = allocate(n_total, [ln["sku_share"] for ln in lines], minimum=4)
    line = np.repeat(np.arange(len(lines)), per_line)
    n = len(line)
    category, sku, pname, price, margin = _catalogue(lines, line, rng)
    cost = np.round(price * (1 - margin), 2)
    launched, new_days, n_new = _launches(pc, timeline, price, rng)
    is_new_end = launched > timeline.end_day - new_days

    rc = cfg["returns"]
    ret = np.clip(rng.lognormal(np.log(rc["normal_return_median"]), rc["normal_return_sigma"], size=n), 0.002, 0.04)
    high = rng.random(n) < rc["high_return_sku_share"]
    ret[high] = rng.uniform(*rc["high_return_rate"], size=high.sum())

    pop = rng.lognormal(0.0, 0.8, size=n)
    value_weight = np.empty(n)
    for li, ln in enumerate(lines):
        rows = line == li
        value_weight[rows] = ln["revenue_share"] * pop[rows] / pop[rows].sum()
    change_days, pm, cm = _repricing(pc, timeline, launched, rng)
    by_price = np.argsort(price, kind="stable")
    mids, share, w_new, w_old = _monthly_weights(pc, timeline, launched, is_new_end, value_weight, by_price, n_new)

    return Products(
        line=line,
        line_names=[ln["name"] for ln in lines],
        category=category,
        sku=sku,
        name=pname,
        base_price=price,
        base_cost=cost,
        launched_day=launched,
        new_days=new_days,
        is_new_at_end=is_new_end,
        return_rate=ret,
        value_weight=value_weight,
        change_days=change_days,
        price_mult=pm,
        cost_mult=cm,
        month_ids=mids,
        new_share=share,
        weights_new=w_new,
        weights_old=w_old,
        by_price=by_price,
    )


def _catalogue(lines: list[dict], line: np.ndarray, rng: np.random.Generator) -> tuple:
    """Category, sku code, name, list price and margin of every product, line by line."""
    n = len(line)
    category = np.empty(n, dtype=object)
    sku = np.empty(n, dtype=object)
    pname = np.empty(n, dtype=object)
    price = np.empty(n)
    margin = np.empty(n)
    for li, ln in enumerate(lines):
        rows = np.flatnonzero(line == li)
        cats = ln["categories"]
        cat = rng.integers(0, len(cats), size=len(rows))
        lo, hi = ln["price"]
        price[rows] = _nice_price(np.exp(rng.uniform(np.log(lo), np.log(hi), size=len(rows))))
        margin[rows] = rng.uniform(*ln["margin"], size=len(rows))
        models = rng.choice(np.arange(100, 1000), size=len(rows), replace=False)
        for j, r in enumerate(rows):
            cname, ccode = cats[cat[j]]
            category[r] = cname
            sku[r] = f"{ln['code']}{ccode}-{models[j]:04d}"
            pname[r] = f"{cname} {ccode}{models[j]}{'ABCDEFGH'[j % 8] if j % 3 == 0 else ''}"
    return category, sku, pname, price, margin


def _launches(pc: dict, timeline: Timeline, price: np.ndarray, rng: np.random.Generator) -> tuple:
    """Launch day of every product: new products (flagged new at the end date), some that were new
    during the history, the rest old. Also the days a product counts as new, and how many are new."""
    n = len(price)
    end, start = timeline.end_day, timeline.start_day
    new_days = round(pc["new_product_months"] * 365 / 12)
    launched = np.empty(n, dtype="int64")
    cheapest = np.argsort(price, kind="stable")[:5]
    candidates = np.setdiff1d(np.arange(n), cheapest)
    n_new = round(n * pc["new_sku_share"])
    perm = rng.permutation(candidates)
    new = perm[:n_new]
    aged = perm[n_new : n_new + round(n * 0.1)]
    old = np.setdiff1d(np.arange(n), np.concatenate([new, aged]))
    launched[new] = rng.integers(end - new_days + 1, end - 20, size=len(new))
    launched[aged] = rng.integers(start - new_days, end - new_days + 1, size=len(aged))
    launched[old] = rng.integers(day_of(OLDEST_LAUNCH), start - new_days, size=len(old))
    return launched, new_days, n_new


def _repricing(pc: dict, timeline: Timeline, launched: np.ndarray, rng: np.random.Generator) -> tuple:
    """Repricing every 1 January inside the history: the change days and the price and cost
    multipliers of every product from each of them on."""
    n = len(launched)
    years = range(timeline.drop_dates[0].year + 1, timeline.end_date.year + 1)
    change_days = np.array(
        [day_of(date(y, 1, 1)) for y in years if day_of(date(y, 1, 1)) <= timeline.end_day], dtype="int64"
    )
    pm = np.ones((n, len(change_days) + 1))
    cm = np.ones((n, len(change_days) + 1))
    for k, cd in enumerate(change_days):
        hit = (rng.random(n) < pc["yearly_price_change_share"]) & (launched < cd)
        pm[:, k + 1] = pm[:, k] * np.where(hit, rng.uniform(1.02, 1.06, size=n), 1.0)
        cm[:, k + 1] = cm[:, k] * np.where(hit, rng.uniform(1.01, 1.05, size=n), 1.0)
    return change_days, pm, cm


def _monthly_weights(
    pc: dict,
    timeline: Timeline,
    launched: np.ndarray,
    is_new_end: np.ndarray,
    value_weight: np.ndarray,
    by_price: np.ndarray,
    n_new: int,
) -> tuple:
    """Sampling weights of order lines per month: products flagged new at the end date draw the
    configured share of revenue once enough of them are launched."""
    first_m = int(month_id(np.array([timeline.sim_lo]))[0])
    last_m = int(month_id(np.array([timeline.end_day]))[0])
    mids = np.arange(first_m, last_m + 1)
    mstart = month_start_day(mids)
    avail = launched[None, :] <= mstart[:, None]
    flag = is_new_end[None, :] & avail
    n_new_avail = flag.sum(axis=1)
    share = pc["new_revenue_share"] * np.minimum(1.0, n_new_avail / max(0.5 * n_new, 1))
    w_new = np.where(flag, value_weight[None, :], 0.0)[:, by_price]
    w_old = np.where(avail & ~flag, value_weight[None, :], 0.0)[:, by_price]
    return mids, share, w_new, w_old


def pick_skus(
    products: Products, rng: np.random.Generator, day: np.ndarray, budget: np.ndarray, max_price_share: float = 0.5
) -> np.ndarray:
    """A SKU for each order line, priced within the line budget.

    The line first falls to the new products (flagged new at the end date) with the month's share,
    else to the others; within the group a SKU is drawn by revenue weight among those priced at most
    `max_price_share` of the budget. Budgets do not depend on the group, so the group's share of
    revenue is the configured one.
    """
    n_m = len(products.month_ids)
    m = np.clip(month_id(day) - products.month_ids[0], 0, n_m - 1)
    sorted_price = products.base_price[products.by_price]
    k = np.maximum(np.searchsorted(sorted_price, budget * max_price_share, side="right"), 1)
    cum = {}
    for name, w in (("new", products.weights_new), ("old", products.weights_old)):
        cw = np.cumsum(w, axis=1)
        cum[name] = cw / np.maximum(cw[:, -1:], 1e-12) * 0.999999
    want_new = rng.random(len(day)) < products.new_share[m]
    limit_new = cum["new"][m, k - 1]
    limit_old = cum["old"][m, k - 1]
    use_new = np.where(want_new, limit_new > 0, limit_old <= 0)
    u = rng.random(len(day))
    pos = np.zeros(len(day), dtype="int64")
    for name, rows in (("new", np.flatnonzero(use_new)), ("old", np.flatnonzero(~use_new))):
        cw = cum[name]
        flat = (np.arange(n_m)[:, None] + cw).ravel()
        mm = m[rows]
        target = mm + u[rows] * cw[mm, k[rows] - 1]
        pos[rows] = np.searchsorted(flat, target, side="left") - mm * products.n
    pos = np.clip(pos, 0, k - 1)
    return products.by_price[pos]


def products_table(products: Products, timeline: Timeline) -> pd.DataFrame:
    """erp/products: the full list in the first drop, then launches, repricing and new-product flag changes."""
    n = products.n
    idx = np.arange(n)
    launch_t = products.launched_day * DAY + 9 * HOUR
    age_day = products.launched_day + products.new_days
    aged = age_day <= timeline.end_day
    rec = [idx, idx[aged]]
    t = [launch_t, age_day[aged] * DAY + HOUR]
    for k, cd in enumerate(products.change_days):
        hit = (products.price_mult[:, k + 1] != products.price_mult[:, k]) & (products.launched_day < cd)
        rec.append(idx[hit])
        t.append(np.full(hit.sum(), cd * DAY + 10 * HOUR))
    rec = np.concatenate(rec)
    t = np.concatenate(t).astype("int64")
    ev, drop = last_per_drop(timeline, rec, t)
    s = rec[ev]
    day = t[ev] // DAY
    return pd.DataFrame(
        {
            "sku": products.sku[s],
            "product_name": products.name[s],
            "product_line": pd.Categorical.from_codes(products.line[s], products.line_names),
            "category": products.category[s],
            "is_new_product": products.is_new_at(s, day).astype("int8"),
            "list_price": products.price_at(s, day),
            "unit_cost": products.cost_at(s, day),
            "launched_on": products.launched_day[s],
            "updated_at": t[ev],
            "_drop": drop,
        }
    ).sort_values(["_drop", "sku"], kind="stable")


PRODUCTS_KINDS = {
    "is_new_product": "bool",
    "list_price": "money",
    "unit_cost": "money",
    "launched_on": "date",
    "updated_at": "ts",
}
