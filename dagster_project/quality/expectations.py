"""Completeness and validity of the loaded tables, validated with Great Expectations.

GX's SQL datasource does not work on DuckDB here, so each entity's needed columns are read into a
pandas frame and validated there. Critical columns travel as 1.0/NaN float32 indicators (their
values do not matter for completeness), which keeps a 15-million-row entity to ~200 MB.
Results are appended to `meta.dq_completeness` and `meta.dq_validity` (history across runs; dbt publishes
them as the marts of the same names) and rendered as Data Docs.

Only new rows are validated (issue 14): GX's counts (rows, empty values, failing values) are stored per
group of drops (`meta.dq_validated_drops`, `meta.dq_validated_counts`), and an entity's figures are the
sums over its groups. A run counts the drops no group covers: new drops, and the drops of a group one of
whose drops lost rows since (a newer drop replaced them by key) or whose expectations changed. The
verdicts (`mostly`, targets) are applied to the sums here, as GX applies them to one frame; `recount`
(a forced run) counts every drop again.

The deployment's policy (`dagster_project/deployment.py`) decides what is measured: a field it does
not collect (or of an entity it does not deliver) has no expectation and is recorded as such, with
no completeness figure, never as 100%; a field's own target and severity come from the policy,
else from the contract and config/quality.yml.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import sys
import uuid
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract
from dagster_project.deployment import Policy, load_policy
from dagster_project.quality.config import quality_config, severity
from dagster_project.warehouse import ensure_meta, insert_rows, quote

log = logging.getLogger(__name__)
_COUNTS_ONLY = {"result_format": "SUMMARY", "partial_unexpected_count": 0}

MEASURED, NOT_COLLECTED, NOT_DELIVERED = "measured", "not collected", "not delivered"


@dataclass(frozen=True)
class FieldCompleteness:
    source: str
    entity: str
    field: str
    rows: int
    complete_rows: int | None  # None: not measured (status)
    target: float
    status: str = MEASURED
    severity: str = "error"  # of a shortfall: error blocks the publish, warn reports
    empty_allowed: bool = False  # an empty table passes: the entity is delivered empty, or declared not delivered

    @property
    def measured(self) -> bool:
        return self.status == MEASURED

    @property
    def completeness(self) -> float | None:
        return self.complete_rows / self.rows if self.rows and self.measured else None

    @property
    def passed(self) -> bool | None:
        if not self.measured:
            return None
        return self.complete_rows / self.rows >= self.target if self.rows else self.empty_allowed

    def shortfall(self) -> str:
        if not self.rows:
            return f"{self.source}.{self.entity}: no rows, and no drop of it is loaded (not delivered)"
        text = (
            f"{self.source}.{self.entity}.{self.field}: {self.completeness:.1%} complete, target {self.target:.0%} "
            f"({(self.target - (self.completeness or 0)) * 100:.1f} points short; "
            f"{self.rows - self.complete_rows} of {self.rows} rows empty)"
        )
        if self.complete_rows == 0:
            text += "; no value at all: if the company does not collect it, list it under not_collected in policy.yml"
        return text


@dataclass(frozen=True)
class RuleResult:
    source: str
    entity: str
    field: str
    rule: str
    checked_rows: int
    failing_rows: int
    mostly: float
    passed: bool


def _rule_text(rule: dict) -> str:
    if "regex" in rule:
        return f"matches {rule['regex']}"
    parts = []
    if "min" in rule:
        parts.append(f">= {rule['min']}")
    if "max" in rule:
        parts.append(f"<= {rule['max']}")
    return " and ".join(parts)


def frame_sql(contract: Contract, rules: list[dict], measured: list) -> str:
    """The query of an entity's frame (its one parameter: the drops): indicator columns for the measured
    critical fields, real values for the fields that value rules read."""
    selects = []
    for column in measured:
        indicator = f"case when {quote(column.name)} is null then null else 1.0::float end"  # float32
        selects.append(f"{indicator} as {quote('c__' + column.name)}")
    for rule in rules:
        name = quote(rule["column"])
        cast = "" if "regex" in rule else "::double"
        selects.append(f"{name}{cast} as {quote('v__' + rule['column'])}")
    return f"select {', '.join(selects)} from {contract.table} where list_contains(?, coalesce(_drop_id, ''))"


def _suite_digest(contract: Contract, measured: list, rules: list[dict]) -> str:
    """What the stored counts depend on: the measured fields and the value rules (their types and
    bounds; `mostly` and the targets only judge the sums)."""
    types = {c.name: c.type for c in contract.columns}
    counted = {
        "fields": [(c.name, c.type) for c in measured],
        "rules": [({k: v for k, v in r.items() if k != "mostly"}, types.get(r["column"])) for r in rules],
    }
    return hashlib.sha256(json.dumps(counted, sort_keys=True, default=str).encode()).hexdigest()[:16]


_SUITE_KEY = "s2s_expectations_key"  # in a stored suite's meta: the expectations it was built with


@dataclass(frozen=True)
class Counts:
    element: int = 0
    missing: int = 0
    unexpected: int = 0


@dataclass(frozen=True)
class _Suite:
    """An entity's expectations: the measured critical fields (with their targets) and the value rules."""

    contract: Contract
    measured: list
    rules: list[dict]
    targets: dict[str, float]


