"""Great Expectations in a worker process beside the dbt build (dagster_project/quality/worker.py): the
same figures as in-process, the counts stored once, a failing worker fails loudly, and the job takes
the quality step after the first dbt build, whose quality marts moved to the second dbt step."""

import json
import os

import dagster as dg
import pytest
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.ingest import load_entity
from dagster_project.quality import worker
from dagster_project.warehouse import ensure_raw_table
from dagster_project.worker_process import LOG_FILE


@pytest.fixture
def con(con):
    """Every entity's table, as ingestion leaves them (an entity never delivered is an empty table)."""
    for contract in load_contracts().values():
        ensure_raw_table(con, contract)
    return con


def _accounts_drop(raw_dir, name: str, first: int, empty_industry: set[int], zero_employees: set[int]) -> None:
    accounts = load_contracts()["crm.accounts"]
    header = [c for c in accounts.column_names if c != "payment_terms_days"]
    rows = [
        [
            f"A{i}",
            f"公司{i}",
            "" if i in empty_industry else "制造",
            "0" if i in zero_employees else "120",
            "华东",
            "上海",
            "上海",
            "R1",
            "2025-01-01",
            "2025-01-01",
        ]
        for i in range(first, first + 10)
    ]
    write_drop(raw_dir, "crm.accounts", name, csv_text(header, rows))


def test_the_worker_counts_by_hand_and_a_second_run_counts_only_the_new_drop(con, raw_dir, tmp_path):
    accounts = load_contracts()["crm.accounts"]
    # 10 accounts, A3 and A7 without industry, A9 with 0 employees (the rule is >= 1)
    _accounts_drop(raw_dir, "accounts_2025-01-31.csv", 0, {3, 7}, {9})
    load_entity(con, accounts, raw_dir)
    gx_root = tmp_path / "gx"

    started = worker.start(con, gx_root, {})
    started.process.wait()
    answer = json.loads((started.folder / worker.ANSWER_FILE).read_text(encoding="utf-8"))
    assert answer["niceness"] == min(os.nice(0) + worker.WORKER_NICENESS["great_expectations"], 19)
    assert answer["scipy_stats_loaded"] is False  # GX imported, counted and its docs built without it
    fields, rules, docs = started.finish(con)

    by_field = {f.field: (f.rows, f.complete_rows, f.passed) for f in fields if f.entity == "accounts"}
    assert by_field["industry"] == (10, 8, False)  # 80% < 95%
    assert by_field["account_name"] == (10, 10, True)
    assert [(r.field, r.checked_rows, r.failing_rows, r.passed) for r in rules if r.entity == "accounts"] == [
        ("employee_count", 10, 1, False)
    ]
    assert docs is not None and docs.name == "index.html" and docs.is_file()
    assert not any((gx_root / "frames").iterdir())  # the frames are gone once counted
    stored = con.execute(
        "select count(distinct group_id) from meta.dq_validated_drops where entity = 'crm.accounts'"
    ).fetchall()
    assert stored == [(1,)]

    # 10 more accounts, A12 without industry: only the new drop goes to the worker; the sums cover both
    _accounts_drop(raw_dir, "accounts_2025-02-28.csv", 10, {12}, set())
    load_entity(con, accounts, raw_dir)
    started = worker.start(con, gx_root, {})
    groups = [g for p in started.plans if p.contract.name == "crm.accounts" for g in p.new_groups]
    assert len(groups) == 1 and len(groups[0][1]) == 1  # one group, of one drop
    fields, rules, _ = started.finish(con)
    by_field = {f.field: (f.rows, f.complete_rows) for f in fields if f.entity == "accounts"}
    assert by_field["industry"] == (20, 17)
    assert [(r.checked_rows, r.failing_rows) for r in rules if r.entity == "accounts"] == [(20, 1)]


def test_a_failing_worker_fails_the_step_and_names_its_log(con, raw_dir, tmp_path):
    _accounts_drop(raw_dir, "accounts_2025-01-31.csv", 0, set(), set())
    load_entity(con, load_contracts()["crm.accounts"], raw_dir)
    started = worker.start(con, tmp_path / "gx", {})
    started.process.wait()
    (started.folder / worker.ANSWER_FILE).unlink()  # as if it died before answering
    started.process.returncode = 1
    with pytest.raises(RuntimeError, match=r"worker failed \(exit 1\); its log: .*worker\.log") as failed:
        started.finish(con)
    assert con.execute("select count(*) from meta.dq_validated_drops").fetchall() == [(0,)]  # nothing stored
    kept = started.folder.with_name(started.folder.name + ".failed")
    assert str(kept / "worker.log") in str(failed.value)
    # the next run's worker starts in a new folder; the failed one, whose log the error named, stays
    again = worker.start(con, tmp_path / "gx", {})
    again.process.wait()
    assert (kept / "worker.log").is_file() and again.folder.parent == kept.parent


def test_the_quality_step_runs_after_the_first_dbt_build_and_its_marts_in_the_second():
    from dagster._core.execution.api import create_execution_plan

    from dagster_project.definitions import defs

    job = defs.resolve_job_def("refresh_warehouse")
    plan = create_execution_plan(job)
    dq = plan.get_step_by_key("dq_results")
    assert dq.tags.get("dagster/priority") == "-1"  # taken once no other step is ready: after dbt_models
    by_op = {key: a.node_def.name for a in defs.assets if hasattr(a, "keys") for key in a.keys}
    assert by_op[dg.AssetKey(["marts", "dq_completeness"])] == "dbt_models_after_python"
    assert by_op[dg.AssetKey(["marts", "dq_validity"])] == "dbt_models_after_python"
    assert by_op[dg.AssetKey(["marts", "fct_order_lines"])] == "dbt_models"


def test_a_worker_started_early_imports_first_then_counts_as_one_started_late(con, raw_dir, tmp_path):
    """The run's first ingestion step starts the worker (`start_ready`); it imports GX and waits. The dbt
    step writes the frames into its folder and tells it (`start(ready=...)`): the same counts, worked
    out by hand, as a worker started then. A worker the run does not need ends when discarded."""
    import time

    accounts = load_contracts()["crm.accounts"]
    _accounts_drop(raw_dir, "accounts_2025-01-31.csv", 0, {3, 7}, {9})
    load_entity(con, accounts, raw_dir)
    gx_root = tmp_path / "gx"

    ready = worker.start_ready(gx_root)
    log = ready.folder / LOG_FILE
    deadline = time.monotonic() + 300
    while "waiting for the run's groups" not in log.read_text(encoding="utf-8"):  # imported before its groups
        assert ready.process.poll() is None and time.monotonic() < deadline, log.read_text(encoding="utf-8")
        time.sleep(0.1)
    started = worker.start(con, gx_root, {}, ready=ready, run_name="run-1")
    assert started.process is ready.process and started.folder == ready.folder
    fields, rules, docs = started.finish(con)
    by_field = {f.field: (f.rows, f.complete_rows, f.passed) for f in fields if f.entity == "accounts"}
    assert by_field["industry"] == (10, 8, False) and by_field["account_name"] == (10, 10, True)
    assert [(r.field, r.checked_rows, r.failing_rows, r.passed) for r in rules if r.entity == "accounts"] == [
        ("employee_count", 10, 1, False)
    ]
    assert docs is not None and docs.is_file()
    assert not any((gx_root / "frames").iterdir())

    idle = worker.start_ready(gx_root)
    idle.discard()  # the worker ends by itself once GX is imported, and removes its folder
    assert idle.process.wait(timeout=300) == 0 and not idle.folder.exists()
