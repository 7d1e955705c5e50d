"""Completeness and validity of the loaded tables, validated with Great Expectations.

GX's SQL datasource does not work on DuckDB here, so each entity's needed columns are read into a
pandas frame and validated there. Critical columns travel as 1.0/NaN float32 indicators (their
values do not matter for completeness), which keeps a 15-million-row entity to ~200 MB.
Results are appended to `marts.dq_completeness` (history across runs) and rendered as Data Docs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.contracts import Contract
from dagster_project.quality.config import quality_config
from dagster_project.warehouse import insert_rows, quote

log = logging.getLogger(__name__)
_COUNTS_ONLY = {"result_format": "SUMMARY", "partial_unexpected_count": 0}

DQ_COMPLETENESS_DDL = """
create schema if not exists marts;
create table if not exists marts.dq_completeness (
    run_id varchar not null,
    checked_at timestamp not null,
    source varchar not null,
    entity varchar not null,
    field varchar not null,
    rows bigint not null,
    complete_rows bigint not null,
    completeness double,            -- complete_rows / rows; null for an empty table
    target double not null,
    passed boolean not null
);
create table if not exists marts.dq_validity (
    run_id varchar not null,
    checked_at timestamp not null,
    source varchar not null,
    entity varchar not null,
    field varchar not null,
    rule varchar not null,
    checked_rows bigint not null,   -- non-empty values
    failing_rows bigint not null,
    mostly double not null,
    passed boolean not null
);
"""


@dataclass(frozen=True)
class FieldCompleteness:
    source: str
    entity: str
    field: str
    rows: int
    complete_rows: int
    target: float
    empty_allowed: bool = False  # an empty table passes: the entity is delivered empty, or declared not delivered

    @property
    def completeness(self) -> float | None:
        return self.complete_rows / self.rows if self.rows else None

    @property
    def passed(self) -> bool:
        return self.complete_rows / self.rows >= self.target if self.rows else self.empty_allowed

    def shortfall(self) -> str:
        if not self.rows:
            return f"{self.source}.{self.entity}: no rows, and no drop of it is loaded (not delivered)"
        return (
            f"{self.source}.{self.entity}.{self.field}: {self.completeness:.1%} complete, target {self.target:.0%} "
            f"({(self.target - (self.completeness or 0)) * 100:.1f} points short; "
            f"{self.rows - self.complete_rows} of {self.rows} rows empty)"
        )


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


def _frame(con: duckdb.DuckDBPyConnection, contract: Contract, rules: list[dict]):
    """Indicator columns for critical fields, real values for the fields that value rules read."""
    selects = []
    for column in contract.critical_columns:
        indicator = f"case when {quote(column.name)} is null then null else 1.0::float end"  # float32
        selects.append(f"{indicator} as {quote('c__' + column.name)}")
    for rule in rules:
        name = quote(rule["column"])
        cast = "" if "regex" in rule else "::double"
        selects.append(f"{name}{cast} as {quote('v__' + rule['column'])}")
    if not selects:
        return None
    return con.execute(f"select {', '.join(selects)} from {contract.table}").df()


class ExpectationRunner:
    """One GX file context under the warehouse folder; one suite per entity."""

    def __init__(self, gx_root: Path):
        import great_expectations as gx

        self.gx = gx
        gx_root.mkdir(parents=True, exist_ok=True)
        self.context = gx.get_context(mode="file", project_root_dir=str(gx_root))
        self.datasource = self.context.data_sources.add_or_update_pandas("warehouse")

    def validate(self, con: duckdb.DuckDBPyConnection, contract: Contract, empty_allowed: bool = False):
        """Run the entity's suite; returns (field completeness list, value rule results). An empty
        table passes completeness only when `empty_allowed` (see quality/delivery.py)."""
        gx = self.gx
        rules = quality_config()["validity"].get(contract.name, [])
        frame = _frame(con, contract, rules)
        if frame is None:
            return [], []
        suite = gx.ExpectationSuite(name=contract.name)
        for column in contract.critical_columns:
            suite.add_expectation(
                gx.expectations.ExpectColumnValuesToNotBeNull(
                    column="c__" + column.name, mostly=contract.target_for(column)
                )
            )
        for rule in rules:
            column, mostly = "v__" + rule["column"], float(rule.get("mostly", 1.0))
            if "regex" in rule:
                expectation = gx.expectations.ExpectColumnValuesToMatchRegex(
                    column=column, regex=rule["regex"], mostly=mostly
                )
            else:
                expectation = gx.expectations.ExpectColumnValuesToBeBetween(
                    column=column, min_value=rule.get("min"), max_value=rule.get("max"), mostly=mostly
                )
            suite.add_expectation(expectation)
        suite = self.context.suites.add_or_update(suite)
        try:
            batch = self.datasource.get_asset(contract.name).get_batch_definition("whole_table")
        except (LookupError, KeyError):
            asset = self.datasource.add_dataframe_asset(name=contract.name)
            batch = asset.add_batch_definition_whole_dataframe("whole_table")
        definition = self.context.validation_definitions.add_or_update(
            gx.ValidationDefinition(data=batch, suite=suite, name=contract.name)
        )
        # Results and Data Docs live outside the warehouse: counts only, never the values that failed
        # (GX lists up to 20 by default, raw emails and phones among them, even for passing checks).
        result = definition.run(batch_parameters={"dataframe": frame}, result_format=_COUNTS_ONLY)

        completeness, validity = [], []
        by_column = {r.expectation_config.kwargs["column"]: r for r in result.results}
        rows = len(frame)
        for column in contract.critical_columns:
            r = by_column["c__" + column.name]
            completeness.append(
                FieldCompleteness(
                    source=contract.source,
                    entity=contract.entity,
                    field=column.name,
                    rows=rows,
                    complete_rows=rows - int(r.result.get("unexpected_count") or 0),
                    target=contract.target_for(column),
                    empty_allowed=empty_allowed,
                )
            )
        for rule in rules:
            r = by_column["v__" + rule["column"]]
            checked = int(r.result.get("element_count") or 0) - int(r.result.get("missing_count") or 0)
            validity.append(
                RuleResult(
                    source=contract.source,
                    entity=contract.entity,
                    field=rule["column"],
                    rule=_rule_text(rule),
                    checked_rows=checked,
                    failing_rows=int(r.result.get("unexpected_count") or 0),
                    mostly=float(rule.get("mostly", 1.0)),
                    passed=bool(r.success),
                )
            )
        return completeness, validity

    def build_docs(self) -> Path | None:
        self.context.build_data_docs()
        index = Path(self.context.root_directory) / "uncommitted" / "data_docs" / "local_site" / "index.html"
        return index if index.exists() else None


def record_results(
    con: duckdb.DuckDBPyConnection, run_id: str, completeness: list[FieldCompleteness], validity: list[RuleResult]
) -> None:
    """Append this run's results to the history tables, in one transaction."""
    now = datetime.now(UTC).replace(tzinfo=None)
    con.execute(DQ_COMPLETENESS_DDL)
    con.execute("begin transaction")
    insert_rows(
        con,
        "insert into marts.dq_completeness values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [run_id, now, f.source, f.entity, f.field, f.rows, f.complete_rows, f.completeness, f.target, f.passed]
            for f in completeness
        ],
    )
    insert_rows(
        con,
        "insert into marts.dq_validity values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [run_id, now, v.source, v.entity, v.field, v.rule, v.checked_rows, v.failing_rows, v.mostly, v.passed]
            for v in validity
        ],
    )
    con.execute("commit")
