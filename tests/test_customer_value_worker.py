"""The customer value model in a worker process beside the dbt build (dagster_project/customer_value/
worker.py): the worker fits what the step would fit itself, its fits are stored only for the inputs
they were made on, stored fits of the same inputs are reused without a fit, and a failing worker
fails the step, naming its log."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
from test_customer_value_step import AS_OF, build_order_facts, synthetic_orders

from dagster_project.customer_value import history, worker
from dagster_project.customer_value.config import customer_value_config
from dagster_project.customer_value.pipeline import fit, inputs_fingerprint, reusable_fingerprint, run_customer_value
from dagster_project.defs.customer_value.assets import _STARTED, compile_dir, start_fitting
from dagster_project.resources import WarehouseResource
from dagster_project.warehouse import WORKER_NICENESS, connect, literal
from dagster_project.worker_process import LOG_FILE

PARAMETERS = ("bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gg_p", "gg_q", "gg_v")


@pytest.fixture
def resource(tmp_path) -> WarehouseResource:
    path = tmp_path / "warehouse" / "warehouse.duckdb"
    con = connect(path)
    build_order_facts(con, synthetic_orders())
    con.close()
    return WarehouseResource(path=str(path), raw_dir=str(path.parent), bi_dir=str(path.parent / "bi"))


def _export(con, target: Path) -> None:
    """What dbt's post-hook (dbt/macros/export_for_python_steps.sql) leaves in the invocation folder."""
    target.mkdir(parents=True, exist_ok=True)
    for table in worker.INPUTS:
        con.execute(f"copy (select * from {table}) to {literal(str(worker.exported_file(target, table)))}")


def _start(resource: WarehouseResource, tmp_path: Path, reusable: str | None = None) -> worker.Fitting:
    return worker.start(tmp_path / "cv_worker", compile_dir(resource), reusable, "run-1")


def test_the_worker_fits_what_the_step_would_and_the_step_stores_those_fits(resource, tmp_path) -> None:
    con = connect(Path(resource.path))
    _export(con, tmp_path / "target")
    fitting = _start(resource, tmp_path)
    fitting.inputs_ready(tmp_path / "target")
    outcome = run_customer_value(con, dagster_run_id="run-1", fitted=fitting.fits_for)
    assert not fitting.folder.exists()  # collected, and its folder removed

    # the same fits, made here on the warehouse's own tables
    config = customer_value_config()
    here = fit(history.purchase_days(con), AS_OF, config, inputs_fingerprint(con, AS_OF, config), None)
    assert outcome.forecast["status"] == here.forecast["status"] == "converged"
    for name in PARAMETERS:
        assert outcome.forecast[name] == pytest.approx(here.forecast[name], rel=1e-9), name
    assert outcome.validation["bgnbd_r"] == pytest.approx(here.validation["bgnbd_r"], rel=1e-9)
    # what the worker fitted is what is stored: its run rows, and scores carrying its run id
    stored = con.execute(
        "select model_run_id, dagster_run_id from ml.customer_value_model_runs order by purpose"
    ).fetchall()
    assert stored == [(outcome.forecast["model_run_id"], "run-1"), (outcome.validation["model_run_id"], "run-1")]
    assert con.execute("select distinct model_run_id from ml.customer_value_scores").fetchall() == [
        (outcome.forecast["model_run_id"],)
    ]
    assert con.execute("select count(*) from ml.customer_value_scores").fetchall()[0][0] == len(here.scores)
    con.close()


def test_fits_made_on_other_inputs_than_the_warehouse_holds_are_not_stored(resource, tmp_path) -> None:
    """The export, then one customer's orders gone from the warehouse: the step fits itself."""
    con = connect(Path(resource.path))
    _export(con, tmp_path / "target")
    fitting = _start(resource, tmp_path)
    fitting.inputs_ready(tmp_path / "target")
    con.execute("delete from intermediate.int_orders_aggregated_from_lines where account_id = 'C000'")
    customers = con.execute(
        "select count(distinct account_id) from intermediate.int_orders_aggregated_from_lines"
    ).fetchall()[0][0]
    outcome = run_customer_value(con, fitted=fitting.fits_for)
    assert outcome.forecast["customers"] == customers  # 79: fitted on what the warehouse holds now
    assert not con.execute("select * from ml.customer_value_scores where account_id = 'C000'").fetchall()
    con.close()


