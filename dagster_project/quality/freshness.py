"""Source freshness: how old the newest record of each entity is, against the marts' reference date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from dagster_project.contracts import Contract
from dagster_project.quality.config import quality_config
from dagster_project.quality.delivery import Delivery
from dagster_project.settings import Settings
from dagster_project.warehouse import quote


@dataclass(frozen=True)
class Freshness:
    entity: str
    newest: date | None
    age_days: int | None
    max_age_days: int
    judged_by: str = "record"  # record | drop (master data: its latest drop) | not_delivered | declared

    @property
    def passed(self) -> bool:
        if self.judged_by in ("not_delivered", "declared"):
            return True  # the delivery check says so, once
        return self.age_days is not None and self.age_days <= self.max_age_days

    def describe(self, reference: date) -> str:
        if self.judged_by == "declared":
            return "declared not delivered (policy.yml)"
        if self.judged_by == "not_delivered":
            return f"not delivered (see the delivered__{self.entity.replace('.', '__')} check)"
        if self.newest is None:
            return "no records"
        what = "latest drop" if self.judged_by == "drop" else "newest record"
        return f"{what} {self.newest}, {self.age_days} days before {reference} (max {self.max_age_days})"


def max_age_days(contract: Contract) -> int:
    config = quality_config()["freshness"]
    return int((config.get("max_age_days") or {}).get(contract.name, config["default_max_age_days"]))


def reference_date(con: duckdb.DuckDBPyConnection) -> date:
    """The marts' reference date (dbt's int_as_of_date): S2S_AS_OF, else the newest order date, else today."""
    as_of = Settings.from_env().as_of
    if as_of:
        return as_of
    try:
        newest = con.execute("select max(order_date) from raw_erp.sales_orders").fetchall()[0][0]
    except duckdb.CatalogException:  # not loaded yet
        newest = None
    return newest or date.today()


def _newest_record(con: duckdb.DuckDBPyConnection, contract: Contract) -> date | None:
    column = quote(contract.freshness_field) if contract.freshness_field else "_drop_date"
    newest = con.execute(f"select max({column})::date from {contract.table}").fetchall()[0][0]
    return newest.date() if isinstance(newest, datetime) else newest


def freshness(
    con: duckdb.DuckDBPyConnection, contract: Contract, reference: date, delivery: Delivery | None = None
) -> Freshness:
    """Age of the newest freshness-field value on the reference date; master data (and an entity
    whose drops hold no record) by its latest drop; nothing for an entity not delivered."""
    limit = max_age_days(contract)
    if delivery is not None and not delivery.delivered:
        judged = "declared" if delivery.declared_not_delivered else "not_delivered"
        return Freshness(contract.name, None, None, limit, judged)
    by_drop = contract.name in (quality_config()["freshness"].get("by_latest_drop") or [])
    newest = None if by_drop else _newest_record(con, contract)
    judged = "record"
    if newest is None and delivery is not None:
        newest, judged = delivery.newest_drop, "drop"
    return Freshness(
        entity=contract.name,
        newest=newest,
        age_days=(reference - newest).days if newest else None,
        max_age_days=limit,
        judged_by=judged,
    )
