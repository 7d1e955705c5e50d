"""A company's deployment: what it delivers and collects, declared once in its own folder.

The deployment folder (env `S2S_DEPLOYMENT_DIR`, default `deployment/` in the working directory;
optional: without it every entity is expected and every critical field is collected) holds:

  policy.yml        what the company does not deliver or collect, and its own completeness rules
  mappings/*.yml    how its own exports map onto the entity contracts (see dagster_project/mapping)

policy.yml, every key optional:

  not_delivered: [crm.cases, marketing.web_events]   # entities it never exports: not gated, marts
                                                     # that need them say so instead of failing
  not_collected:                                     # fields it does not collect: out of the gate
    crm.accounts: [industry, employee_count]         # and of CRM completeness, shown as such
  completeness:                                      # per field: its own target and/or severity
    crm.leads.owner_rep_id: {target: 0.8, severity: warn}

Everything that decides on delivery or completeness (the gate, the dry run, the dbt alert and the
scorecard KPI) reads this one object, so a rule is declared once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from dagster_project.contracts import load_contracts
from dagster_project.quality.config import severity as configured_severity
from dagster_project.yaml_text import parse_yaml

DEFAULT_DEPLOYMENT_DIR = "deployment"
POLICY_FILE = "policy.yml"
_SEVERITIES = ("error", "warn")


class PolicyError(ValueError):
    """policy.yml is malformed; the message names the file and the offending entry."""


@dataclass(frozen=True)
class FieldRule:
    target: float | None = None
    severity: str | None = None  # error | warn; None: the configured severity of completeness


@dataclass(frozen=True)
class Policy:
    path: Path | None = None  # the policy file read, None when there is none
    not_delivered: frozenset[str] = frozenset()  # "<source>.<entity>"
    not_collected: dict[str, frozenset[str]] = field(default_factory=dict)  # entity -> fields
    completeness: dict[tuple[str, str], FieldRule] = field(default_factory=dict)  # (entity, field) -> rule

    def is_delivered(self, entity: str) -> bool:
        return entity not in self.not_delivered

    def is_collected(self, entity: str, column: str) -> bool:
        return entity not in self.not_delivered and column not in self.not_collected.get(entity, frozenset())

    def rule(self, entity: str, column: str) -> FieldRule:
        return self.completeness.get((entity, column), FieldRule())


def deployment_dir() -> Path:
    return Path(os.environ.get("S2S_DEPLOYMENT_DIR") or DEFAULT_DEPLOYMENT_DIR)


def _parse_policy(path: Path) -> Policy:
    def fail(msg: str) -> PolicyError:
        return PolicyError(f"{path}: {msg}")

    try:
        doc = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise fail(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise fail("expected a mapping at the top level")
    unknown = set(doc) - {"not_delivered", "not_collected", "completeness"}
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)} (known: not_delivered, not_collected, completeness)")
    contracts = load_contracts()

    def entity(name: object, where: str) -> str:
        if name not in contracts:
            raise fail(f"{where}: unknown entity {name!r} (one of {', '.join(sorted(contracts))})")
        return str(name)

    def column(entity_name: str, name: object, where: str) -> str:
        if name not in contracts[entity_name].column_names:
            raise fail(f"{where}: {entity_name} has no column {name!r}")
        return str(name)

    not_delivered = frozenset(entity(e, "not_delivered") for e in doc.get("not_delivered") or [])
    not_collected = {}
    for name, columns in (doc.get("not_collected") or {}).items():
        e = entity(name, "not_collected")
        not_collected[e] = frozenset(column(e, c, f"not_collected.{e}") for c in columns or [])
    completeness = {}
    for key, raw in (doc.get("completeness") or {}).items():
        e_name, _, c_name = str(key).rpartition(".")
        e = entity(e_name, f"completeness.{key}")
        c = column(e, c_name, f"completeness.{key}")
        raw = raw or {}
        if set(raw) - {"target", "severity"}:
            raise fail(f"completeness.{key}: only target and severity may be set")
        target = raw.get("target")
        if target is not None and not 0 <= float(target) <= 1:
            raise fail(f"completeness.{key}: target {target!r} is not a share between 0 and 1")
        sev = raw.get("severity")
        if sev is not None and sev not in _SEVERITIES:
            raise fail(f"completeness.{key}: severity {sev!r} is not error or warn")
        completeness[(e, c)] = FieldRule(target=None if target is None else float(target), severity=sev)
    return Policy(path=path, not_delivered=not_delivered, not_collected=not_collected, completeness=completeness)


@cache
def _cached_policy(path: Path | None) -> Policy:
    return _parse_policy(path) if path is not None else Policy()


def load_policy(directory: Path | None = None) -> Policy:
    """The deployment's policy (an empty policy when the folder or its policy.yml is absent)."""
    path = (directory or deployment_dir()) / POLICY_FILE
    return _cached_policy(path.absolute() if path.is_file() else None)


FIELD_POLICY_DDL = """
create schema if not exists meta;
create or replace table meta.field_policy (
    source varchar not null,
    entity varchar not null,
    field varchar not null,
    is_critical boolean not null,       -- the contract counts it towards completeness
    is_delivered boolean not null,      -- false: the deployment declares the entity not delivered
    is_collected boolean not null,      -- false: not delivered, or declared not collected
    target double,                      -- completeness target (policy, else contract); null if not critical
    severity varchar,                   -- error | warn from the policy; null: the configured default
    gate_severity varchar not null      -- what the gate applies: severity, else config/quality.yml's
)
"""


def field_policy_rows(policy: Policy | None = None) -> list[tuple]:
    """One row per contract column: the contract's critical flag and target, with the policy applied,
    and the severity the completeness gate gives a shortfall (the dbt alert rule reads it)."""
    policy = policy or load_policy()
    default_severity = configured_severity("completeness")
    rows = []
    for contract in load_contracts().values():
        for column in contract.columns:
            rule = policy.rule(contract.name, column.name)
            target = rule.target if rule.target is not None else contract.target_for(column)
            rows.append(
                (
                    contract.source,
                    contract.entity,
                    column.name,
                    column.critical,
                    policy.is_delivered(contract.name),
                    policy.is_collected(contract.name, column.name),
                    target if column.critical else None,
                    rule.severity,
                    rule.severity or default_severity,
                )
            )
    return rows


def write_field_policy(con, policy: Policy | None = None) -> None:
    """(Re)write `meta.field_policy`, the table through which dbt reads the contracts' critical
    fields and the deployment's policy (one place for the gate, the alert rule and the KPI)."""
    from dagster_project.warehouse import insert_rows  # warehouse imports the contracts, as this module does

    con.execute(FIELD_POLICY_DDL)
    insert_rows(con, "insert into meta.field_policy values (?, ?, ?, ?, ?, ?, ?, ?, ?)", field_policy_rows(policy))
