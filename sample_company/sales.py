"""ERP side: exchange rates, sales orders and their lines, payments and returns."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_company.config import probabilities
from sample_company.customers import MID, SMALL, TOP, Customers, seg_of
from sample_company.products import Products, pick_skus
from sample_company.timeline import (
    DAY,
    HOUR,
    NULL,
    Timeline,
    last_per_drop,
    split_by_group,
    stochastic_round,
    work_time,
)

CURRENCIES = ("CNY", "USD", "HKD")
ORDER_CHANNELS = ("direct", "distributor", "ecommerce", "retail")
ORDER_STATUSES = ("draft", "approved", "shipped", "cancelled")


@dataclass
class Fx:
    first_day: int
    rates: np.ndarray  # [day - first_day, currency]; CNY = 1

    def rate(self, currency: np.ndarray, day: np.ndarray) -> np.ndarray:
        d = np.clip(np.asarray(day) - self.first_day, 0, self.rates.shape[0] - 1)
        return self.rates[d, np.asarray(currency)]


def build_fx(cfg: dict, timeline: Timeline, rng: np.random.Generator) -> Fx:
    fc = cfg["fx"]
    n = timeline.end_day - timeline.sim_lo + 1
    x0 = np.log(fc["USD"]["start"])
    eps = rng.normal(0.0, fc["USD"]["daily_sigma"], size=n)
    x = np.empty(n)
    x[0] = x0
    for i in range(1, n):
        x[i] = x[i - 1] + eps[i] - 0.01 * (x[i - 1] - x0)
    usd = np.clip(np.exp(x), fc["USD"]["floor"], fc["USD"]["cap"])
    hkd = usd / fc["HKD"]["peg_of_usd"] * (1 + rng.normal(0.0, fc["HKD"]["daily_sigma"], size=n))
    rates = np.stack([np.ones(n), np.round(usd, 6), np.round(hkd, 6)], axis=1)
    return Fx(timeline.sim_lo, rates)


def fx_table(fx: Fx, timeline: Timeline) -> pd.DataFrame:
    """erp/fx_rates: daily rates of the foreign currencies, one drop per month."""
    n = fx.rates.shape[0]
    day = np.repeat(fx.first_day + np.arange(n), 2)
    cur = np.tile([1, 2], n)
    frame = pd.DataFrame(
        {
            "rate_date": day,
            "currency": pd.Categorical.from_codes(cur, list(CURRENCIES)),
            "cny_per_unit": fx.rates[day - fx.first_day, cur],
            "_drop": timeline.drop_of(day * DAY + 12 * HOUR),
        }
    )
    return frame[frame["_drop"] < timeline.n_drops]


FX_KINDS = {"rate_date": "date", "cny_per_unit": "dec6"}


@dataclass
class Orders:
    cust: np.ndarray
    window: np.ndarray
    day: np.ndarray
    created: np.ndarray
    submitted: np.ndarray
    approved: np.ndarray  # NULL when never approved
    shipped: np.ndarray  # NULL when never shipped
    cancelled_at: np.ndarray  # NULL unless cancelled
    channel: np.ndarray
    currency: np.ndarray
    is_first: np.ndarray  # the customer's first order (acquisition)
    is_deal: np.ndarray  # closes a won opportunity
    seg: np.ndarray  # size class of the customer in the order's window
    number: np.ndarray  # order_id number, by creation time
    total: np.ndarray  # sum of line amounts (order currency)
    total_cny: np.ndarray
    main_line: np.ndarray  # product line with the largest value
    opportunity: np.ndarray  # filled by the pipeline (NULL: none)
    rep: np.ndarray  # filled once account owners are known
    # lines
    l_order: np.ndarray
    l_no: np.ndarray
    l_sku: np.ndarray
    l_qty: np.ndarray
    l_price: np.ndarray
    l_disc: np.ndarray
    l_amount: np.ndarray
    l_amount_cny: np.ndarray

    @property
    def n(self) -> int:
        return len(self.cust)

    @property
    def is_cancelled(self) -> np.ndarray:
        return self.cancelled_at != NULL


def build_orders(
    cfg: dict, timeline: Timeline, cust: Customers, products: Products, fx: Fx, rng: np.random.Generator
) -> Orders:
    oc = cfg["orders"]
    cw_c, cw_w, s, segw, count = _order_counts(cfg, cust, rng)
    o_cw, day, first, lo, hi = _order_days(timeline, cust, cw_c, cw_w, count, rng)
    gross = 1 - expected_return_rate(products)
    budget = split_by_group(rng, o_cw, s / gross, 2.0)
    o_cw, day, budget, first, cancelled = _add_cancelled(oc, o_cw, day, budget, first, lo, hi, rng)
    n = len(o_cw)
    c = cw_c[o_cw]
    seg_o = segw[o_cw]
    created, submitted, approved, shipped, cancel_t = _order_times(oc, day, cancelled, rng)
    channel = _order_channels(oc, cust, c, seg_o, rng)

    deal_share = oc["deal_share"]
    p_deal = np.select([seg_o == TOP, seg_o == MID], [deal_share["top"], deal_share["mid"]], deal_share["small"])
    is_deal = ~cancelled & (first | (rng.random(n) < p_deal))
    is_deal[first] = cust.via_lead[c[first]] | cust.rep_sourced[c[first]]

    # Order numbers by creation time.
    order = np.lexsort((np.arange(n), created))
    number = np.empty(n, dtype="int64")
    number[order] = np.arange(1, n + 1)
    currency = cust.currency[c]
    n_lines, lines = _order_lines(oc, products, fx, budget, seg_o, day, currency, rng)
    l_order, sku, amount, amount_cny = lines["l_order"], lines["l_sku"], lines["l_amount"], lines["l_amount_cny"]
    total = np.bincount(l_order, weights=amount, minlength=n)
    total_cny = np.bincount(l_order, weights=amount_cny, minlength=n)
    # Product line of each order's largest line.
    by_value = np.lexsort((-amount_cny, l_order))
    first_line = by_value[np.concatenate([[0], np.cumsum(n_lines)[:-1]])]
    main_line = products.line[sku[first_line]]

    return Orders(
        cust=c,
        window=cw_w[o_cw],
        day=day,
        created=created,
        submitted=submitted,
        approved=approved,
        shipped=shipped,
        cancelled_at=cancel_t,
        channel=channel,
        currency=currency,
        is_first=first,
        is_deal=is_deal,
        seg=seg_o,
        number=number,
        total=np.round(total, 2),
        total_cny=total_cny,
        main_line=main_line,
        opportunity=np.full(n, NULL, dtype="int64"),
        rep=np.full(n, NULL, dtype="int64"),
        **lines,
    )


def _order_counts(cfg: dict, cust: Customers, rng: np.random.Generator) -> tuple:
    """One row per active customer-window: customer, window, planned spend, its segment and how many
    orders it takes."""
    oc = cfg["orders"]
    cw_c = np.concatenate([np.flatnonzero(cust.active(w)) for w in (0, 1, 2)])
    cw_w = np.concatenate([np.full(cust.active(w).sum(), w) for w in (0, 1, 2)])
    s = cust.spend[cw_c, cw_w]
    segw = seg_of(s, cfg)
    k = len(cw_c)
    per = oc["per_year"]
    count = np.ones(k, dtype="int64")
    top = segw == TOP
    count[top] = per["top"]["base"] + rng.poisson(per["top"]["extra_mean"], size=top.sum())
    mid = segw == MID
    lam = per["mid"]["extra_mean_at_1m"] * np.maximum(0.3, 1 + 0.8 * np.log10(s[mid] / 1e6))
    count[mid] = per["mid"]["base"] + rng.poisson(lam)
    small = segw == SMALL
    in2 = cw_w == 2
    target = cfg["customers"]["repurchase_rate"] * in2.sum()
    p_repeat = float(np.clip((target - (~small & in2).sum()) / max((small & in2).sum(), 1), 0, 1))
    rep = small & (rng.random(k) < p_repeat)
    count[rep] = per["small_repeat"]["base"] + rng.poisson(per["small_repeat"]["extra_mean"], size=rep.sum())
    return cw_c, cw_w, s, segw, count


def _order_days(
    timeline: Timeline, cust: Customers, cw_c: np.ndarray, cw_w: np.ndarray, count: np.ndarray, rng: np.random.Generator
) -> tuple:
    """Day of every order in its customer-window (the first order of an acquisition on the customer's
    first day), which orders are first ones, and each customer-window's day range."""
    win_lo = np.array([timeline.window(w)[0] for w in (0, 1, 2)])
    win_hi = np.array([timeline.window(w)[1] for w in (0, 1, 2)])
    is_acq = cust.acq[cw_c] == cw_w
    lo = np.where(is_acq, cust.first_day[cw_c], win_lo[cw_w])
    hi = win_hi[cw_w]
    o_cw = np.repeat(np.arange(len(cw_c)), count)
    day = timeline.sample_days(rng, lo[o_cw], hi[o_cw])
    group_start = np.concatenate([[0], np.cumsum(count)[:-1]])
    first = np.zeros(len(o_cw), dtype=bool)
    first[group_start[is_acq]] = True
    day[first] = cust.first_day[cw_c[o_cw[first]]]
    return o_cw, day, first, lo, hi