def batches(drops: list[str], rows: dict[str, int], limit: int) -> list[list[str]]:
    """The drops in order, cut into batches of at most `limit` rows (a larger drop is a batch alone): one GX
    run each, so the frame in memory stays bounded however large a first load is."""
    out: list[list[str]] = []
    size = 0
    for drop in drops:
        if not out or size + rows[drop] > limit:
            out.append([])
            size = 0
        out[-1].append(drop)
        size += rows[drop]
    return out


def _rule_passed(counts: Counts, mostly: float) -> bool:
    """GX's verdict for a value rule: empty values are not judged; no value at all passes."""
    checked = counts.element - counts.missing
    return checked == 0 or (checked - counts.unexpected) / checked >= mostly


def field_target(contract: Contract, column, policy: Policy) -> float:
    """The policy's target for the field, else the contract's."""
    rule = policy.rule(contract.name, column.name)
    return rule.target if rule.target is not None else contract.target_for(column)


def field_severity(contract: Contract, column, policy: Policy) -> str:
    """The policy's severity for the field, else the configured severity of completeness checks."""
    return policy.rule(contract.name, column.name).severity or severity("completeness")


def _unmeasured(contract: Contract, column, rows: int, policy: Policy, status: str) -> FieldCompleteness:
    return FieldCompleteness(
        source=contract.source,
        entity=contract.entity,
        field=column.name,
        rows=rows,
        complete_rows=None,
        target=field_target(contract, column, policy),
        status=status,
        severity=field_severity(contract, column, policy),
    )


@dataclass
class Plan:
    """One entity's validation, decided from the warehouse before GX runs (`plan_validation`): what is
    measured, and the groups of drops GX is to count (`new_groups`: group id, drops). `finish_validation`
    stores their counts and judges the sums. GX itself needs only the frames: it can run elsewhere (in
    a worker process beside the dbt build: quality/worker.py)."""

    contract: Contract
    policy: Policy
    empty_allowed: bool
    rows: int
    suite: _Suite | None = None  # None: nothing measured, `unmeasured` says why
    unmeasured: str = ""
    digest: str = ""
    current: dict[str, int] = dataclass_field(default_factory=dict)  # drop -> rows in the table now
    valid: list[str] = dataclass_field(default_factory=list)  # stored groups whose counts still hold
    new_groups: list[tuple[str, list[str]]] = dataclass_field(default_factory=list)


def _table_rows(con: duckdb.DuckDBPyConnection, contract: Contract) -> int:
    return con.execute(f"select count(*) from {contract.table}").fetchall()[0][0]


