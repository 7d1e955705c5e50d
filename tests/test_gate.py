"""The publish gate on what was delivered (issue 9, items 1, 18 and 23), through the real job on
hand-made drops: an entity never delivered, or whose every file was rejected, blocks; a delivered
header-only drop is a legitimate empty entity; a run whose every new file was rejected blocks; a
drop with too many quarantined rows blocks; freshness is judged against the marts' reference date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts

CONTRACTS = load_contracts()
GATE_KEY = dg.AssetKey(["meta", "delivery"])
DQ_RESULTS_KEY = dg.AssetKey(["meta", "dq_completeness"])
DQ_KEY = dg.AssetKey(["marts", "dq_completeness"])  # the gate's quality checks sit on the published mart


def header(entity: str) -> list[str]:
    return list(CONTRACTS[entity].column_names)


def account(account_id: str, employees: str = "100") -> list[str]:
    return [account_id, "甲公司", "制造", employees, "华东", "上海", "上海", "R1", "30", "2025-01-01", "2025-01-02"]


def run_job(*extra: dg.AssetKey, quality: bool = False) -> dg.ExecuteInProcessResult:
    """The refresh job on every ingestion asset plus `extra`, as a scheduled run would (no publish);
    with `quality`, the GX validation and the gate's checks on its results (not the dbt build)."""
    from dagster_project.definitions import defs
    from dagster_project.defs.quality.assets import dq_gate

    selected = {*(dg.AssetKey([c.schema, c.entity]) for c in CONTRACTS.values()), *extra}
    if quality:
        selected.add(DQ_RESULTS_KEY)
    checks_of_selected = {k for k in defs.resolve_asset_graph().asset_check_keys if k.asset_key in selected}
    job = defs.resolve_job_def("refresh_warehouse").get_subset(
        asset_selection=selected,
        asset_check_selection=checks_of_selected | (set(dq_gate.check_keys) if quality else set()),
    )
    return job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


@pytest.fixture
def policy_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "deployment"
    folder.mkdir()
    (folder / "policy.yml").write_text("not_delivered: [marketing.web_events]\n", encoding="utf-8")
    monkeypatch.setenv("S2S_DEPLOYMENT_DIR", str(folder))
    return folder


def test_undelivered_or_wholly_rejected_entities_fail_the_gate_and_empty_delivered_ones_pass(raw_dir, policy_dir):
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header("crm.accounts"), [account("A1")]))
    # crm.cases: its only file has other column names (a real export before mapping)
    write_drop(raw_dir, "crm.cases", "cases_2025-01-31.csv", "Case ID,Subject\nC1,broken printer\n")
    # erp.returns: a header-only drop, no returns this period
    write_drop(raw_dir, "erp.returns", "returns_2025-01-31.csv", csv_text(header("erp.returns"), []))

    result = run_job(GATE_KEY, quality=True)
    found = checks(result)

    accounts = found["meta/delivery:delivered__crm__accounts"]
    assert accounts.passed and accounts.description == "crm.accounts: 1 drop loaded, the newest of 2025-01-31"
    cases = found["meta/delivery:delivered__crm__cases"]
    assert not cases.passed and cases.severity == dg.AssetCheckSeverity.ERROR
    assert cases.description == (
        "crm.cases: every delivered file was rejected, nothing of it is loaded: crm/cases/cases_2025-01-31.csv: "
        "missing required column(s) case_id, opened_at "
        "(fix the files, or declare crm.cases not delivered in the deployment's policy.yml)"
    )
    returns = found["meta/delivery:delivered__erp__returns"]
    assert returns.passed and returns.description == "erp.returns: 1 drop loaded, the newest of 2025-01-31"
    leads = found["meta/delivery:delivered__crm__leads"]
    assert not leads.passed
    assert leads.description == (
        "crm.leads: not delivered: no file in crm/leads/ "
        "(deliver it, or declare crm.leads not delivered in the deployment's policy.yml)"
    )
    web = found["meta/delivery:delivered__marketing__web_events"]
    assert web.passed and web.description == "marketing.web_events: declared not delivered (policy.yml)"
    failing = sorted(k.split("__", 1)[1] for k, e in found.items() if ":delivered__" in k and not e.passed)
    assert len(failing) == 17  # 20 entities: accounts and returns delivered, web_events declared

    # completeness: an empty table passes only for a delivered (header-only) or declared entity
    assert found["marts/dq_completeness:completeness__erp__returns"].passed
    assert found["marts/dq_completeness:completeness__marketing__web_events"].passed
    cases_complete = found["marts/dq_completeness:completeness__crm__cases"]
    assert not cases_complete.passed
    assert cases_complete.description == "crm.cases: no rows, and no drop of it is loaded (not delivered)"


