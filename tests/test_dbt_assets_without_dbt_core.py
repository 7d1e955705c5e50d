"""Dagster's process imports dagster-dbt without dbt-core (defs/dbt/without_dbt_core.py), and the dbt
assets it builds are those it built with dbt-core: same selection, same assets, checks and lineage."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from dagster_project.defs.dbt.without_dbt_core import select_unique_ids

# The asset graph as a JSON text: every asset's parents, checks and group, and the dbt steps' op tags.
_DUMP_GRAPH = """
import json, sys
{prelude}
from dagster_project.definitions import defs
import dagster_dbt.compat
graph = defs.resolve_asset_graph()
assets = {{
    key.to_user_string(): [
        sorted(p.to_user_string() for p in graph.get(key).parent_keys),
        sorted(c.name for c in graph.get(key).check_keys),
        graph.get(key).group_name,
    ]
    for key in graph.get_all_asset_keys()
}}
tags = {{a.node_def.name: dict(a.node_def.tags) for a in defs.assets if a.node_def.name.startswith("dbt_")}}
print(json.dumps({{
    "dbt_imported": "dbt" in sys.modules,
    "dagster_dbt_sees_dbt_core": dagster_dbt.compat.DBT_PYTHON_VERSION is not None,
    "assets": assets,
    "tags": tags,
}}, sort_keys=True))
"""


def _python(code: str) -> str:
    # the S2S_ paths and DAGSTER_HOME point at this test's folder (conftest)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ), timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_code_location_builds_the_same_dbt_assets_without_dbt_core_as_with_it():
    """A fresh interpreter loading the definitions never imports dbt; one that imported dbt-core first
    (so dagster-dbt uses it, as before) gets the same assets, parents, checks, groups and dbt selections."""
    without = json.loads(_python(_DUMP_GRAPH.format(prelude="")))
    with_core = json.loads(_python(_DUMP_GRAPH.format(prelude="import dbt.version")))

    assert without["dbt_imported"] is False and without["dagster_dbt_sees_dbt_core"] is False
    assert with_core["dbt_imported"] is True and with_core["dagster_dbt_sees_dbt_core"] is True
    assert without["assets"] == with_core["assets"]
    assert without["tags"] == with_core["tags"]
    # a customer value model (second dbt step) keeps its parents from both steps
    parents, checks, _ = without["assets"]["marts/customer_value"]
    assert {"marts/rfm_customer", "staging/stg_ml__customer_value_scores"} <= set(parents)
    assert "primary_key_customer_value_account_id" in checks
    from dagster_project.defs.dbt.assets import MODELS_AFTER_PYTHON

    assert without["tags"]["dbt_models_after_python"] == {"dagster_dbt/select": MODELS_AFTER_PYTHON}


def test_dagster_dbts_own_node_and_status_enums_equal_dbt_cores():
    """Without dbt-core, dagster-dbt reads dbt's events with its own copies of dbt's enums; they must
    hold dbt-core's values, or a status (a warned test, a skipped node) would be read wrongly."""
    ours = json.loads(
        _python(
            "import json, sys\n"
            "sys.modules['dbt'] = None\n"
            "from dagster_dbt import compat as c\n"
            "print(json.dumps([[str(x) for x in c.REFABLE_NODE_TYPES], sorted(s.value for s in c.NodeStatus),"
            " sorted(s.value for s in c.TestStatus)]))"
        )
    )
    from dbt.contracts.results import NodeStatus, TestStatus
    from dbt.node_types import REFABLE_NODE_TYPES

    assert ours[0] == [str(x.value) for x in REFABLE_NODE_TYPES]
    assert set(s.value for s in NodeStatus) <= set(ours[1])  # dagster-dbt adds dbt Fusion's `reused`
    assert ours[2] == sorted(s.value for s in TestStatus)


def _manifest() -> dict:
    """Source ml.scores -> model cv -> test t_cv and unit test u_cv; model orders -> cv, and test
    t_rel on both (a relationships test); model other, seed s, a source raw.x feeding orders."""
    child_map = {
        "source.p.ml.scores": ["model.p.cv"],
        "source.p.raw.x": ["model.p.orders"],
        "model.p.orders": ["model.p.cv", "test.p.t_rel"],
        "model.p.cv": ["test.p.t_cv", "test.p.t_rel", "unit_test.p.cv.u_cv"],
        "model.p.other": [],
        "seed.p.s": [],
        "test.p.t_cv": [],
        "test.p.t_rel": [],
        "unit_test.p.cv.u_cv": [],
    }
    nodes = ["model.p.orders", "model.p.cv", "model.p.other", "seed.p.s", "test.p.t_cv", "test.p.t_rel"]
    return {
        "nodes": {uid: {} for uid in nodes},
        "sources": {"source.p.ml.scores": {"source_name": "ml"}, "source.p.raw.x": {"source_name": "raw"}},
        "unit_tests": {"unit_test.p.cv.u_cv": {}},
        "child_map": child_map,
    }