def plan_validation(
    con: duckdb.DuckDBPyConnection,
    contract: Contract,
    policy: Policy | None = None,
    empty_allowed: bool = False,
    recount: bool = False,
) -> Plan:
    """The entity's plan. Fields the policy says are not collected (or whose entity is not delivered)
    come back unmeasured. An empty table passes completeness only when `empty_allowed` (see
    quality/delivery.py). Only the drops no stored group covers are to be counted (module docstring)."""
    policy = policy or load_policy()
    if not policy.is_delivered(contract.name):
        return Plan(contract, policy, empty_allowed, _table_rows(con, contract), unmeasured=NOT_DELIVERED)
    rules = quality_config()["validity"].get(contract.name, [])
    rules = [r for r in rules if policy.is_collected(contract.name, r["column"])]
    measured = [c for c in contract.critical_columns if policy.is_collected(contract.name, c.name)]
    if not measured and not rules:
        return Plan(contract, policy, empty_allowed, _table_rows(con, contract), unmeasured=NOT_COLLECTED)
    suite = _Suite(contract, measured, rules, {c.name: field_target(contract, c, policy) for c in measured})
    ensure_meta(con)
    entity, digest = contract.name, _suite_digest(contract, measured, rules)
    current = dict(
        con.execute(f"select coalesce(_drop_id, ''), count(*) from {contract.table} group by all").fetchall()
    )
    groups: dict[str, dict[str, int]] = {}
    for group_id, drop_id, rows in con.execute(
        "select group_id, drop_id, rows from meta.dq_validated_drops where entity = ? and suite_digest = ?",
        [entity, digest],
    ).fetchall():
        groups.setdefault(group_id, {})[drop_id] = rows
    if recount:
        groups = {}
    valid = [g for g, drops in groups.items() if all(current.get(d) == n for d, n in drops.items())]
    covered = {d for g in valid for d in groups[g]}
    stale = sorted(d for d in current if d not in covered)
    limit = int(quality_config()["max_rows_per_validation"])
    return Plan(
        contract,
        policy,
        empty_allowed,
        sum(current.values()),
        suite,
        digest=digest,
        current=current,
        valid=valid,
        new_groups=[(uuid.uuid4().hex, batch) for batch in batches(stale, current, limit)],
    )


def finish_validation(
    con: duckdb.DuckDBPyConnection, plan: Plan, counted: dict[str, dict[str, Counts]]
) -> tuple[list[FieldCompleteness], list[RuleResult]]:
    """Store GX's counts of the plan's new groups (`counted`: group id -> frame column -> counts), drop the
    groups no longer valid, and judge the entity's sums: (field completeness list, value rule results)."""
    contract, policy = plan.contract, plan.policy
    if plan.suite is None:
        return [_unmeasured(contract, c, plan.rows, policy, plan.unmeasured) for c in contract.critical_columns], []
    entity = contract.name
    con.execute("begin transaction")
    con.execute(
        "delete from meta.dq_validated_counts where group_id in (select group_id from meta.dq_validated_drops "
        "where entity = ? and not list_contains(?, group_id))",
        [entity, plan.valid],
    )
    con.execute(
        "delete from meta.dq_validated_drops where entity = ? and not list_contains(?, group_id)", [entity, plan.valid]
    )
    for group_id, batch in plan.new_groups:
        insert_rows(
            con,
            "insert into meta.dq_validated_drops values (?, ?, ?, ?, ?)",
            [[entity, plan.digest, group_id, d, plan.current[d]] for d in batch],
        )
        insert_rows(
            con,
            "insert into meta.dq_validated_counts values (?, ?, ?, ?, ?)",
            [[group_id, item, c.element, c.missing, c.unexpected] for item, c in counted[group_id].items()],
        )
    con.execute("commit")
    counts = {
        item: Counts(int(e), int(m), int(u))
        for item, e, m, u in con.execute(
            "select item, sum(element_count), sum(missing_count), sum(unexpected_count) "
            "from meta.dq_validated_counts where group_id in "
            "(select group_id from meta.dq_validated_drops where entity = ?) group by item",
            [entity],
        ).fetchall()
    }
    rows, measured = plan.rows, plan.suite.measured
    completeness, validity = [], []
    for column in contract.critical_columns:
        if column not in measured:
            completeness.append(_unmeasured(contract, column, rows, policy, NOT_COLLECTED))
            continue
        completeness.append(
            FieldCompleteness(
                source=contract.source,
                entity=contract.entity,
                field=column.name,
                rows=rows,
                complete_rows=rows - counts.get("c__" + column.name, Counts()).unexpected,
                target=field_target(contract, column, policy),
                severity=field_severity(contract, column, policy),
                empty_allowed=plan.empty_allowed,
            )
        )
    for rule in plan.suite.rules:
        c = counts.get("v__" + rule["column"], Counts())
        validity.append(
            RuleResult(
                source=contract.source,
                entity=contract.entity,
                field=rule["column"],
                rule=_rule_text(rule),
                checked_rows=c.element - c.missing,
                failing_rows=c.unexpected,
                mostly=float(rule.get("mostly", 1.0)),
                passed=_rule_passed(c, float(rule.get("mostly", 1.0))),
            )
        )
    return completeness, validity


