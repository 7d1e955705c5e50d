"""The primary key of each mart, read from the dbt project (dagster_project/publish/keys.py), on a
hand-made manifest: the PostgreSQL test reads the real project's, and skips without a server."""

from dagster_project.publish.keys import mart_primary_keys


def _model(name: str, columns: list[str], meta: dict | None = None) -> tuple[str, dict]:
    unique_id = f"model.p.{name}"
    node = {
        "resource_type": "model",
        "schema": "marts",
        "name": name,
        "alias": name,
        "columns": {c: {} for c in columns},
        "config": {"meta": meta or {}},
    }
    return unique_id, node


def _test(model: str, kind: str, column: str | None = None, **kwargs) -> tuple[str, dict]:
    unique_id = f"test.p.{kind}_{model}_{column or 'x'}"
    node = {
        "resource_type": "test",
        "attached_node": f"model.p.{model}",
        "column_name": column,
        "test_metadata": {"name": kind, "kwargs": kwargs},
    }
    return unique_id, node


def test_keys_come_from_primary_key_unique_and_not_null_a_combination_or_meta() -> None:
    nodes = dict(
        [
            _model("by_primary_key", ["note", "order_id"]),
            _test("by_primary_key", "not_null", "note"),
            _test("by_primary_key", "primary_key", "order_id"),
            _model("by_dbt_pair", ["lead_id", "score"]),
            _test("by_dbt_pair", "unique", "lead_id"),
            _test("by_dbt_pair", "not_null", "lead_id"),
            _model("unique_only", ["version_id"]),
            _test("unique_only", "unique", "version_id"),  # may be NULL: no key
            _model("by_combination", ["month", "region", "value"]),
            _test("by_combination", "unique_combination_of_columns", combination=["month", "region"]),
            _test("by_combination", "primary_key", "value"),  # the combination wins
            _model("by_meta", ["a", "b"], meta={"primary_key": ["b", "a"]}),
            _test("by_meta", "primary_key", "a"),
        ]
    )
    assert mart_primary_keys({"nodes": nodes}) == {
        "by_primary_key": ["order_id"],
        "by_dbt_pair": ["lead_id"],
        "by_combination": ["month", "region"],
        "by_meta": ["b", "a"],
    }
