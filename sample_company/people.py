"""The sales organisation: reps, managers and directors over the regions, their turnover and training."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_company import names
from sample_company.timeline import DAY, HOUR, NULL, Timeline, last_per_drop, weekday

ROLES = ("rep", "manager", "director")
NUMERALS = "一二三四五六七八九十"
FOREVER = 10**7  # "left_on" of reps still employed, as a day number


def allocate(total: int, shares: list[float], minimum: int = 1) -> np.ndarray:
    """Split an integer total over shares (largest remainder), each part at least `minimum`."""
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    total = max(total, minimum * len(shares))
    raw = shares * (total - minimum * len(shares))
    base = np.floor(raw).astype(int)
    rest = total - minimum * len(shares) - base.sum()
    base[np.argsort(-(raw - base), kind="stable")[:rest]] += 1
    return base + minimum


@dataclass
class Reps:
    region: np.ndarray
    role: np.ndarray
    manager: np.ndarray
    team: np.ndarray
    hired_day: np.ndarray
    left_day: np.ndarray  # NULL while employed
    name: np.ndarray
    email: np.ndarray
    number: np.ndarray  # rep_id number, by hire date

    @property
    def n(self) -> int:
        return len(self.region)

    @property
    def left_or_forever(self) -> np.ndarray:
        return np.where(self.left_day == NULL, FOREVER, self.left_day)

    def sellers(self) -> np.ndarray:
        """Indices of role rep (the people who own accounts and make touches)."""
        return np.flatnonzero(self.role == 0)

    def pick_active(self, rng: np.random.Generator, region: np.ndarray, days: np.ndarray) -> np.ndarray:
        """A seller of the given region employed on the given day, for each row."""
        region = np.asarray(region)
        days = np.asarray(days, dtype="int64")
        sellers = self.sellers()
        order = np.argsort(self.region[sellers], kind="stable")
        pool = sellers[order]
        counts = np.bincount(self.region[pool], minlength=int(self.region.max()) + 1)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        hired, left = self.hired_day, self.left_or_forever
        out = np.full(len(region), NULL, dtype="int64")
        pending = np.arange(len(region))
        for _ in range(40):
            if not len(pending):
                break
            r = region[pending]
            pick = pool[offsets[r] + (rng.random(len(pending)) * counts[r]).astype("int64")]
            ok = (hired[pick] <= days[pending]) & (days[pending] <= left[pick])
            out[pending[ok]] = pick[ok]
            pending = pending[~ok]
        for i in pending:  # rare: nobody of the region employed that day; take the nearest hire
            cand = pool[offsets[region[i]] : offsets[region[i]] + counts[region[i]]]
            out[i] = cand[np.argmin(np.abs(hired[cand] - days[i]))]
        return out


def build_reps(cfg: dict, timeline: Timeline, scale: float, rng: np.random.Generator) -> Reps:
    st = cfg["sales_team"]
    region, role, manager, team = _org_chart(st, cfg["regions"]["names"], scale)
    n = len(region)
    start = timeline.start_day
    years = rng.random(n)
    hired = np.where(
        role == 2,
        start - (3 + 9 * years) * 365,
        np.where(role == 1, start - (1 + 9 * years) * 365, start - 30 - years * 8 * 365),
    ).astype("int64")
    left = np.full(n, NULL, dtype="int64")

    region, role, manager, team, hired, left = _turnover(st, timeline, region, role, manager, team, hired, left, rng)
    n = len(region)

    full, given_py, surname_py = names.person_names(rng, n)
    email = names.emails(given_py, surname_py, np.full(n, cfg["company"]["email_domain"], dtype=object))
    number = np.empty(n, dtype="int64")
    number[np.lexsort((np.arange(n), hired))] = np.arange(1, n + 1)
    return Reps(region, role, manager, team, hired, left, full, email, number)


def _org_chart(st: dict, region_names: list[str], scale: float) -> tuple:
    """Region, role, manager and team of every position: national and regional directors, managers and
    reps per region by the configured shares."""
    n_regions = len(region_names)
    share = st["rep_share_by_region"]
    n_nat = int(st["national_directors"])
    n_reg = int(st["regional_directors"]) * n_regions
    n_mgr = int(allocate(round(st["managers"] * scale), share).sum())
    mgr_per_region = allocate(n_mgr, share)
    n_rep_total = max(round(st["headcount"] * scale) - n_nat - n_reg - n_mgr, n_regions)
    rep_per_region = allocate(n_rep_total, share)

    region, role, manager, team = [], [], [], []
    for _ in range(n_nat):
        region.append(0)
        role.append(2)
        manager.append(NULL)
        team.append("销售管理部")
    director_of = {}
    for r, rname in enumerate(region_names):
        for _ in range(int(st["regional_directors"])):
            director_of.setdefault(r, len(region))
            region.append(r)
            role.append(2)
            manager.append(0 if n_nat else NULL)
            team.append(f"{rname}大区")
    managers_of: dict[int, list[int]] = {}
    for r, rname in enumerate(region_names):
        for k in range(mgr_per_region[r]):
            managers_of.setdefault(r, []).append(len(region))
            region.append(r)
            role.append(1)
            manager.append(director_of[r])
            team.append(f"{rname}销售{NUMERALS[k % 10]}部")
    for r in range(n_regions):
        for k in range(rep_per_region[r]):
            m = managers_of[r][k % len(managers_of[r])]
            region.append(r)
            role.append(0)
            manager.append(m)
            team.append(team[m])
    region, role, manager = np.array(region), np.array(role), np.array(manager)
    team = np.array(team, dtype=object)
    return region, role, manager, team


def _turnover(
    st: dict,
    timeline: Timeline,
    region: np.ndarray,
    role: np.ndarray,
    manager: np.ndarray,
    team: np.ndarray,
    hired: np.ndarray,
    left: np.ndarray,
    rng: np.random.Generator,
) -> tuple:
    """Turnover: some current reps replaced a rep who left during the history (the leavers appended)."""
    start = timeline.start_day
    sellers = np.flatnonzero(role == 0)
    n_leave = min(len(sellers), round(len(sellers) * st["annual_rep_attrition"] * timeline.months / 12))
    repl = rng.choice(sellers, size=n_leave, replace=False) if n_leave else np.array([], dtype="int64")
    leave_day = rng.integers(start + 10, max(start + 11, timeline.end_day - 70), size=n_leave)
    hired[repl] = leave_day + rng.integers(14, 57, size=n_leave)
    lv_hired = (start - 60 - rng.random(n_leave) * 6 * 365).astype("int64")
    region = np.concatenate([region, region[repl]])
    role = np.concatenate([role, role[repl]])
    manager = np.concatenate([manager, manager[repl]])
    team = np.concatenate([team, team[repl]])
    hired = np.concatenate([hired, lv_hired])
    left = np.concatenate([left, leave_day])
    return region, role, manager, team, hired, left


def reps_table(reps: Reps, timeline: Timeline, region_names: list[str]) -> pd.DataFrame:
    """crm/sales_reps: a row when hired (or in the first drop) and again when the rep leaves."""
    n = reps.n
    idx = np.arange(n)
    hire_t = reps.hired_day * DAY + 9 * HOUR
    has_left = reps.left_day != NULL
    leave_t = reps.left_day[has_left] * DAY + 18 * HOUR
    rec = np.concatenate([idx, idx[has_left]])
    t = np.concatenate([hire_t, leave_t])
    is_leave = np.concatenate([np.zeros(n, bool), np.ones(has_left.sum(), bool)])
    ev, drop = last_per_drop(timeline, rec, t)
    r = rec[ev]
    mgr = reps.manager[r]
    return pd.DataFrame(
        {
            "rep_id": reps.number[r],
            "rep_name": reps.name[r],
            "email": reps.email[r],
            "region": pd.Categorical.from_codes(reps.region[r], region_names),
            "team": reps.team[r],
            "role": pd.Categorical.from_codes(reps.role[r], list(ROLES)),
            "manager_id": np.where(mgr == NULL, NULL, reps.number[np.maximum(mgr, 0)]),
            "hired_on": reps.hired_day[r],
            "left_on": np.where(is_leave[ev], reps.left_day[r], NULL),
            "updated_at": t[ev],
            "_drop": drop,
        }
    ).sort_values(["_drop", "rep_id"], kind="stable")


REPS_KINDS = {
    "rep_id": "id:SR:4",
    "manager_id": "id:SR:4",
    "hired_on": "date",
    "left_on": "date",
    "updated_at": "ts",
}


def training_table(cfg: dict, reps: Reps, timeline: Timeline, rng: np.random.Generator) -> pd.DataFrame:
    """hr/training_records: courses completed by reps and managers, with scores and certifications."""
    tr = cfg["training"]
    courses = tr["courses"]
    people = np.flatnonzero(reps.role <= 1)
    lo = np.maximum(reps.hired_day[people], timeline.start_day - 180)
    hi = np.minimum(reps.left_or_forever[people], timeline.end_day)
    span = np.maximum(hi - lo, 0)
    counts = rng.poisson(tr["courses_per_rep_year"] * span / 365.0)
    who = np.repeat(people, counts)
    day = np.repeat(lo, counts) + (rng.random(len(who)) * np.repeat(span, counts)).astype("int64")
    day = day - np.where(weekday(day) == 5, 1, np.where(weekday(day) == 6, 2, 0))
    course = rng.integers(0, len(courses), size=len(who))
    mean = np.array([c[3] for c in courses], dtype=float)[course]
    score = np.clip(np.round(rng.normal(mean, 10.0), 1), 20, 100)
    frame = pd.DataFrame(
        {
            "rep_id": reps.number[who],
            "course_id": pd.Categorical.from_codes(course, [c[0] for c in courses]),
            "course_name": pd.Categorical.from_codes(course, [c[1] for c in courses]),
            "completed_on": day,
            "certification_level": pd.Categorical.from_codes(
                np.array([["junior", "intermediate", "senior"].index(c[2]) if c[2] else -1 for c in courses])[course],
                ["junior", "intermediate", "senior"],
            ),
            "passed": (score >= tr["pass_score"]).astype("int8"),
            "score": score,
            "_drop": timeline.drop_of(day * DAY + 12 * HOUR),
        }
    )
    frame = frame[frame["_drop"] < timeline.n_drops]
    frame = frame.drop_duplicates(["rep_id", "course_id", "completed_on"])
    return frame.sort_values(["_drop", "completed_on", "rep_id"], kind="stable")


TRAINING_KINDS = {"rep_id": "id:SR:4", "completed_on": "date", "passed": "bool", "score": "float"}