_WHOLE_TABLE = "whole_table"  # each entity asset's one batch definition: the frame it is given


def _run_of(key) -> str:
    """The run a stored validation result belongs to: its run name, else (stored without one) itself."""
    return key.run_id.run_name or f"unnamed {key.run_id.run_time.isoformat()}"


def scipy_stats_on_first_use() -> None:
    """Make `scipy.stats` a module that loads when first used, unless it is loaded already. Called by
    the GX worker process (quality/worker.py) before it imports GX, and by nothing else.

    Importing GX imports every expectation it has, and one of them (the KL divergence) runs `from
    scipy import stats` at the top of its module: ~0.9 CPU s of GX's ~2.7 s import on a 2-core machine,
    in every run, for a module none of this project's expectations calls. This is the standard
    library's lazy import (importlib.util.LazyLoader): the module object is there, and reading any
    attribute of it, or `import scipy.stats`, loads it, so code that needs it (an expectation added
    later) gets it as before. In Python 3.11 a first read from two threads at once is not safe,
    which is why only the single-threaded worker uses it."""
    if "scipy.stats" in sys.modules:
        return
    spec = importlib.util.find_spec("scipy.stats")
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scipy.stats"] = module
    spec.loader.exec_module(module)
    import scipy

    scipy.stats = module  # what `from scipy import stats` reads


