"""CRM pipeline: leads, opportunities and their stage history, built backwards from won deals.

Every won deal is anchored on an order (or, at the edges of the history, on a customer's first order
before the start or after the end date). Its opportunity opens one sales cycle earlier and, when the
customer came through marketing, a lead converts into it. The other leads (lost deals, disqualified,
nurturing) are added per month in the configured proportion to the won ones, so lead-to-deal
conversion holds for every monthly cohort.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_company.config import probabilities
from sample_company.customers import Customers
from sample_company.people import Reps
from sample_company.products import Products
from sample_company.sales import CURRENCIES, Fx, Orders
from sample_company.timeline import (
    DAY,
    HOUR,
    NULL,
    Timeline,
    last_per_drop,
    month_id,
    month_start_day,
    stochastic_round,
    work_time,
)

STAGES = ("qualification", "needs_analysis", "proposal", "negotiation", "closed_won", "closed_lost")
OPP_TYPES = ("new_business", "renewal", "upsell")
LEAD_STATUSES = ("new", "working", "nurturing", "qualified", "disqualified", "converted")
WON, LOST, OTHER = 0, 1, 2  # lead fates


@dataclass
class Pipeline:
    # leads
    ld_created: np.ndarray
    ld_fate: np.ndarray
    ld_final_status: np.ndarray  # LEAD_STATUSES code reached at ld_final
    ld_working: np.ndarray
    ld_final: np.ndarray
    ld_account: np.ndarray  # converted account (NULL if none)
    ld_opp: np.ndarray  # converted opportunity (NULL if none)
    ld_region: np.ndarray
    ld_industry: np.ndarray
    ld_emp: np.ndarray
    ld_channel: np.ndarray
    ld_campaign: np.ndarray
    ld_owner: np.ndarray
    ld_company: np.ndarray  # names of companies not converted (None for converted: the account's name)
    ld_number: np.ndarray
    # opportunities
    op_account: np.ndarray
    op_lead: np.ndarray
    op_type: np.ndarray
    op_line: np.ndarray
    op_amount: np.ndarray
    op_amount_cny: np.ndarray
    op_currency: np.ndarray
    op_created: np.ndarray
    op_close: np.ndarray
    op_won: np.ndarray
    op_loss_reason: np.ndarray
    op_order: np.ndarray
    op_owner: np.ndarray
    op_number: np.ndarray
    op_estimate: np.ndarray  # amount factor while open
    op_expected_shift: np.ndarray  # days between expected and actual close while open
    # stage history
    sh_opp: np.ndarray
    sh_stage: np.ndarray
    sh_t: np.ndarray
    # prospect accounts created by lost conversions (account index = customers.n + k)
    pr_region: np.ndarray
    pr_industry: np.ndarray
    pr_emp: np.ndarray
    pr_created: np.ndarray
    pr_owner: np.ndarray

    @property
    def n_leads(self) -> int:
        return len(self.ld_created)

    @property
    def n_opps(self) -> int:
        return len(self.op_account)


def _gamma_days(rng: np.random.Generator, mean: float, shape: float, size: int, lo: float, hi: float) -> np.ndarray:
    return np.clip(rng.gamma(shape, mean / shape, size=size), lo, hi)


def _industry(rng: np.random.Generator, cfg: dict, share: float, n: int) -> np.ndarray:
    industries = cfg["industries"]
    target = [industries.index(x) for x in cfg["pipeline"]["target_industries"]]
    others = [i for i in range(len(industries)) if i not in target]
    hit = rng.random(n) < share
    return np.where(
        hit, np.array(target)[rng.integers(0, len(target), n)], np.array(others)[rng.integers(0, len(others), n)]
    )


def _employees(rng: np.random.Generator, large_share: float, n: int) -> np.ndarray:
    large = rng.random(n) < large_share
    lo = np.where(large, np.log(1001), np.log(10))
    hi = np.where(large, np.log(20000), np.log(1000))
    return np.round(np.exp(lo + rng.random(n) * (hi - lo)), -1).astype("int64").clip(10)


def build_pipeline(
    cfg: dict,
    timeline: Timeline,
    cust: Customers,
    orders: Orders,
    products: Products,
    fx: Fx,
    reps: Reps,
    assign_campaign: Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray],
    company_namer: Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray],
    rng: np.random.Generator,
) -> Pipeline:
    pc = cfg["pipeline"]
    _, line_w = probabilities([ln["revenue_share"] for ln in cfg["products"]["lines"]])
    won = _won_deals(cfg, timeline, cust, orders, fx, line_w, rng)
    wl, wl_conv, wl_created = _won_leads(pc, timeline, won, rng)
    lost_m, other_m, cohort_days = _cohorts(pc, timeline, wl_created, rng)
    ll = _lost_conversions(cfg, timeline, cust, fx, won, cohort_days(lost_m), rng)
    ol_created, ol_fate, ol_final = _other_leads(pc, cohort_days(other_m), rng)
    xl = _lost_existing(cfg, timeline, cust, fx, won, rng)
    op = _opportunities(pc, won, ll, xl, line_w, rng)
    n_op = len(op["account"])
    op_lead = np.full(n_op, NULL, dtype="int64")
    ld = _leads(won, wl, wl_conv, wl_created, ll, ol_created, ol_fate, ol_final, op_lead, rng)
    _lead_attributes(cfg, cust, ld, ll, company_namer, rng)
    ld["campaign"] = assign_campaign(rng, ld["channel"], ld["created"] // DAY)
    pr_created, pr_owner = _lead_owners(cust, reps, won, wl, ll, ld, rng)
    sh_opp, sh_stage, sh_t = _stage_history(pc, op["won"], op["created"], op["close"], rng)
    return Pipeline(
        ld_created=ld["created"],
        ld_fate=ld["fate"],
        ld_final_status=ld["final_status"],
        ld_working=ld["working"],
        ld_final=ld["final"],
        ld_account=ld["account"],
        ld_opp=ld["opp"],
        ld_region=ld["region"],
        ld_industry=ld["industry"],
        ld_emp=ld["emp"],
        ld_channel=ld["channel"],
        ld_campaign=ld["campaign"],
        ld_owner=ld["owner"],
        ld_company=ld["company"],
        ld_number=_rank(ld["created"]),  # identifiers by creation time
        op_account=op["account"],
        op_lead=op_lead,
        op_type=op["type"],
        op_line=op["line"],
        op_amount=op["amount"],
        op_amount_cny=op["amount_cny"],
        op_currency=op["currency"],
        op_created=op["created"],
        op_close=op["close"],
        op_won=op["won"],
        op_loss_reason=op["loss"],
        op_order=op["order"],
        op_owner=np.full(n_op, NULL, dtype="int64"),
        op_number=_rank(op["created"]),
        op_estimate=rng.uniform(0.85, 1.25, n_op),
        op_expected_shift=np.round(rng.normal(0, 12, n_op)).astype("int64"),
        sh_opp=sh_opp,
        sh_stage=sh_stage,
        sh_t=sh_t,
        pr_region=ll["pr_region"],
        pr_industry=ll["pr_industry"],
        pr_emp=ll["pr_emp"],
        pr_created=pr_created,
        pr_owner=pr_owner,
    )


def _won_deals(
    cfg: dict, timeline: Timeline, cust: Customers, orders: Orders, fx: Fx, line_w: np.ndarray, rng: np.random.Generator
) -> dict:
    """The won deals: one per order marked as a deal, the first deals of customers whose first order
    falls outside the history, and next year's renewals (open at the end date)."""
    pc = cfg["pipeline"]
    end_t = (timeline.end_day + 1) * DAY - 1
    o = np.flatnonzero(orders.is_deal)
    w_type = np.where(orders.is_first[o], 0, np.where(rng.random(len(o)) < cfg["orders"]["renewal_share"], 1, 2))
    w_lead = orders.is_first[o] & cust.via_lead[orders.cust[o]]

    # Edges: first orders before the start or after the end date (no order row, only the deal).
    edge = np.flatnonzero(
        ((cust.acq == -1) & (cust.first_day >= timeline.sim_lo) | (cust.acq == 3)) & (cust.via_lead | cust.rep_sourced)
    )
    e_cny = np.maximum(cust.spend[edge].max(axis=1), 0) * rng.uniform(0.2, 0.6, len(edge))
    e_cny = np.where(e_cny > 0, e_cny, rng.lognormal(np.log(20000), 0.8, len(edge)))
    e_rate = fx.rate(cust.currency[edge], np.minimum(cust.first_day[edge], timeline.end_day))
    e_amount = np.round(e_cny / e_rate, 2)
    # Next year's renewals of last year's deals, so that renewals are open at the end date.
    tw = o[(orders.window[o] == 2) & ~orders.is_first[o]]
    t_factor = rng.uniform(0.9, 1.2, len(tw))

    acct = np.concatenate([orders.cust[o], edge, orders.cust[tw]])
    anchor = np.concatenate([orders.day[o], cust.first_day[edge], orders.day[tw] + 365])
    amount = np.concatenate([orders.total[o], e_amount, np.round(orders.total[tw] * t_factor, 2)])
    amount_cny = np.concatenate([orders.total_cny[o], e_cny, orders.total_cny[tw] * t_factor])
    currency = np.concatenate([orders.currency[o], cust.currency[edge], orders.currency[tw]])
    line = np.concatenate(
        [orders.main_line[o], rng.choice(len(line_w), size=len(edge), p=line_w), orders.main_line[tw]]
    )
    order_of = np.concatenate([o, np.full(len(edge), NULL), np.full(len(tw), NULL)])
    otype = np.concatenate([w_type, np.zeros(len(edge), dtype="int64"), np.ones(len(tw), dtype="int64")])
    with_lead = np.concatenate([w_lead, cust.via_lead[edge], np.zeros(len(tw), dtype=bool)])
    n_new_lead = int(with_lead.sum())
    existing = np.flatnonzero(otype != 0)
    ex = pc["existing_account_share"]
    n_ex = min(round(n_new_lead * ex / (1 - ex)), len(existing))
    pick = rng.choice(existing, size=n_ex, replace=False)
    with_lead[pick] = True
    otype[pick] = 2

    lag_lo, lag_hi = pc["order_lag_days"]
    close_day = anchor - rng.integers(lag_lo, lag_hi + 1, len(acct))
    cycle = np.round(
        _gamma_days(rng, pc["sales_cycle_days"], 3.0, len(acct), pc["cycle_min_days"], pc["cycle_max_days"])
    )
    created = work_time(rng, close_day - cycle.astype("int64"))
    close = work_time(rng, close_day)
    # the CRM history starts lead_in_days before the first drop: deals opened earlier are left out,
    # so every CRM month the scorecard shows holds a whole population, not a few long deals
    keep = (created <= end_t) & (created >= timeline.sim_lo * DAY)
    return dict(
        acct=acct[keep],
        amount=amount[keep],
        amount_cny=amount_cny[keep],
        currency=currency[keep],
        line=line[keep],
        order=order_of[keep],
        type=otype[keep],
        lead=with_lead[keep],
        created=created[keep],
        close=close[keep],
    )


