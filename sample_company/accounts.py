"""CRM accounts (customers and prospects), their owners over time, and their contacts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_company import names
from sample_company.customers import Customers
from sample_company.people import Reps
from sample_company.pipeline import Pipeline
from sample_company.timeline import DAY, HOUR, NULL, Timeline, last_per_drop, work_time

PROSPECT = 3


def company_namer(cfg: dict) -> Callable[[np.random.Generator, np.ndarray, np.ndarray], np.ndarray]:
    """Company names for rows of region and industry codes."""

    def namer(rng: np.random.Generator, region: np.ndarray, industry: np.ndarray) -> np.ndarray:
        _, city = names.places(rng, cfg["regions"]["names"], region)
        return names.company_names(rng, city, cfg["industries"], industry)[0]

    return namer


@dataclass
class Accounts:
    region: np.ndarray
    industry: np.ndarray
    emp: np.ndarray
    emp_after: np.ndarray  # employee_count after the refresh
    refresh_t: np.ndarray  # NULL: never refreshed
    province: np.ndarray
    city: np.ndarray
    name: np.ndarray
    domain: np.ndarray
    created: np.ndarray
    seg: np.ndarray  # customers' size class, PROSPECT for prospects
    number: np.ndarray
    ev_acct: np.ndarray  # owner changes, sorted by account then time; the first per account = creation
    ev_t: np.ndarray
    ev_owner: np.ndarray

    @property
    def n(self) -> int:
        return len(self.region)

    def owner_at(self, acct: np.ndarray, t: np.ndarray) -> np.ndarray:
        acct = np.asarray(acct, dtype="int64")
        t = np.maximum(np.asarray(t, dtype="int64"), 0)
        keys = (self.ev_acct << 32) | self.ev_t
        pos = np.searchsorted(keys, (acct << 32) | t, side="right") - 1
        first = np.searchsorted(keys, acct << 32, side="left")
        pos = np.where((pos < 0) | (self.ev_acct[np.maximum(pos, 0)] != acct), first, pos)
        return self.ev_owner[pos]


def build_accounts(
    cfg: dict, timeline: Timeline, cust: Customers, pipe: Pipeline, reps: Reps, rng: np.random.Generator
) -> Accounts:
    c_n = cust.n
    p_n = len(pipe.pr_region)
    n = c_n + p_n
    region = np.concatenate([cust.region, pipe.pr_region])
    industry = np.concatenate([cust.industry, pipe.pr_industry])
    emp = np.concatenate([cust.employee_count, pipe.pr_emp])
    seg = np.concatenate([cust.seg, np.full(p_n, PROSPECT)])

    created, owner = _creation(timeline, cust, pipe, reps, region, rng)
    start_t = timeline.start_day * DAY
    end_t = (timeline.end_day + 1) * DAY - 1
    alive_from = np.maximum(created, start_t)
    years = np.maximum(end_t - alive_from, 0) / (365 * DAY)
    ev_acct, ev_t, ev_owner = _owner_events(cfg, reps, region, created, owner, alive_from, years, end_t, rng)
    refresh = rng.random(n) < cfg["service"]["account_refresh_rate"] * years
    refresh_t = np.where(
        refresh, work_time(rng, (alive_from + rng.random(n) * (end_t - alive_from)).astype("int64") // DAY), NULL
    )
    refresh_t = np.where(refresh, np.maximum(refresh_t, created + HOUR), NULL)
    emp_after = np.round(emp * rng.uniform(0.85, 1.3, n), -1).astype("int64").clip(10)

    province, city = names.places(rng, cfg["regions"]["names"], region)
    cname, domain = names.company_names(rng, city, cfg["industries"], industry)
    number = np.empty(n, dtype="int64")
    number[np.lexsort((np.arange(n), created))] = np.arange(1, n + 1)
    return Accounts(
        region=region,
        industry=industry,
        emp=emp,
        emp_after=emp_after,
        refresh_t=refresh_t,
        province=province,
        city=city,
        name=cname,
        domain=domain,
        created=created,
        seg=seg,
        number=number,
        ev_acct=ev_acct,
        ev_t=ev_t,
        ev_owner=ev_owner,
    )


def _creation(
    timeline: Timeline, cust: Customers, pipe: Pipeline, reps: Reps, region: np.ndarray, rng: np.random.Generator
) -> tuple:
    """Creation time and first owner of every account: at the conversion of the lead, at the opening
    of a rep's deal, or shortly before the first order; old customers long before the history."""
    c_n = cust.n
    n = len(region)
    created = np.empty(n, dtype="int64")
    owner = np.full(n, NULL, dtype="int64")
    gap = rng.uniform(0, 20, c_n)
    gap = np.where(cust.first_day < timeline.sim_lo, rng.uniform(0, 60, c_n), gap)
    created[:c_n] = work_time(rng, cust.first_day - gap.astype("int64"))
    new_won = np.flatnonzero(pipe.op_won & (pipe.op_type == 0) & (pipe.op_account < c_n))
    acct = pipe.op_account[new_won]
    created[acct] = pipe.op_created[new_won]
    led = pipe.op_lead[new_won] != NULL
    owner[acct[led]] = pipe.ld_owner[pipe.op_lead[new_won][led]]
    created[c_n:] = pipe.pr_created
    owner[c_n:] = pipe.pr_owner
    todo = np.flatnonzero(owner == NULL)
    owner[todo] = reps.pick_active(rng, region[todo], np.maximum(created[todo] // DAY, timeline.start_day))
    return created, owner


def _owner_events(
    cfg: dict,
    reps: Reps,
    region: np.ndarray,
    created: np.ndarray,
    owner: np.ndarray,
    alive_from: np.ndarray,
    years: np.ndarray,
    end_t: int,
    rng: np.random.Generator,
) -> tuple:
    """Owner changes (account, time, new owner; by account, then time): the first owner, territory
    reassignments at random, and the accounts of reps who leave."""
    n = len(region)
    moved = np.flatnonzero(rng.random(n) < cfg["sales_team"]["account_reassignment_rate"] * years)
    r_t = alive_from[moved] + (rng.random(len(moved)) * (end_t - alive_from[moved])).astype("int64")
    r_t = work_time(rng, r_t // DAY)
    r_t = np.maximum(r_t, created[moved] + HOUR)
    r_new = reps.pick_active(rng, region[moved], r_t // DAY)
    order = np.argsort(r_t, kind="stable")
    moved, r_t, r_new = moved[order], r_t[order], r_new[order]
    ev = [(np.arange(n), created, owner.copy()), (moved, r_t, r_new)]
    cur = owner.copy()
    ptr = 0
    leavers = np.flatnonzero(reps.left_day != NULL)
    for rep in leavers[np.argsort(reps.left_day[leavers], kind="stable")]:
        t_leave = reps.left_day[rep] * DAY + 18 * HOUR
        j = int(np.searchsorted(r_t, t_leave))
        cur[moved[ptr:j]] = r_new[ptr:j]
        ptr = j
        idx = np.flatnonzero(cur == rep)
        if len(idx):
            new = reps.pick_active(rng, region[idx], np.full(len(idx), reps.left_day[rep] + 1))
            cur[idx] = new
            ev.append((idx, np.maximum(t_leave, created[idx] + HOUR), new))
    ev_acct = np.concatenate([e[0] for e in ev])
    ev_t = np.concatenate([e[1] for e in ev])
    ev_owner = np.concatenate([e[2] for e in ev])
    order = np.lexsort((ev_t, ev_acct))
    return ev_acct[order], ev_t[order], ev_owner[order]


def accounts_table(accounts: Accounts, reps: Reps, timeline: Timeline, cfg: dict, terms: np.ndarray) -> pd.DataFrame:
    """crm/accounts: a row when created, again on every owner change or refresh; `terms`: each
    account's payment terms in days."""
    has_ref = accounts.refresh_t != NULL
    rec = np.concatenate([accounts.ev_acct, np.flatnonzero(has_ref)])
    t = np.concatenate([accounts.ev_t, accounts.refresh_t[has_ref]])
    ev, drop = last_per_drop(timeline, rec, t)
    a = rec[ev]
    at = t[ev]
    emp = np.where(has_ref[a] & (accounts.refresh_t[a] <= at), accounts.emp_after[a], accounts.emp[a])
    return pd.DataFrame(
        {
            "account_id": accounts.number[a],
            "account_name": accounts.name[a],
            "industry": pd.Categorical.from_codes(accounts.industry[a], cfg["industries"]),
            "employee_count": emp,
            "region": pd.Categorical.from_codes(accounts.region[a], cfg["regions"]["names"]),
            "province": accounts.province[a],
            "city": accounts.city[a],
            "owner_rep_id": reps.number[accounts.owner_at(a, at)],
            "payment_terms_days": terms[a],
            "created_at": accounts.created[a],
            "updated_at": at,
            "_drop": drop,
        }
    ).sort_values(["_drop", "account_id"], kind="stable")


ACCOUNTS_KINDS = {
    "account_id": "id:AC:7",
    "employee_count": "int",
    "payment_terms_days": "int",
    "owner_rep_id": "id:SR:4",
    "created_at": "ts",
    "updated_at": "ts",
}


@dataclass
class Contacts:
    acct: np.ndarray
    created: np.ndarray
    name: np.ndarray
    title: np.ndarray
    title_after: np.ndarray
    email: np.ndarray
    phone: np.ndarray
    phone_after: np.ndarray
    update_t: np.ndarray
    number: np.ndarray

    @property
    def n(self) -> int:
        return len(self.acct)


def build_contacts(cfg: dict, timeline: Timeline, accounts: Accounts, rng: np.random.Generator) -> Contacts:
    sc = cfg["service"]
    per = sc["contacts_per_account"]
    lam = np.array([per["top"], per["mid"], per["small"], per["prospect"]])[accounts.seg]
    count = 1 + rng.poisson(lam)
    acct = np.repeat(np.arange(accounts.n), count)
    first = np.zeros(len(acct), dtype=bool)
    first[np.concatenate([[0], np.cumsum(count)[:-1]])] = True
    a_created = accounts.created[acct]
    horizon = (timeline.end_day + 180) * DAY
    later = a_created + (rng.random(len(acct)) * np.maximum(horizon - a_created, DAY)).astype("int64")
    created = np.where(first, a_created + rng.integers(600, 2 * DAY, len(acct)), later)
    created = created // 60 * 60
    n = len(acct)
    full, given_py, surname_py = names.person_names(rng, n)
    company_mail = names.emails(given_py, surname_py, accounts.domain[acct])
    public = names.public_emails(rng, given_py, surname_py)
    email = np.where(rng.random(n) < 0.75, company_mail, public)
    start_t = timeline.start_day * DAY
    end_t = (timeline.end_day + 1) * DAY - 1
    alive_from = np.maximum(created, start_t)
    years = np.maximum(end_t - alive_from, 0) / (365 * DAY)
    upd = rng.random(n) < sc["contact_update_rate"] * years
    update_t = np.where(
        upd,
        work_time(rng, (alive_from + rng.random(n) * np.maximum(end_t - alive_from, 0)).astype("int64") // DAY),
        NULL,
    )
    update_t = np.where(upd, np.maximum(update_t, created + HOUR), NULL)
    title = names.titles(rng, n)
    title_after = np.where(rng.random(n) < 0.4, names.titles(rng, n), title)
    number = np.empty(n, dtype="int64")
    number[np.lexsort((np.arange(n), created))] = np.arange(1, n + 1)
    return Contacts(
        acct=acct,
        created=created,
        name=full,
        title=title,
        title_after=title_after,
        email=email,
        phone=names.mobile_phones(rng, n),
        phone_after=names.mobile_phones(rng, n),
        update_t=update_t,
        number=number,
    )


def contacts_table(contacts: Contacts, accounts: Accounts, timeline: Timeline) -> pd.DataFrame:
    """crm/contacts: a row when created, again when the phone or title changed."""
    n = contacts.n
    upd = contacts.update_t != NULL
    rec = np.concatenate([np.arange(n), np.flatnonzero(upd)])
    t = np.concatenate([contacts.created, contacts.update_t[upd]])
    ev, drop = last_per_drop(timeline, rec, t)
    c = rec[ev]
    at = t[ev]
    after = upd[c] & (contacts.update_t[c] <= at)
    return pd.DataFrame(
        {
            "contact_id": contacts.number[c],
            "account_id": accounts.number[contacts.acct[c]],
            "full_name": contacts.name[c],
            "title": np.where(after, contacts.title_after[c], contacts.title[c]),
            "email": contacts.email[c],
            "phone": np.where(after, contacts.phone_after[c], contacts.phone[c]),
            "created_at": contacts.created[c],
            "updated_at": at,
            "_drop": drop,
        }
    ).sort_values(["_drop", "contact_id"], kind="stable")


CONTACTS_KINDS = {
    "contact_id": "id:CT:8",
    "account_id": "id:AC:7",
    "created_at": "ts",
    "updated_at": "ts",
}
