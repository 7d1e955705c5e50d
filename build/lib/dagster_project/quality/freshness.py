"""Source freshness: how old the newest record of each entity is, against the reference date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import duckdb

from dagster_project.contracts import Contract
from dagster_project.quality.config import quality_config
from dagster_project.warehouse import quote


@dataclass(frozen=True)
class Freshness:
    entity: str
    newest: date | None
    age_days: int | None
    max_age_days: int

    @property
    def passed(self) -> bool:
        return self.age_days is not None and self.age_days <= self.max_age_days


def max_age_days(contract: Contract) -> int:
    config = quality_config()["freshness"]
    return int((config.get("max_age_days") or {}).get(contract.name, config["default_max_age_days"]))


def freshness(con: duckdb.DuckDBPyConnection, contract: Contract, reference: date) -> Freshness:
    """Age of the newest freshness-field value (else the newest drop date) on the reference date."""
    column = quote(contract.freshness_field) if contract.freshness_field else "_drop_date"
    newest = con.execute(f"select max({column})::date from {contract.table}").fetchall()[0][0]
    if isinstance(newest, datetime):
        newest = newest.date()
    return Freshness(
        entity=contract.name,
        newest=newest,
        age_days=(reference - newest).days if newest else None,
        max_age_days=max_age_days(contract),
    )
