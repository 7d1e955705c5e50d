"""dagster-dbt in Dagster's process without dbt-core (issue 14: start-up).

dbt runs in its own process (`s2s-dbt`), and Dagster's process never opens a dbt adapter
(`WarehouseDbtCliResource`). Yet importing dagster-dbt imports dbt-core whenever it is importable:
its `compat` module takes dbt's node and status enums from it, which costs ~0.8 s of a ~2 s
start-up on 2 cores. dagster-dbt also works without dbt-core (for dbt Fusion users), with its own
copies of those enums, equal to dbt-core 1.11's (`tests/test_dbt_assets_without_dbt_core.py`).

`import_dagster_dbt_without_dbt_core` imports dagster-dbt with `dbt` unimportable for the length of
that import (a `None` in `sys.modules` makes `import dbt...` raise ImportError), then makes it
importable again. It does nothing when dagster-dbt or dbt is already imported (a test process).

One thing dagster-dbt does with dbt-core and not without: evaluate a selection other than "every
node" when it builds the assets. The two dbt steps select by lineage: the descendants of the tables
that Python steps write (`source:ml+ source:meta.dq_completeness+ ...`), and everything but them.
`selection_from_manifest` evaluates those from the manifest's child map while the assets are built,
in either mode, and refuses any other expression; the test compares it with dbt-core's
answer on this project's manifest.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


def import_dagster_dbt_without_dbt_core() -> None:
    if "dagster_dbt" in sys.modules or "dbt" in sys.modules:
        return
    sys.modules["dbt"] = None  # type: ignore[assignment]
    try:
        import dagster_dbt  # noqa: F401
    finally:
        del sys.modules["dbt"]


_SOURCE_AND_DESCENDANTS = re.compile(r"source:(\w+)(?:\.(\w+))?\+")


def _selected(expression: str, manifest: Mapping[str, Any]) -> set[str]:
    if expression in ("", "fqn:*"):  # dbt's fqn:* = every node and unit test; sources have no fqn match
        return set(manifest["nodes"]) | set(manifest.get("unit_tests", {}))
    if " " in expression.strip():  # dbt: terms separated by spaces are a union
        return set().union(*(_selected(term, manifest) for term in expression.split()))
    match = _SOURCE_AND_DESCENDANTS.fullmatch(expression)
    if match is None:
        raise ValueError(
            f"dbt selection {expression!r}: only 'fqn:*', 'source:<source>+', 'source:<source>.<table>+' "
            "and unions of them are evaluated here"
        )
    frontier = [
        uid
        for uid, props in manifest["sources"].items()
        if props["source_name"] == match[1] and match[2] in (None, props.get("name"))
    ]
    selected: set[str] = set()
    while frontier:
        uid = frontier.pop()
        if uid not in selected:
            selected.add(uid)
            frontier.extend(manifest["child_map"].get(uid, []))
    return selected


def select_unique_ids(
    select: str, exclude: str, selector: str, project: Any, manifest_json: Mapping[str, Any]
) -> set[str]:
    """dagster_dbt.utils.select_unique_ids for `select` minus `exclude`, from the manifest's child map."""
    if selector:
        raise ValueError(f"dbt selector {selector!r}: not evaluated here")
    return _selected(select, manifest_json) - (_selected(exclude, manifest_json) if exclude else set())


@contextmanager
def selection_from_manifest() -> Iterator[None]:
    """While dbt assets are built, dagster-dbt evaluates their selection with `select_unique_ids`."""
    from dagster_dbt import asset_utils

    original = asset_utils.select_unique_ids
    asset_utils.select_unique_ids = select_unique_ids
    try:
        yield
    finally:
        asset_utils.select_unique_ids = original