def test_a_run_whose_every_new_file_was_rejected_fails(raw_dir, policy_dir):
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(header("crm.accounts"), [account("A1")]))
    first = checks(run_job(GATE_KEY))["meta/delivery:new_files_loaded"]
    assert first.passed and first.description == "1 new file loaded"

    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", "Account ID,Name\nA2,乙公司\n")
    write_drop(raw_dir, "erp.products", "products_2025-02-28.xls", "not read")  # ignored, not rejected
    second = run_job(GATE_KEY)
    check = checks(second)["meta/delivery:new_files_loaded"]

    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.description.startswith(
        "every new file of this run was rejected, nothing new is loaded (1): "
        "crm/accounts/accounts_2025-02-28.csv: missing required column(s) account_id"
    )
    third = checks(run_job(GATE_KEY))["meta/delivery:new_files_loaded"]
    assert third.passed and third.description == "no new file"


def test_a_drop_with_too_many_quarantined_rows_fails_naming_it(raw_dir, policy_dir):
    accounts = header("crm.accounts")
    ten = [account(f"A{i}") for i in range(9)] + [account("A9", employees="lots")]  # 1 of 10: 10%
    twenty = [account(f"B{i}") for i in range(19)] + [account("B19", employees="many")]  # 1 of 20: 5%, allowed
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(accounts, ten))
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-28.csv", csv_text(accounts, twenty))

    check = checks(run_job(GATE_KEY))["meta/delivery:quarantine_share"]

    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    # the example is the first quarantined line (header = line 1, so A9 is line 11) and its reason
    assert check.description == (
        "crm/accounts/accounts_2025-01-31.csv: 1 of 10 rows quarantined (10.0% > 5%), "
        "e.g. line 11: employee_count: cannot read the value as bigint"
    )


def test_a_joined_file_over_its_share_is_explained_by_its_repeated_header(raw_dir, policy_dir):
    """Two exports joined into one file: a bad value on line 2, the second export's header on line 4,
    and A1 again on line 5 (a duplicate key: line 3 kept). 3 of 5 rows quarantined. The example the
    check gives is the repeated header, which explains the rest, not the first quarantined line."""
    accounts = header("crm.accounts")
    first = csv_text(accounts, [account("A0", employees="lots"), account("A1")])
    second = csv_text(accounts, [account("A1"), account("A2")])
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", first + second)

    check = checks(run_job(GATE_KEY))["meta/delivery:quarantine_share"]

    assert not check.passed
    assert check.description == (
        "crm/accounts/accounts_2025-01-31.csv: 3 of 5 rows quarantined (60.0% > 5%), e.g. line 4: the header line "
        "again, as a row (two exports joined into one file?): not a record; the rows above and below it are read "
        "as usual"
    )


def test_a_corrected_file_renamed_over_the_damaged_one_clears_it_though_its_content_was_loaded(raw_dir, policy_dir):
    accounts = header("crm.accounts")
    damaged = [account(f"A{i}") for i in range(9)] + [account("A9", employees="lots")]  # 1 of 10 quarantined
    corrected = [account(f"A{i}") for i in range(10)]
    write_drop(raw_dir, "crm.accounts", "accounts_2025-01-31.csv", csv_text(accounts, damaged))
    assert not checks(run_job(GATE_KEY))["meta/delivery:quarantine_share"].passed

    # the fix first arrives under another name: the damaged file, still there, still blocks
    write_drop(raw_dir, "crm.accounts", "accounts_2025-02-01.csv", csv_text(accounts, corrected))
    assert not checks(run_job(GATE_KEY))["meta/delivery:quarantine_share"].passed

    # then it is moved over the damaged file: a duplicate of a clean load, judged by that load
    folder = raw_dir / "crm" / "accounts"
    (folder / "accounts_2025-02-01.csv").replace(folder / "accounts_2025-01-31.csv")
    check = checks(run_job(GATE_KEY))["meta/delivery:quarantine_share"]
    assert check.passed, check.description


