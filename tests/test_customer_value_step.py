"""The customer value step on a small synthetic company: Dagster materialization, the ml tables, the checks,
reuse of an unchanged fit, and the holdout table by calibration frequency."""

from __future__ import annotations

import os
from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dagster_project.customer_value.config import customer_value_config
from dagster_project.customer_value.validation import frequency_buckets, validate_on_holdout
from dagster_project.warehouse import connect

AS_OF = date(2025, 12, 31)


def synthetic_orders(customers: int = 80, seed: int = 3) -> pd.DataFrame:
    """Customers who start over two years, buy at their own rate (Poisson) and, after each repeat
    purchase, stop with their own probability (Beta): BG/NBD's story. Stopping at a random time instead
    (as this did before) leaves the spread of the stopping probabilities unidentified: the likelihood
    is flat as a and b grow together, and where the fit stopped on that ridge, converged or not,
    differed by machine (it did not converge on the machine of 2026-12-07 evening; DECISIONLOG)."""
    rng = np.random.default_rng(seed)
    start = date(2024, 1, 1)
    rows = []
    for c in range(customers):
        first = start + timedelta(days=int(rng.integers(0, 500)))
        rate = rng.gamma(2.0, 1 / 40)  # purchases per day
        stop_after_a_purchase = rng.beta(1.0, 3.0)
        day, n = first, 0
        while day <= AS_OF:
            rows.append(
                {
                    "order_id": f"O{c}-{n}",
                    "account_id": f"C{c:03d}",
                    "order_date": day,
                    "net_revenue": round(float(rng.gamma(3.0, 1000.0 * (1 + c % 5))), 2),
                }
            )
            n += 1
            if n > 1 and rng.random() < stop_after_a_purchase:  # a customer with no repeat is alive
                break
            day += timedelta(days=max(1, int(rng.exponential(1 / rate))))
    return pd.DataFrame(rows)


def build_order_facts(con, orders: pd.DataFrame) -> None:
    """The two dbt tables the step reads, as dbt would leave them."""
    con.execute("create schema if not exists intermediate")
    con.register("orders_frame", orders)
    con.execute("create or replace table intermediate.int_orders_aggregated_from_lines as select * from orders_frame")
    con.unregister("orders_frame")
    con.execute(f"create or replace table intermediate.int_as_of_date as select date '{AS_OF}' as as_of_date")


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse" / "warehouse.duckdb"
    con = connect(path)
    build_order_facts(con, synthetic_orders())
    con.close()
    return path


def materialize_model(warehouse) -> dg.ExecuteInProcessResult:
    from dagster_project.defs.customer_value.assets import customer_value_model
    from dagster_project.resources import WarehouseResource

    resource = WarehouseResource(
        path=str(warehouse), raw_dir=str(warehouse.parent), bi_dir=str(warehouse.parent / "bi")
    )
    return dg.materialize(
        [customer_value_model], resources={"warehouse": resource}, instance=dg.DagsterInstance.ephemeral()
    )