def _add_cancelled(
    oc: dict,
    o_cw: np.ndarray,
    day: np.ndarray,
    budget: np.ndarray,
    first: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    rng: np.random.Generator,
) -> tuple:
    """Cancelled orders on top, near real ones: the order arrays extended, and which are cancelled."""
    n_real = len(o_cw)
    n_cancel = rng.binomial(n_real, oc["cancelled_share"])
    tmpl = rng.choice(n_real, size=n_cancel, replace=n_cancel > n_real)
    c_cw = o_cw[tmpl]
    c_day = np.clip(day[tmpl] + rng.integers(-10, 11, size=n_cancel), lo[c_cw], hi[c_cw])
    o_cw = np.concatenate([o_cw, c_cw])
    day = np.concatenate([day, c_day])
    budget = np.concatenate([budget, budget[tmpl] * rng.uniform(0.5, 1.5, size=n_cancel)])
    first = np.concatenate([first, np.zeros(n_cancel, dtype=bool)])
    cancelled = np.concatenate([np.zeros(n_real, dtype=bool), np.ones(n_cancel, dtype=bool)])
    return o_cw, day, budget, first, cancelled


def _order_times(oc: dict, day: np.ndarray, cancelled: np.ndarray, rng: np.random.Generator) -> tuple:
    """Timeline of each order: created, submitted, approved, shipped, cancelled (NULL where none)."""
    n = len(day)
    created = work_time(rng, day)
    draft = rng.random(n) < oc["draft_share"]
    quick = created + rng.uniform(300, 7200, n).astype("int64")
    later = work_time(rng, day + rng.integers(1, 5, n))
    submitted = np.where(draft, later, quick)
    approved = submitted + (rng.gamma(2.0, oc["approval_days"] / 2, n) * DAY).astype("int64")
    processing = (rng.gamma(4.0, oc["processing_days"] / 4, n) * DAY).astype("int64")
    shipped = np.maximum(submitted + processing, approved + 2 * HOUR)
    cancel_t = submitted + (rng.uniform(0.5, 8.0, n) * DAY).astype("int64")
    approved = np.where(cancelled & (approved > cancel_t), NULL, approved)
    shipped = np.where(cancelled, NULL, shipped)
    cancel_t = np.where(cancelled, cancel_t, NULL)
    return created, submitted, approved, shipped, cancel_t


