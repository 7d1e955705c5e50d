"""Customer service and voice of the customer: cases, NPS waves and CSAT after resolved cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_company.accounts import Contacts
from sample_company.config import probabilities
from sample_company.customers import MID, TOP, Customers, seg_of
from sample_company.sales import Orders
from sample_company.timeline import DAY, HOUR, NULL, Timeline, last_per_drop, month_start_day, work_time

CASE_CATEGORIES = ("complaint", "inquiry", "technical", "billing")
SURVEY_TYPES = ("nps", "csat")


@dataclass
class Cases:
    acct: np.ndarray
    category: np.ndarray
    priority: np.ndarray
    opened: np.ndarray
    responded: np.ndarray
    resolved: np.ndarray
    number: np.ndarray
    priorities: list[str]


def build_cases(cfg: dict, timeline: Timeline, cust: Customers, rng: np.random.Generator) -> Cases:
    sc = cfg["service"]
    rate = sc["cases_per_year"]
    c_parts, lo_parts, hi_parts = [], [], []
    for w in (0, 1, 2):
        c = np.flatnonzero(cust.active(w))
        lo, hi = timeline.window(w)
        start = np.maximum(cust.first_day[c], lo)
        seg = seg_of(cust.spend[c, w], cfg)
        lam = np.select([seg == TOP, seg == MID], [rate["top"], rate["mid"]], rate["small"]) * (hi - start + 1) / 365
        k = rng.poisson(lam)
        c_parts.append(np.repeat(c, k))
        lo_parts.append(np.repeat(start, k))
        hi_parts.append(np.full(k.sum(), hi))
    acct = np.concatenate(c_parts)
    n = len(acct)
    day = timeline.sample_days(rng, np.concatenate(lo_parts), np.concatenate(hi_parts))
    opened = work_time(rng, day, 8.0, 11.0)
    cats, cw = probabilities(sc["category"])
    category = np.array([CASE_CATEGORIES.index(c) for c in cats])[rng.choice(len(cats), size=n, p=cw)]
    prios, pw = probabilities(sc["priority"])
    priority = rng.choice(len(prios), size=n, p=pw)
    hours = rng.lognormal(np.log(sc["first_response_hours_median"]), 1.0, n) * np.where(category == 0, 0.7, 1.0)
    responded = opened + (np.clip(hours, 0.1, 96) * HOUR).astype("int64")
    days = rng.lognormal(np.log(sc["resolution_days_median"]), 0.9, n)
    resolved = responded + (np.clip(days, 0.05, 60) * DAY).astype("int64")
    number = np.empty(n, dtype="int64")
    number[np.lexsort((acct, opened))] = np.arange(1, n + 1)
    return Cases(acct, category, priority, opened, responded, resolved, number, prios)


def cases_table(cases: Cases, account_number: np.ndarray, timeline: Timeline) -> pd.DataFrame:
    """crm/cases: a row when opened, again in the drop where it was answered or resolved."""
    n = len(cases.acct)
    idx = np.arange(n)
    rec = np.concatenate([idx, idx, idx])
    t = np.concatenate([cases.opened, cases.responded, cases.resolved])
    ev, drop = last_per_drop(timeline, rec, t)
    c = rec[ev]
    at = t[ev]
    return pd.DataFrame(
        {
            "case_id": cases.number[c],
            "account_id": account_number[cases.acct[c]],
            "category": pd.Categorical.from_codes(cases.category[c], list(CASE_CATEGORIES)),
            "priority": pd.Categorical.from_codes(cases.priority[c], cases.priorities),
            "opened_at": cases.opened[c],
            "first_response_at": np.where(cases.responded[c] <= at, cases.responded[c], NULL),
            "resolved_at": np.where(cases.resolved[c] <= at, cases.resolved[c], NULL),
            "_drop": drop,
        }
    ).sort_values(["_drop", "case_id"], kind="stable")


CASES_KINDS = {
    "case_id": "id:CS:8",
    "account_id": "id:AC:7",
    "opened_at": "ts",
    "first_response_at": "ts",
    "resolved_at": "ts",
}


def surveys_table(
    cfg: dict,
    timeline: Timeline,
    orders: Orders,
    contacts: Contacts,
    cases: Cases,
    account_number: np.ndarray,
    contact_number: np.ndarray,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """marketing/survey_responses: NPS waves to contacts of active customers, CSAT after resolved cases."""
    sc = cfg["service"]
    live = ~orders.is_cancelled
    acct_parts, contact_parts, t_parts, type_parts, score_parts = [], [], [], [], []
    nps_p = np.asarray(sc["nps_scores"], dtype=float)
    first_m = int(
        np.asarray(timeline.start_day, dtype="int64").astype("datetime64[D]").astype("datetime64[M]").astype(int)
    )
    last_m = int(
        np.asarray(timeline.end_day, dtype="int64").astype("datetime64[D]").astype("datetime64[M]").astype(int)
    )
    for m in range(first_m, last_m + 1):
        if m % 12 + 1 not in sc["nps_wave_months"]:
            continue
        ws = int(month_start_day(np.array([m]))[0])
        # customers with an order in the 365 days to the wave month's end (so the first months of
        # the history have a survey base too)
        active = np.unique(orders.cust[live & (orders.day > ws - 365 + 27) & (orders.day <= ws + 27)])
        cand = np.flatnonzero(np.isin(contacts.acct, active) & (contacts.created < ws * DAY))
        resp = cand[rng.random(len(cand)) < sc["nps_response_rate"]]
        t = work_time(rng, ws + rng.integers(0, 21, len(resp)))
        acct_parts.append(contacts.acct[resp])
        contact_parts.append(resp)
        t_parts.append(t)
        type_parts.append(np.zeros(len(resp), dtype="int64"))
        score_parts.append(rng.choice(11, size=len(resp), p=nps_p / nps_p.sum()))
    # CSAT after resolved cases, answered by a contact of the account.
    hit = np.flatnonzero(rng.random(len(cases.acct)) < sc["csat_response_rate"])
    t = cases.resolved[hit] + rng.integers(HOUR, 3 * DAY, len(hit))
    order = np.argsort(contacts.acct, kind="stable")
    counts = np.bincount(contacts.acct, minlength=int(cases.acct.max(initial=0)) + 1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    a = cases.acct[hit]
    k = counts[a]
    pick = np.where(
        k > 0, order[np.minimum(offsets[a] + (rng.random(len(hit)) * k).astype("int64"), len(order) - 1)], NULL
    )
    pick = np.where((pick != NULL) & (contacts.created[np.maximum(pick, 0)] <= t), pick, NULL)
    general = np.asarray(sc["csat_scores"], dtype=float)
    complaint = np.asarray(sc["csat_complaint_scores"], dtype=float)
    is_c = cases.category[hit] == 0
    score = (
        np.where(
            is_c,
            rng.choice(5, size=len(hit), p=complaint / complaint.sum()),
            rng.choice(5, size=len(hit), p=general / general.sum()),
        )
        + 1
    )
    acct_parts.append(a)
    contact_parts.append(pick)
    t_parts.append(t)
    type_parts.append(np.ones(len(hit), dtype="int64"))
    score_parts.append(score)

    acct = np.concatenate(acct_parts)
    contact = np.concatenate(contact_parts)
    t = np.concatenate(t_parts)
    number = np.empty(len(t), dtype="int64")
    number[np.lexsort((acct, t))] = np.arange(1, len(t) + 1)
    frame = pd.DataFrame(
        {
            "response_id": number,
            "account_id": account_number[acct],
            "contact_id": np.where(contact != NULL, contact_number[np.maximum(contact, 0)], NULL),
            "survey_type": pd.Categorical.from_codes(np.concatenate(type_parts), list(SURVEY_TYPES)),
            "score": np.concatenate(score_parts).astype("int64"),
            "responded_at": t,
            "_drop": timeline.drop_of(t),
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops]
    return frame.sort_values(["_drop", "response_id"], kind="stable")


SURVEYS_KINDS = {
    "response_id": "id:SV:8",
    "account_id": "id:AC:7",
    "contact_id": "id:CT:8",
    "score": "int",
    "responded_at": "ts",
}