def _won_leads(pc: dict, timeline: Timeline, won: dict, rng: np.random.Generator) -> tuple:
    """The leads of won deals: which deals, their conversion and creation times."""
    wl = np.flatnonzero(won["lead"])
    wl_conv = won["created"][wl]
    wl_created = wl_conv - (_gamma_days(rng, pc["lead_age_days"], 2.0, len(wl), 0.05, 90) * DAY).astype("int64")
    wl_created = np.maximum(wl_created // 60 * 60, timeline.sim_lo * DAY)
    return wl, wl_conv, wl_created


def _cohorts(pc: dict, timeline: Timeline, wl_created: np.ndarray, rng: np.random.Generator) -> tuple:
    """Companions per monthly cohort: lost conversions and other leads per month, in proportion to the
    month's won leads, and a function drawing creation days for per-month counts."""
    end_t = (timeline.end_day + 1) * DAY - 1
    p = pc["lead_to_deal"]
    q = pc["lead_to_opportunity"]
    m0 = int(month_id(np.array([timeline.sim_lo]))[0])
    m1 = int(month_id(np.array([timeline.end_day]))[0])
    wl_month = month_id(wl_created // DAY)
    in_range = (wl_created <= end_t) & (wl_month >= m0)
    won_m = np.bincount(wl_month[in_range] - m0, minlength=m1 - m0 + 1).astype(float)
    lost_m = stochastic_round(rng, won_m * (q - p) / p)
    other_m = stochastic_round(rng, won_m * (1 - q) / p)
    months = np.arange(m0, m1 + 1)
    m_lo = np.maximum(month_start_day(months), timeline.sim_lo)
    m_hi = np.minimum(month_start_day(months + 1) - 1, timeline.end_day)

    def cohort_days(counts: np.ndarray) -> np.ndarray:
        idx = np.repeat(np.arange(len(months)), counts)
        return timeline.sample_days(rng, m_lo[idx], m_hi[idx])

    return lost_m, other_m, cohort_days


def _lost_conversions(
    cfg: dict, timeline: Timeline, cust: Customers, fx: Fx, won: dict, days: np.ndarray, rng: np.random.Generator
) -> dict:
    """Leads converted into a deal that was lost (created on `days`); some land on an existing customer
    (upsell), the others create a prospect account (pr_*)."""
    pc = cfg["pipeline"]
    ll_created = work_time(rng, days)
    nl = len(ll_created)
    ll_conv = ll_created + (_gamma_days(rng, pc["lead_age_days"], 2.0, nl, 0.05, 90) * DAY).astype("int64")
    ll_conv = ll_conv // 60 * 60
    ll_close = ll_conv + (_gamma_days(rng, pc["lost_cycle_days"], 3.0, nl, 7, pc["cycle_max_days"]) * DAY).astype(
        "int64"
    )
    ll_close = work_time(rng, ll_close // DAY)
    ll_close = np.maximum(ll_close, ll_conv + HOUR)
    ll_acct = np.full(nl, NULL, dtype="int64")
    on_existing = np.flatnonzero(rng.random(nl) < pc["existing_account_share"])
    ll_acct[on_existing] = _existing_customer(rng, cust, timeline, ll_conv[on_existing] // DAY)
    prospect = np.flatnonzero(ll_acct == NULL)
    pr_region = _region_draw(rng, cfg, len(prospect))
    pr_industry = _industry(rng, cfg, pc["target_industry_share"]["lost"], len(prospect))
    pr_emp = _employees(rng, pc["large_company_share"]["lost"], len(prospect))
    ll_acct[prospect] = cust.n + np.arange(len(prospect))
    on_existing = np.flatnonzero(ll_acct < cust.n)
    new_amounts = won["amount_cny"][won["type"] == 0]
    if not len(new_amounts):
        new_amounts = np.array([50000.0])
    ll_cny = rng.choice(new_amounts, size=nl) * rng.uniform(0.6, 1.6, nl)
    ll_cur = np.zeros(nl, dtype="int64")
    ll_cur[on_existing] = cust.currency[ll_acct[on_existing]]
    ll_amount = np.round(ll_cny / fx.rate(ll_cur, np.minimum(ll_conv // DAY, timeline.end_day)), 2)
    return dict(
        created=ll_created,
        conv=ll_conv,
        close=ll_close,
        acct=ll_acct,
        cny=ll_cny,
        cur=ll_cur,
        amount=ll_amount,
        type=np.where(ll_acct < cust.n, 2, 0),
        pr_region=pr_region,
        pr_industry=pr_industry,
        pr_emp=pr_emp,
    )


def _other_leads(pc: dict, days: np.ndarray, rng: np.random.Generator) -> tuple:
    """Leads never converted (created on `days`): their final status and when they reached it."""
    ol_created = work_time(rng, days)
    no = len(ol_created)
    fates, fw = probabilities(pc["other_lead_fates"])
    ol_fate = np.array([LEAD_STATUSES.index(f) for f in fates])[rng.choice(len(fates), size=no, p=fw)]
    span = np.select(
        [ol_fate == LEAD_STATUSES.index("qualified"), ol_fate == LEAD_STATUSES.index("nurturing")],
        [rng.uniform(5, 30, no), rng.uniform(10, 60, no)],
        rng.uniform(5, 45, no),
    )
    ol_final = work_time(rng, ol_created // DAY + np.round(span).astype("int64"))
    return ol_created, ol_fate, ol_final


def _lost_existing(cfg: dict, timeline: Timeline, cust: Customers, fx: Fx, won: dict, rng: np.random.Generator) -> dict:
    """Lost renewals and upsells on existing customers (no lead), at the configured win rate."""
    pc = cfg["pipeline"]
    ex_won = np.flatnonzero((won["type"] != 0) & ~won["lead"] & (won["created"] >= timeline.start_day * DAY))
    rate = len(ex_won) / max(timeline.end_day - timeline.start_day + 1, 1)
    wr = pc["existing_win_rate"]
    n_xl = round(rate * (timeline.end_day - timeline.sim_lo + 1) * (1 - wr) / wr)
    xl_day = timeline.sample_days(rng, np.full(n_xl, timeline.sim_lo), np.full(n_xl, timeline.end_day))
    xl_created = work_time(rng, xl_day)
    xl_acct = _existing_customer(rng, cust, timeline, xl_day)
    ok = xl_acct != NULL
    xl_created, xl_acct = xl_created[ok], xl_acct[ok]
    nx = len(xl_acct)
    src = rng.choice(ex_won, size=nx) if len(ex_won) else np.zeros(nx, dtype="int64")
    xl_cny = (won["amount_cny"][src] if len(ex_won) else np.full(nx, 1e5)) * rng.uniform(0.6, 1.4, nx)
    xl_cur = cust.currency[xl_acct]
    xl_amount = np.round(xl_cny / fx.rate(xl_cur, np.minimum(xl_created // DAY, timeline.end_day)), 2)
    xl_close = work_time(
        rng,
        xl_created // DAY + _gamma_days(rng, pc["lost_cycle_days"], 3.0, nx, 7, pc["cycle_max_days"]).astype("int64"),
    )
    xl_type = np.where(rng.random(nx) < cfg["orders"]["renewal_share"], 1, 2)
    return dict(
        created=xl_created, acct=xl_acct, cny=xl_cny, cur=xl_cur, amount=xl_amount, close=xl_close, type=xl_type
    )


def _opportunities(pc: dict, won: dict, ll: dict, xl: dict, line_w: np.ndarray, rng: np.random.Generator) -> dict:
    """Every opportunity: won deals, then lost conversions, then lost deals on existing customers."""
    nw, nl, nx = len(won["acct"]), len(ll["acct"]), len(xl["acct"])
    op_won = np.concatenate([np.ones(nw, bool), np.zeros(nl + nx, bool)])
    op = dict(
        account=np.concatenate([won["acct"], ll["acct"], xl["acct"]]),
        created=np.concatenate([won["created"], ll["conv"], xl["created"]]),
        close=np.concatenate([won["close"], ll["close"], xl["close"]]),
        won=op_won,
        amount=np.concatenate([won["amount"], ll["amount"], xl["amount"]]),
        amount_cny=np.concatenate([won["amount_cny"], ll["cny"], xl["cny"]]),
        currency=np.concatenate([won["currency"], ll["cur"], xl["cur"]]),
        type=np.concatenate([won["type"], ll["type"], xl["type"]]),
        line=np.concatenate([won["line"], rng.choice(len(line_w), size=nl + nx, p=line_w)]),
        order=np.concatenate([won["order"], np.full(nl + nx, NULL)]),
    )
    reasons, rw = probabilities(pc["loss_reasons"])
    op["loss"] = np.where(op_won, NULL, rng.choice(len(reasons), size=len(op_won), p=rw))
    return op


def _leads(
    won: dict,
    wl: np.ndarray,
    wl_conv: np.ndarray,
    wl_created: np.ndarray,
    ll: dict,
    ol_created: np.ndarray,
    ol_fate: np.ndarray,
    ol_final: np.ndarray,
    op_lead: np.ndarray,
    rng: np.random.Generator,
) -> dict:
    """Every lead, in the order won-deal leads, lost-conversion leads, other leads; links the
    converted ones to their opportunity (op_lead, filled in place)."""
    nw, nl, no = len(won["acct"]), len(ll["acct"]), len(ol_created)
    ld_created = np.concatenate([wl_created, ll["created"], ol_created])
    ld_conv = np.concatenate([wl_conv, ll["conv"], np.full(no, NULL)])
    op_lead[wl] = np.arange(len(wl))
    op_lead[nw : nw + nl] = len(wl) + np.arange(nl)
    conv = ld_conv != NULL
    ld_final = np.where(conv, ld_conv, np.concatenate([np.zeros(len(wl) + nl, "int64"), ol_final]))
    ld_final_status = np.where(
        conv, LEAD_STATUSES.index("converted"), np.concatenate([np.zeros(len(wl) + nl, "int64"), ol_fate])
    )
    gap = np.where(conv, ld_final - ld_created, (ld_final - ld_created) // 2)
    ld_working = ld_created + np.minimum(
        (rng.uniform(2 * HOUR, 3 * DAY, len(ld_created))).astype("int64"), gap // 3
    ).clip(60)
    return dict(
        created=ld_created,
        fate=np.concatenate([np.full(len(wl), WON), np.full(nl, LOST), np.full(no, OTHER)]),
        account=np.concatenate([won["acct"][wl], ll["acct"], np.full(no, NULL)]),
        opp=np.concatenate([wl, nw + np.arange(nl), np.full(no, NULL)]),
        final=ld_final,
        final_status=ld_final_status,
        working=ld_working,
    )


def _lead_attributes(
    cfg: dict, cust: Customers, ld: dict, ll: dict, company_namer: Callable, rng: np.random.Generator
) -> None:
    """Region, industry, size, company name and channel of every lead (into `ld`): customers' for their
    leads, prospects' for lost conversions, drawn for the others."""
    pc = cfg["pipeline"]
    n_ld = len(ld["created"])
    ld_account, ld_fate = ld["account"], ld["fate"]
    ld_region = np.empty(n_ld, dtype="int64")
    ld_industry = np.empty(n_ld, dtype="int64")
    ld_emp = np.empty(n_ld, dtype="int64")
    is_cust = (ld_account != NULL) & (ld_account < cust.n)
    ca = ld_account[is_cust]
    ld_region[is_cust], ld_industry[is_cust], ld_emp[is_cust] = (
        cust.region[ca],
        cust.industry[ca],
        cust.employee_count[ca],
    )
    is_pr = ld_account >= cust.n
    k = ld_account[is_pr] - cust.n
    ld_region[is_pr], ld_industry[is_pr], ld_emp[is_pr] = ll["pr_region"][k], ll["pr_industry"][k], ll["pr_emp"][k]
    oth = ld_fate == OTHER
    ld_region[oth] = _region_draw(rng, cfg, int(oth.sum()))
    ld_industry[oth] = _industry(rng, cfg, pc["target_industry_share"]["other"], int(oth.sum()))
    ld_emp[oth] = _employees(rng, pc["large_company_share"]["other"], int(oth.sum()))
    ld_company = np.full(n_ld, None, dtype=object)
    ld_company[oth] = company_namer(rng, ld_region[oth], ld_industry[oth])

    channels = pc["channels"]
    ld_channel = np.empty(n_ld, dtype="int64")
    for fate, key in ((WON, "won"), (LOST, "lost"), (OTHER, "other")):
        rows = np.flatnonzero(ld_fate == fate)
        _, cw = probabilities(pc["channel_mix"][key])
        ld_channel[rows] = rng.choice(len(channels), size=len(rows), p=cw)
    ld.update(region=ld_region, industry=ld_industry, emp=ld_emp, company=ld_company, channel=ld_channel)


def _lead_owners(
    cust: Customers, reps: Reps, won: dict, wl: np.ndarray, ll: dict, ld: dict, rng: np.random.Generator
) -> tuple:
    """Owners of leads on new companies now (into `ld`); leads on existing accounts take the account
    owner later (fill_owners). Returns the prospect accounts' creation times and owners."""
    n_ld = len(ld["created"])
    nl, no = len(ll["acct"]), n_ld - len(wl) - len(ll["acct"])
    is_cust = (ld["account"] != NULL) & (ld["account"] < cust.n)
    ld_owner = np.full(n_ld, NULL, dtype="int64")
    new_co = ~is_cust | (np.concatenate([won["type"][wl] == 0, np.zeros(nl + no, bool)]) & is_cust)
    ld_owner[new_co] = reps.pick_active(rng, ld["region"][new_co], ld["created"][new_co] // DAY)
    ld["owner"] = ld_owner
    pr_lead = len(wl) + np.flatnonzero(ll["acct"] >= cust.n)
    return ll["conv"][ll["acct"] >= cust.n], ld_owner[pr_lead]


def _stage_history(
    pc: dict, op_won: np.ndarray, op_created: np.ndarray, op_close: np.ndarray, rng: np.random.Generator
) -> tuple:
    """Stage history: every opportunity opens in qualification, passes some middle stages (a lost one
    up to the stage it was lost at) and closes won or lost."""
    n_op = len(op_won)
    skip = pc["stage_skip"]
    reached = np.where(op_won, 3, rng.choice(4, size=n_op, p=probabilities(pc["lost_at_stage"])[1]))
    inc = rng.random((n_op, 3)) >= skip
    inc = inc & (np.arange(1, 4)[None, :] <= reached[:, None])
    inc[np.arange(n_op), np.maximum(reached - 1, 0)] |= (~op_won) & (reached > 0)
    frac = np.sort(rng.random((n_op, 3)), axis=1)
    times = op_created[:, None] + (frac * (op_close - op_created)[:, None]).astype("int64")
    times = times // 60 * 60
    sh_opp = [np.arange(n_op)]
    sh_stage = [np.zeros(n_op, dtype="int64")]
    sh_t = [op_created]
    for j in range(3):
        rows = np.flatnonzero(inc[:, j])
        sh_opp.append(rows)
        sh_stage.append(np.full(len(rows), j + 1))
        sh_t.append(times[rows, j])
    sh_opp.append(np.arange(n_op))
    sh_stage.append(np.where(op_won, 4, 5))
    sh_t.append(op_close)
    return np.concatenate(sh_opp), np.concatenate(sh_stage), np.concatenate(sh_t)


def _rank(t: np.ndarray) -> np.ndarray:
    order = np.lexsort((np.arange(len(t)), t))
    number = np.empty(len(t), dtype="int64")
    number[order] = np.arange(1, len(t) + 1)
    return number


def _region_draw(rng: np.random.Generator, cfg: dict, n: int) -> np.ndarray:
    _, w = probabilities(cfg["regions"]["customer_share"])
    return rng.choice(len(w), size=n, p=w)


def _existing_customer(rng: np.random.Generator, cust: Customers, timeline: Timeline, day: np.ndarray) -> np.ndarray:
    """A customer that is buying around each day (acquired before it, not yet churned); NULL if none found."""
    last_hi = np.array([timeline.window(w)[1] for w in (0, 1, 2)] + [timeline.sim_hi])
    alive_to = last_hi[cust.last]
    out = np.full(len(day), NULL, dtype="int64")
    pending = np.arange(len(day))
    for _ in range(30):
        if not len(pending):
            break
        c = rng.integers(0, cust.n, len(pending))
        ok = (cust.first_day[c] < day[pending]) & (day[pending] <= alive_to[c])
        out[pending[ok]] = c[ok]
        pending = pending[~ok]
    return out


def fill_owners(pipe: Pipeline, owner_at: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """Owners that depend on the account: leads on existing accounts and opportunities."""
    missing = pipe.ld_owner == NULL
    pipe.ld_owner[missing] = owner_at(pipe.ld_account[missing], pipe.ld_created[missing])
    has_lead = pipe.op_lead != NULL
    pipe.op_owner[has_lead] = pipe.ld_owner[pipe.op_lead[has_lead]]
    pipe.op_owner[~has_lead] = owner_at(pipe.op_account[~has_lead], pipe.op_created[~has_lead])


def leads_table(
    pipe: Pipeline,
    accounts_number: np.ndarray,
    account_name: np.ndarray,
    reps_number: np.ndarray,
    campaigns_number: np.ndarray,
    timeline: Timeline,
    cfg: dict,
) -> pd.DataFrame:
    """crm/leads: a row when captured, again at each status change (working, qualified, converted, ...)."""
    n = pipe.n_leads
    idx = np.arange(n)
    conv = pipe.ld_account != NULL
    qualified_t = pipe.ld_created + ((pipe.ld_final - pipe.ld_created) * 0.7).astype("int64") // 60 * 60
    status_code = {s: i for i, s in enumerate(LEAD_STATUSES)}
    rec = np.concatenate([idx, idx, idx[conv], idx])
    t = np.concatenate([pipe.ld_created, pipe.ld_working, qualified_t[conv], pipe.ld_final])
    status = np.concatenate(
        [
            np.full(n, status_code["new"]),
            np.full(n, status_code["working"]),
            np.full(conv.sum(), status_code["qualified"]),
            pipe.ld_final_status,
        ]
    )
    ev, drop = last_per_drop(timeline, rec, t)
    ld = rec[ev]
    st = status[ev]
    done = st == status_code["converted"]
    acct = pipe.ld_account[ld]
    company = np.where(acct != NULL, account_name[np.maximum(acct, 0)], pipe.ld_company[ld])
    opp = pipe.ld_opp[ld]
    return pd.DataFrame(
        {
            "lead_id": pipe.ld_number[ld],
            "created_at": pipe.ld_created[ld],
            "company_name": company,
            "industry": pd.Categorical.from_codes(pipe.ld_industry[ld], cfg["industries"]),
            "employee_count": pipe.ld_emp[ld],
            "region": pd.Categorical.from_codes(pipe.ld_region[ld], cfg["regions"]["names"]),
            "channel": pd.Categorical.from_codes(pipe.ld_channel[ld], cfg["pipeline"]["channels"]),
            # campaign indexes are internal; the written id is the campaign's number
            "campaign_id": np.where(
                pipe.ld_campaign[ld] != NULL, campaigns_number[np.maximum(pipe.ld_campaign[ld], 0)], NULL
            ),
            "status": pd.Categorical.from_codes(st, list(LEAD_STATUSES)),
            "owner_rep_id": reps_number[pipe.ld_owner[ld]],
            "converted_at": np.where(done, pipe.ld_final[ld], NULL),
            "converted_account_id": np.where(done, accounts_number[np.maximum(acct, 0)], NULL),
            "converted_opportunity_id": np.where(done, pipe.op_number[np.maximum(opp, 0)], NULL),
            "updated_at": t[ev],
            "_drop": drop,
        }
    ).sort_values(["_drop", "lead_id"], kind="stable")


LEADS_KINDS = {
    "lead_id": "id:LD:8",
    "created_at": "ts",
    "employee_count": "int",
    "campaign_id": "id:CP:5",
    "owner_rep_id": "id:SR:4",
    "converted_at": "ts",
    "converted_account_id": "id:AC:7",
    "converted_opportunity_id": "id:OP:8",
    "updated_at": "ts",
}


def opportunities_table(
    pipe: Pipeline, accounts_number: np.ndarray, reps_number: np.ndarray, timeline: Timeline, cfg: dict
) -> pd.DataFrame:
    """crm/opportunities: a row in the drop each stage was entered (the last stage of the month)."""
    ev, drop = last_per_drop(timeline, pipe.sh_opp, pipe.sh_t)
    o = pipe.sh_opp[ev]
    stage = pipe.sh_stage[ev]
    at = pipe.sh_t[ev]
    closed = stage >= 4
    close_day = pipe.op_close[o] // DAY
    expected = np.maximum(close_day + pipe.op_expected_shift[o], at // DAY + 1)
    amount = np.where(closed, pipe.op_amount[o], np.round(pipe.op_amount[o] * pipe.op_estimate[o], -2))
    amount = np.where(amount > 0, amount, pipe.op_amount[o])
    reasons = list(cfg["pipeline"]["loss_reasons"])
    lead = pipe.op_lead[o]
    return pd.DataFrame(
        {
            "opportunity_id": pipe.op_number[o],
            "account_id": accounts_number[pipe.op_account[o]],
            "owner_rep_id": reps_number[pipe.op_owner[o]],
            "lead_id": np.where(lead != NULL, pipe.ld_number[np.maximum(lead, 0)], NULL),
            "opportunity_type": pd.Categorical.from_codes(pipe.op_type[o], list(OPP_TYPES)),
            "product_line": pd.Categorical.from_codes(pipe.op_line[o], [ln["name"] for ln in cfg["products"]["lines"]]),
            "amount": amount,
            "currency": pd.Categorical.from_codes(pipe.op_currency[o], list(CURRENCIES)),
            "created_at": pipe.op_created[o],
            "close_date": np.where(closed, close_day, expected),
            "stage": pd.Categorical.from_codes(stage, list(STAGES)),
            "is_closed": closed.astype("int8"),
            "is_won": (stage == 4).astype("int8"),
            "loss_reason": pd.Categorical.from_codes(np.where(stage == 5, pipe.op_loss_reason[o], -1), reasons),
            "updated_at": at,
            "_drop": drop,
        }
    ).sort_values(["_drop", "opportunity_id"], kind="stable")


OPPORTUNITIES_KINDS = {
    "opportunity_id": "id:OP:8",
    "account_id": "id:AC:7",
    "owner_rep_id": "id:SR:4",
    "lead_id": "id:LD:8",
    "amount": "money",
    "created_at": "ts",
    "close_date": "date",
    "is_closed": "bool",
    "is_won": "bool",
    "updated_at": "ts",
}


def stage_history_table(pipe: Pipeline, timeline: Timeline) -> pd.DataFrame:
    """crm/opportunity_stage_history: each stage entered, in the drop of the month it was entered."""
    drop = timeline.drop_of(pipe.sh_t)
    frame = pd.DataFrame(
        {
            "opportunity_id": pipe.op_number[pipe.sh_opp],
            "stage": pd.Categorical.from_codes(pipe.sh_stage, list(STAGES)),
            "entered_at": pipe.sh_t,
            "_drop": drop,
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops]
    return frame.sort_values(["_drop", "entered_at", "opportunity_id"], kind="stable")


STAGE_HISTORY_KINDS = {"opportunity_id": "id:OP:8", "entered_at": "ts"}