def _order_channels(
    oc: dict, cust: Customers, c: np.ndarray, seg_o: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """The customer's preferred channel, switched on some orders by the segment's channel mix."""
    ch_cfg = oc["channel_by_segment"]
    channel = cust.channel[c].copy()
    switch = rng.random(len(c)) >= oc["channel_loyalty"]
    for sg, key in ((TOP, "top"), (MID, "mid"), (SMALL, "small")):
        rows = np.flatnonzero(switch & (seg_o == sg))
        _, p = probabilities(ch_cfg[key])
        channel[rows] = rng.choice(len(p), size=len(rows), p=p)
    return channel


def _order_lines(
    oc: dict,
    products: Products,
    fx: Fx,
    budget: np.ndarray,
    seg_o: np.ndarray,
    day: np.ndarray,
    currency: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, dict]:
    """Lines per order, and the lines of every order (the Orders l_* fields): skus picked to spend the
    order's budget at the segment's discounts."""
    n = len(budget)
    lc = oc["lines"]
    lam_l = lc["base_mean"] + lc["per_decade"] * np.maximum(0, np.log10(budget / 5000))
    n_lines = np.minimum(1 + rng.poisson(lam_l), lc["max_lines"])
    l_order = np.repeat(np.arange(n), n_lines)
    starts = np.concatenate([[0], np.cumsum(n_lines)[:-1]])
    l_no = np.arange(len(l_order)) - starts[l_order] + 1
    l_budget = split_by_group(rng, l_order, budget, 2.0)
    disc_cfg = oc["discount_by_segment"]
    d_lo = np.select([seg_o == TOP, seg_o == MID], [disc_cfg["top"][0], disc_cfg["mid"][0]], disc_cfg["small"][0])
    d_hi = np.select([seg_o == TOP, seg_o == MID], [disc_cfg["top"][1], disc_cfg["mid"][1]], disc_cfg["small"][1])
    d_order = np.round(d_lo + rng.integers(0, 1000, n) % (np.round((d_hi - d_lo) * 100).astype(int) + 1) / 100, 2)
    disc = d_order[l_order]
    tweak = rng.random(len(l_order)) < 0.25
    disc = np.where(tweak, np.clip(disc + rng.choice([-0.02, -0.01, 0.01, 0.02], size=len(disc)), 0, 0.3), disc)
    disc = np.round(disc, 2)
    l_day = day[l_order]
    sku = pick_skus(products, rng, l_day, l_budget)
    price_cny = products.price_at(sku, l_day)
    l_cur = currency[l_order]
    rate = fx.rate(l_cur, l_day)
    unit_price = np.where(l_cur == 0, price_cny, np.round(price_cny / rate, 2))
    qty = np.maximum(1, stochastic_round(rng, l_budget / (price_cny * (1 - disc))))
    amount = np.round(qty * unit_price * (1 - disc), 2)
    return n_lines, dict(
        l_order=l_order,
        l_no=l_no,
        l_sku=sku,
        l_qty=qty,
        l_price=unit_price,
        l_disc=disc,
        l_amount=amount,
        l_amount_cny=amount * rate,
    )


def expected_return_rate(products: Products) -> float:
    """Share of revenue expected back as returns, from the SKUs' return rates and revenue weights."""
    w = products.value_weight
    return float(np.sum(w * products.return_rate) / np.sum(w))


def orders_table(
    orders: Orders, timeline: Timeline, region: np.ndarray, region_names: list[str], account_number: np.ndarray
) -> pd.DataFrame:
    """erp/sales_orders: a row in the drop the order was created, again whenever its status changed."""
    n = orders.n
    idx = np.arange(n)
    # Events: created (draft), submitted, approved, shipped or cancelled.
    parts = [
        (idx, orders.created),
        (idx, orders.submitted),
        (idx[orders.approved != NULL], orders.approved[orders.approved != NULL]),
        (idx[orders.shipped != NULL], orders.shipped[orders.shipped != NULL]),
        (idx[orders.cancelled_at != NULL], orders.cancelled_at[orders.cancelled_at != NULL]),
    ]
    rec = np.concatenate([p[0] for p in parts])
    t = np.concatenate([p[1] for p in parts])
    ev, drop = last_per_drop(timeline, rec, t)
    o = rec[ev]
    at = t[ev]

    def upto(x: np.ndarray) -> np.ndarray:
        v = x[o]
        return np.where((v != NULL) & (v <= at), v, NULL)

    submitted = upto(orders.submitted)
    approved = upto(orders.approved)
    shipped = upto(orders.shipped)
    cancelled = upto(orders.cancelled_at)
    status = np.select([cancelled != NULL, shipped != NULL, approved != NULL], [3, 2, 1], 0)
    opp = orders.opportunity[o]
    return pd.DataFrame(
        {
            "order_id": orders.number[o],
            "account_id": account_number[orders.cust[o]],
            "opportunity_id": opp,
            "rep_id": orders.rep[o],
            "channel": pd.Categorical.from_codes(orders.channel[o], list(ORDER_CHANNELS)),
            "region": pd.Categorical.from_codes(region[orders.cust[o]], region_names),
            "order_date": orders.day[o],
            "submitted_at": submitted,
            "approved_at": approved,
            "shipped_at": shipped,
            "status": pd.Categorical.from_codes(status, list(ORDER_STATUSES)),
            "currency": pd.Categorical.from_codes(orders.currency[o], list(CURRENCIES)),
            "updated_at": at,
            "_drop": drop,
        }
    ).sort_values(["_drop", "order_id"], kind="stable")


ORDERS_KINDS = {
    "order_id": "id:SO:8",
    "account_id": "id:AC:7",
    "opportunity_id": "id:OP:8",
    "rep_id": "id:SR:4",
    "order_date": "date",
    "submitted_at": "ts",
    "approved_at": "ts",
    "shipped_at": "ts",
    "updated_at": "ts",
}


def lines_table(orders: Orders, products: Products, timeline: Timeline) -> pd.DataFrame:
    """erp/sales_order_lines: written once, in the drop where the order was created."""
    lo = orders.l_order
    frame = pd.DataFrame(
        {
            "order_id": orders.number[lo],
            "line_no": orders.l_no,
            "sku": pd.Categorical.from_codes(orders.l_sku, list(products.sku)),
            "quantity": orders.l_qty,
            "unit_price": orders.l_price,
            "discount_rate": orders.l_disc,
            "line_amount": orders.l_amount,
            "_drop": timeline.drop_of(orders.created[lo]),
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops]
    return frame.sort_values(["_drop", "order_id", "line_no"], kind="stable")


LINES_KINDS = {
    "order_id": "id:SO:8",
    "quantity": "int",
    "unit_price": "money",
    "discount_rate": "float",
    "line_amount": "money",
}


@dataclass
class Returns:
    order: np.ndarray
    line: np.ndarray  # index into the order lines
    qty: np.ndarray
    amount: np.ndarray
    amount_cny: np.ndarray
    returned_at: np.ndarray
    reason: np.ndarray


def build_returns(cfg: dict, orders: Orders, products: Products, rng: np.random.Generator) -> Returns:
    rc = cfg["returns"]
    shipped = orders.shipped[orders.l_order] != NULL
    p = np.minimum(products.return_rate[orders.l_sku] / 0.6, 1.0)
    hit = np.flatnonzero(shipped & (rng.random(len(p)) < p))
    q = orders.l_qty[hit]
    rq = np.clip(np.round(q * rng.uniform(0.2, 1.0, size=len(hit))), 1, q).astype("int64")
    amount = np.round(rq * orders.l_price[hit] * (1 - orders.l_disc[hit]), 2)
    o = orders.l_order[hit]
    lo, hi = rc["days_after_shipping"]
    back_day = orders.shipped[o] // DAY + rng.integers(lo, hi + 1, size=len(hit))
    at = work_time(rng, back_day)
    reasons, w = probabilities(rc["reasons"])
    reason = rng.choice(len(reasons), size=len(hit), p=w)
    rate = np.where(orders.l_amount[hit] > 0, orders.l_amount_cny[hit] / np.maximum(orders.l_amount[hit], 1e-9), 1.0)
    return Returns(o, hit, rq, amount, amount * rate, at, reason)


def returns_table(
    ret: Returns, orders: Orders, products: Products, timeline: Timeline, reasons: list[str]
) -> pd.DataFrame:
    order = np.lexsort((ret.line, ret.returned_at))
    number = np.empty(len(order), dtype="int64")
    number[order] = np.arange(1, len(order) + 1)
    frame = pd.DataFrame(
        {
            "return_id": number,
            "order_id": orders.number[ret.order],
            "line_no": orders.l_no[ret.line],
            "sku": pd.Categorical.from_codes(orders.l_sku[ret.line], list(products.sku)),
            "quantity": ret.qty,
            "amount": ret.amount,
            "returned_at": ret.returned_at,
            "reason": pd.Categorical.from_codes(ret.reason, reasons),
            "_drop": timeline.drop_of(ret.returned_at),
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops]
    return frame.sort_values(["_drop", "return_id"], kind="stable")


RETURNS_KINDS = {
    "return_id": "id:RT:8",
    "order_id": "id:SO:8",
    "line_no": "int",
    "quantity": "int",
    "amount": "money",
    "returned_at": "ts",
}


def payment_terms(cfg: dict, n_accounts: int, rng: np.random.Generator) -> np.ndarray:
    """Each account's payment terms in days after shipping (crm/accounts payment_terms_days)."""
    terms, tw = probabilities(cfg["payments"]["terms_days"])
    return np.array([int(x) for x in terms])[rng.choice(len(terms), size=n_accounts, p=tw)]


def payments_table(
    cfg: dict, orders: Orders, account_terms: np.ndarray, timeline: Timeline, rng: np.random.Generator
) -> pd.DataFrame:
    """erp/payments: shipped orders paid in full, in part or not at all, on the customer's terms
    (e-commerce orders are prepaid)."""
    pc = cfg["payments"]
    o = np.flatnonzero(orders.shipped != NULL)
    k = len(o)
    outcomes, w = probabilities(pc["outcome"])
    out = rng.choice(len(outcomes), size=k, p=w)
    frac = np.select(
        [out == outcomes.index("full"), out == outcomes.index("partial")],
        [1.0, rng.uniform(*pc["partial_fraction"], size=k)],
        0.0,
    )
    term = account_terms[orders.cust[o]]
    ecommerce = orders.channel[o] == ORDER_CHANNELS.index("ecommerce")
    term = np.where(ecommerce, 0, term)
    late = rng.integers(pc["late_days"][0], pc["late_days"][1] + 1, size=k)
    due_day = orders.shipped[o] // DAY + term + np.where(term == 0, 0, late)
    paid = np.where(term == 0, orders.submitted[o] + rng.integers(60, 7200, size=k), work_time(rng, due_day))
    two = (frac == 1.0) & (rng.random(k) < pc["two_installments"]) & (term > 0)
    amount = np.round(orders.total[o] * frac, 2)
    first_amount = np.where(two, np.round(amount * 0.6, 2), amount)
    p_order = np.concatenate([o, o[two]])
    p_amount = np.concatenate([first_amount, amount[two] - first_amount[two]])
    p_paid = np.concatenate([paid, paid[two] + 30 * DAY])
    keep = p_amount > 0
    p_order, p_amount, p_paid = p_order[keep], p_amount[keep], p_paid[keep]
    methods, mw = probabilities(pc["methods"])
    online = np.array([m in ("alipay", "wechat_pay") for m in methods])
    w_off = np.where(online, 0, mw)
    w_on = np.where(online, mw, 0)
    eco = orders.channel[p_order] == ORDER_CHANNELS.index("ecommerce")
    method = np.where(
        eco,
        rng.choice(len(methods), size=len(p_order), p=w_on / w_on.sum()),
        rng.choice(len(methods), size=len(p_order), p=w_off / w_off.sum()),
    )
    order = np.lexsort((p_order, p_paid))
    number = np.empty(len(order), dtype="int64")
    number[order] = np.arange(1, len(order) + 1)
    frame = pd.DataFrame(
        {
            "payment_id": number,
            "order_id": orders.number[p_order],
            "paid_at": p_paid,
            "amount": p_amount,
            "currency": pd.Categorical.from_codes(orders.currency[p_order], list(CURRENCIES)),
            "method": pd.Categorical.from_codes(method, methods),
            "_drop": timeline.drop_of(p_paid),
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops]
    return frame.sort_values(["_drop", "payment_id"], kind="stable")


PAYMENTS_KINDS = {"payment_id": "id:PM:8", "order_id": "id:SO:8", "paid_at": "ts", "amount": "money"}