def test_the_selection_is_a_sources_descendants_and_everything_else_worked_out_by_hand():
    manifest = _manifest()
    second = select_unique_ids("source:ml+", "", "", None, manifest)
    assert second == {"source.p.ml.scores", "model.p.cv", "test.p.t_cv", "test.p.t_rel", "unit_test.p.cv.u_cv"}
    first = select_unique_ids("fqn:*", "source:ml+", "", None, manifest)
    assert first == {"model.p.orders", "model.p.other", "seed.p.s"}
    assert select_unique_ids("fqn:*", "", "", None, manifest) == set(manifest["nodes"]) | {"unit_test.p.cv.u_cv"}


def test_a_selection_by_one_source_table_and_a_union_worked_out_by_hand():
    manifest = _manifest()
    manifest["sources"]["source.p.ml.other"] = {"source_name": "ml", "name": "other"}
    manifest["sources"]["source.p.ml.scores"]["name"] = "scores"
    manifest["sources"]["source.p.raw.x"]["name"] = "x"
    manifest["child_map"]["source.p.ml.other"] = ["model.p.other"]
    assert select_unique_ids("source:ml.other+", "", "", None, manifest) == {"source.p.ml.other", "model.p.other"}
    union = select_unique_ids("source:ml.other+ source:raw.x+", "", "", None, manifest)
    assert union == {
        "source.p.ml.other",
        "model.p.other",
        "source.p.raw.x",
        "model.p.orders",
        "model.p.cv",
        "test.p.t_rel",
        "test.p.t_cv",
        "unit_test.p.cv.u_cv",
    }
    rest = select_unique_ids("fqn:*", "source:ml.other+ source:raw.x+", "", None, manifest)
    assert rest == {"seed.p.s"}


@pytest.mark.parametrize(
    ("select", "exclude", "selector"),
    [("tag:nightly", "", ""), ("fqn:*", "path:models/marts", ""), ("source:ml", "", ""), ("", "", "daily")],
)
def test_any_other_selection_is_refused_rather_than_guessed(select, exclude, selector):
    with pytest.raises(ValueError, match="evaluated here"):
        select_unique_ids(select, exclude, selector, None, _manifest())


def test_the_selection_equals_dbt_cores_on_this_projects_manifest():
    """dagster-dbt's own evaluation with dbt-core (its graph selector, in a process that imported
    dbt-core first) gives the same unique ids."""
    from dagster_project.defs.dbt.assets import MODELS_AFTER_PYTHON, dbt_project

    manifest = json.loads(dbt_project.manifest_path.read_text(encoding="utf-8"))
    for select, exclude in (("fqn:*", MODELS_AFTER_PYTHON), (MODELS_AFTER_PYTHON, "")):
        dbt_cores = _python(
            "import json, dbt.version\n"
            "from dagster_dbt.utils import _select_unique_ids_from_manifest\n"
            f"manifest = json.load(open({str(dbt_project.manifest_path)!r}))\n"
            f"print(json.dumps(sorted(_select_unique_ids_from_manifest({select!r}, {exclude!r}, '', manifest))))"
        )
        ours = select_unique_ids(select, exclude, "", None, manifest)
        assert ours == set(json.loads(dbt_cores)), select
        assert any(uid.startswith("model.") for uid in ours) and any(uid.startswith("test.") for uid in ours)


def test_a_new_project_test_replacing_one_of_dbts_is_parsed_into_every_test_that_uses_it(tmp_path):
    """prepare_manifest parses whole when the dbt sources change: dbt's partial parse kept dbt's own
    `relationships` macro, and its dependencies, for tests whose YAML had not changed."""
    from dagster_dbt import DbtProject

    from dagster_project.defs.dbt.assets import DBT_PROJECT_DIR, prepare_manifest

    project_dir = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    (project_dir / "tests" / "generic" / "relationships.sql").unlink()  # dbt's own test, as before it
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)

    def test_node() -> dict:
        manifest = json.loads(prepare_manifest(project).read_text(encoding="utf-8"))
        (node,) = [
            node
            for unique_id, node in manifest["nodes"].items()
            if unique_id.startswith("test.s2s_warehouse.relationships_stg_erp__sales_orders_account_id__")
        ]
        return node

    before = test_node()
    assert before["depends_on"]["macros"][0] == "macro.dbt.test_relationships"
    # the project's version of the test, which reads one more model
    shutil.copy(DBT_PROJECT_DIR / "tests" / "generic" / "relationships.sql", project_dir / "tests" / "generic")

    after = test_node()
    assert after["depends_on"]["macros"][0] == "macro.s2s_warehouse.test_relationships"
    assert "model.s2s_warehouse.stg_meta__field_policy" in after["depends_on"]["nodes"]