def test_the_asset_fits_scores_validates_and_reuses_an_unchanged_fit(warehouse) -> None:
    result = materialize_model(warehouse)
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["model_converged"].passed and checks["model_fitted"].passed
    assert "holdout of 180 days after 2025-07-04" in checks["holdout_accuracy"].description  # 2025-12-31 - 180

    con = connect(warehouse, read_only=True)
    customers = con.execute(
        "select count(distinct account_id) from intermediate.int_orders_aggregated_from_lines"
    ).fetchall()[0][0]
    runs = con.execute(
        "select purpose, status, customers, as_of_date, bgnbd_r > 0, pymc_marketing_version "
        "from ml.customer_value_model_runs order by purpose"
    ).fetchall()
    assert runs[0][:4] == ("forecast", "converged", customers, AS_OF)
    assert runs[0][5] == "0.19.2" and runs[1][:2] == ("holdout_validation", "converged")
    scored = con.execute(
        "select count(*), bool_and(probability_alive between 0 and 1), "
        "bool_and(expected_purchases_365d >= expected_purchases_90d), bool_and(predicted_clv_12m >= 0) "
        "from ml.customer_value_scores"
    ).fetchall()[0]
    assert scored == (customers, True, True, True)
    # first customer's inputs, recomputed from the orders: purchase days - 1, last - first, as-of - first
    first = con.execute("""
        select count(distinct order_date) - 1, max(order_date) - min(order_date), date '2025-12-31' - min(order_date)
        from intermediate.int_orders_aggregated_from_lines where account_id = 'C000'
    """).fetchall()[0]
    assert (
        con.execute(
            "select repeat_purchases, recency_days, age_days from ml.customer_value_scores where account_id = 'C000'"
        ).fetchall()[0]
        == first
    )
    # the holdout's actual purchases, counted here from the orders: purchase days after 2025-07-04 of the
    # customers who had bought by then
    counted = con.execute("""
        with firsts as (
            select account_id, min(order_date) as first_date
            from intermediate.int_orders_aggregated_from_lines group by account_id
        )
        select count(*), count(distinct o.account_id) from (
            select distinct account_id, order_date from intermediate.int_orders_aggregated_from_lines
        ) as o inner join firsts using (account_id)
        where firsts.first_date <= date '2025-07-04' and o.order_date > date '2025-07-04'
    """).fetchall()[0]
    customers_by_then = con.execute(
        "select count(distinct account_id) from intermediate.int_orders_aggregated_from_lines "
        "where order_date <= date '2025-07-04'"
    ).fetchall()[0][0]
    holdout = con.execute(
        "select sum(customers), sum(actual_repeat_purchases) from ml.customer_value_holdout"
    ).fetchall()[0]
    con.close()
    assert holdout == (customers_by_then, counted[0])

    again = materialize_model(warehouse)  # same purchases, as-of, config and libraries: no new fit
    assert again.success
    con = connect(warehouse, read_only=True)
    assert con.execute("select count(*) from ml.customer_value_model_runs").fetchall()[0][0] == 2
    con.close()
    materialization = again.get_asset_materialization_events()[0].materialization
    assert materialization.metadata["reused_fit"].value is True


def test_too_few_customers_is_said_and_leaves_no_stale_scores(tmp_path) -> None:
    from dagster_project.customer_value.pipeline import run_customer_value

    con = connect(tmp_path / "w.duckdb")
    build_order_facts(con, synthetic_orders(customers=12))
    outcome = run_customer_value(con)
    assert outcome.forecast["status"] == "not_fitted"
    assert outcome.forecast["status_detail"] == "12 customers, fewer than 30"
    assert outcome.validation["status"] == "not_fitted" and not outcome.problems
    assert con.execute("select count(*) from ml.customer_value_scores").fetchall()[0][0] == 0
    con.close()


def test_no_order_at_all_is_zero_customers_not_a_crash(tmp_path) -> None:
    """A company whose ERP is not delivered has no order: the model says it has no customer (found by
    a trial on a CRM-only deployment, where pymc-marketing's rfm_summary raised on the empty frame)."""
    from dagster_project.customer_value.pipeline import run_customer_value

    con = connect(tmp_path / "w.duckdb")
    build_order_facts(con, synthetic_orders().iloc[0:0])
    outcome = run_customer_value(con)
    assert outcome.forecast["status"] == "not_fitted"
    assert outcome.forecast["status_detail"] == "0 customers, fewer than 30"
    assert outcome.forecast["customers"] == 0 and outcome.forecast["repeat_customers"] == 0
    assert outcome.validation["status"] == "not_fitted"
    assert con.execute("select count(*) from ml.customer_value_scores").fetchall()[0][0] == 0
    con.close()


