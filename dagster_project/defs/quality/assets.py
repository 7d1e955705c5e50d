"""Quality assets and checks. Checks of severity `error` are blocking: when one fails, the
publish step of the run does not execute, and the marts stay in the working warehouse."""

from pathlib import Path

import dagster as dg

from dagster_project import early_workers
from dagster_project.contracts import load_contracts
from dagster_project.defs.dbt.warm import warm_dbt
from dagster_project.defs.ingest.assets import ORPHANS_KEY, raw_asset_key
from dagster_project.deployment import load_policy
from dagster_project.ingest.inventory import record_stray_entries
from dagster_project.publish.fingerprint import FORCE_TAG
from dagster_project.quality import worker
from dagster_project.quality.config import quality_config, severity
from dagster_project.quality.delivery import delivery_status, new_files_this_run, quarantine_shares
from dagster_project.quality.expectations import record_results, recorded_results
from dagster_project.quality.freshness import freshness, reference_date
from dagster_project.quality.integrity import (
    duplicate_keys,
    key_check_windows,
    newest_loads,
    orphan_shares,
    record_key_checks,
    row_accounting,
)
from dagster_project.resources import WarehouseResource, skip_unchanged
from dagster_project.warehouse import ensure_meta

DQ_KEY = dg.AssetKey(["marts", "dq_completeness"])  # the published mart (dbt), where the gate's checks sit
RESULTS_KEY = dg.AssetKey(["meta", "dq_completeness"])
VALIDITY_KEY = dg.AssetKey(["meta", "dq_validity"])
AUDIT_KEY = dg.AssetKey(["meta", "ingest_audit"])
DELIVERY_KEY = dg.AssetKey(["meta", "delivery"])
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
        # one line for an empty table (every field of it says the same)
        description="; ".join(
            dict.fromkeys(f.shortfall() + ("" if f.severity == "error" else " [warn]") for f in missed)
        )
        or summary,
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
            RESULTS_KEY,
            group_name="quality",
            kinds={"duckdb", "great_expectations"},
            deps=RAW_KEYS,
            description="Completeness of every critical field, per run (history kept), validated with GX.",
        ),
        dg.AssetSpec(
            VALIDITY_KEY,
            group_name="quality",
            kinds={"duckdb", "great_expectations"},
            deps=RAW_KEYS,
            description="Value rules (formats, ranges) of every entity, per run (history kept), validated with GX.",
        ),
    ],
    can_subset=True,  # yields nothing when nothing changed since the published snapshot
    # Taken when no other step is ready: after the first dbt step, which starts the validation in a
    # worker process beside its build (start_validation), so that this step only collects it.
    op_tags={"dagster/priority": -1},
)
def dq_results(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    """Validate every entity with GX (the drops not counted yet) and append the results to meta (dbt
    publishes them as marts)."""
    if skip_unchanged(context, warehouse, "quality validation"):
        discard_gx_worker(context)
        return
    validation = _STARTED.pop(context.run.run_id, None)
    with warehouse.connect() as con:
        if validation is None:  # the dbt step did not run before this one: validate now
            validation = _start(context, warehouse, con)
        else:
            context.log.info("Great Expectations: collecting the worker's counts (started by the dbt step)")
        all_fields, all_rules, docs = validation.finish(con)
        record_results(con, context.run.run_id, all_fields, all_rules)
    selected = context.selected_asset_keys
    if RESULTS_KEY in selected:
        yield dg.MaterializeResult(
            asset_key=RESULTS_KEY,
            metadata={
                "fields_checked": len(all_fields),
                "fields_below_target": sum(f.passed is False for f in all_fields),
                "fields_not_measured": sum(not f.measured for f in all_fields),
                "data_docs": dg.MetadataValue.path(str(docs)) if docs else "not built",
            },
        )
    if VALIDITY_KEY in selected:
        yield dg.MaterializeResult(
            asset_key=VALIDITY_KEY,
            metadata={"rules_checked": len(all_rules), "value_rules_failing": sum(not r.passed for r in all_rules)},
        )


# run id -> the validation the first dbt step started (a process runs one job at a time: one entry)
_STARTED: dict[str, worker.Validation] = {}
# run id -> the worker its first ingestion step started or adopted (start_gx_worker)
_READY: dict[str, worker.Ready] = {}


def _gx_root(warehouse: WarehouseResource) -> Path:
    return early_workers.gx_root(Path(warehouse.path))


def _start(context: dg.AssetExecutionContext, warehouse: WarehouseResource, con) -> worker.Validation:
    deliveries = delivery_status(con)
    return worker.start(
        con,
        _gx_root(warehouse),
        {name: d.passed for name, d in deliveries.items()},
        load_policy(),
        recount=context.run.tags.get(FORCE_TAG) == "true",  # a forced run counts every drop again
        ready=_READY.pop(context.run.run_id, None) or early_workers.take_gx(Path(warehouse.path)),
        run_name=context.run.run_id,
    )


def _validates(context: dg.AssetExecutionContext) -> bool:
    planned = context.run.step_keys_to_execute  # None: every step of the job
    return planned is None or dq_results.op.name in planned


def start_gx_worker(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """Called by the run's first ingestion step: start the Great Expectations worker now, so that it
    imports GX (~2.4 s of CPU, at the workers' low priority) while ingestion runs rather than beside
    the dbt build, or adopt the one `run` started before the run (early_workers.py); the dbt step then
    gives it its groups and the run's id (`start_validation`). Once per run; a worker another run
    started in this process and never used is stopped first."""
    for run_id in [r for r in _READY if r != context.run.run_id]:
        _READY.pop(run_id).discard()
    if _validates(context) and context.run.run_id not in _READY:
        early = early_workers.take_gx(Path(warehouse.path))  # `run` started one before the run
        _READY[context.run.run_id] = early or worker.start_ready(_gx_root(warehouse), context.run.run_id)
        context.log.info(
            f"Great Expectations: worker process {'started by `run`, taken' if early else 'started'} by "
            f"{context.op_def.name}; it imports GX and waits for the dbt step's frames"
        )


def discard_gx_worker(context: dg.AssetExecutionContext) -> None:
    """The run validates nothing after all (nothing changed since the snapshot): stop its early worker."""
    if ready := _READY.pop(context.run.run_id, None):
        ready.discard()


def start_validation(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> None:
    """Start this run's Great Expectations validation in a worker process (quality/worker.py), when the
    run will collect it: called by the first dbt step before dbt opens the warehouse."""
    if not _validates(context):
        return
    with warehouse.connect() as con:
        validation = _STARTED[context.run.run_id] = _start(context, warehouse, con)
    context.log.info(
        f"Great Expectations: {validation.groups} group(s) of drops to validate, in a worker process beside "
        "the dbt build"
    )


# The gate's checks sit on the published mart, not on the meta tables: dbt reads those as sources,
# and a blocking check there would stop the whole dbt build; here a failure stops only the publish,
# and the marts are still built for inspection. They read back what dq_results recorded in this run.
@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(
            _check_name(kind, name),
            asset=DQ_KEY,
            additional_deps=[RESULTS_KEY, VALIDITY_KEY],
            blocking=_completeness_blocks() if kind == "completeness" else severity(kind) == "error",
            description=f"{kind.capitalize()} of {name} against its targets.",
        )
        for name in load_contracts()
        for kind in ("completeness", "validity")
    ],
    can_subset=True,  # yields nothing when the validation did not run (nothing changed)
)
def dq_gate(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource):
    with warehouse.connect() as con:
        fields, rules = recorded_results(con, context.run.run_id)
    if not fields:
        context.log.info("no quality results recorded in this run: nothing to check")
        return
    selected = context.selected_asset_check_keys
    for name in load_contracts():
        completeness = _completeness_result(name, fields.get(name, []))
        broken = [r for r in rules.get(name, []) if not r.passed]
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
            or f"{len(rules.get(name, []))} value rules hold",
        )
        yield from (r for r in (completeness, validity) if dg.AssetCheckKey(DQ_KEY, r.check_name) in selected)


