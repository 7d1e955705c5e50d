"""The targets contract accepts exactly the metric codes the marts read, and quarantines any other
code with the allowed list in the reason (instead of a target silently dropped by the marts); a
target may name a sales rep (rep_id, * when absent), beside the region's target of the period."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.warehouse import ensure_raw_table

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


# the columns every targets file has delivered so far (rep_id came later, and is optional)
TARGET_COLUMNS = ["period", "region", "product_line", "metric", "target_value"]


def test_an_unknown_metric_is_quarantined_with_the_allowed_codes(con, raw_dir) -> None:
    header = TARGET_COLUMNS
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


def test_a_rep_target_loads_beside_the_region_target_of_the_period(con, raw_dir) -> None:
    write_drop(
        raw_dir,
        "strategy.targets",
        "targets_2025-01-31.csv",
        csv_text(
            [*TARGET_COLUMNS, "rep_id"],
            [
                ["2025", "华东", "*", "net_revenue", "1000", ""],
                ["2025", "华东", "*", "net_revenue", "400", "R1"],
                ["2025-Q1", "华东", "*", "net_revenue", "90", "R1"],
            ],
        ),
    )
    result = load_entity(con, load_contracts()["strategy.targets"], raw_dir)
    assert (result.total("rows_loaded"), result.total("rows_quarantined")) == (3, 0)
    assert con.execute("select period, rep_id, target_value from raw_strategy.targets order by 1, 2").fetchall() == [
        ("2025", "*", 1000.0),
        ("2025", "R1", 400.0),
        ("2025-Q1", "R1", 90.0),
    ]


def test_a_file_without_rep_id_and_with_an_unknown_column_loads_as_before(con, raw_dir) -> None:
    write_drop(
        raw_dir,
        "strategy.targets",
        "targets_2025-01-31.csv",
        csv_text([*TARGET_COLUMNS, "owner"], [["2025", "*", "*", "net_revenue", "1200", "cfo"]]),
    )
    # re-delivered a month later: the same key (rep_id * both times) is replaced, not added
    write_drop(
        raw_dir,
        "strategy.targets",
        "targets_2025-02-28.csv",
        csv_text([*TARGET_COLUMNS, "owner"], [["2025", "*", "*", "net_revenue", "1300", "cfo"]]),
    )
    result = load_entity(con, load_contracts()["strategy.targets"], raw_dir)
    assert result.total("rows_quarantined") == 0
    assert con.execute("select rep_id, target_value, owner from raw_strategy.targets").fetchall() == [
        ("*", 1300.0, "cfo")
    ]


def test_rows_loaded_before_rep_id_existed_take_the_star(con) -> None:
    con.execute("create schema raw_strategy")
    con.execute("create table raw_strategy.targets (period varchar, region varchar, target_value double)")
    con.execute("insert into raw_strategy.targets values ('2025', '*', 1200)")
    ensure_raw_table(con, load_contracts()["strategy.targets"])
    assert con.execute("select rep_id from raw_strategy.targets").fetchall() == [("*",)]
