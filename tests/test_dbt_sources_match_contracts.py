"""The dbt sources YAML matches the entity contracts: every entity, every column, its type and keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.contracts import load_contracts
from dagster_project.dbt_sources import LINEAGE_COLUMNS, render, sources_documents, sources_path

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"
CONTRACTS = load_contracts()


def _sources_on_disk() -> dict[str, dict]:
    """source name -> {table name -> table YAML} from the committed sources files."""
    out: dict[str, dict] = {}
    for path in sorted((DBT_DIR / "models" / "staging").glob("*/_*__sources.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for source in doc["sources"]:
            out[source["name"]] = {"schema": source.get("schema"), "tables": {t["name"]: t for t in source["tables"]}}
    return out


ON_DISK = _sources_on_disk()


def test_committed_files_are_the_generated_ones() -> None:
    for source, doc in sources_documents().items():
        path = sources_path(source)
        assert path.exists(), f"{path} is missing: run python -m dagster_project.dbt_sources"
        assert path.read_text(encoding="utf-8") == render(doc), (
            f"{path} drifted from the contracts: run python -m dagster_project.dbt_sources"
        )


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_every_entity_is_a_source_with_its_schema(name: str) -> None:
    contract = CONTRACTS[name]
    assert contract.source in ON_DISK, f"no dbt source {contract.source}"
    assert ON_DISK[contract.source]["schema"] == contract.schema
    assert contract.entity in ON_DISK[contract.source]["tables"], f"no dbt source table {name}"


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_every_column_and_type(name: str) -> None:
    contract = CONTRACTS[name]
    table = ON_DISK[contract.source]["tables"][contract.entity]
    columns = {c["name"]: c for c in table["columns"]}
    expected = [(c.name, c.type) for c in contract.columns] + [(n, t) for n, t, _ in LINEAGE_COLUMNS]
    assert [c["name"] for c in table["columns"]] == [n for n, _ in expected]
    for column_name, column_type in expected:
        assert columns[column_name]["data_type"] == column_type, f"{name}.{column_name}"
        assert columns[column_name].get("description"), f"{name}.{column_name} has no description"


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_the_key_is_documented_and_no_check_is_repeated_in_dbt(name: str) -> None:
    """One engine per check: keys, required fields and allowed values are enforced by ingestion and
    the asset check primary_keys_unique, freshness by the asset check source_freshness. A dbt test or
    freshness rule on a source would repeat them (and cannot be attached to a Dagster asset)."""
    contract = CONTRACTS[name]
    table = ON_DISK[contract.source]["tables"][contract.entity]
    assert table["config"]["meta"]["primary_key"] == list(contract.primary_key)
    assert "data_tests" not in table and "tests" not in table, name
    assert not table["config"].get("freshness") and "loaded_at_field" not in table["config"], name
    for column in table["columns"]:
        assert "data_tests" not in column and "tests" not in column, f"{name}.{column['name']}"


def test_field_policy_source_has_the_columns_python_writes(con) -> None:
    """dbt reads the critical fields, targets and the deployment policy from meta.field_policy:
    its source YAML lists exactly the columns dagster_project.deployment writes."""
    from dagster_project.deployment import write_field_policy

    write_field_policy(con)
    written = [r[0] for r in con.execute("select * from meta.field_policy limit 0").description]
    doc = yaml.safe_load((DBT_DIR / "models" / "staging" / "meta" / "_meta__sources.yml").read_text(encoding="utf-8"))
    tables = {t["name"]: t for t in doc["sources"][0]["tables"]}
    assert [c["name"] for c in tables["field_policy"]["columns"]] == written


def test_no_critical_field_list_or_completeness_target_is_repeated_in_dbt() -> None:
    """The critical fields and their targets are read from meta.field_policy, not kept in dbt."""
    project = yaml.safe_load((DBT_DIR / "dbt_project.yml").read_text(encoding="utf-8"))
    assert "crm_critical_fields" not in project["vars"]
    assert "threshold" not in project["vars"]["alert_rules"]["crm_completeness"]
    kpis = (DBT_DIR / "seeds" / "scorecard_kpis.csv").read_text(encoding="utf-8").splitlines()
    crm_row = next(line for line in kpis if line.startswith("crm_completeness_pct,"))
    assert crm_row.split(",")[9] == "", "crm_completeness_pct has no default target: it comes from the policy"