def test_a_worker_never_told_its_inputs_ends_without_a_fit(resource, tmp_path) -> None:
    """dbt stopped before building the inputs: the worker ends, and the step fits itself."""
    fitting = _start(resource, tmp_path)
    fitting.no_inputs()
    assert fitting.process.wait(timeout=300) == 0
    log = (fitting.folder / LOG_FILE).read_text(encoding="utf-8")
    assert "no inputs: dbt stopped before building them" in log
    assert fitting.fits_for("any fingerprint") is None


def test_inputs_of_the_stored_fits_are_not_fitted_again(resource, tmp_path) -> None:
    con = connect(Path(resource.path))
    first = run_customer_value(con)  # fitted here, and stored
    reusable = reusable_fingerprint(con)
    assert reusable == first.forecast["inputs_fingerprint"]
    _export(con, tmp_path / "target")
    fitting = _start(resource, tmp_path, reusable)
    fitting.inputs_ready(tmp_path / "target")
    assert fitting.process.wait(timeout=300) == 0
    with open(fitting.folder / worker.ANSWER_FILE, "rb") as f:
        answer = pickle.load(f)
    assert (answer["fingerprint"], answer["fits"]) == (reusable, None)  # the same inputs, seen from the files
    assert answer["niceness"] == min(os.nice(0) + WORKER_NICENESS["customer_value"], 19)  # config/warehouse.yml
    again = run_customer_value(con, fitted=fitting.fits_for)
    fitting.discard()
    assert again.reused and again.forecast["model_run_id"] == first.forecast["model_run_id"]
    assert con.execute("select count(*) from ml.customer_value_model_runs").fetchall()[0][0] == 2
    con.close()


def test_a_failing_worker_fails_the_step_naming_its_log(resource, tmp_path) -> None:
    con = connect(Path(resource.path))
    fitting = _start(resource, tmp_path)
    fitting.inputs_ready(tmp_path / "no_such_target")  # dbt's export is not there
    with pytest.raises(RuntimeError, match="the customer value worker failed") as failed:
        run_customer_value(con, fitted=fitting.fits_for)
    kept = fitting.folder.with_name(fitting.folder.name + ".failed")
    assert str(kept / LOG_FILE) in str(failed.value)
    assert "no_such_target" in (kept / LOG_FILE).read_text(encoding="utf-8")
    assert con.execute("select count(*) from ml.customer_value_model_runs").fetchall()[0][0] == 0  # nothing stored
    con.close()


def test_a_worker_fit_on_the_model_as_built_warns_in_the_step(resource, tmp_path, monkeypatch) -> None:
    """The worker's SharedDataWarning (its data could not be made shared variables, so each new
    history compiles) reaches the run: the worker's log is removed once its fits are collected, so
    its answer carries the warning and the step raises it again, where the run's summary counts
    Python warnings. The worker's work runs in this process here, so that the rewrite can fail."""
    from dagster_project.customer_value import models

    con = connect(Path(resource.path))
    target, folder = tmp_path / "target", tmp_path / "cv_worker"
    _export(con, target)
    folder.mkdir()
    job = {"compile_dir": str(compile_dir(resource)), "reusable_fingerprint": None, "run_id": "run-1"}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    monkeypatch.setenv("PYTENSOR_FLAGS", os.environ.get("PYTENSOR_FLAGS", ""))  # the worker sets it: restored after

    def cannot_share(*args) -> None:
        raise RuntimeError("graph internals differ")

    monkeypatch.setattr(models, "_data_as_shared", cannot_share)
    inputs = {table: str(worker.exported_file(target, table)) for table in worker.INPUTS}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(inputs) + "\n"))
    worker._fit(folder / "job.json")

    # the same answer, collected for other inputs than the warehouse's: no fits, and no warning
    other = tmp_path / "cv_worker_other"
    shutil.copytree(folder, other)
    with warnings.catch_warnings(record=True) as none:
        warnings.simplefilter("always")
        assert worker.Fitting(other, subprocess.Popen([sys.executable, "-c", ""]), told=True).fits_for("other") is None
    assert not [w for w in none if issubclass(w.category, models.SharedDataWarning)]

    fitting = worker.Fitting(folder, subprocess.Popen([sys.executable, "-c", ""]), told=True)
    fingerprint = inputs_fingerprint(con, AS_OF, customer_value_config())
    with pytest.warns(models.SharedDataWarning, match="data kept as constants.*graph internals differ") as said:
        fits = fitting.fits_for(fingerprint)
    assert fits.forecast["status"] == "converged"
    # one per model fitted (the forecast's BG/NBD and Gamma-Gamma, the holdout's BG/NBD), each from
    # where models.py raised it, as an in-process fit's would be
    shared = [w for w in said if issubclass(w.category, models.SharedDataWarning)]
    assert len(shared) == 3
    assert {Path(w.filename).name for w in shared} == {"models.py"}
    con.close()


