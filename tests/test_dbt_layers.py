"""The dbt layers run in the order their folder names say: staging reads exactly one source (rename,
cast, normalise: no other model, no seed), intermediate reads staging and other intermediates, never
a mart. Read from the manifest of a fresh `dbt parse`, so a ref added anywhere (a model, a macro it
calls) is seen."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.contracts import Contract, load_contracts

DBT_DIR = Path(__file__).resolve().parent.parent / "dbt"

# Intermediate models that still read a star-schema mart, each edge listed so that no new one can
# appear unnoticed and a fixed one must leave the list. The one left reads the incremental order-line
# fact (rebuilt from the _loaded_at watermark, with the order header and product cost joined): see
# dbt/DECISIONLOG.md, "Layers".
KNOWN_INTERMEDIATE_READS_OF_MARTS: set[tuple[str, str]] = {
    ("int_order_lines_joined_to_returns", "fct_order_lines"),
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict:
    target = tmp_path_factory.mktemp("dbt_target")
    env = {**os.environ, "S2S_WAREHOUSE": str(target / "unused.duckdb")}
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [str(dbt), "--quiet", "parse", "--project-dir", str(DBT_DIR), "--profiles-dir", str(DBT_DIR)]
        + ["--target-path", str(target), "--no-partial-parse"],
        check=True,
        env=env,
        cwd=DBT_DIR,
    )
    return json.loads((target / "manifest.json").read_text(encoding="utf-8"))


def models_in(manifest: dict, layer: str) -> dict[str, dict]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == layer
    }


def layer_of(manifest: dict, unique_id: str) -> str:
    if unique_id in manifest["sources"]:
        return "source"
    node = manifest["nodes"][unique_id]
    return node["resource_type"] if node["resource_type"] != "model" else node["fqn"][1]


def test_every_staging_model_reads_exactly_one_source_and_nothing_else(manifest: dict) -> None:
    staging = models_in(manifest, "staging")
    assert len(staging) >= 20, sorted(staging)
    problems = {}
    for name, node in staging.items():
        parents = node["depends_on"]["nodes"]
        sources = [p for p in parents if p.startswith("source.")]
        others = [p for p in parents if not p.startswith("source.")]
        if len(sources) != 1 or others:
            problems[name] = parents
    assert not problems, f"staging models must read one source only: {problems}"


def test_no_intermediate_model_reads_a_mart(manifest: dict) -> None:
    intermediate = models_in(manifest, "intermediate")
    assert len(intermediate) >= 20, sorted(intermediate)
    reads = {
        (name, manifest["nodes"][parent]["name"])
        for name, node in intermediate.items()
        for parent in node["depends_on"]["nodes"]
        if layer_of(manifest, parent) == "marts"
    }
    assert reads - KNOWN_INTERMEDIATE_READS_OF_MARTS == set(), "intermediate models reading marts"
    assert KNOWN_INTERMEDIATE_READS_OF_MARTS - reads == set(), "fixed: remove from the known list"


def test_the_rules_see_a_violation(manifest: dict) -> None:
    """The checks above read real edges: a staging model's source and an intermediate's staging parent."""
    staging = models_in(manifest, "staging")
    assert staging["stg_erp__sales_orders"]["depends_on"]["nodes"] == ["source.s2s_warehouse.erp.sales_orders"]
    lines = models_in(manifest, "intermediate")["int_sales_order_lines_converted_to_cny"]
    assert {layer_of(manifest, p) for p in lines["depends_on"]["nodes"]} == {"staging", "intermediate"}


# -- one engine per check: staging repeats no rule that ingestion enforces ----------------------------

ROW_CHANGING = re.compile(r"\b(where|join|group\s+by|qualify|distinct|union|limit|having|unnest)\b")


def _contract_of(manifest: dict, node: dict) -> Contract | None:
    (source,) = [p for p in node["depends_on"]["nodes"] if p.startswith("source.")]
    entity = manifest["sources"][source]
    return load_contracts().get(f"{entity['source_name']}.{entity['name']}")


def _sql(node: dict) -> str:
    return re.sub(r"--[^\n]*", "", node["raw_code"]).lower()


def _passed_as_delivered(node: dict, column: str) -> bool:
    """The column is a bare item of the model's select list (not computed, not renamed into)."""
    return re.search(rf"^\s*{re.escape(column.lower())},\s*$", _sql(node), re.MULTILINE) is not None


