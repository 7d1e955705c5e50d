"""dagster_project/resources.py: a run keeps the warehouse open between its steps, and lets go of it
for dbt's process and when it ends, failed or not. Real Dagster runs (`dg.materialize`) on a real
DuckDB file; whether the file is free is asked of another process, as dbt's would."""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from dagster_project.resources import WarehouseResource

OPENS = "import duckdb, sys; duckdb.connect(sys.argv[1]).close()"


def opens_elsewhere(path) -> bool:
    """Whether another process can open the file for writing now (DuckDB: one writing process)."""
    return subprocess.run([sys.executable, "-c", OPENS, str(path)], capture_output=True).returncode == 0


def run_steps(tmp_path, fail_in_last: bool = False) -> tuple[dg.ExecuteInProcessResult, dict]:
    path = tmp_path / "warehouse.duckdb"
    seen: dict[str, bool] = {}

    @dg.asset
    def first(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as con:
            con.execute("create table t as select 1 as a")
        seen["held between steps"] = not opens_elsewhere(path)

    @dg.asset(deps=[first])
    def second(warehouse: WarehouseResource) -> None:
        with warehouse.connect() as con:
            seen["rows written by the step before"] = con.execute("select count(*) from t").fetchone()[0] == 1
            con.execute("insert into t values (2)")
        warehouse.release()  # what the dbt step does before dbt opens the file
        seen["free after release"] = opens_elsewhere(path)
        with warehouse.connect() as con:
            seen["open again after release"] = con.execute("select count(*) from t").fetchone()[0] == 2
        if fail_in_last:
            raise RuntimeError("the step fails")

    resource = WarehouseResource(path=str(path), raw_dir=str(tmp_path), bi_dir=str(tmp_path / "bi"))
    result = dg.materialize([first, second], resources={"warehouse": resource}, raise_on_error=False)
    return result, seen


@pytest.mark.parametrize("fail_in_last", [False, True], ids=["run succeeds", "run fails"])
def test_a_run_keeps_the_warehouse_open_between_steps_and_lets_go_for_dbt_and_at_its_end(tmp_path, fail_in_last):
    result, seen = run_steps(tmp_path, fail_in_last)
    assert result.success is not fail_in_last
    assert seen == {
        "held between steps": True,
        "rows written by the step before": True,
        "free after release": True,
        "open again after release": True,
    }
    assert opens_elsewhere(tmp_path / "warehouse.duckdb")  # the run's end closed it, failed or not


def test_outside_a_run_each_connection_opens_and_closes_the_file(tmp_path):
    """A resource used without Dagster's run (a script, a test) keeps nothing open."""
    path = tmp_path / "warehouse.duckdb"
    resource = WarehouseResource(path=str(path), raw_dir=str(tmp_path), bi_dir=str(tmp_path / "bi"))
    with resource.connect() as con:
        con.execute("create table t as select 1 as a")
    assert opens_elsewhere(path)