class ExpectationRunner:
    """One GX file context under the warehouse folder; one suite per entity."""

    def __init__(self, gx_root: Path, run_name: str | None = None):
        import great_expectations as gx

        self.gx = gx
        # the name of every result this runner stores (the Dagster run's id): a run's results, one per
        # group of drops (each at its own time, or they would overwrite each other), are kept or
        # pruned together (prune_results)
        self.run_name = run_name
        gx_root.mkdir(parents=True, exist_ok=True)
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.context = gx.get_context(mode="file", project_root_dir=str(gx_root))
        # no "Calculating Metrics" bars: a run prints one line per step (dagster_project/console.py)
        self.context.variables.progress_bars = ProgressBarsConfig(globally=False)
        # the datasource as stored, with its assets (one per entity): the stored validation definitions
        # point at them; adding it again would drop them, and each run would store every asset anew
        try:
            self.datasource = self.context.data_sources.get("warehouse")
        except KeyError:  # a new GX folder
            self.datasource = self.context.data_sources.add_or_update_pandas("warehouse")

    def add_assets(self, names: list[str]) -> None:
        """Store a dataframe asset with its batch definition for each entity named that has none, in
        one write of GX's config: added one by one (as `_definition` does for a single new entity),
        each asset and each batch definition wrote the whole config again, ~20 ms an entity and
        growing with the config (0.9 s of a small company's first validation, under dbt's load)."""
        stored = {asset.name for asset in self.datasource.assets}
        missing = [name for name in dict.fromkeys(names) if name not in stored]
        if not missing:
            return
        from great_expectations.datasource.fluent import PandasDatasource

        # a datasource of no context writes nothing until the context takes it, whole, below
        detached = PandasDatasource(name=self.datasource.name, assets=list(self.datasource.assets))
        for name in missing:
            detached.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(_WHOLE_TABLE)
        self.datasource = self.context.data_sources.add_or_update_pandas(datasource=detached)

    def validate(
        self,
        con: duckdb.DuckDBPyConnection,
        contract: Contract,
        policy: Policy | None = None,
        empty_allowed: bool = False,
        recount: bool = False,
    ):
        """Plan, count and judge one entity in this process: (field completeness list, value rule results)."""
        plan = plan_validation(con, contract, policy, empty_allowed, recount)
        counted = {}
        if plan.suite is not None:
            query = frame_sql(contract, plan.suite.rules, plan.suite.measured)
            for group_id, drops in plan.new_groups:
                counted[group_id] = self.count(plan.suite, con.execute(query, [drops]).df())
        return finish_validation(con, plan, counted)

    def _expectations(self, suite_of: _Suite) -> list:
        gx = self.gx
        expectations = [
            # the verdict that counts is applied to the sums (validate); GX's is the one of these drops
            gx.expectations.ExpectColumnValuesToNotBeNull(
                column="c__" + column.name, mostly=suite_of.targets[column.name]
            )
            for column in suite_of.measured
        ]
        for rule in suite_of.rules:
            column, mostly = "v__" + rule["column"], float(rule.get("mostly", 1.0))
            if "regex" in rule:
                expectations.append(
                    gx.expectations.ExpectColumnValuesToMatchRegex(column=column, regex=rule["regex"], mostly=mostly)
                )
            else:
                expectations.append(
                    gx.expectations.ExpectColumnValuesToBeBetween(
                        column=column, min_value=rule.get("min"), max_value=rule.get("max"), mostly=mostly
                    )
                )
        return expectations

    def _definition(self, suite_of: _Suite):
        """The entity's validation definition: the stored one when its suite holds these expectations
        (the suite's meta records their key: a digest of their configurations), else the suite and
        definition built and stored anew. Building and storing them cost ~70 ms an entity (GX saves
        the files and re-reads its config on each expectation added); reading them back, a few ms."""
        from great_expectations.compatibility.pydantic import ValidationError

        gx, name = self.gx, suite_of.contract.name
        expectations = self._expectations(suite_of)
        configurations = [e.configuration.to_json_dict() for e in expectations]
        key = hashlib.sha256(json.dumps(configurations, sort_keys=True, default=str).encode()).hexdigest()[:16]
        try:
            stored = self.context.validation_definitions.get(name)
        except (gx.exceptions.GreatExpectationsError, ValidationError):  # not stored, or its suite or asset gone
            stored = None
        if stored is not None and stored.suite.meta.get(_SUITE_KEY) == key:
            return stored
        suite = gx.ExpectationSuite(name=name, meta={_SUITE_KEY: key})
        for expectation in expectations:
            suite.add_expectation(expectation)
        suite = self.context.suites.add_or_update(suite)
        try:
            batch = self.datasource.get_asset(name).get_batch_definition(_WHOLE_TABLE)
        except (LookupError, KeyError):
            asset = self.datasource.add_dataframe_asset(name=name)
            batch = asset.add_batch_definition_whole_dataframe(_WHOLE_TABLE)
        return self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(data=batch, suite=suite, name=name)
        )

    def count(self, suite_of: _Suite, frame) -> dict[str, Counts]:
        """One GX validation of a frame (`frame_sql`): element, missing and unexpected counts per frame column."""
        definition = self._definition(suite_of)
        # Results and Data Docs live outside the warehouse: counts only, never the values that failed
        # (GX lists up to 20 by default, raw emails and phones among them, even for passing checks).
        from great_expectations.core.run_identifier import RunIdentifier

        run_id = RunIdentifier(run_name=self.run_name, run_time=datetime.now(UTC))
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=_COUNTS_ONLY, run_id=run_id)
        return {
            r.expectation_config.kwargs["column"]: Counts(
                int(r.result.get("element_count") or 0),
                int(r.result.get("missing_count") or 0),
                int(r.result.get("unexpected_count") or 0),
            )
            for r in result.results
        }

    def prune_results(self, keep: int) -> int:
        """Keep, for each entity, the validation results of the newest `keep` runs that validated it
        (`data_docs_results_kept`, config/quality.yml; a run stores one result per group of new drops)
        with their Data Docs pages; older ones go, and the page folders they leave empty. Building the
        site reads every stored result: 0.28 s with one run's 19, 2.6 s with 25 runs'. Returns how many
        went."""
        if keep < 1:
            raise ValueError(f"data_docs_results_kept must be at least 1, not {keep}")
        results = self.context.validation_results_store
        by_suite: dict[str, list] = {}
        for key in results.list_keys():
            by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
        pages = self._site() / "validations"
        gone = 0
        for keys in by_suite.values():
            newest: dict[str, datetime] = {}  # run -> its newest result's time (unnamed: each result alone)
            for k in keys:
                run = _run_of(k)
                newest[run] = max(newest.get(run, k.run_id.run_time), k.run_id.run_time)
            kept = set(sorted(newest, key=newest.__getitem__, reverse=True)[:keep])
            for key in [k for k in keys if _run_of(k) not in kept]:
                results.remove_key(key)
                *folders, name = key.to_tuple()  # a name like "warehouse-crm.accounts": add, not replace, a suffix
                page = pages.joinpath(*folders, name + ".html")
                page.unlink(missing_ok=True)
                for folder in page.parents:  # the run's folders, when now empty
                    if folder == pages or not folder.is_dir() or any(folder.iterdir()):
                        break
                    folder.rmdir()
                gone += 1
        return gone

    def _site(self) -> Path:
        return Path(self.context.root_directory) / "uncommitted" / "data_docs" / "local_site"

    def build_docs(self, pruned: bool = False) -> Path | None:
        """The Data Docs site, built again only when a suite or a validation result was stored after it
        was last built, or results were pruned: the site shows those, so otherwise it would be written
        the same (building it took ~0.3-0.45 s of the worker's time, while the quality step waits)."""
        root = Path(self.context.root_directory)
        index = self._site() / "index.html"
        stored = [*(root / "expectations").rglob("*.json"), *(root / "uncommitted" / "validations").rglob("*.json")]
        if pruned or not index.exists() or any(p.stat().st_mtime_ns >= index.stat().st_mtime_ns for p in stored):
            self.context.build_data_docs()
        return index if index.exists() else None


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, completeness: list[FieldCompleteness], validity: list[RuleResult]
) -> None:
    """Append this run's results to the history tables, in one transaction."""
    now = datetime.now(UTC).replace(tzinfo=None)
    ensure_meta(con)
    con.execute("begin transaction")
    insert_rows(
        con,
        "insert into meta.dq_completeness (run_id, checked_at, source, entity, field, rows, complete_rows, "
        "completeness, target, passed, status, severity) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                run_id,
                now,
                f.source,
                f.entity,
                f.field,
                f.rows,
                f.complete_rows,
                f.completeness,
                f.target,
                f.passed,
                f.status,
                f.severity,
            ]
            for f in completeness
        ],
    )
    insert_rows(
        con,
        "insert into meta.dq_validity values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [run_id, now, v.source, v.entity, v.field, v.rule, v.checked_rows, v.failing_rows, v.mostly, v.passed]
            for v in validity
        ],
    )
    con.execute("commit")


def recorded_results(
    con: duckdb.DuckDBPyConnection, run_id: str
) -> tuple[dict[str, list[FieldCompleteness]], dict[str, list[RuleResult]]]:
    """The results `record_results` wrote for this run, per `<source>.<entity>` (the gate's checks read
    them back). An empty table measured passed only when empty tables were allowed: `passed` says it."""
    fields: dict[str, list[FieldCompleteness]] = {}
    for source, entity, field, rows, complete, target, passed, status, sev in con.execute(
        "select source, entity, field, rows, complete_rows, target, passed, status, severity "
        "from meta.dq_completeness where run_id = ? order by rowid",
        [run_id],
    ).fetchall():
        fields.setdefault(f"{source}.{entity}", []).append(
            FieldCompleteness(
                source, entity, field, rows, complete, target, status, sev, empty_allowed=bool(passed) and not rows
            )
        )
    rules: dict[str, list[RuleResult]] = {}
    for row in con.execute(
        "select source, entity, field, rule, checked_rows, failing_rows, mostly, passed "
        "from meta.dq_validity where run_id = ? order by rowid",
        [run_id],
    ).fetchall():
        rules.setdefault(f"{row[0]}.{row[1]}", []).append(RuleResult(*row))
    return fields, rules
