"""Quality assets and checks. Checks of severity `error` are blocking: when one fails, the
publish step of the run does not execute, and the marts stay in the working warehouse."""

from datetime import date
from pathlib import Path

import dagster as dg

from dagster_project.contracts import load_contracts
from dagster_project.defs.ingest.assets import raw_asset_key
from dagster_project.deployment import load_policy
from dagster_project.quality.config import quality_config, severity
from dagster_project.quality.expectations import ExpectationRunner, record_results
from dagster_project.quality.freshness import freshness
from dagster_project.quality.integrity import duplicate_keys, orphan_shares, row_accounting
from dagster_project.resources import WarehouseResource, skip_unchanged
from dagster_project.settings import Settings

DQ_KEY = dg.AssetKey(["marts", "dq_completeness"])
AUDIT_KEY = dg.AssetKey(["meta", "ingest_audit"])
ORPHANS_KEY = dg.AssetKey(["meta", "orphans"])
RAW_KEYS = [raw_asset_key(c) for c in load_contracts().values()]


def _check_severity(kind: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if severity(kind) == "error" else dg.AssetCheckSeverity.WARN


def _check_name(kind: str, entity: str) -> str:
    return f"{kind}__{entity.replace('.', '__')}"


def _completeness_blocks() -> bool:
    """Completeness checks block when their configured severity, or any field's in the policy, is error."""
    return severity("completeness") == "error" or any(
        rule.severity == "error" for rule in load_policy().completeness.values()
    )


def _completeness_result(name: str, fields: list) -> dg.AssetCheckResult:
    """One entity's completeness: fails when a measured field is under its target; blocks (ERROR)
    only when such a field's severity is error. Fields not collected are listed, never measured."""
    missed = [f for f in fields if f.passed is False]
    blocking = any(f.severity == "error" for f in missed)
    measured = [f for f in fields if f.measured]
    unmeasured = [f"{f.field} ({f.status})" for f in fields if not f.measured]
    summary = f"{len(measured)} critical fields on target" + (
        f"; not measured: {', '.join(unmeasured)}" if unmeasured else ""
    )
    return dg.AssetCheckResult(
        check_name=_check_name("completeness", name),
        asset_key=DQ_KEY,
        passed=not missed,
        severity=dg.AssetCheckSeverity.ERROR if blocking or not missed else dg.AssetCheckSeverity.WARN,
        description="; ".join(f.shortfall() + ("" if f.severity == "error" else " [warn]") for f in missed) or summary,
        metadata={
            f.field: (f"{f.completeness:.1%} (target {f.target:.0%})" if f.rows else "empty table")
            if f.measured
            else f.status
            for f in fields
        },
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            DQ_KEY,
            group_name="quality",
            kinds={"duckdb", "great_expectations"},
            deps=RAW_KEYS,
            description="Completeness of every critical field, per run (history kept), validated with GX.",
        )
    ],
    check_specs=[
        dg.AssetCheckSpec(
            _check_name(kind, name),
            asset=DQ_KEY,
            blocking=_completeness_blocks() if kind == "completeness" else severity(kind) == "error",
            description=f"{kind.capitalize()} of {name} against its targets.",
        )
        for name in load_contracts()
        for kind in ("completeness", "validity")
    ],
    can_subset=True,  # yields nothing when nothing changed since the published snapshot
)
def dq_completeness(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    if skip_unchanged(context, warehouse, "quality validation"):
        return
    runner = ExpectationRunner(Path(warehouse.path).parent / "gx")
    selected = context.selected_asset_check_keys
    all_fields, all_rules = [], []
    policy = load_policy()
    with warehouse.connect() as con:
        for name, contract in load_contracts().items():
            fields, rules = runner.validate(con, contract, policy)
            all_fields += fields
            all_rules += rules
            completeness = _completeness_result(name, fields)
            broken = [r for r in rules if not r.passed]
            validity = dg.AssetCheckResult(
                check_name=_check_name("validity", name),
                asset_key=DQ_KEY,
                passed=not broken,
                severity=_check_severity("validity"),
                description="; ".join(
                    f"{name}.{r.field}: {r.failing_rows} of {r.checked_rows} values fail '{r.rule}' "
                    f"(allowed share failing {1 - r.mostly:.0%})"
                    for r in broken
                )
                or f"{len(rules)} value rules hold",
            )
            yield from (r for r in (completeness, validity) if dg.AssetCheckKey(DQ_KEY, r.check_name) in selected)
        record_results(con, context.run.run_id, all_fields, all_rules)
    docs = runner.build_docs()
    yield dg.MaterializeResult(
        asset_key=DQ_KEY,
        metadata={
            "fields_checked": len(all_fields),
            "fields_below_target": sum(f.passed is False for f in all_fields),
            "fields_not_measured": sum(not f.measured for f in all_fields),
            "value_rules_failing": sum(not r.passed for r in all_rules),
            "data_docs": dg.MetadataValue.path(str(docs)) if docs else "not built",
        },
    )


@dg.asset(
    key=AUDIT_KEY,
    group_name="raw_integrity",
    kinds={"duckdb"},
    deps=RAW_KEYS,
    description="Per drop: rows read, loaded, quarantined, or why the file was rejected (written by ingestion).",
    check_specs=[
        dg.AssetCheckSpec(
            "row_accounting",
            asset=AUDIT_KEY,
            blocking=severity("row_accounting") == "error",
            description="Every drop: rows read = loaded + quarantined, and the quarantine agrees.",
        )
    ],
)
def ingest_audit(warehouse: WarehouseResource):
    with warehouse.connect() as con:
        totals = con.execute(
            "select count(*), count(*) filter (status = 'rejected'), coalesce(sum(rows_read), 0), "
            "coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) from meta.ingest_audit"
        ).fetchall()[0]
        findings = row_accounting(con)
    drops, rejected, read, loaded, quarantined = totals
    yield dg.MaterializeResult(
        metadata={
            "drops": drops,
            "files_rejected": rejected,
            "rows_read": read,
            "rows_loaded": loaded,
            "rows_quarantined": quarantined,
        }
    )
    yield dg.AssetCheckResult(
        check_name="row_accounting",
        passed=not findings,
        severity=_check_severity("row_accounting"),
        description="; ".join(f"{f.subject}: {f.problem}" for f in findings) or f"{drops} drops add up",
    )


@dg.asset_check(
    asset=ORPHANS_KEY,
    blocking=severity("primary_key") == "error",
    description="Raw tables hold one row per non-empty primary key.",
)
def primary_keys_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        bad = {c.name: n for c in load_contracts().values() if (n := duplicate_keys(con, c))}
    return dg.AssetCheckResult(
        passed=not bad,
        severity=_check_severity("primary_key"),
        description=", ".join(f"{k}: {v} duplicate or empty keys" for k, v in bad.items()) or "all keys unique",
    )


@dg.asset_check(
    asset=ORPHANS_KEY,
    blocking=severity("orphans") == "error",
    description="Orphan foreign keys stay under max_orphan_share of each table.",
)
def orphan_share(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    limit = quality_config()["max_orphan_share"]
    with warehouse.connect() as con:
        shares = orphan_shares(con)
    over = [s for s in shares if s[4] > limit]
    return dg.AssetCheckResult(
        passed=not over,
        severity=_check_severity("orphans"),
        description="; ".join(f"{e} {fk}: {n} of {t} rows orphaned ({s:.2%} > {limit:.0%})" for e, fk, n, t, s in over)
        or f"orphans within {limit:.0%} for every key",
        metadata={f"{e} {fk}": n for e, fk, n, _, _ in shares},
    )


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec("freshness", asset=raw_asset_key(c), description=f"Newest {c.name} record is recent.")
        for c in load_contracts().values()
    ],
    can_subset=True,
)
def source_freshness(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    """Age of each entity's newest record against S2S_AS_OF (else today); warns, never blocks."""
    reference = Settings.from_env().as_of or date.today()
    level = (
        dg.AssetCheckSeverity.ERROR
        if quality_config()["freshness"]["severity"] == "error"
        else (dg.AssetCheckSeverity.WARN)
    )
    with warehouse.connect() as con:
        for contract in load_contracts().values():
            if dg.AssetCheckKey(raw_asset_key(contract), "freshness") not in context.selected_asset_check_keys:
                continue
            f = freshness(con, contract, reference)
            yield dg.AssetCheckResult(
                asset_key=raw_asset_key(contract),
                check_name="freshness",
                passed=f.passed,
                severity=level,
                description=(
                    f"newest record {f.newest}, {f.age_days} days before {reference} (max {f.max_age_days})"
                    if f.newest
                    else "no records"
                ),
                metadata={"newest": str(f.newest), "age_days": f.age_days if f.age_days is not None else -1},
            )
