"""The primary key of each mart, read from the dbt project where it is already declared once.

In order: the model's `meta: {primary_key: [...]}` if it has one; else the columns of its one
`unique_combination_of_columns` test; else its first column tested `primary_key` (the project's test:
unique and not null), or both `unique` and `not_null` (dbt's, as a model of a user's own may have).
A mart with none of these has no key in PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _tests_by_model(manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    tests: dict[str, list[dict[str, Any]]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] == "test" and node.get("attached_node") and node.get("test_metadata"):
            tests.setdefault(node["attached_node"], []).append(node)
    return tests


def _key_from_tests(model: dict[str, Any], tests: list[dict[str, Any]]) -> list[str]:
    combinations = [
        t["test_metadata"]["kwargs"]["combination"]
        for t in tests
        if t["test_metadata"]["name"] == "unique_combination_of_columns"
    ]
    if len(combinations) == 1:
        return list(combinations[0])
    tested: dict[str, set[str]] = {}
    for t in tests:
        if t.get("column_name"):
            tested.setdefault(t["column_name"], set()).add(t["test_metadata"]["name"])
    for column in model.get("columns", {}):  # in declaration order
        names = tested.get(column, set())
        if "primary_key" in names or {"not_null", "unique"} <= names:
            return [column]
    return []


def mart_primary_keys(manifest: dict[str, Any], schema: str = "marts") -> dict[str, list[str]]:
    """{mart table name: key columns} for the models built into `schema`."""
    tests = _tests_by_model(manifest)
    keys = {}
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "snapshot") or node["schema"] != schema:
            continue
        declared = (node.get("config", {}).get("meta") or {}).get("primary_key") or (node.get("meta") or {}).get(
            "primary_key"
        )
        key = list(declared) if declared else _key_from_tests(node, tests.get(unique_id, []))
        if key:
            keys[node["alias"] or node["name"]] = key
    return keys


def primary_keys_from_file(manifest_path: Path, schema: str = "marts") -> dict[str, list[str]]:
    return mart_primary_keys(json.loads(manifest_path.read_text(encoding="utf-8")), schema)
