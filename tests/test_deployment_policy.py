"""The deployment policy: what a company does not deliver or collect, read and checked once."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_project.deployment import Policy, PolicyError, load_policy


def write_policy(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.yml").write_text(text, encoding="utf-8")
    return folder


def test_no_folder_means_everything_delivered_and_collected(tmp_path):
    policy = load_policy(tmp_path / "absent")
    assert policy == Policy()
    assert policy.is_delivered("crm.cases")
    assert policy.is_collected("crm.accounts", "industry")


def test_policy_declares_entities_fields_and_rules(tmp_path):
    folder = write_policy(
        tmp_path / "deployment",
        "not_delivered: [crm.cases]\n"
        "not_collected:\n  crm.accounts: [industry, employee_count]\n"
        "completeness:\n  crm.leads.owner_rep_id: {target: 0.8, severity: warn}\n",
    )
    policy = load_policy(folder)
    assert not policy.is_delivered("crm.cases")
    assert not policy.is_collected("crm.cases", "category")  # an entity not delivered collects nothing
    assert not policy.is_collected("crm.accounts", "industry")
    assert policy.is_collected("crm.accounts", "region")
    rule = policy.rule("crm.leads", "owner_rep_id")
    assert (rule.target, rule.severity) == (0.8, "warn")
    assert policy.rule("crm.leads", "channel").target is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("not_delivered: [crm.case]\n", "unknown entity 'crm.case'"),
        ("not_collected:\n  crm.accounts: [industy]\n", "crm.accounts has no column 'industy'"),
        ("completeness:\n  crm.leads.channel: {target: 95}\n", "not a share between 0 and 1"),
        ("completeness:\n  crm.leads.channel: {severity: fatal}\n", "is not error or warn"),
        ("not_deliverd: [crm.cases]\n", "unknown keys ['not_deliverd']"),
    ],
)
def test_a_broken_policy_names_the_file_and_the_entry(tmp_path, text, named):
    folder = write_policy(tmp_path / "deployment", text)
    with pytest.raises(PolicyError) as info:
        load_policy(folder)
    assert named in str(info.value)
    assert "policy.yml" in str(info.value)


def test_field_policy_table_carries_contract_flags_and_the_policy(tmp_path, con):
    from dagster_project.deployment import write_field_policy

    folder = write_policy(
        tmp_path / "deployment",
        "not_delivered: [crm.cases]\nnot_collected:\n  crm.accounts: [industry]\n"
        "completeness:\n  crm.accounts.city: {target: 0.7, severity: warn}\n",
    )
    write_field_policy(con, load_policy(folder))
    rows = {
        (e, f): (crit, deliv, coll, target, sev)
        for e, f, crit, deliv, coll, target, sev in con.execute(
            "select entity, field, is_critical, is_delivered, is_collected, target, severity from meta.field_policy"
        ).fetchall()
    }
    assert rows[("accounts", "industry")] == (True, True, False, 0.95, None)
    assert rows[("accounts", "city")] == (True, True, True, 0.7, "warn")
    assert rows[("accounts", "account_id")] == (False, True, True, None, None)
    assert rows[("cases", "category")][1:3] == (False, False)


def test_field_policy_carries_the_severity_the_gate_applies(tmp_path, con):
    """The dbt alert rule needs the gate's severity of each field: the policy's, else the configured
    severity of completeness (config/quality.yml: error)."""
    from dagster_project.deployment import write_field_policy

    folder = write_policy(tmp_path / "deployment", "completeness:\n  crm.leads.owner_rep_id: {severity: warn}\n")
    write_field_policy(con, load_policy(folder))
    rows = {
        (e, f): (sev, gate)
        for e, f, sev, gate in con.execute(
            "select entity, field, severity, gate_severity from meta.field_policy"
        ).fetchall()
    }
    assert rows[("leads", "owner_rep_id")] == ("warn", "warn")
    assert rows[("leads", "channel")] == (None, "error")


def test_ingest_writes_the_field_policy_for_dbt(tmp_path, raw_dir):
    """`ingest` (like the Dagster orphans asset) leaves meta.field_policy for the dbt build after it."""
    from dagster_project.cli import main
    from dagster_project.contracts import load_contracts
    from dagster_project.warehouse import open_warehouse

    warehouse = tmp_path / "w" / "warehouse.duckdb"
    assert main(["ingest", "--raw-dir", str(raw_dir), "--warehouse", str(warehouse)]) == 0
    with open_warehouse(warehouse, read_only=True) as con:
        rows = con.execute("select count(*), count(*) filter (is_critical) from meta.field_policy").fetchall()[0]
    columns = [c for contract in load_contracts().values() for c in contract.columns]
    assert rows == (len(columns), sum(c.critical for c in columns))
