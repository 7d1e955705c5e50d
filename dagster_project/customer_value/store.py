"""Schema `ml`, owned by the customer value step: dbt reads these tables as sources (models/staging/ml/)
and publishes them through schema `marts`.

- ml.customer_value_model_runs: one row per fit, kept (every figure traces to its fit by model_run_id).
- ml.customer_value_scores: one row per customer of the newest converged forecast fit (replaced).
- ml.customer_value_holdout: predicted vs actual holdout purchases by calibration frequency of the
  newest validation fit (replaced).
"""

from __future__ import annotations

import duckdb
import pandas as pd

ML_DDL = """
create schema if not exists ml;
create table if not exists ml.customer_value_model_runs (
    model_run_id varchar primary key,
    dagster_run_id varchar,
    purpose varchar not null,              -- forecast | holdout_validation
    as_of_date date not null,
    calibration_end_date date not null,    -- last day of the history the fit saw (= as-of for a forecast)
    holdout_days integer,                  -- holdout_validation: days predicted after calibration_end_date
    fitted_at timestamp not null,          -- UTC
    inputs_fingerprint varchar not null,   -- purchase days, as-of, config and library versions
    status varchar not null,               -- converged | not_converged | not_fitted
    status_detail varchar,                 -- why not converged or not fitted
    customers integer not null,            -- customers in the BG/NBD fit
    repeat_customers integer,              -- customers in the Gamma-Gamma fit
    bgnbd_r double, bgnbd_alpha double, bgnbd_a double, bgnbd_b double,
    bgnbd_log_likelihood double,
    bgnbd_max_abs_gradient double,
    bgnbd_newton_gain double,              -- log-likelihood one more Newton step would add (convergence)
    bgnbd_fit_seconds double,
    gg_p double, gg_q double, gg_v double,
    gg_log_likelihood double,
    gg_max_abs_gradient double,
    gg_newton_gain double,
    gg_fit_seconds double,
    gg_population_mean double,             -- value of a purchase day for customers without own spend history
    gg_population_mean_source varchar,     -- gamma_gamma (p v / (q - 1)) | observed_repeat_buyers (q <= 1)
    scoring_seconds double,
    annual_discount_rate double,
    lifetime_horizon_months integer,
    holdout_actual_repeat_purchases double,
    holdout_predicted_repeat_purchases double,
    holdout_relative_error double,
    holdout_max_abs_relative_error double, -- the threshold of the holdout check
    time_unit varchar not null,            -- day
    fit_method varchar not null,           -- map (flat priors)
    pymc_marketing_version varchar not null,
    pymc_version varchar not null,
    pytensor_version varchar not null
);
create table if not exists ml.customer_value_scores (
    account_id varchar primary key,
    model_run_id varchar not null,
    as_of_date date not null,
    repeat_purchases integer not null,
    recency_days integer not null,
    age_days integer not null,
    mean_repeat_purchase_value double not null,
    probability_alive double not null,
    expected_purchases_90d double not null,
    expected_purchases_365d double not null,
    probability_no_purchase_365d double not null,
    expected_purchase_value double not null,
    is_spend_from_own_history boolean not null,
    predicted_clv_12m double not null,
    predicted_clv_if_alive_12m double,
    predicted_lifetime_value double not null
);
create table if not exists ml.customer_value_holdout (
    model_run_id varchar not null,
    calibration_frequency integer not null,
    frequency_label varchar not null,
    customers integer not null,
    actual_repeat_purchases double not null,
    predicted_repeat_purchases double not null,
    actual_per_customer double not null,
    predicted_per_customer double not null,
    primary key (model_run_id, calibration_frequency)
);
"""

SCORE_COLUMNS = [
    "account_id",
    "model_run_id",
    "as_of_date",
    "repeat_purchases",
    "recency_days",
    "age_days",
    "mean_repeat_purchase_value",
    "probability_alive",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "probability_no_purchase_365d",
    "expected_purchase_value",
    "is_spend_from_own_history",
    "predicted_clv_12m",
    "predicted_clv_if_alive_12m",
    "predicted_lifetime_value",
]
HOLDOUT_COLUMNS = [
    "model_run_id",
    "calibration_frequency",
    "frequency_label",
    "customers",
    "actual_repeat_purchases",
    "predicted_repeat_purchases",
    "actual_per_customer",
    "predicted_per_customer",
]


def ensure_ml_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, and add the columns a newer version of this DDL has to tables an older one made
    (the model-run history is kept across upgrades)."""
    con.execute(ML_DDL)
    con.execute("drop schema if exists ml_expected cascade")
    con.execute(
        ML_DDL.replace("create schema if not exists ml;", "create schema ml_expected;").replace(" ml.", " ml_expected.")
    )
    try:
        expected = con.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'ml_expected' order by table_name, ordinal_position"
        ).fetchall()
        present = {
            (t, c)
            for t, c in con.execute(
                "select table_name, column_name from information_schema.columns where table_schema = 'ml'"
            ).fetchall()
        }
        for table, column, data_type in expected:
            if (table, column) not in present:
                con.execute(f"alter table ml.{table} add column {column} {data_type}")
    finally:
        con.execute("drop schema if exists ml_expected cascade")


def record_model_run(con: duckdb.DuckDBPyConnection, run: dict) -> None:
    columns = [r[0] for r in con.execute("describe ml.customer_value_model_runs").fetchall()]
    unknown = set(run) - set(columns)
    if unknown:
        raise ValueError(f"ml.customer_value_model_runs has no column {sorted(unknown)}")
    names = [c for c in columns if c in run]
    con.execute(
        f"insert into ml.customer_value_model_runs ({', '.join(names)}) values ({', '.join('?' * len(names))})",
        [run[c] for c in names],
    )


def _replace(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns: list[str]) -> None:
    view = f"_new_{table.split('.')[-1]}"
    con.register(view, frame[columns])
    try:
        con.execute(f"delete from {table}")
        con.execute(f"insert into {table} ({', '.join(columns)}) select {', '.join(columns)} from {view}")
    finally:
        con.unregister(view)


def replace_scores(con: duckdb.DuckDBPyConnection, scores: pd.DataFrame) -> None:
    _replace(con, "ml.customer_value_scores", scores, SCORE_COLUMNS)


def replace_holdout(con: duckdb.DuckDBPyConnection, table: pd.DataFrame) -> None:
    _replace(con, "ml.customer_value_holdout", table, HOLDOUT_COLUMNS)


def latest_run(con: duckdb.DuckDBPyConnection, purpose: str) -> dict | None:
    """The newest model run of a purpose, as a dict of its columns."""
    cursor = con.execute(
        "select * from ml.customer_value_model_runs where purpose = ? order by fitted_at desc limit 1", [purpose]
    )
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cursor.description]
    cursor.fetchall()
    return dict(zip(names, row, strict=True))


def empty_scores() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in SCORE_COLUMNS})


def empty_holdout() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in HOLDOUT_COLUMNS})
