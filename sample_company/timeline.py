"""Time in the simulation: days and seconds as integers, the monthly drops and the yearly windows.

A day is the number of days since 1970-01-01 and a time the number of seconds since 1970-01-01
00:00, both in Asia/Shanghai local time (the extracts carry local times without an offset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

DAY = 86_400
HOUR = 3_600
EPOCH = date(1970, 1, 1)
NULL = -1  # null marker of integer-coded columns (ids, codes, days, times)


def day_of(d: date) -> int:
    return (d - EPOCH).days


def date_of(day: int) -> date:
    return EPOCH + timedelta(days=int(day))


def weekday(days: np.ndarray) -> np.ndarray:
    """0 = Monday ... 6 = Sunday."""
    return (np.asarray(days) + 3) % 7


def month_id(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of each day."""
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[M]").astype("int64")


def month_start_day(mid: np.ndarray) -> np.ndarray:
    return np.asarray(mid, dtype="int64").astype("datetime64[M]").astype("datetime64[D]").astype("int64")


def year_of(days: np.ndarray) -> np.ndarray:
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[Y]").astype("int64") + 1970


@dataclass(frozen=True)
class Timeline:
    end_date: date
    months: int
    lead_in_days: int
    lead_out_days: int
    month_factor: tuple[float, ...]
    weekday_factor: tuple[float, ...]
    annual_growth: float
    start_day: int = field(init=False)
    end_day: int = field(init=False)
    drop_days: np.ndarray = field(init=False, repr=False)
    cutoffs: np.ndarray = field(init=False, repr=False)
    _cum: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        end_day = day_of(self.end_date)
        end_month = int(month_id(np.array([end_day]))[0])
        first_month = end_month - self.months + 1
        starts = month_start_day(np.arange(first_month, end_month + 2))
        drop_days = starts[1:] - 1
        drop_days[-1] = end_day
        object.__setattr__(self, "start_day", int(starts[0]))
        object.__setattr__(self, "end_day", end_day)
        object.__setattr__(self, "drop_days", drop_days)
        object.__setattr__(self, "cutoffs", (drop_days + 1) * DAY - 1)
        # Daily weights of business volume over the whole simulated span (seasonality, weekdays, growth).
        days = np.arange(self.sim_lo, self.sim_hi + 1)
        months = month_id(days) % 12
        w = np.asarray(self.month_factor)[months] * np.asarray(self.weekday_factor)[weekday(days)]
        w = w * np.exp(np.log1p(self.annual_growth) * (days - end_day) / 365.0)
        object.__setattr__(self, "_cum", np.concatenate([[0.0], np.cumsum(w)]))

    @property
    def sim_lo(self) -> int:
        return self.start_day - self.lead_in_days

    @property
    def sim_hi(self) -> int:
        return self.end_day + self.lead_out_days

    @property
    def drop_dates(self) -> list[date]:
        return [date_of(d) for d in self.drop_days]

    @property
    def n_drops(self) -> int:
        return len(self.drop_days)

    def window(self, w: int) -> tuple[int, int]:
        """Inclusive day range of yearly window w: 2 = last 365 days, 1 = the 365 before, 0 = the rest."""
        if w == 2:
            return self.end_day - 364, self.end_day
        if w == 1:
            return self.end_day - 729, self.end_day - 365
        if w == 0:
            return self.start_day, self.end_day - 730
        if w == 3:
            return self.end_day + 1, self.sim_hi
        if w == -1:
            return self.sim_lo, self.start_day - 1
        raise ValueError(w)

    def window_days(self, w: int) -> int:
        lo, hi = self.window(w)
        return hi - lo + 1

    def drop_of(self, t: np.ndarray) -> np.ndarray:
        """Drop index of each time (seconds); n_drops for times after the end date."""
        return np.searchsorted(self.cutoffs, np.asarray(t, dtype="int64"), side="left")

    def sample_days(self, rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """A day in [lo, hi] for each pair, drawn with the business-volume weights."""
        lo = np.clip(np.asarray(lo, dtype="int64"), self.sim_lo, self.sim_hi)
        hi = np.clip(np.asarray(hi, dtype="int64"), lo, self.sim_hi)
        a = self._cum[lo - self.sim_lo]
        b = self._cum[hi - self.sim_lo + 1]
        target = a + rng.random(len(lo)) * (b - a)
        day = np.searchsorted(self._cum, target, side="right") - 1 + self.sim_lo
        return np.clip(day, lo, hi)

    def volume(self, lo: int, hi: int) -> float:
        """Sum of business-volume weights over [lo, hi]."""
        lo, hi = max(lo, self.sim_lo), min(hi, self.sim_hi)
        if hi < lo:
            return 0.0
        return float(self._cum[hi - self.sim_lo + 1] - self._cum[lo - self.sim_lo])


def work_time(rng: np.random.Generator, days: np.ndarray, start_hour: float = 9.0, hours: float = 9.0) -> np.ndarray:
    """A time within office hours on each day, to the minute."""
    minutes = (start_hour * 60 + rng.random(len(days)) * hours * 60).astype("int64")
    return np.asarray(days, dtype="int64") * DAY + minutes * 60


def next_working_day(days: np.ndarray) -> np.ndarray:
    days = np.asarray(days, dtype="int64")
    wd = weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def last_per_drop(timeline: Timeline, record: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Versions of records changing over time: of each record's events, the last one in each drop.

    Returns (event indices, drop index) of the versions, events after the end date left out. A record
    shows up in the drop where it was created and again in every drop where it changed.
    """
    order = np.lexsort((t, record))
    drop = timeline.drop_of(t[order])
    rec = record[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (rec[:-1] != rec[1:]) | (drop[:-1] != drop[1:])
    keep = last & (drop < timeline.n_drops)
    return order[keep], drop[keep]


def stochastic_round(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Round to an integer up or down with the probability of the fraction (unbiased)."""
    x = np.asarray(x, dtype=float)
    fl = np.floor(x)
    return (fl + (rng.random(len(x)) < (x - fl))).astype("int64")


def split_by_group(rng: np.random.Generator, group: np.ndarray, total: np.ndarray, shape: float) -> np.ndarray:
    """Split total[g] over the rows of each group g with gamma(shape) weights (rows sorted or not)."""
    w = rng.gamma(shape, 1.0, size=len(group))
    sums = np.bincount(group, weights=w, minlength=len(total))
    return total[group] * w / sums[group]