def test_freshness_uses_the_marts_reference_date_and_drop_dates_for_master_data(raw_dir, policy_dir):
    orders = header("erp.sales_orders")
    order = ["SO1", "A1", "", "R1", "direct", "华东", "2025-06-30", "", "", "", "approved", "CNY", "2025-07-01"]
    write_drop(raw_dir, "erp.sales_orders", "sales_orders_2025-06-30.csv", csv_text(orders, [order]))
    product = ["SKU1", "泵", "PL1", "泵类", "false", "100.00", "60.00", "2020-01-01", "2021-03-01 10:00:00"]
    write_drop(raw_dir, "erp.products", "products_2025-06-30.csv", csv_text(header("erp.products"), [product]))
    payment = ["P1", "SO1", "2025-05-01 10:00:00", "100.00", "CNY", "transfer"]  # 60 days before 2025-06-30
    write_drop(raw_dir, "erp.payments", "payments_2025-06-30.csv", csv_text(header("erp.payments"), [payment]))

    found = checks(run_job())

    # today is long after 2025-06-30: against today every feed would be stale
    orders_fresh = found["raw_erp/sales_orders:freshness"]
    assert orders_fresh.passed
    assert orders_fresh.description == "newest record 2025-07-01, -1 days before 2025-06-30 (max 3)"
    products = found["raw_erp/products:freshness"]  # updated_at 2021: judged by its latest drop instead
    assert products.passed
    assert products.description == "latest drop 2025-06-30, 0 days before 2025-06-30 (max 120)"
    payments = found["raw_erp/payments:freshness"]
    assert not payments.passed and payments.severity == dg.AssetCheckSeverity.WARN
    assert payments.description == "newest record 2025-05-01, 60 days before 2025-06-30 (max 3)"
    leads = found["raw_crm/leads:freshness"]  # never delivered: said once, by the gate, not here
    assert leads.passed and leads.description == "not delivered (see the delivered__crm__leads check)"
    web = found["raw_marketing/web_events:freshness"]
    assert web.passed and web.description == "declared not delivered (policy.yml)"


def test_the_reference_date_is_as_of_then_the_newest_order_then_today(con, raw_dir, monkeypatch):
    from dagster_project.ingest import load_entity
    from dagster_project.quality.freshness import reference_date

    load_entity(con, CONTRACTS["erp.sales_orders"], raw_dir)
    assert reference_date(con) == date.today()
    order = ["SO1", "A1", "", "R1", "direct", "华东", "2025-06-30", "", "", "", "approved", "CNY", "2025-07-01"]
    write_drop(
        raw_dir, "erp.sales_orders", "sales_orders_2025-06-30.csv", csv_text(header("erp.sales_orders"), [order])
    )
    load_entity(con, CONTRACTS["erp.sales_orders"], raw_dir)
    assert reference_date(con) == date(2025, 6, 30)
    monkeypatch.setenv("S2S_AS_OF", "2025-12-31")
    assert reference_date(con) == date(2025, 12, 31)


def test_the_gate_blocks_the_publish_not_the_dbt_build():
    """A failed gate still builds the marts (for inspection): its checks sit on an asset the
    publish step depends on and no dbt model does."""
    from dagster_project.definitions import defs

    graph = defs.resolve_asset_graph()
    assert GATE_KEY in graph.get(dg.AssetKey(["bi", "marts_snapshot"])).parent_keys
    dbt_keys = [k for k in graph.get_all_asset_keys() if k.path[0] in ("staging", "intermediate", "marts")]
    assert dbt_keys and all(GATE_KEY not in graph.get(k).parent_keys for k in dbt_keys)
