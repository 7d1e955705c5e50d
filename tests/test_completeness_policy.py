"""The deployment's completeness policy in the gate: fields the company does not collect leave the GX
suite and show as "not collected" (no figure) in marts.dq_completeness; per-field targets and
severities come from policy.yml. Hand-made accounts table; counts worked out by hand."""

from __future__ import annotations

import dagster as dg
from conftest import csv_text, write_drop

from dagster_project.contracts import load_contracts
from dagster_project.defs.quality.assets import _completeness_result
from dagster_project.deployment import load_policy
from dagster_project.ingest import load_entity
from dagster_project.quality.expectations import ExpectationRunner, record_results
from dagster_project.warehouse import ensure_meta


def write_policy(tmp_path, text: str):
    folder = tmp_path / "deployment"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yml").write_text(text, encoding="utf-8")
    return load_policy(folder)


def load_accounts(con, raw_dir) -> None:
    """10 accounts without industry nor employee_count columns (a CRM that does not collect them);
    city empty on 3 rows (70%), region on 1 (90%)."""
    header = ["account_id", "account_name", "region", "city", "owner_rep_id"]
    rows = [[f"A{i}", f"公司{i}", "" if i == 0 else "华东", "" if i in (1, 2, 3) else "上海", "R1"] for i in range(10)]
    write_drop(raw_dir, "crm.accounts", "accounts_2026-05-31.csv", csv_text(header, rows))
    load_entity(con, load_contracts()["crm.accounts"], raw_dir)


def test_fields_not_collected_leave_the_gate_and_are_recorded_without_a_figure(tmp_path, raw_dir, con):
    load_accounts(con, raw_dir)
    policy = write_policy(
        tmp_path,
        "not_collected:\n  crm.accounts: [industry, employee_count]\n"
        "completeness:\n  crm.accounts.city: {target: 0.7, severity: warn}\n"
        "  crm.accounts.region: {severity: warn}\n",
    )
    fields, _ = ExpectationRunner(tmp_path / "gx").validate(con, load_contracts()["crm.accounts"], policy)

    by_field = {f.field: (f.complete_rows, f.completeness, f.target, f.passed, f.status, f.severity) for f in fields}
    assert by_field == {
        "account_name": (10, 1.0, 0.95, True, "measured", "error"),
        "industry": (None, None, 0.95, None, "not collected", "error"),
        "employee_count": (None, None, 0.95, None, "not collected", "error"),
        "region": (9, 0.9, 0.95, False, "measured", "warn"),
        "city": (7, 0.7, 0.7, True, "measured", "warn"),  # its own target: 70% is on it
        "owner_rep_id": (10, 1.0, 0.95, True, "measured", "error"),
    }
    # only a warn-severity field is short: the check fails without blocking the publish
    check = _completeness_result("crm.accounts", fields)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert check.metadata["industry"].value == "not collected"

    record_results(con, "run-1", fields, [])
    assert con.execute(
        "select field, rows, complete_rows, completeness, passed, status from meta.dq_completeness "
        "where status <> 'measured' order by field"
    ).fetchall() == [
        ("employee_count", 10, None, None, None, "not collected"),
        ("industry", 10, None, None, None, "not collected"),
    ]


def test_without_a_policy_a_missing_field_counts_as_empty_and_blocks(tmp_path, raw_dir, con):
    load_accounts(con, raw_dir)
    fields, _ = ExpectationRunner(tmp_path / "gx").validate(
        con, load_contracts()["crm.accounts"], write_policy(tmp_path, "")
    )

    industry = next(f for f in fields if f.field == "industry")
    assert (industry.complete_rows, industry.passed) == (0, False)
    assert industry.shortfall().endswith(
        "no value at all: if the company does not collect it, list it under not_collected in policy.yml"
    )
    check = _completeness_result("crm.accounts", fields)
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.ERROR)


def test_an_entity_not_delivered_is_recorded_as_such(tmp_path, con):
    from dagster_project.warehouse import ensure_raw_table

    cases = load_contracts()["crm.cases"]
    ensure_raw_table(con, cases)
    policy = write_policy(tmp_path, "not_delivered: [crm.cases]\n")
    fields, rules = ExpectationRunner(tmp_path / "gx").validate(con, cases, policy)

    assert [(f.field, f.status, f.passed) for f in fields] == [
        ("account_id", "not delivered", None),
        ("category", "not delivered", None),
        ("opened_at", "not delivered", None),
    ]
    assert rules == []
    assert _completeness_result("crm.cases", fields).passed


def test_a_history_table_from_before_the_policy_moves_to_meta_and_takes_the_new_rows(con):
    """dq_completeness of an earlier version (in marts, NOT NULL figures, no status) is copied to meta
    once and widened there; dbt then rebuilds marts.dq_completeness from it."""
    con.execute(
        "create schema marts; create table marts.dq_completeness (run_id varchar not null, checked_at timestamp "
        "not null, source varchar not null, entity varchar not null, field varchar not null, rows bigint not null, "
        "complete_rows bigint not null, completeness double, target double not null, passed boolean not null)"
    )
    con.execute(
        "insert into marts.dq_completeness values ('old', now(), 'crm', 'accounts', 'city', 5, 5, 1.0, 0.95, true)"
    )
    ensure_meta(con)
    ensure_meta(con)  # every ingestion calls it: the history is copied once
    con.execute(
        "insert into meta.dq_completeness (run_id, checked_at, source, entity, field, rows, status) "
        "values ('new', now(), 'crm', 'accounts', 'industry', 5, 'not collected')"
    )
    assert con.execute(
        "select run_id, complete_rows, passed, status from meta.dq_completeness order by 1"
    ).fetchall() == [
        ("new", None, None, "not collected"),
        ("old", 5, True, None),
    ]


def test_the_policy_and_mappings_are_inputs_of_the_snapshot(tmp_path):
    """Editing policy.yml or a mapping changes the inputs fingerprint: the next run rebuilds."""
    from dagster_project.publish.fingerprint import deployment_digest

    empty = deployment_digest()
    policy = write_policy(tmp_path, "not_collected:\n  crm.accounts: [industry]\n")
    assert policy.path is not None
    with_policy = deployment_digest()
    (tmp_path / "deployment" / "mappings").mkdir()
    (tmp_path / "deployment" / "mappings" / "sf.yml").write_text("preset: salesforce\n", encoding="utf-8")
    with_mapping = deployment_digest()
    assert len({empty, with_policy, with_mapping}) == 3
