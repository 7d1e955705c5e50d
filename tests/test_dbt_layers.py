"""The dbt layers run in the order their folder names say: staging reads exactly one source (rename,
cast, normalise: no other model, no seed), intermediate reads staging and other intermediates, never
a mart. Read from the manifest of a fresh `dbt parse`, so a ref added anywhere (a model, a macro it
calls) is seen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