@pytest.mark.parametrize(
    ("planned", "starts"),
    [
        (None, True),  # every step of the job
        (["dbt_models", "customer_value_model"], True),
        (["dbt_models", "bi__marts_snapshot"], False),  # no fit in this run: no worker
    ],
)
def test_a_run_starts_one_worker_and_only_when_it_fits(resource, tmp_path, monkeypatch, planned, starts) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the per-user compile cache, here
    monkeypatch.delenv("PYTENSOR_FLAGS", raising=False)  # which would name another (the test session's)
    said: list[str] = []

    def context(run_id: str, step: str) -> SimpleNamespace:
        run = SimpleNamespace(step_keys_to_execute=planned, run_id=run_id, tags={})
        return SimpleNamespace(run=run, op_def=SimpleNamespace(name=step), log=SimpleNamespace(info=said.append))

    try:
        _one_worker_per_run(context, resource, said, starts)
    finally:  # no worker of this test outlives it, whatever failed
        for run_id in [r for r in _STARTED if r in ("run-2", "run-3")]:
            _STARTED.pop(run_id).discard()


def _one_worker_per_run(context, resource, said: list[str], starts: bool) -> None:
    fitting = start_fitting(context("run-2", "raw_crm__accounts"), resource)
    assert (fitting is not None) == starts
    if fitting is None:
        assert "run-2" not in _STARTED and not said
        return
    # the run's later steps (the other ingestion steps, the dbt step) find the worker its first one started
    assert start_fitting(context("run-2", "dbt_models"), resource) is fitting
    assert _STARTED["run-2"] is fitting
    assert said == [
        "customer value: worker process started by raw_crm__accounts; it imports pymc-marketing and waits for dbt "
        "to build its inputs"
    ]
    # a worker of an earlier run that was never collected (its dbt step did not run) is stopped by the next run
    later = start_fitting(context("run-3", "dbt_models"), resource)
    assert later is not fitting and fitting.process.poll() is not None and not fitting.folder.exists()
    assert set(_STARTED) == {"run-3"}
    assert _STARTED.pop("run-3") is later
    later.no_inputs()
    assert later.process.wait(timeout=300) == 0
    # pytensor's compile folder is set before pytensor is imported (the per-user cache)
    log = (later.folder / LOG_FILE).read_text(encoding="utf-8")
    assert f"pytensor compiles in {compile_dir(resource)}" in log


def test_each_input_of_the_fit_is_exported_by_dbt() -> None:
    """That the files land where the worker reads them, a real run shows (test_end_to_end.py)."""
    from dagster_project.defs.dbt.assets import dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    models = {(n["schema"], n["name"]): n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    for table in worker.INPUTS:
        hooks = [hook["sql"] for hook in models[tuple(table.split("."))]["config"]["post-hook"]]
        assert hooks == ["{{ export_for_python_steps() }}"], table
