"""The targets contract accepts exactly the metric codes the marts read, and quarantines any other
code with the allowed list in the reason (instead of a target silently dropped by the marts)."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"


def codes_the_marts_read() -> set[str]:
    """The balanced scorecard's KPI codes (every one takes a strategy target) and the revenue metric
    of target_attainment, read from the dbt project itself."""
    with (DBT_DIR / "seeds" / "scorecard_kpis.csv").open(encoding="utf-8") as f:
        kpis = {row["kpi_code"] for row in csv.DictReader(f)}
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    return kpis | {project["vars"]["target_revenue_metric"]}


def test_allowed_metrics_are_the_codes_the_marts_read() -> None:
    allowed = load_contracts()["strategy.targets"].column("metric").allowed_values
    assert allowed is not None
    assert set(allowed) == codes_the_marts_read()
    assert len(allowed) == len(set(allowed))
    # a few by name, so a rename on either side shows here
    assert {"net_revenue", "new_customers", "win_rate", "crm_completeness_pct"} <= set(allowed)


def test_an_unknown_metric_is_quarantined_with_the_allowed_codes(con, raw_dir) -> None:
    header = list(load_contracts()["strategy.targets"].column_names)
    write_drop(
        raw_dir,
        "strategy.targets",
        "targets_2025-01-31.csv",
        csv_text(
            header,
            [
                ["2025", "*", "*", "net_revenue", "1200000"],
                ["2025", "*", "*", "revenue", "1200000"],
                ["2025-Q1", "*", "*", "new_customers", "30"],
            ],
        ),
    )
    result = load_entity(con, load_contracts()["strategy.targets"], raw_dir)
    assert (result.total("rows_loaded"), result.total("rows_quarantined")) == (2, 1)
    line, column, value, reason = con.execute(
        "select line, column_name, value, reason from meta.quarantine"
    ).fetchall()[0]
    assert (line, column, value) == (3, "metric", "revenue")
    assert "not one of net_revenue, revenue_growth_yoy" in reason
    assert "effective_touches_per_rep_day" in reason
    assert con.execute("select metric from raw_strategy.targets order by 1").fetchall() == [
        ("net_revenue",),
        ("new_customers",),
    ]