def test_a_history_where_no_customer_stops_says_which_parameter_runs_off(tmp_path) -> None:
    """Every customer buys every 20-40 days up to the as-of date: BG/NBD's dropout has no finite
    estimate, so there is no maximum where the fit stops. The reason names the fitted values instead
    of "one more Newton step would add inf" (found by a trial on a retail export where customers never
    stopped). Which parameter runs off, and where to, follows the optimiser's floating-point path:
    `a` below 1e-3 on the machine this test was written on, to ~1e149 (with `alpha` ~3e7) on another."""
    from dagster_project.customer_value.pipeline import run_customer_value

    rng = np.random.default_rng(3)
    rows = []
    for c in range(80):
        day, n = date(2024, 1, 1) + timedelta(days=int(rng.integers(0, 500))), 0
        while day <= AS_OF:
            spend = float(rng.uniform(500, 2000))  # spend varies, so the spend model has a maximum
            rows.append({"order_id": f"O{c}-{n}", "account_id": f"C{c:03d}", "order_date": day, "net_revenue": spend})
            day, n = day + timedelta(days=int(rng.integers(20, 41))), n + 1
    con = connect(tmp_path / "w.duckdb")
    build_order_facts(con, pd.DataFrame(rows))
    outcome = run_customer_value(con)
    con.close()
    assert outcome.forecast["status"] == "not_converged"
    detail = outcome.forecast["status_detail"]
    assert detail.startswith("bg_nbd stopped away from an optimum: the log-likelihood has no maximum there")
    assert "would add inf" not in detail
    params = {name: outcome.forecast[f"bgnbd_{name}"] for name in ("r", "alpha", "a", "b")}
    assert all(f"{name} = {value:.3g}" in detail for name, value in params.items())  # the values are named
    assert any(value < 1e-3 or value > 1e6 for value in params.values())  # and one of them ran off


def test_a_fit_that_did_not_converge_fails_the_blocking_check(tmp_path) -> None:
    from dagster_project.customer_value.pipeline import run_customer_value
    from dagster_project.defs.customer_value.assets import _checks, customer_value_model

    con = connect(tmp_path / "w.duckdb")
    build_order_facts(con, synthetic_orders())
    config = customer_value_config()
    outcome = run_customer_value(con, config={**config, "fit": {**config["fit"], "maxeval": 3}})
    assert outcome.forecast["status"] == "not_converged"
    assert con.execute("select count(*) from ml.customer_value_scores").fetchall()[0][0] == 0  # nothing scored
    con.close()
    converged = next(c for c in _checks(outcome) if c.check_name == "model_converged")
    assert not converged.passed and converged.severity == dg.AssetCheckSeverity.ERROR
    assert "stopped away from an optimum" in converged.description
    spec = next(s for s in customer_value_model.check_specs if s.name == "model_converged")
    assert spec.blocking


def test_holdout_buckets_by_hand() -> None:
    # frequencies 0, 0, 1, 3, 9 with max bucket 3: rows 0 (2 customers), 1 (1), 3+ (2: frequencies 3 and 9)
    table = frequency_buckets(
        np.array([0, 0, 1, 3, 9]), np.array([0.0, 1, 1, 2, 5]), np.array([0.5, 0.5, 1.5, 2, 4]), max_bucket=3
    )
    assert table[["frequency_label", "customers", "actual_repeat_purchases", "predicted_repeat_purchases"]].to_dict(
        "records"
    ) == [
        {"frequency_label": "0", "customers": 2, "actual_repeat_purchases": 1.0, "predicted_repeat_purchases": 1.0},
        {"frequency_label": "1", "customers": 1, "actual_repeat_purchases": 1.0, "predicted_repeat_purchases": 1.5},
        {"frequency_label": "3+", "customers": 2, "actual_repeat_purchases": 7.0, "predicted_repeat_purchases": 6.0},
    ]
    assert table["predicted_per_customer"].tolist() == [0.5, 1.5, 3.0]


def test_holdout_on_too_little_history_says_why() -> None:
    # Calibration to 2025-07-04 (as-of - 180 days). Two customers bought by then (C first buys in the
    # holdout): fewer than min_customers, so no validation; with min_customers 2 the fit is tried, but two
    # customers cannot pin down four parameters (no maximum): not converged, and said so.
    purchases = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "A", "B", "C"],
            "purchase_date": pd.to_datetime(
                ["2025-01-01", "2025-03-01", "2025-08-01", "2025-09-01", "2025-02-01", "2025-10-01"]
            ),
            "purchase_value": [1.0] * 6,
        }
    )
    config = customer_value_config()
    small = {**config, "fit": {**config["fit"], "min_customers": 2}}
    result = validate_on_holdout(purchases, AS_OF, small)
    assert result.calibration_end == date(2025, 7, 4)
    assert result.fit.customers == 2 and not result.fit.converged
    assert result.not_validated_reason.startswith("bg_nbd stopped away from an optimum")
    assert result.by_frequency.empty and result.relative_error is None
    too_few = validate_on_holdout(purchases, AS_OF, config)
    assert too_few.not_validated_reason == "2 customers bought by 2025-07-04 (as-of - 180 days), fewer than 30"


