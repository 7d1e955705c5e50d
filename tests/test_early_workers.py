"""`run` starts the two workers beside the dbt build before Dagster starts the run (dagster_project/
early_workers.py): the run adopts them, named afterwards with its run id and its stored fits, and
counts and fits as with workers its own steps started; a worker no run adopted is stopped."""

import pickle
import time
from pathlib import Path

import pytest
from test_customer_value_step import warehouse  # noqa: F401 - the fixture: a warehouse with order facts
from test_customer_value_worker import _export
from test_quality_worker import _accounts_drop

from dagster_project import early_workers
from dagster_project.contracts import load_contracts
from dagster_project.customer_value import worker as customer_value_worker
from dagster_project.customer_value.pipeline import reusable_fingerprint, run_customer_value
from dagster_project.ingest import load_entity
from dagster_project.quality import worker as quality_worker
from dagster_project.quality.expectations import ExpectationRunner
from dagster_project.warehouse import connect, ensure_raw_table
from dagster_project.worker_process import LOG_FILE


def imported(process, log: Path, said: str) -> None:
    """Wait until a worker says it imported and waits: what it is given from then on is given late."""
    deadline = time.monotonic() + 300
    while not (log.is_file() and said in log.read_text(encoding="utf-8")):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
        time.sleep(0.1)


@pytest.fixture
def tables(con):
    """Every entity's table, as ingestion leaves them (an entity never delivered is an empty table)."""
    for contract in load_contracts().values():
        ensure_raw_table(con, contract)
    return con


@pytest.fixture
def started(tmp_path):
    """Both workers started early for a warehouse under tmp_path; whatever a test took is given back to be
    stopped with the rest, whatever failed (`took`)."""
    path = tmp_path / "wh" / "warehouse.duckdb"
    path.parent.mkdir()
    early_workers.start(path)
    yield path
    for worker in _TAKEN:
        worker.discard()
    _TAKEN.clear()
    early_workers.discard_untaken()


_TAKEN: list = []


def took(worker):
    """A worker a test took: stopped after the test (`started`) unless it ended."""
    _TAKEN.append(worker)
    return worker


def test_an_early_gx_worker_counts_for_the_run_that_takes_it_and_names_its_results_after_it(started, tables, raw_dir):
    con = tables
    _accounts_drop(raw_dir, "accounts_2025-01-31.csv", 0, {3, 7}, {9})
    load_entity(con, load_contracts()["crm.accounts"], raw_dir)
    gx_root = started.parent / "gx"
    ready = took(early_workers.take_gx(started))
    assert ready is not None and early_workers.take_gx(started) is None  # taken once
    imported(ready.process, ready.folder / LOG_FILE, "waiting for the run's groups")  # read its job: no run id
    validation = quality_worker.start(con, gx_root, {}, ready=ready, run_name="run-7")
    fields, rules, _ = validation.finish(con)
    # counted by hand: 10 accounts, two without industry, one with 0 employees (the rule is >= 1)
    by_field = {f.field: (f.rows, f.complete_rows) for f in fields if f.entity == "accounts"}
    assert by_field["industry"] == (10, 8)
    assert [(r.field, r.failing_rows) for r in rules if r.entity == "accounts"] == [("employee_count", 1)]
    # started without a run id, its results carry the run's: Data Docs keeps results by run
    keys = ExpectationRunner(gx_root).context.validation_results_store.list_keys()
    assert keys and {k.run_id.run_name for k in keys} == {"run-7"}


def test_an_early_fitting_worker_fits_under_the_run_id_it_is_given_later(started, warehouse, tmp_path):  # noqa: F811
    """Started before the run had an id, assigned it when adopted. (The worker reads only the files dbt
    exports, so the warehouse it was started for does not matter here.)"""
    fitting = took(early_workers.take_fitting(started))
    assert fitting is not None and early_workers.take_fitting(started) is None
    con = connect(warehouse)
    _export(con, tmp_path / "target")
    imported(fitting.process, fitting.folder / LOG_FILE, "waiting for the inputs")  # read its job: no run id
    fitting.assign(None, "run-8")
    fitting.inputs_ready(tmp_path / "target")
    answered = []  # the worker's fits, as the step collected them (None: the step fitted itself)

    def fitted(fingerprint: str):
        answered.append(fitting.fits_for(fingerprint))
        return answered[-1]

    outcome = run_customer_value(con, dagster_run_id="run-8", fitted=fitted)
    assert answered[0] is not None and outcome.forecast["status"] == "converged" and not outcome.reused
    stored = con.execute("select distinct dagster_run_id from ml.customer_value_model_runs").fetchall()
    assert stored == [("run-8",)]
    con.close()


def test_an_early_fitting_worker_told_the_stored_fits_does_not_fit_them_again(started, warehouse, tmp_path):  # noqa: F811
    con = connect(warehouse)
    first = run_customer_value(con)  # fitted here, and stored
    _export(con, tmp_path / "target")
    fitting = took(early_workers.take_fitting(started))
    imported(fitting.process, fitting.folder / LOG_FILE, "waiting for the inputs")
    fitting.assign(reusable_fingerprint(con), "run-9")
    fitting.inputs_ready(tmp_path / "target")
    assert fitting.process.wait(timeout=300) == 0
    with open(fitting.folder / customer_value_worker.ANSWER_FILE, "rb") as f:
        answer = pickle.load(f)
    assert (answer["fingerprint"], answer["fits"]) == (first.forecast["inputs_fingerprint"], None)
    fitting.discard()
    con.close()


def test_workers_no_run_took_are_stopped_and_their_folders_removed(tmp_path):
    path = tmp_path / "wh" / "warehouse.duckdb"
    path.parent.mkdir()
    early_workers.start(path)
    gx = early_workers._GX[path.parent / "gx"]
    fitting = early_workers._FITTING[path.parent / "customer_value_worker"]
    early_workers.discard_untaken()
    assert not early_workers._GX and not early_workers._FITTING
    assert gx.process.wait(timeout=300) == 0 and fitting.process.wait(timeout=300) is not None
    assert not gx.folder.exists() and not fitting.folder.exists()


def test_started_early_they_clear_nothing_and_taken_they_clear_what_earlier_runs_left(tmp_path):
    """Started before the run holds the warehouse, another run may still use the folders beside theirs:
    they are cleared only when a step of the run (which then holds it) takes its worker."""
    path = tmp_path / "wh" / "warehouse.duckdb"
    left = [early_workers.gx_root(path) / "frames" / "earlier", early_workers.fitting_root(path) / "earlier"]
    for folder in left:
        folder.mkdir(parents=True)
    taken = []
    early_workers.start(path)
    try:
        assert all(folder.is_dir() for folder in left)
        taken += [early_workers.take_gx(path), early_workers.take_fitting(path)]
        assert not any(folder.exists() for folder in left)
        assert all(worker.folder.is_dir() for worker in taken)  # their own stay
    finally:
        early_workers.discard_untaken()
        for worker in taken:
            worker.discard()