def tests_repeating_the_contract(manifest: dict) -> list[tuple[str, str, str | None]]:
    """(model, test, column) of the tests on staging models that only repeat what ingestion enforces
    on the raw table the model projects: key uniqueness (the raw key check `primary_keys_unique`), not
    null on a key or a non-nullable column and the contract's allowed values (rows breaking them are
    quarantined before they land), on columns the model passes on as delivered."""
    staging = models_in(manifest, "staging")
    found = []
    for test in manifest["nodes"].values():
        node = next((n for n in staging.values() if n["unique_id"] == test.get("attached_node")), None)
        if test["resource_type"] != "test" or node is None or (contract := _contract_of(manifest, node)) is None:
            continue
        meta = test.get("test_metadata") or {}
        name, column, kwargs = meta.get("name"), test.get("column_name"), meta.get("kwargs", {})
        columns = {c.name: c for c in contract.columns}
        key = list(contract.primary_key)
        if name in ("unique", "primary_key", "unique_combination_of_columns"):  # primary_key: unique, not null
            tested = [column] if column else list(kwargs.get("combination", []))
            repeats = sorted(tested) == sorted(key)
        elif name == "not_null":
            tested, repeats = [column], column in key or (column in columns and not columns[column].nullable)
        elif name == "accepted_values":
            allowed = columns[column].allowed_values if column in columns else None
            tested, repeats = [column], allowed is not None and set(allowed) <= {str(v) for v in kwargs["values"]}
        else:
            continue
        if repeats and all(_passed_as_delivered(node, c) for c in tested):
            found.append((node["name"], name, column))
    return sorted(found, key=str)


def test_staging_models_over_the_contracts_keep_every_row(manifest: dict) -> None:
    """What ingestion enforces on a raw table holds for its staging model only if the model keeps
    every row: no filter, join, grouping or deduplication."""
    staging = models_in(manifest, "staging")
    over_contracts = {n: node for n, node in staging.items() if _contract_of(manifest, node) is not None}
    assert len(over_contracts) >= 19, sorted(over_contracts)
    changing = {n: ROW_CHANGING.findall(_sql(node)) for n, node in over_contracts.items()}
    assert {n: found for n, found in changing.items() if found} == {}


def test_no_staging_test_repeats_what_ingestion_enforces(manifest: dict) -> None:
    assert tests_repeating_the_contract(manifest) == []


def test_the_repeat_rule_sees_a_repeated_test_and_spares_a_computed_key(manifest: dict) -> None:
    """A `unique` or `primary_key` test added back on stg_crm__accounts.account_id is found; the key test of
    stg_erp__fx_rates stays, since its currency is upper-cased in staging (two raw keys may meet)."""
    staged = json.loads(json.dumps(manifest))
    accounts = models_in(staged, "staging")["stg_crm__accounts"]
    staged["nodes"]["test.s2s_warehouse.unique_again"] = {
        "resource_type": "test",
        "attached_node": accounts["unique_id"],
        "column_name": "account_id",
        "test_metadata": {"name": "unique", "kwargs": {}},
    }
    staged["nodes"]["test.s2s_warehouse.primary_key_again"] = {
        "resource_type": "test",
        "attached_node": accounts["unique_id"],
        "column_name": "account_id",
        "test_metadata": {"name": "primary_key", "kwargs": {}},
    }
    assert tests_repeating_the_contract(staged) == [
        ("stg_crm__accounts", "primary_key", "account_id"),
        ("stg_crm__accounts", "unique", "account_id"),
    ]
    fx_rates = models_in(manifest, "staging")["stg_erp__fx_rates"]
    fx_tests = [
        t["test_metadata"]["name"]
        for t in manifest["nodes"].values()
        if t["resource_type"] == "test" and t.get("attached_node") == fx_rates["unique_id"] and t.get("test_metadata")
    ]
    assert "unique_combination_of_columns" in fx_tests
    assert not _passed_as_delivered(fx_rates, "currency") and _passed_as_delivered(fx_rates, "rate_date")