def test_the_model_sits_between_the_order_facts_and_the_customer_value_marts() -> None:
    from dagster._core.execution.api import create_execution_plan

    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    scores = dg.AssetKey(["ml", "customer_value_scores"])
    assert dg.AssetKey(["intermediate", "int_orders_aggregated_from_lines"]) in graph.get(scores).parent_keys
    assert scores in graph.get(dg.AssetKey(["staging", "stg_ml__customer_value_scores"])).parent_keys
    snapshot_parents = graph.get(dg.AssetKey(["bi", "marts_snapshot"])).parent_keys
    for mart in ("customer_value", "customer_health", "customer_value_validation", "ltv_cac_by_channel", "alerts"):
        assert dg.AssetKey(["marts", mart]) in snapshot_parents, mart
    # the job runs dbt twice, the model in between
    steps = [
        s.key
        for s in create_execution_plan(defs.resolve_job_def("refresh_warehouse")).get_steps_to_execute_in_topo_order()
    ]
    assert steps.index("dbt_models") < steps.index("customer_value_model") < steps.index("dbt_models_after_python")
    assert [s for s in steps if s.startswith("dbt")] == ["dbt_models", "dbt_models_after_python"]


def test_the_compile_cache_is_per_user_and_beside_the_warehouse_without_a_cache_folder(tmp_path, monkeypatch) -> None:
    from dagster_project.defs.customer_value.assets import compile_dir
    from dagster_project.resources import WarehouseResource

    warehouse = WarehouseResource(path=str(tmp_path / "wh" / "warehouse.duckdb"), raw_dir="raw", bi_dir="bi")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert compile_dir(warehouse) == tmp_path / "cache" / "s2s-warehouse" / "pytensor"
    assert (tmp_path / "cache" / "s2s-warehouse" / "pytensor").is_dir()
    (tmp_path / "not_a_folder").write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "not_a_folder"))
    assert compile_dir(warehouse) == tmp_path / "wh" / "pytensor"


def test_pytensor_flags_naming_a_compile_folder_win(tmp_path, monkeypatch) -> None:
    from dagster_project.customer_value.models import use_compile_dir

    monkeypatch.setenv("PYTENSOR_FLAGS", "floatX=float64")
    use_compile_dir(tmp_path / "pytensor")
    assert (tmp_path / "pytensor").is_dir()
    assert f"floatX=float64,base_compiledir={tmp_path / 'pytensor'}" == os.environ["PYTENSOR_FLAGS"]
    monkeypatch.setenv("PYTENSOR_FLAGS", "compiledir=/srv/cache")
    use_compile_dir(tmp_path / "other")
    assert os.environ["PYTENSOR_FLAGS"] == "compiledir=/srv/cache"
    assert not (tmp_path / "other").exists()


def test_an_older_model_run_table_gains_the_new_columns(tmp_path) -> None:
    """A deployment upgraded from a version whose ml.customer_value_model_runs lacked a column keeps its
    history and gets the column (null for the old rows)."""
    from dagster_project.customer_value.store import ensure_ml_tables

    con = connect(tmp_path / "w.duckdb")
    con.execute("create schema ml")
    con.execute("create table ml.customer_value_model_runs (model_run_id varchar primary key, purpose varchar)")
    con.execute("insert into ml.customer_value_model_runs values ('forecast-old', 'forecast')")
    ensure_ml_tables(con)
    columns = [r[0] for r in con.execute("describe ml.customer_value_model_runs").fetchall()]
    assert {"bgnbd_newton_gain", "gg_population_mean_source", "pytensor_version"} <= set(columns)
    assert con.execute("select model_run_id, bgnbd_newton_gain from ml.customer_value_model_runs").fetchall() == [
        ("forecast-old", None)
    ]
    assert not con.execute("select * from information_schema.schemata where schema_name = 'ml_expected'").fetchall()
    con.close()