@dg.asset(
    key=AUDIT_KEY,
    group_name="raw_integrity",
    kinds={"duckdb"},
    deps=RAW_KEYS,
    description="Per drop: rows read, loaded, quarantined, or why the file was rejected, ignored or a duplicate "
    "(written by ingestion).",
    check_specs=[
        dg.AssetCheckSpec(
            "row_accounting",
            asset=AUDIT_KEY,
            blocking=severity("row_accounting") == "error",
            description="Every drop: rows read = loaded + quarantined, and the quarantine agrees.",
        )
    ],
)
def ingest_audit(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    warm_dbt(context)  # dbt is imported on the other core while the steps before the dbt build run
    with warehouse.connect() as con:
        for entry in record_stray_entries(con, warehouse.raw_path, context.run.run_id):
            context.log.warning(f"ignored {entry.relative_path}: {entry.reason}")
        totals = con.execute(
            "select count(*) filter (status in ('loaded', 'rejected')), count(*) filter (status = 'rejected'), "
            "count(*) filter (status = 'ignored'), count(*) filter (status = 'duplicate'), "
            "coalesce(sum(rows_read), 0), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
            "from meta.ingest_audit"
        ).fetchall()[0]
        findings = row_accounting(con)
    drops, rejected, ignored, duplicates, read, loaded, quarantined = totals
    yield dg.MaterializeResult(
        metadata={
            "drops": drops,
            "files_rejected": rejected,
            "files_ignored": ignored,
            "files_duplicate": duplicates,
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


def _gate_spec(name: str, kind: str, description: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(name, asset=DELIVERY_KEY, blocking=severity(kind) == "error", description=description)


# Not on meta/ingest_audit: dbt reads that table as a source, and a blocking check there would stop
# the dbt build too; a failed gate still builds the marts for inspection and only stops the publish.
@dg.asset(
    key=DELIVERY_KEY,
    group_name="raw_integrity",
    kinds={"duckdb"},
    deps=[*RAW_KEYS, AUDIT_KEY],
    description="What the drops amount to, per entity: delivered, declared not delivered, or not (the publish gate "
    "on deliveries, new files and quarantine shares).",
    check_specs=[
        _gate_spec("new_files_loaded", "new_files_rejected", "A run with new files loads at least one of them."),
        _gate_spec("quarantine_share", "quarantine_share", "No drop quarantines more than max_quarantine_share."),
        *(
            _gate_spec(
                _check_name("delivered", name),
                "delivery",
                f"{name} is delivered (a drop of it loaded), or declared not delivered.",
            )
            for name in load_contracts()
        ),
    ],
)
def delivery(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    limit = quality_config()["max_quarantine_share"]
    with warehouse.connect() as con:
        deliveries = delivery_status(con)
        loaded_now, rejected_now = new_files_this_run(con, context.run.run_id)
        over = quarantine_shares(con, limit, example=True)
    yield dg.MaterializeResult(
        metadata={
            "entities_delivered": sum(d.delivered for d in deliveries.values()),
            "entities_declared_not_delivered": sum(d.declared_not_delivered for d in deliveries.values()),
            "entities_missing": sum(not d.passed for d in deliveries.values()),
            "new_files_loaded": loaded_now,
            "new_files_rejected": len(rejected_now),
        }
    )
    all_rejected = bool(rejected_now) and not loaded_now
    yield dg.AssetCheckResult(
        check_name="new_files_loaded",
        passed=not all_rejected,
        severity=_check_severity("new_files_rejected"),
        description=(
            f"every new file of this run was rejected, nothing new is loaded ({len(rejected_now)}): "
            + "; ".join(f"{f}: {reason}" for f, reason in rejected_now)
            if all_rejected
            else (f"{loaded_now} new file{'s' if loaded_now != 1 else ''} loaded" if loaded_now else "no new file")
        ),
    )
    yield dg.AssetCheckResult(
        check_name="quarantine_share",
        passed=not over,
        severity=_check_severity("quarantine_share"),
        description="; ".join(
            f"{f}: {q} of {n} rows quarantined ({s:.1%} > {limit:.0%})" + (f", e.g. {e}" if e else "")
            for f, q, n, s, e in over
        )
        or f"every drop within {limit:.0%} quarantined",
        metadata={f: f"{s:.1%}" for f, _, _, s, _ in over[:20]},
    )
    for name, status in deliveries.items():
        yield dg.AssetCheckResult(
            check_name=_check_name("delivered", name),
            passed=status.passed,
            severity=_check_severity("delivery"),
            description=status.describe(),
        )


@dg.asset_check(
    asset=ORPHANS_KEY,
    blocking=severity("primary_key") == "error",
    description="Raw tables hold one row per non-empty primary key (the keys of rows loaded since the last "
    "passing check, each against every row; every key on a forced run or after a key change).",
)
def primary_keys_unique(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    contracts = list(load_contracts().values())
    with warehouse.connect() as con:
        ensure_meta(con)  # meta.raw_key_checks on a warehouse made before it
        since = key_check_windows(con, contracts, force=context.run.tags.get(FORCE_TAG) == "true")
        through = newest_loads(con, contracts)
        bad = {c.name: n for c in contracts if (n := duplicate_keys(con, c, since.get(c.name)))}
        if not bad:
            record_key_checks(con, contracts, through, context.run.run_id)
    windowed = sum(c.name in since for c in contracts)
    return dg.AssetCheckResult(
        passed=not bad,
        severity=_check_severity("primary_key"),
        description=", ".join(f"{k}: {v} duplicate or empty keys" for k, v in bad.items())
        or "all keys unique"
        + (
            f" (new rows' keys of {windowed} of {len(contracts)} tables, checked against every row)" if windowed else ""
        ),
        metadata={"tables_checked_by_new_rows": windowed},
    )


@dg.asset_check(
    asset=ORPHANS_KEY,
    blocking=severity("orphans") == "error",
    description="Orphan foreign keys stay under max_orphan_share of each table.",
)
def orphan_share(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    limit = quality_config()["max_orphan_share"]
    with warehouse.connect() as con:
        shares = orphan_shares(con, load_policy().is_delivered)
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
    """Age of each entity's newest record (master data: its latest drop) against the marts' reference
    date; warns, never blocks. An entity not delivered is left to the delivery check."""
    level = (
        dg.AssetCheckSeverity.ERROR
        if quality_config()["freshness"]["severity"] == "error"
        else (dg.AssetCheckSeverity.WARN)
    )
    with warehouse.connect() as con:
        reference = reference_date(con)
        deliveries = delivery_status(con)
        for contract in load_contracts().values():
            if dg.AssetCheckKey(raw_asset_key(contract), "freshness") not in context.selected_asset_check_keys:
                continue
            f = freshness(con, contract, reference, deliveries[contract.name])
            yield dg.AssetCheckResult(
                asset_key=raw_asset_key(contract),
                check_name="freshness",
                passed=f.passed,
                severity=level,
                description=f.describe(reference),
                metadata={
                    "newest": str(f.newest),
                    "age_days": f.age_days if f.age_days is not None else -1,
                    "reference_date": str(reference),
                },
            )
