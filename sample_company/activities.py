"""Sales touches: every rep, every working day, calls and visits on their deals, leads and accounts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from sample_company.accounts import Accounts
from sample_company.config import Streams, probabilities
from sample_company.people import Reps
from sample_company.pipeline import Pipeline
from sample_company.timeline import DAY, NULL, Timeline, weekday, work_time

ACTIVITY_TYPES = ("call", "visit", "email", "meeting", "demo")


class _ByOwner:
    """Items grouped by owning rep, to draw one of a rep's items at random."""

    def __init__(self, owner: np.ndarray, items: np.ndarray, n_reps: int) -> None:
        known = owner >= 0
        owner, items = owner[known], items[known]
        order = np.argsort(owner, kind="stable")
        self.items = items[order]
        self.counts = np.bincount(owner, minlength=n_reps)
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])

    def pick(self, rng: np.random.Generator, rep: np.ndarray) -> np.ndarray:
        k = self.counts[rep]
        out = np.full(len(rep), NULL, dtype="int64")
        has = np.flatnonzero(k > 0)
        pos = self.offsets[rep[has]] + (rng.random(len(has)) * k[has]).astype("int64")
        out[has] = self.items[pos]
        return out


def effective_rate(cfg: dict) -> float:
    ac = cfg["activities"]
    types, w = probabilities(ac["type_mix"])
    return float(sum(w[i] * ac["effective_by_type"][t] for i, t in enumerate(types)))


def activity_drops(
    cfg: dict,
    timeline: Timeline,
    reps: Reps,
    accounts: Accounts,
    pipe: Pipeline,
    account_number: np.ndarray,
    streams: Streams,
) -> Iterator[tuple[int, pd.DataFrame]]:
    """crm/activities per monthly drop."""
    ac = cfg["activities"]
    types, tw = probabilities(ac["type_mix"])
    type_codes = np.array([ACTIVITY_TYPES.index(t) for t in types])
    eff = np.array([ac["effective_by_type"][t] for t in types])
    lam = ac["effective_touches_per_rep_day"] / effective_rate(cfg)
    targets, gw = probabilities(ac["target_mix"])
    sellers = reps.sellers()
    hired, left = reps.hired_day[sellers], reps.left_or_forever[sellers]
    next_id = 1
    lo_day = timeline.start_day
    for d in range(timeline.n_drops):
        hi_day = int(timeline.drop_days[d])
        rng = streams("activities", d)
        days = np.arange(lo_day, hi_day + 1)
        days = days[weekday(days) < 5]
        active = (hired[:, None] <= days[None, :]) & (days[None, :] <= left[:, None])
        r_i, d_i = np.nonzero(active)
        count = rng.poisson(lam, len(r_i))
        rep = np.repeat(sellers[r_i], count)
        day = np.repeat(days[d_i], count)
        n = len(rep)
        t = work_time(rng, day, 8.5, 10.0)
        k = rng.choice(len(types), size=n, p=tw)
        atype = type_codes[k]
        is_eff = (rng.random(n) < eff[k]).astype("int8")

        month_start = lo_day * DAY
        opp_open = np.flatnonzero((pipe.op_created <= month_start) & (pipe.op_close >= month_start))
        opps = _ByOwner(pipe.op_owner[opp_open], opp_open, reps.n)
        lead_recent = np.flatnonzero((pipe.ld_created <= month_start) & (pipe.ld_created > month_start - 60 * DAY))
        leads = _ByOwner(pipe.ld_owner[lead_recent], lead_recent, reps.n)
        acct_live = np.flatnonzero(accounts.created <= month_start)
        owners = accounts.owner_at(acct_live, np.full(len(acct_live), month_start))
        accts = _ByOwner(owners, acct_live, reps.n)

        kind = rng.choice(len(targets), size=n, p=gw)
        opp = np.where(kind == targets.index("opportunity"), opps.pick(rng, rep), NULL)
        lead = np.where((kind == targets.index("lead")) & (opp == NULL), leads.pick(rng, rep), NULL)
        acct = np.where(opp != NULL, pipe.op_account[np.maximum(opp, 0)], NULL)
        need = (opp == NULL) & (lead == NULL)
        acct = np.where(need, accts.pick(rng, rep), acct)
        # drawn last, so that the other columns keep their values
        created = logged_at(rng, ac, types, k, t, hi_day)

        order = np.lexsort((rep, t))
        frame = pd.DataFrame(
            {
                "activity_id": next_id + np.arange(n),
                "rep_id": reps.number[rep[order]],
                "account_id": np.where(acct[order] != NULL, account_number[np.maximum(acct[order], 0)], NULL),
                "lead_id": np.where(lead[order] != NULL, pipe.ld_number[np.maximum(lead[order], 0)], NULL),
                "opportunity_id": np.where(opp[order] != NULL, pipe.op_number[np.maximum(opp[order], 0)], NULL),
                "activity_type": pd.Categorical.from_codes(atype[order], list(ACTIVITY_TYPES)),
                "occurred_at": t[order],
                "created_at": created[order],
                "is_effective": is_eff[order],
            }
        )
        next_id += n
        lo_day = hi_day + 1
        yield d, frame


def logged_at(
    rng: np.random.Generator, ac: dict, types: list[str], k: np.ndarray, t: np.ndarray, drop_day: int
) -> np.ndarray:
    """When each touch was logged in the CRM (created_at), to the minute: a log-normal delay after the
    touch (most within hours, some days late), planned kinds (meetings, demos, visits) in part 1..7
    days ahead; never after the end of the drop's day (a later record is not in the export)."""
    delay = ac["logging_delay_hours"]
    hours = rng.lognormal(np.log(delay["median"]), delay["sigma"], len(t))
    ahead_share = np.array([ac["logged_ahead_share"].get(name, 0.0) for name in types])[k]
    ahead = rng.random(len(t)) < ahead_share
    days_ahead = rng.integers(1, 8, len(t))
    offset = np.where(ahead, -days_ahead * DAY, (hours * 60).astype("int64") * 60)
    return np.minimum(t + offset, (drop_day + 1) * DAY - 60)


ACTIVITIES_KINDS = {
    "activity_id": "id:AT:10",
    "rep_id": "id:SR:4",
    "account_id": "id:AC:7",
    "lead_id": "id:LD:8",
    "opportunity_id": "id:OP:8",
    "occurred_at": "ts",
    "created_at": "ts",
    "is_effective": "bool",
}
