"""The customer base: who buys in which yearly window, how much, and where they are.

Counts are designed, not drawn: the active customers of each window, the churners between windows
and the new customers follow the configured churn and growth exactly; spend per customer is drawn per
segment and rescaled so that each window's revenue is the configured one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sample_company.timeline import Timeline

TOP, MID, SMALL = 0, 1, 2
GOLDEN = 0.6180339887498949


@dataclass
class Customers:
    acq: np.ndarray  # window of the first order: -1 before the history, 0..2, 3 after the end date
    last: np.ndarray  # last window with orders (3 for customers acquired after the end date)
    first_day: np.ndarray
    spend: np.ndarray  # [customer, window 0..2] planned net revenue (CNY)
    seg: np.ndarray  # size class by the largest yearly spend (TOP/MID/SMALL)
    region: np.ndarray
    industry: np.ndarray
    employee_count: np.ndarray
    currency: np.ndarray  # 0 CNY, 1 USD, 2 HKD
    channel: np.ndarray  # preferred order channel
    via_lead: np.ndarray  # acquired through a converted lead
    rep_sourced: np.ndarray  # acquired through an opportunity a rep opened (no lead)

    @property
    def n(self) -> int:
        return len(self.acq)

    def active(self, w: int) -> np.ndarray:
        return (np.maximum(self.acq, 0) <= w) & (self.last >= w) & (self.acq <= w)


def seg_of(spend: np.ndarray, cfg: dict) -> np.ndarray:
    """Size class of yearly spends (the strategy's bands: over 10 M top, under 100 k small)."""
    bounds = cfg["customers"]["segment_bounds"]
    return np.where(spend >= bounds["top"], TOP, np.where(spend >= bounds["small"], MID, SMALL))


def spread(rng: np.random.Generator, key: np.ndarray, shares: list[float]) -> np.ndarray:
    """Assign categories to rows so that, in the order of `key` (descending), every run of rows holds
    the shares closely (a low-discrepancy sequence): sums over the rows per category follow the shares."""
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    order = np.argsort(-key, kind="stable")
    pos = (rng.random() + GOLDEN * np.arange(len(key))) % 1.0
    cat = np.searchsorted(np.cumsum(shares)[:-1], pos, side="right")
    out = np.empty(len(key), dtype="int64")
    out[order] = cat
    return out


def _mid_spends(n: int, mean: float, lo: float, hi: float) -> np.ndarray:
    """n values in [lo, hi] with the given mean: lo * (hi/lo) ** (u ** a), u stratified, a solved."""
    if n == 0:
        return np.zeros(0)
    u = (np.arange(n) + 0.5) / n
    mean = min(max(mean, lo * 1.0001), hi * 0.9999)
    a_lo, a_hi = 1e-3, 200.0
    for _ in range(200):
        a = np.sqrt(a_lo * a_hi)
        m = np.mean(lo * (hi / lo) ** (u**a))
        if m > mean:
            a_lo = a
        else:
            a_hi = a
    return lo * (hi / lo) ** (u**a)


def build_customers(cfg: dict, timeline: Timeline, scale: float, rng: np.random.Generator) -> Customers:
    acq, last, n0 = _windows(cfg["customers"], timeline, scale, rng)
    first = _first_days(timeline, acq, n0, rng)
    spend, seg2 = _last_year_spend(cfg, acq, last, scale, rng)
    _earlier_spend(cfg, timeline, scale, acq, last, first, spend, rng)
    size = spend.max(axis=1)
    fut = np.flatnonzero(acq == 3)
    size[fut] = _future_sizes(cfg["customers"], len(fut), rng)
    seg = seg_of(size, cfg)
    seg[seg2 == TOP] = TOP
    region, industry, emp, currency, channel = _attributes(cfg, seg, size, rng)
    chained = first >= timeline.sim_lo
    via_lead = chained & (rng.random(len(acq)) < cfg["customers"]["via_lead_share"])
    rep_sourced = chained & ~via_lead & (rng.random(len(acq)) < cfg["customers"]["rep_sourced_share"])
    return Customers(acq, last, first, spend, seg, region, industry, emp, currency, channel, via_lead, rep_sourced)


def _windows(cc: dict, timeline: Timeline, scale: float, rng: np.random.Generator) -> tuple:
    """Acquisition and last window of every customer (designed counts), and n0, the new customers of
    window 0."""
    a2 = max(round(cc["active_last_year"] * scale), 40)
    a1 = round(a2 / (1 + cc["active_growth"]))
    a0 = round(a1 / (1 + cc["active_growth"]))
    c1 = round(cc["annual_churn"] * a1)
    c0 = round(cc["annual_churn"] * a0)
    n2 = a2 - (a1 - c1)
    n1 = a1 - (a0 - c0)
    n1c = min(round(c1 * cc["churners_new_share"]), n1)
    n0 = round(a0 * n1 / a1)
    n0c = min(round(c0 * cc["churners_new_share"]), n0)
    n3 = round(n2 * timeline.lead_out_days / 365)

    # Groups by last window, acquisition window fixed where designed, the rest -1/0 below.
    last = np.concatenate([np.full(a2, 2), np.full(c1, 1), np.full(c0, 0), np.full(n3, 3)])
    acq = np.full(len(last), -1)
    i = 0
    acq[i : i + n2] = 2
    acq[i + n2 : i + n2 + (n1 - n1c)] = 1
    acq[a2 : a2 + n1c] = 1
    acq[a2 + c1 : a2 + c1 + n0c] = 0
    acq[a2 + c1 + c0 :] = 3
    pool = np.flatnonzero((last >= 1) & (last <= 2) & (acq == -1))
    acq[rng.choice(pool, size=min(n0 - n0c, len(pool)), replace=False)] = 0
    return acq, last, n0


def _first_days(timeline: Timeline, acq: np.ndarray, n0: int, rng: np.random.Generator) -> np.ndarray:
    """Day of each customer's first order: in its acquisition window, or before the history."""
    first = np.empty(len(acq), dtype="int64")
    for w in (0, 1, 2, 3):
        rows = np.flatnonzero(acq == w)
        lo, hi = timeline.window(w)
        first[rows] = timeline.sample_days(rng, np.full(len(rows), lo), np.full(len(rows), hi))
    old = np.flatnonzero(acq == -1)
    n_pre = min(round(n0 * timeline.lead_in_days / timeline.window_days(0)), len(old))
    pre = rng.choice(old, size=n_pre, replace=False)
    first[old] = timeline.start_day - timeline.lead_in_days - rng.integers(1, 3650, size=len(old))
    first[pre] = timeline.sample_days(rng, np.full(n_pre, timeline.sim_lo), np.full(n_pre, timeline.start_day - 1))
    return first


def _small_draw(small_c: dict, k: int, rng: np.random.Generator) -> np.ndarray:
    x = rng.lognormal(np.log(small_c["median_annual"]), small_c["sigma"], size=k)
    return np.clip(x, small_c["min_annual"], small_c["max_annual"])


def _last_year_spend(cfg: dict, acq: np.ndarray, last: np.ndarray, scale: float, rng: np.random.Generator) -> tuple:
    """Last-year spend by segment quotas: spend[:, 2] filled, and the last-year segment of each customer."""
    cc = cfg["customers"]
    n = len(acq)
    r2 = cfg["revenue"]["last_year"] * scale
    act2 = np.flatnonzero(last == 2)
    z = rng.normal(size=n) + np.select([acq == -1, acq == 0, acq == 1, acq == 2], [1.2, 0.6, 0.2, -0.8], 0.0)
    top_c, small_c, mid_c = cc["top"], cc["small"], cc["mid"]
    n_top = max(round(top_c["count"] * scale), 1)
    n_small = round(small_c["share"] * len(act2))
    n_mid = len(act2) - n_top - n_small
    spend = np.zeros((n, 3))
    seg2 = np.full(n, SMALL)
    old2 = act2[acq[act2] == -1]
    top = old2[np.argsort(-z[old2], kind="stable")[:n_top]]
    seg2[top] = TOP
    new2 = act2[acq[act2] == 2]
    n_mid_new = min(round(cc["new_mid_share"] * len(new2)), n_mid)
    mid_new = new2[np.argsort(-z[new2], kind="stable")[:n_mid_new]]
    rest = np.setdiff1d(act2[acq[act2] != 2], top)
    mid_old = rest[np.argsort(-z[rest], kind="stable")[: n_mid - n_mid_new]]
    mid = np.concatenate([mid_old, mid_new])
    seg2[mid] = MID
    small = np.setdiff1d(act2, np.concatenate([top, mid]))

    top_total = top_c["revenue_share"] * r2
    excess = rng.exponential(top_c["mean_excess"], size=n_top)
    excess = excess / excess.sum() * max(top_total - n_top * top_c["min_annual"], 0)
    spend[top[np.argsort(-z[top], kind="stable")], 2] = np.sort(top_c["min_annual"] + excess)[::-1]
    spend[small, 2] = _small_draw(small_c, len(small), rng)
    mid_total = r2 - spend[:, 2].sum()
    values = _mid_spends(len(mid), mid_total / max(len(mid), 1), mid_c["min_annual"], mid_c["max_annual"])
    spend[mid[np.argsort(-z[mid], kind="stable")], 2] = np.sort(values)[::-1]
    return spend, seg2


def _earlier_spend(
    cfg: dict,
    timeline: Timeline,
    scale: float,
    acq: np.ndarray,
    last: np.ndarray,
    first: np.ndarray,
    spend: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Earlier windows (spend[:, 0..1]): spend of retained customers grown backwards; churners drawn
    small-to-mid; each window rescaled to its revenue."""
    cc = cfg["customers"]
    growth = cfg["revenue"]["annual_growth"]
    n = len(acq)

    def frac(rows: np.ndarray, w: int) -> np.ndarray:
        lo, hi = timeline.window(w)
        tot = timeline.volume(lo, hi)
        return np.array([timeline.volume(int(f), hi) / tot for f in first[rows]])

    def churner_draw(k: int) -> np.ndarray:
        x = _small_draw(cc["small"], k, rng)
        bigger = rng.random(k) < 0.1
        x[bigger] = np.exp(rng.uniform(np.log(cc["mid"]["min_annual"]), np.log(2e6), size=bigger.sum()))
        return x

    g = np.exp(rng.normal(np.log1p(growth), cc["existing_growth_sigma"], size=(n, 2)))
    keep1 = np.flatnonzero((last == 2) & (acq <= 1))
    spend[keep1, 1] = spend[keep1, 2] / g[keep1, 1]
    ch1 = np.flatnonzero(last == 1)
    spend[ch1, 1] = churner_draw(len(ch1))
    new1 = np.flatnonzero((acq == 1) & (last <= 2))
    spend[new1, 1] *= frac(new1, 1)
    keep0 = np.flatnonzero((last >= 1) & (last <= 2) & (acq <= 0))
    spend[keep0, 0] = np.where(acq[keep0] == 1, 0, spend[keep0, 1] / g[keep0, 0])
    ch0 = np.flatnonzero(last == 0)
    spend[ch0, 0] = churner_draw(len(ch0))
    new0 = np.flatnonzero((acq == 0) & (last <= 2))
    spend[new0, 0] *= frac(new0, 0)
    r1 = cfg["revenue"]["last_year"] * scale / (1 + growth)
    r0 = r1 / (1 + growth) * timeline.window_days(0) / 365
    spend[:, 1] *= r1 / spend[:, 1].sum()
    spend[:, 0] *= r0 / spend[:, 0].sum()


def _future_sizes(cc: dict, k: int, rng: np.random.Generator) -> np.ndarray:
    """Future customers (acquired after the end date) need only a size for their first deal."""
    fut_mid = rng.random(k) < cc["new_mid_share"]
    return np.where(
        fut_mid,
        np.exp(rng.uniform(np.log(cc["mid"]["min_annual"]), np.log(1e6), size=k)),
        _small_draw(cc["small"], k, rng),
    )


def _attributes(cfg: dict, seg: np.ndarray, size: np.ndarray, rng: np.random.Generator) -> tuple:
    """Region, industry, employee count, currency and preferred order channel of every customer."""
    cc = cfg["customers"]
    n = len(seg)
    reg = cfg["regions"]
    region = np.empty(n, dtype="int64")
    is_top = seg == TOP
    region[is_top] = spread(rng, size[is_top], reg["top_customer_share"])
    region[~is_top] = spread(rng, size[~is_top], reg["customer_share"])
    industries = cfg["industries"]
    target = [industries.index(x) for x in cfg["pipeline"]["target_industries"]]
    others = [i for i in range(len(industries)) if i not in target]
    in_target = rng.random(n) < cfg["pipeline"]["target_industry_share"]["won"]
    industry = np.where(
        in_target, np.array(target)[rng.integers(0, len(target), n)], np.array(others)[rng.integers(0, len(others), n)]
    )
    emp_ranges = cc["employee_count"]
    emp = np.empty(n, dtype="int64")
    for s, key in ((TOP, "top"), (MID, "mid"), (SMALL, "small")):
        rows = seg == s
        lo, hi = emp_ranges[key]
        emp[rows] = np.round(np.exp(rng.uniform(np.log(lo), np.log(hi), size=rows.sum())), -1 if s == SMALL else -2)
    emp = np.maximum(emp, 10)
    cur_share = cc["currency_share"]
    u = rng.random(n)
    currency = np.where(u < cur_share["USD"], 1, np.where(u < cur_share["USD"] + cur_share["HKD"], 2, 0))
    ch_cfg = cfg["orders"]["channel_by_segment"]
    channel = np.empty(n, dtype="int64")
    for s, key in ((TOP, "top"), (MID, "mid"), (SMALL, "small")):
        rows = np.flatnonzero(seg == s)
        p = np.asarray(ch_cfg[key], dtype=float)
        channel[rows] = rng.choice(len(p), size=len(rows), p=p / p.sum())
    return region, industry, emp, currency, channel
